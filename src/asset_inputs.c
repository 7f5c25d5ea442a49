/*-------------------------------------------------------------------------
 *
 * asset_inputs.c
 *	  syncopt.asset_inputs_of(asset_ids): for each asset, the live
 *	  connectors upstream of it through the lineage, each with the longest
 *	  build time (the asset durations on the way, the asset's own included)
 *	  from its data to the asset; and syncopt.outcome_ready_times(at): when
 *	  each unsettled SLA outcome's asset was ready, from those inputs and
 *	  the runs known at `at`, and whether a planner decision executed on
 *	  one of its inputs while it was forecast.
 *
 * The planning run's forecast scorecard records this for every deadline it
 * forecasts for the first time (record_forecasts()).  A recursive query
 * walks every path, and a lineage graph of dbt models has very many paths
 * of different lengths: on the benchmark's 3,000 assets one dashboard took
 * 13 to 24 s.  Here each asset's longest build times come from one pass
 * over the assets in downstream-first order (a longest path in a DAG), so
 * an asset costs the size of the graph, not the number of its paths.
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
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_asset_inputs_of);
PG_FUNCTION_INFO_V1(syncopt_outcome_ready_times);

static const char *const lineage_assets_sql =
"SELECT asset_id, duration FROM syncopt.asset ORDER BY asset_id";

/* Edges from deleted connectors are left out, as everywhere: nothing syncs them. */
static const char *const lineage_edges_sql =
"SELECT l.upstream_connector_id, l.upstream_asset_id, l.asset_id"
"  FROM syncopt.lineage l"
"  LEFT JOIN syncopt.connector c ON c.connector_id = l.upstream_connector_id"
" WHERE l.upstream_connector_id IS NULL OR c.deleted_at IS NULL"
" ORDER BY l.upstream_connector_id, l.lineage_id";

/* The lineage as asset adjacency, with the connectors that feed each asset. */
typedef struct Lineage
{
	int			nasset;
	int64	   *asset_id;		/* ascending */
	Interval   *duration;
	Adjacency	up;				/* asset -> assets it reads */
	Adjacency	down;			/* asset -> assets that read it */
	Adjacency	fed_by;			/* asset -> connector numbers that feed it */
	int			nconn;
	int64	   *conn_id;		/* connector numbers -> ids, ascending */
} Lineage;

/* Position of id in the ascending ids[0..n), or -1. */
static int
find_id(const int64 *ids, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (ids[mid] == id)
			return mid;
		if (ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Read the assets and the lineage (in the caller's memory context). */
static void
load_lineage(Lineage *g)
{
	MemoryContext mcxt = CurrentMemoryContext;
	int			n,
				nup = 0,
				nfed = 0;
	int		   *up_from,
			   *up_to,
			   *fed_from,
			   *fed_to;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run(lineage_assets_sql, 0, NULL, NULL, NULL, true);
	MemoryContextSwitchTo(mcxt);
	g->nasset = (int) SPI_processed;
	g->asset_id = palloc(sizeof(int64) * Max(g->nasset, 1));
	g->duration = palloc0(sizeof(Interval) * Max(g->nasset, 1));
	for (int i = 0; i < g->nasset; i++)
	{
		bool		isnull;
		Datum		d;

		g->asset_id[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
			g->duration[i] = *DatumGetIntervalP(d);
	}

	(void) spi_run(lineage_edges_sql, 0, NULL, NULL, NULL, true);
	MemoryContextSwitchTo(mcxt);
	n = (int) SPI_processed;
	up_from = palloc(sizeof(int) * Max(n, 1));
	up_to = palloc(sizeof(int) * Max(n, 1));
	fed_from = palloc(sizeof(int) * Max(n, 1));
	fed_to = palloc(sizeof(int) * Max(n, 1));
	/* Connector edges come first, by connector id: number the connectors as they come. */
	g->conn_id = palloc(sizeof(int64) * Max(n, 1));
	g->nconn = 0;
	for (int i = 0; i < n; i++)
	{
		HeapTuple	row = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		conn_null,
					up_null,
					isnull;
		Datum		conn = SPI_getbinval(row, desc, 1, &conn_null);
		Datum		up = SPI_getbinval(row, desc, 2, &up_null);
		int			target = find_id(g->asset_id, g->nasset,
									 DatumGetInt64(SPI_getbinval(row, desc, 3, &isnull)));

		/* Foreign keys make every asset found; the check keeps the arrays safe. */
		if (target < 0)
			continue;
		if (!conn_null)
		{
			if (g->nconn == 0 || g->conn_id[g->nconn - 1] != DatumGetInt64(conn))
				g->conn_id[g->nconn++] = DatumGetInt64(conn);
			fed_from[nfed] = target;
			fed_to[nfed++] = g->nconn - 1;
		}
		else if (!up_null)
		{
			int			from = find_id(g->asset_id, g->nasset, DatumGetInt64(up));

			if (from < 0)
				continue;
			up_from[nup] = target;
			up_to[nup++] = from;
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	g->up = build_adjacency(g->nasset, nup, up_from, up_to);
	g->down = build_adjacency(g->nasset, nup, up_to, up_from);
	g->fed_by = build_adjacency(g->nasset, nfed, fed_from, fed_to);
}

/* An interval's length, as interval comparison orders them. */
static int64
span_usecs(const Interval *iv)
{
	return iv->time + ((int64) iv->month * DAYS_PER_MONTH + iv->day) * USECS_PER_DAY;
}

/* a + b, field by field (as interval addition). */
static Interval
span_add(Interval a, const Interval *b)
{
	a.month += b->month;
	a.day += b->day;
	a.time += b->time;
	return a;
}

/*
 * The longest build time to asset t from each connector upstream of it:
 * best[k] for connector number k where reached[k] (set here); returns how
 * many were reached.  longest, has: scratch of nasset.
 */
static int
longest_inputs(const Lineage *g, const int *order, int t, Interval *longest, bool *has,
			   Interval *best, bool *reached)
{
	int			n = 0;

	memset(has, 0, sizeof(bool) * g->nasset);
	memset(reached, 0, sizeof(bool) * Max(g->nconn, 1));
	longest[t] = g->duration[t];
	has[t] = true;
	/* Downstream first: an asset's longest way to t is final before it is read. */
	for (int k = 0; k < g->nasset; k++)
	{
		int			w = order[k];

		if (!has[w])
			continue;
		for (int e = g->up.off[w]; e < g->up.off[w + 1]; e++)
		{
			int			u = g->up.idx[e];
			Interval	via = span_add(longest[w], &g->duration[u]);

			if (!has[u] || span_usecs(&via) > span_usecs(&longest[u]))
			{
				longest[u] = via;
				has[u] = true;
			}
		}
		for (int e = g->fed_by.off[w]; e < g->fed_by.off[w + 1]; e++)
		{
			int			c = g->fed_by.idx[e];

			if (!reached[c] || span_usecs(&longest[w]) > span_usecs(&best[c]))
			{
				n += !reached[c];
				best[c] = longest[w];
				reached[c] = true;
			}
		}
	}
	return n;
}

/* What asset_inputs_of() keeps from one call to the next. */
typedef struct InputsScan
{
	Datum	   *elems;			/* the asset ids asked for */
	bool	   *elem_nulls;
	int			nids;
	int			next;			/* the next of them to answer */
	Lineage		g;
	int		   *order;
	Interval   *longest;
	bool	   *has;
	Interval   *best;
	bool	   *reached;
	ArrayType  *conn_out;		/* a row's arrays, written in place */
	ArrayType  *time_out;
} InputsScan;

/*
 * A one-dimensional array without NULLs of up to capacity elements of a
 * fixed-length, double-aligned type (bigint, interval), whose data a row's
 * values are written into and which array_of() then gives its length.
 * A row of an asset read by every connector of a large fleet has two
 * arrays of 50,000 elements: construct_array() copied them from a Datum
 * per element, into arrays zeroed first, 500 times in a day's first
 * planning run.  heap_form_tuple() copies the row's arrays, so the
 * buffers serve every row.
 */
static ArrayType *
array_buffer(Oid elemtype, int elemlen, int capacity)
{
	ArrayType  *a = palloc(ARR_OVERHEAD_NONULLS(1) + (Size) elemlen * Max(capacity, 1));

	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = elemtype;
	ARR_LBOUND(a)[0] = 1;
	return a;
}

/* The buffer as an array of its first n elements (n > 0), as construct_array() makes it. */
static Datum
array_of(ArrayType *a, int elemlen, int n)
{
	SET_VARSIZE(a, ARR_OVERHEAD_NONULLS(1) + (Size) elemlen * n);
	ARR_DIMS(a)[0] = n;
	return PointerGetDatum(a);
}

/* Read the lineage and the asset ids of an asset_inputs_of() call (in its multi-call memory). */
static InputsScan *
inputs_scan_begin(ArrayType *ids)
{
	InputsScan *scan = palloc0(sizeof(InputsScan));
	Lineage    *g = &scan->g;

	deconstruct_array(ids, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &scan->elems, &scan->elem_nulls,
					  &scan->nids);
	load_lineage(g);
	scan->order = graph_order(g->nasset, &g->down, &g->up);
	scan->longest = palloc(sizeof(Interval) * Max(g->nasset, 1));
	scan->has = palloc(sizeof(bool) * Max(g->nasset, 1));
	scan->best = palloc(sizeof(Interval) * Max(g->nconn, 1));
	scan->reached = palloc(sizeof(bool) * Max(g->nconn, 1));
	scan->conn_out = array_buffer(INT8OID, sizeof(int64), g->nconn);
	scan->time_out = array_buffer(INTERVALOID, sizeof(Interval), g->nconn);
	return scan;
}

/*
 * syncopt.asset_inputs_of(asset_ids): one row per asset given that
 * exists and has upstream connectors, with their ids ascending and the
 * longest build time from each.
 *
 * One row per call (value per call), not a materialized set: called in a
 * select list (record_forecasts()), each row goes straight to its insert.
 * On a large fleet a row holds two arrays of every connector (500 rows of
 * 10,000 elements at 10,000 connectors, 120 MB), which a materialized
 * result copied into a tuplestore and spilled to a temporary file past
 * work_mem before the insert read them back.
 */
Datum
syncopt_asset_inputs_of(PG_FUNCTION_ARGS)
{
	FuncCallContext *fctx;
	InputsScan *scan;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	desc;

		fctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(fctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "syncopt: asset_inputs_of must return a row type");
		fctx->tuple_desc = BlessTupleDesc(desc);
		fctx->user_fctx = inputs_scan_begin(PG_GETARG_ARRAYTYPE_P_COPY(0));
		MemoryContextSwitchTo(old);
	}
	fctx = SRF_PERCALL_SETUP();
	scan = (InputsScan *) fctx->user_fctx;
	while (scan->next < scan->nids)
	{
		int			i = scan->next++;
		const Lineage *g = &scan->g;
		int			t = scan->elem_nulls[i] ? -1 : find_id(g->asset_id, g->nasset, DatumGetInt64(scan->elems[i]));
		int			n;
		int64	   *conn_ids = (int64 *) ARR_DATA_PTR(scan->conn_out);
		Interval   *times = (Interval *) ARR_DATA_PTR(scan->time_out);
		Datum		values[3];
		bool		nulls[3] = {0};

		if (t < 0)
			continue;
		n = longest_inputs(g, scan->order, t, scan->longest, scan->has, scan->best, scan->reached);
		if (n == 0)
			continue;
		for (int c = 0, k = 0; c < g->nconn; c++)
		{
			if (!scan->reached[c])
				continue;
			conn_ids[k] = g->conn_id[c];
			times[k++] = scan->best[c];
		}
		/* The row lives in the caller's per-call memory, as a row of a set does. */
		values[0] = scan->elems[i];
		values[1] = array_of(scan->conn_out, sizeof(int64), n);
		values[2] = array_of(scan->time_out, sizeof(Interval), n);
		SRF_RETURN_NEXT(fctx, HeapTupleGetDatum(heap_form_tuple(fctx->tuple_desc, values, nulls)));
	}
	SRF_RETURN_DONE(fctx);
}

/* Where the unsettled outcomes' windows begin and end. */
static const char *const unsettled_span_sql =
"SELECT min(opens_at), min(first_forecast_at), max(deadline) FROM syncopt.sla_outcome WHERE NOT settled";

static const char *const unsettled_sql =
"SELECT asset_id, deadline, opens_at, connector_ids, build_times, first_forecast_at FROM syncopt.sla_outcome"
" WHERE NOT settled ORDER BY asset_id, deadline";

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

/* The successful runs that may land an input: by connector, then start. */
typedef struct LandedRuns
{
	int			n;
	int64	   *conn;
	TimestampTz *started;
	TimestampTz *landed;		/* earliest end of this run and those started after it */
} LandedRuns;

/* Read the successful runs started from `from` and ended by `at`. */
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

/* The executed decisions of acted_sql: by connector. */
typedef struct Acted
{
	int			n;
	int64	   *conn;
	bool	   *starts_sync;
	TimestampTz *when;
} Acted;

/* Read the executed decisions that ran from `from` to `to`. */
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
 * Whether a decision on one of the outcome's inputs conns[0..nconns)
 * counts for it.  Each input is a binary search of the decisions, done
 * only when some decision ran within the outcome's window at all.
 */
static bool
outcome_intervened(const Acted *acted, const Datum *conns, const bool *conn_nulls, int nconns,
				   TimestampTz forecast, TimestampTz opens_at, TimestampTz deadline)
{
	bool		any = false;

	for (int i = 0; i < acted->n && !any; i++)
		any = acted_within(acted, i, forecast, opens_at, deadline);
	if (!any)
		return false;
	for (int k = 0; k < nconns; k++)
	{
		int64		conn;
		int			lo = 0,
					hi = acted->n;

		if (conn_nulls[k])
			continue;
		conn = DatumGetInt64(conns[k]);
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
 * syncopt.outcome_ready_times(at): for each unsettled SLA outcome, when
 * its asset was ready (the latest landing plus build time among its
 * inputs), NULL while an input has not landed, and whether an executed
 * planner decision on one of its inputs counts for it.
 */
Datum
syncopt_outcome_ready_times(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	MemoryContext mcxt = CurrentMemoryContext;
	MemoryContext row_cxt = AllocSetContextCreate(mcxt, "syncopt outcome", ALLOCSET_DEFAULT_SIZES);
	TimestampTz first_open = DT_NOEND;
	TimestampTz first_forecast = DT_NOEND;
	TimestampTz last_deadline = DT_NOBEGIN;
	LandedRuns	runs;
	Acted		acted;
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
	load_landed_runs(&runs, first_open, at);
	load_acted(&acted, first_forecast, last_deadline);
	(void) spi_run(unsettled_sql, 0, NULL, NULL, NULL, true);
	outcomes = SPI_tuptable;
	noutcomes = SPI_processed;
	MemoryContextSwitchTo(mcxt);
	for (uint64 k = 0; k < noutcomes; k++)
	{
		HeapTuple	row = outcomes->vals[k];
		TupleDesc	desc = outcomes->tupdesc;
		bool		isnull;
		TimestampTz opens_at = DatumGetTimestampTz(SPI_getbinval(row, desc, 3, &isnull));
		Datum	   *conns,
				   *spans;
		bool	   *conn_nulls,
				   *span_nulls;
		int			nconns,
					nspans;
		TimestampTz ready = NO_TIME;
		bool		all_landed = true;
		int			from = 0;	/* input_landed()'s start */
		int64		last_conn = PG_INT64_MIN;
		TimestampTz deadline = DatumGetTimestampTz(SPI_getbinval(row, desc, 2, &isnull));
		TimestampTz forecast = DatumGetTimestampTz(SPI_getbinval(row, desc, 6, &isnull));
		bool		intervened;
		Datum		values[4];
		bool		nulls[4] = {0};
		MemoryContext old = MemoryContextSwitchTo(row_cxt);

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(row, desc, 4, &isnull)), INT8OID, 8,
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &conns, &conn_nulls, &nconns);
		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(row, desc, 5, &isnull)), INTERVALOID,
						  sizeof(Interval), false, TYPALIGN_DOUBLE, &spans, &span_nulls, &nspans);
		/*
		 * Ready once every input landed: the latest landing plus its builds
		 * (the arrays pair up as unnest() pairs them, NULL past the shorter).
		 */
		for (int i = 0; i < Max(nconns, nspans); i++)
		{
			TimestampTz landed = NO_TIME;
			TimestampTz done;

			if (i < nconns && !conn_nulls[i])
			{
				int64		conn = DatumGetInt64(conns[i]);

				/* Inputs out of order (not as record_forecasts writes them): search from the start. */
				if (conn < last_conn)
					from = 0;
				last_conn = conn;
				landed = input_landed(&runs, &from, conn, opens_at);
			}
			if (landed == NO_TIME)
			{
				all_landed = false;
				break;
			}
			if (i >= nspans || span_nulls[i])
				continue;
			done = time_plus_span(landed, DatumGetIntervalP(spans[i]));
			ready = ready == NO_TIME ? done : Max(ready, done);
		}
		if (!all_landed)
			ready = NO_TIME;
		intervened = outcome_intervened(&acted, conns, conn_nulls, nconns, forecast, opens_at, deadline);
		MemoryContextSwitchTo(old);
		values[0] = SPI_getbinval(row, desc, 1, &isnull);
		values[1] = SPI_getbinval(row, desc, 2, &isnull);
		values[2] = TimestampTzGetDatum(ready);
		nulls[2] = ready == NO_TIME;
		values[3] = BoolGetDatum(intervened);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextReset(row_cxt);
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	PG_RETURN_NULL();
}
