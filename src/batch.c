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
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_batch_recommendations);
PG_FUNCTION_INFO_V1(syncopt_airbyte_batch_recommendations);

#define RECENT_RUNS		12		/* runs AIMD and the curve look at */
#define CLEAN_STREAK	3		/* clean runs before adding a stream */
#define BACKOFF			0.9

/*
 * The recent runs of every Airbyte connector, oldest first, with the
 * bounds its policy sets (connector policy, else the tightest tag policy,
 * else the default policy).  Index-served: RECENT_RUNS per connector.
 */
static const char *const runs_sql =
"SELECT c.connector_id, r.status = 'succeeded', r.batch_size, r.parallelism, r.rows::float8,"
"       CASE WHEN r.duration_known THEN extract(epoch FROM r.finished_at - r.started_at)::float8 END,"
"       r.status = 'rescheduled' OR coalesce(r.error_message ~*"
"           'rate.?limit|too many requests|429|quota|time(d)? ?out|overload', false),"
"       CASE WHEN pc.policy_id IS NOT NULL THEN pc.max_batch_size"
"            WHEN pt.n > 0 THEN pt.max_batch_size ELSE pd.max_batch_size END,"
"       CASE WHEN pc.policy_id IS NOT NULL THEN pc.max_parallelism"
"            WHEN pt.n > 0 THEN pt.max_parallelism ELSE pd.max_parallelism END"
"  FROM syncopt.connector c"
"  JOIN syncopt.account a ON a.account_id = c.account_id AND a.vendor = 'airbyte'"
"  LEFT JOIN syncopt.policy pc ON pc.connector_id = c.connector_id"
"  LEFT JOIN syncopt.policy pd ON pd.connector_id IS NULL AND pd.tag IS NULL"
"  CROSS JOIN LATERAL (SELECT count(*) AS n, min(p.max_batch_size) AS max_batch_size,"
"                             min(p.max_parallelism) AS max_parallelism"
"                        FROM syncopt.policy p WHERE p.tag = ANY (c.tags)) pt"
"  CROSS JOIN LATERAL (SELECT * FROM syncopt.sync_run r"
"                       WHERE r.connector_id = c.connector_id AND r.status <> 'running'"
"                         AND r.started_at <= $1"
"                       ORDER BY r.started_at DESC LIMIT " CppAsString2(RECENT_RUNS) ") r"
" WHERE c.deleted_at IS NULL"
" ORDER BY c.connector_id, r.started_at";

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

/* What read_run fills: the fleet's connectors' recent runs, by index. */
typedef struct RunsLoading
{
	const Fleet *fleet;
	ConnectorRuns *runs;
	int			last;			/* index of the previous row's connector */
} RunsLoading;

/*
 * Row reader of runs_sql: one recent run of an Airbyte connector.  Rows
 * come by connector, so the previous row's index is tried first.
 */
static void
read_run(HeapTuple tup, TupleDesc desc, void *arg)
{
	RunsLoading *load = arg;
	const Fleet *fleet = load->fleet;
	bool		isnull;
	int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
	int			ci = (load->last >= 0 && fleet->conn[load->last].id == id)
		? load->last : fleet_connector_index(fleet, id);
	ConnectorRuns *cr;
	RunSample  *r;
	Datum		d;
	double		rows,
				dur;

	load->last = ci;
	if (ci < 0 || load->runs[ci].n >= RECENT_RUNS)
		return;
	cr = &load->runs[ci];
	r = &cr->run[cr->n++];
	r->ok = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	d = SPI_getbinval(tup, desc, 3, &isnull);
	r->batch = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 4, &isnull);
	r->parallelism = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 5, &isnull);
	rows = isnull ? NAN : DatumGetFloat8(d);
	d = SPI_getbinval(tup, desc, 6, &isnull);
	dur = isnull ? NAN : DatumGetFloat8(d);
	r->rows_per_s = (r->ok && !isnan(rows) && !isnan(dur) && dur > 0 && rows > 0) ? rows / dur : NAN;
	r->throttled = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	d = SPI_getbinval(tup, desc, 8, &isnull);
	cr->max_batch = isnull ? 0 : DatumGetInt32(d);
	d = SPI_getbinval(tup, desc, 9, &isnull);
	cr->max_parallelism = isnull ? 0 : DatumGetInt32(d);
}

/*
 * Read the recent runs into a per-connector array aligned with the fleet,
 * through a cursor (spi_run_each): the RECENT_RUNS rows of every Airbyte
 * connector are never held at once.
 */
static ConnectorRuns *
load_runs(const Fleet *fleet)
{
	MemoryContext mcxt = CurrentMemoryContext;
	RunsLoading load = {fleet, palloc0(sizeof(ConnectorRuns) * Max(fleet->nconn, 1)), -1};
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1] = {TimestampTzGetDatum(fleet->at)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	MemoryContextSwitchTo(mcxt);
	(void) spi_run_each(runs_sql, 1, types, values, NULL, read_run, &load);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
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
