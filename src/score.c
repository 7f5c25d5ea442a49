/*-------------------------------------------------------------------------
 *
 * score.c
 *	  Priority of each connector's next sync, and syncopt.priority_scores().
 *
 * The score is the Apparent Tardiness Cost index (Vepsalainen & Morton)
 * with the business terms syncopt adds, every term returned as a column:
 *
 *	 score = W / P90h x (urgency + staleness) x (1 - load) x (1 - cost)
 *
 *	 W		   downstream weight: distinct reachable assets' weights times
 *			   their calendar multipliers (graph.c)
 *	 P90h	   predicted P90 duration in hours (at least a minute): short
 *			   syncs that unblock much weight go first
 *	 urgency   exp(-max(slack - risk x P50, 0) / (k x mean P90)), 0 when no
 *			   deadline waits; k = syncopt.atc_k; slack runs to the latest
 *			   start that ends by the due time at P90 and clears every
 *			   window forbidding the source (load_factor 1)
 *	 staleness how far past half its freshness SLA the oldest downstream
 *			   data is (age / SLA - 0.5, 0 to 3.5)
 *	 load	   load_factor of a source or connector load window in force now
 *	 cost	   1 - 1 / price of a warehouse cost window in force now, but
 *			   only when the sync can wait for the window to end and still
 *			   meet its deadline: freshness SLAs outrank cost
 *	 A connector that others wait for (sync_order) takes the highest score
 *	 among them, so precedence never inverts the priority list.
 *
 *	 risk	   failure probability (Beta prior, 5% mean; a streak of k
 *			   failures raises it to at least 1 - 0.5^k): a sync likely to
 *			   fail needs room for a retry, so its slack shrinks by risk x P50
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_priority_scores);

#define STALE_FROM	0.5			/* data counts as stale from half its SLA */

/*
 * Is w a load window of c's source or of c itself?  The sources are
 * compared by the numbers the loader gave them (number_sources()).
 */
bool
window_applies(const Window *w, const Connector *c)
{
	return (w->target == 'c' && w->connector_id == c->id) ||
		(w->target == 's' && w->source_no >= 0 && w->source_no == c->window_source);
}

/*
 * The load window (source or connector) with the highest load factor in
 * force for c at t, or with warehouse, the priciest warehouse window;
 * NULL when none.
 */
const Window *
window_active(const Fleet *fleet, const Connector *c, TimestampTz t, bool warehouse)
{
	const Window *best = NULL;

	for (int i = 0; i < fleet->nwin; i++)
	{
		const Window *w = &fleet->win[i];

		if (t < w->starts || t >= w->ends)
			continue;
		if (warehouse)
		{
			if (w->target == 'w' && w->price > 1 && (best == NULL || w->price > best->price))
				best = w;
			continue;
		}
		if (w->load_factor <= 0 || !window_applies(w, c))
			continue;
		if (best == NULL || w->load_factor > best->load_factor)
			best = w;
	}
	return best;
}

/*
 * Does window w hold back a sync of c over [start, end) that must end by
 * due, as plan() places one?  Its end if so, else 0: a load window of c
 * with load_factor 1 always does; a lesser one, or a warehouse price
 * window, only when the sync can wait it out and still end by due at P90
 * (never when due is DT_NOBEGIN).
 */
TimestampTz
window_postpones(const Window *w, const Connector *c, TimestampTz start, TimestampTz end,
				 TimestampTz due)
{
	bool		hard;

	if (w->ends <= start || w->starts >= end)
		return 0;
	if (w->target == 'w')
	{
		if (w->price <= 1)
			return 0;
		hard = false;
	}
	else
	{
		if (w->load_factor <= 0 || !window_applies(w, c))
			return 0;
		hard = w->load_factor >= 1;
	}
	/* A soft window is waited out only when the deadline still holds after it. */
	if (!hard && time_add(w->ends, c->pred.p90_s) > due)
		return 0;
	return w->ends;
}

/*
 * The latest start, at or before start, of a run of c lasting run_s that
 * no window forbidding c's source (load_factor 1) overlaps.  The windows
 * looked at are fleet->win[idx[0..n)] (by start), or all n of fleet->win
 * when idx is NULL; *beat, when given, is the window the run must end
 * before, or NULL.
 */
TimestampTz
latest_clear_start(const Fleet *fleet, const int *idx, int n, const Connector *c,
				   TimestampTz start, double run_s, const Window **beat)
{
	if (beat)
		*beat = NULL;
	/* Windows by start, latest first: moving before one can only meet earlier ones. */
	for (int k = n - 1; k >= 0; k--)
	{
		const Window *w = &fleet->win[idx ? idx[k] : k];

		if (w->target != 'w' && w->load_factor >= 1 && window_applies(w, c) &&
			w->starts < time_add(start, run_s) && w->ends > start)
		{
			start = time_add(w->starts, -run_s);
			if (beat)
				*beat = w;
		}
	}
	return start;
}

/* Probability that the next sync fails, from counts and the current streak. */
static double
failure_risk(const Connector *c)
{
	double		risk = (c->failures + 0.1) / (c->runs + 2.0);

	if (c->consecutive_failures > 0)
		risk = Max(risk, 1 - pow(0.5, c->consecutive_failures));
	return Min(risk, 0.99);
}

/* Describe where a connector's deadline comes from. */
static void
describe_deadline(const Fleet *fleet, const Connector *c, StringInfo out)
{
	const Asset *a = &fleet->asset[c->due_asset];

	appendStringInfo(out, "must finish by %s for %s (due %s)", format_time(c->due),
					 a->name, format_time(a->deadline));
	if (c->due_via >= 0)
		appendStringInfo(out, ", before %s starts", fleet->conn[c->due_via].name);
}

/* Score one connector; with explain, also write its reason. */
static void
score_connector(const Fleet *fleet, const Connector *c, Score *s, bool explain)
{
	double		p90 = Max(c->pred.p90_s, 60.0);
	double		mean_p90 = fleet->mean_p90_s > 0 ? fleet->mean_p90_s : p90;
	double		stale_term = Max(c->staleness - STALE_FROM, 0);
	double		slack_eff = 0;
	const Window *load = window_active(fleet, c, fleet->at, false);
	const Window *peak = window_active(fleet, c, fleet->at, true);
	const Window *beat = NULL;

	s->failure_risk = failure_risk(c);
	s->slack_s = NAN;
	s->latest_start = NO_TIME;
	s->urgency = 0;
	if (c->due != NO_TIME)
	{
		s->latest_start = latest_clear_start(fleet, NULL, fleet->nwin, c, time_add(c->due, -c->pred.p90_s),
											 c->pred.p90_s, &beat);
		s->slack_s = time_diff(s->latest_start, fleet->at);
		slack_eff = s->slack_s - s->failure_risk * c->pred.p50_s;
		s->urgency = exp(-Max(slack_eff, 0) / (syncopt_atc_k * mean_p90));
	}
	s->load_penalty = load ? load->load_factor : 0;
	s->cost_penalty = 0;
	if (peak && c->due != NO_TIME && slack_eff > time_diff(peak->ends, fleet->at))
		s->cost_penalty = 1 - 1 / peak->price;
	else if (peak && c->due == NO_TIME)
		s->cost_penalty = 1 - 1 / peak->price;

	s->score = c->weight / (p90 / 3600) * (s->urgency + stale_term)
		* (1 - s->load_penalty) * (1 - s->cost_penalty);
	if (c->paused)
		s->score = 0;
	if (!explain)
		return;

	/* The reason, most decisive facts first. */
	initStringInfo(&s->reason);
	if (c->paused)
		appendStringInfoString(&s->reason, "paused: nothing to schedule until it is resumed; ");
	if (c->ndown == 0)
		appendStringInfoString(&s->reason, "no asset depends on it (no lineage), so it has no weight");
	else
		appendStringInfo(&s->reason, "feeds %d asset%s (weight %.3g)", c->ndown,
						 c->ndown == 1 ? "" : "s", c->weight);
	if (c->calendar > 1)
		appendStringInfo(&s->reason, ", x%.3g for %s", c->calendar,
						 c->calendar_event ? c->calendar_event : "a calendar event");
	if (c->due != NO_TIME)
	{
		appendStringInfoString(&s->reason, "; ");
		describe_deadline(fleet, c, &s->reason);
		appendStringInfo(&s->reason, "; P90 %s, so start by %s", format_duration(c->pred.p90_s),
						 format_time(s->latest_start));
		if (beat)
			appendStringInfo(&s->reason, " to end before %s at %s", beat->name, format_time(beat->starts));
		appendStringInfo(&s->reason, " (slack %s)", format_duration(s->slack_s));
	}
	else if (c->ndown > 0)
		appendStringInfoString(&s->reason, "; no downstream deadline");
	if (stale_term > 0)
		appendStringInfo(&s->reason, "; data is %.1fx the freshness SLA of %s", c->staleness,
						 fleet->asset[c->stale_asset].name);
	if (load)
		appendStringInfo(&s->reason, "; source busy (%s, load %.2f)", load->name, load->load_factor);
	if (peak)
	{
		if (s->cost_penalty > 0)
			appendStringInfo(&s->reason, "; warehouse price x%.3g (%s) until %s, and it can wait",
							 peak->price, peak->name, format_time(peak->ends));
		else
			appendStringInfo(&s->reason, "; warehouse price x%.3g (%s), but waiting would miss the deadline",
							 peak->price, peak->name);
	}
	if (s->failure_risk >= 0.2)
		appendStringInfo(&s->reason, "; failure risk %.2f (%d consecutive failure%s)",
						 s->failure_risk, c->consecutive_failures,
						 c->consecutive_failures == 1 ? "" : "s");
}

/*
 * Predict, walk the graph and score every connector; with explain, each
 * score with its reason (only priority_scores() returns them: plan(),
 * sla_risk() and batch_recommendations() read the numbers alone).  The
 * graph walk of a planning run's fleet is made once for all its copies
 * (fleet_graph_reach()).
 */
Score *
score_fleet(Fleet *fleet, bool explain)
{
	predict_fleet(fleet);
	fleet_graph_reach(fleet);
	graph_tag_weights(fleet);
	return score_connectors(fleet, explain);
}

/*
 * Score every connector of a fleet whose predictions and graph results
 * are in place; with explain, each score carries its reason (reason.data
 * is NULL without: a replay's planning runs need the numbers only, and
 * the reasons cost about as much as the rest of the score).
 */
Score *
score_connectors(Fleet *fleet, bool explain)
{
	Score	   *scores = palloc0(sizeof(Score) * Max(fleet->nconn, 1));
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "syncopt score",
												  ALLOCSET_DEFAULT_SIZES);
	int		   *order;

	/* Only the score and its reason (at its exact size) outlive a connector. */
	for (int i = 0; i < fleet->nconn; i++)
	{
		MemoryContext keep = MemoryContextSwitchTo(scratch);

		score_connector(fleet, &fleet->conn[i], &scores[i], explain);
		MemoryContextSwitchTo(keep);
		if (explain)
			keep_reason(&scores[i].reason);
		MemoryContextReset(scratch);
	}
	MemoryContextDelete(scratch);

	/*
	 * A sync that others wait for (sync_order) is at least as urgent as
	 * they are: otherwise the list would hold them back behind it.
	 */
	order = graph_order(fleet->nconn, &fleet->conn_after, &fleet->conn_before);
	for (int k = 0; k < fleet->nconn; k++)
	{
		int			i = order[k];

		for (int e = fleet->conn_after.off[i]; e < fleet->conn_after.off[i + 1]; e++)
		{
			int			later = fleet->conn_after.idx[e];

			if (scores[later].score > scores[i].score && !fleet->conn[i].paused)
			{
				scores[i].score = scores[later].score;
				if (explain)
					appendStringInfo(&scores[i].reason, "; takes the score of %s, which waits for it",
									 fleet->conn[later].name);
			}
		}
	}
	pfree(order);
	return scores;
}

static const Fleet *sort_fleet;
static const Score *sort_scores;

/* Order by score (descending), then due time (EDF), then connector id. */
static int
compare_priority(const void *a, const void *b)
{
	int			i = *(const int *) a;
	int			j = *(const int *) b;
	double		si = sort_scores[i].score;
	double		sj = sort_scores[j].score;
	TimestampTz di = sort_fleet->conn[i].due;
	TimestampTz dj = sort_fleet->conn[j].due;

	if (si != sj)
		return si > sj ? -1 : 1;
	if (di != dj)
		return di < dj ? -1 : 1;
	return (sort_fleet->conn[i].id > sort_fleet->conn[j].id) -
		(sort_fleet->conn[i].id < sort_fleet->conn[j].id);
}

/* Connector indexes from most to least urgent; deterministic for equal scores. */
int *
priority_order(const Fleet *fleet, const Score *scores)
{
	int		   *order = palloc(sizeof(int) * Max(fleet->nconn, 1));

	for (int i = 0; i < fleet->nconn; i++)
		order[i] = i;
	sort_fleet = fleet;
	sort_scores = scores;
	qsort(order, fleet->nconn, sizeof(int), compare_priority);
	return order;
}

/* syncopt.priority_scores(at): one row per connector, most urgent first. */
Datum
syncopt_priority_scores(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	Fleet	   *fleet;
	Score	   *scores;
	int		   *order;
	MemoryContext mcxt = CurrentMemoryContext;
	MemoryContext row;

	InitMaterializedSRF(fcinfo, 0);
	fleet = fleet_get(at, 0, FLEET_GRAPH | FLEET_WINDOWS | FLEET_NOT_PLANNING | FLEET_PREDICT | FLEET_TERSE);
	scores = score_fleet(fleet, true);
	order = priority_order(fleet, scores);
	row = row_context_create();
	for (int k = 0; k < fleet->nconn; k++)
	{
		int			i = order[k];
		Connector  *c = &fleet->conn[i];
		Score	   *s = &scores[i];
		Datum		values[16];
		bool		nulls[16] = {0};

		MemoryContextSwitchTo(row);
		values[0] = Int64GetDatum(c->id);
		values[1] = Float8GetDatum(s->score);
		values[2] = Float8GetDatum(s->urgency);
		values[3] = Float8GetDatum(c->weight);
		values[4] = Int32GetDatum(c->ndown);
		values[5] = Float8GetDatum(c->calendar);
		values[6] = Float8GetDatum(c->staleness);
		values[7] = Float8GetDatum(s->load_penalty);
		values[8] = Float8GetDatum(s->cost_penalty);
		values[9] = Float8GetDatum(s->failure_risk);
		values[10] = interval_datum(c->pred.p90_s);
		nulls[11] = nulls[12] = nulls[13] = nulls[14] = c->due == NO_TIME;
		if (c->due != NO_TIME)
		{
			values[11] = TimestampTzGetDatum(c->due);
			values[12] = Int64GetDatum(fleet->asset[c->due_asset].id);
			values[13] = TimestampTzGetDatum(s->latest_start);
			values[14] = interval_datum(s->slack_s);
		}
		values[15] = CStringGetTextDatum(s->reason.data);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(mcxt);
		MemoryContextReset(row);
	}
	PG_RETURN_NULL();
}
