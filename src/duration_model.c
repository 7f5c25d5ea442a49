/*-------------------------------------------------------------------------
 *
 * duration_model.c
 *	  syncopt.duration_model(): the duration model of a connector's recent
 *	  window, kept in connector_stats.duration_model (a generated column),
 *	  so that the fleet loader reads a few numbers instead of the window.
 *
 * The model (design.md section 9, predict.c): fewer than 10 timed runs
 * predict the mean of the last two, P90 at least 1.5x that and the
 * longest run; from 10 runs, log(duration) = a + b log(1 + rows) on the
 * whole history's running sums, an EWMA level of the recent residuals,
 * day-of-week and time-of-day effects shrunk towards zero, a full re-sync
 * effect, and P90 from the recent forecast errors.  All of it but the
 * instant's effects is computed here, when the window changes; predict.c
 * adds the effects of the instant asked about.  Reading the window at every
 * fleet load was a third of sla_risk() at 50,000 connectors (issue 34).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/arrayaccess.h"
#include "utils/timestamp.h"

#include "analytics.h"
#include "duration_model.h"
#include "pg_compat.h"

PG_FUNCTION_INFO_V1(syncopt_duration_model);

#define Z90				1.2815515655446004

/* The timed successes of a recent window, oldest first. */
typedef struct RecentWindow
{
	int			n;
	double	   *dur;			/* at least 1 s */
	double	   *rows;			/* NaN: not reported */
	TimestampTz *at;
	bool	   *full;
} RecentWindow;

/*
 * One of the recent-window arrays, being read element by element: straight
 * from its data when it has no NULL (each element at its place, the
 * elements being of fixed length), else through an array_iter, which reads
 * the NULL bitmap.
 */
typedef struct RecentColumn
{
	array_iter	iter;
	const char *data;			/* the elements, NULL when read by iter */
	int			count;
	int			elmlen;
	bool		elmbyval;
	char		elmalign;
} RecentColumn;

/*
 * Start reading argument argno, an array (NULL: empty) of fixed-length
 * elements as described (the catalog's values for its element type).
 */
static void
recent_open(FunctionCallInfo fcinfo, int argno, int elmlen, bool elmbyval, char elmalign,
			RecentColumn *rc)
{
	AnyArrayType *a;

	rc->count = 0;
	rc->elmlen = elmlen;
	rc->elmbyval = elmbyval;
	rc->elmalign = elmalign;
	rc->data = NULL;
	if (PG_ARGISNULL(argno))
		return;
	a = PG_GETARG_ANY_ARRAY_P(argno);
	rc->count = ArrayGetNItems(AARR_NDIM(a), AARR_DIMS(a));
	if (!VARATT_IS_EXPANDED_HEADER(a) && !ARR_HASNULL(&a->flt))
		rc->data = ARR_DATA_PTR(&a->flt);
	else
		ARRAY_ITER_SETUP(&rc->iter, a, elmlen, elmbyval, elmalign);
}

/* Element j of a recent-window array (read in order); isnull when missing. */
static Datum
recent_next(RecentColumn *rc, int j, bool *isnull)
{
	if (j >= rc->count)
	{
		*isnull = true;
		return (Datum) 0;
	}
	if (rc->data != NULL)
	{
		*isnull = false;
		return fetch_att(rc->data + (Size) j * rc->elmlen, rc->elmbyval, rc->elmlen);
	}
	return ARRAY_ITER_NEXT(&rc->iter, isnull, j, rc->elmlen, rc->elmbyval, rc->elmalign);
}

/*
 * The timed successes of the window in arguments 0-3 (durations, rows,
 * starts, full flags): an entry without a duration or a start is left out.
 */
static void
read_window(FunctionCallInfo fcinfo, RecentWindow *w)
{
	RecentColumn dur,
				rows,
				at,
				full;
	int			n;

	recent_open(fcinfo, 0, sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &dur);
	recent_open(fcinfo, 1, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &rows);
	recent_open(fcinfo, 2, sizeof(TimestampTz), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &at);
	recent_open(fcinfo, 3, sizeof(bool), true, TYPALIGN_CHAR, &full);
	n = Max(dur.count, 1);
	w->dur = palloc(sizeof(double) * n);
	w->rows = palloc(sizeof(double) * n);
	w->at = palloc(sizeof(TimestampTz) * n);
	w->full = palloc(sizeof(bool) * n);
	w->n = 0;
	for (int j = 0; j < dur.count; j++)
	{
		bool		dur_null,
					rows_null,
					at_null,
					full_null;
		Datum		d = recent_next(&dur, j, &dur_null);
		Datum		nr = recent_next(&rows, j, &rows_null);
		Datum		t = recent_next(&at, j, &at_null);
		Datum		f = recent_next(&full, j, &full_null);

		if (dur_null || at_null)
			continue;
		w->dur[w->n] = Max(DatumGetFloat8(d), 1.0);
		w->rows[w->n] = rows_null ? NAN : (double) DatumGetInt64(nr);
		w->at[w->n] = DatumGetTimestampTz(t);
		w->full[w->n] = !full_null && DatumGetBool(f);
		w->n++;
	}
}

/* Least-squares a and b of log(duration) = a + b log(1 + rows), from the stats' sums. */
void
duration_fit_line(double n, double sx, double sy, double sxx, double sxy, double *a, double *b)
{
	double		den = n * sxx - sx * sx;

	*b = 0;
	if (n >= 2 && den > 1e-9 * n * n)
		*b = (n * sxy - sx * sy) / den;
	/* Longer for more rows, and not wildly so; a noisy fit says otherwise. */
	*b = Min(Max(*b, 0.0), 2.0);
	*a = n > 0 ? (sy - *b * sx) / n : 0;
}

/*
 * How much a fitted model's P90 spread is widened: in-sample errors are
 * narrower than forecast errors, so their spread around its centre is
 * widened by the degrees of freedom the mean and the shrunk effects used
 * (an effect backed by k runs uses k / (k + 3)) and by the EWMA level's own
 * variance, alpha / (2 - alpha) of theirs.
 */
double
duration_widen(const double *model)
{
	double		used_dof = 1;	/* the mean */
	double		n_spread = model[DM_N_SPREAD];

	for (int g = 0; g < 7; g++)
		used_dof += model[DM_DOW_RUNS + g] / (model[DM_DOW_RUNS + g] + SHRINK_RUNS);
	for (int g = 0; g < HOUR_BUCKETS; g++)
		used_dof += model[DM_HOUR_RUNS + g] / (model[DM_HOUR_RUNS + g] + SHRINK_RUNS);
	return sqrt(n_spread / Max(n_spread - used_dof, 1.0) * (1 + EWMA_ALPHA / (2 - EWMA_ALPHA)));
}

/*
 * The shrunk mean deviation of the residuals of each group (day of week,
 * or hour bucket) from the overall mean: an effect backed by k runs counts
 * k / (k + 3) of its raw size.  Computed for all groups in one pass; the
 * runs behind each group go to count.
 */
static void
group_effects(const double *resid, const int *group, const bool *use, int n,
			  int ngroups, double overall, double *effect, double *count)
{
	int		   *k = palloc0(sizeof(int) * ngroups);

	for (int g = 0; g < ngroups; g++)
		effect[g] = 0;
	for (int i = 0; i < n; i++)
		if (use[i])
		{
			effect[group[i]] += resid[i] - overall;
			k[group[i]]++;
		}
	for (int g = 0; g < ngroups; g++)
	{
		if (k[g] > 0)
			effect[g] = (effect[g] / k[g]) * (k[g] / (k[g] + SHRINK_RUNS));
		count[g] = k[g];
	}
	pfree(k);
}

/*
 * The fitted model of a window of at least COLD_RUNS runs into model
 * (DM_FITTED_LEN elements): a and b from the history's sums, the residuals
 * of the window's runs, their level, effects and forecast errors.
 */
static void
fit_window(const RecentWindow *w, double fit_n, const double *sums, double ewma_rows, double *model)
{
	int			n = w->n;
	double	   *resid = palloc(sizeof(double) * n);
	double	   *x = palloc(sizeof(double) * n);	/* each run's log(1 + rows) */
	int		   *dow = palloc(sizeof(int) * n);
	int		   *hour = palloc(sizeof(int) * n);
	bool	   *incremental = palloc(sizeof(bool) * n);
	double	   *spread = palloc(sizeof(double) * n);
	double	   *dow_eff = model + DM_DOW_EFFECT;
	double	   *hour_eff = model + DM_HOUR_EFFECT;
	double		a,
				b,
				x_next,
				level = 0,
				mean_inc = 0,
				mean_full = 0,
				full_effect = 0,
				centre = 0,
				q90,
				widen;
	int			n_inc = 0,
				n_full = 0,
				n_spread = 0;
	bool		have_rows = !isnan(ewma_rows) && fit_n >= COLD_RUNS;

	if (have_rows)
		duration_fit_line(fit_n, sums[0], sums[1], sums[2], sums[3], &a, &b);
	else
	{
		/* Rows never reported: the model is a level on log duration alone. */
		a = 0;
		b = 0;
	}
	x_next = have_rows ? log1p(Max(ewma_rows, 0)) : 0;

	for (int i = 0; i < n; i++)
	{
		x[i] = (have_rows && !isnan(w->rows[i])) ? log1p(w->rows[i]) : x_next;
		resid[i] = log(w->dur[i]) - (a + b * x[i]);
		utc_dow_hour(w->at[i], &dow[i], &hour[i]);
		hour[i] /= HOUR_BUCKET;
		incremental[i] = !w->full[i];
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

	group_effects(resid, dow, incremental, n, 7, mean_inc, dow_eff, model + DM_DOW_RUNS);
	group_effects(resid, hour, incremental, n, HOUR_BUCKETS, mean_inc, hour_eff, model + DM_HOUR_RUNS);

	/*
	 * Each run's error as a forecast made without knowing its rows: the
	 * next run's rows are only expected (x_next), and a spread of residuals
	 * on known rows would leave their variation out of P90.
	 */
	for (int i = 0; i < n; i++)
		if (incremental[i])
		{
			double		rows_gap = (have_rows && !isnan(w->rows[i]))
				? b * (x[i] - x_next) : 0;

			spread[n_spread++] = resid[i] - mean_inc - dow_eff[dow[i]] - hour_eff[hour[i]] + rows_gap;
		}
	model[DM_N_SPREAD] = n_spread;
	widen = duration_widen(model);
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
	model[DM_RUNS] = n;
	model[DM_LEVEL] = level;
	model[DM_MEAN_INC] = mean_inc;
	model[DM_Q90] = centre + widen * q90;
	model[DM_FULL_EFFECT] = full_effect;
	model[DM_N_FULL] = n_full;
}

/*
 * The model of a window of 1 to COLD_RUNS - 1 runs into model: the mean of
 * the last two (Tsafrir et al. found it beats history mining), P90 the
 * larger of 1.5x that and the longest run.
 */
static void
cold_window(const RecentWindow *w, double *model)
{
	int			n = w->n;
	double		last = w->dur[n - 1];
	double		longest = 0;
	double		p50 = n >= 2 ? (last + w->dur[n - 2]) / 2 : last;

	for (int i = 0; i < n; i++)
		longest = Max(longest, w->dur[i]);
	model[DM_RUNS] = n;
	model[DM_COLD_P50] = p50;
	model[DM_COLD_P90] = Max(1.5 * p50, longest);
}

/*
 * syncopt.duration_model(recent_duration_s, recent_rows, recent_started_at,
 * recent_full, fit_n, fit_sum_x, fit_sum_y, fit_sum_xx, fit_sum_xy,
 * ewma_rows) returns float8[]: connector_stats.duration_model.
 */
Datum
syncopt_duration_model(PG_FUNCTION_ARGS)
{
	RecentWindow		w;
	double		model[DM_FITTED_LEN];
	int			len;
	Datum	   *elems;

	read_window(fcinfo, &w);
	if (w.n == 0)
		len = 0;
	else if (w.n < COLD_RUNS)
	{
		cold_window(&w, model);
		len = DM_COLD_LEN;
	}
	else
	{
		double		sums[4];

		for (int k = 0; k < 4; k++)
			sums[k] = PG_ARGISNULL(5 + k) ? 0 : PG_GETARG_FLOAT8(5 + k);
		fit_window(&w, PG_ARGISNULL(4) ? 0 : (double) PG_GETARG_INT64(4), sums,
				   PG_ARGISNULL(9) ? NAN : PG_GETARG_FLOAT8(9), model);
		len = DM_FITTED_LEN;
	}
	elems = palloc(sizeof(Datum) * Max(len, 1));
	for (int k = 0; k < len; k++)
		elems[k] = Float8GetDatum(model[k]);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, len, FLOAT8OID, sizeof(float8),
										  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}
