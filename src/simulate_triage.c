/*-------------------------------------------------------------------------
 *
 * simulate_triage.c
 *	  syncopt.simulate()'s syncopt policy deciding what it can still save:
 *	  the triage at each event and the look-ahead at each planning run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "simulate.h"
#include "syncopt.h"

#define LOOKAHEAD_S		(12 * 3600.0)	/* syncopt's replay of the hours ahead */
#define MAX_SHELVE_ROUNDS 6		/* replays one look-ahead may add */

/*
 * The latest start of a sync of p50 seconds that meets requirement r and
 * that no window forbidding its source keeps back (the gate looks at the
 * run at P90): a start after it ends after the due time or is kept back;
 * DT_NOBEGIN when no start in the requirement's window will do.
 */
static TimestampTz
latest_start(const Sim *sim, const SimReq *r, double p50)
{
	TimestampTz start;

	if (time_add(r->open, p50) > r->due)
		return DT_NOBEGIN;
	start = sim_latest_allowed_start(sim, r->conn, time_add(r->due, -p50),
									 sim->fleet->conn[r->conn].pred.p90_s);
	return start < r->open ? DT_NOBEGIN : start;
}

/*
 * The latest time job j, unpaused, could start and still meet each of its
 * requirements that can still be met (NO_TIME with none): until then
 * give_up_infeasible has nothing to find in it.
 */
TimestampTz
sim_feasible_until(const Sim *sim, const SimJob *j)
{
	double		p50 = sim->fleet->conn[j->conn].pred.p50_s;
	TimestampTz until = NO_TIME;

	for (int m = 0; m < j->nreq; m++)
	{
		const SimReq *r = sim_job_req(sim, j, m);

		if (r->done == 0 && !sim->occ[r->occ].given_up)
			until = Min(until, latest_start(sim, r, p50));
	}
	return until;
}

/* Occurrence o changed: the jobs holding its requirements share again. */
void
sim_stale_occurrence(Sim *sim, int o)
{
	const SimOcc *occ = &sim->occ[o];

	for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
		sim->stale_conn[sim->req[k].conn] = true;
	sim->weights_stale = true;
}

/* A job of connector i waits again: its connector's jobs share again. */
void
sim_stale_connector(Sim *sim, int i)
{
	sim->stale_conn[i] = true;
	sim->weights_stale = true;
}

/* Occurrences were let go or taken back: every waiting job shares again. */
void
sim_stale_all(Sim *sim)
{
	sim->all_stale = true;
	sim->weights_stale = true;
}

/*
 * Give up every occurrence one of whose requirements can no longer be met:
 * a sync of its idle connector started as soon as allowed would end after
 * the due time at P50.
 */
static void
give_up_infeasible(Sim *sim, TimestampTz now)
{
	for (int k = 0; k < sim->njob; k++)
	{
		SimJob	   *j = &sim->job[k];
		double		p50 = sim->fleet->conn[j->conn].pred.p50_s;
		TimestampTz earliest = j->paused ? Max(now, j->eligible) : now;

		if (j->scheduled || j->state != JOB_WAITING || sim->busy[j->conn])
			continue;
		/* Until then, none of its requirements can be found infeasible. */
		if (earliest <= j->feasible_until)
			continue;
		for (int m = 0; m < j->nreq; m++)
		{
			SimReq	   *r = sim_job_req(sim, j, m);

			if (r->done == 0 && !sim->occ[r->occ].given_up && earliest > latest_start(sim, r, p50))
			{
				sim->occ[r->occ].given_up = true;
				sim_stale_occurrence(sim, r->occ);
			}
		}
		j->feasible_until = sim_feasible_until(sim, j);
	}
}

/*
 * Each waiting job's weight and due time become those of the occurrences
 * it can still save; an occurrence's weight is shared among its unmet
 * requirements in proportion to their P50, so work that completes a
 * deadline goes first.  Its late weight is that of the given-up
 * occurrences it would bring up to date (a catch-up when nothing else is
 * left to it); one whose requirements are all met is done.
 */
static void
share_weights(Sim *sim)
{
	if (!sim->weights_stale)
		return;
	for (int k = 0; k < sim->njob; k++)
	{
		SimJob	   *j = &sim->job[k];
		double		p50 = Max(sim->fleet->conn[j->conn].pred.p50_s, 1.0);
		bool		open_work = false;

		/* Unmarked connectors' requirements are as when last shared. */
		if (j->scheduled || j->state != JOB_WAITING || !(sim->all_stale || sim->stale_conn[j->conn]))
			continue;
		j->weight = 0;
		j->late_weight = 0;
		j->due = NO_TIME;
		for (int m = 0; m < j->nreq; m++)
		{
			SimReq	   *r = sim_job_req(sim, j, m);
			SimOcc	   *occ = &sim->occ[r->occ];

			if (r->done != 0)
				continue;
			if (occ->given_up)
			{
				j->late_weight += occ->weight;
				continue;
			}
			open_work = true;
			if (!occ->shelved)
			{
				j->weight += occ->weight * p50 / occ->work_left_s;
				j->due = Min(j->due, r->due);
			}
		}
		/* All met: never needed again (shelved may come back). */
		if (!open_work && j->late_weight == 0)
			j->state = JOB_DONE;
	}
	sim->weights_stale = false;
	sim->all_stale = false;
	memset(sim->stale_conn, 0, sizeof(bool) * sim->fleet->nconn);
}

/*
 * Replay the syncs from now until `until` as the policy would run them,
 * with P50 durations and no faults, and return the weight of the
 * occurrences due by then that it misses; late[o] says which.
 */
static double
replay_misses(const Sim *sim, TimestampTz now, TimestampTz until, bool *late)
{
	MemoryContext old = MemoryContextSwitchTo(sim->rollout_cxt);
	Sim			r = *sim;
	double		missed = 0;

	r.rollout = true;
	r.start = now;
	r.end = until;
	r.nrun = r.maxrun = 0;
	r.run = NULL;
	r.njob = r.maxjob = 0;
	r.job = NULL;
	r.req = palloc(sizeof(SimReq) * Max(sim->nreq, 1));
	memcpy(r.req, sim->req, sizeof(SimReq) * sim->nreq);
	r.occ = palloc(sizeof(SimOcc) * Max(sim->nocc, 1));
	memcpy(r.occ, sim->occ, sizeof(SimOcc) * sim->nocc);
	r.stale_conn = palloc(sizeof(bool) * Max(sim->fleet->nconn, 1));
	memcpy(r.stale_conn, sim->stale_conn, sizeof(bool) * sim->fleet->nconn);
	r.busy = palloc(sizeof(bool) * Max(sim->fleet->nconn, 1));
	memcpy(r.busy, sim->busy, sizeof(bool) * sim->fleet->nconn);
	r.dest_running = palloc(sizeof(int) * (sim->fleet->nconn + 1));
	memcpy(r.dest_running, sim->dest_running, sizeof(int) * (sim->fleet->nconn + 1));
	for (int k = 0; k < sim->njob; k++)
	{
		const SimJob *j = &sim->job[k];
		SimJob	   *copy;

		if (j->state == JOB_DONE || (j->state == JOB_WAITING && j->release >= until))
			continue;
		r.job = sim_grow(r.job, r.njob, &r.maxjob, sizeof(SimJob));
		copy = &r.job[r.njob++];
		*copy = *j;
		if (j->state == JOB_RUNNING)
		{
			/* The planner knows when it started, not when it will end. */
			copy->fails = false;
			copy->ends = Max(time_add(j->started, sim->fleet->conn[j->conn].pred.p50_s), now + 1);
			r.run = sim_grow(r.run, r.nrun, &r.maxrun, sizeof(SimRun));
			copy->run = r.nrun;
			r.run[r.nrun++] = (SimRun) {j->conn, j->started, copy->ends, false, false};
		}
	}
	sim_run_events(&r);
	for (int o = 0; o < sim->nocc; o++)
	{
		const SimOcc *occ = &sim->occ[o];

		late[o] = false;
		if (occ->given_up || occ->shelved || occ->deadline > until)
			continue;
		for (int k = occ->first_req; k < occ->first_req + occ->nreq && !late[o]; k++)
			late[o] = r.req[k].done == 0 || r.req[k].done > r.req[k].due;
		if (late[o])
			missed += occ->weight;
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(sim->rollout_cxt);
	return missed;
}

/* Weight per second of work left: what letting occurrence o go gives up per second freed. */
static double
weight_density(const SimOcc *occ)
{
	return occ->weight / Max(occ->work_left_s, 1.0);
}

/*
 * Of the occurrences marked late, keep marked only the half (rounded up)
 * with the least weight per second of work left.
 */
static void
keep_cheaper_half(const Sim *sim, bool *late)
{
	int			nlate = 0;

	for (int o = 0; o < sim->nocc; o++)
		nlate += late[o];
	for (int unmark = nlate / 2; unmark > 0; unmark--)
	{
		int			densest = -1;

		for (int o = 0; o < sim->nocc; o++)
			if (late[o] && (densest < 0 || weight_density(&sim->occ[o]) > weight_density(&sim->occ[densest])))
				densest = o;
		late[densest] = false;
	}
}

/*
 * syncopt's look-ahead, as the planner keeps a triaged plan only when it
 * misses less: replay the hours ahead, let go of the cheaper half of the
 * occurrences the replay misses (least weight per second of work left:
 * it saves the syncs only they need, and can rescue the others), replay
 * again, and repeat while letting go loses no more weight in all; a round
 * that would lose more is undone.
 */
static void
shelve_by_replay(Sim *sim, TimestampTz now)
{
	TimestampTz until = Min(sim->end, time_add(now, LOOKAHEAD_S));
	bool	   *late = palloc(sizeof(bool) * Max(sim->nocc, 1));
	bool	   *let_go = palloc(sizeof(bool) * Max(sim->nocc, 1));
	double		lost = replay_misses(sim, now, until, late);
	double		shelved = 0;

	for (int round = 0; round < MAX_SHELVE_ROUNDS; round++)
	{
		double		letting_go = 0;
		double		with;

		keep_cheaper_half(sim, late);
		for (int o = 0; o < sim->nocc; o++)
			if (late[o])
			{
				sim->occ[o].shelved = true;
				letting_go += sim->occ[o].weight;
			}
		if (letting_go == 0)
			break;
		memcpy(let_go, late, sizeof(bool) * sim->nocc);
		sim_stale_all(sim);
		share_weights(sim);
		with = shelved + letting_go + replay_misses(sim, now, until, late);
		if (with > lost)
		{
			for (int o = 0; o < sim->nocc; o++)
				if (let_go[o])
					sim->occ[o].shelved = false;
			sim_stale_all(sim);
			share_weights(sim);
			break;
		}
		shelved += letting_go;
		lost = with;
	}
	pfree(late);
	pfree(let_go);
}

/*
 * syncopt's triage at each event, as the planner's give_up: occurrences
 * that can no longer be met are given up for good.  The look-ahead runs
 * as often as the planner does (at the first event of each planning
 * period); what it lets go stays out until it runs again.
 */
void
sim_triage(Sim *sim, TimestampTz now)
{
	bool		planning = !sim->rollout && now >= sim->next_planning;

	give_up_infeasible(sim, now);
	if (planning)
	{
		for (int o = 0; o < sim->nocc; o++)
			sim->occ[o].shelved = false;
		sim_stale_all(sim);
	}
	share_weights(sim);
	if (planning)
	{
		shelve_by_replay(sim, now);
		sim->next_planning = time_add(now, PLANNING_EVERY_S);
	}
}
