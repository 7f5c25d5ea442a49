/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background-worker loop shared by the collector and the executor,
 *	  and the per-worker passes it runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_WORKER_H
#define SYNCOPT_WORKER_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

#include "syncopt.h"

extern void syncopt_register_workers(void);
extern PGDLLEXPORT void syncopt_worker_main(Datum main_arg);
extern PGDLLEXPORT void syncopt_poller_main(Datum main_arg);

/*
 * One pass of a worker's work, run outside any transaction (the pass opens
 * its own).  "woken" says a backend asked for this pass.  Returns how many
 * milliseconds to sleep before the next pass.
 */
extern long collector_pass(bool woken);
extern long executor_pass(bool woken);

/* Sees one result row of worker_step(), in the caller's memory context. */
typedef void (*WorkerRowReader) (HeapTuple tuple, TupleDesc desc, void *arg);

extern int64 worker_query_int8(const char *query, int64 if_null);
extern bool worker_step(const char *sql, int nargs, Oid *types, Datum *values,
						const char *nulls, WorkerRowReader reader, void *arg);
extern long notify_pass(void);

#endif							/* SYNCOPT_WORKER_H */
