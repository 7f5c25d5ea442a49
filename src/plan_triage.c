/*-------------------------------------------------------------------------
 *
 * plan_triage.c
 *	  When capacity cannot meet every deadline: which syncs or deadlines a
 *	  plan gives up, and which of the orders that follow is kept.
 *
 * plan.c list-schedules the syncs in priority order; when that pass
 * misses some deadline, choose_triage() tries two triages, each
 * list-scheduling by due time with what it gives up last: Moore-Hodgson
 * over syncs (triage(): on the one-machine relaxation with m-fold speed,
 * dropping the sync with the most run time per unit of weight each time
 * the deadline-ordered load overflows) and Moore-Hodgson over deadlines
 * (triage_deadlines(): a deadline is met only when all its syncs are, so
 * it gives up whole deadlines and times their connectors' syncs for their
 * next deadline, graph_give_up() in graph.c).  The plan that misses the
 * least deadline weight, then is least late (weight x time past due), is
 * kept, and its rows name what was given up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan_schedule.h"
#include "syncopt.h"

#define MAX_TRIAGE_ROUNDS	16	/* bound on deadline triage's rounds */
#define MAX_GIVE_UP_TRIES	24	/* bound on the local search's passes */
#define GIVE_UP_BUDGET	100000	/* bound on the syncs those passes place together */
#define GIVE_UP_MOVES	2		/* flips a pass tries, the most promising first */

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

/* The schedule compare_edd() sorts the jobs of (qsort has no argument). */
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

/*
 * The jobs by due time as they stand, then job order (compare_edd()).  The
 * order by the due times the triages started from is sorted once per plan
 * (s->edd_first); the jobs whose due time a triage has moved since are
 * sorted on their own and merged into it.  Sorting every job for each
 * pass was a twentieth of a replay, and a give-up moves few of them.
 */
static void
edd_order(Schedule *s, int *edd)
{
	int		   *moved = palloc(sizeof(int) * Max(s->njobs, 1));
	bool	   *is_moved = palloc0(sizeof(bool) * Max(s->njobs, 1));
	int			nmoved = 0;

	for (int j = 0; j < s->njobs; j++)
		if (s->fleet->conn[s->jobs[j].connector].due != s->due_first[j])
		{
			moved[nmoved++] = j;
			is_moved[j] = true;
		}
	edd_schedule = s;
	qsort(moved, nmoved, sizeof(int), compare_edd);
	for (int a = 0, b = 0, n = 0; n < s->njobs;)
	{
		while (a < s->njobs && is_moved[s->edd_first[a]])
			a++;
		if (b < nmoved && (a == s->njobs || compare_edd(&moved[b], &s->edd_first[a]) < 0))
			edd[n++] = moved[b++];
		else
			edd[n++] = s->edd_first[a++];
	}
	pfree(moved);
	pfree(is_moved);
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

	edd_order(s, edd);
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
double
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
 * The order to plan in from the due times as they stand: the syncs by due
 * time, then those of connectors with no deadline left (given up, so
 * marked dropped).
 */
static void
due_order(Schedule *s, int *order)
{
	int		   *edd = palloc(sizeof(int) * Max(s->njobs, 1));
	int			n = 0;

	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &s->fleet->conn[s->jobs[j].connector];

		s->dropped[j] = c->due == NO_TIME && !c->paused && c->running_since == NO_TIME;
	}
	edd_order(s, edd);
	for (int pass = 0; pass < 2; pass++)
		for (int k = 0; k < s->njobs; k++)
			if (s->dropped[edd[k]] == (pass == 1))
				order[n++] = edd[k];
	pfree(edd);
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
	DeadlineGroup *g = palloc(sizeof(DeadlineGroup) * Max(s->njobs, 1));

	for (int round = 0; round < MAX_TRIAGE_ROUNDS; round++)
	{
		int			ng = deadline_groups(s, g, group_of);
		int			late;
		bool		gave_up = false;

		while ((late = first_late_group(g, ng, f->at, s->nslots)) >= 0)
		{
			int			worst = group_to_give_up(g, late, f->at, s->nslots);

			g[worst].dropped = true;
			s->given_up[g[worst].asset] = true;
			gave_up = true;
		}
		if (!gave_up)
			break;
		graph_give_up(f, s->given_up);
	}
	due_order(s, order);
	pfree(group_of);
	pfree(g);
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

/*
 * Does a plan missing the given deadline weight, this late, beat the best
 * one so far?  Less weight missed first, then less lateness.
 */
static inline bool
plan_beats(double missed, double late, double best_missed, double best_late)
{
	return missed < best_missed || (missed == best_missed && late < best_late);
}

/*
 * The latest due time among the syncs the current pass makes late (the
 * deadlines a further give-up could still save); NO_TIME when none is.
 */
static TimestampTz
last_late_due(const Schedule *s)
{
	TimestampTz last = NO_TIME;

	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &s->fleet->conn[s->jobs[j].connector];

		if (s->dropped[j] || c->due == NO_TIME)
			continue;
		if ((s->jobs[j].end == NO_TIME || s->busy_end[j] > c->due) &&
			(last == NO_TIME || c->due > last))
			last = c->due;
	}
	return last;
}

/*
 * Plan with the deadlines in s->given_up given up, from the due times the
 * plan started from (due, due_asset): their connectors timed for their
 * next deadline, the syncs by due time.  Returns the weight missed, the
 * lateness in *late and the order in order.
 */
static double
plan_giving_up(Schedule *s, const TimestampTz *due, const int *due_asset, int *order, double *late)
{
	restore_dues(s, due, due_asset);
	graph_give_up(s->fleet, s->given_up);
	due_order(s, order);
	recall_pass(s, order);
	*late = weighted_lateness(s);
	return missed_deadline_weight(s, due_asset);
}

/* A deadline the local search may give up or take back, and the order to try it in. */
typedef struct GiveUpMove
{
	int			asset;
	double		cost;			/* giving up: run time per unit of weight; taking back: minus */
} GiveUpMove;

/* Moves by cost, most first, then asset (qsort). */
static int
compare_move(const void *a, const void *b)
{
	const GiveUpMove *x = (const GiveUpMove *) a;
	const GiveUpMove *y = (const GiveUpMove *) b;

	if (x->cost != y->cost)
		return x->cost > y->cost ? -1 : 1;
	return x->asset - y->asset;
}

/*
 * How many passes the local search over the deadlines given up may make
 * for this plan (give_up_more()): at most MAX_GIVE_UP_TRIES, placing at
 * most GIVE_UP_BUDGET syncs together; 0 when fewer than the plan so far
 * and two tries fit, which are not worth their passes.
 */
static int
give_up_passes(const Schedule *s)
{
	int			passes = Min(MAX_GIVE_UP_TRIES, GIVE_UP_BUDGET / Max(s->njobs, 1));

	return passes < 3 ? 0 : passes;
}

/*
 * Local search over the deadlines given up, from the plan the triages
 * chose (its order in job_order, its given-up deadlines in s->given_up,
 * its missed weight and lateness in *best_missed and *best_late; due and
 * due_asset are the due times before any triage).  Both triages judge on
 * a relaxation (the slots as one fast machine, P50s that divide evenly),
 * so a deadline they keep can still push a heavier one past its due time
 * by minutes, one that cannot be met still takes slots, and one they give
 * up may fit after all.  Each try flips one deadline, given up or taken
 * back, and list-schedules by due time (plan_giving_up()); a try whose
 * plan misses less weight (a take-back also one that misses as much and
 * is less late) is kept and the search goes on from it (from the triages'
 * given-up deadlines, even when the plan kept was another order).  Giving
 * up is tried for the deadlines due by the last late sync (a later one
 * cannot help), most run time per unit of weight first; taking back for
 * those given up, least run time per unit of weight first; a pass tries
 * only the first GIVE_UP_MOVES of that list, because a pass that finds
 * nothing is most of the search's cost and the flips it finds are nearly
 * all among the first (93% among the first four on the over-capacity
 * fleets; two keep 84% of the search's gain at an eighth of its cost,
 * docs/benchmarks.md, Decision quality).  The passes are
 * bounded (give_up_passes()), so a large fleet tries fewer, and a plan of
 * more than a third of the budget (33,333 syncs) none: at 50,000 the
 * search cost a quarter more CPU for plan() and changed no row
 * (docs/benchmarks.md, Decision quality).  Returns whether a try was kept,
 * and then leaves the fleet's due times, s->dropped, s->given_up and
 * job_order as its plan's; when none was, they are the last try's and the
 * caller puts its own back.
 */
static bool
give_up_more(Schedule *s, int *job_order, const TimestampTz *due, const int *due_asset,
			 double *best_missed, double *best_late)
{
	Fleet	   *f = s->fleet;
	int			tries = give_up_passes(s);
	int		   *group_of = palloc(sizeof(int) * Max(f->nasset, 1));
	DeadlineGroup *g = palloc(sizeof(DeadlineGroup) * Max(s->njobs, 1));
	GiveUpMove *move = palloc(sizeof(GiveUpMove) * (Max(s->njobs, 1) + Max(f->nasset, 1)));
	int		   *try_order = palloc(sizeof(int) * Max(s->njobs, 1));
	bool		kept = false;
	bool		improved = true;

	while (improved && tries-- > 0)
	{
		int			nmove = 0;
		TimestampTz last;
		double		late;

		/* The search's plan so far, to see which of its deadlines are late. */
		plan_giving_up(s, due, due_asset, try_order, &late);
		last = last_late_due(s);
		if (last != NO_TIME)
		{
			int			ng = deadline_groups(s, g, group_of);

			for (int k = 0; k < ng; k++)
				if (g[k].due <= last)
				{
					move[nmove].asset = g[k].asset;
					move[nmove++].cost = g[k].work_s / Max(g[k].weight, 1e-9);
				}
		}
		/* Taken back, a deadline's group is its connectors as they were due before triage. */
		restore_dues(s, due, due_asset);
		for (int k = 0, ng = deadline_groups(s, g, group_of); k < ng; k++)
			if (s->given_up[g[k].asset])
			{
				move[nmove].asset = g[k].asset;
				move[nmove++].cost = -g[k].work_s / Max(g[k].weight, 1e-9);
			}
		qsort(move, nmove, sizeof(GiveUpMove), compare_move);
		improved = false;
		for (int k = 0; k < Min(nmove, GIVE_UP_MOVES) && tries > 0 && !improved; k++)
		{
			double		missed;

			tries--;
			s->given_up[move[k].asset] = !s->given_up[move[k].asset];
			missed = plan_giving_up(s, due, due_asset, try_order, &late);

			/*
			 * A deadline given up drops its syncs' lateness from the measure
			 * while its data goes stale until the next one, so giving up is
			 * kept only when it misses less; taking back also when it is as
			 * good and less late.
			 */
			if (s->given_up[move[k].asset] ? missed < *best_missed :
				plan_beats(missed, late, *best_missed, *best_late))
			{
				*best_missed = missed;
				*best_late = late;
				improved = kept = true;
			}
			else
				s->given_up[move[k].asset] = !s->given_up[move[k].asset];
		}
	}
	/* The kept plan's due times and order (the last pass may have been a try). */
	if (kept)
		plan_giving_up(s, due, due_asset, job_order, best_late);
	pfree(group_of);
	pfree(g);
	pfree(move);
	pfree(try_order);
	return kept;
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
 * Put job_order back to the order of triage way `best` (-1: the priority
 * order), from the due times it started from, with nothing dropped or
 * given up yet: each way is deterministic, so its plan comes out again.
 */
static void
kept_way_order(Schedule *s, int best, int *job_order, const TimestampTz *due,
			   const int *due_asset)
{
	memset(s->dropped, 0, sizeof(bool) * s->njobs);
	memset(s->given_up, 0, sizeof(bool) * Max(s->fleet->nasset, 1));
	restore_dues(s, due, due_asset);
	if (best < 0)
		for (int j = 0; j < s->njobs; j++)
			job_order[j] = j;
	else
		triage_ways[best].order(s, job_order);
}

/*
 * Some deadlines would be missed in the priority order (the pass just
 * made): plan each triage's order too and keep the plan that misses the
 * least deadline weight, then the least late (weight x time past due); on
 * a tie the earlier way, the priority order first.  Leaves s with the
 * kept plan and job_order with its order.
 */
void
choose_triage(Schedule *s, int *job_order)
{
	double		plain_missed = missed_deadline_weight(s, NULL);
	double		best_missed = plain_missed;
	double		best_late = weighted_lateness(s);
	int			best = -1;
	int			last = -1;
	bool		explain = s->explain;
	TimestampTz *due = palloc(sizeof(TimestampTz) * Max(s->njobs, 1));
	int		   *due_asset = palloc(sizeof(int) * Max(s->njobs, 1));
	PlannedSync *plain = palloc(sizeof(PlannedSync) * Max(s->njobs, 1));

	/* The priority order's plan, with its reasons: the tries write none. */
	memcpy(plain, s->jobs, sizeof(PlannedSync) * s->njobs);
	for (int j = 0; j < s->njobs; j++)
	{
		due[j] = s->fleet->conn[s->jobs[j].connector].due;
		due_asset[j] = s->fleet->conn[s->jobs[j].connector].due_asset;
	}
	s->given_up = palloc(sizeof(bool) * Max(s->fleet->nasset, 1));
	s->due_first = due;
	s->edd_first = palloc(sizeof(int) * Max(s->njobs, 1));
	for (int j = 0; j < s->njobs; j++)
		s->edd_first[j] = j;
	edd_schedule = s;
	qsort(s->edd_first, s->njobs, sizeof(int), compare_edd);
	/* Only the kept plan's reasons are read: the tries write none. */
	s->explain = false;
	for (int w = 0; w < lengthof(triage_ways); w++)
	{
		double		missed;
		double		late;

		memset(s->dropped, 0, sizeof(bool) * s->njobs);
		memset(s->given_up, 0, sizeof(bool) * Max(s->fleet->nasset, 1));
		restore_dues(s, due, due_asset);
		triage_ways[w].order(s, job_order);
		s->order_note = NULL;
		recall_pass(s, job_order);
		last = w;
		missed = missed_deadline_weight(s, due_asset);
		late = weighted_lateness(s);
		if (plan_beats(missed, late, best_missed, best_late))
		{
			best = w;
			best_missed = missed;
			best_late = late;
		}
	}
	kept_way_order(s, best, job_order, due, due_asset);
	if (best >= 0)
		s->order_note = best_missed < plain_missed ? triage_ways[best].misses_less : triage_ways[best].less_late;
	if (give_up_passes(s) > 0)
	{
		if (give_up_more(s, job_order, due, due_asset, &best_missed, &best_late))
			s->order_note = best_missed < plain_missed ?
				"a local search over the deadlines given up misses less than the priority order" :
				"a local search over the deadlines given up misses no more than the priority order and is less late";
		else
		{
			/* The search kept none of its tries: the triages' plan again. */
			kept_way_order(s, best, job_order, due, due_asset);
		}
		last = -2;				/* its last pass was a try */
	}
	for (int j = 0; j < s->njobs; j++)
		if (s->fleet->conn[s->jobs[j].connector].due_asset != due_asset[j])
			s->given_up_for[j] = due_asset[j];
	/*
	 * The kept order again, unless it was the last pass, and with its
	 * reasons.  The priority order kept without a search is the first
	 * pass's plan, put back rather than made again (one of four passes
	 * over 50,000 syncs in plan() at 12:00 on the bench fleet).
	 */
	s->explain = explain;
	if (best < 0 && last != -2)
		memcpy(s->jobs, plain, sizeof(PlannedSync) * s->njobs);
	else if (best != last || explain)
		recall_pass(s, job_order);

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
	pfree(plain);
	pfree(s->given_up);
	s->given_up = NULL;
	pfree(s->edd_first);
	s->edd_first = NULL;
	s->due_first = NULL;
	forget_passes(s);
}
