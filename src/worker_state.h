/*-------------------------------------------------------------------------
 *
 * worker_state.h
 *	  Shared-memory state of syncopt's background workers: what
 *	  syncopt.worker_status() reports and how a backend finds a worker's
 *	  latch to wake it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_WORKER_STATE_H
#define SYNCOPT_WORKER_STATE_H

#include "postgres.h"

#include "syncopt.h"
#include "utils/timestamp.h"

/* What a worker is doing, as worker_status() shows it. */
typedef enum SyncoptWorkerPhase
{
	SYNCOPT_PHASE_NOT_RUNNING = 0,
	SYNCOPT_PHASE_STARTING,
	SYNCOPT_PHASE_WAITING_FOR_EXTENSION,
	SYNCOPT_PHASE_WAITING_FOR_ROLE,
	SYNCOPT_PHASE_RUNNING,
	SYNCOPT_PHASE_IDLE
}			SyncoptWorkerPhase;

extern void worker_state_install_hooks(void);

extern void worker_state_attach(SyncoptWorkerKind kind);
extern void worker_state_set_phase(SyncoptWorkerKind kind, SyncoptWorkerPhase phase);
extern uint64 worker_state_take_wakes(SyncoptWorkerKind kind);
extern void worker_state_loop_done(SyncoptWorkerKind kind, TimestampTz next_wake_at);
extern void worker_state_record_error(SyncoptWorkerKind kind, const char *message);
extern void worker_state_clear_error(SyncoptWorkerKind kind, TimestampTz pass_start);
extern void worker_state_request_wake(SyncoptWorkerKind kind);
extern void worker_state_note_retry_after(int seconds);

#endif							/* SYNCOPT_WORKER_STATE_H */
