/*-------------------------------------------------------------------------
 *
 * outcome_ready.c
 *	  Resolving SLA outcomes for the forecast scorecard, and
 *	  syncopt.outcome_ready_times(at, grace): when each unsettled outcome's
 *	  asset was ready from its inputs and the runs known at `at`, whether a
 *	  planner decision executed on one of its inputs while it was forecast,
 *	  and the verdict (met, settled).
 *
 * An asset was ready when each input had landed (its first successful
 * sync started at or after the outcome opened) plus the builds after it;
 * a dashboard reading every connector of a large fleet has that many
 * inputs, so the runs are read once for all outcomes and each input's
 * landing is a search of them from the previous input's place (the
 * inputs are stored ascending), not an index probe per input and outcome.
 * The same holds for the executed decisions that mark an outcome as
 * intervened: read once, and looked up per input only for an outcome
 * that has one in its window (an index probe of the decisions per input
 * and outcome, 500 outcomes of 10,000 inputs on the day's first planning
 * run at 10,000 connectors, was most of that run's index work).
 * new_outcomes() (asset_inputs.c) resolves a new outcome here while its
 * inputs are in memory; outcome_ready_times() reads the stored ones back.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "outcome_ready.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_outcome_ready_times);

static const char *const landed_runs_sql =
"SELECT connector_id, started_at, finished_at FROM syncopt.sync_run"
" WHERE status = 'succeeded' AND started_at >= $1 AND finished_at <= $2"
" ORDER BY connector_id, started_at";

/*
 * The planning runs' decisions that were executed (a notice does not
 * count), when they ran, and whether they started a sync: each may have
 * changed what happened to an outcome it touched.
 */
static const char *const acted_sql =
"SELECT connector_id, action IN ('trigger_sync', 'resync_connector', 'resync_tables'),"
"       coalesce(finished_at, started_at)"
"  FROM syncopt.fivetran_sync_ai_logs"
" WHERE planner_run_id IS NOT NULL AND status IN ('succeeded', 'unknown') AND action <> 'notify'"
"   AND coalesce(finished_at, started_at) BETWEEN $1 AND $2"
" ORDER BY connector_id";

/* Read the successful runs started from `from` and ended by `at` (inside SPI). */
static void
load_landed_runs(LandedRuns *runs, TimestampTz from, TimestampTz at)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(from), TimestampTzGetDatum(at)};

	(void) spi_run(landed_runs_sql, 2, types, values, NULL, true);
	MemoryContextSwitchTo(mcxt);
	runs->n = (int) SPI_processed;
	runs->conn = palloc(sizeof(int64) * Max(runs->n, 1));
	runs->started = palloc(sizeof(TimestampTz) * Max(runs->n, 1));
	runs->landed = palloc(sizeof(TimestampTz) * Max(runs->n, 1));
	for (int i = 0; i < runs->n; i++)
	{
		bool		isnull;

		runs->conn[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		runs->started[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		runs->landed[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
	}
	/* A run started later may end earlier: keep the earliest end from each run on. */
	for (int i = runs->n - 2; i >= 0; i--)
		if (runs->conn[i] == runs->conn[i + 1])
			runs->landed[i] = Min(runs->landed[i], runs->landed[i + 1]);
}

/* Read the executed decisions that ran from `from` to `to` (inside SPI). */
static void
load_acted(Acted *acted, TimestampTz from, TimestampTz to)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(from), TimestampTzGetDatum(to)};

	(void) spi_run(acted_sql, 2, types, values, NULL, true);
	MemoryContextSwitchTo(mcxt);
	acted->n = (int) SPI_processed;
	acted->conn = palloc(sizeof(int64) * Max(acted->n, 1));
	acted->starts_sync = palloc(sizeof(bool) * Max(acted->n, 1));
	acted->when = palloc(sizeof(TimestampTz) * Max(acted->n, 1));
	for (int i = 0; i < acted->n; i++)
	{
		bool		isnull;

		acted->conn[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		acted->starts_sync[i] = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull));
		acted->when[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3, &isnull));
	}
}

/*
 * Read, inside the caller's SPI connection and into its memory context,
 * what outcomes that opened from first_open, were first forecast from
 * first_forecast and are due by last_deadline are resolved against at
 * `at`: a superset serves any of them, as each is judged by its own window.
 */
void
load_outcome_evidence(OutcomeEvidence *ev, TimestampTz at, const Interval *grace,
					  TimestampTz first_open, TimestampTz first_forecast, TimestampTz last_deadline)
{
	ev->at = at;
	ev->grace = *grace;
	load_landed_runs(&ev->runs, first_open, at);
	load_acted(&ev->acted, first_forecast, last_deadline);
}

/* Whether run i comes before connector conn's runs started at or after opens_at. */
static inline bool
run_before(const LandedRuns *runs, int i, int64 conn, TimestampTz opens_at)
{
	return runs->conn[i] < conn || (runs->conn[i] == conn && runs->started[i] < opens_at);
}

/*
 * When connector conn's data landed for an outcome that opened at
 * opens_at: the earliest end of its runs started at or after it, or
 * NO_TIME when none has.  *from is where the search starts (no run before
 * it comes after the one sought) and is left at the run found: an
 * outcome's inputs come in ascending order, so each search starts where
 * the last ended and gallops forward, instead of halving all the runs
 * again for every input (10,000 inputs of each of 500 outcomes at 10,000
 * connectors).
 */
static TimestampTz
input_landed(const LandedRuns *runs, int *from, int64 conn, TimestampTz opens_at)
{
	int			lo = *from,
				hi = *from,
				step = 1;

	/* Gallop to a run at or past the one sought, then halve the last step. */
	while (hi < runs->n && run_before(runs, hi, conn, opens_at))
	{
		lo = hi + 1;
		hi = Min(hi + step, runs->n);
		step *= 2;
	}
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (run_before(runs, mid, conn, opens_at))
			lo = mid + 1;
		else
			hi = mid;
	}
	*from = lo;
	return lo < runs->n && runs->conn[lo] == conn ? runs->landed[lo] : NO_TIME;
}

/*
 * Whether decision i counts for an outcome first forecast at `forecast`,
 * open from opens_at, due at deadline: it ran between the first forecast
 * and the deadline, and a sync it started only once the outcome had opened
 * (an earlier sync cannot serve it).
 */
static bool
acted_within(const Acted *acted, int i, TimestampTz forecast, TimestampTz opens_at, TimestampTz deadline)
{
	TimestampTz from = acted->starts_sync[i] ? Max(forecast, opens_at) : forecast;

	return acted->when[i] >= from && acted->when[i] <= deadline;
}

/*
 * Whether a decision on one of the outcome's inputs counts for it.  Each
 * input is a binary search of the decisions, done only when some decision
 * ran within the outcome's window at all.
 */
static bool
outcome_intervened(const Acted *acted, const OutcomeInputs *in,
				   TimestampTz forecast, TimestampTz opens_at, TimestampTz deadline)
{
	bool		any = false;

	for (int i = 0; i < acted->n && !any; i++)
		any = acted_within(acted, i, forecast, opens_at, deadline);
	if (!any)
		return false;
	for (int k = 0; k < in->nconns; k++)
	{
		int64		conn = in->conns[k];
		int			lo = 0,
					hi = acted->n;

		if (in->conn_nulls && in->conn_nulls[k])
			continue;
		/* First decision on conn or a later connector. */
		while (lo < hi)
		{
			int			mid = lo + (hi - lo) / 2;

			if (acted->conn[mid] < conn)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < acted->n && acted->conn[lo] == conn; lo++)
			if (acted_within(acted, lo, forecast, opens_at, deadline))
				return true;
	}
	return false;
}

/* t + span, as timestamptz + interval computes it. */
static TimestampTz
time_plus_span(TimestampTz t, const Interval *span)
{
	/* Days and months follow the calendar of the session's time zone. */
	if (span->day != 0 || span->month != 0 || TIMESTAMP_NOT_FINITE(t))
		return DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval, TimestampTzGetDatum(t),
													   IntervalPGetDatum(span)));
	return t + span->time;
}

/*
 * An outcome first forecast at `forecast`, open from opens_at, due at
 * deadline, judged at ev->at: ready when every input landed, the latest
 * landing plus its builds (NO_TIME while one has not); met if ready by the
 * deadline, missed if ready later or not ready once the deadline passed
 * (unknown before), revised by late-collected runs until it settles: once
 * ready, or ev->grace after the deadline.
 */
OutcomeVerdict
resolve_outcome(const OutcomeEvidence *ev, const OutcomeInputs *in,
				TimestampTz opens_at, TimestampTz forecast, TimestampTz deadline)
{
	OutcomeVerdict v = {NO_TIME};
	int			from = 0;		/* input_landed()'s start */
	int64		last_conn = PG_INT64_MIN;

	/* The arrays pair up as unnest() pairs them, NULL past the shorter. */
	for (int i = 0; i < Max(in->nconns, in->nspans); i++)
	{
		TimestampTz landed = NO_TIME;
		TimestampTz done;

		if (i < in->nconns && !(in->conn_nulls && in->conn_nulls[i]))
		{
			int64		conn = in->conns[i];

			/* Inputs out of order (not as record_forecasts writes them): search from the start. */
			if (conn < last_conn)
				from = 0;
			last_conn = conn;
			landed = input_landed(&ev->runs, &from, conn, opens_at);
		}
		if (landed == NO_TIME)
		{
			v.ready = NO_TIME;
			break;
		}
		if (i >= in->nspans || (in->span_nulls && in->span_nulls[i]))
			continue;
		done = time_plus_span(landed, &in->spans[i]);
		v.ready = v.ready == NO_TIME ? done : Max(v.ready, done);
	}
	v.intervened = outcome_intervened(&ev->acted, in, forecast, opens_at, deadline);
	v.met_known = v.ready != NO_TIME || ev->at > deadline;
	v.met = v.ready != NO_TIME && v.ready <= deadline;
	v.settled = v.ready != NO_TIME || ev->at >= time_plus_span(deadline, &ev->grace);
	return v;
}

/*
 * An array's elements as one C array (*values) with a flag per element
 * (*nulls, NULL when it has none): a stored array without NULLs is read in
 * place, not copied a Datum per element (two arrays of 10,000 or more
 * elements per outcome).  elemlen: a fixed length of a double-aligned type.
 */
static void
array_values(ArrayType *a, Oid elemtype, int elemlen, bool byval, const void **values, const bool **nulls,
			 int *n)
{
	Datum	   *elems;
	bool	   *elem_nulls;
	char	   *copy;

	if (!ARR_HASNULL(a))
	{
		*values = ARR_DATA_PTR(a);
		*nulls = NULL;
		*n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
		return;
	}
	deconstruct_array(a, elemtype, elemlen, byval, TYPALIGN_DOUBLE, &elems, &elem_nulls, n);
	copy = palloc0((Size) elemlen * Max(*n, 1));
	for (int i = 0; i < *n; i++)
		if (!elem_nulls[i])
			memcpy(copy + (Size) elemlen * i, byval ? (char *) &elems[i] : DatumGetPointer(elems[i]), elemlen);
	*values = copy;
	*nulls = elem_nulls;
}

/* Where the unsettled outcomes' windows begin and end. */
static const char *const unsettled_span_sql =
"SELECT min(opens_at), min(first_forecast_at), max(deadline) FROM syncopt.sla_outcome WHERE NOT settled";

static const char *const unsettled_sql =
"SELECT asset_id, deadline, opens_at, connector_ids, build_times, first_forecast_at FROM syncopt.sla_outcome"
" WHERE NOT settled ORDER BY asset_id, deadline";

/*
 * syncopt.outcome_ready_times(at, grace): for each unsettled SLA outcome,
 * what resolve_outcome() makes of it at `at`.
 */
Datum
syncopt_outcome_ready_times(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	Interval   *grace = PG_GETARG_INTERVAL_P(1);
	MemoryContext mcxt = CurrentMemoryContext;
	MemoryContext row_cxt = AllocSetContextCreate(mcxt, "syncopt outcome", ALLOCSET_DEFAULT_SIZES);
	TimestampTz first_open = DT_NOEND;
	TimestampTz first_forecast = DT_NOEND;
	TimestampTz last_deadline = DT_NOBEGIN;
	OutcomeEvidence ev;
	SPITupleTable *outcomes;
	uint64		noutcomes;

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run(unsettled_span_sql, 0, NULL, NULL, NULL, true);
	if (SPI_processed == 1)
	{
		HeapTuple	span = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d = SPI_getbinval(span, desc, 1, &isnull);

		/* All three are NULL together: no outcome is unsettled. */
		if (!isnull)
		{
			first_open = DatumGetTimestampTz(d);
			first_forecast = DatumGetTimestampTz(SPI_getbinval(span, desc, 2, &isnull));
			last_deadline = DatumGetTimestampTz(SPI_getbinval(span, desc, 3, &isnull));
		}
	}
	MemoryContextSwitchTo(mcxt);
	load_outcome_evidence(&ev, at, grace, first_open, first_forecast, last_deadline);
	(void) spi_run(unsettled_sql, 0, NULL, NULL, NULL, true);
	outcomes = SPI_tuptable;
	noutcomes = SPI_processed;
	MemoryContextSwitchTo(mcxt);
	for (uint64 k = 0; k < noutcomes; k++)
	{
		HeapTuple	row = outcomes->vals[k];
		TupleDesc	desc = outcomes->tupdesc;
		bool		isnull;
		OutcomeInputs in;
		OutcomeVerdict v;
		const void *conns;
		const void *spans;
		Datum		values[6];
		bool		nulls[6] = {0};
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		array_values(DatumGetArrayTypeP(SPI_getbinval(row, desc, 4, &isnull)), INT8OID, sizeof(int64),
					 FLOAT8PASSBYVAL, &conns, &in.conn_nulls, &in.nconns);
		array_values(DatumGetArrayTypeP(SPI_getbinval(row, desc, 5, &isnull)), INTERVALOID, sizeof(Interval),
					 false, &spans, &in.span_nulls, &in.nspans);
		in.conns = conns;
		in.spans = spans;
		v = resolve_outcome(&ev, &in,
							DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull)),
							DatumGetTimestampTz(SPI_getbinval(row, desc, 6, &isnull)),
							DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull)));
		MemoryContextSwitchTo(old);
		values[0] = SPI_getbinval(row, desc, 1, &isnull);
		values[1] = SPI_getbinval(row, desc, 2, &isnull);
		values[2] = TimestampTzGetDatum(v.ready);
		nulls[2] = v.ready == NO_TIME;
		values[3] = BoolGetDatum(v.met);
		nulls[3] = !v.met_known;
		values[4] = BoolGetDatum(v.intervened);
		values[5] = BoolGetDatum(v.settled);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(row_cxt);
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	PG_RETURN_NULL();
}
