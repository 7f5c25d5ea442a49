/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  syncopt.batch_recommendations(): batch size and parallelism for
 *	  connectors that expose them (Airbyte), a start time for those that
 *	  do not (Fivetran).
 *
 * Airbyte (orchestration.md 5.4): AIMD across runs, one step per
 * recommendation.  A throttled last run (rescheduled, or a rate-limit,
 * quota, timeout or overload message) cuts both knobs to 0.9x; a failure
 * for another reason holds them; a clean run adds one step to the batch
 * size (a tenth of the median batch size seen) and, after three clean runs
 * in a row, one parallel stream.  A throughput curve log(rows/s) = a + b x
 * + c x^2 in x = log(batch size), fitted on the recent successful runs,
 * caps the increase where throughput peaks (c < 0).  Source load windows
 * during the next run scale parallelism by (1 - load), and policy
 * max_batch_size / max_parallelism bound both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "absorb.h"
#include "analytics.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_batch_recommendations);
PG_FUNCTION_INFO_V1(syncopt_airbyte_batch_recommendations);

#define RECENT_RUNS		LAST_RUNS_KEEP	/* runs AIMD and the curve look at */
#define CLEAN_STREAK	3		/* clean runs before adding a stream */
#define BACKOFF			0.9

/*
 * The recent runs of every Airbyte connector, oldest first, with the
 * bounds its policy sets (connector policy, else the tightest tag policy,
 * else the default policy).  The runs are the ones connector_last_runs
 * keeps (one row per connector, no read of the history: at 50,000
 * connectors reading sync_run was half of this function, issue 34) when
 * they answer for `at`: the newest kept run started by then, or fewer
 * than RECENT_RUNS kept (every finished run is among them, and the reader
 * drops those started after `at`).  Otherwise (an instant in the past, as
 * simulate() and backtest() ask; no kept row; kept runs taken by the
 * purge; runs waiting in stats_backlog) sync_run is read for that
 * connector alone, by the statement the fold keeps them with.
 */
static const char *const runs_sql =
"SELECT c.connector_id,"
"       CASE WHEN pc.policy_id IS NOT NULL THEN pc.max_batch_size"
"            WHEN pt.n > 0 THEN pt.max_batch_size ELSE pd.max_batch_size END,"
"       CASE WHEN pc.policy_id IS NOT NULL THEN pc.max_parallelism"
"            WHEN pt.n > 0 THEN pt.max_parallelism ELSE pd.max_parallelism END,"
"       k.kept, lr.started_at, lr.ok, lr.throttled, lr.batch_size, lr.parallelism, lr.rows_per_s, r.*"
"  FROM syncopt.connector c"
"  JOIN syncopt.account a ON a.account_id = c.account_id AND a.vendor = 'airbyte'"
"  LEFT JOIN syncopt.policy pc ON pc.connector_id = c.connector_id"
"  LEFT JOIN syncopt.policy pd ON pd.connector_id IS NULL AND pd.tag IS NULL"
"  CROSS JOIN LATERAL (SELECT count(*) AS n, min(p.max_batch_size) AS max_batch_size,"
"                             min(p.max_parallelism) AS max_parallelism"
"                        FROM syncopt.policy p WHERE p.tag = ANY (c.tags)) pt"
"  LEFT JOIN syncopt.connector_last_runs lr ON lr.connector_id = c.connector_id"
"  LEFT JOIN (SELECT DISTINCT unnest(b.connector_id) AS connector_id FROM syncopt.stats_backlog b) backlog"
"         ON backlog.connector_id = c.connector_id"
"  CROSS JOIN LATERAL (SELECT coalesce(backlog.connector_id IS NULL"
"                                      AND (cardinality(lr.started_at) < " CppAsString2(RECENT_RUNS)
"                                           OR lr.started_at[" CppAsString2(RECENT_RUNS) "] <= $1),"
"                                      false) AS kept) k"
"  CROSS JOIN LATERAL (" LAST_RUNS_SELECT("r.connector_id = c.connector_id AND r.started_at <= $1 AND NOT k.kept") ") r"
" WHERE c.deleted_at IS NULL";

/* Columns of runs_sql: the policy bounds, then two sets of run arrays. */
enum
{
	RC_ID = 1, RC_MAX_BATCH, RC_MAX_PARALLELISM, RC_KEPT, RC_KEPT_RUNS, RC_READ_RUNS = RC_KEPT_RUNS + 6
};

/* One past run as AIMD and the curve see it. */
typedef struct RunSample
{
	bool		ok;
	bool		throttled;
	int			batch;
	int			parallelism;
	double		rows_per_s;		/* NaN when unknown */
} RunSample;

typedef struct ConnectorRuns
{
	int			n;
	RunSample	run[RECENT_RUNS];
	int			max_batch;		/* 0: no policy bound */
	int			max_parallelism;
} ConnectorRuns;

/* What read_runs fills: the fleet's connectors' recent runs, by index. */
typedef struct RunsLoading
{
	const Fleet *fleet;
	ConnectorRuns *runs;
	MemoryContext scratch;		/* one row's arrays, reset after it */
} RunsLoading;

/* The elements of array column n (NULL: none), with their null flags. */
static int
run_array(HeapTuple tup, TupleDesc desc, int n, Oid elemtype, int16 len, bool byval, char align,
		  Datum **elems, bool **nulls)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tup, desc, n, &isnull);
	int			count = 0;

	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(d), elemtype, len, byval, align, elems, nulls, &count);
	return count;
}

/*
 * Row reader of runs_sql: the recent runs of one Airbyte connector, the
 * kept ones or those read from sync_run (column RC_KEPT says which),
 * those started by the fleet's instant.
 */
static void
read_runs(HeapTuple tup, TupleDesc desc, void *arg)
{
	RunsLoading *load = arg;
	bool		isnull;
	int			ci = fleet_connector_index(load->fleet,
										   DatumGetInt64(SPI_getbinval(tup, desc, RC_ID, &isnull)));
	int			base;
	ConnectorRuns *cr;
	Datum	   *started,
			   *ok,
			   *throttled,
			   *batch,
			   *par,
			   *tput;
	bool	   *started_null,
			   *ok_null,
			   *throttled_null,
			   *batch_null,
			   *par_null,
			   *tput_null;
	int			n;
	Datum		d;

	if (ci < 0)
		return;
	MemoryContextSwitchTo(load->scratch);
	cr = &load->runs[ci];
	d = SPI_getbinval(tup, desc, RC_MAX_BATCH, &isnull);
	cr->max_batch = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, RC_MAX_PARALLELISM, &isnull);
	cr->max_parallelism = isnull ? 0 : DatumGetInt32(d);
	base = DatumGetBool(SPI_getbinval(tup, desc, RC_KEPT, &isnull)) ? RC_KEPT_RUNS : RC_READ_RUNS;
	n = run_array(tup, desc, base, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
				  &started, &started_null);
	/* The arrays are written together, so they have one length. */
	if (run_array(tup, desc, base + 1, BOOLOID, 1, true, TYPALIGN_CHAR, &ok, &ok_null) != n ||
		run_array(tup, desc, base + 2, BOOLOID, 1, true, TYPALIGN_CHAR, &throttled, &throttled_null) != n ||
		run_array(tup, desc, base + 3, INT4OID, 4, true, TYPALIGN_INT, &batch, &batch_null) != n ||
		run_array(tup, desc, base + 4, INT4OID, 4, true, TYPALIGN_INT, &par, &par_null) != n ||
		run_array(tup, desc, base + 5, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &tput, &tput_null) != n)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the last runs kept for connector %lld differ in length",
						(long long) load->fleet->conn[ci].id),
				 errdetail("The six arrays of connector_last_runs are written together by the fold and have one element per run."),
				 errhint("Delete the connector's connector_last_runs row: its runs are then read from sync_run until its next fold.")));
	for (int i = 0; i < n && cr->n < RECENT_RUNS; i++)
	{
		RunSample  *r;

		if (started_null[i] || DatumGetTimestampTz(started[i]) > load->fleet->at)
			continue;
		r = &cr->run[cr->n++];
		r->ok = !ok_null[i] && DatumGetBool(ok[i]);
		r->throttled = !throttled_null[i] && DatumGetBool(throttled[i]);
		r->batch = batch_null[i] ? 0 : DatumGetInt32(batch[i]);
		r->parallelism = par_null[i] ? 0 : DatumGetInt32(par[i]);
		r->rows_per_s = tput_null[i] ? NAN : DatumGetFloat8(tput[i]);
	}
	MemoryContextSwitchTo(MemoryContextGetParent(load->scratch));
	MemoryContextReset(load->scratch);
}

/*
 * Read the recent runs into a per-connector array aligned with the fleet,
 * through a cursor (spi_run_each): the rows of every Airbyte connector are
 * never held at once.
 */
static ConnectorRuns *
load_runs(const Fleet *fleet)
{
	MemoryContext mcxt = CurrentMemoryContext;
	RunsLoading load = {fleet, palloc0(sizeof(ConnectorRuns) * Max(fleet->nconn, 1)),
	AllocSetContextCreate(mcxt, "syncopt batch runs row", ALLOCSET_SMALL_SIZES)};
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(fleet->at)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	MemoryContextSwitchTo(mcxt);
	(void) spi_run_each(runs_sql, 1, types, values, NULL, read_runs, &load);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	MemoryContextDelete(load.scratch);
	return load.runs;
}

/*
 * Least-squares y = a + b x + c x^2; false when the points do not pin it
 * down (fewer than five or fewer than three distinct x).
 */
static bool
fit_quadratic(const double *x, const double *y, int n, double coef[3])
{
	double		s[5] = {0},
				t[3] = {0},
				m[3][4];
	int			distinct = 0;

	for (int i = 0; i < n; i++)
	{
		bool		seen = false;

		for (int j = 0; j < i; j++)
			seen |= fabs(x[j] - x[i]) < 1e-9;
		distinct += !seen;
		for (int p = 0; p < 5; p++)
			s[p] += pow(x[i], p);
		for (int p = 0; p < 3; p++)
			t[p] += y[i] * pow(x[i], p);
	}
	if (n < 5 || distinct < 3)
		return false;
	/* Normal equations, solved by Gaussian elimination with pivoting. */
	for (int r = 0; r < 3; r++)
	{
		for (int col = 0; col < 3; col++)
			m[r][col] = s[r + col];
		m[r][3] = t[r];
	}
	for (int p = 0; p < 3; p++)
	{
		int			best = p;

		for (int r = p + 1; r < 3; r++)
			if (fabs(m[r][p]) > fabs(m[best][p]))
				best = r;
		if (fabs(m[best][p]) < 1e-12)
			return false;
		for (int col = 0; col < 4; col++)
		{
			double		tmp = m[p][col];

			m[p][col] = m[best][col];
			m[best][col] = tmp;
		}
		for (int r = 0; r < 3; r++)
		{
			double		f;

			if (r == p)
				continue;
			f = m[r][p] / m[p][p];
			for (int col = p; col < 4; col++)
				m[r][col] -= f * m[p][col];
		}
	}
	for (int p = 0; p < 3; p++)
		coef[p] = m[p][3] / m[p][p];
	return true;
}

/* Largest load factor of a source/connector window during [start, end). */
static const Window *
busiest_window(const Fleet *fleet, const Connector *c, TimestampTz start, TimestampTz end)
{
	const Window *best = NULL;

	for (int t = 0; t < fleet->nwin; t++)
	{
		const Window *w = &fleet->win[t];

		if (w->ends <= start || w->starts >= end || w->load_factor <= 0 || !window_applies(w, c))
			continue;
		if (best == NULL || w->load_factor > best->load_factor)
			best = w;
	}
	return best;
}

/* Output of one recommendation. */
typedef struct BatchAdvice
{
	int			batch;			/* 0: none */
	int			parallelism;
	double		rows_per_s;		/* NaN: unknown */
	double		duration_s;
	double		confidence;
	char	   *schedule;		/* Fivetran: when to start */
	StringInfoData reason;
} BatchAdvice;

/* AIMD plus curve for one Airbyte connector. */
static void
advise_airbyte(const Fleet *fleet, const Connector *c, const ConnectorRuns *cr, BatchAdvice *adv)
{
	double		x[RECENT_RUNS],
				y[RECENT_RUNS],
				tput[RECENT_RUNS],
				batches[RECENT_RUNS],
				coef[3];
	int			nfit = 0,
				nb = 0,
				clean = 0;
	int			batch = c->batch_size,
				par = c->parallelism;
	const RunSample *last = cr->n > 0 ? &cr->run[cr->n - 1] : NULL;
	const Window *busy;
	double		mean = 0,
				var = 0,
				step;
	bool		have_curve;

	if (batch == 0 && last)
		batch = last->batch;
	if (par == 0 && last)
		par = last->parallelism;
	for (int i = 0; i < cr->n; i++)
	{
		const RunSample *r = &cr->run[i];

		if (r->batch > 0)
			batches[nb++] = r->batch;
		if (!isnan(r->rows_per_s) && r->batch > 0)
		{
			x[nfit] = log(r->batch);
			y[nfit] = log(r->rows_per_s);
			tput[nfit++] = r->rows_per_s;
		}
		clean = (r->ok && !r->throttled) ? clean + 1 : 0;
	}
	if (batch == 0 || last == NULL)
	{
		adv->batch = batch;
		adv->parallelism = par;
		adv->rows_per_s = NAN;
		adv->duration_s = c->pred.p50_s;
		adv->confidence = 0;
		appendStringInfoString(&adv->reason, batch == 0
							   ? "batch size unknown: no run reported one; keep the current settings"
							   : "no finished run yet: keep the current settings");
		return;
	}
	step = Max(1, round((nb > 0 ? median_of(batches, nb) : batch) / 10.0));

	if (last->throttled)
	{
		adv->batch = Max(1, (int) floor(batch * BACKOFF));
		adv->parallelism = par > 0 ? Max(1, (int) floor(par * BACKOFF)) : 0;
		appendStringInfoString(&adv->reason, "the last run was throttled (rate limit, quota or timeout): back off to 0.9x");
	}
	else if (!last->ok)
	{
		adv->batch = batch;
		adv->parallelism = par;
		appendStringInfoString(&adv->reason, "the last run failed for a reason load does not explain: hold");
	}
	else
	{
		adv->batch = batch + (int) step;
		adv->parallelism = (par > 0 && clean >= CLEAN_STREAK) ? par + 1 : par;
		appendStringInfo(&adv->reason, "the last run was clean: batch +%d (AIMD step)", (int) step);
		if (adv->parallelism > par)
			appendStringInfo(&adv->reason, ", %d clean runs in a row: one more stream", clean);
	}

	have_curve = fit_quadratic(x, y, nfit, coef);
	if (have_curve && coef[2] < 0)
	{
		double		peak = exp(-coef[1] / (2 * coef[2]));

		if (adv->batch > peak && peak >= 1)
		{
			adv->batch = Max(1, (int) lround(peak));
			appendStringInfo(&adv->reason, "; throughput peaks near batch %d on the fitted curve, so no larger", adv->batch);
		}
	}

	busy = busiest_window(fleet, c, fleet->at, time_add(fleet->at, c->pred.p90_s));
	if (busy && adv->parallelism > 0)
	{
		int			cap = Max(1, (int) floor(adv->parallelism * (1 - busy->load_factor)));

		if (cap < adv->parallelism)
		{
			adv->parallelism = cap;
			appendStringInfo(&adv->reason, "; %s (load %.2f) during the run caps parallelism at %d",
							 busy->name, busy->load_factor, cap);
		}
	}
	if (cr->max_batch > 0 && adv->batch > cr->max_batch)
	{
		adv->batch = cr->max_batch;
		appendStringInfo(&adv->reason, "; policy max_batch_size %d", cr->max_batch);
	}
	if (cr->max_parallelism > 0 && adv->parallelism > cr->max_parallelism)
	{
		adv->parallelism = cr->max_parallelism;
		appendStringInfo(&adv->reason, "; policy max_parallelism %d", cr->max_parallelism);
	}

	/* Expected throughput: the curve where it exists, else the recent median. */
	if (have_curve)
	{
		double		xr = log(adv->batch);

		adv->rows_per_s = exp(coef[0] + coef[1] * xr + coef[2] * xr * xr);
	}
	else
		adv->rows_per_s = nfit > 0 ? median_of(tput, nfit) : NAN;
	adv->duration_s = (!isnan(adv->rows_per_s) && !isnan(c->pred.rows) && adv->rows_per_s > 0)
		? Max(c->pred.rows / adv->rows_per_s, 1) : c->pred.p50_s;
	for (int i = 0; i < nfit; i++)
		mean += tput[i] / nfit;
	for (int i = 0; i < nfit; i++)
		var += (tput[i] - mean) * (tput[i] - mean) / Max(nfit - 1, 1);
	adv->confidence = nfit == 0 ? 0 : ((double) nfit / (nfit + 5)) / (1 + sqrt(var) / Max(mean, 1e-9));
	appendStringInfo(&adv->reason, "; %d run%s with throughput%s", nfit, nfit == 1 ? "" : "s",
					 have_curve ? ", curve fitted" : "");
}

/* Schedule advice for a connector with no batch knob (Fivetran). */
static void
advise_schedule(const Fleet *fleet, const Connector *c, const Score *s, BatchAdvice *adv)
{
	adv->batch = 0;
	adv->parallelism = 0;
	adv->rows_per_s = NAN;
	adv->duration_s = c->pred.p50_s;
	adv->confidence = (double) c->pred.samples / (c->pred.samples + 5);
	appendStringInfoString(&adv->reason, "Fivetran exposes no batch size or parallelism; ");
	if (c->due == NO_TIME)
	{
		adv->schedule = "keep the current schedule";
		appendStringInfoString(&adv->reason, "nothing downstream has a deadline, so its timing is free");
		return;
	}
	{
		/* Start a tenth of P90 before the latest start, on a quarter hour. */
		TimestampTz start = time_add(s->latest_start, -0.1 * c->pred.p90_s);
		const Window *busy;

		start -= start % (15 * USECS_PER_MINUTE);
		busy = busiest_window(fleet, c, start, time_add(start, c->pred.p90_s));
		adv->schedule = psprintf("start by %s", format_time(start));
		appendStringInfo(&adv->reason, "to meet %s it should start by %s (latest start minus 10%% of P90 %s)",
						 fleet->asset[c->due_asset].name, format_time(start),
						 format_duration(c->pred.p90_s));
		if (busy)
			appendStringInfo(&adv->reason, "; that overlaps %s (load %.2f): start before it instead",
							 busy->name, busy->load_factor);
	}
}

/*
 * The rows of batch_recommendations(at): one per connector, or with
 * airbyte_only one per Airbyte connector.  Those need only the duration
 * predictions, not the fleet's scores (the lineage pass and every
 * connector's score), which a Fivetran connector's start time reads.
 */
static void
batch_rows(FunctionCallInfo fcinfo, bool airbyte_only)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	Fleet	   *fleet;
	Score	   *scores = NULL;
	ConnectorRuns *runs;
	MemoryContext mcxt = CurrentMemoryContext;
	MemoryContext row;

	InitMaterializedSRF(fcinfo, 0);
	fleet = fleet_get(at, 2 * SECS_PER_DAY,
					  FLEET_GRAPH | FLEET_WINDOWS | FLEET_NOT_PLANNING | FLEET_PREDICT);
	if (airbyte_only)
		predict_fleet(fleet);
	else
		scores = score_fleet(fleet, false);
	runs = load_runs(fleet);
	row = row_context_create();
	for (int i = 0; i < fleet->nconn; i++)
	{
		Connector  *c = &fleet->conn[i];
		BatchAdvice adv = {0};
		Datum		values[10];
		bool		nulls[10] = {0};

		if (airbyte_only && !c->airbyte)
			continue;
		MemoryContextSwitchTo(row);
		initStringInfo(&adv.reason);
		if (c->airbyte)
			advise_airbyte(fleet, c, &runs[i], &adv);
		else
			advise_schedule(fleet, c, &scores[i], &adv);
		values[0] = Int64GetDatum(c->id);
		nulls[1] = c->batch_size == 0;
		values[1] = Int32GetDatum(c->batch_size);
		nulls[2] = adv.batch == 0;
		values[2] = Int32GetDatum(adv.batch);
		nulls[3] = c->parallelism == 0;
		values[3] = Int32GetDatum(c->parallelism);
		nulls[4] = adv.parallelism == 0;
		values[4] = Int32GetDatum(adv.parallelism);
		nulls[5] = isnan(adv.rows_per_s);
		values[5] = Float8GetDatum(adv.rows_per_s);
		values[6] = interval_datum(adv.duration_s);
		nulls[7] = adv.schedule == NULL;
		if (adv.schedule)
			values[7] = CStringGetTextDatum(adv.schedule);
		values[8] = Float8GetDatum(adv.confidence);
		values[9] = CStringGetTextDatum(adv.reason.data);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(mcxt);
		MemoryContextReset(row);
	}
}

/* syncopt.batch_recommendations(at): one row per connector. */
Datum
syncopt_batch_recommendations(PG_FUNCTION_ARGS)
{
	batch_rows(fcinfo, false);
	PG_RETURN_NULL();
}

/*
 * syncopt.airbyte_batch_recommendations(at): batch_recommendations(at)
 * of the Airbyte connectors only, what a planning run's batch-size
 * proposals read.
 */
Datum
syncopt_airbyte_batch_recommendations(PG_FUNCTION_ARGS)
{
	batch_rows(fcinfo, true);
	PG_RETURN_NULL();
}
