/*-------------------------------------------------------------------------
 *
 * simulate.c
 *	  syncopt.simulate(): a deterministic discrete-event replay of the fleet
 *	  over a horizon under one scheduling policy, with a lower bound.
 *	  This file builds the world and answers the SQL call (simulate.h says
 *	  where the other parts live).
 *
 * The world.  Each asset with a deadline has an occurrence at every local
 * deadline in the horizon; it is met when every connector upstream of it
 * finished a successful sync that started no earlier than the deadline
 * minus the asset's freshness SLA (24 hours without one), early enough
 * for the models in between (their durations, longest path) to build.
 * That makes one requirement (open, due) per occurrence and upstream
 * connector.  A sync occupies one of syncopt.max_concurrent_syncs slots
 * (and of syncopt.max_concurrent_per_destination into its destination,
 * when set); one connector never runs two syncs at once, and under every
 * policy but static a sync starts only as plan() would place it against
 * the load windows of its source: its run at P90 overlaps no window with
 * load_factor 1, nor a lesser one it can wait out and still end by its due
 * time (vendor schedules know nothing of the windows).  Its duration is
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
 * their static schedule): `fifo` in release order and `edf` by due time
 * (deadlines pushed back through the graph), each retrying a failure at
 * once up to three attempts.  `syncopt` is the planner itself
 * (simulate_engine.c): at every planning instant (syncopt.planner_interval
 * from the start, as schedule_planner() runs it) score_fleet() and
 * plan_fleet() decide on the fleet as the replay left it (what runs, each
 * connector's last success and failures in a row, the next deadlines),
 * and the syncs the run triggers (plan_triggers(), as run_planner() does)
 * start as slots free up; its waits, give-ups and retries after a failure
 * are the next planning runs' decisions.  The connectors a deadline waits
 * for have no vendor schedule under syncopt (as if set to manual, which
 * syncopt's triggers replace); a failure while the credentials are
 * expired pauses the connector until they are fixed.

 * The cost.  Credits are the union of busy intervals per destination,
 * each resume billed at least 60 s and kept running for the auto-suspend
 * tail, times the warehouse price windows.
 *
 * The lower bound.  With unlimited slots and no transient failures, a
 * requirement ends no earlier than the best start at or after its opening
 * (outside an outage and the windows forbidding its source, so the bound
 * holds for the policies that honour them; each UTC day's duration);
 * occurrences late even then bound the misses and tardiness from below.
 * Requirements of one connector with disjoint windows need distinct
 * syncs: the largest such set bounds the syncs a schedule meeting every
 * deadline needs.  A second,
 * tighter bound on misses keeps the slots: an occurrence whose connectors'
 * shortest syncs cannot all fit on the slots between its opening and its
 * due times is missed by every policy.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "simulate.h"
#include "spi_run.h"
#include "syncopt.h"

PG_FUNCTION_INFO_V1(syncopt_simulate);
PG_FUNCTION_INFO_V1(syncopt_simulate_world);
PG_FUNCTION_INFO_V1(syncopt_simulate_trace);

#define DEFAULT_FRESHNESS_S DAY_S
#define MAX_HORIZON_S	(31 * DAY_S)

static const char *const policy_names[] = {"static", "fifo", "edf", "syncopt"};

/* A uniform number in [0, 1) that depends only on its inputs (splitmix64). */
double
sim_draw(uint64 seed, int64 connector, int64 key, uint64 stream)
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

/*
 * In a backtest, the recorded sync of connector i that started nearest to
 * t (the earlier on a tie); -1 when it has none.
 */
int
sim_recorded_run(const Sim *sim, int i, TimestampTz t)
{
	const SimHistory *h = sim->history;
	int			lo = h->off[i],
				hi = h->off[i + 1];

	if (lo == hi)
		return -1;
	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (h->start[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == h->off[i + 1] ||
		(lo > h->off[i] && time_diff(t, h->start[lo - 1]) <= time_diff(h->start[lo], t)))
		lo--;
	return lo;
}

/*
 * Seconds a sync of connector i takes when it starts on t's UTC day; in a
 * backtest, as long as its recorded sync nearest to t took (its P50
 * without one).
 */
double
sim_sync_seconds(const Sim *sim, int i, TimestampTz t)
{
	const Connector *c = &sim->fleet->conn[i];
	double		u1;
	double		u2;
	double		z;

	if (sim->history)
	{
		int			k = sim_recorded_run(sim, i, t);

		return Max(1.0, k >= 0 ? time_diff(sim->history->end[k], sim->history->start[k]) : c->pred.p50_s);
	}
	u1 = Max(sim_draw(sim->seed, c->id, sim_day_of(t), 1), 1e-12);
	u2 = sim_draw(sim->seed, c->id, sim_day_of(t), 2);
	z = sqrt(-2 * log(u1)) * cos(2 * M_PI * u2);

	return Max(1.0, c->pred.p50_s * exp(sim->sigma[i] * z));
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
		if (sim_draw(sim->seed, c->id, 0, 3) < Min(0.5, 2 * sim->fail_p[i]))
		{
			sim->outage_from[i] = time_add(sim->start, horizon_s * sim_draw(sim->seed, c->id, 0, 4));
			sim->outage_to[i] = time_add(sim->outage_from[i], 3600 * (4 + 20 * sim_draw(sim->seed, c->id, 0, 5)));
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
 * largest calendar multiplier in force at that instant), then those of
 * the week after it: the planner, near the horizon's end, plans for them.
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
	Datum		values[2] = {TimestampTzGetDatum(sim->start),
	TimestampTzGetDatum(time_add(sim->end, 8 * DAY_S))};
	MemoryContext mcxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run(sql, 2, types, values, NULL, true);
	sim->occ = MemoryContextAllocZero(mcxt, sizeof(SimOcc) * Max(SPI_processed, 1));
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		SimOcc	   *o = &sim->occ[sim->nocc_ahead];

		o->asset = asset_by_id(sim->fleet, DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull)));
		o->deadline = DatumGetTimestampTz(SPI_getbinval(tup, desc, 2, &isnull));
		o->weight = DatumGetFloat8(SPI_getbinval(tup, desc, 3, &isnull));
		if (o->asset < 0)
			continue;
		sim->nocc_ahead++;
		if (o->deadline <= sim->end)
			sim->nocc = sim->nocc_ahead;
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
void *
sim_grow(void *items, int n, int *max, Size size)
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
			sim->req = sim_grow(sim->req, sim->nreq, &maxreq, sizeof(SimReq));
			r = &sim->req[sim->nreq++];
			r->conn = i;
			r->occ = o;
			r->lag_s = lag[i];
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

/*
 * The world of one replay: the fleet in the tables with its predictions,
 * the deadlines and requirements in [start, start + horizon), and the
 * seeded draws.  Shared by simulate() and simulate_world().
 */
void
sim_load_world(Sim *sim, double horizon_s, int32 seed, TimestampTz start, double noise)
{
	if (!(horizon_s > 0 && horizon_s <= MAX_HORIZON_S))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("simulation horizon must be positive and at most 31 days"),
				 errdetail("The horizon given was %s.", format_duration(horizon_s))));
	if (!(noise >= 0 && noise <= 10))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("noise must be between 0 and 10"),
				 errdetail("The noise given was %g.", noise)));
	sim->seed = (uint64) seed;
	sim->start = start;
	sim->end = time_add(start, horizon_s);
	sim->noise = noise;
	sim->fleet = fleet_load(sim->start, horizon_s, FLEET_GRAPH | FLEET_WINDOWS);
	predict_fleet(sim->fleet);
	graph_compute(sim->fleet);
	load_occurrences(sim);
	build_requirements(sim);
	draw_connectors(sim);
	sim_index_destinations(sim);
	sim_index_load_windows(sim);
}

/* Run one policy on the loaded world and summarise it. */
void
sim_simulate_policy(Sim *sim, SimResult *res)
{
	memset(res, 0, sizeof(SimResult));
	sim_build_jobs(sim);
	sim_engine_init(sim);
	sim_run_events(sim);
	sim_score_deadlines(sim, res);
	res->lb_syncs = sim_lower_bound_syncs(sim);
	res->syncs = sim->nrun;
	for (int k = 0; k < sim->nrun; k++)
	{
		bool		fed = sim->req_off[sim->run[k].conn] < sim->req_off[sim->run[k].conn + 1];

		res->failed += sim->run[k].failed;
		res->wasted += fed && !sim->run[k].useful;
	}
	res->credits = sim_credits(sim);
	res->load_window_syncs = sim_load_window_syncs(sim);
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
	Datum		values[19];
	bool		nulls[19] = {0};

	sim.policy = parse_policy(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	sim.tail_s = interval_seconds(PG_GETARG_INTERVAL_P(4));
	if (!(sim.tail_s >= 0 && sim.tail_s <= DAY_S))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("auto_suspend must be between 0 and 1 day"),
				 errdetail("The auto_suspend given was %s.", format_duration(sim.tail_s))));

	InitMaterializedSRF(fcinfo, 0);
	sim_load_world(&sim, horizon_s, PG_GETARG_INT32(2), PG_GETARG_TIMESTAMPTZ(3), PG_GETARG_FLOAT8(5));
	sim_simulate_policy(&sim, &res);

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
	values[10] = Int32GetDatum(res.load_window_syncs);
	values[11] = Float8GetDatum(res.credits);
	values[12] = Int32GetDatum(res.lb_misses);
	values[13] = Float8GetDatum(res.lb_weighted_misses);
	values[14] = Float8GetDatum(res.lb_weighted_tardiness_h);
	values[15] = Int32GetDatum(res.lb_syncs);
	values[16] = Int32GetDatum(res.slot_misses);
	values[17] = Float8GetDatum(res.slot_weighted_misses);
	values[18] = CStringGetTextDatum(psprintf("%d of %d deadlines missed (at least %d unavoidable, %d with %d slot%s); "
											  "%d syncs (%d failed, %d wasted, %d in source load windows) for %.2f credits",
											  res.misses, sim.nocc, res.lb_misses, res.slot_misses,
											  syncopt_max_concurrent_syncs, syncopt_max_concurrent_syncs == 1 ? "" : "s",
											  res.syncs, res.failed, res.wasted, res.load_window_syncs, res.credits));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* Seconds from the replay's start to t, as a JSON number. */
static void
append_offset(StringInfo out, const Sim *sim, TimestampTz t)
{
	appendStringInfo(out, "%.3f", time_diff(t, sim->start));
}

/* [from, to] in seconds from the replay's start. */
static void
append_span(StringInfo out, const Sim *sim, TimestampTz from, TimestampTz to)
{
	appendStringInfoChar(out, '[');
	append_offset(out, sim, from);
	appendStringInfoString(out, ", ");
	append_offset(out, sim, to);
	appendStringInfoChar(out, ']');
}

/*
 * One connector of simulate_world(): its predictions, the duration a sync
 * takes when it starts on each UTC day of the horizon, its transient
 * failure probability and credential outage, the load windows whose
 * load_factor forbids syncing it, and its vendor-scheduled runs among
 * jobs[0..njob) (the jobs of the connectors before it already passed).
 */
static void
append_world_connector(StringInfo out, const Sim *sim, int i, const SimJob *jobs, int njob)
{
	const Connector *c = &sim->fleet->conn[i];
	int64		first_day = sim_day_of(sim->start);
	bool		first = true;

	appendStringInfo(out, "{\"connector_id\": " INT64_FORMAT ", \"destination\": ", c->id);
	if (c->destination)
		escape_json(out, c->destination);
	else
		appendStringInfoString(out, "null");
	appendStringInfo(out, ", \"p50_s\": %.3f, \"p90_s\": %.3f, \"failure_p\": %.6f, \"first_day_s\": ",
					 c->pred.p50_s, c->pred.p90_s, sim->fail_p[i]);
	append_offset(out, sim, (TimestampTz) (first_day * DAY_S * USECS_PER_SEC));
	appendStringInfoString(out, ", \"sync_s\": [");
	for (int64 d = first_day; d <= sim_day_of(sim->end); d++)
		appendStringInfo(out, "%s%.3f", d > first_day ? ", " : "",
						 sim_sync_seconds(sim, i, (TimestampTz) (d * DAY_S * USECS_PER_SEC)));
	appendStringInfoString(out, "], \"outage\": ");
	if (sim->outage_from[i] != 0)
		append_span(out, sim, sim->outage_from[i], sim->outage_to[i]);
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ", \"forbidden_windows\": [");
	for (int w = sim->win_off[i]; w < sim->win_off[i + 1]; w++)
	{
		const Window *win = &sim->fleet->win[sim->win_idx[w]];

		/* Lesser windows forbid nothing; one over before the start, nothing in the horizon. */
		if (win->load_factor < 1 || win->ends <= sim->start)
			continue;
		if (!first)
			appendStringInfoString(out, ", ");
		append_span(out, sim, win->starts, win->ends);
		first = false;
	}
	appendStringInfoString(out, "], \"vendor_starts_s\": [");
	first = true;
	for (int k = 0; k < njob && jobs[k].conn == i; k++)
		if (jobs[k].scheduled)
		{
			if (!first)
				appendStringInfoString(out, ", ");
			append_offset(out, sim, jobs[k].release);
			first = false;
		}
	appendStringInfoString(out, "]}");
}

/* One deadline of simulate_world() with what each upstream connector must do for it. */
static void
append_world_deadline(StringInfo out, const Sim *sim, int o)
{
	const SimOcc *occ = &sim->occ[o];

	appendStringInfo(out, "{\"asset_id\": " INT64_FORMAT ", \"deadline_s\": ", sim->fleet->asset[occ->asset].id);
	append_offset(out, sim, occ->deadline);
	appendStringInfo(out, ", \"weight\": %.6f, \"requirements\": [", occ->weight);
	for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
	{
		const SimReq *r = &sim->req[k];

		appendStringInfo(out, "%s{\"connector_id\": " INT64_FORMAT ", \"opens_s\": ",
						 k > occ->first_req ? ", " : "", sim->fleet->conn[r->conn].id);
		append_offset(out, sim, r->open);
		appendStringInfoString(out, ", \"due_s\": ");
		append_offset(out, sim, r->due);
		appendStringInfoChar(out, '}');
	}
	appendStringInfoString(out, "]}");
}

/*
 * syncopt.simulate_world(horizon, seed, start_at, noise): the world
 * simulate() replays with the same arguments, as one jsonb document, so
 * that a schedule can be checked or searched for outside the server (the
 * benchmark's best-schedule search does).  Times are seconds from start_at.
 */
Datum
syncopt_simulate_world(PG_FUNCTION_ARGS)
{
	Sim			sim = {0};
	StringInfoData out;
	char		start[MAXDATELEN + 1];
	const int	utc = 0;

	sim_load_world(&sim, interval_seconds(PG_GETARG_INTERVAL_P(0)), PG_GETARG_INT32(1),
			   PG_GETARG_TIMESTAMPTZ(2), PG_GETARG_FLOAT8(3));
	/* The vendor schedules of the connectors nothing waits for, as every policy but static keeps them. */
	sim.policy = SIM_EDF;
	sim_build_jobs(&sim);

	initStringInfo(&out);
	JsonEncodeDateTime(start, TimestampTzGetDatum(sim.start), TIMESTAMPTZOID, &utc);
	appendStringInfo(&out, "{\"start\": \"%s\", \"horizon_s\": %.3f, \"seed\": %d, \"noise\": %g, "
					 "\"slots\": %d, \"per_destination\": %d, \"connectors\": [",
					 start, time_diff(sim.end, sim.start), PG_GETARG_INT32(1), sim.noise,
					 syncopt_max_concurrent_syncs, syncopt_max_concurrent_per_destination);
	/* sim_build_jobs() adds each connector's jobs together, in connector order. */
	for (int i = 0, listed = 0, job = 0; i < sim.fleet->nconn; i++)
	{
		while (job < sim.njob && sim.job[job].conn < i)
			job++;
		if (sim.fleet->conn[i].paused)
			continue;
		if (listed++ > 0)
			appendStringInfoString(&out, ", ");
		append_world_connector(&out, &sim, i, &sim.job[job], sim.njob - job);
	}
	appendStringInfoString(&out, "], \"deadlines\": [");
	for (int o = 0; o < sim.nocc; o++)
	{
		if (o > 0)
			appendStringInfoString(&out, ", ");
		append_world_deadline(&out, &sim, o);
	}
	appendStringInfoString(&out, "]}");
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}

/*
 * syncopt.simulate_trace(horizon, seed, start_at, noise): the syncopt
 * replay's planning runs and syncs, one row each: kind 'decision' (a
 * planned sync of the run at `at`: plan()'s action, whether the run
 * triggers it, its planned start and end) and kind 'sync' (a sync that
 * ran: its start, end and whether it failed).  With the syncs before T
 * loaded as history, run_planner(T) decides as the rows at T say.
 */
Datum
syncopt_simulate_trace(PG_FUNCTION_ARGS)
{
	Sim			sim = {0};
	SimResult	res;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	sim_load_world(&sim, interval_seconds(PG_GETARG_INTERVAL_P(0)), PG_GETARG_INT32(1),
			   PG_GETARG_TIMESTAMPTZ(2), PG_GETARG_FLOAT8(3));
	sim.policy = SIM_SYNCOPT;
	sim.trace = true;
	sim_simulate_policy(&sim, &res);
	for (int k = 0; k < sim.ndec; k++)
	{
		const SimDecision *d = &sim.dec[k];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = CStringGetTextDatum("decision");
		values[1] = TimestampTzGetDatum(d->at);
		values[2] = Int64GetDatum(sim.fleet->conn[d->conn].id);
		values[3] = CStringGetTextDatum(d->action);
		values[4] = BoolGetDatum(d->triggered);
		nulls[5] = nulls[6] = d->start == NO_TIME;
		values[5] = TimestampTzGetDatum(d->start);
		values[6] = TimestampTzGetDatum(d->end);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (int k = 0; k < sim.nrun; k++)
	{
		const SimRun *r = &sim.run[k];
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = CStringGetTextDatum("sync");
		values[1] = TimestampTzGetDatum(r->start);
		values[2] = Int64GetDatum(sim.fleet->conn[r->conn].id);
		values[3] = CStringGetTextDatum(r->failed ? "failed" : "succeeded");
		values[4] = BoolGetDatum(r->useful);
		values[5] = TimestampTzGetDatum(r->start);
		values[6] = TimestampTzGetDatum(r->end);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	PG_RETURN_NULL();
}
