/*-------------------------------------------------------------------------
 *
 * simulate_engine.c
 *	  syncopt.simulate()'s syncopt policy: at each planning instant the
 *	  planner itself (score.c and plan.c, as run_planner() calls them
 *	  through plan()) decides on the fleet as the replay left it.
 *
 * The replay keeps what the planner reads of each connector, as the
 * database would hold it at that instant: the sync running now and since
 * when, the start and end of its last success (its data's age), its
 * failures in a row and the end of the last (the retry back-off), and
 * whether it is paused.  A planning run copies the
 * fleet loaded at the start, puts that state and each asset's next
 * deadline (the first after the instant, with its calendar weight) into
 * the copy, sets the clock to the instant and runs score_fleet() and
 * plan_fleet() on it: the same code, so the same triage, order, waits
 * and give-ups.  What the run triggers (plan_triggers()) waits for a slot
 * in the replay; the rest waits for the next run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "simulate.h"
#include "syncopt.h"

#define PLAN_HORIZON_S	(24 * 3600.0)	/* run_planner() plans 24 hours */

/* The state the planner reads, as before any sync of the replay (every policy keeps it). */
void
sim_engine_init(Sim *sim)
{
	int			n = Max(sim->fleet->nconn, 1);

	sim->running_since = palloc(sizeof(TimestampTz) * n);
	sim->fresh_since = palloc(sizeof(TimestampTz) * n);
	sim->last_success = palloc(sizeof(TimestampTz) * n);
	sim->failures_in_row = palloc(sizeof(int) * n);
	sim->last_failure = palloc(sizeof(TimestampTz) * n);
	sim->paused_until = palloc0(sizeof(TimestampTz) * n);
	sim->queue = palloc(sizeof(int) * n);
	sim->nqueue = 0;
	for (int i = 0; i < sim->fleet->nconn; i++)
	{
		const Connector *c = &sim->fleet->conn[i];

		sim->running_since[i] = NO_TIME;
		/* The world counts no sync from before the replay (simulate.c). */
		sim->fresh_since[i] = DT_NOBEGIN;
		sim->last_success[i] = c->last_success_at;
		sim->failures_in_row[i] = c->consecutive_failures;
		sim->last_failure[i] = c->last_failure_at;
	}
	sim->world_cxt = CurrentMemoryContext;
	sim->plan_cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt simulate planning run",
										  ALLOCSET_DEFAULT_SIZES);
	sim->pred_cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt simulate predictions",
										  ALLOCSET_DEFAULT_SIZES);
	sim->pred = palloc(sizeof(Prediction) * n);
	sim->pred_period = PG_INT64_MIN;
}

/*
 * Put the predictions at f->at into f.  predict.c reads the instant only
 * through its UTC weekday and hour bucket (the seasonal effects,
 * predict_period()) and the replay never adds to the history it fits, so
 * one prediction per period serves every planning run in it: the same
 * numbers predict_fleet() would give at each, for a fraction of the cost
 * (once per UTC hour, it was a tenth of a replay at 480 connectors).
 */
static void
predict_at(Sim *sim, Fleet *f)
{
	int64		period = predict_period(f->at);

	if (period != sim->pred_period)
	{
		MemoryContext old;

		MemoryContextReset(sim->pred_cxt);
		old = MemoryContextSwitchTo(sim->pred_cxt);
		predict_fleet(f);
		MemoryContextSwitchTo(old);
		for (int i = 0; i < f->nconn; i++)
			sim->pred[i] = f->conn[i].pred;
		sim->pred_period = period;
		return;
	}
	for (int i = 0; i < f->nconn; i++)
		f->conn[i].pred = sim->pred[i];
}

/*
 * The fleet as the planner would load it at now: connectors with the
 * replay's state, assets with their next deadline after now (deadlines
 * are loaded a week past the horizon for this), graph results cleared for
 * score_fleet() to compute again.
 */
static Fleet *
fleet_at(const Sim *sim, TimestampTz now)
{
	const Fleet *base = sim->fleet;
	Fleet	   *f = palloc(sizeof(Fleet));

	*f = *base;
	f->at = now;
	f->conn = palloc(sizeof(Connector) * Max(base->nconn, 1));
	memcpy(f->conn, base->conn, sizeof(Connector) * base->nconn);
	for (int i = 0; i < f->nconn; i++)
	{
		Connector  *c = &f->conn[i];

		c->running_since = sim->running_since[i];
		c->fresh_since = sim->fresh_since[i];
		c->last_success_at = sim->last_success[i];
		c->consecutive_failures = sim->failures_in_row[i];
		c->last_failure_at = sim->last_failure[i];
		c->paused = base->conn[i].paused || sim->paused_until[i] > now;
		c->due = NO_TIME;
		c->due_asset = -1;
		c->due_via = -1;
		c->calendar = 1;
		c->calendar_event = NULL;
		c->stale_asset = -1;
	}
	f->asset = palloc(sizeof(Asset) * Max(base->nasset, 1));
	memcpy(f->asset, base->asset, sizeof(Asset) * base->nasset);
	for (int a = 0; a < f->nasset; a++)
	{
		f->asset[a].deadline = NO_TIME;
		f->asset[a].multiplier = 1;
		f->asset[a].event = NULL;
	}
	/* Occurrences are by deadline: the first after now of each asset is its next. */
	for (int o = 0; o < sim->nocc_ahead; o++)
	{
		const SimOcc *occ = &sim->occ[o];
		Asset	   *a = &f->asset[occ->asset];

		if (occ->deadline <= now || a->deadline != NO_TIME)
			continue;
		a->deadline = occ->deadline;
		if (a->weight > 0)
			a->multiplier = occ->weight / a->weight;
	}
	return f;
}

/* Rank of two planned syncs in the run's priority order. */
static int
compare_priority(const void *a, const void *b)
{
	return (*(const PlannedSync *const *) a)->priority - (*(const PlannedSync *const *) b)->priority;
}

/* Keep one planned sync as a decision of the traced replay. */
static void
trace_decision(Sim *sim, TimestampTz now, const PlannedSync *job, bool triggered)
{
	MemoryContext old = MemoryContextSwitchTo(sim->world_cxt);
	SimDecision *d;

	sim->dec = sim_grow(sim->dec, sim->ndec, &sim->maxdec, sizeof(SimDecision));
	d = &sim->dec[sim->ndec++];
	d->at = now;
	d->conn = job->connector;
	d->action = job->action;
	d->triggered = triggered;
	d->start = job->start;
	d->end = job->end;
	MemoryContextSwitchTo(old);
}

/*
 * One planning run at now: the planner's plan on the replay's state, and
 * the syncs it triggers queued in its priority order (those of the last
 * run not started by now are dropped: this run decides again).
 */
void
sim_engine_plan(Sim *sim, TimestampTz now)
{
	MemoryContext old = MemoryContextSwitchTo(sim->plan_cxt);
	Fleet	   *f = fleet_at(sim, now);
	Score	   *scores;
	int			njobs;
	PlannedSync *jobs;
	PlannedSync **ranked;

	/* score_fleet()'s steps, with the predictions of the hour and no reasons. */
	predict_at(sim, f);
	graph_compute(f);
	scores = score_connectors(f, false);
	jobs = plan_fleet(f, scores, PLAN_HORIZON_S, false, &njobs);
	ranked = palloc(sizeof(PlannedSync *) * Max(njobs, 1));
	for (int j = 0; j < njobs; j++)
		ranked[j] = &jobs[j];
	qsort(ranked, njobs, sizeof(PlannedSync *), compare_priority);
	sim->nqueue = 0;
	for (int j = 0; j < njobs; j++)
	{
		bool		triggered = plan_triggers(f, ranked[j]);

		if (triggered)
			sim->queue[sim->nqueue++] = ranked[j]->connector;
		if (sim->trace)
			trace_decision(sim, now, ranked[j], triggered);
	}
	MemoryContextSwitchTo(old);
	MemoryContextReset(sim->plan_cxt);
}
