/*-------------------------------------------------------------------------
 *
 * simulate.c
 *	  syncopt.simulate(): a deterministic discrete-event replay of the fleet
 *	  over a horizon under one scheduling policy, with a lower bound.
 *
 * The world.  Each asset with a deadline has an occurrence at every local
 * deadline in the horizon; it is met when every connector upstream of it
 * finished a successful sync that started no earlier than the deadline
 * minus the asset's freshness SLA (24 hours without one), early enough
 * for the models in between (their durations, longest path) to build.
 * That makes one requirement (open, due) per occurrence and upstream
 * connector.  A sync occupies one of syncopt.max_concurrent_syncs slots
 * (and of syncopt.max_concurrent_per_destination into its destination,
 * when set); one connector never runs two syncs at once.  Its duration is
 * lognormal around the predicted P50 with the spread the P90 implies,
 * drawn once per connector and UTC day; it fails transiently with the
 * connector's historical failure rate (drawn per connector and start
 * minute), and always while the connector's credentials are expired (one
 * outage of 4 to 24 hours drawn per connector, with twice that
 * probability).  Every draw is a hash of (seed, connector, key), so all
 * policies see the same random numbers.  `noise` scales the spread and the
 * failure and outage probabilities (0: exact P50 durations and no faults).
 *
 * The policies.  `static`: each connector on its vendor schedule
 * (schedule_minutes, else Fivetran 360 and Airbyte 1440 minutes), queued
 * first come first served when slots are full, a run skipped while the
 * previous one is busy, no retry.  The others run one sync per group of
 * requirements whose windows overlap (connectors nothing waits for keep
 * their static schedule), retrying a failure at once up to three attempts:
 * `fifo` in release order, `edf` by due time (deadlines pushed back
 * through the graph), and `syncopt` as the planner would: each sync
 * planned as late as the slots allow before its due time with P90
 * durations (a backward list schedule), started at that time or earlier
 * when its warehouse is already busy (sharing a paid interval), chosen by
 * the ATC index, and a connector whose credentials failed left paused
 * until they are fixed instead of retried.  At each event syncopt also
 * triages, as the planner's give_up does: an occurrence one of whose
 * requirements can no longer be met (at P50) is given up, each remaining
 * occurrence's weight is shared among its unmet requirements in proportion
 * to their P50 (so work that completes a deadline goes first), and a sync
 * that can save nothing is not run, except to bring a given-up occurrence
 * up to date (a catch-up, as the planner's staleness urgency would): last
 * of all, only while it delays no sync that can still save a deadline,
 * and without waking an idle warehouse in a peak price window; held-back
 * syncs are looked at again when the planner runs.  Every 15 minutes
 * (the planner's default cadence, at the first event from then) it also
 * looks ahead as the planner weighs a triaged plan against the plain one:
 * it replays the next 12 hours from the present state (P50 durations, no
 * faults) and lets go of the cheaper half of the occurrences the replay
 * misses (least weight per second of work left), replaying again while
 * that loses no more weight in all; what it lets go stays out until it
 * looks ahead again.
 *
 * The cost.  Credits are the union of busy intervals per destination,
 * each resume billed at least 60 s and kept running for the auto-suspend
 * tail, times the warehouse price windows.
 *
 * The lower bound.  With unlimited slots and no transient failures, a
 * requirement ends no earlier than the best start at or after its opening
 * (outside an outage, each UTC day's duration); occurrences late even then
 * bound the misses and tardiness from below.  Requirements of one
 * connector with disjoint windows need distinct syncs: the largest such
 * set bounds the syncs a schedule meeting every deadline needs.  A second,
 * tighter bound on misses keeps the slots: an occurrence whose connectors'
 * shortest syncs cannot all fit on the slots between its opening and its
 * due times is missed by every policy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "analytics.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_simulate);

#define DAY_S			86400.0
#define DEFAULT_FRESHNESS_S DAY_S
#define MAX_ATTEMPTS	3
#define RETRY_ROOM	2.0		/* plan room for a failed attempt and a retry */
#define MIN_BILLED_S	60.0
#define FAILED_RUN_FRACTION 0.2 /* a failed sync stops after this share */
#define MIN_FAILED_RUN_S 60.0
#define MAX_HORIZON_S	(31 * DAY_S)
#define LOOKAHEAD_S		(12 * 3600.0)	/* syncopt's replay of the hours ahead */
#define PLANNING_EVERY_S (15 * 60.0)	/* schedule_planner()'s default cadence */
#define MAX_SHELVE_ROUNDS 6		/* replays one look-ahead may add */

typedef enum SimPolicy
{
	SIM_STATIC,
	SIM_FIFO,
	SIM_EDF,
	SIM_SYNCOPT
} SimPolicy;

static const char *const policy_names[] = {"static", "fifo", "edf", "syncopt"};

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
} Sim;

/* A uniform number in [0, 1) that depends only on its inputs (splitmix64). */
static double
draw(uint64 seed, int64 connector, int64 key, uint64 stream)
{
	uint64		z = seed * 0x9E3779B97F4A7C15ULL ^ (uint64) connector * 0xBF58476D1CE4E5B9ULL
		^ (uint64) key * 0x94D049BB133111EBULL ^ stream;

	for (int i = 0; i < 2; i++)
	{
		z += 0x9E3779B97F4A7C15ULL;
		z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
		z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
		z ^= z >> 31;
	}
	return (z >> 11) * (1.0 / 9007199254740992.0);
}

/* Index of the UTC day containing t, counted from the epoch. */
static int64
day_of(TimestampTz t)
{
	return (int64) floor((double) t / (DAY_S * USECS_PER_SEC));
}

/* Seconds a sync of connector i takes when it starts on t's UTC day. */
static double
sync_seconds(const Sim *sim, int i, TimestampTz t)
{
	const Connector *c = &sim->fleet->conn[i];
	double		u1 = Max(draw(sim->seed, c->id, day_of(t), 1), 1e-12);
	double		u2 = draw(sim->seed, c->id, day_of(t), 2);
	double		z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	return Max(1.0, c->pred.p50_s * exp(sim->sigma[i] * z));
}

/* Is connector i's credential outage in force at t? */
static bool
in_outage(const Sim *sim, int i, TimestampTz t)
{
	return sim->outage_from[i] != 0 && t >= sim->outage_from[i] && t < sim->outage_to[i];
}

/* Per-connector spread, failure rate and outage, from the same seed for every policy. */
static void
draw_connectors(Sim *sim)
{
	Fleet	   *f = sim->fleet;
	double		horizon_s = time_diff(sim->end, sim->start);

	sim->sigma = palloc0(sizeof(double) * Max(f->nconn, 1));
	sim->fail_p = palloc0(sizeof(double) * Max(f->nconn, 1));
	sim->outage_from = palloc0(sizeof(TimestampTz) * Max(f->nconn, 1));
	sim->outage_to = palloc0(sizeof(TimestampTz) * Max(f->nconn, 1));
	sim->busy = palloc0(sizeof(bool) * Max(f->nconn, 1));
	for (int i = 0; i < f->nconn; i++)
	{
		Connector  *c = &f->conn[i];
		double		rate = c->runs > 0 ? (double) c->failures / c->runs : 0;

		if (c->pred.p50_s > 0 && c->pred.p90_s > c->pred.p50_s)
			sim->sigma[i] = sim->noise * Min(log(c->pred.p90_s / c->pred.p50_s) / 1.2815515655446004, 1.5);
		sim->fail_p[i] = Min(0.5, sim->noise * rate);
		if (draw(sim->seed, c->id, 0, 3) < Min(0.5, 2 * sim->fail_p[i]))
		{
			sim->outage_from[i] = time_add(sim->start, horizon_s * draw(sim->seed, c->id, 0, 4));
			sim->outage_to[i] = time_add(sim->outage_from[i], 3600 * (4 + 20 * draw(sim->seed, c->id, 0, 5)));
		}
	}
}

/* The asset's index by id (assets are loaded in id order). */
static int
asset_by_id(const Fleet *f, int64 id)
{
	int			lo = 0,
				hi = f->nasset - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (f->asset[mid].id == id)
			return mid;
		if (f->asset[mid].id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Every deadline in the horizon with its weight (asset weight times the
 * largest calendar multiplier in force at that instant).
 */
static void
load_occurrences(Sim *sim)
{
	static const char *const sql =
	"SELECT a.asset_id, o.starts, a.weight * coalesce((SELECT max(e.weight_multiplier)"
	"         FROM syncopt.calendar_event e WHERE e.tag IS NULL"
	"          AND (e.asset_id = a.asset_id OR e.asset_id IS NULL) AND e.during @> o.starts), 1)"
	"  FROM syncopt.asset a,"
	"       syncopt.window_occurrences(a.deadline, a.deadline + interval '1 minute', a.days,"
	"                                  a.timezone, $1, $2) o"
	" WHERE a.deadline IS NOT NULL AND o.starts >= $1 AND o.starts <= $2"
	" ORDER BY o.starts, a.asset_id";
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2] = {TimestampTzGetDatum(sim->start), TimestampTzGetDatum(sim->end)};
	MemoryContext mcxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	if (SPI_execute_with_args(sql, 2, types, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "syncopt: reading deadlines failed");
	sim->occ = MemoryContextAllocZero(mcxt, sizeof(SimOcc) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		SimOcc	   *o = &sim->occ[sim->nocc];

		o->asset = asset_by_id(sim->fleet, DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)));
		o->deadline = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		o->weight = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		if (o->asset >= 0)
			sim->nocc++;
	}
	SPI_finish();
}

/*
 * For asset a: lag[c] = longest build time from connector c's data to a's
 * deadline, -1 when c is not upstream.  Assets are walked downstream first.
 */
static void
upstream_lags(const Fleet *f, const int *order, int a, double *asset_lag, double *lag)
{
	for (int x = 0; x < f->nasset; x++)
		asset_lag[x] = -1;
	for (int i = 0; i < f->nconn; i++)
		lag[i] = -1;
	asset_lag[a] = f->asset[a].duration_s;
	for (int k = 0; k < f->nasset; k++)
	{
		int			x = order[k];

		if (asset_lag[x] < 0)
			continue;
		for (int e = f->asset_prev_assets.off[x]; e < f->asset_prev_assets.off[x + 1]; e++)
		{
			int			y = f->asset_prev_assets.idx[e];

			asset_lag[y] = Max(asset_lag[y], asset_lag[x] + f->asset[y].duration_s);
		}
		for (int e = f->asset_prev_conns.off[x]; e < f->asset_prev_conns.off[x + 1]; e++)
		{
			int			c = f->asset_prev_conns.idx[e];

			lag[c] = Max(lag[c], asset_lag[x]);
		}
	}
}

/* Room for element n of a palloc'd array that doubles when full. */
static void *
grow(void *items, int n, int *max, Size size)
{
	if (n < *max)
		return items;
	*max = Max(64, *max * 2);
	return items ? repalloc(items, size * *max) : palloc(size * *max);
}

static const SimReq *sort_reqs;

/* Requirements by connector, then due time. */
static int
compare_req(const void *a, const void *b)
{
	const SimReq *x = &sort_reqs[*(const int *) a];
	const SimReq *y = &sort_reqs[*(const int *) b];

	if (x->conn != y->conn)
		return x->conn < y->conn ? -1 : 1;
	if (x->due != y->due)
		return x->due < y->due ? -1 : 1;
	return 0;
}

/* One requirement per (occurrence, upstream connector), indexed by connector. */
static void
build_requirements(Sim *sim)
{
	Fleet	   *f = sim->fleet;
	int		   *order = graph_order(f->nasset, &f->asset_next, &f->asset_prev_assets);
	double	   *asset_lag = palloc(sizeof(double) * Max(f->nasset, 1));
	double	   *lag = palloc(sizeof(double) * Max(f->nconn, 1));
	int			maxreq = 0;
	int		   *idx;

	sim->req = NULL;
	for (int o = 0; o < sim->nocc; o++)
	{
		SimOcc	   *occ = &sim->occ[o];
		Asset	   *a = &f->asset[occ->asset];
		double		fresh = a->freshness_sla_s > 0 ? a->freshness_sla_s : DEFAULT_FRESHNESS_S;

		upstream_lags(f, order, occ->asset, asset_lag, lag);
		occ->first_req = sim->nreq;
		for (int i = 0; i < f->nconn; i++)
		{
			SimReq	   *r;

			if (lag[i] < 0 || f->conn[i].paused)
				continue;
			sim->req = grow(sim->req, sim->nreq, &maxreq, sizeof(SimReq));
			r = &sim->req[sim->nreq++];
			r->conn = i;
			r->occ = o;
			r->lag_s = lag[i];
			occ->work_left_s += Max(f->conn[i].pred.p50_s, 1.0);
			r->open = Max(sim->start, time_add(occ->deadline, -fresh));
			r->due = time_add(occ->deadline, -lag[i]);
			r->done = 0;
		}
		occ->nreq = sim->nreq - occ->first_req;
	}
	idx = palloc(sizeof(int) * Max(sim->nreq, 1));
	for (int k = 0; k < sim->nreq; k++)
		idx[k] = k;
	sort_reqs = sim->req;
	qsort(idx, sim->nreq, sizeof(int), compare_req);
	sim->req_of_conn = idx;
	sim->req_off = palloc0(sizeof(int) * (f->nconn + 1));
	for (int k = 0; k < sim->nreq; k++)
		sim->req_off[sim->req[k].conn + 1]++;
	for (int i = 0; i < f->nconn; i++)
		sim->req_off[i + 1] += sim->req_off[i];
}

/* Append a job to run connector i. */
static SimJob *
add_job(Sim *sim, int i, TimestampTz release, TimestampTz due, double weight, bool scheduled)
{
	SimJob	   *j;

	sim->job = grow(sim->job, sim->njob, &sim->maxjob, sizeof(SimJob));
	j = &sim->job[sim->njob++];
	memset(j, 0, sizeof(SimJob));
	j->conn = i;
	j->release = release;
	j->eligible = release;
	j->due = due;
	j->weight = weight;
	j->scheduled = scheduled;
	return j;
}

/* Connector i's vendor schedule over the horizon, phased by its last success. */
static void
add_scheduled_jobs(Sim *sim, int i)
{
	Connector  *c = &sim->fleet->conn[i];
	double		period_s = 60.0 * (c->schedule_minutes > 0 ? c->schedule_minutes : (c->airbyte ? 1440 : 360));
	double		since = c->last_success_at != NO_TIME
		? fmod(time_diff(sim->start, c->last_success_at), period_s)
		: period_s * draw(sim->seed, c->id, 0, 6);
	TimestampTz t = time_add(sim->start, since > 0 ? period_s - since : 0);

	for (; t < sim->end; t = time_add(t, period_s))
		add_job(sim, i, t, NO_TIME, 0, true);
}

/* Requirement m of demand job j. */
static SimReq *
job_req(const Sim *sim, const SimJob *j, int m)
{
	return &sim->req[sim->req_of_conn[j->first_req + m]];
}

/*
 * The latest start of a sync of p50 seconds that meets requirement r: a
 * start after it, or any start when a sync begun at the opening would
 * already end late (DT_NOBEGIN), ends after the due time.
 */
static TimestampTz
latest_start(const SimReq *r, double p50)
{
	if (time_add(r->open, p50) > r->due)
		return DT_NOBEGIN;
	return time_add(r->due, -p50);
}

/*
 * The latest time job j, unpaused, could start and still meet each of its
 * requirements that can still be met (NO_TIME with none): until then
 * give_up_infeasible has nothing to find in it.
 */
static TimestampTz
feasible_until(const Sim *sim, const SimJob *j)
{
	double		p50 = sim->fleet->conn[j->conn].pred.p50_s;
	TimestampTz until = NO_TIME;

	for (int m = 0; m < j->nreq; m++)
	{
		const SimReq *r = job_req(sim, j, m);

		if (r->done == 0 && !sim->occ[r->occ].given_up)
			until = Min(until, latest_start(r, p50));
	}
	return until;
}

/*
 * One job per group of connector i's requirements that one sync can meet:
 * taken by due time, a requirement joins the group while a start after
 * every opening still leaves room for a failed attempt and a retry (twice
 * the P90) before the earliest due time.
 */
static void
add_demand_jobs(Sim *sim, int i)
{
	double		room = RETRY_ROOM * sim->fleet->conn[i].pred.p90_s;
	int			first_job = sim->njob;
	SimJob	   *j = NULL;

	for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
	{
		SimReq	   *r = &sim->req[sim->req_of_conn[k]];
		TimestampTz open = j ? Max(j->release, r->open) : r->open;

		if (j && time_add(open, room) <= j->due)
			j->release = j->eligible = open;
		else
		{
			j = add_job(sim, i, r->open, r->due, 0, false);
			j->first_req = k;
		}
		j->nreq++;
		j->weight += sim->occ[r->occ].weight;
	}
	for (int k = first_job; k < sim->njob; k++)
		sim->job[k].feasible_until = feasible_until(sim, &sim->job[k]);
}

static const SimJob *sort_jobs;

/* Jobs by due time, latest first (for the backward schedule). */
static int
compare_due_desc(const void *a, const void *b)
{
	const SimJob *x = &sort_jobs[*(const int *) a];
	const SimJob *y = &sort_jobs[*(const int *) b];

	if (x->due != y->due)
		return x->due > y->due ? -1 : 1;
	return x->conn - y->conn;
}

/*
 * syncopt's plan: place each demand job as late as the slots allow before
 * its due time (P90 durations), latest due first; each job becomes
 * eligible at that start, never before its window opens.
 */
static void
plan_latest_starts(Sim *sim)
{
	int			nslots = syncopt_max_concurrent_syncs;
	TimestampTz *slot_free_before = palloc(sizeof(TimestampTz) * nslots);
	int		   *idx = palloc(sizeof(int) * Max(sim->njob, 1));
	int			n = 0;

	for (int s = 0; s < nslots; s++)
		slot_free_before[s] = NO_TIME;
	for (int k = 0; k < sim->njob; k++)
		if (!sim->job[k].scheduled)
			idx[n++] = k;
	sort_jobs = sim->job;
	qsort(idx, n, sizeof(int), compare_due_desc);
	for (int k = 0; k < n; k++)
	{
		SimJob	   *j = &sim->job[idx[k]];
		int			best = 0;
		TimestampTz finish,
					begin;

		for (int s = 1; s < nslots; s++)
			if (slot_free_before[s] > slot_free_before[best])
				best = s;
		finish = Min(j->due, slot_free_before[best]);
		begin = time_add(finish, -RETRY_ROOM * sim->fleet->conn[j->conn].pred.p90_s);
		slot_free_before[best] = begin;
		j->eligible = Max(j->release, begin);
	}
}

/* The jobs of the policy: vendor schedules or requirement groups. */
static void
build_jobs(Sim *sim)
{
	for (int i = 0; i < sim->fleet->nconn; i++)
	{
		if (sim->fleet->conn[i].paused)
			continue;
		if (sim->policy == SIM_STATIC || sim->req_off[i] == sim->req_off[i + 1])
			add_scheduled_jobs(sim, i);
		else
			add_demand_jobs(sim, i);
	}
	if (sim->policy == SIM_SYNCOPT)
		plan_latest_starts(sim);
}

/* Number each connector's destination (NULL is a destination of its own). */
static void
index_destinations(Sim *sim)
{
	Fleet	   *f = sim->fleet;

	sim->dest_of = palloc(sizeof(int) * Max(f->nconn, 1));
	sim->dest_running = palloc0(sizeof(int) * (f->nconn + 1));
	for (int i = 0; i < f->nconn; i++)
	{
		const char *d = f->conn[i].destination ? f->conn[i].destination : "";

		sim->dest_of[i] = i;
		for (int k = 0; k < i; k++)
			if (strcmp(d, f->conn[k].destination ? f->conn[k].destination : "") == 0)
			{
				sim->dest_of[i] = sim->dest_of[k];
				break;
			}
	}
}

/*
 * How many more syncs may run into connector i's destination now: at most
 * syncopt.max_concurrent_per_destination at once into a named destination,
 * as plan() schedules (INT_MAX without a limit).
 */
static int
destination_room(const Sim *sim, int i)
{
	int			limit = syncopt_max_concurrent_per_destination;

	if (limit <= 0 || sim->fleet->conn[i].destination == NULL)
		return INT_MAX;
	return limit - sim->dest_running[sim->dest_of[i]];
}

/* Under syncopt: a demand job that can save nothing now (at most catch up). */
static bool
saves_nothing(const SimJob *j)
{
	return !j->scheduled && j->weight == 0;
}

/* The policy's dispatch key: smaller goes first. */
static double
dispatch_key(const Sim *sim, const SimJob *j, TimestampTz now)
{
	const Connector *c = &sim->fleet->conn[j->conn];

	switch (sim->policy)
	{
		case SIM_STATIC:
		case SIM_FIFO:
			return (double) j->release;
		case SIM_EDF:
			return (double) j->due;
		case SIM_SYNCOPT:
			{
				double		p = Max(c->pred.p90_s, 1.0);
				double		slack = j->due == NO_TIME ? 1e12 : time_diff(j->due, now) - p;
				double		mean_p = sim->fleet->mean_p90_s > 0 ? sim->fleet->mean_p90_s : p;

				/* Catching up comes after everything that can still be saved. */
				if (saves_nothing(j))
					return p / j->late_weight;
				return -(Max(j->weight, 1e-6) / p) * exp(-Max(slack, 0) / (syncopt_atc_k * mean_p));
			}
	}
	return 0;
}

/* May job j start now under the policy? */
static bool
job_ready(const Sim *sim, const SimJob *j, TimestampTz now)
{
	if (j->state != JOB_WAITING || sim->busy[j->conn] || destination_room(sim, j->conn) <= 0)
		return false;
	/* With nothing left to save, syncopt only brings given-up deadlines up to date. */
	if (sim->policy == SIM_SYNCOPT && saves_nothing(j))
		return j->late_weight > 0 && j->release <= now && !(j->paused && j->eligible > now);
	if (j->eligible <= now)
		return true;
	/* syncopt rides along when the warehouse is paid for anyway. */
	return sim->policy == SIM_SYNCOPT && !j->scheduled && !j->paused && j->release <= now &&
		sim->dest_running[sim->dest_of[j->conn]] > 0;
}

/* Start job j at now: its duration, outcome and run record. */
static void
start_job(Sim *sim, SimJob *j, TimestampTz now)
{
	int			i = j->conn;
	int64		id = sim->fleet->conn[i].id;
	double		seconds;
	SimRun	   *run;

	if (sim->rollout)
	{
		seconds = Max(1.0, sim->fleet->conn[i].pred.p50_s);
		j->fails = false;
	}
	else
	{
		seconds = sync_seconds(sim, i, now);
		j->fails = in_outage(sim, i, now) ||
			draw(sim->seed, id, (int64) (now / (60 * USECS_PER_SEC)), 7) < sim->fail_p[i];
	}
	if (j->fails)
		seconds = Max(MIN_FAILED_RUN_S, FAILED_RUN_FRACTION * seconds);
	j->state = JOB_RUNNING;
	j->attempts++;
	j->started = now;
	j->ends = time_add(now, seconds);
	sim->busy[i] = true;
	sim->dest_running[sim->dest_of[i]]++;
	sim->run = grow(sim->run, sim->nrun, &sim->maxrun, sizeof(SimRun));
	j->run = sim->nrun;
	run = &sim->run[sim->nrun++];
	run->conn = i;
	run->start = now;
	run->end = j->ends;
	run->failed = j->fails;
	run->useful = false;
}

/* A sync of connector i that ran [start, end) succeeded: meet what it can. */
static bool
meet_requirements(Sim *sim, int i, TimestampTz start, TimestampTz end)
{
	bool		useful = false;

	for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
	{
		SimReq	   *r = &sim->req[sim->req_of_conn[k]];

		if (r->done == 0 && r->open <= start)
		{
			r->done = end;
			sim->occ[r->occ].work_left_s -= Max(sim->fleet->conn[i].pred.p50_s, 1.0);
			useful = true;
			sim->weights_stale = true;
		}
	}
	return useful;
}

/* Job j's sync ends: record, then retry or finish as the policy says. */
static void
finish_job(Sim *sim, SimJob *j)
{
	int			i = j->conn;
	SimRun	   *run = &sim->run[j->run];

	sim->busy[i] = false;
	sim->dest_running[sim->dest_of[i]]--;
	j->state = JOB_DONE;
	if (!j->fails)
	{
		run->useful = meet_requirements(sim, i, run->start, run->end);
		return;
	}
	if (j->scheduled)
		return;
	if (sim->policy == SIM_SYNCOPT && in_outage(sim, i, run->start))
	{
		/* Paused until a human fixes the credentials, then resumed. */
		j->state = JOB_WAITING;
		sim->weights_stale = true;
		j->eligible = Max(j->eligible, sim->outage_to[i]);
		j->paused = true;
		j->attempts--;
	}
	else if (j->attempts < MAX_ATTEMPTS)
	{
		j->state = JOB_WAITING;
		sim->weights_stale = true;
		j->eligible = run->end;
	}
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
			SimReq	   *r = job_req(sim, j, m);

			if (r->done == 0 && !sim->occ[r->occ].given_up && earliest > latest_start(r, p50))
			{
				sim->occ[r->occ].given_up = true;
				sim->weights_stale = true;
			}
		}
		j->feasible_until = feasible_until(sim, j);
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
	sim->weights_stale = false;
	for (int k = 0; k < sim->njob; k++)
	{
		SimJob	   *j = &sim->job[k];
		double		p50 = Max(sim->fleet->conn[j->conn].pred.p50_s, 1.0);
		bool		open_work = false;

		if (j->scheduled || j->state != JOB_WAITING)
			continue;
		j->weight = 0;
		j->late_weight = 0;
		j->due = NO_TIME;
		for (int m = 0; m < j->nreq; m++)
		{
			SimReq	   *r = job_req(sim, j, m);
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
}

static void run_events(Sim *sim);

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
		r.job = grow(r.job, r.njob, &r.maxjob, sizeof(SimJob));
		copy = &r.job[r.njob++];
		*copy = *j;
		if (j->state == JOB_RUNNING)
		{
			/* The planner knows when it started, not when it will end. */
			copy->fails = false;
			copy->ends = Max(time_add(j->started, sim->fleet->conn[j->conn].pred.p50_s), now + 1);
			r.run = grow(r.run, r.nrun, &r.maxrun, sizeof(SimRun));
			copy->run = r.nrun;
			r.run[r.nrun++] = (SimRun) {j->conn, j->started, copy->ends, false, false};
		}
	}
	run_events(&r);
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
		sim->weights_stale = true;
		share_weights(sim);
		with = shelved + letting_go + replay_misses(sim, now, until, late);
		if (with > lost)
		{
			for (int o = 0; o < sim->nocc; o++)
				if (let_go[o])
					sim->occ[o].shelved = false;
			sim->weights_stale = true;
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
static void
triage(Sim *sim, TimestampTz now)
{
	bool		planning = !sim->rollout && now >= sim->next_planning;

	give_up_infeasible(sim, now);
	if (planning)
	{
		for (int o = 0; o < sim->nocc; o++)
			sim->occ[o].shelved = false;
		sim->weights_stale = true;
	}
	share_weights(sim);
	if (planning)
	{
		shelve_by_replay(sim, now);
		sim->next_planning = time_add(now, PLANNING_EVERY_S);
	}
}

/*
 * May syncopt start catch-up job j now?  Never if it would delay what can
 * still be saved: its connector's next sync with a deadline, or any such
 * sync that becomes eligible before j would end at P90 and needs a slot
 * (or room in j's destination, under a per-destination limit).  Nor
 * would it wake its warehouse during a peak price window: a late refresh
 * waits for the warehouse to be busy anyway or for the price to drop.
 */
static bool
catch_up_fits(const Sim *sim, const SimJob *j, TimestampTz now, int running)
{
	TimestampTz ends = time_add(now, sim->fleet->conn[j->conn].pred.p90_s);
	int			soon = 0;
	int			soon_here = 0;	/* of those, into j's destination */

	for (int k = 0; k < sim->njob; k++)
	{
		const SimJob *w = &sim->job[k];

		if (w->state != JOB_WAITING || w->scheduled || saves_nothing(w))
			continue;
		if (w->conn == j->conn && w->release < ends)
			return false;
		soon += w->eligible < ends;
		soon_here += w->eligible < ends && sim->dest_of[w->conn] == sim->dest_of[j->conn];
	}
	if (running + 1 + soon > syncopt_max_concurrent_syncs || 1 + soon_here > destination_room(sim, j->conn))
		return false;
	if (sim->dest_running[sim->dest_of[j->conn]] > 0)
		return true;
	for (int w = 0; w < sim->fleet->nwin; w++)
	{
		const Window *win = &sim->fleet->win[w];

		if (win->target == 'w' && win->price > 1 && win->ends > now && win->starts < ends)
			return false;
	}
	return true;
}

/* Run the event loop until no job is left to start or the horizon ends. */
static void
run_events(Sim *sim)
{
	int			nslots = syncopt_max_concurrent_syncs;
	int			running = 0;
	TimestampTz now = sim->start;

	for (int k = 0; k < sim->njob; k++)
		running += sim->job[k].state == JOB_RUNNING;
	for (;;)
	{
		TimestampTz next = NO_TIME;

		CHECK_FOR_INTERRUPTS();
		/* Completions due by now, earliest first. */
		for (;;)
		{
			int			first = -1;

			for (int k = 0; k < sim->njob; k++)
				if (sim->job[k].state == JOB_RUNNING && sim->job[k].ends <= now &&
					(first < 0 || sim->job[k].ends < sim->job[first].ends))
					first = k;
			if (first < 0)
				break;
			finish_job(sim, &sim->job[first]);
			running--;
		}
		/* Vendor runs find their connector busy: skipped. */
		for (int k = 0; sim->policy == SIM_STATIC && k < sim->njob; k++)
		{
			SimJob	   *j = &sim->job[k];

			if (j->scheduled && j->state == JOB_WAITING && j->release <= now && sim->busy[j->conn])
				j->state = JOB_DONE;
		}
		if (sim->policy == SIM_SYNCOPT)
			triage(sim, now);
		while (running < nslots && now < sim->end)
		{
			int			best = -1;
			double		best_key = 0;

			for (int k = 0; k < sim->njob; k++)
			{
				double		key;

				if (!job_ready(sim, &sim->job[k], now))
					continue;
				key = dispatch_key(sim, &sim->job[k], now);
				if (best < 0 || key < best_key)
				{
					best = k;
					best_key = key;
				}
			}
			if (best < 0)
				break;
			/* A catch-up is best only when all else has started; it may wait. */
			if (sim->policy == SIM_SYNCOPT && saves_nothing(&sim->job[best]) &&
				!catch_up_fits(sim, &sim->job[best], now, running))
				break;
			start_job(sim, &sim->job[best], now);
			running++;
		}
		for (int k = 0; k < sim->njob; k++)
		{
			SimJob	   *j = &sim->job[k];

			if (j->state == JOB_RUNNING)
				next = Min(next, j->ends);
			else if (j->state == JOB_WAITING && now < sim->end)
			{
				if (j->eligible > now)
					next = Min(next, j->eligible);
				else if (sim->policy == SIM_SYNCOPT && j->release > now)
					next = Min(next, j->release);
				/* A sync syncopt holds back is looked at again when it plans. */
				else if (sim->policy == SIM_SYNCOPT && !sim->rollout && !j->scheduled)
					next = Min(next, sim->next_planning);
			}
		}
		if (next == NO_TIME)
			break;
		/* Nothing can change before the next event, or before a slot frees up. */
		now = Max(next, now + 1);
		if (now >= sim->end && running == 0)
			break;
	}
}

/*
 * The earliest end of a successful sync of connector i starting at or
 * after t0, with unlimited slots and no transient failures.
 */
static TimestampTz
lower_bound_end(const Sim *sim, int i, TimestampTz t0)
{
	TimestampTz best = NO_TIME;
	TimestampTz t = in_outage(sim, i, t0) ? sim->outage_to[i] : t0;

	while (t < best && t < sim->end)
	{
		TimestampTz next_day = (TimestampTz) ((day_of(t) + 1) * DAY_S * USECS_PER_SEC);

		best = Min(best, time_add(t, sync_seconds(sim, i, t)));
		/* Durations change only at UTC midnight; outages only delay. */
		t = in_outage(sim, i, next_day) ? sim->outage_to[i] : next_day;
	}
	return best;
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
} SimResult;

/*
 * The shortest a sync of requirement r's connector can take within its
 * window: durations change only at UTC midnight.
 */
static double
shortest_sync(const Sim *sim, const SimReq *r)
{
	double		best = sync_seconds(sim, r->conn, r->open);

	for (int64 d = day_of(r->open) + 1; d <= day_of(r->due); d++)
		best = Min(best, sync_seconds(sim, r->conn, (TimestampTz) (d * DAY_S * USECS_PER_SEC)));
	return best;
}

/*
 * Could any policy meet occurrence occ with the slots it has?  Each of its
 * connectors needs a sync of its own starting at the common opening, so by
 * each due time the shortest syncs of the requirements due by then must fit
 * in slots x (due time - opening); each must also end in time alone.
 */
static bool
fits_slots(const Sim *sim, const SimOcc *occ)
{
	double		slots = syncopt_max_concurrent_syncs;

	for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
	{
		const SimReq *t = &sim->req[k];
		double		work = 0;

		if (t->lb_end > t->due)
			return false;
		for (int q = occ->first_req; q < occ->first_req + occ->nreq; q++)
			if (sim->req[q].due <= t->due)
				work += shortest_sync(sim, &sim->req[q]);
		if (work > slots * time_diff(t->due, t->open))
			return false;
	}
	return true;
}

/* Lateness of every occurrence, for the policy and for the bounds. */
static void
score_deadlines(Sim *sim, SimResult *res)
{
	double	   *late = palloc(sizeof(double) * Max(sim->nocc, 1));

	for (int o = 0; o < sim->nocc; o++)
	{
		SimOcc	   *occ = &sim->occ[o];
		double		worst = 0,
					lb_worst = 0;

		for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
		{
			SimReq	   *r = &sim->req[k];
			TimestampTz end = r->done ? r->done : sim->end;

			r->lb_end = Min(lower_bound_end(sim, r->conn, r->open), sim->end);
			worst = Max(worst, time_diff(end, occ->deadline) + r->lag_s);
			lb_worst = Max(lb_worst, time_diff(r->lb_end, occ->deadline) + r->lag_s);
		}
		late[o] = Max(worst, 0);
		if (worst > 0)
		{
			res->misses++;
			res->weighted_misses += occ->weight;
			res->weighted_tardiness_h += occ->weight * worst / 3600;
		}
		if (lb_worst > 0)
		{
			res->lb_misses++;
			res->lb_weighted_misses += occ->weight;
			res->lb_weighted_tardiness_h += occ->weight * lb_worst / 3600;
		}
		if (!fits_slots(sim, occ))
		{
			res->slot_misses++;
			res->slot_weighted_misses += occ->weight;
		}
	}
	res->p95_lateness_s = sim->nocc > 0 ? quantile(late, sim->nocc, 0.95) : 0;
}

/*
 * Largest set of each connector's feasible requirements with pairwise
 * disjoint windows: requirements are indexed by due time, so the greedy
 * choice by right end is optimal.
 */
static int
lower_bound_syncs(const Sim *sim)
{
	int			total = 0;

	for (int i = 0; i < sim->fleet->nconn; i++)
	{
		TimestampTz last_due = DT_NOBEGIN;

		for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
		{
			const SimReq *r = &sim->req[sim->req_of_conn[k]];

			if (r->lb_end <= r->due && r->open >= last_due)
			{
				total++;
				last_due = r->due;
			}
		}
	}
	return total;
}

static const SimRun *sort_runs;
static const Fleet *sort_fleet;

/* Runs by destination, then start. */
static int
compare_run(const void *a, const void *b)
{
	const SimRun *x = &sort_runs[*(const int *) a];
	const SimRun *y = &sort_runs[*(const int *) b];
	const char *dx = sort_fleet->conn[x->conn].destination;
	const char *dy = sort_fleet->conn[y->conn].destination;
	int			cmp = strcmp(dx ? dx : "", dy ? dy : "");

	if (cmp != 0)
		return cmp;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* Billed seconds of one warehouse-on interval, with price windows applied. */
static double
billed(const Fleet *f, TimestampTz from, TimestampTz to)
{
	double		seconds = Max(MIN_BILLED_S, time_diff(to, from));
	double		extra = 0;

	to = time_add(from, seconds);
	for (int w = 0; w < f->nwin; w++)
	{
		const Window *win = &f->win[w];

		if (win->target == 'w' && win->ends > from && win->starts < to)
			extra += (win->price - 1) * time_diff(Min(win->ends, to), Max(win->starts, from));
	}
	return seconds + extra;
}

/* Credits: the union of busy intervals per destination, resumes and tails billed. */
static double
credits(const Sim *sim)
{
	int		   *idx = palloc(sizeof(int) * Max(sim->nrun, 1));
	double		total_s = 0;
	TimestampTz from = 0,
				to = 0;
	const char *dest = NULL;

	for (int k = 0; k < sim->nrun; k++)
		idx[k] = k;
	sort_runs = sim->run;
	sort_fleet = sim->fleet;
	qsort(idx, sim->nrun, sizeof(int), compare_run);
	for (int k = 0; k < sim->nrun; k++)
	{
		const SimRun *r = &sim->run[idx[k]];
		const char *d = sim->fleet->conn[r->conn].destination;
		bool		same = k > 0 && strcmp(d ? d : "", dest ? dest : "") == 0;

		if (same && r->start <= to)
			to = Max(to, time_add(r->end, sim->tail_s));
		else
		{
			if (k > 0)
				total_s += billed(sim->fleet, from, to);
			from = r->start;
			to = time_add(r->end, sim->tail_s);
			dest = d;
		}
	}
	if (sim->nrun > 0)
		total_s += billed(sim->fleet, from, to);
	return total_s / 3600;
}

/* Run one policy and summarise it. */
static void
simulate_policy(Sim *sim, SimResult *res)
{
	memset(res, 0, sizeof(SimResult));
	build_requirements(sim);
	draw_connectors(sim);
	index_destinations(sim);
	build_jobs(sim);
	sim->weights_stale = true;
	run_events(sim);
	score_deadlines(sim, res);
	res->lb_syncs = lower_bound_syncs(sim);
	res->syncs = sim->nrun;
	for (int k = 0; k < sim->nrun; k++)
	{
		bool		fed = sim->req_off[sim->run[k].conn] < sim->req_off[sim->run[k].conn + 1];

		res->failed += sim->run[k].failed;
		res->wasted += fed && !sim->run[k].useful;
	}
	res->credits = credits(sim);
}

/* Policy name to enum, with a clear error for anything else. */
static SimPolicy
parse_policy(const char *name)
{
	for (int p = 0; p < lengthof(policy_names); p++)
		if (strcmp(name, policy_names[p]) == 0)
			return (SimPolicy) p;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown simulation policy \"%s\"", name),
			 errhint("Use one of static, fifo, edf, syncopt.")));
	return SIM_STATIC;
}

/*
 * syncopt.simulate(policy, horizon, seed, start_at, auto_suspend, noise):
 * one row of metrics.
 */
Datum
syncopt_simulate(PG_FUNCTION_ARGS)
{
	Sim			sim = {0};
	SimResult	res;
	double		horizon_s = interval_seconds(PG_GETARG_INTERVAL_P(1));
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		values[18];
	bool		nulls[18] = {0};

	sim.policy = parse_policy(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	if (!(horizon_s > 0 && horizon_s <= MAX_HORIZON_S))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("simulation horizon must be positive and at most 31 days"),
				 errdetail("The horizon given was %s.", format_duration(horizon_s))));
	sim.seed = (uint64) PG_GETARG_INT32(2);
	sim.start = PG_GETARG_TIMESTAMPTZ(3);
	sim.end = time_add(sim.start, horizon_s);
	sim.tail_s = interval_seconds(PG_GETARG_INTERVAL_P(4));
	sim.noise = PG_GETARG_FLOAT8(5);
	if (!(sim.tail_s >= 0 && sim.tail_s <= DAY_S) || !(sim.noise >= 0 && sim.noise <= 10))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("auto_suspend must be between 0 and 1 day and noise between 0 and 10")));

	InitMaterializedSRF(fcinfo, 0);
	sim.fleet = fleet_load(sim.start, horizon_s, FLEET_GRAPH | FLEET_WINDOWS);
	predict_fleet(sim.fleet);
	graph_compute(sim.fleet);
	load_occurrences(&sim);
	sim.rollout_cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt simulate look-ahead",
											ALLOCSET_DEFAULT_SIZES);
	simulate_policy(&sim, &res);

	values[0] = CStringGetTextDatum(policy_names[sim.policy]);
	values[1] = Int32GetDatum(PG_GETARG_INT32(2));
	values[2] = Int32GetDatum(sim.nocc);
	values[3] = Int32GetDatum(res.misses);
	values[4] = Float8GetDatum(res.weighted_misses);
	values[5] = Float8GetDatum(res.weighted_tardiness_h);
	values[6] = interval_datum(res.p95_lateness_s);
	values[7] = Int32GetDatum(res.syncs);
	values[8] = Int32GetDatum(res.failed);
	values[9] = Int32GetDatum(res.wasted);
	values[10] = Float8GetDatum(res.credits);
	values[11] = Int32GetDatum(res.lb_misses);
	values[12] = Float8GetDatum(res.lb_weighted_misses);
	values[13] = Float8GetDatum(res.lb_weighted_tardiness_h);
	values[14] = Int32GetDatum(res.lb_syncs);
	values[15] = Int32GetDatum(res.slot_misses);
	values[16] = Float8GetDatum(res.slot_weighted_misses);
	values[17] = CStringGetTextDatum(psprintf("%d of %d deadlines missed (at least %d unavoidable, %d with %d slot%s); "
											  "%d syncs (%d failed, %d wasted) for %.2f credits",
											  res.misses, sim.nocc, res.lb_misses, res.slot_misses,
											  syncopt_max_concurrent_syncs, syncopt_max_concurrent_syncs == 1 ? "" : "s",
											  res.syncs, res.failed, res.wasted, res.credits));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}
