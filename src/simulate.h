/*-------------------------------------------------------------------------
 *
 * simulate.h
 *	  The state shared by the parts of syncopt.simulate(): the world (one
 *	  replay's deadlines, requirements, jobs and runs) and the functions
 *	  each part offers the others.
 *
 * simulate.c builds the world and answers the SQL calls; simulate_events.c
 * holds the policies' jobs and the event loop; simulate_engine.c hands the
 * syncopt policy's decisions to the planner itself (plan.c), on the
 * world's state at each planning instant; simulate_score.c scores a
 * finished replay (misses, lower bounds, credits).  The calls go one way:
 * simulate.c -> simulate_events.c -> simulate_engine.c -> plan.c.  The
 * model itself is described at the top of simulate.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_SIMULATE_H
#define SYNCOPT_SIMULATE_H

#include <math.h>

#include "analytics.h"

#define DAY_S			86400.0

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
	int			attempts;
	JobState	state;
	TimestampTz started;
	TimestampTz ends;
	int			run;			/* its SimRun while running */
	bool		fails;
	bool		scheduled;		/* a vendor-scheduled run (static) */
	bool		triggered;		/* syncopt: a planning run triggered it */
	int			first_req;		/* demand jobs: its requirements, positions */
	int			nreq;			/* first_req.. in the connector's req_of_conn */
	/* sim_window_gate() for starts in [gate_from, gate_until) and gate_due */
	TimestampTz gate;			/* 0, or the end of the window holding it */
	TimestampTz gate_from;
	TimestampTz gate_until;
	TimestampTz gate_due;
} SimJob;

/* One planned sync of one planning run, kept when the replay is traced. */
typedef struct SimDecision
{
	TimestampTz at;				/* the planning instant */
	int			conn;
	const char *action;			/* plan()'s action */
	bool		triggered;		/* the run triggers it (plan_triggers) */
	TimestampTz start;			/* planned start and end; NO_TIME: none */
	TimestampTz end;
} SimDecision;

/*
 * Recorded syncs, for a backtest: per connector (CSR over connectors, by
 * start) when each started and ended and whether it failed.
 */
typedef struct SimHistory
{
	int		   *off;
	TimestampTz *start;
	TimestampTz *end;
	bool	   *failed;
	TimestampTz first;			/* earliest recorded start; NO_TIME none */
} SimHistory;

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
	TimestampTz next_planning;	/* syncopt: the next planning instant */
	MemoryContext plan_cxt;		/* syncopt: one planning run's allocations */
	MemoryContext pred_cxt;		/* syncopt: the predictions of pred_period */
	Prediction *pred;			/* per connector, at any instant of pred_period */
	int64		pred_period;	/* predict_period() they are for */
	MemoryContext world_cxt;	/* where the replay's own arrays live */
	int			nocc;			/* occurrences in the horizon, */
	int			nocc_ahead;		/* and with the week after it (the planner's next deadlines) */
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
	/* syncopt: what the planner reads of each connector, as the runs leave it */
	TimestampTz *running_since; /* NO_TIME: idle */
	TimestampTz *fresh_since;	/* start of its last success; DT_NOBEGIN */
	TimestampTz *last_success;	/* end of its last success; NO_TIME: none */
	int		   *failures_in_row;
	TimestampTz *last_failure;	/* end of its last failure; NO_TIME: none */
	TimestampTz *paused_until;	/* a credential failure pauses it until fixed */
	int		   *queue;			/* triggered by the last planning run, not started */
	int			nqueue;
	const SimHistory *history;	/* a backtest: durations and failures as recorded */
	bool		trace;			/* keep every planning run's decisions */
	int			ndec;
	int			maxdec;
	SimDecision *dec;
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
extern int	sim_recorded_run(const Sim *sim, int i, TimestampTz t);
extern double sim_sync_seconds(const Sim *sim, int i, TimestampTz t);
extern void sim_load_world(Sim *sim, double horizon_s, int32 seed, TimestampTz start, double noise);
extern void sim_simulate_policy(Sim *sim, SimResult *res);
extern void *sim_grow(void *items, int n, int *max, Size size);

/* simulate_events.c: the policies' jobs and the event loop */
extern void sim_index_destinations(Sim *sim);
extern void sim_index_load_windows(Sim *sim);
extern TimestampTz sim_window_gate(const Sim *sim, int i, TimestampTz start, TimestampTz due,
								   TimestampTz *same_until);
extern void sim_build_jobs(Sim *sim);
extern void sim_run_events(Sim *sim);
extern bool sim_meet_requirements(Sim *sim, int i, TimestampTz start, TimestampTz end);

/* simulate_engine.c: the planner's decisions on the replay's state */
extern void sim_engine_init(Sim *sim);
extern void sim_engine_plan(Sim *sim, TimestampTz now);

/* simulate_score.c: misses, bounds and credits of a finished replay */
extern void sim_score_deadlines(Sim *sim, SimResult *res);
extern int	sim_lower_bound_syncs(const Sim *sim);
extern double sim_credits(const Sim *sim);
extern int	sim_load_window_syncs(const Sim *sim);

#endif							/* SYNCOPT_SIMULATE_H */
