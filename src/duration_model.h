/*-------------------------------------------------------------------------
 *
 * duration_model.h
 *	  The duration model of a connector's recent window, as
 *	  connector_stats.duration_model keeps it (duration_model.c builds it,
 *	  predict.c predicts from it).
 *
 * The model reads an instant only through its UTC weekday and hour bucket,
 * so everything else is computed once, when the window changes: the
 * prediction at an instant adds that instant's effects to the level.  The
 * elements are float8, each at the place named below; an empty model
 * means no timed run.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_DURATION_MODEL_H
#define SYNCOPT_DURATION_MODEL_H

#include "datatype/timestamp.h"

#define COLD_RUNS		10		/* runs before the log-linear model answers */
#define EMPIRICAL_RUNS	20		/* runs before P90 is an empirical quantile */
#define EWMA_ALPHA		0.3
#define SHRINK_RUNS		3.0		/* effects count fully only with many runs */
#define HOUR_BUCKET		4		/* hours per time-of-day bucket */
#define HOUR_BUCKETS	(HOURS_PER_DAY / HOUR_BUCKET)

/* Every model: the number of timed runs of the window. */
#define DM_RUNS			0
/* Fewer than COLD_RUNS runs: the prediction itself. */
#define DM_COLD_P50		1
#define DM_COLD_P90		2
#define DM_COLD_LEN		3
/* From COLD_RUNS runs: the fitted model's parts that do not depend on `at`. */
#define DM_LEVEL		1		/* EWMA level of the incremental residuals */
#define DM_MEAN_INC		2		/* their mean */
#define DM_Q90			3		/* log P90 / P50, widened */
#define DM_FULL_EFFECT	4		/* log full / incremental, shrunk */
#define DM_N_FULL		5		/* full re-syncs in the window */
#define DM_N_SPREAD		6		/* forecast errors P90 was taken from */
#define DM_DOW_EFFECT	7		/* 7 day-of-week effects */
#define DM_HOUR_EFFECT	(DM_DOW_EFFECT + 7) /* HOUR_BUCKETS effects */
#define DM_DOW_RUNS		(DM_HOUR_EFFECT + HOUR_BUCKETS)	/* runs behind each */
#define DM_HOUR_RUNS	(DM_DOW_RUNS + 7)
#define DM_FITTED_LEN	(DM_HOUR_RUNS + HOUR_BUCKETS)

extern void duration_fit_line(double n, double sx, double sy, double sxx, double sxy,
							  double *a, double *b);
extern double duration_widen(const double *model);

#endif							/* SYNCOPT_DURATION_MODEL_H */
