/*-------------------------------------------------------------------------
 *
 * simulate_backtest.c
 *	  syncopt.backtest(): the team's recorded syncs of a period against its
 *	  current assets, deadlines, windows and policies, and what the planner
 *	  would have done with the same durations and failures.
 *
 * The world is simulate()'s (simulate.c) over [from, to) with noise 0,
 * with the recorded syncs in place of the random draws:
 *	 - what happened: each recorded successful sync meets the requirements
 *	   it can (started after the deadline's freshness opening), exactly as
 *	   a replayed sync does, and is scored the same way;
 *	 - the replay: simulate()'s syncopt policy (the planner at every
 *	   planning instant, simulate_engine.c); a sync it starts takes as long
 *	   as the connector's recorded sync nearest in time took, and fails
 *	   when that one failed (P50 and no failure for a connector without
 *	   history).  The connectors no deadline waits for sync as recorded,
 *	   at their real start times, whatever started them (the vendor's
 *	   schedule or not); those a deadline waits for are the planner's.
 * A deadline whose freshness window opened before the first recorded sync
 * (history starts later) has no actual outcome: it is reported as such and
 * left out of the actual totals.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "simulate.h"
#include "spi_run.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_backtest);

#define MAX_BACKTEST_S	(31 * DAY_S)

/* The recorded syncs that ended, from a day before `from` until `to`, per connector. */
static SimHistory *
load_history(const Sim *sim)
{
	static const char *const sql =
	"SELECT r.connector_id, r.started_at, r.finished_at, r.status = 'failed'"
	"  FROM syncopt.sync_run r"
	" WHERE r.status IN ('succeeded', 'failed') AND r.duration_known"
	"   AND r.started_at >= $1 - interval '1 day' AND r.started_at < $2"
	" ORDER BY r.connector_id, r.started_at, r.run_id";
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(sim->start), TimestampTzGetDatum(sim->end)};
	MemoryContext mcxt = CurrentMemoryContext;
	SimHistory *h = palloc0(sizeof(SimHistory));
	int			n = 0;
	int			nconn = sim->fleet->nconn;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run(sql, 2, types, values, NULL, true);
	h->off = MemoryContextAllocZero(mcxt, sizeof(int) * (nconn + 1));
	h->start = MemoryContextAlloc(mcxt, sizeof(TimestampTz) * Max(SPI_processed, 1));
	h->end = MemoryContextAlloc(mcxt, sizeof(TimestampTz) * Max(SPI_processed, 1));
	h->failed = MemoryContextAlloc(mcxt, sizeof(bool) * Max(SPI_processed, 1));
	h->first = NO_TIME;
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			i = fleet_connector_index(sim->fleet, DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)));

		if (i < 0)
			continue;
		/* Rows come by connector: count each connector's, then make offsets. */
		h->off[i + 1]++;
		h->start[n] = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		h->end[n] = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		h->failed[n] = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		h->first = Min(h->first, h->start[n]);
		n++;
	}
	SPI_finish();
	for (int i = 0; i < nconn; i++)
		h->off[i + 1] += h->off[i];
	return h;
}

/* Lateness of occurrence o with its requirements' ends (0 none: never met by the end). */
static double
occurrence_late(const Sim *sim, int o, const TimestampTz *done)
{
	const SimOcc *occ = &sim->occ[o];
	double		worst = -INFINITY;

	for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
	{
		TimestampTz end = done[k] ? done[k] : sim->end;

		worst = Max(worst, time_diff(end, occ->deadline) + sim->req[k].lag_s);
	}
	return worst;
}

/* What actually happened: the recorded successes meet requirements; their ends per requirement. */
static TimestampTz *
actual_ends(Sim *sim, const SimHistory *h)
{
	TimestampTz *done = palloc(sizeof(TimestampTz) * Max(sim->nreq, 1));

	for (int i = 0; i < sim->fleet->nconn; i++)
		for (int k = h->off[i]; k < h->off[i + 1]; k++)
			if (!h->failed[k])
				(void) sim_meet_requirements(sim, i, h->start[k], h->end[k]);
	for (int k = 0; k < sim->nreq; k++)
	{
		done[k] = sim->req[k].done;
		sim->req[k].done = 0;
	}
	return done;
}

/* Credits of the recorded syncs that started in the period. */
static double
actual_credits(const Sim *sim, const SimHistory *h)
{
	Sim			recorded = *sim;

	recorded.nrun = recorded.maxrun = 0;
	recorded.run = NULL;
	for (int i = 0; i < sim->fleet->nconn; i++)
		for (int k = h->off[i]; k < h->off[i + 1]; k++)
			if (h->start[k] >= sim->start)
			{
				recorded.run = sim_grow(recorded.run, recorded.nrun, &recorded.maxrun, sizeof(SimRun));
				recorded.run[recorded.nrun++] = (SimRun) {i, h->start[k], h->end[k], false, h->failed[k]};
			}
	return sim_credits(&recorded);
}

/* The replay's syncs of occurrence o's connectors that started in its window, as jsonb. */
static Datum
proposed_actions(const Sim *sim, int o)
{
	const SimOcc *occ = &sim->occ[o];
	StringInfoData out;
	bool		first = true;

	initStringInfo(&out);
	appendStringInfoChar(&out, '[');
	for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
	{
		const SimReq *r = &sim->req[k];

		for (int x = 0; x < sim->nrun; x++)
		{
			const SimRun *run = &sim->run[x];

			if (run->conn != r->conn || run->start < r->open || run->start >= occ->deadline)
				continue;
			appendStringInfo(&out, "%s{\"action\": \"trigger_sync\", \"connector_id\": " INT64_FORMAT
							 ", \"at\": \"%s\", \"ends\": \"%s\", \"failed\": %s}",
							 first ? "" : ", ", sim->fleet->conn[r->conn].id,
							 pstrdup(timestamptz_to_str(run->start)), pstrdup(timestamptz_to_str(run->end)),
							 run->failed ? "true" : "false");
			first = false;
		}
	}
	appendStringInfoChar(&out, ']');
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data));
}

/*
 * syncopt.backtest(from, to): one row per deadline in [from, to) and a
 * total row (asset_id NULL).  See the top of this file.
 */
Datum
syncopt_backtest(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz from = PG_GETARG_TIMESTAMPTZ(0);
	TimestampTz to = PG_GETARG_TIMESTAMPTZ(1);
	Sim			sim = {0};
	SimResult	res;
	SimHistory *h;
	TimestampTz *actual;
	int			known = 0,
				actual_missed = 0,
				replay_missed = 0,
				replay_missed_known = 0;
	double		actual_weight = 0,
				replay_weight = 0,
				total_weight = 0;
	double		credits_actual;

	if (!(from < to) || time_diff(to, from) > MAX_BACKTEST_S || TIMESTAMP_NOT_FINITE(from) || TIMESTAMP_NOT_FINITE(to))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("backtest period must be finite, start before it ends and last at most 31 days"),
				 errdetail("The period given was %s to %s.", pstrdup(timestamptz_to_str(from)), pstrdup(timestamptz_to_str(to))),
				 errhint("Backtest a week or a month, e.g. syncopt.backtest(now() - interval '7 days', now()).")));
	InitMaterializedSRF(fcinfo, 0);
	sim_load_world(&sim, time_diff(to, from), 0, from, 0);
	sim.tail_s = 5 * 60;		/* simulate()'s default auto-suspend */
	h = load_history(&sim);
	actual = actual_ends(&sim, h);
	credits_actual = actual_credits(&sim, h);
	sim.history = h;
	sim.policy = SIM_SYNCOPT;
	sim_simulate_policy(&sim, &res);

	for (int o = 0; o < sim.nocc; o++)
	{
		const SimOcc *occ = &sim.occ[o];
		TimestampTz *replayed = palloc(sizeof(TimestampTz) * Max(sim.nreq, 1));
		bool		has_history = h->first != NO_TIME;
		double		late_actual;
		double		late_replay;
		Datum		values[11];
		bool		nulls[11] = {0};

		for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
		{
			replayed[k] = sim.req[k].done;
			has_history = has_history && h->first <= sim.req[k].open;
		}
		late_actual = occurrence_late(&sim, o, actual);
		late_replay = occurrence_late(&sim, o, replayed);
		values[0] = Int64GetDatum(sim.fleet->asset[occ->asset].id);
		values[1] = TimestampTzGetDatum(occ->deadline);
		values[2] = Float8GetDatum(occ->weight);
		nulls[3] = nulls[4] = !has_history;
		values[3] = BoolGetDatum(late_actual <= 0);
		values[4] = interval_datum(Max(late_actual, 0));
		values[5] = BoolGetDatum(late_replay <= 0);
		values[6] = interval_datum(Max(late_replay, 0));
		nulls[7] = nulls[8] = true;
		values[9] = proposed_actions(&sim, o);
		values[10] = CStringGetTextDatum(!has_history
										 ? "no recorded sync before this deadline's freshness window opened: what happened is unknown"
										 : late_actual <= 0 && late_replay > 0 ? "met; the planner's replay misses it"
										 : late_actual > 0 && late_replay <= 0 ? "missed; the planner's replay meets it"
										 : late_actual > 0 ? "missed, and by the planner's replay too"
										 : "met, and by the planner's replay too");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		total_weight += occ->weight;
		if (late_replay > 0)
		{
			replay_missed++;
			replay_weight += occ->weight;
		}
		if (has_history)
		{
			known++;
			replay_missed_known += late_replay > 0;
			if (late_actual > 0)
			{
				actual_missed++;
				actual_weight += occ->weight;
			}
		}
	}
	{
		Datum		values[11];
		bool		nulls[11] = {0};

		nulls[0] = nulls[1] = nulls[4] = nulls[6] = nulls[9] = true;
		values[2] = Float8GetDatum(total_weight);
		values[3] = BoolGetDatum(actual_missed == 0);
		values[5] = BoolGetDatum(replay_missed == 0);
		values[7] = Float8GetDatum(credits_actual);
		values[8] = Float8GetDatum(res.credits);
		values[10] = CStringGetTextDatum(psprintf("%d deadlines; of the %d with history %d were missed (weight %.3g), "
												  "the planner's replay misses %d of them; in all it misses %d "
												  "(weight %.3g); credits %.2f recorded, %.2f replayed",
												  sim.nocc, known, actual_missed, actual_weight,
												  replay_missed_known, replay_missed, replay_weight,
												  credits_actual, res.credits));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
