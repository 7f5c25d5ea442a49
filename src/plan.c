/*-------------------------------------------------------------------------
 *
 * plan.c
 *	  A schedule for the syncs that feed deadlines within a horizon
 *	  (plan_rows.c turns it into the rows of plan(), sla_risk() and a
 *	  planning run).
 *
 * Graham list scheduling (orchestration.md 5.2): take the connectors in
 * priority order (score.c, EDF as tie-break), a connector's sync_order
 * predecessors first, and start each at the earliest time when
 *	 - the deadline it is due for has opened: its data must be no older than
 *	   the asset's freshness SLA (24 hours without one) at the deadline, so
 *	   an earlier sync would not serve it; a connector whose last successful
 *	   sync started after that opening is not planned at all,
 *	 - its predecessors have finished,
 *	 - one of syncopt.max_concurrent_syncs slots is free for the whole run
 *	   (each slot keeps the runs placed on it, so a run fits in a gap
 *	   before a later one), and fewer than
 *	   syncopt.max_concurrent_per_destination syncs run into its destination,
 *	 - no source/connector window with load_factor 1 covers the run, and no
 *	   lesser load window or warehouse cost window covers it that the sync
 *	   could wait out and still finish by its due time.
 * Durations are P90.  When some syncs would miss, Moore-Hodgson triage (on
 * the one-machine relaxation with m-fold speed) picks the syncs to give up,
 * dropping the one with the most P90 per unit of weight each time the
 * deadline-ordered load overflows, and list-schedules the rest by due time
 * with the given-up ones last; that plan is kept when it misses less
 * weight, or the same weight less late (weight x time past due), and its
 * rows name what was given up.  Everything is deterministic for the same
 * inputs.  simulate()'s syncopt policy calls plan_fleet() at every
 * simulated planning instant (simulate_engine.c), so what is decided here
 * is what the replay does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "plan_slots.h"
#include "syncopt.h"

#define MAX_GATE_STEPS	1000	/* bound on postponements of one sync */

/* Working state of one list-scheduling pass. */
typedef struct Schedule
{
	const Fleet *fleet;
	const Score *scores;
	TimestampTz horizon_end;
	int		   *job_of;			/* connector -> job index, -1 not planned */
	PlannedSync *jobs;
	int			njobs;
	bool	   *placed;
	bool	   *dropped;		/* triaged */
	const char *order_note;		/* why this pass follows the triage order; NULL if not */
	Slots		slots;
	int			nslots;
	int		   *win_off;		/* per job: the windows that may hold it back, */
	int		   *win_idx;		/* fleet->win indexes by start */
	int			nrunning;
	int		   *dest_of;		/* per job: its destination's number, -1 none */
	int		   *dest_off;		/* destination -> its jobs in dest_jobs */
	int		   *dest_jobs;
	bool		explain;		/* write each sync's reason (plan() does; a replay does not) */
	int			next_priority;
} Schedule;

/*
 * Syncs already planned into the destination of job j that overlap
 * [start, end); earliest end among them.  Only the jobs of that destination
 * are looked at (index_destinations()): looking at every job made each
 * placement under syncopt.max_concurrent_per_destination cost the whole
 * plan (quadratic in the syncs).
 */
static int
destination_busy(const Schedule *s, int j, TimestampTz start, TimestampTz end,
				 TimestampTz *first_end)
{
	int			busy = 0;
	int			d = s->dest_of[j];

	*first_end = NO_TIME;
	for (int k = s->dest_off[d]; k < s->dest_off[d + 1]; k++)
	{
		const PlannedSync *o = &s->jobs[s->dest_jobs[k]];

		if (!s->placed[s->dest_jobs[k]] || o->start == NO_TIME)
			continue;
		if (o->start < end && o->end > start)
		{
			busy++;
			if (o->end < *first_end)
				*first_end = o->end;
		}
	}
	return busy;
}

/* Two jobs by their connectors' destinations (qsort_arg; arg: the schedule). */
static int
compare_destination(const void *a, const void *b, void *arg)
{
	const Schedule *s = arg;
	int			x = *(const int *) a;
	int			y = *(const int *) b;
	int			cmp = strcmp(s->fleet->conn[s->jobs[x].connector].destination,
							 s->fleet->conn[s->jobs[y].connector].destination);

	return cmp != 0 ? cmp : x - y;
}

/*
 * Group the jobs by destination: dest_of[j] numbers job j's destination
 * (-1: none), and the jobs of destination d are dest_jobs[dest_off[d] ..
 * dest_off[d + 1]).
 */
static void
index_destinations(Schedule *s)
{
	int			n = 0,
				ndest = 0;

	s->dest_of = palloc(sizeof(int) * Max(s->njobs, 1));
	s->dest_jobs = palloc(sizeof(int) * Max(s->njobs, 1));
	s->dest_off = palloc(sizeof(int) * (s->njobs + 1));
	for (int j = 0; j < s->njobs; j++)
	{
		s->dest_of[j] = -1;
		if (s->fleet->conn[s->jobs[j].connector].destination != NULL)
			s->dest_jobs[n++] = j;
	}
	qsort_arg(s->dest_jobs, n, sizeof(int), compare_destination, s);
	for (int k = 0; k < n; k++)
	{
		if (k == 0 || strcmp(s->fleet->conn[s->jobs[s->dest_jobs[k - 1]].connector].destination,
							 s->fleet->conn[s->jobs[s->dest_jobs[k]].connector].destination) != 0)
			s->dest_off[ndest++] = k;
		s->dest_of[s->dest_jobs[k]] = ndest - 1;
	}
	s->dest_off[ndest] = n;
}

/* Place one job, its waiting-for predecessors first. */
static void
place_job(Schedule *s, int j)
{
	PlannedSync *job = &s->jobs[j];
	const Fleet *fleet = s->fleet;
	const Connector *c = &fleet->conn[job->connector];
	TimestampTz earliest = Max(fleet->at, plan_opening(fleet, c));
	TimestampTz t;
	const Window *waited = NULL;
	const char *after = NULL;
	int			best_slot = -1;
	bool		slot_wait = false;

	/* Long sync_order chains recurse; fail cleanly rather than overflow. */
	check_stack_depth();
	s->placed[j] = true;		/* also guards the recursion */
	for (int e = fleet->conn_before.off[job->connector]; e < fleet->conn_before.off[job->connector + 1]; e++)
	{
		int			pj = s->job_of[fleet->conn_before.idx[e]];

		if (pj < 0)
			continue;
		if (!s->placed[pj])
			place_job(s, pj);
		if (s->jobs[pj].end != NO_TIME && s->jobs[pj].end > earliest)
		{
			earliest = s->jobs[pj].end;
			after = fleet->conn[s->jobs[pj].connector].name;
		}
	}
	job->priority = ++s->next_priority;
	if (c->paused)
	{
		job->start = job->end = NO_TIME;
		job->will_miss = true;
		job->action = "paused";
		if (s->explain)
			appendStringInfoString(&job->reason, "paused: it will not sync until resumed");
		return;
	}

	t = earliest;
	for (int step = 0; step < MAX_GATE_STEPS; step++)
	{
		TimestampTz end = time_add(t, c->pred.p90_s);
		TimestampTz later = 0;
		TimestampTz slot_time = NO_TIME;

		for (int w = s->win_off[j]; w < s->win_off[j + 1] && later == 0; w++)
			if ((later = window_postpones(&fleet->win[s->win_idx[w]], c, t, end, c->due)) != 0)
				waited = &fleet->win[s->win_idx[w]];
		if (later == 0 && syncopt_max_concurrent_per_destination > 0 && c->destination)
		{
			TimestampTz first_end;

			if (destination_busy(s, j, t, end, &first_end) >= syncopt_max_concurrent_per_destination)
				later = first_end;
		}
		if (later != 0)
		{
			t = later;
			continue;
		}
		/* A slot free for the whole run, between the syncs placed on it. */
		best_slot = slots_find(&s->slots, t, end, &slot_time);
		if (best_slot >= 0)
			break;
		t = slot_time;
		slot_wait = true;
	}
	if (best_slot < 0)
		elog(ERROR, "syncopt: plan could not place the sync of %s", c->name);

	job->start = t;
	job->end = time_add(t, c->pred.p90_s);
	slots_take(&s->slots, best_slot, job->start, job->end);
	job->will_miss = job->end > c->due;
	if (s->dropped[j])
		job->action = "give_up";
	else if (waited && t == waited->ends)
		job->action = "wait_for_window";
	else
		job->action = t == fleet->at ? "start_now" : "start_later";
	if (!s->explain)
		return;

	if (s->dropped[j])
		appendStringInfo(&job->reason, "triage: capacity cannot meet every deadline, so %s is given up to protect heavier ones; ",
						 fleet->asset[c->due_asset].name);
	else if (s->order_note)
		appendStringInfo(&job->reason, "deadline order (%s); ", s->order_note);
	if (after)
		appendStringInfo(&job->reason, "after %s (sync order); ", after);
	if (waited && t >= waited->ends)
	{
		if (waited->target == 'w')
			appendStringInfo(&job->reason, "waits out %s (warehouse price x%.3g) and still meets its deadline; ",
							 waited->name, waited->price);
		else
			appendStringInfo(&job->reason, "waits out %s (load %.2f)%s; ", waited->name, waited->load_factor,
							 waited->load_factor >= 1 ? ", which forbids syncing" : " and still meets its deadline");
	}
	if (slot_wait)
		appendStringInfo(&job->reason, "waits for one of %d slots; ", s->nslots);
	appendStringInfo(&job->reason, "P90 %s, predicted end %s, due %s", format_duration(c->pred.p90_s),
					 format_time(job->end), format_time(c->due));
	if (job->will_miss)
		appendStringInfo(&job->reason, ": misses %s by %s", fleet->asset[c->due_asset].name,
						 format_duration(time_diff(job->end, c->due)));
	else
		appendStringInfo(&job->reason, " (%s to spare)", format_duration(time_diff(c->due, job->end)));
}

/* Place a connector that is syncing right now: it holds a slot until its predicted end. */
static void
place_running(Schedule *s, int j)
{
	PlannedSync *job = &s->jobs[j];
	const Connector *c = &s->fleet->conn[job->connector];
	TimestampTz at = s->fleet->at;

	s->placed[j] = true;
	job->priority = ++s->next_priority;
	job->start = c->running_since;
	job->end = time_add(c->running_since, c->pred.p90_s);
	job->action = "running";
	if (job->end <= at)
	{
		/* Past its P90: expect about half a P50 more (and re-plan then). */
		job->end = time_add(at, Max(c->pred.p50_s / 2, 60));
	}
	/* Each running sync holds a slot of its own (more than the slots share them). */
	slots_take(&s->slots, s->nrunning++ % s->nslots, job->start, job->end);
	job->will_miss = job->end > c->due;
	if (s->explain)
		appendStringInfo(&job->reason, "running since %s%s; predicted end %s, due %s",
						 format_time(c->running_since),
						 job->end > time_add(c->running_since, c->pred.p90_s) ? ", already longer than its P90" : "",
						 format_time(job->end), format_time(c->due));
}

/*
 * For each job, the windows that can hold its sync back (window_postpones):
 * its source's and its own load windows and the priced warehouse windows,
 * in fleet order (by start), so a placement looks at those only.
 */
static void
index_windows(Schedule *s)
{
	const Fleet *f = s->fleet;
	int			n = 0,
				max = 64;

	s->win_off = palloc(sizeof(int) * (s->njobs + 1));
	s->win_idx = palloc(sizeof(int) * max);
	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &f->conn[s->jobs[j].connector];

		s->win_off[j] = n;
		for (int w = 0; w < f->nwin; w++)
		{
			const Window *win = &f->win[w];

			if (win->target == 'w' ? win->price <= 1 : (win->load_factor <= 0 || !window_applies(win, c)))
				continue;
			if (n == max)
			{
				max *= 2;
				s->win_idx = repalloc(s->win_idx, sizeof(int) * max);
			}
			s->win_idx[n++] = w;
		}
	}
	s->win_off[s->njobs] = n;
}

/* One list-scheduling pass over the jobs in the given order. */
static void
schedule_pass(Schedule *s, const int *order)
{
	s->next_priority = 0;
	for (int j = 0; j < s->njobs; j++)
	{
		PlannedSync *job = &s->jobs[j];

		s->placed[j] = false;
		if (!s->explain)
			continue;
		if (job->reason.data)
			pfree(job->reason.data);
		initStringInfo(&job->reason);
	}
	s->nrunning = 0;
	slots_reset(&s->slots);
	for (int j = 0; j < s->njobs; j++)
		if (s->fleet->conn[s->jobs[j].connector].running_since != NO_TIME)
			place_running(s, j);
	for (int k = 0; k < s->njobs; k++)
	{
		/* A pass over a large fleet takes seconds: let it be cancelled. */
		CHECK_FOR_INTERRUPTS();
		if (!s->placed[order[k]])
			place_job(s, order[k]);
	}
}

/* Weight of the deadlines the current pass misses. */
static double
missed_weight(const Schedule *s)
{
	double		w = 0;

	for (int j = 0; j < s->njobs; j++)
		if (s->jobs[j].will_miss)
			w += s->fleet->conn[s->jobs[j].connector].weight;
	return w;
}

/* Weight x seconds past the due time of the syncs the current pass misses. */
static double
weighted_lateness(const Schedule *s)
{
	double		w = 0;

	for (int j = 0; j < s->njobs; j++)
	{
		const PlannedSync *job = &s->jobs[j];
		const Connector *c = &s->fleet->conn[job->connector];

		if (job->will_miss && job->end != NO_TIME)
			w += c->weight * time_diff(job->end, c->due);
	}
	return w;
}

static const Schedule *edd_schedule;

/* Earliest due first, then the priority order. */
static int
compare_edd(const void *a, const void *b)
{
	const PlannedSync *x = &edd_schedule->jobs[*(const int *) a];
	const PlannedSync *y = &edd_schedule->jobs[*(const int *) b];
	TimestampTz dx = edd_schedule->fleet->conn[x->connector].due;
	TimestampTz dy = edd_schedule->fleet->conn[y->connector].due;

	if (dx != dy)
		return dx < dy ? -1 : 1;
	return *(const int *) a - *(const int *) b;
}

/* Triage's order among accepted syncs: more P90 per unit of weight first, then job order. */
static bool
drops_before(const Schedule *s, int a, int b)
{
	const Connector *ca = &s->fleet->conn[s->jobs[a].connector];
	const Connector *cb = &s->fleet->conn[s->jobs[b].connector];
	double		ra = ca->pred.p90_s / Max(ca->weight, 1e-9);
	double		rb = cb->pred.p90_s / Max(cb->weight, 1e-9);

	if (ra != rb)
		return ra > rb;
	return a < b;
}

/* Restore the heap order of heap[0..n) from position k down. */
static void
heap_sift_down(const Schedule *s, int *heap, int n, int k)
{
	for (;;)
	{
		int			top = k;
		int			l = 2 * k + 1;
		int			tmp;

		if (l < n && drops_before(s, heap[l], heap[top]))
			top = l;
		if (l + 1 < n && drops_before(s, heap[l + 1], heap[top]))
			top = l + 1;
		if (top == k)
			return;
		tmp = heap[k];
		heap[k] = heap[top];
		heap[top] = tmp;
		k = top;
	}
}

/* Add job j to the heap heap[0..*n). */
static void
heap_push(const Schedule *s, int *heap, int *n, int j)
{
	int			k = (*n)++;

	heap[k] = j;
	while (k > 0 && drops_before(s, heap[k], heap[(k - 1) / 2]))
	{
		int			parent = (k - 1) / 2;

		heap[k] = heap[parent];
		heap[parent] = j;
		k = parent;
	}
}

/*
 * Moore-Hodgson on the relaxation: in due order, add each sync's P90 / m
 * to the load; whenever the load passes the current due time, drop the
 * accepted sync with the most P90 per unit of weight (a heap keeps them,
 * so triage costs n log n).  The order to try is the accepted syncs by
 * due time, then the dropped ones.
 */
static void
triage(Schedule *s, int *order)
{
	int			n = 0;
	int		   *edd = palloc(sizeof(int) * s->njobs);
	int		   *heap = palloc(sizeof(int) * s->njobs);
	int			nheap = 0;
	double		load = 0;

	for (int j = 0; j < s->njobs; j++)
		edd[j] = j;
	edd_schedule = s;
	qsort(edd, s->njobs, sizeof(int), compare_edd);
	for (int k = 0; k < s->njobs; k++)
	{
		int			j = edd[k];
		const Connector *c = &s->fleet->conn[s->jobs[j].connector];

		if (c->paused || c->running_since != NO_TIME)
			continue;
		heap_push(s, heap, &nheap, j);
		load += c->pred.p90_s / s->nslots;
		while (time_add(s->fleet->at, load) > c->due)
		{
			int			worst = heap[0];

			heap[0] = heap[--nheap];
			heap_sift_down(s, heap, nheap, 0);
			s->dropped[worst] = true;
			load -= s->fleet->conn[s->jobs[worst].connector].pred.p90_s / s->nslots;
			if (worst == j)
				break;
		}
	}
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < s->njobs; k++)
			if (s->dropped[edd[k]] == (pass == 1))
				order[n++] = edd[k];
	pfree(edd);
	pfree(heap);
}

/*
 * The earliest start at which a sync of c serves the deadline it is due
 * for (deadline_opening()); DT_NOBEGIN when no deadline waits for c.
 */
TimestampTz
plan_opening(const Fleet *fleet, const Connector *c)
{
	if (c->due == NO_TIME || c->due_asset < 0)
		return DT_NOBEGIN;
	return deadline_opening(fleet, c->due_asset);
}

/*
 * Does the planning run trigger this planned sync now?  When it is to
 * start before the next run (syncopt.planner_interval): planner_candidates()
 * applies the same rule to plan()'s rows.
 */
bool
plan_triggers(const Fleet *fleet, const PlannedSync *job)
{
	return (strcmp(job->action, "start_now") == 0 || strcmp(job->action, "start_later") == 0) &&
		job->start < time_add(fleet->at, syncopt_planner_interval_s);
}

/*
 * Plan the syncs of connectors with a due time within the horizon.
 * Returns the jobs (in the order of the connectors' priority); with
 * explain, each with its reason (the decisions are the same without).
 */
PlannedSync *
plan_fleet(Fleet *fleet, Score *scores, double horizon_s, bool explain, int *njobs)
{
	Schedule	s = {0};
	int		   *order = priority_order(fleet, scores);
	int		   *job_order;
	double		plain_missed;

	s.fleet = fleet;
	s.scores = scores;
	s.explain = explain;
	s.horizon_end = time_add(fleet->at, horizon_s);
	s.job_of = palloc(sizeof(int) * Max(fleet->nconn, 1));
	s.jobs = palloc0(sizeof(PlannedSync) * Max(fleet->nconn, 1));
	s.nslots = syncopt_max_concurrent_syncs;
	slots_init(&s.slots, s.nslots);
	for (int i = 0; i < fleet->nconn; i++)
		s.job_of[i] = -1;
	for (int k = 0; k < fleet->nconn; k++)
	{
		int			i = order[k];

		if (fleet->conn[i].due == NO_TIME || fleet->conn[i].due > s.horizon_end)
			continue;
		/* Its last sync's data already serves that deadline: nothing to plan. */
		if (fleet->conn[i].running_since == NO_TIME &&
			fleet->conn[i].fresh_since >= plan_opening(fleet, &fleet->conn[i]))
			continue;
		s.job_of[i] = s.njobs;
		s.jobs[s.njobs++].connector = i;
	}
	s.placed = palloc0(sizeof(bool) * Max(s.njobs, 1));
	index_windows(&s);
	if (syncopt_max_concurrent_per_destination > 0)
		index_destinations(&s);
	s.dropped = palloc0(sizeof(bool) * Max(s.njobs, 1));
	job_order = palloc(sizeof(int) * Max(s.njobs, 1));
	for (int j = 0; j < s.njobs; j++)
		job_order[j] = j;

	schedule_pass(&s, job_order);
	plain_missed = missed_weight(&s);
	if (plain_missed > 0)
	{
		double		plain_late = weighted_lateness(&s);
		double		triaged_missed;

		triage(&s, job_order);
		s.order_note = "Moore-Hodgson triage misses less than the priority order";
		schedule_pass(&s, job_order);
		triaged_missed = missed_weight(&s);
		if (triaged_missed > plain_missed ||
			(triaged_missed == plain_missed && weighted_lateness(&s) >= plain_late))
		{
			/* Triage did not help: keep the plain priority order. */
			s.order_note = NULL;
			memset(s.dropped, 0, sizeof(bool) * s.njobs);
			for (int j = 0; j < s.njobs; j++)
				job_order[j] = j;
			schedule_pass(&s, job_order);
		}
		else if (triaged_missed == plain_missed)
		{
			/* The same misses, less late: say so in the reasons. */
			s.order_note = "Moore-Hodgson triage misses no more than the priority order and is less late";
			schedule_pass(&s, job_order);
		}
	}
	*njobs = s.njobs;
	return s.jobs;
}
