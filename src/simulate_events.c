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
	int			first_job = sim->njob;
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
	for (int k = first_job; k < sim->njob; k++)
		sim->job[k].feasible_until = sim_feasible_until(sim, &sim->job[k]);
}

static const SimJob *sort_jobs;

/* Jobs by due time, latest first (for the backward schedule). */
static int
compare_due_desc(const void *a, const void *b)
{
	const SimJob *x = &sort_jobs[*(const int *) a];
	const SimJob *y = &sort_jobs[*(const int *) b];

	if (x->due != y->due)
		return x->due > y->due ? -1 : 1;
	return x->conn - y->conn;
}

/*
 * syncopt's plan: place each demand job as late as the slots allow before
 * its due time (P90 durations), latest due first; each job becomes
 * eligible at that start, never before its window opens.
 */
static void
plan_latest_starts(Sim *sim)
{
	int			nslots = syncopt_max_concurrent_syncs;
	TimestampTz *slot_free_before = palloc(sizeof(TimestampTz) * nslots);
	int		   *idx = palloc(sizeof(int) * Max(sim->njob, 1));
	int			n = 0;

	for (int s = 0; s < nslots; s++)
		slot_free_before[s] = NO_TIME;
	for (int k = 0; k < sim->njob; k++)
		if (!sim->job[k].scheduled)
			idx[n++] = k;
	sort_jobs = sim->job;
	qsort(idx, n, sizeof(int), compare_due_desc);
	for (int k = 0; k < n; k++)
	{
		SimJob	   *j = &sim->job[idx[k]];
		int			best = 0;
		double		room = RETRY_ROOM * sim->fleet->conn[j->conn].pred.p90_s;
		TimestampTz begin;

		for (int s = 1; s < nslots; s++)
			if (slot_free_before[s] > slot_free_before[best])
				best = s;
		begin = sim_latest_allowed_start(sim, j->conn,
										 time_add(Min(j->due, slot_free_before[best]), -room), room);
		slot_free_before[best] = begin;
		j->eligible = Max(j->release, begin);
	}
}

/* The jobs of the policy: vendor schedules or requirement groups. */
void
sim_build_jobs(Sim *sim)
{
	for (int i = 0; i < sim->fleet->nconn; i++)
	{
		if (sim->fleet->conn[i].paused)
			continue;
		if (sim->policy == SIM_STATIC || sim->req_off[i] == sim->req_off[i + 1])
			add_scheduled_jobs(sim, i);
		else
			add_demand_jobs(sim, i);
	}
	if (sim->policy == SIM_SYNCOPT)
		plan_latest_starts(sim);
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
 * The latest start of a run of connector i lasting run_s, at or before
 * start, that no window with load_factor 1 on its source forbids.
 */
TimestampTz
sim_latest_allowed_start(const Sim *sim, int i, TimestampTz start, double run_s)
{
	return latest_clear_start(sim->fleet, &sim->win_idx[sim->win_off[i]], sim->win_off[i + 1] - sim->win_off[i],
							  &sim->fleet->conn[i], start, run_s, NULL);
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

/* Under syncopt: a demand job that can save nothing now (at most catch up). */
static bool
saves_nothing(const SimJob *j)
{
	return !j->scheduled && j->weight == 0;
}

/* The policy's dispatch key: smaller goes first. */
static double
dispatch_key(const Sim *sim, const SimJob *j, TimestampTz now)
{
	const Connector *c = &sim->fleet->conn[j->conn];

	switch (sim->policy)
	{
		case SIM_STATIC:
		case SIM_FIFO:
			return (double) j->release;
		case SIM_EDF:
			return (double) j->due;
		case SIM_SYNCOPT:
			{
				double		p = Max(c->pred.p90_s, 1.0);
				/* Slack to the latest start clearing the source's windows, as score.c. */
				double		slack = j->due == NO_TIME ? 1e12 :
					time_diff(sim_latest_allowed_start(sim, j->conn, time_add(j->due, -p), p), now);
				double		mean_p = sim->fleet->mean_p90_s > 0 ? sim->fleet->mean_p90_s : p;

				/* Catching up comes after everything that can still be saved. */
				if (saves_nothing(j))
					return p / j->late_weight;
				return -(Max(j->weight, 1e-6) / p) * exp(-Max(slack, 0) / (syncopt_atc_k * mean_p));
			}
	}
	return 0;
}

/*
 * May waiting job j start now under the policy, should a slot and room in
 * its destination be free?  *rides_along says it may only while another
 * sync runs into its destination.
 */
static bool
job_wanted(const Sim *sim, SimJob *j, TimestampTz now, bool *rides_along)
{
	bool		wanted;

	*rides_along = false;
	if (j->scheduled)
		return j->eligible <= now;
	if (sim->policy != SIM_SYNCOPT)
		wanted = j->eligible <= now;
	/* With nothing left to save, syncopt only brings given-up deadlines up to date. */
	else if (saves_nothing(j))
		wanted = j->late_weight > 0 && j->release <= now && !(j->paused && j->eligible > now);
	else if (j->eligible <= now)
		wanted = true;
	/* It rides along when the warehouse is paid for anyway. */
	else
		wanted = *rides_along = !j->paused && j->release <= now;
	/* No demand sync runs into a window that forbids syncing its source. */
	return wanted && job_gate(sim, j, now) == 0;
}

/* A waiting job that may start at this instant, as job_wanted() says. */
typedef struct Candidate
{
	int			job;
	double		key;			/* its dispatch key */
	bool		rides_along;
} Candidate;

/*
 * The waiting jobs that may start now, in job order, with their dispatch
 * keys: neither changes while the slots fill at one instant, only which
 * connectors are busy and how full each destination is.
 */
static int
ready_candidates(Sim *sim, TimestampTz now, Candidate *cand)
{
	int			n = 0;

	for (int k = 0; k < sim->njob; k++)
	{
		SimJob	   *j = &sim->job[k];

		if (j->state != JOB_WAITING || !job_wanted(sim, j, now, &cand[n].rides_along))
			continue;
		cand[n].job = k;
		cand[n++].key = dispatch_key(sim, j, now);
	}
	return n;
}

/* Start job j at now: its duration, outcome and run record. */
static void
start_job(Sim *sim, SimJob *j, TimestampTz now)
{
	int			i = j->conn;
	int64		id = sim->fleet->conn[i].id;
	double		seconds;
	SimRun	   *run;

	if (sim->rollout)
	{
		seconds = Max(1.0, sim->fleet->conn[i].pred.p50_s);
		j->fails = false;
	}
	else
	{
		seconds = sim_sync_seconds(sim, i, now);
		j->fails = sim_in_outage(sim, i, now) ||
			sim_draw(sim->seed, id, (int64) (now / (60 * USECS_PER_SEC)), 7) < sim->fail_p[i];
	}
	if (j->fails)
		seconds = Max(MIN_FAILED_RUN_S, FAILED_RUN_FRACTION * seconds);
	j->state = JOB_RUNNING;
	j->attempts++;
	j->started = now;
	j->ends = time_add(now, seconds);
	sim->busy[i] = true;
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
static bool
meet_requirements(Sim *sim, int i, TimestampTz start, TimestampTz end)
{
	bool		useful = false;

	for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
	{
		SimReq	   *r = &sim->req[sim->req_of_conn[k]];

		if (r->done == 0 && r->open <= start)
		{
			r->done = end;
			sim->occ[r->occ].work_left_s -= Max(sim->fleet->conn[i].pred.p50_s, 1.0);
			useful = true;
			sim_stale_occurrence(sim, r->occ);
		}
	}
	return useful;
}

/*
 * The first run of schedule_planner()'s default job (every quarter hour) after
 * t: when the planner, having collected a failed sync, triggers it again.
 */
static TimestampTz
next_planning_run(TimestampTz t)
{
	int64		every = (int64) (PLANNING_EVERY_S * USECS_PER_SEC);

	return (t / every + 1) * every;
}

/*
 * Job j's sync ends: record, then retry or finish as the policy says.
 * fifo and edf retry a failure at once, up to MAX_ATTEMPTS; syncopt
 * triggers it again at the next planning run for as long as the sync can
 * save something (its triage drops deadlines it can no longer meet), and
 * leaves a connector whose credentials expired paused until they are fixed.
 */
static void
finish_job(Sim *sim, SimJob *j)
{
	int			i = j->conn;
	SimRun	   *run = &sim->run[j->run];

	sim->busy[i] = false;
	sim->dest_running[sim->dest_of[i]]--;
	j->state = JOB_DONE;
	if (!j->fails)
	{
		run->useful = meet_requirements(sim, i, run->start, run->end);
		return;
	}
	if (j->scheduled)
		return;
	if (sim->policy == SIM_SYNCOPT)
	{
		j->state = JOB_WAITING;
		sim_stale_connector(sim, i);
		if (sim_in_outage(sim, i, run->start))
		{
			/* Paused until a human fixes the credentials, then resumed. */
			j->eligible = Max(j->eligible, sim->outage_to[i]);
			j->paused = true;
		}
		else
			j->eligible = next_planning_run(run->end);
	}
	else if (j->attempts < MAX_ATTEMPTS)
	{
		j->state = JOB_WAITING;
		sim_stale_connector(sim, i);
		j->eligible = run->end;
	}
}

/*
 * May syncopt start catch-up job j now?  Never if it would delay what can
 * still be saved: its connector's next sync with a deadline, or any such
 * sync that becomes eligible before j would end at P90 and needs a slot
 * (or room in j's destination, under a per-destination limit).  Nor
 * would it wake its warehouse during a peak price window: a late refresh
 * waits for the warehouse to be busy anyway or for the price to drop.
 */
static bool
catch_up_fits(const Sim *sim, const SimJob *j, TimestampTz now, int running)
{
	TimestampTz ends = time_add(now, sim->fleet->conn[j->conn].pred.p90_s);
	int			soon = 0;
	int			soon_here = 0;	/* of those, into j's destination */

	for (int k = 0; k < sim->njob; k++)
	{
		const SimJob *w = &sim->job[k];

		if (w->state != JOB_WAITING || w->scheduled || saves_nothing(w))
			continue;
		if (w->conn == j->conn && w->release < ends)
			return false;
		soon += w->eligible < ends;
		soon_here += w->eligible < ends && sim->dest_of[w->conn] == sim->dest_of[j->conn];
	}
	if (running + 1 + soon > syncopt_max_concurrent_syncs || 1 + soon_here > destination_room(sim, j->conn))
		return false;
	if (sim->dest_running[sim->dest_of[j->conn]] > 0)
		return true;
	for (int w = 0; w < sim->fleet->nwin; w++)
	{
		const Window *win = &sim->fleet->win[w];

		if (win->target == 'w' && win->price > 1 && win->ends > now && win->starts < ends)
			return false;
	}
	return true;
}

/* Run the event loop until no job is left to start or the horizon ends. */
void
sim_run_events(Sim *sim)
{
	int			nslots = syncopt_max_concurrent_syncs;
	int			running = 0;
	int			live;
	int			ncand;
	Candidate  *cand = palloc(sizeof(Candidate) * Max(sim->njob, 1));
	int		   *in_flight = palloc(sizeof(int) * Max(sim->njob, 1));
	int			listed = 0;
	TimestampTz now = sim->start;

	/* The running jobs, in job order: relisted at each event. */
	for (int k = 0; k < sim->njob; k++)
		if (sim->job[k].state == JOB_RUNNING)
			in_flight[listed++] = k;
	running = listed;
	for (;;)
	{
		TimestampTz next = NO_TIME;

		CHECK_FOR_INTERRUPTS();
		/* Completions due by now, earliest first (ties: the first listed). */
		for (;;)
		{
			int			first = -1;

			for (int r = 0; r < listed; r++)
			{
				const SimJob *j = &sim->job[in_flight[r]];

				if (j->state == JOB_RUNNING && j->ends <= now &&
					(first < 0 || j->ends < sim->job[first].ends))
					first = in_flight[r];
			}
			if (first < 0)
				break;
			finish_job(sim, &sim->job[first]);
			running--;
		}
		/* Vendor runs find their connector busy: skipped. */
		for (int k = 0; sim->policy == SIM_STATIC && k < sim->njob; k++)
		{
			SimJob	   *j = &sim->job[k];

			if (j->scheduled && j->state == JOB_WAITING && j->release <= now && sim->busy[j->conn])
				j->state = JOB_DONE;
		}
		if (sim->policy == SIM_SYNCOPT)
			sim_triage(sim, now);
		ncand = running < nslots && now < sim->end ? ready_candidates(sim, now, cand) : 0;
		while (running < nslots && now < sim->end)
		{
			int			best = -1;
			double		best_key = 0;

			for (int c = 0; c < ncand; c++)
			{
				const SimJob *j = &sim->job[cand[c].job];

				if (j->state != JOB_WAITING || sim->busy[j->conn] || destination_room(sim, j->conn) <= 0 ||
					(cand[c].rides_along && sim->dest_running[sim->dest_of[j->conn]] == 0))
					continue;
				if (best < 0 || cand[c].key < best_key)
				{
					best = cand[c].job;
					best_key = cand[c].key;
				}
			}
			if (best < 0)
				break;
			/* A catch-up is best only when all else has started; it may wait. */
			if (sim->policy == SIM_SYNCOPT && saves_nothing(&sim->job[best]) &&
				!catch_up_fits(sim, &sim->job[best], now, running))
				break;
			start_job(sim, &sim->job[best], now);
			running++;
		}
		/*
		 * The next event; finished jobs are dropped on the way (in order, so
		 * ties still go to the job listed first): every pass over the jobs,
		 * here and in the look-ahead, then skips the week's past syncs.
		 */
		live = 0;
		listed = 0;
		for (int k = 0; k < sim->njob; k++)
		{
			SimJob	   *j = &sim->job[k];
			TimestampTz gate;

			if (j->state == JOB_DONE)
				continue;
			if (live != k)
				sim->job[live] = *j;
			j = &sim->job[live++];
			if (j->state == JOB_RUNNING)
			{
				in_flight[listed++] = live - 1;
				next = Min(next, j->ends);
			}
			else if (j->state == JOB_WAITING && now < sim->end)
			{
				if (j->eligible > now)
					next = Min(next, j->eligible);
				else if (sim->policy == SIM_SYNCOPT && j->release > now)
					next = Min(next, j->release);
				else if (!j->scheduled && (gate = job_gate(sim, j, now)) != 0)
					next = Min(next, gate);
				/* A sync syncopt holds back is looked at again when it plans. */
				else if (sim->policy == SIM_SYNCOPT && !sim->rollout && !j->scheduled)
					next = Min(next, sim->next_planning);
			}
		}
		sim->njob = live;
		if (next == NO_TIME)
			break;
		/* Nothing can change before the next event, or before a slot frees up. */
		now = Max(next, now + 1);
		if (now >= sim->end && running == 0)
			break;
	}
	pfree(cand);
	pfree(in_flight);
}
