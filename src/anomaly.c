/*-------------------------------------------------------------------------
 *
 * anomaly.c
 *	  syncopt.anomalies(since): runs whose duration, rows, credits or
 *	  freshness lag stand far from the connector's own trailing history.
 *
 * Method (orchestration.md 4 and 8): for each run since `since` and each
 * metric it reports, the training set is the connector's runs in the
 * syncopt.anomaly_training_window before `since` (the detection period is
 * kept out of training), restricted to the same day of week when that
 * still leaves syncopt.anomaly_min_training runs.  Values are taken on the
 * log scale, y = log(1 + x), because these metrics are skewed: on raw
 * values the ordinary right tail looks like spikes and a 95% row drop can
 * never score far.  The robust z-score is 0.6745 (y - median) / MAD
 * (Iglewicz & Hoaglin), the MAD corrected for small samples, falling back
 * to the mean absolute deviation x 1.2533 when MAD is 0; for durations and
 * credits the spread is taken as at least MIN_LOG_SPREAD.  A duration is
 * judged as the residual from a Theil-Sen line on log(1 + rows) when rows
 * vary, so that a sync that moved more rows may take longer, with its own
 * level on weekends.  A run is flagged when |z| is at least
 * syncopt.anomaly_threshold, in a direction that matters for the metric
 * (longer, costlier, later; rows both ways), and the change is at least
 * syncopt.anomaly_min_change of the expected value (small-change guard).
 * Only the training window is read, never the whole history, from the
 * history's index alone (runs_sql), through a cursor, and it is judged one
 * connector at a time: at 10,000 connectors the window is 200,000 runs,
 * which an SPI result held whole (17% of the function's time went to
 * materialising it).  The window comes by connector and each connector's
 * runs are put in time order here: a sort of the whole window by connector
 * and start in the query was about two thirds of the read.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "spi_run.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_anomalies);

#define SCORE_CAP		1000.0	/* |z| reported when history never varied */
#define FIT_MAX_RUNS	100		/* latest training runs the rows line uses */
#define DAY_TYPE_MIN_RUNS 3		/* runs of each day type before the line's
								 * level is split between weekdays and
								 * weekends */

/*
 * The least spread, as a standard deviation on the log scale, that
 * durations and credits are judged with.  Syncs that finish in their fixed
 * overhead (tens of seconds) pile up at one value, and a handful of
 * training runs can agree by chance: either collapses the MAD, and a run
 * 1.6x its usual length would score 20.  With this floor and the default
 * threshold, a duration must be about twice its expected value before it
 * can be flagged however steady its history.
 */
#define MIN_LOG_SPREAD	0.2

typedef enum Metric
{
	METRIC_DURATION,
	METRIC_ROWS,
	METRIC_CREDITS,
	METRIC_LAG,
	NUM_METRICS
} Metric;

static const char *const metric_names[NUM_METRICS] = {"duration", "rows", "credits", "freshness_lag"};
static const char *const metric_units[NUM_METRICS] = {"s", " rows", " credits", "s"};

/* Directions that matter: duration, credits and lag only upwards. */
static const bool metric_drops[NUM_METRICS] = {false, true, false, false};

/*
 * Metrics measured with run-to-run noise (the same work takes a different
 * time), judged with at least MIN_LOG_SPREAD; row counts and the schedule's
 * lag can be exactly steady.
 */
static const bool metric_noisy[NUM_METRICS] = {true, false, true, false};

/*
 * The training window of every connector (runs_sql) or of those of an
 * array (runs_of_sql: a planning run judges again only the connectors
 * whose runs changed), by connector.
 *
 * The whole fleet's window is one read of the history by connector: on the
 * weekly partitions the collector keeps, partition pruning leaves the weeks
 * the window touches, each read in the order of its (connector_id,
 * started_at DESC) index, leaf page after leaf page, and merged.  A scan of
 * its own per connector (runs_of_sql's lateral join) descended each of
 * those weeks' indexes once per connector: at 10,000 connectors x 100
 * runs, 92,000 buffer reads instead of 9,400, and a whole call in a backend
 * that had made it once took 0.56-0.57 s of CPU instead of 0.36-0.53 s.
 * Where the window is a small part of a partition (the default one holding
 * a long history from before the weeks existed), the planner reads it by
 * start and sorts it, with the partition's statistics, so the read does not
 * grow with the history there either (a 3-day window of 25 days: 0.60 ->
 * 0.27 s in a fresh backend, 0.10 -> 0.16 s in one that had read it).
 *
 * A few connectors' windows are read one connector after another, each an
 * index scan bounded by the window's start, found by the primary key's
 * index in its order; the subquery's OFFSET 0 keeps it from being
 * flattened into a plain join, which the planner may run as a merge join
 * over the whole index.
 *
 * The columns are all in that index (INCLUDE), so that the window is read
 * from the index alone, not a heap fetch per run: a heap fetch per run was
 * most of the read at 50,000 connectors.  The duration is taken from the
 * two times here (read_run), not by extract(epoch ...)::float8, which goes
 * through numeric and its text form and gives the same double.  The window
 * of every connector is read, also of those that did not run since
 * `since`, which judge_held skips: finding those that did with the query (a
 * semi-join on the runs since `since`) read the last day's runs from the
 * heap and cost more than the window itself.
 */
#define RUN_COLUMNS \
"SELECT r.run_id, r.connector_id, r.started_at, r.finished_at," \
"       r.status = 'succeeded', r.duration_known, r.rows::float8, r.credits::float8"

static const char *const runs_sql = RUN_COLUMNS
"  FROM syncopt.sync_run r"
" WHERE r.started_at >= $1 - make_interval(secs => $2)"
"   AND r.status <> 'running'"
" ORDER BY r.connector_id";

static const char *const runs_of_sql = RUN_COLUMNS
"  FROM syncopt.connector c"
" CROSS JOIN LATERAL (SELECT x.run_id, x.connector_id, x.started_at, x.finished_at, x.status,"
"                            x.duration_known, x.rows, x.credits"
"                       FROM syncopt.sync_run x"
"                      WHERE x.connector_id = c.connector_id"
"                        AND x.started_at >= $1 - make_interval(secs => $2)"
"                        AND x.status <> 'running'"
"                     OFFSET 0) r"
" WHERE c.connector_id = ANY ($3)"
" ORDER BY c.connector_id";

/* The columns of runs_sql. */
enum
{
	RUN_COL_ID,
	RUN_COL_CONNECTOR,
	RUN_COL_STARTED,
	RUN_COL_FINISHED,
	RUN_COL_SUCCEEDED,
	RUN_COL_DURATION_KNOWN,
	RUN_COL_ROWS,
	RUN_COL_CREDITS,
	NUM_RUN_COLS
};

/* One run's metrics (NaN: not reported). */
typedef struct RunMetrics
{
	int64		run_id;
	int64		connector_id;
	TimestampTz started_at;
	double		value[NUM_METRICS];
	int			dow;
	bool		succeeded;
} RunMetrics;

/* A duration's expected log as a line on log(1 + rows), with residuals. */
typedef struct RowsFit
{
	bool		ok;
	double		a[2];			/* level on weekdays, on weekends */
	bool		by_day_type;	/* whether weekends have a level of their own */
	double		b;
	double		lo;				/* fewest log(1 + rows) in training */
	int			n;
	double		resid[FIT_MAX_RUNS];
} RowsFit;

/* Whether a UTC day of week (0 = Sunday) is a weekend day. */
static inline bool
is_weekend(int dow)
{
	return dow == 0 || dow == 6;
}

/*
 * What a metric's value is judged against: the training values' median
 * and spread.  The same for every run of a connector judged on the same
 * training set (a day of week, or the rows line), so it is worked out once
 * per connector and training set, not for each run and metric.
 */
typedef struct Baseline
{
	bool		known;			/* worked out yet */
	bool		seasonal;		/* of the same day of week only */
	int			n;				/* training values */
	double		center;			/* their median */
	double		mad;			/* their corrected MAD, at least the floor */
	double		meanad;			/* their mean absolute deviation */
} Baseline;

/*
 * The baseline of n training values, which are residuals of a fit of
 * `fitted` parameters (1: the median alone), with a spread of at least
 * min_spread standard deviations on the log scale.
 */
static void
baseline_of(Baseline *base, const double *train, int n, int fitted, double min_spread)
{
	double	   *dev;

	base->known = true;
	base->n = n;
	if (n < syncopt_anomaly_min_training)
		return;
	base->center = median_of(train, n);
	dev = palloc(sizeof(double) * n);
	base->meanad = 0;
	for (int i = 0; i < n; i++)
	{
		dev[i] = fabs(train[i] - base->center);
		base->meanad += dev[i] / n;
	}

	/*
	 * The sample MAD runs small in small samples (Croux & Rousseeuw's n / (n
	 * - 0.8)), and more so for residuals of parameters fitted to the same
	 * runs (the degrees of freedom the fit used).
	 */
	base->mad = quantile(dev, n, 0.5) * n / (n - 0.8) * sqrt((double) n / (n - fitted));
	pfree(dev);
	base->mad = Max(base->mad, 0.6745 * min_spread);
}

/* Robust z-score of x against a baseline. */
static double
robust_z(double x, const Baseline *base)
{
	if (base->mad > 0)
		return 0.6745 * (x - base->center) / base->mad;
	if (base->meanad > 0)
		return (x - base->center) / (1.2533 * base->meanad);
	if (x == base->center)
		return 0;
	return x > base->center ? SCORE_CAP : -SCORE_CAP;
}

/*
 * The training runs of metric m for a run on day of week dow, as log(1 +
 * value): the same weekday first, all of them when that leaves too few.
 * Returns how many; *seasonal says which.
 */
static int
training_set(const RunMetrics *runs, int first, int last, TimestampTz since,
			 int dow, int m, double *ys, bool *seasonal)
{
	int			n = 0;

	for (int pass = 0; pass < 2 && n < syncopt_anomaly_min_training; pass++)
	{
		*seasonal = pass == 0;
		n = 0;
		for (int j = first; j < last && runs[j].started_at < since; j++)
			if (!isnan(runs[j].value[m]) && (!*seasonal || runs[j].dow == dow))
				ys[n++] = log1p(runs[j].value[m]);
	}
	return n;
}

/*
 * How a connector's durations scale with the rows its syncs move: the
 * Theil-Sen line of log(1 + duration) on log(1 + rows) over its latest
 * training runs (the median of pairwise slopes, kept at or above 0, so that
 * an anomaly left in the training window does not tilt it), with the
 * training residuals.  Its level is the median residual of weekday runs
 * for weekdays and of weekend runs for weekends when there are enough of
 * each (sources are quieter on weekends, so the same rows go faster), else
 * the median of all.  fit->ok is false when some training run has no row
 * count, there are too few, or the rows never varied.
 */
static void
fit_rows(const RunMetrics *runs, int first, int last, TimestampTz since, RowsFit *fit)
{
	double		xs[FIT_MAX_RUNS];
	bool		weekend[FIT_MAX_RUNS];
	double		part[FIT_MAX_RUNS];
	int			nweekend = 0;
	double	   *slopes;
	double		median;
	double		hi = -INFINITY;
	int			n = 0,
				k = 0;

	fit->ok = false;
	fit->lo = INFINITY;
	for (int j = last - 1; j >= first && n < FIT_MAX_RUNS; j--)
	{
		if (runs[j].started_at >= since || isnan(runs[j].value[METRIC_DURATION]))
			continue;
		if (isnan(runs[j].value[METRIC_ROWS]))
			return;
		fit->resid[n] = log1p(runs[j].value[METRIC_DURATION]);
		xs[n] = log1p(runs[j].value[METRIC_ROWS]);
		weekend[n] = is_weekend(runs[j].dow);
		nweekend += weekend[n];
		fit->lo = Min(fit->lo, xs[n]);
		hi = Max(hi, xs[n]);
		n++;
	}
	if (n < syncopt_anomaly_min_training || hi <= fit->lo)
		return;
	slopes = palloc(sizeof(double) * n * (n - 1) / 2);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (xs[j] != xs[i])
				slopes[k++] = (fit->resid[j] - fit->resid[i]) / (xs[j] - xs[i]);
	/* Not within Max(), which would select the median twice. */
	median = quantile(slopes, k, 0.5);
	fit->b = Max(median, 0);
	pfree(slopes);
	for (int i = 0; i < n; i++)
		fit->resid[i] -= fit->b * xs[i];
	fit->by_day_type = nweekend >= DAY_TYPE_MIN_RUNS && n - nweekend >= DAY_TYPE_MIN_RUNS;
	for (int w = 0; w < 2; w++)
	{
		int			m = 0;

		for (int i = 0; i < n; i++)
			if (!fit->by_day_type || weekend[i] == w)
				part[m++] = fit->resid[i];
		fit->a[w] = median_of(part, m);
	}
	for (int i = 0; i < n; i++)
		fit->resid[i] -= fit->a[weekend[i]];
	fit->n = n;
	fit->ok = true;
}

/* Judge the runs of one connector (runs[first..last)) and emit anomalies. */
static void
judge_connector(RunMetrics *runs, int first, int last, TimestampTz since, ReturnSetInfo *rsinfo)
{
	double	   *ys = palloc(sizeof(double) * (last - first));
	RowsFit		fit;
	Baseline	rows_line = {0};
	Baseline	by_day[NUM_METRICS][7] = {{{0}}};

	fit_rows(runs, first, last, since, &fit);
	if (fit.ok)
		baseline_of(&rows_line, fit.resid, fit.n, 2 + fit.by_day_type,
					metric_noisy[METRIC_DURATION] ? MIN_LOG_SPREAD : 0);
	for (int i = first; i < last; i++)
	{
		RunMetrics *r = &runs[i];

		if (r->started_at < since)
			continue;
		for (int m = 0; m < NUM_METRICS; m++)
		{
			double		x = r->value[m];
			double		y = log1p(x);
			double		rows_x = log1p(r->value[METRIC_ROWS]);
			double		level = 0;
			Baseline   *base;
			double		expected,
						z,
						change;
			bool		by_rows;
			Datum		values[8];
			bool		nulls[8] = {0};
			StringInfoData reason;

			if (isnan(x))
				continue;

			/*
			 * A long sync that moved many rows is expected to be long; below
			 * the fewest rows seen the line is not trusted (extrapolated down
			 * it would call a short sync's fixed overhead a spike).
			 */
			by_rows = m == METRIC_DURATION && fit.ok && !isnan(rows_x) && rows_x >= fit.lo;
			if (by_rows)
			{
				base = &rows_line;
				level = fit.a[is_weekend(r->dow)] + fit.b * rows_x;
				y -= level;
			}
			else
			{
				base = &by_day[m][r->dow];
				if (!base->known)
				{
					int			n = training_set(runs, first, last, since, r->dow, m, ys,
												 &base->seasonal);

					baseline_of(base, ys, n, 1, metric_noisy[m] ? MIN_LOG_SPREAD : 0);
				}
			}
			if (base->n < syncopt_anomaly_min_training)
				continue;
			z = robust_z(y, base);
			expected = expm1(base->center + level);
			change = expected != 0 ? fabs(x - expected) / fabs(expected) : INFINITY;
			if (fabs(z) < syncopt_anomaly_threshold || change < syncopt_anomaly_min_change)
				continue;
			if (z < 0 && !metric_drops[m])
				continue;
			initStringInfo(&reason);
			appendStringInfo(&reason, "%s %.6g%s is %s ", metric_names[m], x, metric_units[m],
							 expected != 0 ? psprintf("%.2fx", x / expected) : "far from");
			if (by_rows)
				appendStringInfo(&reason, "the %.6g%s expected for its %.6g rows%s (duration grows as rows^%.2f over",
								 expected, metric_units[m], r->value[METRIC_ROWS],
								 !fit.by_day_type ? "" : is_weekend(r->dow) ? " on a weekend" : " on a weekday",
								 fit.b);
			else
				appendStringInfo(&reason, "the median %.6g%s of", expected, metric_units[m]);
			appendStringInfo(&reason, " %d %s%s run%s%s; ",
							 base->n, base->seasonal ? day_names[r->dow] : "recent",
							 base->seasonal ? "" : " training", base->n == 1 ? "" : "s",
							 by_rows ? ")" : "");
			/* A history with (almost) no spread makes any change infinitely unusual. */
			if (fabs(z) >= SCORE_CAP)
				appendStringInfo(&reason, "they barely vary, so the robust z is capped at %.0f, flag at %.1f",
								 SCORE_CAP, syncopt_anomaly_threshold);
			else
				appendStringInfo(&reason, "robust z %.1f on the log scale, flag at %.1f",
								 z, syncopt_anomaly_threshold);
			values[0] = Int64GetDatum(r->run_id);
			values[1] = Int64GetDatum(r->connector_id);
			values[2] = CStringGetTextDatum(metric_names[m]);
			values[3] = Float8GetDatum(x);
			values[4] = Float8GetDatum(expected);
			values[5] = Float8GetDatum(Max(Min(z, SCORE_CAP), -SCORE_CAP));
			values[6] = CStringGetTextDatum(z > 0 ? "spike" : "drop");
			values[7] = CStringGetTextDatum(reason.data);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	pfree(ys);
}

/*
 * The runs of the connector being read, judged when the next connector's
 * first run arrives (the query returns them by connector): the whole
 * training window of the fleet is never held at once.
 */
typedef struct RunStream
{
	RunMetrics *runs;
	int			nruns;
	int			size;
	int64		connector_id;	/* of the rows being read */
	bool		reading;		/* whether a row was read yet */
	bool		ran_since;		/* a run held started at or after `since` */
	TimestampTz since;
	ReturnSetInfo *rsinfo;
	MemoryContext judge_cxt;	/* a connector's judging, reset after it */
} RunStream;

/* qsort order of one connector's runs: by start, then run id. */
static int
run_time_cmp(const void *a, const void *b)
{
	const RunMetrics *x = (const RunMetrics *) a;
	const RunMetrics *y = (const RunMetrics *) b;

	if (x->started_at != y->started_at)
		return x->started_at < y->started_at ? -1 : 1;
	if (x->run_id != y->run_id)
		return x->run_id < y->run_id ? -1 : 1;
	return 0;
}

/*
 * Judge the connector held in the stream and empty it: its runs in time
 * order first, then each successful run's freshness lag, the time since
 * the previous successful start.  A connector that did not run since
 * `since` has no run to judge, and its training is not worked out.
 */
static void
judge_held(RunStream *st)
{
	MemoryContext old;
	TimestampTz last_success = NO_TIME;

	if (!st->ran_since)
	{
		st->nruns = 0;
		return;
	}
	qsort(st->runs, st->nruns, sizeof(RunMetrics), run_time_cmp);
	for (int i = 0; i < st->nruns; i++)
	{
		RunMetrics *r = &st->runs[i];

		r->value[METRIC_LAG] = NAN;
		if (!r->succeeded)
			continue;
		if (last_success != NO_TIME)
			r->value[METRIC_LAG] = time_diff(r->started_at, last_success);
		last_success = r->started_at;
	}
	old = MemoryContextSwitchTo(st->judge_cxt);
	judge_connector(st->runs, 0, st->nruns, st->since, st->rsinfo);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->judge_cxt);
	st->nruns = 0;
	st->ran_since = false;
}

/* One row of runs_sql into the stream (SpiRowReader). */
static void
read_run(HeapTuple tup, TupleDesc desc, void *arg)
{
	RunStream  *st = (RunStream *) arg;
	Datum		col[NUM_RUN_COLS];
	bool		isnull[NUM_RUN_COLS];
	int64		connector_id;
	bool		succeeded;
	RunMetrics *r;
	int			hour;

	heap_deform_tuple(tup, desc, col, isnull);
	connector_id = DatumGetInt64(col[RUN_COL_CONNECTOR]);
	if (!st->reading || st->connector_id != connector_id)
	{
		judge_held(st);
		st->reading = true;
		st->connector_id = connector_id;
	}
	if (st->nruns == st->size)
	{
		st->size *= 2;
		st->runs = repalloc(st->runs, sizeof(RunMetrics) * st->size);
	}
	r = &st->runs[st->nruns++];
	succeeded = DatumGetBool(col[RUN_COL_SUCCEEDED]);
	r->run_id = DatumGetInt64(col[RUN_COL_ID]);
	r->connector_id = connector_id;
	r->started_at = DatumGetTimestampTz(col[RUN_COL_STARTED]);
	st->ran_since |= r->started_at >= st->since;
	utc_dow_hour(r->started_at, &r->dow, &hour);
	/* Only a run that is not running is read, so it has finished_at. */
	r->value[METRIC_DURATION] = succeeded && DatumGetBool(col[RUN_COL_DURATION_KNOWN]) ?
		time_diff(DatumGetTimestampTz(col[RUN_COL_FINISHED]), r->started_at) : NAN;
	r->value[METRIC_ROWS] = succeeded && !isnull[RUN_COL_ROWS] ?
		DatumGetFloat8(col[RUN_COL_ROWS]) : NAN;
	r->value[METRIC_CREDITS] = isnull[RUN_COL_CREDITS] ? NAN : DatumGetFloat8(col[RUN_COL_CREDITS]);
	/* The freshness lag needs the runs in time order: judge_held(). */
	r->succeeded = succeeded;
}

/*
 * syncopt.anomalies(since) and anomalies_of(since, connector_ids): one row
 * per anomalous run and metric, of every connector or of those named (a
 * planning run judges again only the connectors whose runs changed:
 * take_anomaly_snapshot()).
 */
Datum
syncopt_anomalies(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz since = PG_GETARG_TIMESTAMPTZ(0);
	bool		some = PG_NARGS() > 1;
	MemoryContext mcxt = CurrentMemoryContext;
	Oid			types[3] = {TIMESTAMPTZOID, FLOAT8OID, INT8ARRAYOID};
	Datum		args[3] = {TimestampTzGetDatum(since),
		Float8GetDatum((double) syncopt_anomaly_training_window_s),
	some ? PG_GETARG_DATUM(1) : (Datum) 0};
	RunStream	st;

	InitMaterializedSRF(fcinfo, 0);
	st.size = 64;
	st.runs = palloc(sizeof(RunMetrics) * st.size);
	st.nruns = 0;
	st.reading = false;
	st.ran_since = false;
	st.since = since;
	st.rsinfo = rsinfo;
	st.judge_cxt = AllocSetContextCreate(mcxt, "syncopt anomalies", ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run_each(some ? runs_of_sql : runs_sql, some ? 3 : 2, types, args, NULL, read_run, &st);
	judge_held(&st);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	PG_RETURN_NULL();
}
