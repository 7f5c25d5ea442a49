/*-------------------------------------------------------------------------
 *
 * fleet_share.c
 *	  One load of the fleet per planning run, shared with the analytics the
 *	  run calls.
 *
 * run_planner() starts with plan_and_forecast(), which loads the fleet as
 * of `at`; the same statement then calls priority_scores(at),
 * predict_duration(at) and batch_recommendations(at) (through
 * planner_candidates() and record_forecasts()), each of which used to read
 * the fleet again.  plan_and_forecast() keeps the picture it loaded, not
 * yet scored, and those functions start from a copy of it instead: a copy
 * is exactly what fleet_load() returns for the caller's horizon and parts
 * (only windows and calendar events depend on the horizon, and they are
 * read again, a few rows; scoring writes into connectors and assets, so
 * those arrays are copied).
 *
 * The picture is kept for the rest of the top-level statement that loaded
 * it, in the transaction's memory: a later statement, even in the same
 * transaction, or a call with another `at` loads afresh, so a standalone
 * call always sees the tables as they are.  Within the statement the fleet's
 * inputs (connectors, statistics, assets, lineage) are what they were at the
 * load: a planning run does not write them.  An aborted subtransaction drops
 * the picture.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "analytics.h"

/* The shared picture, not scored, and what it is valid for. */
static Fleet *shared = NULL;
static MemoryContext shared_cxt = NULL;
static double shared_horizon_s;
static TimestampTz shared_statement;
static bool callbacks_registered = false;

/* Drop the shared picture (its memory goes with the context). */
static void
forget_shared(bool free_memory)
{
	if (free_memory && shared_cxt != NULL)
		MemoryContextDelete(shared_cxt);
	shared = NULL;
	shared_cxt = NULL;
}

/*
 * At the transaction's end the picture's context goes with
 * TopTransactionContext: only the pointers are cleared.
 */
static void
share_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		forget_shared(false);
}

/* An aborted subtransaction may have loaded it half: drop it. */
static void
share_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_shared(true);
}

/*
 * Is the shared picture the one for `at` in this statement?  The callbacks
 * clear it at the transaction's end, so the statement's start identifies it.
 */
static bool
shared_matches(TimestampTz at)
{
	return shared != NULL && shared->at == at &&
		shared_statement == GetCurrentStatementStartTimestamp();
}

/*
 * A copy of a loaded, not yet scored fleet as fleet_load(at, horizon_s,
 * parts) would return it: connectors and assets copied (scoring writes into
 * them; what they point to is only read), the graph or windows left out
 * when parts does not ask for them, and windows read again for another
 * horizon.  from must have been loaded with FLEET_GRAPH | FLEET_WINDOWS |
 * FLEET_PREDICT and without FLEET_NOT_PLANNING; parts must ask for
 * FLEET_PREDICT (the copy has predictions, not recent-run arrays).  A copy
 * of a fleet already predicted and walked (graph_walk()) is that fleet as
 * walked, with the windows and calendar events of its own horizon: the
 * walk's arrays (deadline_reach) are shared, as nothing writes them after.
 */
Fleet *
fleet_copy(const Fleet *from, double from_horizon_s, double horizon_s, int parts)
{
	Fleet	   *f = palloc(sizeof(Fleet));
	int			empty = 0;

	if (from->predicted && !(parts & FLEET_PREDICT))
		elog(ERROR, "syncopt: a copy of a predicted fleet was asked for its recent-run arrays");
	*f = *from;
	/* The predictions still to be made (none with recent runs) leave them out too. */
	f->terse = from->terse || (parts & FLEET_TERSE);
	f->conn = palloc(sizeof(Connector) * Max(from->nconn, 1));
	memcpy(f->conn, from->conn, sizeof(Connector) * from->nconn);
	/* Not planning: fleet_load() leaves the running probe out. */
	if (parts & FLEET_NOT_PLANNING)
		for (int i = 0; i < f->nconn; i++)
			f->conn[i].running_since = NO_TIME;
	if (parts & FLEET_GRAPH)
	{
		f->asset = palloc(sizeof(Asset) * Max(from->nasset, 1));
		memcpy(f->asset, from->asset, sizeof(Asset) * from->nasset);
	}
	else
	{
		f->nasset = 0;
		f->asset = NULL;
		f->conn_assets = build_adjacency(f->nconn, 0, &empty, &empty);
		f->conn_after = f->conn_assets;
		f->conn_before = f->conn_assets;
		f->asset_next = build_adjacency(0, 0, &empty, &empty);
		f->asset_prev_assets = f->asset_next;
		f->asset_prev_conns = f->asset_next;
	}
	if (!(parts & FLEET_WINDOWS))
	{
		f->nwin = 0;
		f->win = NULL;
		f->ntagev = 0;
		f->tagev = NULL;
	}
	else if (horizon_s != from_horizon_s)
		fleet_load_windows(f, horizon_s);
	return f;
}

/*
 * Load the fleet as of `at` with its graph and the windows of horizon_s,
 * for planning, and keep it for the analytics the rest of this statement
 * calls with the same `at` (fleet_get()).  Returns the kept picture: the
 * caller scores copies of it (fleet_copy()), never the picture itself.
 */
const Fleet *
fleet_share_load(TimestampTz at, double horizon_s)
{
	MemoryContext old;

	if (!callbacks_registered)
	{
		RegisterXactCallback(share_xact_callback, NULL);
		RegisterSubXactCallback(share_subxact_callback, NULL);
		callbacks_registered = true;
	}
	forget_shared(true);
	shared_cxt = AllocSetContextCreate(TopTransactionContext, "syncopt shared fleet",
									   ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(shared_cxt);
	shared = fleet_load(at, horizon_s, FLEET_GRAPH | FLEET_WINDOWS | FLEET_PREDICT);
	MemoryContextSwitchTo(old);
	shared_horizon_s = horizon_s;
	shared_statement = GetCurrentStatementStartTimestamp();
	return shared;
}

/*
 * The fleet as of `at` as fleet_load(at, horizon_s, parts) returns it: a
 * copy of the planning run's picture when this statement loaded one for
 * `at`, else a fresh load.  In the caller's memory context.
 */
Fleet *
fleet_get(TimestampTz at, double horizon_s, int parts)
{
	if (shared_matches(at))
		return fleet_copy(shared, shared_horizon_s, horizon_s, parts);
	return fleet_load(at, horizon_s, parts);
}
