/*-------------------------------------------------------------------------
 *
 * plan_rows.c
 *	  The rows of syncopt.plan(), syncopt.sla_risk() and of a planning run's
 *	  plan and SLA forecast (syncopt.plan_and_forecast()).
 *
 * plan() schedules the syncs due within its horizon; sla_risk() schedules
 * those due within eight days (every asset's next deadline) and reads when
 * each asset's inputs land under that plan.  A planning run needs both,
 * as run_planner() has always written them (planned_sync: plan(at,
 * '24 hours'); sla_forecast: sla_risk(at)), and everything else it decides
 * reads those rows.  plan_and_forecast() computes both from one load of the
 * fleet: the two plans stay two (the 24-hour plan leaves out the syncs due
 * later, which changes where the others fit), but the fleet is read once,
 * and each plan is made on a copy of it taken before scoring, the 24-hour
 * one with the windows and calendar events of its own horizon, so that its
 * rows are exactly plan()'s.  The load is kept for the analytics the run
 * calls next (fleet_share.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/heaptoast.h"
#include "access/htup_details.h"
#include "access/toast_internals.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/typcache.h"

#include "analytics.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_plan);
PG_FUNCTION_INFO_V1(syncopt_sla_risk);
PG_FUNCTION_INFO_V1(syncopt_plan_and_forecast);

#define RISK_HORIZON_S	(8 * SECS_PER_DAY)	/* next deadlines are within eight days */
#define RUN_PLAN_HORIZON_S	(24 * 3600.0)	/* the plan a planning run keeps */
#define PLAN_COLS	9			/* columns of plan() */
#define RISK_COLS	7			/* columns of sla_risk() */
#define PLAN_PARTS	(FLEET_GRAPH | FLEET_WINDOWS | FLEET_PREDICT | FLEET_TERSE)	/* what a plan loads */
#define RISK_BLOCKING	5		/* sla_risk()'s blocking_connectors column */
/*
 * Columns of a planning run's sla_forecast row after its run's id:
 * sla_risk()'s, then what the deadline's alert lists and the count.
 */
#define FORECAST_COLS	(RISK_COLS + 2)

/*
 * The blocking connectors an SLA alert lists at most (the forecast keeps
 * them all): alerts go to webhooks whole, and a deadline read by every
 * connector of a large fleet has thousands.  Twenty ids of at most 20
 * characters each stay far inside the smallest bound an alerting endpoint
 * sets on what it receives (Opsgenie's alert details: 8,000 characters in
 * all; PagerDuty's Events API: 512 KB an event), and are more connectors
 * than anyone on call chases at once: the alert says how many there are.
 */
#define ALERT_BLOCKING_MAX	20

/* A fleet planned over one horizon, with what sla_risk() reads of it. */
typedef struct PlannedFleet
{
	Fleet	   *fleet;
	PlannedSync *jobs;
	int			njobs;
	int		   *rows;			/* jobs in plan()'s row order */
} PlannedFleet;

static const PlannedSync *sort_jobs;

/* Rows of plan(): by planned start, then priority; paused ones last. */
static int
compare_planned(const void *a, const void *b)
{
	const PlannedSync *x = &sort_jobs[*(const int *) a];
	const PlannedSync *y = &sort_jobs[*(const int *) b];

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->priority - y->priority;
}

/*
 * Score and plan a loaded fleet over the horizon; with explain, with the
 * plan's reasons.  sla_risk() reads when each sync lands, not why: the
 * decisions are the same without reasons (plan_fleet()), and a triage's
 * final pass is then put back from its remembered passes instead of made
 * again with reasons (plan_recall.c).
 */
static void
plan_loaded(PlannedFleet *pf, Fleet *fleet, double horizon_s, bool explain)
{
	Score	   *scores = score_fleet(fleet, false);

	pf->fleet = fleet;
	pf->jobs = plan_fleet(fleet, scores, horizon_s, explain, &pf->njobs);
	pf->rows = palloc(sizeof(int) * Max(pf->njobs, 1));
	for (int j = 0; j < pf->njobs; j++)
		pf->rows[j] = j;
	sort_jobs = pf->jobs;
	qsort(pf->rows, pf->njobs, sizeof(int), compare_planned);
}

/* plan()'s columns for one planned sync. */
static void
plan_values(const Fleet *fleet, const PlannedSync *job, Datum *values, bool *nulls)
{
	const Connector *c = &fleet->conn[job->connector];

	memset(nulls, 0, sizeof(bool) * PLAN_COLS);
	values[0] = Int64GetDatum(c->id);
	nulls[1] = nulls[2] = nulls[4] = job->start == NO_TIME;
	if (job->start != NO_TIME)
	{
		values[1] = TimestampTzGetDatum(job->start);
		values[2] = TimestampTzGetDatum(job->end);
		values[4] = interval_datum(time_diff(c->due, job->end));
	}
	values[3] = TimestampTzGetDatum(c->due);
	values[5] = BoolGetDatum(job->will_miss);
	values[6] = CStringGetTextDatum(job->action);
	values[7] = Int32GetDatum(job->priority);
	values[8] = CStringGetTextDatum(job->reason.data);
}

/*
 * When each connector's data lands under the plan: its planned end, `at`
 * when nothing is planned for it (its data is as fresh as it will get),
 * NO_TIME when paused.
 */
static TimestampTz *
planned_ends(const Fleet *fleet, const PlannedSync *jobs, int njobs)
{
	TimestampTz *conn_end = palloc(sizeof(TimestampTz) * Max(fleet->nconn, 1));

	for (int i = 0; i < fleet->nconn; i++)
		conn_end[i] = fleet->conn[i].paused ? NO_TIME : fleet->at;
	for (int j = 0; j < njobs; j++)
		conn_end[jobs[j].connector] = jobs[j].end;
	return conn_end;
}

/* When each asset's inputs are ready under the plan (NO_TIME: never). */
static TimestampTz *
asset_ready_times(const Fleet *fleet, const TimestampTz *conn_end)
{
	TimestampTz *ready = palloc(sizeof(TimestampTz) * Max(fleet->nasset, 1));
	int		   *order = graph_order(fleet->nasset, &fleet->asset_prev_assets, &fleet->asset_next);

	for (int k = 0; k < fleet->nasset; k++)
	{
		int			a = order[k];
		TimestampTz inputs = fleet->at;

		for (int e = fleet->asset_prev_conns.off[a]; e < fleet->asset_prev_conns.off[a + 1]; e++)
			inputs = Max(inputs, conn_end[fleet->asset_prev_conns.idx[e]]);
		for (int e = fleet->asset_prev_assets.off[a]; e < fleet->asset_prev_assets.off[a + 1]; e++)
			inputs = Max(inputs, ready[fleet->asset_prev_assets.idx[e]]);
		ready[a] = time_add(inputs, fleet->asset[a].duration_s);
	}
	pfree(order);
	return ready;
}

/*
 * What risk_values() reads of every connector, in arrays of its own: read
 * through the connectors for each deadline, each was a cache miss (a tenth
 * of sla_risk() at 50,000 connectors); and its scratch space.
 */
typedef struct RiskScratch
{
	int64	   *id;
	TimestampTz *due;
	int		   *due_asset;
	int		   *upstream;		/* the connectors that reach the asset at hand */
	ArrayType  *blocking;		/* a bigint[] with room for every connector */
	/* The asset's other blocking connectors that land latest, latest first. */
	int			latest[ALERT_BLOCKING_MAX - 1];
	int			nlatest;
} RiskScratch;

/* risk_values()'s copy of the connectors' ids and due times, and its scratch space. */
static void
risk_scratch_init(const Fleet *fleet, RiskScratch *rs)
{
	int			n = Max(fleet->nconn, 1);

	rs->id = palloc(sizeof(int64) * n);
	rs->due = palloc(sizeof(TimestampTz) * n);
	rs->due_asset = palloc(sizeof(int) * n);
	rs->upstream = palloc(sizeof(int) * n);
	rs->blocking = palloc(ARR_OVERHEAD_NONULLS(1) + sizeof(int64) * (Size) n);
	rs->blocking->ndim = 1;
	rs->blocking->dataoffset = 0;
	rs->blocking->elemtype = INT8OID;
	ARR_LBOUND(rs->blocking)[0] = 1;
	for (int i = 0; i < fleet->nconn; i++)
	{
		rs->id[i] = fleet->conn[i].id;
		rs->due[i] = fleet->conn[i].due;
		rs->due_asset[i] = fleet->conn[i].due_asset;
	}
}

/*
 * The bigint[] of the n ids written into rs->blocking's data, as
 * construct_array() makes it: at 50,000 connectors sla_risk()'s
 * blocking_connectors hold 15 million ids, which construct_array() zeroed
 * and copied element by element, and a copy from a scratch list into an
 * array of each row's own cost a copy and fresh pages again.  The array is
 * reused for the next row once the row has been formed from it.
 */
static Datum
blocking_array(RiskScratch *rs, int n)
{
	if (n == 0)
		return PointerGetDatum(construct_empty_array(INT8OID));
	SET_VARSIZE(rs->blocking, ARR_OVERHEAD_NONULLS(1) + sizeof(int64) * (Size) n);
	ARR_DIMS(rs->blocking)[0] = n;
	return PointerGetDatum(rs->blocking);
}

/*
 * Keep blocking connector i among the asset's latest landing ones, in
 * order, if it lands later than the latest kept so far: at equal times
 * the one met first stays first, so that the list does not depend on
 * anything but the plan and the connectors' order.
 */
static void
keep_latest(RiskScratch *rs, const TimestampTz *conn_end, int i)
{
	int			pos;

	if (rs->nlatest == lengthof(rs->latest))
	{
		if (conn_end[i] <= conn_end[rs->latest[rs->nlatest - 1]])
			return;
		pos = rs->nlatest - 1;	/* the earliest kept makes room */
	}
	else
		pos = rs->nlatest++;
	for (; pos > 0 && conn_end[rs->latest[pos - 1]] < conn_end[i]; pos--)
		rs->latest[pos] = rs->latest[pos - 1];
	rs->latest[pos] = i;
}

/*
 * The blocking connectors an SLA alert lists, as a bigint[]: the first of
 * blocking (the one the planner's notify proposal names as blocking the
 * deadline), then the others kept by keep_latest(), latest first.
 */
static Datum
alert_blocking(const RiskScratch *rs, const int64 *blocking, int nblocking)
{
	Datum		ids[ALERT_BLOCKING_MAX];
	int			n = 0;

	if (nblocking > 0)
		ids[n++] = Int64GetDatum(blocking[0]);
	for (int k = 0; k < rs->nlatest; k++)
		ids[n++] = Int64GetDatum(rs->id[rs->latest[k]]);
	return PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
										   TYPALIGN_DOUBLE));
}

/*
 * The columns of asset a's forecast (which has a deadline), from the
 * planned ends of the connectors and the assets' ready times: sla_risk()'s
 * RISK_COLS, then what an alert of it lists of its blocking connectors and
 * how many block it (FORECAST_COLS in all).
 */
static void
risk_values(const Fleet *fleet, int a, const TimestampTz *conn_end, const TimestampTz *ready,
			RiskScratch *rs, Datum *values, bool *nulls)
{
	const Asset *asset = &fleet->asset[a];
	TimestampTz build_start = time_add(asset->deadline, -asset->duration_s);
	int			nblocking = 0;
	int			critical = -1;
	int			upstream = graph_reachers(fleet, a, rs->upstream);
	int64	   *blocking = (int64 *) ARR_DATA_PTR(rs->blocking);
	const char *risk;
	StringInfoData reason;
	double		margin;

	memset(nulls, 0, sizeof(bool) * FORECAST_COLS);
	initStringInfo(&reason);
	rs->nlatest = 0;

	/*
	 * An upstream sync blocks the asset when it lands after the asset's own
	 * build must start, or misses the due time this asset's deadline set
	 * for it (a sync others wait for, like ERP before CRM).
	 */
	for (int k = 0; k < upstream; k++)
	{
		int			i = rs->upstream[k];

		if (critical < 0 || conn_end[i] > conn_end[critical])
			critical = i;
		if (conn_end[i] > build_start || (rs->due_asset[i] == a && conn_end[i] > rs->due[i]))
		{
			if (nblocking > 0)
				keep_latest(rs, conn_end, i);
			blocking[nblocking++] = rs->id[i];
		}
	}
	margin = ready[a] == NO_TIME ? -INFINITY : time_diff(asset->deadline, ready[a]);
	if (ready[a] == NO_TIME || margin < 0)
		risk = "high";
	else if (margin < Max(15 * 60, 0.25 * time_diff(ready[a], fleet->at)))
		risk = "medium";
	else
		risk = "low";
	if (nblocking == 0 && strcmp(risk, "low") != 0 && critical >= 0)
		blocking[nblocking++] = rs->id[critical];

	if (upstream == 0)
		appendStringInfoString(&reason, "no sync feeds it");
	else if (ready[a] == NO_TIME)
		appendStringInfo(&reason, "%s is paused, so its data will not arrive",
						 fleet->conn[critical].name);
	else
		appendStringInfo(&reason, "%d upstream sync%s; the last, %s, is predicted to land at %s",
						 upstream, upstream == 1 ? "" : "s", fleet->conn[critical].name,
						 format_time(conn_end[critical]));
	if (ready[a] != NO_TIME)
		appendStringInfo(&reason, "; ready %s for the deadline %s: %s %s", format_time(ready[a]),
						 format_time(asset->deadline), format_duration(fabs(margin)),
						 margin < 0 ? "late" : "to spare");
	values[0] = Int64GetDatum(asset->id);
	values[1] = TimestampTzGetDatum(asset->deadline);
	nulls[2] = ready[a] == NO_TIME;
	values[2] = TimestampTzGetDatum(ready[a]);
	values[3] = BoolGetDatum(strcmp(risk, "low") != 0);
	values[4] = CStringGetTextDatum(risk);
	values[5] = blocking_array(rs, nblocking);
	values[6] = CStringGetTextDatum(reason.data);
	values[7] = alert_blocking(rs, blocking, nblocking);
	values[8] = Int32GetDatum(nblocking);
}

/* The fleet as of at, planned over the horizon (with explain, with reasons). */
static void
plan_at(PlannedFleet *pf, TimestampTz at, double horizon_s, bool explain)
{
	plan_loaded(pf, fleet_load(at, horizon_s, PLAN_PARTS), horizon_s, explain);
}

/* syncopt.plan(at, horizon): one row per planned sync. */
Datum
syncopt_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	double		horizon_s = interval_seconds(PG_GETARG_INTERVAL_P(1));
	PlannedFleet pf;
	MemoryContext mcxt = CurrentMemoryContext;
	MemoryContext row;

	if (horizon_s <= 0 || horizon_s > 31 * SECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("plan horizon must be positive and at most 31 days"),
				 errdetail("The horizon given was %s.", format_duration(horizon_s)),
				 errhint("Deadlines repeat daily; a horizon of 24 hours to 7 days covers them.")));
	InitMaterializedSRF(fcinfo, 0);
	plan_at(&pf, at, horizon_s, true);
	row = row_context_create();
	for (int k = 0; k < pf.njobs; k++)
	{
		Datum		values[PLAN_COLS];
		bool		nulls[PLAN_COLS];

		MemoryContextSwitchTo(row);
		plan_values(pf.fleet, &pf.jobs[pf.rows[k]], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(mcxt);
		MemoryContextReset(row);
	}
	PG_RETURN_NULL();
}

/* syncopt.sla_risk(at): one row per asset with a deadline. */
Datum
syncopt_sla_risk(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	PlannedFleet pf;
	TimestampTz *conn_end;
	TimestampTz *ready;
	RiskScratch risk;
	MemoryContext mcxt = CurrentMemoryContext;
	MemoryContext row;

	InitMaterializedSRF(fcinfo, 0);
	plan_at(&pf, at, RISK_HORIZON_S, false);
	conn_end = planned_ends(pf.fleet, pf.jobs, pf.njobs);
	ready = asset_ready_times(pf.fleet, conn_end);
	risk_scratch_init(pf.fleet, &risk);
	row = row_context_create();
	for (int a = 0; a < pf.fleet->nasset; a++)
	{
		/* The tuplestore takes sla_risk()'s RISK_COLS of them. */
		Datum		values[FORECAST_COLS];
		bool		nulls[FORECAST_COLS];

		if (pf.fleet->asset[a].deadline == NO_TIME)
			continue;
		MemoryContextSwitchTo(row);
		risk_values(pf.fleet, a, conn_end, ready, &risk, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(mcxt);
		MemoryContextReset(row);
	}
	PG_RETURN_NULL();
}

/*
 * A forecast's blocking connectors as sla_forecast stores them: an array
 * longer than the toaster's target compressed with the column's method,
 * as the insert would compress it (the largest column of a row past the
 * target is compressed first), and otherwise as it is; as it is too when
 * the column's storage does not compress (EXTERNAL or PLAIN).  The
 * table's default target is assumed (no toast_tuple_target is set on it).  Compressed here,
 * the rows are half the size in every copy on their way to the table: at
 * 50,000 connectors the 500 forecasts' arrays are 118 MB, past work_mem
 * in the planning run's CTE, which writes them to a temporary file and
 * reads them back twice.
 */
static Datum
stored_blocking(Datum array, Form_pg_attribute att)
{
	Datum		compressed;

	if (VARSIZE(DatumGetPointer(array)) <= TOAST_TUPLE_TARGET ||
		(att->attstorage != TYPSTORAGE_EXTENDED && att->attstorage != TYPSTORAGE_MAIN))
		return array;
	compressed = toast_compress_datum(array, att->attcompression);
	return compressed != PointerGetDatum(NULL) ? compressed : array;
}

/*
 * One row of plan_and_forecast(): a planned_sync or an sla_forecast row
 * (the composite of column col, the other NULL), with the planning run's
 * id before the given columns.
 */
static Datum
run_row(TupleDesc desc, int col, TupleDesc rowdesc, int64 run_id,
		const Datum *values, const bool *nulls, int ncols)
{
	Datum		row_values[Max(PLAN_COLS, FORECAST_COLS) + 1];
	bool		row_nulls[Max(PLAN_COLS, FORECAST_COLS) + 1];
	Datum		out[2] = {0};
	bool		out_nulls[2] = {true, true};

	row_values[0] = Int64GetDatum(run_id);
	row_nulls[0] = false;
	memcpy(&row_values[1], values, sizeof(Datum) * ncols);
	memcpy(&row_nulls[1], nulls, sizeof(bool) * ncols);
	out[col] = HeapTupleGetDatum(heap_form_tuple(rowdesc, row_values, row_nulls));
	out_nulls[col] = false;
	return HeapTupleGetDatum(heap_form_tuple(desc, out, out_nulls));
}

/*
 * The row type of result column col, checked against the columns filled
 * here (the planning run's id, then ncols of plan() or of the forecast).
 */
static TupleDesc
run_row_desc(TupleDesc result, int col, int ncols)
{
	TupleDesc	desc = lookup_rowtype_tupdesc_copy(TupleDescAttr(result, col)->atttypid, -1);

	if (desc->natts != ncols + 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("syncopt.plan_and_forecast() does not match the row type %s",
						format_type_be(desc->tdtypeid)),
				 errdetail("The row type has %d columns; the function fills %d.", desc->natts, ncols + 1),
				 errhint("Reinstall the extension so that its library and its SQL objects are of one version.")));
	return desc;
}

/* A planning run's plans, kept across plan_and_forecast()'s calls, and the next row. */
typedef struct RunRows
{
	int64		run_id;
	TupleDesc	planned_desc;
	TupleDesc	forecast_desc;
	PlannedFleet day;
	PlannedFleet week;
	TimestampTz *conn_end;
	TimestampTz *ready;
	RiskScratch risk;
	int			next_job;		/* in day.rows */
	int			next_asset;
} RunRows;

/*
 * Plan the fleet as of at for a planning run: the day's plan and the
 * week's, with what the forecast rows read of the week's.  In the caller's
 * memory context, which must outlive the rows: the copies point into the
 * run's shared picture, pinned for as long.
 */
static void
run_rows_init(RunRows *rr, TimestampTz at)
{
	const Fleet *loaded;

	/*
	 * Each plan scores a copy (scoring writes the due times and weights;
	 * the graph's walk is made by the first and shared, fleet_share.c); the
	 * picture is kept for the analytics the run calls next.
	 */
	loaded = fleet_share_load(at, RISK_HORIZON_S);
	fleet_share_pin(CurrentMemoryContext);
	plan_loaded(&rr->day, fleet_copy(loaded, RISK_HORIZON_S, RUN_PLAN_HORIZON_S, PLAN_PARTS),
				RUN_PLAN_HORIZON_S, true);
	plan_loaded(&rr->week, fleet_copy(loaded, RISK_HORIZON_S, RISK_HORIZON_S, PLAN_PARTS),
				RISK_HORIZON_S, false);
	rr->conn_end = planned_ends(rr->week.fleet, rr->week.jobs, rr->week.njobs);
	rr->ready = asset_ready_times(rr->week.fleet, rr->conn_end);
	risk_scratch_init(rr->week.fleet, &rr->risk);
	rr->next_job = 0;
	rr->next_asset = 0;
}

/*
 * syncopt.plan_and_forecast(planner_run_id, at): the planned_sync rows
 * (plan(at, '24 hours')) and the sla_forecast rows (sla_risk(at)) of a
 * planning run, from one load of the fleet.  A row at a time: run_planner()
 * calls it in a select list, where its rows go straight to the statement's
 * one materialisation of them (its CTE) instead of through a tuplestore of
 * the function's first (the forecasts' arrays, 59 MB compressed at 50,000
 * connectors, were written to a temporary file and read back once more).
 */
Datum
syncopt_plan_and_forecast(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	RunRows    *rr;
	Datum		values[Max(PLAN_COLS, FORECAST_COLS)];
	bool		nulls[Max(PLAN_COLS, FORECAST_COLS)];

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext old;
		TupleDesc	desc;

		funcctx = SRF_FIRSTCALL_INIT();
		old = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("syncopt.plan_and_forecast() called in a context that cannot accept its rows")));
		funcctx->tuple_desc = BlessTupleDesc(desc);
		rr = palloc(sizeof(RunRows));
		rr->run_id = PG_GETARG_INT64(0);
		rr->planned_desc = run_row_desc(desc, 0, PLAN_COLS);
		rr->forecast_desc = run_row_desc(desc, 1, FORECAST_COLS);
		run_rows_init(rr, PG_GETARG_TIMESTAMPTZ(1));
		funcctx->user_fctx = rr;
		MemoryContextSwitchTo(old);
	}
	funcctx = SRF_PERCALL_SETUP();
	rr = funcctx->user_fctx;

	/* The planned syncs first, then the forecasts. */
	if (rr->next_job < rr->day.njobs)
	{
		plan_values(rr->day.fleet, &rr->day.jobs[rr->day.rows[rr->next_job++]], values, nulls);
		SRF_RETURN_NEXT(funcctx, run_row(funcctx->tuple_desc, 0, rr->planned_desc, rr->run_id,
										 values, nulls, PLAN_COLS));
	}
	while (rr->next_asset < rr->week.fleet->nasset)
	{
		int			a = rr->next_asset++;

		if (rr->week.fleet->asset[a].deadline == NO_TIME)
			continue;
		risk_values(rr->week.fleet, a, rr->conn_end, rr->ready, &rr->risk, values, nulls);
		values[RISK_BLOCKING] = stored_blocking(values[RISK_BLOCKING],
												TupleDescAttr(rr->forecast_desc, RISK_BLOCKING + 1));
		SRF_RETURN_NEXT(funcctx, run_row(funcctx->tuple_desc, 1, rr->forecast_desc, rr->run_id,
										 values, nulls, FORECAST_COLS));
	}
	SRF_RETURN_DONE(funcctx);
}
