/*-------------------------------------------------------------------------
 *
 * worker_state.c
 *	  Shared-memory slots describing syncopt's background workers, and the
 *	  SQL function syncopt.worker_status() that reports them.
 *
 * Each worker owns one slot.  Slots hold no process-local pointers: a
 * backend that wants to wake a worker finds its latch through the worker's
 * proc number, so a worker that died and restarted can never leave a
 * dangling pointer behind.  Wake requests are counted in an atomic so that the
 * waking backend never takes the lock on its commit path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "pg_compat.h"
#include "worker_state.h"

#define SYNCOPT_ERROR_LEN 512

typedef struct SyncoptWorkerSlot
{
	pid_t		pid;			/* 0 when not running */
	ProcNumber	procno;			/* INVALID_PROC_NUMBER when not running */
	SyncoptWorkerPhase phase;
	TimestampTz started_at;
	TimestampTz last_loop_at;
	TimestampTz next_wake_at;
	TimestampTz last_wake_at;
	TimestampTz last_error_at;
	TimestampTz retry_after_until;	/* end of the last Retry-After wait */
	uint64		starts;
	uint64		loops;
	uint64		wakes_handled;	/* wake_requests value last consumed */
	char		last_error[SYNCOPT_ERROR_LEN];
	pg_atomic_uint64 wake_requests;
}			SyncoptWorkerSlot;

typedef struct SyncoptShared
{
	LWLock	   *lock;
	SyncoptWorkerSlot workers[SYNCOPT_NUM_WORKERS];
}			SyncoptShared;

static SyncoptShared * shared = NULL;

/* The slot of this process, when it is one of the workers; else -1. */
static int	my_worker = -1;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void syncopt_shmem_request(void);
static void syncopt_shmem_startup(void);
static void worker_state_detach(int code, Datum arg);

/* Reserve shared memory and the lock for the worker slots (postmaster only). */
static void
syncopt_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(SyncoptShared)));
	RequestNamedLWLockTranche("syncopt", 1);
}

/* Create or attach to the worker slots. */
static void
syncopt_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("syncopt", sizeof(SyncoptShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(SyncoptShared));
		shared->lock = &(GetNamedLWLockTranche("syncopt"))->lock;
		for (int i = 0; i < SYNCOPT_NUM_WORKERS; i++)
		{
			shared->workers[i].procno = INVALID_PROC_NUMBER;
			pg_atomic_init_u64(&shared->workers[i].wake_requests, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Install the shared-memory hooks; called from _PG_init while preloading. */
void
worker_state_install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = syncopt_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = syncopt_shmem_startup;
}

/* Claim this worker's slot for the current process. */
void
worker_state_attach(SyncoptWorkerKind kind)
{
	SyncoptWorkerSlot *slot = &shared->workers[kind];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot->pid = MyProcPid;
	slot->procno = MyProcNumber;
	slot->phase = SYNCOPT_PHASE_STARTING;
	slot->started_at = GetCurrentTimestamp();
	slot->next_wake_at = 0;
	slot->starts++;

	/*
	 * Requests made while no worker was running are served by the first pass,
	 * which every worker makes at start, so they count as handled.
	 */
	slot->wakes_handled = pg_atomic_read_u64(&slot->wake_requests);
	LWLockRelease(shared->lock);
	my_worker = kind;

	before_shmem_exit(worker_state_detach, Int32GetDatum(kind));
}

/* Release this worker's slot on exit, so nobody sets a stale latch. */
static void
worker_state_detach(int code, Datum arg)
{
	SyncoptWorkerSlot *slot = &shared->workers[DatumGetInt32(arg)];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->procno = INVALID_PROC_NUMBER;
		slot->phase = SYNCOPT_PHASE_NOT_RUNNING;
		slot->next_wake_at = 0;
	}
	LWLockRelease(shared->lock);
}

/* Record what the worker is doing now. */
void
worker_state_set_phase(SyncoptWorkerKind kind, SyncoptWorkerPhase phase)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->workers[kind].phase = phase;
	LWLockRelease(shared->lock);
}

/* Consume the wake requests made since the last call; returns how many. */
uint64
worker_state_take_wakes(SyncoptWorkerKind kind)
{
	SyncoptWorkerSlot *slot = &shared->workers[kind];
	uint64		requested = pg_atomic_read_u64(&slot->wake_requests);
	uint64		fresh;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	fresh = requested - slot->wakes_handled;
	if (fresh > 0)
	{
		slot->wakes_handled = requested;
		slot->last_wake_at = GetCurrentTimestamp();
	}
	LWLockRelease(shared->lock);
	return fresh;
}

/* Record the end of one loop and when the worker will next wake by itself. */
void
worker_state_loop_done(SyncoptWorkerKind kind, TimestampTz next_wake_at)
{
	SyncoptWorkerSlot *slot = &shared->workers[kind];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	slot->loops++;
	slot->last_loop_at = GetCurrentTimestamp();
	slot->next_wake_at = next_wake_at;
	LWLockRelease(shared->lock);
}

/* Keep the last error a worker hit, for worker_status(). */
void
worker_state_record_error(SyncoptWorkerKind kind, const char *message)
{
	SyncoptWorkerSlot *slot = &shared->workers[kind];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	strlcpy(slot->last_error, message, SYNCOPT_ERROR_LEN);
	slot->last_error_at = GetCurrentTimestamp();
	LWLockRelease(shared->lock);
}

/*
 * Forget the last error if it is older than `pass_start`: a pass that began
 * after it went well, so it no longer describes the worker.
 */
void
worker_state_clear_error(SyncoptWorkerKind kind, TimestampTz pass_start)
{
	SyncoptWorkerSlot *slot = &shared->workers[kind];

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (slot->last_error_at < pass_start)
	{
		slot->last_error[0] = '\0';
		slot->last_error_at = 0;
	}
	LWLockRelease(shared->lock);
}

/*
 * Show for how long a vendor asked this worker to wait (a Retry-After,
 * already capped by the transport); a no-op outside the workers.
 */
void
worker_state_note_retry_after(int seconds)
{
	if (shared == NULL || my_worker < 0)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->workers[my_worker].retry_after_until =
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), seconds * 1000L);
	LWLockRelease(shared->lock);
}

/*
 * Wake a worker now.  Called at commit, so it must not fail: a worker that is
 * not running simply finds the request counted when it starts.
 */
void
worker_state_request_wake(SyncoptWorkerKind kind)
{
	SyncoptWorkerSlot *slot;
	ProcNumber	procno;

	if (shared == NULL)
		return;
	slot = &shared->workers[kind];
	pg_atomic_fetch_add_u64(&slot->wake_requests, 1);

	LWLockAcquire(shared->lock, LW_SHARED);
	procno = slot->procno;
	if (procno != INVALID_PROC_NUMBER)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
	LWLockRelease(shared->lock);
}

/* Name of a phase as worker_status() shows it. */
static const char *
phase_name(SyncoptWorkerPhase phase)
{
	switch (phase)
	{
		case SYNCOPT_PHASE_NOT_RUNNING:
			return "not running";
		case SYNCOPT_PHASE_STARTING:
			return "starting";
		case SYNCOPT_PHASE_WAITING_FOR_EXTENSION:
			return "waiting for extension";
		case SYNCOPT_PHASE_WAITING_FOR_ROLE:
			return "waiting for role";
		case SYNCOPT_PHASE_RUNNING:
			return "running";
		case SYNCOPT_PHASE_IDLE:
			return "idle";
	}
	return "unknown";
}

/* A timestamp column that is NULL until the event first happened. */
static void
put_timestamp(Datum *values, bool *nulls, int i, TimestampTz ts)
{
	nulls[i] = (ts == 0);
	values[i] = TimestampTzGetDatum(ts);
}

PG_FUNCTION_INFO_V1(syncopt_worker_status);

/*
 * syncopt.worker_status(): one row per background worker with its pid,
 * database, phase, loop and wake counters, last error, and the end of the
 * last Retry-After wait a vendor asked for.
 */
Datum
syncopt_worker_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("syncopt shared memory is not initialized"),
				 errhint("Add syncopt to shared_preload_libraries and restart the server.")));

	InitMaterializedSRF(fcinfo, 0);

	for (int i = 0; i < SYNCOPT_NUM_WORKERS; i++)
	{
		SyncoptWorkerSlot copy;
		Datum		values[15];
		bool		nulls[15];

		LWLockAcquire(shared->lock, LW_SHARED);
		memcpy(&copy, &shared->workers[i], offsetof(SyncoptWorkerSlot, wake_requests));
		LWLockRelease(shared->lock);

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(syncopt_worker_name(i));
		values[1] = Int32GetDatum(copy.pid);
		nulls[1] = (copy.pid == 0);
		values[2] = CStringGetTextDatum(syncopt_database_name);
		values[3] = CStringGetTextDatum(syncopt_enable_workers ?
										phase_name(copy.phase) : "disabled");
		put_timestamp(values, nulls, 4, copy.started_at);
		put_timestamp(values, nulls, 5, copy.last_loop_at);
		put_timestamp(values, nulls, 6, copy.next_wake_at);
		values[7] = Int64GetDatum((int64) copy.starts);
		values[8] = Int64GetDatum((int64) copy.loops);
		values[9] = Int64GetDatum((int64) pg_atomic_read_u64(&shared->workers[i].wake_requests));
		values[10] = Int64GetDatum((int64) copy.wakes_handled);
		put_timestamp(values, nulls, 11, copy.last_wake_at);
		values[12] = CStringGetTextDatum(copy.last_error);
		nulls[12] = (copy.last_error[0] == '\0');
		put_timestamp(values, nulls, 13, copy.last_error_at);
		put_timestamp(values, nulls, 14, copy.retry_after_until);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
