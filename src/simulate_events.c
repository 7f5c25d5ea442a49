/*-------------------------------------------------------------------------
 *
 * simulate_events.c
 *	  syncopt.simulate()'s jobs for each policy and the event loop that runs
 *	  them over the slots: dispatch order, starts, outcomes and retries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"

#include "simulate.h"
#include "syncopt.h"

#define MAX_ATTEMPTS	3
#define RETRY_ROOM	2.0		/* plan room for a failed attempt and a retry */
#define FAILED_RUN_FRACTION 0.2 /* a failed sync stops after this share */
#define MIN_FAILED_RUN_S 60.0

/* Append a job to run connector i. */
static SimJob *
add_job(Sim *sim, int i, TimestampTz release, TimestampTz due, double weight, bool scheduled)
{
	SimJob	   *j;

	sim->job = sim_grow(sim->job, sim->njob, &sim->maxjob, sizeof(SimJob));
	j = &sim->job[sim->njob++];
	memset(j, 0, sizeof(SimJob));
	j->conn = i;
	j->release = release;
	j->eligible = release;
	j->due = due;
	j->weight = weight;
	j->scheduled = scheduled;
	j->gate_until = DT_NOBEGIN;
	return j;
}

/* Connector i's vendor schedule over the horizon, phased by its last success. */
static void
add_scheduled_jobs(Sim *sim, int i)
{
	Connector  *c = &sim->fleet->conn[i];
	double		period_s = 60.0 * (c->schedule_minutes > 0 ? c->schedule_minutes : (c->airbyte ? 1440 : 360));
	double		since = c->last_success_at != NO_TIME
		? fmod(time_diff(sim->start, c->last_success_at), period_s)
		: period_s * sim_draw(sim->seed, c->id, 0, 6);
	TimestampTz t = time_add(sim->start, since > 0 ? period_s - since : 0);

	for (; t < sim->end; t = time_add(t, period_s))
		add_job(sim, i, t, NO_TIME, 0, true);
}

/* A backtest: connector i's recorded syncs in the horizon, at their real starts. */
static void
add_recorded_jobs(Sim *sim, int i)
{
	const SimHistory *h = sim->history;

	for (int k = h->off[i]; k < h->off[i + 1]; k++)
		if (h->start[k] >= sim->start && h->start[k] < sim->end)
			add_job(sim, i, h->start[k], NO_TIME, 0, true);
}

/*
 * One job per group of connector i's requirements that one sync can meet:
 * taken by due time, a requirement joins the group while the first start
 * after every opening that no window forbidding the source keeps back
 * still leaves room for a failed attempt and a retry (twice the P90)
 * before the earliest due time.
 */
static void
add_demand_jobs(Sim *sim, int i)
{
	double		room = RETRY_ROOM * sim->fleet->conn[i].pred.p90_s;
	SimJob	   *j = NULL;

	for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
	{
		SimReq	   *r = &sim->req[sim->req_of_conn[k]];
		TimestampTz open = j ? Max(j->release, r->open) : r->open;
		TimestampTz start = open;
		TimestampTz gate;

		while ((gate = sim_window_gate(sim, i, start, DT_NOBEGIN, NULL)) != 0)
			start = gate;
		if (j && time_add(start, room) <= j->due)
			j->release = j->eligible = open;
		else
		{
			j = add_job(sim, i, r->open, r->due, 0, false);
			j->first_req = k;
		}
		j->nreq++;
		j->weight += sim->occ[r->occ].weight;
	}
}

/*
 * The jobs of the policy: vendor schedules or requirement groups.  Under
 * syncopt the connectors a deadline waits for have none: the planning
 * runs trigger their syncs (simulate_engine.c).
 */
void
sim_build_jobs(Sim *sim)
{
	for (int i = 0; i < sim->fleet->nconn; i++)
	{
		if (sim->fleet->conn[i].paused)
			continue;
		if (sim->history && sim->req_off[i] == sim->req_off[i + 1])
			add_recorded_jobs(sim, i);
		else if (sim->policy == SIM_STATIC || sim->req_off[i] == sim->req_off[i + 1])
			add_scheduled_jobs(sim, i);
		else if (sim->policy != SIM_SYNCOPT)
			add_demand_jobs(sim, i);
	}
}

/* Number each connector's destination (NULL is a destination of its own). */
void
sim_index_destinations(Sim *sim)
{
	Fleet	   *f = sim->fleet;

	sim->dest_of = palloc(sizeof(int) * Max(f->nconn, 1));
	sim->dest_running = palloc0(sizeof(int) * (f->nconn + 1));
	for (int i = 0; i < f->nconn; i++)
	{
		const char *d = f->conn[i].destination ? f->conn[i].destination : "";

		sim->dest_of[i] = i;
		for (int k = 0; k < i; k++)
			if (strcmp(d, f->conn[k].destination ? f->conn[k].destination : "") == 0)
			{
				sim->dest_of[i] = sim->dest_of[k];
				break;
			}
	}
}

/*
 * For each connector, the source and connector load windows that apply to
 * it (load_factor above 0), in order of start, as indexes into fleet->win,
 * and how far its windows up to each one reach.
 */
void
sim_index_load_windows(Sim *sim)
{
	const Fleet *f = sim->fleet;
	int			n = 0;

	sim->win_off = palloc0(sizeof(int) * (f->nconn + 1));
	for (int i = 0; i < f->nconn; i++)
	{
		for (int w = 0; w < f->nwin; w++)
			if (f->win[w].target != 'w' && f->win[w].load_factor > 0 && window_applies(&f->win[w], &f->conn[i]))
			{
				sim->win_idx = sim_grow(sim->win_idx, n, &sim->maxwin, sizeof(int));
				sim->win_idx[n++] = w;
			}
		sim->win_off[i + 1] = n;
	}
	sim->win_reach = palloc(sizeof(TimestampTz) * Max(n, 1));
	for (int i = 0; i < f->nconn; i++)
		for (int w = sim->win_off[i]; w < sim->win_off[i + 1]; w++)
			sim->win_reach[w] = w > sim->win_off[i]
				? Max(sim->win_reach[w - 1], f->win[sim->win_idx[w]].ends)
				: f->win[sim->win_idx[w]].ends;
}

/*
 * The first of connector i's indexed windows that may still be in force
 * at t: the windows before it all ended by then (binary search on their
 * reach, which never decreases).
 */
static int
first_window_after(const Sim *sim, int i, TimestampTz t)
{
	int			lo = sim->win_off[i];
	int			hi = sim->win_off[i + 1];

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (sim->win_reach[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The end of the load window that keeps a sync of connector i from
 * starting at start, by plan()'s rule (window_postpones) for a run at P90
 * that must end by due; 0 when none does.  *same_until, when asked, is
 * when the answer may first differ for a later start and the same due.
 * A window that holds the sync back still does, with the same end, until
 * it ends: it still overlaps the run, whether its load factor forbids the
 * source or the deadline rules out waiting it out does not depend on the
 * start, and the windows before it that let the sync pass only drop out.
 * With none, the answer stays 0 until the run would reach the next window.
 */
TimestampTz
sim_window_gate(const Sim *sim, int i, TimestampTz start, TimestampTz due, TimestampTz *same_until)
{
	const Connector *c = &sim->fleet->conn[i];
	TimestampTz ends = time_add(start, c->pred.p90_s);
	TimestampTz quiet_until = NO_TIME;

	for (int w = first_window_after(sim, i, start); w < sim->win_off[i + 1]; w++)
	{
		const Window *win = &sim->fleet->win[sim->win_idx[w]];
		TimestampTz later;

		if (win->starts >= ends)
		{
			quiet_until = win->starts - (ends - start) + 1;
			break;
		}
		if ((later = window_postpones(win, c, start, ends, due)) != 0)
		{
			if (same_until)
				*same_until = later;
			return later;
		}
	}
	if (same_until)
		*same_until = quiet_until;
	return 0;
}

/*
 * sim_window_gate() for demand job j at now, remembered for as long as the
 * answer holds: the dispatch and the search for the next event ask it at
 * every event.
 */
static TimestampTz
job_gate(const Sim *sim, SimJob *j, TimestampTz now)
{
	if (j->gate_due != j->due || now < j->gate_from || now >= j->gate_until)
	{
		j->gate = sim_window_gate(sim, j->conn, now, j->due, &j->gate_until);
		j->gate_from = now;
		j->gate_due = j->due;
	}
	return j->gate;
}

/*
 * How many more syncs may run into connector i's destination now: at most
 * syncopt.max_concurrent_per_destination at once into a named destination,
 * as plan() schedules (INT_MAX without a limit).
 */
static int
destination_room(const Sim *sim, int i)
{
	int			limit = syncopt_max_concurrent_per_destination;

	if (limit <= 0 || sim->fleet->conn[i].destination == NULL)
		return INT_MAX;
	return limit - sim->dest_running[sim->dest_of[i]];
}

/* The policy's dispatch key: smaller goes first. */
static double
dispatch_key(const Sim *sim, const SimJob *j)
{
	if (sim->policy == SIM_EDF && !j->scheduled)
		return (double) j->due;
	return (double) j->release;
}

/*
 * May waiting job j start now under the policy, should a slot and room in
 * its destination be free?  No demand sync runs into a window that
 * forbids syncing its source.
 */
static bool
job_wanted(const Sim *sim, SimJob *j, TimestampTz now)
{
	if (j->eligible > now)
		return false;
	return j->scheduled || job_gate(sim, j, now) == 0;
}

/* Start job j at now: its duration, outcome and run record. */
static void
start_job(Sim *sim, SimJob *j, TimestampTz now)
{
	int			i = j->conn;
	int64		id = sim->fleet->conn[i].id;
	double		seconds;
	SimRun	   *run;

	seconds = sim_sync_seconds(sim, i, now);
	if (sim->history)
	{
		/* A backtest: it fails when its recorded sync nearest in time failed. */
		int			k = sim_recorded_run(sim, i, now);

		j->fails = k >= 0 && sim->history->failed[k];
	}
	else
		j->fails = sim_in_outage(sim, i, now) ||
			sim_draw(sim->seed, id, (int64) (now / (60 * USECS_PER_SEC)), 7) < sim->fail_p[i];
	if (j->fails)
		seconds = Max(MIN_FAILED_RUN_S, FAILED_RUN_FRACTION * seconds);
	j->state = JOB_RUNNING;
	j->attempts++;
	j->started = now;
	j->ends = time_add(now, seconds);
	sim->busy[i] = true;
	sim->running_since[i] = now;
	sim->dest_running[sim->dest_of[i]]++;
	sim->run = sim_grow(sim->run, sim->nrun, &sim->maxrun, sizeof(SimRun));
	j->run = sim->nrun;
	run = &sim->run[sim->nrun++];
	run->conn = i;
	run->start = now;
	run->end = j->ends;
	run->failed = j->fails;
	run->useful = false;
}

/* A sync of connector i that ran [start, end) succeeded: meet what it can. */
bool
sim_meet_requirements(Sim *sim, int i, TimestampTz start, TimestampTz end)
{
	bool		useful = false;

	for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
	{
		SimReq	   *r = &sim->req[sim->req_of_conn[k]];

		if (r->done == 0 && r->open <= start)
		{
			r->done = end;
			useful = true;
		}
	}
	return useful;
}

/*
 * Job j's sync ends: record, then retry or finish as the policy says.
 * fifo and edf retry a failure at once, up to MAX_ATTEMPTS.  Under syncopt
 * the planner reads the outcome (its last success, its failures in a
 * row and when the last ended) at its next run, which triggers the sync
 * again if it still serves a deadline and the retry back-off has run out
 * (plan_triggers()); a failure while the credentials are expired pauses the
 * connector until a human fixes them.
 */
static void
finish_job(Sim *sim, SimJob *j)
{
	int			i = j->conn;
	SimRun	   *run = &sim->run[j->run];

	sim->busy[i] = false;
	sim->running_since[i] = NO_TIME;
	sim->dest_running[sim->dest_of[i]]--;
	j->state = JOB_DONE;
	if (!j->fails)
	{
		run->useful = sim_meet_requirements(sim, i, run->start, run->end);
		sim->fresh_since[i] = run->start;
		sim->last_success[i] = run->end;
		sim->failures_in_row[i] = 0;
		return;
	}
	sim->failures_in_row[i]++;
	sim->last_failure[i] = run->end;
	if (j->scheduled)
		return;
	if (j->triggered)
	{
		if (sim_in_outage(sim, i, run->start))
			sim->paused_until[i] = sim->outage_to[i];
	}
	else if (j->attempts < MAX_ATTEMPTS)
	{
		j->state = JOB_WAITING;
		j->eligible = run->end;
	}
}

/*
 * Start what the last planning run triggered, in its priority order, while
 * slots are free: a trigger waits for a slot, its connector to be idle and
 * room in its destination.  Returns the syncs started.
 */
static int
start_triggered(Sim *sim, TimestampTz now, int running)
{
	int			started = 0;
	int			kept = 0;

	for (int q = 0; q < sim->nqueue; q++)
	{
		int			i = sim->queue[q];
		SimJob	   *j;

		if (running + started >= syncopt_max_concurrent_syncs || sim->busy[i] ||
			destination_room(sim, i) <= 0)
		{
			sim->queue[kept++] = i;
			continue;
		}
		j = add_job(sim, i, now, NO_TIME, 0, false);
		j->triggered = true;
		start_job(sim, j, now);
		started++;
	}
	sim->nqueue = kept;
	return started;
}

static const SimJob *sort_jobs;

/* Jobs by the time the policy lets them start, then in the order they were made. */
static int
compare_eligible(const void *a, const void *b)
{
	const SimJob *x = &sort_jobs[*(const int *) a];
	const SimJob *y = &sort_jobs[*(const int *) b];

	if (x->eligible != y->eligible)
		return x->eligible < y->eligible ? -1 : 1;
	return *(const int *) a - *(const int *) b;
}

/*
 * The waiting job that goes next among active[0..nactive): startable now
 * (job_wanted, its connector idle, room in its destination) with the
 * smallest dispatch key, ties to the job made first; -1 when none.
 */
static int
best_candidate(Sim *sim, const int *active, int nactive, TimestampTz now)
{
	int			best = -1;
	double		best_key = 0;

	for (int a = 0; a < nactive; a++)
	{
		int			k = active[a];
		SimJob	   *j = &sim->job[k];
		double		key;

		if (j->state != JOB_WAITING || sim->busy[j->conn] || destination_room(sim, j->conn) <= 0 ||
			!job_wanted(sim, j, now))
			continue;
		key = dispatch_key(sim, j);
		if (best < 0 || key < best_key || (key == best_key && k < best))
		{
			best = k;
			best_key = key;
		}
	}
	return best;
}

/*
 * Run the event loop until no job is left to start or the horizon ends.
 * Jobs wait in `pending` (by the time they may start) until then, so an
 * event looks only at the running syncs and the jobs already due to
 * start: a replay costs about n log n in its jobs, plus the backlog
 * each event weighs.  Under syncopt every planning instant is an event.
 */
void
sim_run_events(Sim *sim)
{
	int			nslots = syncopt_max_concurrent_syncs;
	int			running = 0;
	int		   *pending = palloc(sizeof(int) * Max(sim->njob, 1));
	int			npending = sim->njob;
	int			admitted = 0;
	int		   *active = NULL;
	int			nactive = 0;
	int			maxactive = 0;
	int		   *in_flight = palloc(sizeof(int) * Max(nslots, 1));
	TimestampTz now = sim->start;

	for (int k = 0; k < sim->njob; k++)
		pending[k] = k;
	sort_jobs = sim->job;
	qsort(pending, npending, sizeof(int), compare_eligible);
	if (sim->policy == SIM_SYNCOPT)
		sim->next_planning = sim->start;
	for (;;)
	{
		TimestampTz next = NO_TIME;
		int			kept = 0;

		CHECK_FOR_INTERRUPTS();
		/* Completions due by now, earliest first (ties: the job made first). */
		for (;;)
		{
			int			first = -1;

			for (int r = 0; r < running; r++)
			{
				const SimJob *j = &sim->job[in_flight[r]];

				if (j->ends <= now && (first < 0 || j->ends < sim->job[in_flight[first]].ends ||
									   (j->ends == sim->job[in_flight[first]].ends &&
										in_flight[r] < in_flight[first])))
					first = r;
			}
			if (first < 0)
				break;
			finish_job(sim, &sim->job[in_flight[first]]);
			/* A retried job waits among the active ones again. */
			if (sim->job[in_flight[first]].state == JOB_WAITING)
			{
				active = sim_grow(active, nactive, &maxactive, sizeof(int));
				active[nactive++] = in_flight[first];
			}
			in_flight[first] = in_flight[--running];
		}
		/* Jobs whose time to start has come join the active ones. */
		while (admitted < npending && sim->job[pending[admitted]].eligible <= now)
		{
			active = sim_grow(active, nactive, &maxactive, sizeof(int));
			active[nactive++] = pending[admitted++];
		}
		/* Vendor runs find their connector busy: skipped. */
		for (int a = 0; sim->policy == SIM_STATIC && a < nactive; a++)
		{
			SimJob	   *j = &sim->job[active[a]];

			if (j->scheduled && j->state == JOB_WAITING && j->release <= now && sim->busy[j->conn])
				j->state = JOB_DONE;
		}
		if (sim->policy == SIM_SYNCOPT && now >= sim->next_planning && now < sim->end)
		{
			sim_engine_plan(sim, now);
			sim->next_planning = time_add(sim->next_planning, syncopt_planner_interval_s);
		}
		if (sim->policy == SIM_SYNCOPT && now < sim->end)
		{
			int			first_new = sim->njob;

			running += start_triggered(sim, now, running);
			for (int k = first_new; k < sim->njob; k++)
				in_flight[running - (sim->njob - k)] = k;
		}
		while (running < nslots && now < sim->end)
		{
			int			best = best_candidate(sim, active, nactive, now);

			if (best < 0)
				break;
			start_job(sim, &sim->job[best], now);
			in_flight[running++] = best;
		}

		/* The next event; jobs done are dropped from the active ones, in order. */
		for (int r = 0; r < running; r++)
			next = Min(next, sim->job[in_flight[r]].ends);
		for (int a = 0; a < nactive; a++)
		{
			SimJob	   *j = &sim->job[active[a]];
			TimestampTz gate;

			if (j->state != JOB_WAITING)
				continue;
			active[kept++] = active[a];
			if (now >= sim->end)
				continue;
			if (j->eligible > now)
				next = Min(next, j->eligible);
			else if (!j->scheduled && (gate = job_gate(sim, j, now)) != 0)
				next = Min(next, gate);
		}
		nactive = kept;
		if (admitted < npending && now < sim->end)
			next = Min(next, sim->job[pending[admitted]].eligible);
		if (sim->policy == SIM_SYNCOPT && sim->next_planning < sim->end)
			next = Min(next, sim->next_planning);
		if (next == NO_TIME)
			break;
		/* Nothing can change before the next event, or before a slot frees up. */
		now = Max(next, now + 1);
		if (now >= sim->end && running == 0)
			break;
	}
	pfree(pending);
	pfree(in_flight);
	if (active)
		pfree(active);
}
