/*-------------------------------------------------------------------------
 *
 * graph.c
 *	  Deadlines pushed backwards through the dependency graph, and the
 *	  downstream weight and staleness each connector carries.
 *
 * The graph has connectors (sources) and assets.  lineage says a
 * connector or an asset feeds an asset; sync_order says one connector must
 * land before another starts.  For each node the effective due time is
 *	   d'(asset)	 = min(own next deadline, min over downstream s of d'(s) - duration(s))
 *	   d'(connector) = min(min over fed assets a of d'(a) - duration(a),
 *						   min over connectors c2 waiting for it of d'(c2) - P90(c2))
 * (the critical-path rule of orchestration.md 5.2), so a connector's latest
 * start is d' - P90.  Its downstream weight is the sum, over the distinct
 * assets reachable from it (through lineage and through the connectors that
 * wait for it), of weight x calendar multiplier.  Reachable sets are
 * bitsets built in reverse topological order, so an asset reached along two
 * paths counts once.  They are built one block of asset columns at a time
 * (REACH_BLOCK_BYTES for the assets and the connectors that wait for
 * another, whose bitsets are read again; every other connector's is built
 * in one scratch row and summed at once), and each connector's sums
 * are carried from block to block in ascending asset order: memory stays
 * linear in the graph where whole bitsets grew with assets squared (the
 * 1 GB allocation limit at about 92,700 assets), the time is the same
 * word-wise ORs, and the sums add up in the same order as before.  Only
 * the assets with a deadline are kept per connector (sla_risk asks about
 * those); schema_drift's list for one connector is a depth-first walk.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "port/pg_bitutils.h"

#include "analytics.h"

#define STALENESS_CAP	4.0

/* Bitset memory for one block of asset columns, all nodes together. */
#define REACH_BLOCK_BYTES	(32 * 1024 * 1024)

/*
 * Nodes in an order where each comes after everything downstream of it
 * (Kahn's algorithm on the reversed edges).  The tables refuse cycles, so
 * every node is placed.
 */
int *
graph_order(int n, const Adjacency *next, const Adjacency *prev)
{
	int		   *order = palloc(sizeof(int) * Max(n, 1));
	int		   *pending = palloc(sizeof(int) * Max(n, 1));
	int			head = 0,
				tail = 0;

	for (int i = 0; i < n; i++)
	{
		pending[i] = next->off[i + 1] - next->off[i];
		if (pending[i] == 0)
			order[tail++] = i;
	}
	while (head < tail)
	{
		int			v = order[head++];

		for (int e = prev->off[v]; e < prev->off[v + 1]; e++)
			if (--pending[prev->idx[e]] == 0)
				order[tail++] = prev->idx[e];
	}
	if (tail != n)
		elog(ERROR, "syncopt: the dependency graph has a cycle");
	pfree(pending);
	return order;
}

/*
 * The connectors whose downstream includes asset a, ascending, into out
 * (room for nconn); returns how many.  graph_compute keeps this only for
 * assets with a deadline, so asking about another is a bug.  One pass
 * down a's bit in every connector's bitset.
 */
int
graph_reachers(const Fleet *fleet, int asset, int *out)
{
	int			d = fleet->deadline_pos[asset];
	const uint64 *word;
	uint64		bit;
	int			n = 0;

	if (d < 0)
		elog(ERROR, "syncopt: graph_reachers() asked about asset %d, which has no deadline", asset);
	word = fleet->deadline_reach + d / 64;
	bit = UINT64CONST(1) << (d % 64);
	for (int i = 0; i < fleet->nconn; i++)
		if (word[(Size) i * fleet->deadline_words] & bit)
			out[n++] = i;
	return n;
}

/* Order ints ascending (qsort). */
static int
int_cmp(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/* Scratch space for graph_downstream() on this fleet. */
void
graph_walk_init(const Fleet *fleet, GraphWalk *walk)
{
	int			nodes = fleet->nconn + fleet->nasset;

	walk->seen = palloc0(sizeof(int) * Max(nodes, 1));
	walk->stack = palloc(sizeof(int) * Max(nodes, 1));
	walk->down = palloc(sizeof(int) * Max(fleet->nasset, 1));
}

/*
 * Push node w (connectors first, then assets) on the walk's stack unless
 * this walk has already stamped it.
 */
static inline void
walk_push(GraphWalk *walk, int w, int stamp, int *top)
{
	if (walk->seen[w] != stamp)
	{
		walk->seen[w] = stamp;
		walk->stack[(*top)++] = w;
	}
}

/*
 * The distinct assets downstream of connector ci, ascending, into
 * walk->down; returns how many.  Nodes are stamped with ci + 1 when first
 * pushed, so the stamps need no clearing between connectors and each node
 * is pushed at most once per walk.
 */
int
graph_downstream(const Fleet *fleet, int ci, GraphWalk *walk)
{
	int			stamp = ci + 1;
	int			top = 0;
	int			n = 0;

	walk_push(walk, ci, stamp, &top);
	while (top > 0)
	{
		int			v = walk->stack[--top];

		if (v < fleet->nconn)
		{
			for (int e = fleet->conn_after.off[v]; e < fleet->conn_after.off[v + 1]; e++)
				walk_push(walk, fleet->conn_after.idx[e], stamp, &top);
			for (int e = fleet->conn_assets.off[v]; e < fleet->conn_assets.off[v + 1]; e++)
				walk_push(walk, fleet->nconn + fleet->conn_assets.idx[e], stamp, &top);
		}
		else
		{
			int			a = v - fleet->nconn;

			walk->down[n++] = a;
			for (int e = fleet->asset_next.off[a]; e < fleet->asset_next.off[a + 1]; e++)
				walk_push(walk, fleet->nconn + fleet->asset_next.idx[e], stamp, &top);
		}
	}
	/* Ascending: sums then add up in the same order on every call. */
	qsort(walk->down, n, sizeof(int), int_cmp);
	return n;
}

/*
 * Push asset deadlines back through downstream assets; returns the order
 * used (downstream first).
 */
static int *
propagate_assets(Fleet *fleet)
{
	int		   *order = graph_order(fleet->nasset, &fleet->asset_next,
									&fleet->asset_prev_assets);

	for (int k = 0; k < fleet->nasset; k++)
	{
		int			i = order[k];
		Asset	   *a = &fleet->asset[i];

		a->due = a->deadline;
		a->due_asset = a->deadline != NO_TIME ? i : -1;
		for (int e = fleet->asset_next.off[i]; e < fleet->asset_next.off[i + 1]; e++)
		{
			Asset	   *down = &fleet->asset[fleet->asset_next.idx[e]];

			if (down->due != NO_TIME)
			{
				TimestampTz by = time_add(down->due, -down->duration_s);

				if (by < a->due)
				{
					a->due = by;
					a->due_asset = down->due_asset;
				}
			}
		}
	}
	return order;
}

/* The largest tag-scoped calendar multiplier in force for c at time t. */
static double
tag_multiplier(const Fleet *fleet, const Connector *c, TimestampTz t, const char **event)
{
	double		best = 1;

	for (int e = 0; e < fleet->ntagev; e++)
	{
		const TagEvent *ev = &fleet->tagev[e];

		if (t < ev->starts || t >= ev->ends || ev->multiplier <= best)
			continue;
		for (int j = 0; j < c->ntags; j++)
			if (strcmp(c->tags[j], ev->tag) == 0)
			{
				best = ev->multiplier;
				*event = ev->name;
				break;
			}
	}
	return best;
}

/*
 * What add_reach_block() reads of each asset, in arrays of their own: read
 * through the assets for every asset a connector reaches, each was a cache
 * miss (half of graph_compute at 50,000 connectors).
 */
typedef struct ReachAssets
{
	double	   *weight;			/* weight x calendar multiplier */
	double	   *multiplier;
	double	   *freshness_sla_s;

	/*
	 * Each connector's row of the connectors' bitsets, or -1: only a
	 * connector that waits for another (sync_order) has one, the one it
	 * waits for reading it later; the others' bitsets are built in one
	 * scratch row and summed at once.  A row for every connector was 19 MB
	 * at 50,000 connectors, zeroed and every page of it faulted in.
	 */
	int		   *conn_row;
	int			nrows;
} ReachAssets;

/* The assets' weights, multipliers and freshness SLAs in arrays of their own. */
static void
reach_assets_init(const Fleet *fleet, ReachAssets *ra)
{
	int			n = Max(fleet->nasset, 1);

	ra->weight = palloc(sizeof(double) * n);
	ra->multiplier = palloc(sizeof(double) * n);
	ra->freshness_sla_s = palloc(sizeof(double) * n);
	for (int i = 0; i < fleet->nasset; i++)
	{
		ra->weight[i] = fleet->asset[i].weight * fleet->asset[i].multiplier;
		ra->multiplier[i] = fleet->asset[i].multiplier;
		ra->freshness_sla_s[i] = fleet->asset[i].freshness_sla_s;
	}
	ra->conn_row = palloc(sizeof(int) * Max(fleet->nconn, 1));
	ra->nrows = 0;
	for (int i = 0; i < fleet->nconn; i++)
		ra->conn_row[i] = fleet->conn_before.off[i + 1] > fleet->conn_before.off[i] ? ra->nrows++ : -1;
}

/*
 * Add the assets of one block of a connector's reach (words first.. of the
 * whole bitset, ascending) to its weight, calendar and staleness, and keep
 * those with a deadline in its row of fleet->deadline_reach.  The sums run
 * in locals, in the same order as before: through the connector's fields
 * every addition waited for the previous one's store (two thirds of
 * graph_compute at 50,000 connectors).
 */
static void
add_reach_block(Fleet *fleet, const ReachAssets *ra, int ci, const uint64 *bits, int first, int nwords)
{
	Connector  *c = &fleet->conn[ci];
	uint64	   *keep = fleet->deadline_reach + (Size) ci * fleet->deadline_words;
	double		weight = c->weight;
	int			ndown = c->ndown;

	for (int w = 0; w < nwords; w++)
	{
		uint64		word = bits[w];

		while (word)
		{
			int			i = (first + w) * 64 + pg_rightmost_one_pos64(word);
			int			d = fleet->deadline_pos[i];

			word &= word - 1;
			if (d >= 0)
				keep[d / 64] |= UINT64CONST(1) << (d % 64);
			ndown++;
			weight += ra->weight[i];
			if (ra->multiplier[i] > c->calendar)
			{
				c->calendar = ra->multiplier[i];
				c->calendar_event = fleet->asset[i].event;
			}
			if (ra->freshness_sla_s[i] > 0)
			{
				double		ratio = c->last_success_at == NO_TIME ? STALENESS_CAP
					: time_diff(fleet->at, c->last_success_at) / ra->freshness_sla_s[i];

				ratio = Min(Max(ratio, 0), STALENESS_CAP);
				if (ratio > c->staleness)
				{
					c->staleness = ratio;
					c->stale_asset = i;
				}
			}
		}
	}
	c->weight = weight;
	c->ndown = ndown;
}

/* Apply the tag-scoped calendar multiplier once a connector's reach is summed. */
static void
finish_weight(Fleet *fleet, Connector *c)
{
	const char *tag_event = NULL;
	double		tag_mult;

	tag_mult = tag_multiplier(fleet, c, c->due != NO_TIME ? c->due : fleet->at, &tag_event);
	if (tag_mult > 1)
	{
		c->weight *= tag_mult;
		if (tag_mult > c->calendar)
		{
			c->calendar = tag_mult;
			c->calendar_event = tag_event;
		}
	}
}

/*
 * One block of asset columns (words first..first+nwords of every reach
 * bitset): build the block's bits for assets, then connectors, in reverse
 * topological order, and add them to the connectors' sums.
 */
static void
reach_block(Fleet *fleet, const ReachAssets *ra, const int *asset_order, const int *conn_order,
			uint64 *areach, uint64 *creach, int first, int nwords)
{
	memset(areach, 0, sizeof(uint64) * (Size) Max(fleet->nasset, 1) * nwords);
	for (int k = 0; k < fleet->nasset; k++)
	{
		int			i = asset_order[k];
		uint64	   *bits = areach + (Size) i * nwords;

		if (i / 64 >= first && i / 64 < first + nwords)
			bits[i / 64 - first] |= UINT64CONST(1) << (i % 64);
		for (int e = fleet->asset_next.off[i]; e < fleet->asset_next.off[i + 1]; e++)
		{
			const uint64 *sbits = areach + (Size) fleet->asset_next.idx[e] * nwords;

			for (int w = 0; w < nwords; w++)
				bits[w] |= sbits[w];
		}
	}
	for (int k = 0; k < fleet->nconn; k++)
	{
		int			i = conn_order[k];
		uint64	   *bits = creach + (Size) (ra->conn_row[i] >= 0 ? ra->conn_row[i] : ra->nrows) * nwords;

		memset(bits, 0, sizeof(uint64) * nwords);

		for (int e = fleet->conn_assets.off[i]; e < fleet->conn_assets.off[i + 1]; e++)
		{
			const uint64 *abits = areach + (Size) fleet->conn_assets.idx[e] * nwords;

			for (int w = 0; w < nwords; w++)
				bits[w] |= abits[w];
		}
		for (int e = fleet->conn_after.off[i]; e < fleet->conn_after.off[i + 1]; e++)
		{
			const uint64 *cbits = creach + (Size) ra->conn_row[fleet->conn_after.idx[e]] * nwords;

			for (int w = 0; w < nwords; w++)
				bits[w] |= cbits[w];
		}
		add_reach_block(fleet, ra, i, bits, first, nwords);
	}
}

/*
 * Number the assets that have a deadline (fleet->deadline_pos) and make
 * room for each connector's bitset of those it reaches.
 */
static void
init_deadline_reach(Fleet *fleet)
{
	int			n = 0;

	fleet->deadline_pos = palloc(sizeof(int) * Max(fleet->nasset, 1));
	for (int i = 0; i < fleet->nasset; i++)
		fleet->deadline_pos[i] = fleet->asset[i].deadline != NO_TIME ? n++ : -1;
	fleet->deadline_words = Max((n + 63) / 64, 1);
	fleet->deadline_reach = MemoryContextAllocHuge(CurrentMemoryContext,
												   sizeof(uint64) * (Size) Max(fleet->nconn, 1) *
												   fleet->deadline_words);
	memset(fleet->deadline_reach, 0,
		   sizeof(uint64) * (Size) Max(fleet->nconn, 1) * fleet->deadline_words);
}

/*
 * The earliest start at which a sync serves asset a's deadline: the
 * deadline minus the asset's freshness SLA (24 hours without one).  An
 * earlier sync's data would be too old by then.
 */
TimestampTz
deadline_opening(const Fleet *fleet, int a)
{
	const Asset *asset = &fleet->asset[a];

	return time_add(asset->deadline, -(asset->freshness_sla_s > 0 ? asset->freshness_sla_s : SECS_PER_DAY));
}

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
 * (by[x]: when asset x must be ready for it), so the cost is the size of
 * those upstream graphs: they are taken downstream first by Kahn's
 * algorithm within them (sorting them by their place in the whole graph's
 * order was a tenth of priority_scores() at 10,000 connectors); any order
 * that has each asset after those it feeds gives the same minima.  What
 * each deadline asks of each upstream asset with flagged connectors is
 * kept, and the connectors are given their answers once, by asset
 * (settle_dues()).
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
	TimestampTz *by = palloc(sizeof(TimestampTz) * n);
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
		mark[k] = -1;
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

			by[x] = x == d ? fleet->asset[d].deadline : NO_TIME;
			for (int e = fleet->asset_next.off[x]; e < fleet->asset_next.off[x + 1]; e++)
			{
				int			y = fleet->asset_next.idx[e];

				if (mark[y] == d)
					by[x] = Min(by[x], time_add(by[y], -fleet->asset[y].duration_s));
			}
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
			cands.due[cands.n++] = time_add(by[x], -fleet->asset[x].duration_s);
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
	pfree(by);
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
static void
unserved_dues(Fleet *fleet)
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

/*
 * Due times, downstream weights and staleness for every connector.  Needs
 * the predictions (P90 of connectors that wait for others).
 */
void
graph_compute(Fleet *fleet)
{
	int		   *asset_order = propagate_assets(fleet);
	int		   *order = graph_order(fleet->nconn, &fleet->conn_after,
									&fleet->conn_before);
	int			words = Max((fleet->nasset + 63) / 64, 1);
	int			block;
	uint64	   *areach;
	uint64	   *creach;
	ReachAssets ra;
	double		p90_sum = 0;
	int			p90_n = 0;

	/* Each connector's own deadlines first, then what waits for it. */
	for (int i = 0; i < fleet->nconn; i++)
	{
		Connector  *c = &fleet->conn[i];

		for (int e = fleet->conn_assets.off[i]; e < fleet->conn_assets.off[i + 1]; e++)
		{
			Asset	   *a = &fleet->asset[fleet->conn_assets.idx[e]];

			if (a->due != NO_TIME && time_add(a->due, -a->duration_s) < c->due)
			{
				c->due = time_add(a->due, -a->duration_s);
				c->due_asset = a->due_asset;
				c->due_via = -1;
			}
		}
	}
	unserved_dues(fleet);
	/* Downstream first, so the due of a connector waiting for c is final. */
	for (int k = 0; k < fleet->nconn; k++)
	{
		Connector  *c = &fleet->conn[order[k]];

		for (int e = fleet->conn_after.off[order[k]]; e < fleet->conn_after.off[order[k] + 1]; e++)
		{
			int			ci = fleet->conn_after.idx[e];
			Connector  *later = &fleet->conn[ci];

			if (later->due != NO_TIME && time_add(later->due, -later->pred.p90_s) < c->due)
			{
				c->due = time_add(later->due, -later->pred.p90_s);
				c->due_asset = later->due_asset;
				c->due_via = ci;
			}
		}
		if (c->due != NO_TIME)
		{
			p90_sum += c->pred.p90_s;
			p90_n++;
		}
		c->weight = 0;
		c->ndown = 0;
		c->calendar = 1;
		c->staleness = 0;
	}
	fleet->mean_p90_s = p90_n > 0 ? p90_sum / p90_n : 0;

	init_deadline_reach(fleet);
	if (fleet->nasset > 0)
	{
		reach_assets_init(fleet, &ra);
		block = Max((int) (REACH_BLOCK_BYTES / (sizeof(uint64) * (Size) (fleet->nasset + ra.nrows + 1))), 1);
		block = Min(block, words);
		areach = palloc(sizeof(uint64) * (Size) fleet->nasset * block);
		/* The rows of the connectors others wait for, then the scratch row. */
		creach = palloc(sizeof(uint64) * (Size) (ra.nrows + 1) * block);
		for (int first = 0; first < words; first += block)
			reach_block(fleet, &ra, asset_order, order, areach, creach, first, Min(block, words - first));
		for (int i = 0; i < fleet->nconn; i++)
			finish_weight(fleet, &fleet->conn[i]);
		pfree(ra.weight);
		pfree(ra.multiplier);
		pfree(ra.freshness_sla_s);
		pfree(ra.conn_row);
		pfree(areach);
		pfree(creach);
	}
	pfree(asset_order);
	pfree(order);
}
