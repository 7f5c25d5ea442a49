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
 * paths counts once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "port/pg_bitutils.h"

#include "analytics.h"

#define STALENESS_CAP	4.0

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

/* Does the connector's downstream include the asset? */
bool
graph_reaches(const Fleet *fleet, int connector, int asset)
{
	const uint64 *bits = fleet->conn_reach + (size_t) connector * fleet->reach_words;

	return (bits[asset / 64] >> (asset % 64)) & 1;
}

/* Push asset deadlines back through downstream assets; build reach bitsets. */
static uint64 *
propagate_assets(Fleet *fleet, int words)
{
	int		   *order = graph_order(fleet->nasset, &fleet->asset_next,
											&fleet->asset_prev_assets);
	uint64	   *reach = palloc0(sizeof(uint64) * (size_t) Max(fleet->nasset, 1) * words);

	for (int k = 0; k < fleet->nasset; k++)
	{
		int			i = order[k];
		Asset	   *a = &fleet->asset[i];
		uint64	   *bits = reach + (size_t) i * words;

		a->due = a->deadline;
		a->due_asset = a->deadline != NO_TIME ? i : -1;
		bits[i / 64] |= UINT64CONST(1) << (i % 64);
		for (int e = fleet->asset_next.off[i]; e < fleet->asset_next.off[i + 1]; e++)
		{
			int			s = fleet->asset_next.idx[e];
			Asset	   *down = &fleet->asset[s];
			uint64	   *sbits = reach + (size_t) s * words;

			if (down->due != NO_TIME)
			{
				TimestampTz by = time_add(down->due, -down->duration_s);

				if (by < a->due)
				{
					a->due = by;
					a->due_asset = down->due_asset;
				}
			}
			for (int w = 0; w < words; w++)
				bits[w] |= sbits[w];
		}
	}
	pfree(order);
	return reach;
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

/* Weight, calendar multiplier and staleness of a connector from its reach. */
static void
summarise_reach(Fleet *fleet, Connector *c, const uint64 *bits)
{
	const char *tag_event = NULL;
	double		tag_mult;

	c->weight = 0;
	c->ndown = 0;
	c->calendar = 1;
	c->staleness = 0;
	for (int w = 0; w < fleet->reach_words; w++)
	{
		uint64		word = bits[w];

		while (word)
		{
			int			i = w * 64 + pg_rightmost_one_pos64(word);
			Asset	   *a = &fleet->asset[i];

			word &= word - 1;
			c->ndown++;
			c->weight += a->weight * a->multiplier;
			if (a->multiplier > c->calendar)
			{
				c->calendar = a->multiplier;
				c->calendar_event = a->event;
			}
			if (a->freshness_sla_s > 0)
			{
				double		ratio = c->last_success_at == NO_TIME ? STALENESS_CAP
					: time_diff(fleet->at, c->last_success_at) / a->freshness_sla_s;

				ratio = Min(Max(ratio, 0), STALENESS_CAP);
				if (ratio > c->staleness)
				{
					c->staleness = ratio;
					c->stale_asset = i;
				}
			}
		}
	}
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
 * Due times, downstream weights and staleness for every connector.  Needs
 * the predictions (P90 of connectors that wait for others).
 */
void
graph_compute(Fleet *fleet)
{
	int			words = (fleet->nasset + 63) / 64;
	uint64	   *asset_reach = propagate_assets(fleet, Max(words, 1));
	int		   *order = graph_order(fleet->nconn, &fleet->conn_after,
											&fleet->conn_before);
	double		p90_sum = 0;
	int			p90_n = 0;

	fleet->reach_words = Max(words, 1);
	fleet->conn_reach = palloc0(sizeof(uint64) * (size_t) Max(fleet->nconn, 1) * fleet->reach_words);
	for (int k = 0; k < fleet->nconn; k++)
	{
		int			i = order[k];
		Connector  *c = &fleet->conn[i];
		uint64	   *bits = fleet->conn_reach + (size_t) i * fleet->reach_words;

		for (int e = fleet->conn_assets.off[i]; e < fleet->conn_assets.off[i + 1]; e++)
		{
			int			ai = fleet->conn_assets.idx[e];
			Asset	   *a = &fleet->asset[ai];
			uint64	   *abits = asset_reach + (size_t) ai * fleet->reach_words;

			if (a->due != NO_TIME && time_add(a->due, -a->duration_s) < c->due)
			{
				c->due = time_add(a->due, -a->duration_s);
				c->due_asset = a->due_asset;
				c->due_via = -1;
			}
			for (int w = 0; w < fleet->reach_words; w++)
				bits[w] |= abits[w];
		}
		for (int e = fleet->conn_after.off[i]; e < fleet->conn_after.off[i + 1]; e++)
		{
			int			ci = fleet->conn_after.idx[e];
			Connector  *later = &fleet->conn[ci];
			uint64	   *cbits = fleet->conn_reach + (size_t) ci * fleet->reach_words;

			if (later->due != NO_TIME && time_add(later->due, -later->pred.p90_s) < c->due)
			{
				c->due = time_add(later->due, -later->pred.p90_s);
				c->due_asset = later->due_asset;
				c->due_via = ci;
			}
			for (int w = 0; w < fleet->reach_words; w++)
				bits[w] |= cbits[w];
		}
		if (fleet->nasset > 0)
			summarise_reach(fleet, c, bits);
		if (c->due != NO_TIME)
		{
			p90_sum += c->pred.p90_s;
			p90_n++;
		}
	}
	fleet->mean_p90_s = p90_n > 0 ? p90_sum / p90_n : 0;
	pfree(order);
	pfree(asset_reach);
}
