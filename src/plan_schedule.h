/*-------------------------------------------------------------------------
 *
 * plan_schedule.h
 *	  The working state of one plan, shared by the list scheduling
 *	  (plan.c) and the triages that choose its order (plan_triage.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_PLAN_SCHEDULE_H
#define SYNCOPT_PLAN_SCHEDULE_H

#include "analytics.h"
#include "plan_slots.h"

/*
 * How long a planned sync holds its slot, and when the plan expects it to
 * land: its P50.  The P90 stays the forecast (a sync's predicted end, the
 * deadline at risk, the windows it must keep out of), but planned at P90
 * every sync holds its slot for its worst case, so on short capacity the
 * plan gives up deadlines the syncs would meet more often than not
 * (docs/benchmarks.md, Decision quality); the next planning run sees what
 * actually landed and plans again.
 */
static inline double
plan_run_seconds(const Connector *c)
{
	return c->pred.p50_s;
}

/* The passes a plan's triages remember (plan_recall.c). */
typedef struct PassMemory PassMemory;

/* Working state of one list-scheduling pass. */
typedef struct Schedule
{
	Fleet	   *fleet;			/* deadline triage moves due times */
	const Score *scores;
	TimestampTz horizon_end;
	int		   *job_of;			/* connector -> job index, -1 not planned */
	PlannedSync *jobs;
	TimestampTz *busy_end;		/* per job: when its slot frees (plan_run_seconds) */
	int			njobs;
	bool	   *placed;
	bool	   *dropped;		/* triaged */
	int		   *given_up_for;	/* per job: the deadline (asset) deadline triage
								 * gave up for it, -1 none */
	bool	   *given_up;		/* per asset: deadlines deadline triage gave up */
	const TimestampTz *due_first;	/* per job: its due time before any triage */
	int		   *edd_first;		/* the jobs by those due times, then job order */
	const char *order_note;		/* why this pass follows the triage order; NULL if not */
	Slots		slots;
	int			nslots;
	int		   *win_off;		/* per job: the windows that may hold it back, */
	int		   *win_idx;		/* fleet->win indexes by start */
	int			nrunning;
	int		   *dest_of;		/* per job: its destination's number, -1 none */
	int		   *dest_off;		/* destination -> its jobs in dest_jobs */
	int		   *dest_jobs;
	bool		explain;		/* write each sync's reason (plan() does; a replay does not) */
	PassMemory *memory;			/* recall_pass()'s, made when first needed */
	int			next_priority;
} Schedule;

extern void schedule_pass(Schedule *s, const int *order);
extern double missed_deadline_weight(const Schedule *s, const int *due_asset);
extern void choose_triage(Schedule *s, int *job_order);
extern void recall_pass(Schedule *s, const int *order);
extern void forget_passes(Schedule *s);

#endif							/* SYNCOPT_PLAN_SCHEDULE_H */
