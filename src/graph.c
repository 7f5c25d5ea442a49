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
 * Due times moved to a connector's next deadline (its data already serves
 * the first, or the planner gave it up) are graph_dues.c's.
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
 * Due times, downstream weights and staleness for every connector.  Needs
 * the predictions (P90 of connectors that wait for others).
 */
void
graph_compute(Fleet *fleet)
{
	graph_walk(fleet);
	graph_tag_weights(fleet);
}

/*
 * graph_compute() but for the tag-scoped calendar multipliers
 * (graph_tag_weights()): the only part that reads the calendar events of
 * the fleet's horizon, so that fleets differing in their horizon alone can
 * share the rest (plan_and_forecast()).
 */
void
graph_walk(Fleet *fleet)
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
	graph_unserved_dues(fleet);
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

/* Apply the tag-scoped calendar multipliers to a walked fleet (graph_walk()). */
void
graph_tag_weights(Fleet *fleet)
{
	if (fleet->nasset == 0)
		return;
	for (int i = 0; i < fleet->nconn; i++)
		finish_weight(fleet, &fleet->conn[i]);
}
