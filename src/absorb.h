/*-------------------------------------------------------------------------
 *
 * absorb.h
 *	  Folding newly finished runs into connector_stats (absorb.c), for
 *	  ingestion code that already holds the runs in memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_ABSORB_H
#define SYNCOPT_ABSORB_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "datatype/timestamp.h"

/* Finished runs connector_last_runs keeps for batch_recommendations(). */
#define LAST_RUNS_KEEP	12

/*
 * The newest LAST_RUNS_KEEP finished runs of sync_run r matching WHERE (a
 * condition on r naming its connector), oldest first, as the six arrays
 * connector_last_runs keeps (started_at, ok, throttled, batch_size,
 * parallelism, rows_per_s): one row, empty arrays when there is none.
 * The fold writes them; batch_recommendations() reads sync_run through the
 * same statement when the kept ones do not answer for its instant, so both
 * see a run alike.
 */
#define LAST_RUNS_ORDER " ORDER BY l.started_at, l.run_id), '{}')"
#define LAST_RUNS_SELECT(WHERE) \
"SELECT coalesce(array_agg(l.started_at" LAST_RUNS_ORDER "," \
"       coalesce(array_agg(l.status = 'succeeded'" LAST_RUNS_ORDER "," \
"       coalesce(array_agg(l.status = 'rescheduled' OR coalesce(l.error_message ~*" \
"           'rate.?limit|too many requests|429|quota|time(d)? ?out|overload', false)" LAST_RUNS_ORDER "," \
"       coalesce(array_agg(l.batch_size" LAST_RUNS_ORDER "," \
"       coalesce(array_agg(l.parallelism" LAST_RUNS_ORDER "," \
"       coalesce(array_agg(CASE WHEN l.status = 'succeeded' AND l.duration_known AND l.rows > 0" \
"                                AND l.finished_at > l.started_at" \
"                           THEN l.rows::float8 / extract(epoch FROM l.finished_at - l.started_at)::float8 END" \
"                      " LAST_RUNS_ORDER \
"  FROM (SELECT r.run_id, r.started_at, r.finished_at, r.status, r.error_message, r.batch_size," \
"               r.parallelism, r.rows, r.duration_known" \
"          FROM syncopt.sync_run r WHERE r.status <> 'running' AND " WHERE \
"         ORDER BY r.started_at DESC, r.run_id DESC LIMIT " CppAsString2(LAST_RUNS_KEEP) ") l"

/* One run to fold, as sync_run holds it. */
typedef struct AbsorbRun
{
	int64		run_id;
	int64		connector_id;
	bool		running;
	bool		succeeded;
	bool		failed;
	TimestampTz started_at;
	TimestampTz finished_at;
	bool		has_rows;
	int64		rows;
	bool		full_sync;
	bool		duration_known;
} AbsorbRun;

/*
 * Fold runs[0..nruns) into their connectors' stats rows; the caller is
 * connected to SPI.  The runs are sorted here (by connector, finish, id);
 * running runs are skipped, but every connector named has its last runs
 * kept (connector_last_runs).
 */
extern void absorb_fold(AbsorbRun *runs, int nruns, bool count_outcomes);

/*
 * A run from a result row whose columns are, in order: connector_id,
 * status, started_at, finished_at, rows, full_sync, duration_known, run_id.
 */
extern void absorb_run_from_row(HeapTuple tuple, TupleDesc desc, AbsorbRun *run);

/*
 * Leave finished runs in stats_backlog for fold_stats_backlog() instead;
 * the caller is connected to SPI.
 */
extern void absorb_defer(AbsorbRun *runs, int nruns);

#endif							/* SYNCOPT_ABSORB_H */
