/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  Registration and main loop of syncopt's background workers.
 *
 * Both workers share one loop: sleep on the latch until the next pass is
 * due or a backend wakes them, then run one pass, which opens transactions
 * of its own as it needs them.
 * Each pass runs as syncopt.worker_role (a member of syncopt_worker, never
 * a superuser), not as the bootstrap superuser the worker connected as.
 * An error in a pass is logged, kept for worker_status() until a pass goes
 * well, and retried after a back-off; it never ends the loop, so one bad
 * row cannot stop the queue.
 * The workers exit only with a restartable code, so pg_terminate_backend()
 * or a crash brings them back after SYNCOPT_RESTART_SECONDS.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
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
 * Whether the extension is installed in the worker's database.
 *
 * A DROP EXTENSION becomes visible before it sends its cache invalidations,
 * and PostgreSQL 18 looks extensions up through the syscache: a pass can fail
 * on a function already gone while the cache still names the extension.  So
 * a found extension is locked, which waits for a dropping transaction to end
 * and takes in its invalidations, and then looked up again.
 */
static bool
extension_installed(void)
{
	Oid			extension;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	extension = get_extension_oid("syncopt", true);
	if (OidIsValid(extension))
	{
		LockDatabaseObject(ExtensionRelationId, extension, 0, AccessShareLock);
		extension = get_extension_oid("syncopt", true);
	}
	CommitTransactionCommand();
	return OidIsValid(extension);
}

/*
 * The role a pass runs as: syncopt.worker_role, if it exists, is not a
 * superuser and has the privileges of syncopt_worker.  Otherwise
 * InvalidOid, and *why says what is wrong.
 */
Oid
worker_role(const char **why)
{
	Oid			role;
	Oid			granted;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	role = get_role_oid(syncopt_worker_role, true);
	granted = get_role_oid("syncopt_worker", true);
	if (!OidIsValid(role))
		*why = "does not exist";
	else if (superuser_arg(role))
		*why = "is a superuser";
	else if (!OidIsValid(granted) || !has_privs_of_role(role, granted))
		*why = "is not a member of syncopt_worker";
	else
		*why = NULL;
	CommitTransactionCommand();
	return *why == NULL ? role : InvalidOid;
}

/*
 * Run one pass; returns the delay until the next.  Passes run outside any
 * transaction and open their own (so the collector holds none across
 * HTTP).  A pass runs as the worker role, as a SECURITY DEFINER function
 * does: SET ROLE and SET SESSION AUTHORIZATION are refused inside it.
 * Errors are caught here so that the loop survives them.
 */
static long
run_pass(SyncoptWorkerKind kind, bool woken, MemoryContext loop_context)
{
	volatile long delay_ms = ERROR_BACKOFF_MS;
	static bool reported_missing = false;
	static bool reported_role = false;
	Oid			saved_user;
	int			saved_context;

	GetUserIdAndSecContext(&saved_user, &saved_context);
	PG_TRY();
	{
		Oid			role = InvalidOid;
		const char *why = NULL;

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
		else if (!OidIsValid(role = worker_role(&why)))
		{
			worker_state_set_phase(kind, SYNCOPT_PHASE_WAITING_FOR_ROLE);
			if (!reported_role)
				ereport(LOG,
						(errmsg("syncopt %s: role \"%s\" (syncopt.worker_role) %s; waiting",
								syncopt_worker_name(kind), syncopt_worker_role, why),
						 errdetail("The workers run only as a role that is not a superuser and has the privileges of syncopt_worker."),
						 errhint("Set syncopt.worker_role to syncopt_worker, or GRANT syncopt_worker to the role, and reload.")));
			reported_role = true;
			delay_ms = EXTENSION_RECHECK_MS;
		}
		else
		{
			TimestampTz pass_start = GetCurrentTimestamp();

			reported_missing = false;
			reported_role = false;
			worker_state_set_phase(kind, SYNCOPT_PHASE_RUNNING);
			pgstat_report_activity(STATE_RUNNING, syncopt_worker_name(kind));
			SetUserIdAndSecContext(role, saved_context | SECURITY_LOCAL_USERID_CHANGE);
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
		SetUserIdAndSecContext(saved_user, saved_context);

		/*
		 * DROP EXTENSION during a pass makes its next statement fail; that is
		 * the extension going away, which the next pass waits for, not an
		 * error of the pass.
		 */
		if (extension_installed())
		{
			worker_state_record_error(kind, edata->message);
			delay_ms = ERROR_BACKOFF_MS;
		}
		else
			delay_ms = 0;
		worker_state_set_phase(kind, SYNCOPT_PHASE_IDLE);
	}
	PG_END_TRY();
	SetUserIdAndSecContext(saved_user, saved_context);

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
