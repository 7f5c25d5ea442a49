/*-------------------------------------------------------------------------
 *
 * collector.c
 *	  The collector worker's pass.
 *
 * Each pass polls every enabled account whose poll is due (next_due_at in
 * syncopt.collector_state; syncopt.request_poll() makes one due now and
 * wakes the worker), each poll in its own steps so that no transaction
 * stays open across HTTP.  One account's failure is recorded and the next
 * account is polled.  The worker then sleeps until the next account is
 * due.  It also keeps history bounded: the batched retention purge runs
 * once an hour, and again at once while a purge still finds a full batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
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

/* Run the retention purge when due; returns the delay until it is due again. */
static long
purge_if_due(void)
{
	static TimestampTz next_purge_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	int64		purged;

	if (syncopt_history_retention_minutes == 0)
		return PURGE_INTERVAL_MS;
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

/* Reader: each due account's id, appended to a List. */
static void
read_due_accounts(void *arg)
{
	List	  **accounts = arg;

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		*accounts = lappend(*accounts, (void *) (intptr_t) DatumGetInt64(id));
	}
}

/* The accounts due for a poll now, in a transaction of their own. */
static List *
due_accounts(void)
{
	List	   *accounts = NIL;

	(void) spi_step(0, "SELECT syncopt.collector_due_accounts()", 0, NULL, NULL, NULL,
					read_due_accounts, &accounts, NULL);
	return accounts;
}

/*
 * Poll one account, catching what the poll itself did not (an error outside
 * its steps), so that the next account is still polled.  A shutdown is not
 * caught.
 */
static void
poll_account(int64 account_id, MemoryContext pass_context)
{
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

		MemoryContextSwitchTo(pass_context);
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
	MemoryContextSwitchTo(pass_context);
}

/* Poll the due accounts and purge when due; returns the delay until the next pass. */
long
collector_pass(bool woken)
{
	static bool session_ready = false;
	MemoryContext pass_context = CurrentMemoryContext;
	long		delay_ms;
	int64		next_due_ms;
	List	   *accounts;
	ListCell   *lc;

	/*
	 * A crash loses at most the last pages ingested, which the next poll
	 * reads again (ingestion is idempotent); no need to flush every step.
	 */
	if (!session_ready)
	{
		SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
		session_ready = true;
	}

	delay_ms = purge_if_due();
	accounts = due_accounts();
	foreach(lc, accounts)
		poll_account((int64) (intptr_t) lfirst(lc), pass_context);

	next_due_ms = spi_worker_int8("SELECT syncopt.collector_next_due_ms()", -1);
	delay_ms = Min(delay_ms, IDLE_RECHECK_MS);
	if (next_due_ms >= 0)
		delay_ms = Min(delay_ms, next_due_ms);
	return Max(delay_ms, 1);
}
