/*-------------------------------------------------------------------------
 *
 * predict.c
 *	  Duration of each connector's next sync: P50 and P90, from
 *	  connector_stats alone, and syncopt.predict_duration().
 *
 * The model grows with the evidence (design.md section 9):
 *	 - no history: the fleet's median P50 (or syncopt.default_sync_duration);
 *	 - fewer than 10 timed runs: the mean of the last two (Tsafrir et al.
 *	   found it beats history mining), P90 at least 1.5x that;
 *	 - from 10 runs: log(duration) = a + b log(1 + rows) fitted on the
 *	   whole history (running sums), plus an EWMA level (alpha 0.3) of the
 *	   recent residuals to follow level shifts, day-of-week and time-of-day
 *	   effects shrunk towards zero when few runs back them, and a separate
 *	   full re-sync effect.  P90 is the empirical 90th percentile of the
 *	   recent forecast errors (residuals as if each run's rows had been the
 *	   expected rows) from 20 runs, a normal quantile below that, widened
 *	   for the degrees of freedom the fit used and the EWMA level's variance.
 * Schedules are planned with P90: underestimates hurt far more than
 * overestimates.
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

PG_FUNCTION_INFO_V1(syncopt_predict_duration);

#define COLD_RUNS		10		/* runs before the log-linear model answers */
#define EMPIRICAL_RUNS	20		/* runs before P90 is an empirical quantile */
#define EWMA_ALPHA		0.3
#define SHRINK_RUNS		3.0		/* effects count fully only with many runs */
#define HOUR_BUCKET		4		/* hours per time-of-day bucket */
#define Z90				1.2815515655446004

/*
 * The shrunk mean deviation of the residuals of each group (day of week,
 * or hour bucket) from the overall mean: an effect backed by k runs counts
 * k / (k + 3) of its raw size.  Computed for all groups in one pass.
 */
static void
group_effects(const double *resid, const int *group, const bool *use, int n,
			  int ngroups, double overall, double *effect, int *count)
{
	for (int g = 0; g < ngroups; g++)
	{
		effect[g] = 0;
		count[g] = 0;
	}
	for (int i = 0; i < n; i++)
		if (use[i])
		{
			effect[group[i]] += resid[i] - overall;
			count[group[i]]++;
		}
	for (int g = 0; g < ngroups; g++)
		if (count[g] > 0)
			effect[g] = (effect[g] / count[g]) * (count[g] / (count[g] + SHRINK_RUNS));
}

/* Least-squares a and b of log(duration) = a + b log(1 + rows), from the stats' sums. */
static void
fit_line(const Connector *c, double *a, double *b)
{
	double		n = c->fit_n;
	double		den = n * c->fit_sxx - c->fit_sx * c->fit_sx;

	*b = 0;
	if (n >= 2 && den > 1e-9 * n * n)
		*b = (n * c->fit_sxy - c->fit_sx * c->fit_sy) / den;
	/* Longer for more rows, and not wildly so; a noisy fit says otherwise. */
	*b = Min(Max(*b, 0.0), 2.0);
	*a = n > 0 ? (c->fit_sy - *b * c->fit_sx) / n : 0;
}

/*
 * The log-linear model with level, seasonality and full-sync effects;
 * with explain, its reason.
 */
static void
predict_fitted(Connector *c, TimestampTz at, Prediction *p, bool explain)
{
	int			n = c->nrecent;
	double	   *resid = palloc(sizeof(double) * n);
	double	   *x = palloc(sizeof(double) * n);	/* each run's log(1 + rows) */
	int		   *dow = palloc(sizeof(int) * n);
	int		   *hour = palloc(sizeof(int) * n);
	bool	   *incremental = palloc(sizeof(bool) * n);
	double	   *spread = palloc(sizeof(double) * n);
	double		a,
				b,
				x_next,
				level = 0,
				mean_inc = 0,
				mean_full = 0,
				full_effect = 0,
				dow_effect,
				hour_effect,
				used_dof = 1,	/* the mean */
				widen,
				centre = 0,
				log_p50,
				q90,
				dow_eff[7],
				hour_eff[HOURS_PER_DAY / HOUR_BUCKET];
	int			dow_k[7],
				hour_k[HOURS_PER_DAY / HOUR_BUCKET];
	int			n_inc = 0,
				n_full = 0,
				n_spread = 0,
				k_dow,
				k_hour,
				at_dow,
				at_hour;
	bool		have_rows = !isnan(c->ewma_rows) && c->fit_n >= COLD_RUNS;

	if (have_rows)
		fit_line(c, &a, &b);
	else
	{
		/* Rows never reported: the model is a level on log duration alone. */
		a = 0;
		b = 0;
	}
	x_next = have_rows ? log1p(Max(c->ewma_rows, 0)) : 0;
	p->rows = have_rows ? c->ewma_rows : NAN;

	for (int i = 0; i < n; i++)
	{
		x[i] = (have_rows && !isnan(c->recent_rows[i])) ? log1p(c->recent_rows[i]) : x_next;
		resid[i] = log(c->recent_dur[i]) - (a + b * x[i]);
		utc_dow_hour(c->recent_at[i], &dow[i], &hour[i]);
		hour[i] /= HOUR_BUCKET;
		incremental[i] = !c->recent_full[i];
		if (incremental[i])
		{
			/* EWMA of incremental residuals in time order: the current level. */
			level = n_inc == 0 ? resid[i] : EWMA_ALPHA * resid[i] + (1 - EWMA_ALPHA) * level;
			mean_inc += resid[i];
			n_inc++;
		}
		else
		{
			mean_full += resid[i];
			n_full++;
		}
	}
	if (n_inc == 0)
	{
		/* Only full syncs seen: treat them as the ordinary case. */
		for (int i = 0; i < n; i++)
			incremental[i] = true;
		level = mean_inc = mean_full / n_full;
		n_inc = n_full;
		n_full = 0;
	}
	else
		mean_inc /= n_inc;
	if (n_full > 0)
		full_effect = (mean_full / n_full - mean_inc) * (n_full / (n_full + SHRINK_RUNS));

	utc_dow_hour(at, &at_dow, &at_hour);
	at_hour /= HOUR_BUCKET;
	group_effects(resid, dow, incremental, n, 7, mean_inc, dow_eff, dow_k);
	group_effects(resid, hour, incremental, n, HOURS_PER_DAY / HOUR_BUCKET, mean_inc, hour_eff, hour_k);
	dow_effect = dow_eff[at_dow];
	k_dow = dow_k[at_dow];
	hour_effect = hour_eff[at_hour];
	k_hour = hour_k[at_hour];

	/*
	 * Each run's error as a forecast made without knowing its rows: the
	 * next run's rows are only expected (x_next), and a spread of residuals
	 * on known rows would leave their variation out of P90.
	 */
	for (int i = 0; i < n; i++)
		if (incremental[i])
		{
			double		rows_gap = (have_rows && !isnan(c->recent_rows[i]))
				? b * (x[i] - x_next) : 0;

			spread[n_spread++] = resid[i] - mean_inc - dow_eff[dow[i]] - hour_eff[hour[i]] + rows_gap;
		}
	/*
	 * In-sample errors are narrower than forecast errors: their spread
	 * around its centre is widened by the degrees of freedom the mean and
	 * the shrunk effects used (an effect backed by k runs uses k / (k + 3))
	 * and by the EWMA level's own variance, alpha / (2 - alpha) of theirs.
	 */
	for (int g = 0; g < 7; g++)
		used_dof += dow_k[g] / (dow_k[g] + SHRINK_RUNS);
	for (int g = 0; g < HOURS_PER_DAY / HOUR_BUCKET; g++)
		used_dof += hour_k[g] / (hour_k[g] + SHRINK_RUNS);
	widen = sqrt(n_spread / Max(n_spread - used_dof, 1.0) * (1 + EWMA_ALPHA / (2 - EWMA_ALPHA)));
	for (int i = 0; i < n_spread; i++)
		centre += spread[i] / n_spread;
	if (n_spread >= EMPIRICAL_RUNS)
		q90 = quantile(spread, n_spread, 0.9) - centre;
	else
	{
		double		ss = 0;

		for (int i = 0; i < n_spread; i++)
			ss += (spread[i] - centre) * (spread[i] - centre);
		q90 = Z90 * sqrt(ss / Max(n_spread - 1, 1));
	}
	q90 = centre + widen * q90;

	log_p50 = a + b * x_next + level + dow_effect + hour_effect;
	p->p50_s = exp(log_p50);
	p->p90_s = p->p50_s * exp(Max(q90, 0.05));
	p->full_p50_s = n_full > 0 ? p->p50_s * exp(full_effect) : NAN;
	p->method = have_rows ? "log_linear" : "level";
	if (!explain)
		return;
	if (have_rows)
		appendStringInfo(&p->reason,
						 "log-linear fit on %.0f runs: duration grows as rows^%.2f, %.0f expected rows",
						 c->fit_n, b, c->ewma_rows);
	else
		appendStringInfoString(&p->reason, "no row counts reported: level model on log duration");
	appendStringInfo(&p->reason, "; EWMA level %+.0f%% over the last %d runs",
					 (exp(level - mean_inc) - 1) * 100, n);
	if (fabs(dow_effect) >= 0.01)
		appendStringInfo(&p->reason, "; %s %+.0f%% (%d runs)", day_names[at_dow],
						 (exp(dow_effect) - 1) * 100, k_dow);
	if (fabs(hour_effect) >= 0.01)
		appendStringInfo(&p->reason, "; %02d-%02dh UTC %+.0f%% (%d runs)", at_hour * HOUR_BUCKET,
						 at_hour * HOUR_BUCKET + HOUR_BUCKET, (exp(hour_effect) - 1) * 100, k_hour);
	if (n_full > 0)
		appendStringInfo(&p->reason, "; a full re-sync takes about %s", format_duration(p->full_p50_s));
	appendStringInfo(&p->reason, "; P90 from the %s of forecast errors, widened x%.2f for the fitted effects and level",
					 n_spread >= EMPIRICAL_RUNS ? "empirical 90th percentile" : "spread", widen);
}

/*
 * Predict one connector's next sync; fleet_p50 answers when it has no
 * history.  With explain, the prediction's reason, else reason.data is NULL.
 */
static void
predict_connector(Connector *c, TimestampTz at, double fleet_p50, bool fleet_known, bool explain)
{
	Prediction *p = &c->pred;
	int			n = c->nrecent;

	if (explain)
		initStringInfo(&p->reason);
	else
		memset(&p->reason, 0, sizeof(StringInfoData));
	p->samples = n;
	p->full_p50_s = NAN;
	p->rows = isnan(c->ewma_rows) ? NAN : c->ewma_rows;
	if (n == 0)
	{
		p->p50_s = fleet_p50;
		p->p90_s = 2 * fleet_p50;
		p->method = fleet_known ? "fleet_median" : "default";
		if (explain)
			appendStringInfo(&p->reason, "no timed successful run yet: %s (%s), P90 twice that",
						 fleet_known ? "median P50 of the fleet" : "syncopt.default_sync_duration",
						 format_duration(fleet_p50));
	}
	else if (n < COLD_RUNS)
	{
		double		last = c->recent_dur[n - 1];
		double		longest = 0;

		p->p50_s = n >= 2 ? (last + c->recent_dur[n - 2]) / 2 : last;
		for (int i = 0; i < n; i++)
			longest = Max(longest, c->recent_dur[i]);
		p->p90_s = Max(1.5 * p->p50_s, longest);
		p->method = "last_two_mean";
		if (explain)
			appendStringInfo(&p->reason,
						 "%d timed run%s: mean of the last %s, P90 the larger of 1.5x that and the longest run",
						 n, n == 1 ? "" : "s", n >= 2 ? "two" : "one");
	}
	else
		predict_fitted(c, at, p, explain);
}

/*
 * Predict one connector with its working memory in scratch, which is reset
 * after it: only the prediction and its reason (at its exact size) stay.
 */
static void
predict_kept(Connector *c, TimestampTz at, double fleet_p50, bool fleet_known,
			 bool explain, MemoryContext scratch)
{
	MemoryContext keep = MemoryContextSwitchTo(scratch);

	predict_connector(c, at, fleet_p50, fleet_known, explain);
	MemoryContextSwitchTo(keep);
	if (explain)
		keep_reason(&c->pred.reason);
	MemoryContextReset(scratch);
}

/*
 * Predict a connector with recent runs at `at`, which needs nothing of the
 * rest of the fleet: the fleet loader calls it as it reads the connector's
 * row (FLEET_PREDICT), so the recent-run arrays need not be kept.  With
 * explain, the prediction's reason.
 */
void
predict_from_history(Connector *c, TimestampTz at, bool explain, MemoryContext scratch)
{
	Assert(c->nrecent > 0);
	predict_kept(c, at, 0, false, explain, scratch);
}

/*
 * The number of the stretch of time at falls in within which every
 * prediction is the same: the model reads the instant only through its UTC
 * weekday and hour bucket (predict_fitted()), and the buckets divide UTC
 * days, so each HOUR_BUCKET hours from the epoch (a midnight) are one.
 */
int64
predict_period(TimestampTz at)
{
	int64		len = (int64) HOUR_BUCKET * USECS_PER_HOUR;

	return at >= 0 ? at / len : -((-at - 1) / len) - 1;
}

/*
 * Predict every connector of the fleet; those without history get the
 * fleet's median.  Those with history were predicted by the loader when the
 * fleet is predicted (FLEET_PREDICT).
 */
void
predict_fleet(Fleet *fleet)
{
	double	   *known = palloc(sizeof(double) * Max(fleet->nconn, 1));
	int			nknown = 0;
	double		fleet_p50 = syncopt_default_sync_duration_s;
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "syncopt prediction",
												  ALLOCSET_DEFAULT_SIZES);

	for (int i = 0; i < fleet->nconn; i++)
		if (fleet->conn[i].nrecent > 0)
		{
			if (!fleet->predicted)
				predict_from_history(&fleet->conn[i], fleet->at, !fleet->terse, scratch);
			known[nknown++] = fleet->conn[i].pred.p50_s;
		}
	if (nknown > 0)
		fleet_p50 = median_of(known, nknown);
	for (int i = 0; i < fleet->nconn; i++)
		if (fleet->conn[i].nrecent == 0)
			predict_kept(&fleet->conn[i], fleet->at, fleet_p50, nknown > 0, !fleet->terse, scratch);
	MemoryContextDelete(scratch);
	pfree(known);
}

/* syncopt.predict_duration(at): one row per connector. */
Datum
syncopt_predict_duration(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz at = PG_GETARG_TIMESTAMPTZ(0);
	Fleet	   *fleet;

	InitMaterializedSRF(fcinfo, 0);
	fleet = fleet_get(at, 0, FLEET_NOT_PLANNING | FLEET_PREDICT);
	predict_fleet(fleet);
	for (int i = 0; i < fleet->nconn; i++)
	{
		Connector  *c = &fleet->conn[i];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = Int64GetDatum(c->id);
		values[1] = interval_datum(c->pred.p50_s);
		values[2] = interval_datum(c->pred.p90_s);
		if (isnan(c->pred.rows))
			nulls[3] = true;
		else
			values[3] = Int64GetDatum((int64) llround(c->pred.rows));
		values[4] = Int32GetDatum(c->pred.samples);
		values[5] = CStringGetTextDatum(c->pred.method);
		values[6] = CStringGetTextDatum(c->pred.reason.data);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
