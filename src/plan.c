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
 * would be missed, two triages are tried, each list-scheduling by due time
 * with what it gives up last: Moore-Hodgson over syncs (on the one-machine
 * relaxation with m-fold speed, dropping the sync with the most run time
 * per unit of weight each time the deadline-ordered load overflows) and
 * Moore-Hodgson over deadlines (triage_deadlines(): a deadline is met only
 * when all its syncs are, so it gives up whole deadlines and times their
 * connectors' syncs for their next deadline).  The plan that misses the
 * least deadline weight, then is least late (weight x time past due), is
 * kept, and its rows name what was given up.  Everything is deterministic
 * for the same inputs.  simulate()'s syncopt policy calls plan_fleet() at
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
#include "plan_slots.h"
#include "syncopt.h"

#define MAX_GATE_STEPS	1000	/* bound on postponements of one sync */
#define MAX_TRIAGE_ROUNDS	16	/* bound on deadline triage's rounds */

/*
 * How long a planned sync holds its slot, and when the plan expects it to
 * land: its P50.  The P90 stays the forecast (a sync's predicted end, the
 * deadline at risk, the windows it must keep out of), but planned at P90
 * every sync holds its slot for its worst case, so on short capacity the
 * plan gives up deadlines the syncs would meet more often than not
 * (docs/benchmarks.md, Decision quality); the next planning run sees what
 * actually landed and plans again.
 */
static inline double
plan_run_seconds(const Connector *c)
{
	return c->pred.p50_s;
}

/* Working state of one list-scheduling pass. */
typedef struct Schedule
{
	Fleet	   *fleet;			/* deadline triage moves due times */
	const Score *scores;
	TimestampTz horizon_end;
	int		   *job_of;			/* connector -> job index, -1 not planned */
	PlannedSync *jobs;
	TimestampTz *busy_end;		/* per job: when its slot frees (plan_run_seconds) */
	int			njobs;
	bool	   *placed;
	bool	   *dropped;		/* triaged */
	int		   *given_up_for;	/* per job: the deadline (asset) deadline triage
								 * gave up for it, -1 none */
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
	/* Past its P50 (plan_run_seconds), expect it to run to the end predicted above. */
	s->busy_end[j] = time_add(c->running_since, plan_run_seconds(c));
	if (s->busy_end[j] <= at)
		s->busy_end[j] = job->end;
	/* Each running sync holds a slot of its own (more than the slots share them). */
	slots_take(&s->slots, s->nrunning++ % s->nslots, job->start, s->busy_end[j]);
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

/* Weight x seconds past the due time of the syncs the current pass misses. */
static double
weighted_lateness(const Schedule *s)
{
	double		w = 0;

	for (int j = 0; j < s->njobs; j++)
	{
		const PlannedSync *job = &s->jobs[j];
		const Connector *c = &s->fleet->conn[job->connector];

		if (job->end != NO_TIME && s->busy_end[j] > c->due)
			w += c->weight * time_diff(s->busy_end[j], c->due);
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
	double		ra = plan_run_seconds(ca) / Max(ca->weight, 1e-9);
	double		rb = plan_run_seconds(cb) / Max(cb->weight, 1e-9);

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
		load += plan_run_seconds(c) / s->nslots;
		while (time_add(s->fleet->at, load) > c->due)
		{
			int			worst = heap[0];

			heap[0] = heap[--nheap];
			heap_sift_down(s, heap, nheap, 0);
			s->dropped[worst] = true;
			load -= plan_run_seconds(&s->fleet->conn[s->jobs[worst].connector]) / s->nslots;
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

/* Count deadline a as missed (once) into *w. */
static void
add_missed(const Fleet *f, int a, bool *missed, double *w)
{
	if (a >= 0 && !missed[a])
	{
		missed[a] = true;
		*w += f->asset[a].weight * f->asset[a].multiplier;
	}
}

/*
 * Weight of the deadlines the current pass misses.  A deadline is met
 * only when every sync it waits for is, so it counts once, with its own
 * weight (the asset's, times its calendar multiplier), however many of
 * its syncs are late.  due_asset (per job) is the deadline each was due
 * for before deadline triage: one it gave up counts as missed.
 */
static double
missed_deadline_weight(const Schedule *s, const int *due_asset)
{
	const Fleet *f = s->fleet;
	bool	   *missed = palloc0(sizeof(bool) * Max(f->nasset, 1));
	double		w = 0;

	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &f->conn[s->jobs[j].connector];

		if (due_asset && due_asset[j] != c->due_asset)
			add_missed(f, due_asset[j], missed, &w);
		if (s->jobs[j].end == NO_TIME || s->busy_end[j] > c->due)
			add_missed(f, c->due_asset, missed, &w);
	}
	pfree(missed);
	return w;
}

/* The syncs one deadline waits for, as deadline triage sees them. */
typedef struct DeadlineGroup
{
	int			asset;
	TimestampTz release;		/* its syncs start no earlier */
	TimestampTz due;			/* the earliest due time among them */
	double		work_s;			/* their P90s together */
	double		longest_s;		/* the longest P90 among them */
	double		weight;
	bool		dropped;
} DeadlineGroup;

/* Deadline groups by due time, then asset (qsort). */
static int
compare_group_due(const void *a, const void *b)
{
	const DeadlineGroup *x = (const DeadlineGroup *) a;
	const DeadlineGroup *y = (const DeadlineGroup *) b;

	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return x->asset - y->asset;
}

/* Does group g end after its due time even with every slot free from its release? */
static inline bool
late_alone(const DeadlineGroup *g, TimestampTz at, int nslots)
{
	return time_add(Max(at, g->release), Max(g->work_s / nslots, g->longest_s)) > g->due;
}

/*
 * When the accepted groups g[0..n) (by due time, the dropped ones skipped)
 * finish on the relaxation: the slots as one machine m times as fast,
 * each group starting no earlier than its release and taking at least its
 * longest sync.  Returns the first accepted group that ends after its due
 * time, or -1.  A group late even on free slots (late_alone()) takes its
 * share but is not what makes a group late: with durations that vary its
 * syncs may still make it, so it is kept while nothing else is late.
 */
static int
first_late_group(const DeadlineGroup *g, int n, TimestampTz at, int nslots)
{
	TimestampTz clock = at;

	for (int k = 0; k < n; k++)
	{
		TimestampTz start = Max(clock, g[k].release);

		if (g[k].dropped)
			continue;
		clock = time_add(start, g[k].work_s / nslots);
		if (!late_alone(&g[k], at, nslots) &&
			time_add(start, Max(g[k].work_s / nslots, g[k].longest_s)) > g[k].due)
			return k;
	}
	return -1;
}

/*
 * Which accepted group up to the late one to give up: one late even on
 * free slots first, then the most run time per unit of deadline weight.
 */
static int
group_to_give_up(const DeadlineGroup *g, int late, TimestampTz at, int nslots)
{
	int			worst = -1;

	for (int k = 0; k <= late; k++)
	{
		double		ratio = g[k].work_s / Max(g[k].weight, 1e-9);

		if (g[k].dropped)
			continue;
		if (worst < 0 ||
			late_alone(&g[k], at, nslots) > late_alone(&g[worst], at, nslots) ||
			(late_alone(&g[k], at, nslots) == late_alone(&g[worst], at, nslots) &&
			 ratio > g[worst].work_s / Max(g[worst].weight, 1e-9)))
			worst = k;
	}
	return worst;
}

/*
 * The syncs due for each deadline, as groups by due time (a connector's
 * sync is due for its earliest deadline): paused and running ones left
 * out.  group_of (per asset) is left pointing into the sorted groups.
 */
static int
deadline_groups(const Schedule *s, DeadlineGroup *g, int *group_of)
{
	const Fleet *f = s->fleet;
	int			ng = 0;

	for (int a = 0; a < f->nasset; a++)
		group_of[a] = -1;
	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &f->conn[s->jobs[j].connector];
		DeadlineGroup *grp;

		if (c->paused || c->running_since != NO_TIME || c->due_asset < 0)
			continue;
		if (group_of[c->due_asset] < 0)
		{
			grp = &g[ng];
			grp->asset = c->due_asset;
			grp->release = Max(f->at, plan_opening(f, c));
			grp->due = c->due;
			grp->work_s = grp->longest_s = 0;
			grp->weight = f->asset[c->due_asset].weight * f->asset[c->due_asset].multiplier;
			grp->dropped = false;
			group_of[c->due_asset] = ng++;
		}
		grp = &g[group_of[c->due_asset]];
		grp->due = Min(grp->due, c->due);
		grp->work_s += plan_run_seconds(c);
		grp->longest_s = Max(grp->longest_s, plan_run_seconds(c));
	}
	qsort(g, ng, sizeof(DeadlineGroup), compare_group_due);
	for (int k = 0; k < ng; k++)
		group_of[g[k].asset] = k;
	return ng;
}

/*
 * Moore-Hodgson over deadlines rather than syncs.  A deadline is met only
 * when all its syncs are, so giving up one sync of a deadline loses the
 * whole deadline while its other syncs still take slots; this triage
 * gives up whole deadlines instead.  In due order the groups of syncs
 * (deadline_groups()) are added to the relaxation, and whenever one ends
 * late the accepted group with the most run time per unit of deadline
 * weight is given up.  The connectors of a deadline given up are then due
 * for their next deadline (graph_give_up()), whose group they join, and
 * the triage runs again until nothing more is given up (at most
 * MAX_TRIAGE_ROUNDS times).  The order to try is the syncs by due time,
 * then those of connectors with no deadline left, which are given up.
 */
static void
triage_deadlines(Schedule *s, int *order)
{
	Fleet	   *f = s->fleet;
	int		   *group_of = palloc(sizeof(int) * Max(f->nasset, 1));
	bool	   *given_up = palloc0(sizeof(bool) * Max(f->nasset, 1));
	DeadlineGroup *g = palloc(sizeof(DeadlineGroup) * Max(s->njobs, 1));
	int		   *edd = palloc(sizeof(int) * Max(s->njobs, 1));
	int			n = 0;

	for (int round = 0; round < MAX_TRIAGE_ROUNDS; round++)
	{
		int			ng = deadline_groups(s, g, group_of);
		int			late;
		bool		gave_up = false;

		while ((late = first_late_group(g, ng, f->at, s->nslots)) >= 0)
		{
			int			worst = group_to_give_up(g, late, f->at, s->nslots);

			g[worst].dropped = true;
			given_up[g[worst].asset] = true;
			gave_up = true;
		}
		if (!gave_up)
			break;
		graph_give_up(f, given_up);
	}
	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &f->conn[s->jobs[j].connector];

		edd[j] = j;
		s->dropped[j] = c->due == NO_TIME && !c->paused && c->running_since == NO_TIME;
	}
	edd_schedule = s;
	qsort(edd, s->njobs, sizeof(int), compare_edd);
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < s->njobs; k++)
			if (s->dropped[edd[k]] == (pass == 1))
				order[n++] = edd[k];
	pfree(group_of);
	pfree(given_up);
	pfree(g);
	pfree(edd);
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

/* Put back the due times deadline triage moved (the jobs' connectors). */
static void
restore_dues(Schedule *s, const TimestampTz *due, const int *due_asset)
{
	for (int j = 0; j < s->njobs; j++)
	{
		s->fleet->conn[s->jobs[j].connector].due = due[j];
		s->fleet->conn[s->jobs[j].connector].due_asset = due_asset[j];
	}
}

/* A way to pick the syncs to give up, and what the reasons say when its plan is kept. */
typedef struct TriageWay
{
	void		(*order) (Schedule *s, int *order);
	const char *misses_less;
	const char *less_late;
} TriageWay;

static const TriageWay triage_ways[] = {
	{triage, "Moore-Hodgson triage misses less than the priority order",
	"Moore-Hodgson triage misses no more than the priority order and is less late"},
	{triage_deadlines, "deadline triage misses less than the priority order",
	"deadline triage misses no more than the priority order and is less late"},
};

/*
 * Some deadlines would be missed in the priority order (the pass just
 * made): plan each triage's order too and keep the plan that misses the
 * least deadline weight, then the least late (weight x time past due); on
 * a tie the earlier way, the priority order first.  Leaves s with the
 * kept plan and job_order with its order.
 */
static void
choose_triage(Schedule *s, int *job_order)
{
	double		plain_missed = missed_deadline_weight(s, NULL);
	double		best_missed = plain_missed;
	double		best_late = weighted_lateness(s);
	int			best = -1;
	int			last = -1;
	TimestampTz *due = palloc(sizeof(TimestampTz) * Max(s->njobs, 1));
	int		   *due_asset = palloc(sizeof(int) * Max(s->njobs, 1));

	for (int j = 0; j < s->njobs; j++)
	{
		due[j] = s->fleet->conn[s->jobs[j].connector].due;
		due_asset[j] = s->fleet->conn[s->jobs[j].connector].due_asset;
	}
	for (int w = 0; w < lengthof(triage_ways); w++)
	{
		double		missed;
		double		late;

		memset(s->dropped, 0, sizeof(bool) * s->njobs);
		restore_dues(s, due, due_asset);
		triage_ways[w].order(s, job_order);
		s->order_note = NULL;
		schedule_pass(s, job_order);
		last = w;
		missed = missed_deadline_weight(s, due_asset);
		late = weighted_lateness(s);
		if (missed < best_missed || (missed == best_missed && late < best_late))
		{
			best = w;
			best_missed = missed;
			best_late = late;
		}
	}
	/* The kept way's order again, from the due times it started from (it is deterministic). */
	memset(s->dropped, 0, sizeof(bool) * s->njobs);
	restore_dues(s, due, due_asset);
	if (best < 0)
	{
		for (int j = 0; j < s->njobs; j++)
			job_order[j] = j;
	}
	else
	{
		triage_ways[best].order(s, job_order);
		s->order_note = best_missed < plain_missed ? triage_ways[best].misses_less : triage_ways[best].less_late;
	}
	for (int j = 0; j < s->njobs; j++)
		if (s->fleet->conn[s->jobs[j].connector].due_asset != due_asset[j])
			s->given_up_for[j] = due_asset[j];
	/* The reasons name the order kept, so that pass is made again unless it is the last one. */
	if (best != last || s->explain)
		schedule_pass(s, job_order);

	/*
	 * The rows report each connector against the deadline it was due for:
	 * one given up is missed, whenever the sync for the next one ends (that
	 * sync is still triggered when its time comes).
	 */
	restore_dues(s, due, due_asset);
	for (int j = 0; j < s->njobs; j++)
		if (s->given_up_for[j] >= 0)
			s->jobs[j].will_miss = true;
	pfree(due);
	pfree(due_asset);
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
