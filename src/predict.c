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
 * overestimates.  What does not depend on the instant is computed when the
 * recent window changes (connector_stats.duration_model, duration_model.c);
 * here the instant's day-of-week and hour effects are added to it.
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
#include "duration_model.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_predict_duration);

/*
 * The fitted model's prediction at `at`: the level the model keeps plus
 * the effects of at's weekday and hour bucket; with explain, its reason.
 */
static void
predict_fitted(const Connector *c, const double *model, TimestampTz at, Prediction *p, bool explain)
{
	double		a,
				b,
				x_next,
				level = model[DM_LEVEL],
				mean_inc = model[DM_MEAN_INC],
				dow_effect,
				hour_effect,
				log_p50;
	int			k_dow,
				k_hour,
				at_dow,
				at_hour,
				n = (int) model[DM_RUNS],
				n_full = (int) model[DM_N_FULL];
	bool		have_rows = !isnan(c->ewma_rows) && c->fit_n >= COLD_RUNS;

	if (have_rows)
		duration_fit_line(c->fit_n, c->fit_sx, c->fit_sy, c->fit_sxx, c->fit_sxy, &a, &b);
	else
	{
		/* Rows never reported: the model is a level on log duration alone. */
		a = 0;
		b = 0;
	}
	x_next = have_rows ? log1p(Max(c->ewma_rows, 0)) : 0;
	p->rows = have_rows ? c->ewma_rows : NAN;

	utc_dow_hour(at, &at_dow, &at_hour);
	at_hour /= HOUR_BUCKET;
	dow_effect = model[DM_DOW_EFFECT + at_dow];
	k_dow = (int) model[DM_DOW_RUNS + at_dow];
	hour_effect = model[DM_HOUR_EFFECT + at_hour];
	k_hour = (int) model[DM_HOUR_RUNS + at_hour];

	log_p50 = a + b * x_next + level + dow_effect + hour_effect;
	p->p50_s = exp(log_p50);
	p->p90_s = p->p50_s * exp(Max(model[DM_Q90], 0.05));
	p->full_p50_s = n_full > 0 ? p->p50_s * exp(model[DM_FULL_EFFECT]) : NAN;
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
					 model[DM_N_SPREAD] >= EMPIRICAL_RUNS ? "empirical 90th percentile" : "spread",
					 duration_widen(model));
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
		p->p50_s = c->model[DM_COLD_P50];
		p->p90_s = c->model[DM_COLD_P90];
		p->method = "last_two_mean";
		if (explain)
			appendStringInfo(&p->reason,
						 "%d timed run%s: mean of the last %s, P90 the larger of 1.5x that and the longest run",
						 n, n == 1 ? "" : "s", n >= 2 ? "two" : "one");
	}
	else
		predict_fitted(c, c->model, at, p, explain);
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
 * row (FLEET_PREDICT), so its duration model need not be kept.  With
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
