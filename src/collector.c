/*-------------------------------------------------------------------------
 *
 * collector.c
 *	  The collector: a launcher worker and one short-lived poller worker per
 *	  account being polled.
 *
 * The static collector worker polls nothing itself.  Each pass it starts a
 * dynamic background worker for every enabled account whose poll is due
 * (next_due_at in syncopt.collector_state; syncopt.request_poll() makes one
 * due now and wakes the launcher), at most syncopt.collector_max_workers at
 * a time and never two for one account, so a hung, slow or throttled
 * vendor holds only its own poller and every other account is polled on
 * time.  A poller runs one poll (collect_account(), in steps so that no
 * transaction stays open across HTTP) and exits; the postmaster tells the
 * launcher, which then starts the next.  The launcher also keeps history
 * bounded: the retention purge (whole weeks of sync_run dropped, the rest
 * in batches; weeks ahead created) runs once an hour, and again at once
 * while a purge still finds a full batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "collect.h"
#include "spi_run.h"
#include "worker.h"
#include "worker_state.h"

/* How often the retention purge runs when there is no backlog. */
#define PURGE_INTERVAL_MS (60 * 60 * 1000L)

/* Pause between purge batches while a backlog remains. */
#define PURGE_BACKLOG_MS 1000L

/* Rows per table per batch; must match purge_history's default. */
#define PURGE_BATCH_SIZE 10000

/* Longest sleep: accounts added or enabled without request_poll() are seen then. */
#define IDLE_RECHECK_MS (60 * 1000L)

/* Wait before trying again when no background worker slot was free. */
#define SLOT_RETRY_MS 1000L

/* Wait before trying again when the launcher's own query failed. */
#define ERROR_RETRY_MS (10 * 1000L)

/*
 * Run the retention purge when due; returns the delay until it is due
 * again.  It runs with retention 0 too: it also creates sync_run's weekly
 * partitions ahead of time.
 */
static long
purge_if_due(void)
{
	static TimestampTz next_purge_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	int64		purged;

	if (now < next_purge_at)
		return TimestampDifferenceMilliseconds(now, next_purge_at);

	purged = spi_worker_int8("SELECT syncopt.purge_history()", 0);
	if (purged > 0)
		ereport(LOG,
				(errmsg("syncopt collector: purged %lld rows older than syncopt.history_retention",
						(long long) purged)));

	if (purged >= PURGE_BATCH_SIZE)
		return PURGE_BACKLOG_MS;
	next_purge_at = TimestampTzPlusMilliseconds(now, PURGE_INTERVAL_MS);
	return PURGE_INTERVAL_MS;
}

/*
 * What the launcher hands a poller in bgw_extra: the account, and the
 * database and role the launcher itself runs in.
 */
typedef struct PollerArgs
{
	int64		account_id;
	Oid			database_id;
	Oid			role_id;
}			PollerArgs;

/* A poller the launcher started and has not yet seen exit. */
typedef struct Poller
{
	int64		account_id;
	BackgroundWorkerHandle *handle;
}			Poller;

/* The launcher's running pollers, in TopMemoryContext (passes reset theirs). */
static List *pollers = NIL;

/* Forget the pollers that have exited. */
static void
prune_pollers(void)
{
	ListCell   *lc;

	foreach(lc, pollers)
	{
		Poller	   *p = lfirst(lc);
		pid_t		pid;

		if (GetBackgroundWorkerPid(p->handle, &pid) == BGWH_STOPPED)
		{
			pfree(p->handle);
			pfree(p);
			pollers = foreach_delete_current(pollers, lc);
		}
	}
}

/* The accounts being polled, as a bigint[] datum in the current context. */
static Datum
busy_accounts(void)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(list_length(pollers), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, pollers)
		ids[n++] = Int64GetDatum(((Poller *) lfirst(lc))->account_id);
	return PointerGetDatum(construct_array(ids, n, INT8OID, sizeof(int64),
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* Reader of collector_due_accounts(): each account id appended to a List. */
static void
read_due_account(HeapTuple tuple, TupleDesc desc, void *arg)
{
	List	  **accounts = (List **) arg;
	bool		isnull;
	Datum		id = heap_getattr(tuple, 1, desc, &isnull);

	if (!isnull)
		*accounts = lappend(*accounts, (void *) (intptr_t) DatumGetInt64(id));
}

/* Reader of collector_next_due_ms(): the milliseconds, -1 when NULL. */
static void
read_next_due(HeapTuple tuple, TupleDesc desc, void *arg)
{
	bool		isnull;
	Datum		ms = heap_getattr(tuple, 1, desc, &isnull);

	*(int64 *) arg = isnull ? -1 : DatumGetInt64(ms);
}

/*
 * Start a poller for the account; false when no background worker slot is
 * free (max_worker_processes), which is recorded for worker_status().
 */
static bool
start_poller(int64 account_id)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	PollerArgs	args;
	MemoryContext oldcxt;
	Poller	   *p;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "syncopt", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "syncopt_poller_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "syncopt poller for account %lld", (long long) account_id);
	strlcpy(worker.bgw_type, "syncopt poller", BGW_MAXLEN);
	worker.bgw_notify_pid = MyProcPid;
	args.account_id = account_id;
	args.database_id = MyDatabaseId;
	args.role_id = GetSessionUserId();
	StaticAssertStmt(sizeof(PollerArgs) <= BGW_EXTRALEN, "PollerArgs must fit in bgw_extra");
	memcpy(worker.bgw_extra, &args, sizeof(args));

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(oldcxt);
		worker_state_record_error(SYNCOPT_WORKER_COLLECTOR,
								  psprintf("no background worker slot free to poll account %lld; raise max_worker_processes",
										   (long long) account_id));
		return false;
	}
	p = palloc(sizeof(Poller));
	p->account_id = account_id;
	p->handle = handle;
	pollers = lappend(pollers, p);
	MemoryContextSwitchTo(oldcxt);
	return true;
}

/*
 * Start pollers for the due accounts and purge when due; returns the delay
 * until the next pass.  A poller's exit wakes the launcher
 * (bgw_notify_pid), so accounts left waiting for a free poller are started
 * as soon as one is.
 */
long
collector_pass(bool woken)
{
	long		delay_ms;
	int64		next_due_ms = -1;
	List	   *accounts = NIL;
	ListCell   *lc;
	Oid			types[1] = {INT8ARRAYOID};
	Datum		args[1];
	bool		waiting = false;

	delay_ms = purge_if_due();
	prune_pollers();
	args[0] = busy_accounts();
	if (!spi_worker_step("SELECT syncopt.collector_due_accounts($1)", 1, types, args, NULL,
					 read_due_account, &accounts))
		return ERROR_RETRY_MS;
	foreach(lc, accounts)
	{
		if (list_length(pollers) >= syncopt_collector_max_workers)
		{
			waiting = true;
			break;
		}
		if (!start_poller((int64) (intptr_t) lfirst(lc)))
			return SLOT_RETRY_MS;
	}

	delay_ms = Min(delay_ms, IDLE_RECHECK_MS);
	/* Accounts still due wait for a poller to exit, which wakes us. */
	if (waiting)
		return delay_ms;
	args[0] = busy_accounts();
	if (!spi_worker_step("SELECT syncopt.collector_next_due_ms($1)", 1, types, args, NULL,
					 read_next_due, &next_due_ms))
		return ERROR_RETRY_MS;
	if (next_due_ms >= 0)
		delay_ms = Min(delay_ms, next_due_ms);
	return Max(delay_ms, 1);
}

/*
 * Poll one account, catching what the poll itself did not (an error outside
 * its steps), so that it is recorded as the account's outcome.  A shutdown
 * is not caught.
 */
static void
poll_account(int64 account_id)
{
	MemoryContext poll_context = CurrentMemoryContext;

	PG_TRY();
	{
		List	   *endpoints = collect_account(account_id, true);
		ListCell   *lc;

		foreach(lc, endpoints)
		{
			CollectEndpoint *ep = lfirst(lc);

			if (ep->error != NULL)
			{
				worker_state_record_error(SYNCOPT_WORKER_COLLECTOR,
										  psprintf("account %lld, %s: %s", (long long) account_id,
												   ep->name, ep->error));
				break;
			}
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		Oid			types[2] = {INT8OID, TEXTOID};
		Datum		args[2];

		MemoryContextSwitchTo(poll_context);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		worker_state_record_error(SYNCOPT_WORKER_COLLECTOR,
								  psprintf("account %lld: %s", (long long) account_id, edata->message));
		args[0] = Int64GetDatum(account_id);
		args[1] = CStringGetTextDatum(edata->message);
		(void) spi_step(0, "SELECT syncopt.collector_record_outcome($1, 'error', $2, 0, 0, 0, NULL, NULL, NULL)",
						2, types, args, NULL, NULL, NULL, NULL);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(poll_context);
}

/*
 * Entry point of a poller: one poll of the account in bgw_extra, then exit.
 * It is never restarted; the launcher starts another when the account is
 * due again.
 */
void
syncopt_poller_main(Datum main_arg)
{
	PollerArgs	args;
	char		appname[NAMEDATALEN];
	const char *why;
	Oid			role;

	memcpy(&args, MyBgworkerEntry->bgw_extra, sizeof(args));
	/* die(): a shutdown or pg_terminate_backend() ends even a lock wait. */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(args.database_id, args.role_id, 0);
	snprintf(appname, sizeof(appname), "syncopt poller %lld", (long long) args.account_id);
	pgstat_report_appname(appname);

	/* A poll runs as the worker role, as the launcher's passes do. */
	role = worker_role(&why);
	if (!OidIsValid(role))
	{
		worker_state_record_error(SYNCOPT_WORKER_COLLECTOR,
								  psprintf("account %lld not polled: role \"%s\" (syncopt.worker_role) %s",
										   (long long) args.account_id, syncopt_worker_role, why));
		proc_exit(0);
	}
	SetUserIdAndSecContext(role, SECURITY_LOCAL_USERID_CHANGE);

	/*
	 * A crash loses at most the last pages ingested, which the next poll
	 * reads again (ingestion is idempotent); no need to flush every step.
	 */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);

	MemoryContextSwitchTo(AllocSetContextCreate(TopMemoryContext, "syncopt poller",
												ALLOCSET_DEFAULT_SIZES));
	pgstat_report_activity(STATE_RUNNING, appname);
	poll_account(args.account_id);
	pgstat_report_activity(STATE_IDLE, NULL);
	pgstat_report_stat(true);
	proc_exit(0);
}
