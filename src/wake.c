/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  Waking syncopt's background workers when, and only when, the
 *	  transaction that asked for it commits.
 *
 * An approval is an UPDATE that may still roll back, so the trigger that
 * sees it must not wake the executor directly: the executor would look,
 * find nothing committed, and go back to sleep, or worse, a rolled-back
 * approval would count as a wake.  Instead the request is remembered in
 * this backend and delivered from a transaction callback at commit.
 * Requests made inside a subtransaction that later rolls back are dropped.
 * PREPARE TRANSACTION drops them too (the executor's safety poll finds a
 * prepared approval once it commits).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "worker_state.h"

/*
 * Per worker, the outermost transaction nesting level at which a wake was
 * requested in the current transaction, or 0 when none is pending.
 */
static int	pending_level[SYNCOPT_NUM_WORKERS];
static bool callbacks_registered = false;

/* Deliver pending wakes at commit; forget them on abort or prepare. */
static void
wake_xact_callback(XactEvent event, void *arg)
{
	for (int i = 0; i < SYNCOPT_NUM_WORKERS; i++)
	{
		if (pending_level[i] == 0)
			continue;
		if (event == XACT_EVENT_COMMIT)
			worker_state_request_wake(i);
		if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
			event == XACT_EVENT_PREPARE)
			pending_level[i] = 0;
	}
}

/* Hand pending wakes to the parent on subcommit; drop them on subabort. */
static void
wake_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					  SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	for (int i = 0; i < SYNCOPT_NUM_WORKERS; i++)
	{
		if (pending_level[i] < level)
			continue;
		if (event == SUBXACT_EVENT_COMMIT_SUB)
			pending_level[i] = level - 1;
		else if (event == SUBXACT_EVENT_ABORT_SUB)
			pending_level[i] = 0;
	}
}

/* Ask for the given worker to be woken when the current transaction commits. */
static void
wake_at_commit(SyncoptWorkerKind kind)
{
	int			level = GetCurrentTransactionNestLevel();

	if (!callbacks_registered)
	{
		RegisterXactCallback(wake_xact_callback, NULL);
		RegisterSubXactCallback(wake_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (pending_level[kind] == 0 || level < pending_level[kind])
		pending_level[kind] = level;
}

PG_FUNCTION_INFO_V1(syncopt_wake_executor_trigger);

/*
 * Trigger on the control table: a row reached 'approved', so the executor
 * must run once this transaction commits.
 */
Datum
syncopt_wake_executor_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("syncopt.wake_executor_trigger() must be called as an AFTER ROW trigger")));

	wake_at_commit(SYNCOPT_WORKER_EXECUTOR);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(syncopt_wake);

/*
 * syncopt.wake(worker text DEFAULT NULL): wake the named worker, or all of
 * them, when the calling transaction commits.
 */
Datum
syncopt_wake(PG_FUNCTION_ARGS)
{
	const char *name = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		matched = false;

	for (int i = 0; i < SYNCOPT_NUM_WORKERS; i++)
	{
		if (name == NULL || strcmp(name, syncopt_worker_name(i)) == 0)
		{
			wake_at_commit(i);
			matched = true;
		}
	}
	if (!matched)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown syncopt worker \"%s\"", name),
				 errhint("Use \"%s\", \"%s\", or NULL for both.",
						 syncopt_worker_name(SYNCOPT_WORKER_COLLECTOR),
						 syncopt_worker_name(SYNCOPT_WORKER_EXECUTOR))));
	PG_RETURN_VOID();
}
