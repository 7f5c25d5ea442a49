/*-------------------------------------------------------------------------
 *
 * graph_dues.c
 *	  Connectors' due times moved past the deadlines that ask nothing of
 *	  them: the first deadline downstream that their last success already
 *	  serves (graph_compute()), or the deadlines the planner gives up
 *	  (plan_triage.c's deadline triage).
 *
 * A moved connector is due for the earliest deadline downstream of it that
 * its data does not serve yet, pushed back through the assets upstream of
 * that deadline (graph.c has the rule).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "analytics.h"

/*
 * Each asset's upstream connectors flagged in since (not DT_NOEND), in the
 * order of asset_prev_conns: no deadline opens after an unflagged one's
 * since, so redirect_dues() looked at those for every deadline for nothing
 * (most of its time at 50,000 connectors at noon).
 */
static Adjacency
flagged_upstream(const Fleet *fleet, const TimestampTz *since)
{
	int			nedges = fleet->asset_prev_conns.off[fleet->nasset];
	int		   *from = palloc(sizeof(int) * Max(nedges, 1));
	int		   *to = palloc(sizeof(int) * Max(nedges, 1));
	int			n = 0;
	Adjacency	adj;

	for (int x = 0; x < fleet->nasset; x++)
		for (int e = fleet->asset_prev_conns.off[x]; e < fleet->asset_prev_conns.off[x + 1]; e++)
			if (since[fleet->asset_prev_conns.idx[e]] != DT_NOEND)
			{
				from[n] = x;
				to[n++] = fleet->asset_prev_conns.idx[e];
			}
	adj = build_adjacency(fleet->nasset, n, from, to);
	pfree(from);
	pfree(to);
	return adj;
}

/* Candidates settle_dues() takes at a time (see DueCandidates). */
#define DUE_CANDIDATES	131072

/*
 * What a run of deadlines asks of the assets upstream of them, in the
 * order the deadlines were taken (latest opening first): asset x must be
 * ready by due for deadline d; and settle_dues()'s space to put each
 * asset's candidates together.  At most DUE_CANDIDATES are kept, settled,
 * and the space used again (on the bench's fleet 500 deadlines ask 1.2
 * million, whose arrays were a fresh page fault every few hundred).
 */
typedef struct DueCandidates
{
	int		   *x;
	int		   *d;
	TimestampTz *due;
	int			n;
	int			cap;
	int		   *off;			/* per asset: its candidates in open .. best_d */
	int		   *fill;
	TimestampTz *open;
	TimestampTz *best_due;		/* running minima */
	int		   *best_d;
} DueCandidates;

/* Room for cap candidates (DueCandidates) on a fleet of n assets; the arrays are new. */
static void
due_candidates_init(DueCandidates *c, int n, int cap)
{
	c->n = 0;
	c->cap = cap;
	c->x = palloc(sizeof(int) * cap);
	c->d = palloc(sizeof(int) * cap);
	c->due = palloc(sizeof(TimestampTz) * cap);
	c->off = palloc(sizeof(int) * (n + 1));
	c->fill = palloc(sizeof(int) * n);
	c->open = palloc(sizeof(TimestampTz) * cap);
	c->best_due = palloc(sizeof(TimestampTz) * cap);
	c->best_d = palloc(sizeof(int) * cap);
}

/* Free a DueCandidates' arrays. */
static void
due_candidates_free(DueCandidates *c)
{
	pfree(c->x);
	pfree(c->d);
	pfree(c->due);
	pfree(c->off);
	pfree(c->fill);
	pfree(c->open);
	pfree(c->best_due);
	pfree(c->best_d);
}

/* Deadlines (asset indexes) by their opening, latest first, then by index (qsort_arg; arg: the fleet). */
static int
compare_opening(const void *a, const void *b, void *arg)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;
	TimestampTz ox = deadline_opening(arg, x);
	TimestampTz oy = deadline_opening(arg, y);

	if (ox != oy)
		return ox > oy ? -1 : 1;
	return x - y;
}

/* Is (due, d) before (best_due, best_d): an earlier due time, then the lower deadline? */
static inline bool
due_before(TimestampTz due, int d, TimestampTz best_due, int best_d)
{
	return due < best_due || (due == best_due && d < best_d);
}

/*
 * Give each flagged connector the earliest due time among the candidates
 * of the assets it feeds whose deadline opens after its since, if earlier
 * than its due time so far (the lower deadline on a tie, as taking the
 * deadlines in order and keeping the first earliest would), and empty the
 * candidates.  Each asset's candidates are put together in the order they
 * were made (latest opening first) and turned into running minima, so a
 * connector's answer at an asset is the minimum at the last candidate
 * opening after its since, found by binary search: looking at every
 * flagged connector of every asset upstream of every deadline was most of
 * graph_compute at 50,000 connectors.
 */
static void
settle_dues(const Fleet *fleet, const TimestampTz *since, const Adjacency *flagged,
			DueCandidates *cands, TimestampTz *due_of, int *due_asset_of)
{
	int		   *off = cands->off;
	int		   *fill = cands->fill;
	TimestampTz *open = cands->open;
	TimestampTz *best_due = cands->best_due;
	int		   *best_d = cands->best_d;

	memset(off, 0, sizeof(int) * (fleet->nasset + 1));
	memset(fill, 0, sizeof(int) * fleet->nasset);

	for (int k = 0; k < cands->n; k++)
		off[cands->x[k] + 1]++;
	for (int x = 0; x < fleet->nasset; x++)
		off[x + 1] += off[x];
	/* Each asset's candidates in the order made, with running minima. */
	for (int k = 0; k < cands->n; k++)
	{
		int			x = cands->x[k];
		int			at = off[x] + fill[x]++;

		open[at] = deadline_opening(fleet, cands->d[k]);
		best_due[at] = cands->due[k];
		best_d[at] = cands->d[k];
		if (at > off[x] && !due_before(best_due[at], best_d[at], best_due[at - 1], best_d[at - 1]))
		{
			best_due[at] = best_due[at - 1];
			best_d[at] = best_d[at - 1];
		}
	}
	for (int x = 0; x < fleet->nasset; x++)
		for (int e = flagged->off[x]; e < flagged->off[x + 1] && off[x + 1] > off[x]; e++)
		{
			int			i = flagged->idx[e];
			int			lo = off[x],
						hi = off[x + 1];

			/* The candidates opening after since[i] are open[off[x] .. lo). */
			while (lo < hi)
			{
				int			mid = lo + (hi - lo) / 2;

				if (open[mid] > since[i])
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo > off[x] && due_before(best_due[lo - 1], best_d[lo - 1], due_of[i], due_asset_of[i]))
			{
				due_of[i] = best_due[lo - 1];
				due_asset_of[i] = best_d[lo - 1];
			}
		}
	cands->n = 0;
}

/*
 * The due times of the connectors flagged in since (since[i]: the start of
 * the data connector i holds; DT_NOEND when not flagged, so that no
 * deadline opens after it): the earliest over the deadlines downstream of
 * each that its data does not serve yet (opening after since[i]) and that
 * skip (NULL: none) does not leave out; NO_TIME when there is none.  Each
 * deadline is pushed back on its own through the assets upstream of it
 * (start_by[x]: when asset x must start building for it), so the cost is
 * the size of those upstream graphs: they are taken downstream first by
 * Kahn's algorithm within them (sorting them by their place in the whole
 * graph's order was a tenth of priority_scores() at 10,000 connectors);
 * any order that has each asset after those it feeds gives the same
 * minima.  What each deadline asks of each upstream asset with flagged
 * connectors is kept, and the connectors are given their answers once, by
 * asset (settle_dues()).
 */
static void
redirect_dues(Fleet *fleet, const TimestampTz *since, const bool *skip)
{
	int			n = Max(fleet->nasset, 1);

	/*
	 * Per connector, in arrays of their own (through the connectors, each
	 * asset x connector edge of every deadline's upstream graph was a cache
	 * miss: half of graph_compute at 50,000 connectors): the new due time
	 * and deadline.
	 */
	TimestampTz *due_of = palloc(sizeof(TimestampTz) * Max(fleet->nconn, 1));
	int		   *due_asset_of = palloc(sizeof(int) * Max(fleet->nconn, 1));
	/*
	 * When asset x must start building for the deadline at hand (ready by
	 * then, less its own duration), once per asset: taken again for each
	 * edge into it, with each asset's duration read through the assets,
	 * it was a third of this function at 10,000 connectors.
	 */
	TimestampTz *start_by = palloc(sizeof(TimestampTz) * n);
	double	   *duration_s = palloc(sizeof(double) * n);
	int		   *mark = palloc(sizeof(int) * n);
	int		   *up = palloc(sizeof(int) * n);
	int		   *pending = palloc(sizeof(int) * n);
	int		   *order = palloc(sizeof(int) * n);
	int		   *deadlines = palloc(sizeof(int) * n);
	int			ndeadlines = 0;
	Adjacency	flagged;
	DueCandidates cands;

	for (int i = 0; i < fleet->nconn; i++)
	{
		due_of[i] = NO_TIME;
		due_asset_of[i] = -1;
	}

	flagged = flagged_upstream(fleet, since);
	for (int k = 0; k < fleet->nasset; k++)
	{
		mark[k] = -1;
		duration_s[k] = fleet->asset[k].duration_s;
	}
	/* The deadlines by opening, latest first: see settle_dues(). */
	for (int a = 0; a < fleet->nasset; a++)
		if (fleet->asset[a].deadline != NO_TIME && !(skip && skip[a]))
			deadlines[ndeadlines++] = a;
	qsort_arg(deadlines, ndeadlines, sizeof(int), compare_opening, fleet);
	due_candidates_init(&cands, n, Max(DUE_CANDIDATES, n));
	for (int k = 0; k < ndeadlines; k++)
	{
		int			d = deadlines[k];
		int			nup = 0;

		/* d and every asset upstream of it, then downstream first. */
		up[nup++] = d;
		mark[d] = d;
		for (int q = 0; q < nup; q++)
			for (int e = fleet->asset_prev_assets.off[up[q]]; e < fleet->asset_prev_assets.off[up[q] + 1]; e++)
			{
				int			x = fleet->asset_prev_assets.idx[e];

				if (mark[x] != d)
				{
					mark[x] = d;
					up[nup++] = x;
				}
			}
		/* Each counts the marked assets it feeds; d feeds none of them. */
		for (int q = 0; q < nup; q++)
		{
			int			x = up[q];

			pending[x] = 0;
			for (int e = fleet->asset_next.off[x]; e < fleet->asset_next.off[x + 1]; e++)
				pending[x] += mark[fleet->asset_next.idx[e]] == d;
		}
		order[0] = d;
		for (int head = 0, tail = 1; head < tail; head++)
		{
			int			x = order[head];
			TimestampTz by = x == d ? fleet->asset[d].deadline : NO_TIME;

			for (int e = fleet->asset_next.off[x]; e < fleet->asset_next.off[x + 1]; e++)
			{
				int			y = fleet->asset_next.idx[e];

				if (mark[y] == d)
					by = Min(by, start_by[y]);
			}
			start_by[x] = time_add(by, -duration_s[x]);
			for (int e = fleet->asset_prev_assets.off[x]; e < fleet->asset_prev_assets.off[x + 1]; e++)
				if (--pending[fleet->asset_prev_assets.idx[e]] == 0)
					order[tail++] = fleet->asset_prev_assets.idx[e];
		}
		/* A deadline asks at most nup <= cap: settle the earlier ones when full. */
		if (cands.n + nup > cands.cap)
			settle_dues(fleet, since, &flagged, &cands, due_of, due_asset_of);
		for (int q = 0; q < nup; q++)
		{
			int			x = order[q];

			if (flagged.off[x + 1] == flagged.off[x])
				continue;
			cands.x[cands.n] = x;
			cands.d[cands.n] = d;
			cands.due[cands.n++] = start_by[x];
		}
	}
	settle_dues(fleet, since, &flagged, &cands, due_of, due_asset_of);
	for (int i = 0; i < fleet->nconn; i++)
		if (since[i] != DT_NOEND)
		{
			fleet->conn[i].due = due_of[i];
			fleet->conn[i].due_asset = due_asset_of[i];
		}
	pfree(due_of);
	pfree(due_asset_of);
	pfree(flagged.off);
	pfree(flagged.idx);
	pfree(start_by);
	pfree(duration_s);
	pfree(mark);
	pfree(up);
	pfree(pending);
	pfree(order);
	pfree(deadlines);
	due_candidates_free(&cands);
}

/*
 * Due times of connectors whose earliest downstream deadline their last
 * success already serves: such a deadline asks nothing of them, so their
 * next need is the earliest deadline their data does not serve.  Waiting
 * for the served one to pass can leave too little room (a window
 * forbidding the source before the next deadline's due time).
 */
void
graph_unserved_dues(Fleet *fleet)
{
	TimestampTz *since = palloc(sizeof(TimestampTz) * Max(fleet->nconn, 1));
	int			nserved = 0;

	for (int i = 0; i < fleet->nconn; i++)
	{
		Connector  *c = &fleet->conn[i];

		since[i] = DT_NOEND;
		if (c->due != NO_TIME && c->fresh_since >= deadline_opening(fleet, c->due_asset))
		{
			since[i] = c->fresh_since;
			nserved++;
		}
	}
	if (nserved > 0)
		redirect_dues(fleet, since, NULL);
	pfree(since);
}

/*
 * The planner gives up the deadlines of the assets in given_up (plan.c's
 * deadline triage): each connector due for one of them is due instead for
 * its earliest other deadline its data does not serve (NO_TIME: none), so
 * its sync is timed for that one.  A connector that only binds through a
 * sync_order successor keeps the successor's due time.
 */
void
graph_give_up(Fleet *fleet, const bool *given_up)
{
	TimestampTz *since = palloc(sizeof(TimestampTz) * Max(fleet->nconn, 1));
	int			nflagged = 0;

	for (int i = 0; i < fleet->nconn; i++)
	{
		Connector  *c = &fleet->conn[i];

		since[i] = DT_NOEND;
		if (c->due_asset >= 0 && given_up[c->due_asset] && c->due_via < 0)
		{
			since[i] = c->fresh_since;
			nflagged++;
		}
	}
	if (nflagged > 0)
		redirect_dues(fleet, since, given_up);
	pfree(since);
}
