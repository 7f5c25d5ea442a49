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
 * A planned sync holds its slot for its P50 and the plan expects it to land
 * then (plan_run_seconds()); its P90 is the forecast: the predicted end,
 * whether it misses, the windows it must keep out of.  When some deadline
 * would be missed, the triages of plan_triage.c are tried and the best of
 * their plans is kept (choose_triage()).  Everything is deterministic for
 * the same inputs.  simulate()'s syncopt policy calls plan_fleet() at
 * every simulated planning instant (simulate_engine.c), so what is decided
 * here is what the replay does.
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
#include "plan_schedule.h"
#include "syncopt.h"

#define MAX_GATE_STEPS	1000	/* bound on postponements of one sync */

PG_FUNCTION_INFO_V1(syncopt_retry_opening);

/*
 * Syncs already planned into the destination of job j that overlap
 * [start, end) by the time they hold their slots (busy_end); earliest end
 * among them.  Only the jobs of that destination are looked at
 * (index_destinations()): looking at every job made each placement under
 * syncopt.max_concurrent_per_destination cost the whole plan (quadratic in
 * the syncs).  Job j itself is marked placed while it is being placed,
 * with its times from an earlier pass, so it is skipped.
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
		int			o = s->dest_jobs[k];

		if (o == j || !s->placed[o] || s->jobs[o].start == NO_TIME)
			continue;
		if (s->jobs[o].start < end && s->busy_end[o] > start)
		{
			busy++;
			if (s->busy_end[o] < *first_end)
				*first_end = s->busy_end[o];
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
		if (s->jobs[pj].end != NO_TIME && s->busy_end[pj] > earliest)
		{
			earliest = s->busy_end[pj];
			after = fleet->conn[s->jobs[pj].connector].name;
		}
	}
	job->priority = ++s->next_priority;
	if (c->paused)
	{
		job->start = job->end = s->busy_end[j] = NO_TIME;
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
		TimestampTz busy_end = time_add(t, plan_run_seconds(c));
		TimestampTz later = 0;
		TimestampTz slot_time = NO_TIME;

		for (int w = s->win_off[j]; w < s->win_off[j + 1] && later == 0; w++)
			if ((later = window_postpones(&fleet->win[s->win_idx[w]], c, t, end, c->due)) != 0)
				waited = &fleet->win[s->win_idx[w]];
		if (later == 0 && syncopt_max_concurrent_per_destination > 0 && c->destination)
		{
			TimestampTz first_end;

			if (destination_busy(s, j, t, busy_end, &first_end) >= syncopt_max_concurrent_per_destination)
				later = first_end;
		}
		if (later != 0)
		{
			t = later;
			continue;
		}
		/* A slot free for the whole run, between the syncs placed on it. */
		best_slot = slots_find(&s->slots, t, busy_end, &slot_time);
		if (best_slot >= 0)
			break;
		t = slot_time;
		slot_wait = true;
	}
	if (best_slot < 0)
		elog(ERROR, "syncopt: plan could not place the sync of %s", c->name);

	job->start = t;
	job->end = time_add(t, c->pred.p90_s);
	s->busy_end[j] = time_add(t, plan_run_seconds(c));
	slots_take(&s->slots, best_slot, job->start, s->busy_end[j]);
	job->will_miss = job->end > c->due;
	if (s->dropped[j])
		job->action = "give_up";
	else if (waited && t == waited->ends)
		job->action = "wait_for_window";
	else
		job->action = t == fleet->at ? "start_now" : "start_later";
	if (!s->explain)
		return;

	if (s->given_up_for[j] >= 0)
	{
		appendStringInfo(&job->reason, "deadline triage: capacity cannot meet every deadline, so %s is given up to protect heavier ones; ",
						 fleet->asset[s->given_up_for[j]].name);
		if (c->due_asset >= 0)
			appendStringInfo(&job->reason, "this sync is timed for the next deadline, %s; ",
							 fleet->asset[c->due_asset].name);
	}
	else if (s->dropped[j] && c->due_asset >= 0)
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
	appendStringInfo(&job->reason, "P90 %s, predicted end %s", format_duration(c->pred.p90_s),
					 format_time(job->end));
	/*
	 * No due time: the deadline this sync was for is given up (triage) and
	 * no other waits for it, so there is no margin to state.
	 */
	if (c->due == NO_TIME)
		appendStringInfoString(&job->reason, "; no other deadline waits for it");
	else if (job->will_miss)
		appendStringInfo(&job->reason, ", due %s: misses %s by %s", format_time(c->due),
						 fleet->asset[c->due_asset].name, format_duration(time_diff(job->end, c->due)));
	else
		appendStringInfo(&job->reason, ", due %s (%s to spare)", format_time(c->due),
						 format_duration(time_diff(c->due, job->end)));
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
	/* Past its P50 (plan_run_seconds), expect it to run to the end predicted above. */
	s->busy_end[j] = time_add(c->running_since, plan_run_seconds(c));
	if (s->busy_end[j] <= at)
		s->busy_end[j] = job->end;
	/* Each running sync holds a slot of its own (more than the slots share them). */
	slots_take(&s->slots, s->nrunning++ % s->nslots, job->start, s->busy_end[j]);
	job->will_miss = job->end > c->due;
	if (!s->explain)
		return;
	appendStringInfo(&job->reason, "running since %s%s; predicted end %s",
					 format_time(c->running_since),
					 job->end > time_add(c->running_since, c->pred.p90_s) ? ", already longer than its P90" : "",
					 format_time(job->end));
	if (c->due == NO_TIME)
		appendStringInfoString(&job->reason, "; no other deadline waits for it");
	else
		appendStringInfo(&job->reason, ", due %s", format_time(c->due));
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

/*
 * One list-scheduling pass over the jobs in the given order.  A pass with
 * reasons writes them over an earlier pass's, in its buffers: freed and
 * made again, the final pass of a triage paid an allocation and fresh
 * pages for each of 50,000 reasons.
 */
void
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
			resetStringInfo(&job->reason);
		else
			reason_init(&job->reason);
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
 * The earliest time the planner retries a connector whose last
 * failures_in_row syncs failed, the last ending at last_failure.  One
 * failure is retried at once (at the next planning run); from two in a
 * row on, not before that end plus syncopt.retry_backoff, doubled for each
 * further failure, at most syncopt.retry_backoff_max.  DT_NOBEGIN when
 * nothing holds the retry back (no repeated failure, or none with a known
 * end: NO_TIME).  Why: a configuration fault can be worded exactly as a
 * passing network fault (an SSL EOF, a connection reset), so the wording
 * alone cannot stop its retries; spacing them bounds what such a fault
 * costs (a few retries a day instead of one per planning run) while a
 * passing fault is still retried soon after.
 */
TimestampTz
retry_opening(int failures_in_row, TimestampTz last_failure)
{
	double		wait_s;

	if (failures_in_row < 2 || TIMESTAMP_NOT_FINITE(last_failure))
		return DT_NOBEGIN;
	/* 2^30 times a second already passes the largest cap: no overflow. */
	wait_s = ldexp((double) syncopt_retry_backoff_s, Min(failures_in_row - 2, 30));
	return time_add(last_failure, Min(wait_s, (double) syncopt_retry_backoff_max_s));
}

/*
 * Does the planning run trigger this planned sync now?  When it is to
 * start before the next run (syncopt.planner_interval) and its connector's
 * retry back-off has run out (retry_opening()): planner_candidates()
 * applies the same rule to plan()'s rows, through retry_opening().
 */
bool
plan_triggers(const Fleet *fleet, const PlannedSync *job)
{
	const Connector *c = &fleet->conn[job->connector];

	return (strcmp(job->action, "start_now") == 0 || strcmp(job->action, "start_later") == 0) &&
		job->start < time_add(fleet->at, syncopt_planner_interval_s) &&
		fleet->at >= retry_opening(c->consecutive_failures, c->last_failure_at);
}

/*
 * syncopt.retry_opening(failures_in_row, last_failure_at): retry_opening()
 * for SQL, so that planner_candidates() holds a retry back exactly as
 * simulate()'s replay does.  A NULL argument means no failure is known:
 * nothing holds the retry back.
 */
Datum
syncopt_retry_opening(PG_FUNCTION_ARGS)
{
	int32		failures_in_row;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_TIMESTAMPTZ(DT_NOBEGIN);
	failures_in_row = PG_GETARG_INT32(0);
	if (failures_in_row < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("failures_in_row must not be negative"),
				 errdetail("failures_in_row was %d.", failures_in_row),
				 errhint("Pass the connector's failures in a row since its last success, 0 when none.")));
	PG_RETURN_TIMESTAMPTZ(retry_opening(failures_in_row, PG_GETARG_TIMESTAMPTZ(1)));
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

	s.fleet = fleet;
	s.scores = scores;
	s.explain = explain;
	s.horizon_end = time_add(fleet->at, horizon_s);
	s.job_of = palloc(sizeof(int) * Max(fleet->nconn, 1));
	s.jobs = palloc0(sizeof(PlannedSync) * Max(fleet->nconn, 1));
	s.busy_end = palloc(sizeof(TimestampTz) * Max(fleet->nconn, 1));
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
	s.given_up_for = palloc(sizeof(int) * Max(s.njobs, 1));
	for (int j = 0; j < s.njobs; j++)
		s.given_up_for[j] = -1;
	job_order = palloc(sizeof(int) * Max(s.njobs, 1));
	for (int j = 0; j < s.njobs; j++)
		job_order[j] = j;

	schedule_pass(&s, job_order);
	if (missed_deadline_weight(&s, NULL) > 0)
		choose_triage(&s, job_order);
	*njobs = s.njobs;
	return s.jobs;
}