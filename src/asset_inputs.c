/*-------------------------------------------------------------------------
 *
 * asset_inputs.c
 *	  syncopt.asset_inputs_of(asset_ids): for each asset, the live
 *	  connectors upstream of it through the lineage, each with the longest
 *	  build time (the asset durations on the way, the asset's own included)
 *	  from its data to the asset; and syncopt.new_outcomes(): the same for
 *	  the deadline instances a planning run forecast for the first time,
 *	  each resolved (outcome_ready.c) while its inputs are in memory.
 *
 * The planning run's forecast scorecard records this for every deadline it
 * forecasts for the first time (record_forecasts()).  A recursive query
 * walks every path, and a lineage graph of dbt models has very many paths
 * of different lengths: on the benchmark's 3,000 assets one dashboard took
 * 13 to 24 s.  Here each asset's longest build times come from one pass
 * over the assets in downstream-first order (a longest path in a DAG), so
 * an asset costs the size of the graph, not the number of its paths.
 * A new outcome is resolved from the arrays it is about to be written
 * with: on the day's first planning run, resolving the 500 outcomes just
 * written read them back (22 MB of lz4 at 10,000 connectors, 115 MB
 * decompressed) and their update decompressed them again for the table's
 * check.
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
#include "outcome_ready.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_asset_inputs_of);
PG_FUNCTION_INFO_V1(syncopt_new_outcomes);

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
	Adjacency	feeds;			/* connector number -> assets it feeds (order_feeds() sorts them) */
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
	g->feeds = build_adjacency(g->nconn, nfed, fed_to, fed_from);
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
 * The connectors upstream of asset t, ascending, into conn_ids, each with
 * the longest build time from it to t into times; returns how many.
 * longest, length, has: scratch of nasset.
 */
static int
longest_inputs(const Lineage *g, const int *order, int t, Interval *longest, int64 *length, bool *has,
			   int64 *conn_ids, Interval *times)
{
	int			n = 0;

	memset(has, 0, sizeof(bool) * g->nasset);
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
	}

	for (int w = 0; w < g->nasset; w++)
		if (has[w])
			length[w] = span_usecs(&longest[w]);

	/*
	 * Each connector's longest is that of the longest-built asset it feeds,
	 * the first in order among equal lengths (g->feeds lists them in
	 * order; intervals of one length can differ in days and hours).
	 * Connector by connector, the rows come out ascending and are written
	 * once, instead of scattered over every connector of the fleet and
	 * gathered again, per asset asked for.
	 */
	for (int c = 0; c < g->nconn; c++)
	{
		int			best = -1;

		for (int e = g->feeds.off[c]; e < g->feeds.off[c + 1]; e++)
		{
			int			w = g->feeds.idx[e];

			if (has[w] && (best < 0 || length[w] > length[best]))
				best = w;
		}
		if (best < 0)
			continue;
		conn_ids[n] = g->conn_id[c];
		times[n++] = longest[best];
	}
	return n;
}

/* What asset_inputs_of() and new_outcomes() keep from one call to the next. */
typedef struct InputsScan
{
	Datum	   *elems;			/* the asset ids asked for */
	bool	   *elem_nulls;
	int			nids;
	int			next;			/* the next of them to answer */
	int			asset;			/* the asset whose inputs the buffers hold; -1 none */
	int			ninputs;		/* how many */
	Lineage		g;
	int		   *order;
	Interval   *longest;
	int64	   *length;
	bool	   *has;
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

/* Sort each connector's assets in g->feeds by their place in order (a few each: insertion). */
static void
order_feeds(Lineage *g, const int *order)
{
	int		   *rank = palloc(sizeof(int) * Max(g->nasset, 1));

	for (int k = 0; k < g->nasset; k++)
		rank[order[k]] = k;
	for (int c = 0; c < g->nconn; c++)
		for (int e = g->feeds.off[c] + 1; e < g->feeds.off[c + 1]; e++)
		{
			int			w = g->feeds.idx[e];
			int			f = e;

			for (; f > g->feeds.off[c] && rank[g->feeds.idx[f - 1]] > rank[w]; f--)
				g->feeds.idx[f] = g->feeds.idx[f - 1];
			g->feeds.idx[f] = w;
		}
	pfree(rank);
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
	order_feeds(g, scan->order);
	scan->longest = palloc(sizeof(Interval) * Max(g->nasset, 1));
	scan->length = palloc(sizeof(int64) * Max(g->nasset, 1));
	scan->has = palloc(sizeof(bool) * Max(g->nasset, 1));
	scan->conn_out = array_buffer(INT8OID, sizeof(int64), g->nconn);
	scan->time_out = array_buffer(INTERVALOID, sizeof(Interval), g->nconn);
	scan->asset = -1;
	return scan;
}

/*
 * Fill the row buffers with the inputs of asset number t (ids ascending)
 * and return how many; an asset asked for again in a row (one per
 * deadline of it) is not walked again.
 */
static int
scan_inputs(InputsScan *scan, int t)
{
	if (t != scan->asset)
	{
		scan->ninputs = longest_inputs(&scan->g, scan->order, t, scan->longest, scan->length, scan->has,
									   (int64 *) ARR_DATA_PTR(scan->conn_out),
									   (Interval *) ARR_DATA_PTR(scan->time_out));
		scan->asset = t;
	}
	return scan->ninputs;
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
		int			t = scan->elem_nulls[i] ? -1 : find_id(scan->g.asset_id, scan->g.nasset,
														   DatumGetInt64(scan->elems[i]));
		int			n;
		Datum		values[3];
		bool		nulls[3] = {0};

		if (t < 0 || (n = scan_inputs(scan, t)) == 0)
			continue;
		/* The row lives in the caller's per-call memory, as a row of a set does. */
		values[0] = scan->elems[i];
		values[1] = array_of(scan->conn_out, sizeof(int64), n);
		values[2] = array_of(scan->time_out, sizeof(Interval), n);
		SRF_RETURN_NEXT(fctx, HeapTupleGetDatum(heap_form_tuple(fctx->tuple_desc, values, nulls)));
	}
	SRF_RETURN_DONE(fctx);
}


/* What new_outcomes() keeps from one call to the next, besides the inputs. */
typedef struct NewOutcomes
{
	InputsScan *scan;
	TimestampTz at;
	Datum	   *deadlines;
	bool	   *deadline_nulls;
	Datum	   *opens;
	bool	   *open_nulls;
	OutcomeEvidence ev;
} NewOutcomes;

/* Read the lineage, the deadline instances asked for and the evidence (in multi-call memory). */
static NewOutcomes *
new_outcomes_begin(TimestampTz at, Interval *grace, ArrayType *ids, ArrayType *deadlines, ArrayType *opens)
{
	NewOutcomes *st = palloc0(sizeof(NewOutcomes));
	MemoryContext mcxt = CurrentMemoryContext;
	TimestampTz first_open = DT_NOEND;
	TimestampTz last_deadline = DT_NOBEGIN;
	int			nids = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	int			ndeadlines,
				nopens;

	deconstruct_array(deadlines, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &st->deadlines,
					  &st->deadline_nulls, &ndeadlines);
	deconstruct_array(opens, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &st->opens, &st->open_nulls,
					  &nopens);
	if (ndeadlines != nids || nopens != nids)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("new_outcomes needs one deadline and one opening time per asset id"),
				 errdetail("Got %d asset ids, %d deadlines and %d opening times.", nids, ndeadlines, nopens),
				 errhint("record_forecasts() passes each new deadline instance as its asset id, deadline and opens_at.")));
	st->at = at;
	st->scan = inputs_scan_begin(ids);
	for (int i = 0; i < nids; i++)
	{
		if (st->deadline_nulls[i] || st->open_nulls[i])
			continue;
		first_open = Min(first_open, DatumGetTimestampTz(st->opens[i]));
		last_deadline = Max(last_deadline, DatumGetTimestampTz(st->deadlines[i]));
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	MemoryContextSwitchTo(mcxt);
	/* Each is first forecast now. */
	load_outcome_evidence(&st->ev, at, grace, first_open, at, last_deadline);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	return st;
}

/*
 * syncopt.new_outcomes(at, grace, asset_ids, deadlines, opens_at): for each
 * deadline instance given (the i-th of each array) whose asset has
 * upstream connectors, first forecast at `at`: its inputs, as
 * asset_inputs_of() gives them, and what outcome_ready_times() would make
 * of it once written.  One row per call, as asset_inputs_of() returns
 * them; instances of one asset in a row share one walk of the lineage.
 */
Datum
syncopt_new_outcomes(PG_FUNCTION_ARGS)
{
	FuncCallContext *fctx;
	NewOutcomes *st;
	InputsScan *scan;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	desc;

		fctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(fctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			elog(ERROR, "syncopt: new_outcomes must return a row type");
		fctx->tuple_desc = BlessTupleDesc(desc);
		fctx->user_fctx = new_outcomes_begin(PG_GETARG_TIMESTAMPTZ(0), PG_GETARG_INTERVAL_P(1),
											 PG_GETARG_ARRAYTYPE_P_COPY(2), PG_GETARG_ARRAYTYPE_P(3),
											 PG_GETARG_ARRAYTYPE_P(4));
		MemoryContextSwitchTo(old);
	}
	fctx = SRF_PERCALL_SETUP();
	st = (NewOutcomes *) fctx->user_fctx;
	scan = st->scan;
	while (scan->next < scan->nids)
	{
		int			i = scan->next++;
		int			t = scan->elem_nulls[i] ? -1 : find_id(scan->g.asset_id, scan->g.nasset,
														   DatumGetInt64(scan->elems[i]));
		int			n;
		OutcomeInputs in = {0};
		OutcomeVerdict v;
		Datum		values[9];
		bool		nulls[9] = {0};

		if (t < 0 || st->deadline_nulls[i] || st->open_nulls[i] || (n = scan_inputs(scan, t)) == 0)
			continue;
		in.conns = (const int64 *) ARR_DATA_PTR(scan->conn_out);
		in.nconns = n;
		in.spans = (const Interval *) ARR_DATA_PTR(scan->time_out);
		in.nspans = n;
		v = resolve_outcome(&st->ev, &in, DatumGetTimestampTz(st->opens[i]), st->at,
							DatumGetTimestampTz(st->deadlines[i]));
		/* The row lives in the caller's per-call memory, as a row of a set does. */
		values[0] = scan->elems[i];
		values[1] = st->deadlines[i];
		values[2] = st->opens[i];
		values[3] = array_of(scan->conn_out, sizeof(int64), n);
		values[4] = array_of(scan->time_out, sizeof(Interval), n);
		values[5] = TimestampTzGetDatum(v.ready);
		nulls[5] = v.ready == NO_TIME;
		values[6] = BoolGetDatum(v.met);
		nulls[6] = !v.met_known;
		values[7] = BoolGetDatum(v.intervened);
		values[8] = BoolGetDatum(v.settled);
		SRF_RETURN_NEXT(fctx, HeapTupleGetDatum(heap_form_tuple(fctx->tuple_desc, values, nulls)));
	}
	SRF_RETURN_DONE(fctx);
}
