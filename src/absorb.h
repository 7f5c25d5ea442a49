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
 * running runs are skipped.
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
