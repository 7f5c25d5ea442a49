/*-------------------------------------------------------------------------
 *
 * simulate.h
 *	  The state shared by the parts of syncopt.simulate(): the world (one
 *	  replay's deadlines, requirements, jobs and runs) and the functions
 *	  each part offers the others.
 *
 * simulate.c builds the world and answers the SQL call; simulate_events.c
 * holds the policies' jobs and the event loop; simulate_triage.c is
 * syncopt's triage and look-ahead; simulate_score.c scores a finished
 * replay (misses, lower bounds, credits).  The model itself is described
 * at the top of simulate.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_SIMULATE_H
#define SYNCOPT_SIMULATE_H

#include <math.h>

#include "analytics.h"

#define DAY_S			86400.0
#define PLANNING_EVERY_S (15 * 60.0)	/* schedule_planner()'s default cadence */

typedef enum SimPolicy
{
	SIM_STATIC,
	SIM_FIFO,
	SIM_EDF,
	SIM_SYNCOPT
} SimPolicy;

/* One asset deadline in the horizon. */
typedef struct SimOcc
{
	int			asset;
	TimestampTz deadline;
	double		weight;
	int			first_req;
	int			nreq;
	bool		given_up;		/* syncopt's triage: it will be missed anyway */
	bool		shelved;		/* syncopt's look-ahead let it go, until the next */
	double		work_left_s;	/* P50 sum of its unmet requirements (at least 1 s each) */
} SimOcc;

/* One connector's part of one occurrence. */
typedef struct SimReq
{
	int			conn;
	int			occ;
	TimestampTz open;
	TimestampTz due;
	double		lag_s;			/* models between the sync and the deadline */
	TimestampTz done;			/* end of the sync that met it; 0 none */
	TimestampTz lb_end;			/* lower bound on that end */
} SimReq;

typedef enum JobState
{
	JOB_WAITING,
	JOB_RUNNING,
	JOB_DONE
} JobState;

/* A sync the policy wants to run. */
typedef struct SimJob
{
	int			conn;
	TimestampTz release;		/* earliest useful start */
	TimestampTz due;			/* NO_TIME: nothing waits */
	TimestampTz eligible;		/* when the policy lets it start */
	double		weight;
	double		late_weight;	/* syncopt: given-up occurrences it brings up to date */
	int			attempts;
	JobState	state;
	TimestampTz started;
	TimestampTz ends;
	int			run;			/* its SimRun while running */
	bool		fails;
	bool		scheduled;		/* a vendor-scheduled run (static) */
	bool		paused;			/* syncopt: waits for credentials to be fixed */
	int			first_req;		/* demand jobs: its requirements, positions */
	int			nreq;			/* first_req.. in the connector's req_of_conn */
	TimestampTz feasible_until; /* unpaused, a start by then meets every due time */
	/* sim_window_gate() for starts in [gate_from, gate_until) and gate_due */
	TimestampTz gate;			/* 0, or the end of the window holding it */
	TimestampTz gate_from;
	TimestampTz gate_until;
	TimestampTz gate_due;
} SimJob;

/* A sync that ran, for costs and waste. */
typedef struct SimRun
{
	int			conn;
	TimestampTz start;
	TimestampTz end;
	bool		useful;
	bool		failed;
} SimRun;

typedef struct Sim
{
	Fleet	   *fleet;
	SimPolicy	policy;
	uint64		seed;
	double		noise;
	TimestampTz start;
	TimestampTz end;
	double		tail_s;
	bool		rollout;		/* a look-ahead replay: P50 durations, no faults */
	bool		weights_stale;	/* met, given up, let go or requeued since shared */
	bool		all_stale;		/* every waiting job must share again, */
	bool	   *stale_conn;		/* or only these connectors' jobs */
	TimestampTz next_planning;	/* syncopt looks ahead at the first event from then */
	MemoryContext rollout_cxt;
	int			nocc;
	SimOcc	   *occ;
	int			nreq;
	SimReq	   *req;
	int		   *req_of_conn;	/* CSR over connectors: requirement indexes by due */
	int		   *req_off;
	int			njob;
	int			maxjob;
	SimJob	   *job;
	int			nrun;
	int			maxrun;
	SimRun	   *run;
	double	   *sigma;			/* per connector */
	double	   *fail_p;
	TimestampTz *outage_from;	/* 0: none */
	TimestampTz *outage_to;
	bool	   *busy;			/* connector has a running sync */
	int		   *dest_of;		/* connector -> destination number */
	int		   *dest_running;	/* syncs running per destination */
	int		   *win_off;		/* CSR over connectors: the load windows of */
	int		   *win_idx;		/* its source or itself, fleet->win indexes
								 * by start */
	TimestampTz *win_reach;		/* latest end of win_idx[win_off[i]..k] */
	int			maxwin;			/* win_idx allocated */
} Sim;

/* Index of the UTC day containing t, counted from the epoch. */
static inline int64
sim_day_of(TimestampTz t)
{
	return (int64) floor((double) t / (DAY_S * USECS_PER_SEC));
}

/* Is connector i's credential outage in force at t? */
static inline bool
sim_in_outage(const Sim *sim, int i, TimestampTz t)
{
	return sim->outage_from[i] != 0 && t >= sim->outage_from[i] && t < sim->outage_to[i];
}

/* Requirement m of demand job j. */
static inline SimReq *
sim_job_req(const Sim *sim, const SimJob *j, int m)
{
	return &sim->req[sim->req_of_conn[j->first_req + m]];
}

/* The metrics of one simulated run. */
typedef struct SimResult
{
	int			misses;
	double		weighted_misses;
	double		weighted_tardiness_h;
	double		p95_lateness_s;
	int			syncs;
	int			failed;
	int			wasted;
	double		credits;
	int			lb_misses;
	double		lb_weighted_misses;
	double		lb_weighted_tardiness_h;
	int			lb_syncs;
	int			slot_misses;
	double		slot_weighted_misses;
	int			load_window_syncs;
} SimResult;

/* simulate.c: the world */
extern double sim_draw(uint64 seed, int64 connector, int64 key, uint64 stream);
extern double sim_sync_seconds(const Sim *sim, int i, TimestampTz t);
extern void *sim_grow(void *items, int n, int *max, Size size);

/* simulate_events.c: the policies' jobs and the event loop */
extern void sim_index_destinations(Sim *sim);
extern void sim_index_load_windows(Sim *sim);
extern TimestampTz sim_window_gate(const Sim *sim, int i, TimestampTz start, TimestampTz due,
								   TimestampTz *same_until);
extern TimestampTz sim_latest_allowed_start(const Sim *sim, int i, TimestampTz start, double run_s);
extern void sim_build_jobs(Sim *sim);
extern void sim_run_events(Sim *sim);

/* simulate_triage.c: syncopt's triage and look-ahead */
extern void sim_stale_occurrence(Sim *sim, int o);
extern void sim_stale_connector(Sim *sim, int i);
extern void sim_stale_all(Sim *sim);
extern TimestampTz sim_feasible_until(const Sim *sim, const SimJob *j);
extern void sim_triage(Sim *sim, TimestampTz now);

/* simulate_score.c: misses, bounds and credits of a finished replay */
extern void sim_score_deadlines(Sim *sim, SimResult *res);
extern int	sim_lower_bound_syncs(const Sim *sim);
extern double sim_credits(const Sim *sim);
extern int	sim_load_window_syncs(const Sim *sim);

#endif							/* SYNCOPT_SIMULATE_H */
