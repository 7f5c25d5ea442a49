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

#include "syncopt.h"

extern void syncopt_register_workers(void);
extern PGDLLEXPORT void syncopt_worker_main(Datum main_arg);
extern PGDLLEXPORT void syncopt_poller_main(Datum main_arg);

/*
 * One pass of a worker's work, run outside any transaction (the pass opens
 * its own).  "woken" says a backend asked for this pass.  Returns how many
 * milliseconds to sleep before the next pass.
 */
/* The role passes run as (syncopt.worker_role), or InvalidOid with *why. */
extern Oid	worker_role(const char **why);
extern long collector_pass(bool woken);
extern long executor_pass(bool woken);

extern long notify_pass(void);

#endif							/* SYNCOPT_WORKER_H */
