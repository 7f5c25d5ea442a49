/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Registration and main loop of syncopt's background workers.
 *
 * Both workers share one loop: sleep on the latch until the next pass is
 * due or a backend wakes them, then run one pass, which opens transactions
 * of its own as it needs them.
 * An error in a pass is logged, kept for worker_status() until a pass goes
 * well, and retried after a back-off; it never ends the loop, so one bad row cannot stop the queue.
 * The workers exit only with a restartable code, so pg_terminate_backend()
 * or a crash brings them back after SYNCOPT_RESTART_SECONDS.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "worker.h"
#include "worker_state.h"

/* Seconds the postmaster waits before restarting a worker that exited. */
#define SYNCOPT_RESTART_SECONDS 5

/* How often a worker looks again for an extension that is not installed. */
#define EXTENSION_RECHECK_MS (10 * 1000L)

/* Back-off after a pass failed, so a persistent error does not spin. */
#define ERROR_BACKOFF_MS (10 * 1000L)

static long (*const worker_passes[SYNCOPT_NUM_WORKERS]) (bool woken) =
{
	[SYNCOPT_WORKER_COLLECTOR] = collector_pass,
	[SYNCOPT_WORKER_EXECUTOR] = executor_pass,
};

/* Register the collector and executor as static background workers. */
void
syncopt_register_workers(void)
{
	for (int i = 0; i < SYNCOPT_NUM_WORKERS; i++)
	{
		BackgroundWorker worker;

		memset(&worker, 0, sizeof(worker));
		worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
			BGWORKER_BACKEND_DATABASE_CONNECTION;
		/* The workers write, so they never run on a standby. */
		worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
		worker.bgw_restart_time = SYNCOPT_RESTART_SECONDS;
		strlcpy(worker.bgw_library_name, "syncopt", BGW_MAXLEN);
		strlcpy(worker.bgw_function_name, "syncopt_worker_main", BGW_MAXLEN);
		snprintf(worker.bgw_name, BGW_MAXLEN, "syncopt %s", syncopt_worker_name(i));
		snprintf(worker.bgw_type, BGW_MAXLEN, "syncopt %s", syncopt_worker_name(i));
		worker.bgw_main_arg = Int32GetDatum(i);
		RegisterBackgroundWorker(&worker);
	}
}

/*
 * Run one SQL query that returns a single bigint in a transaction of its
 * own; NULL reads as `if_null`.
 */
int64
worker_query_int8(const char *query, int64 if_null)
{
	bool		isnull;
	Datum		value;
	int64		result;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, query);
	if (SPI_execute(query, false, 1) < 0 || SPI_processed != 1)
		elog(ERROR, "syncopt: query did not return one row: %s", query);
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	result = isnull ? if_null : DatumGetInt64(value);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/*
 * Run one statement in a transaction of its own; the reader, if any, sees
 * each result row in the caller's memory context (it must copy what it
 * keeps).  An error is logged and rolled back and false returned, so one
 * bad row never stops a worker's loop; a cancel or shutdown propagates.
 */
bool
worker_step(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
			WorkerRowReader reader, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "syncopt: SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, sql);
		if (SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0) < 0)
			elog(ERROR, "syncopt: statement failed: %s", sql);
		if (reader != NULL)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			for (uint64 i = 0; i < SPI_processed; i++)
				reader(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, arg);
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* Whether the extension is installed in the worker's database. */
static bool
extension_installed(void)
{
	bool		installed;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	installed = OidIsValid(get_extension_oid("syncopt", true));
	CommitTransactionCommand();
	return installed;
}

/*
 * Run one pass; returns the delay until the next.  Passes run outside any
 * transaction and open their own (so the collector holds none across
 * HTTP).  Errors are caught here so that the loop survives them.
 */
static long
run_pass(SyncoptWorkerKind kind, bool woken, MemoryContext loop_context)
{
	volatile long delay_ms = ERROR_BACKOFF_MS;
	static bool reported_missing = false;

	PG_TRY();
	{
		if (!extension_installed())
		{
			worker_state_set_phase(kind, SYNCOPT_PHASE_WAITING_FOR_EXTENSION);
			if (!reported_missing)
				ereport(LOG,
						(errmsg("syncopt %s: extension \"syncopt\" is not installed in database \"%s\"; waiting",
								syncopt_worker_name(kind), syncopt_database_name),
						 errhint("Run CREATE EXTENSION syncopt in database \"%s\".",
								 syncopt_database_name)));
			reported_missing = true;
			delay_ms = EXTENSION_RECHECK_MS;
		}
		else
		{
			TimestampTz pass_start = GetCurrentTimestamp();

			reported_missing = false;
			worker_state_set_phase(kind, SYNCOPT_PHASE_RUNNING);
			pgstat_report_activity(STATE_RUNNING, syncopt_worker_name(kind));
			delay_ms = worker_passes[kind] (woken);
			worker_state_clear_error(kind, pass_start);
			worker_state_set_phase(kind, SYNCOPT_PHASE_IDLE);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(loop_context);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		worker_state_record_error(kind, edata->message);
		worker_state_set_phase(kind, SYNCOPT_PHASE_IDLE);
		delay_ms = ERROR_BACKOFF_MS;
	}
	PG_END_TRY();

	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(false);
	return delay_ms;
}

/* Entry point of both workers; main_arg is the SyncoptWorkerKind. */
void
syncopt_worker_main(Datum main_arg)
{
	SyncoptWorkerKind kind = DatumGetInt32(main_arg);
	MemoryContext loop_context;
	char		appname[NAMEDATALEN];

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	/* SIGUSR1 keeps the default procsignal handler, which sets our latch. */
	BackgroundWorkerUnblockSignals();

	worker_state_attach(kind);
	BackgroundWorkerInitializeConnection(syncopt_database_name, NULL, 0);
	snprintf(appname, sizeof(appname), "syncopt %s", syncopt_worker_name(kind));
	pgstat_report_appname(appname);

	loop_context = AllocSetContextCreate(TopMemoryContext, "syncopt worker loop",
										 ALLOCSET_DEFAULT_SIZES);

	while (!ShutdownRequestPending)
	{
		bool		woken;
		long		delay_ms;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		woken = worker_state_take_wakes(kind) > 0;
		MemoryContextSwitchTo(loop_context);
		delay_ms = run_pass(kind, woken, loop_context);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_context);
		worker_state_loop_done(kind, TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																  delay_ms));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 delay_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}

	/* Non-zero, so that the postmaster restarts us unless it is shutting down. */
	proc_exit(1);
}
