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
 * Scoring a copy walks the graph (graph_reach()), the dearest part of a
 * score and the same for every copy: it reads the graph, the assets, the
 * predictions and `at`, not the windows or calendar events that a copy's
 * horizon decides (graph_tag_weights() applies those to each copy).  The
 * first copy scored walks it, and the picture keeps what the walk wrote
 * for the copies scored after it (fleet_graph_reach()): the two plans of
 * plan_and_forecast(), priority_scores() and batch_recommendations() used
 * to walk it once each.
 *
 * The picture is kept for the rest of the top-level statement that loaded
 * it, in the transaction's memory: a later statement, even in the same
 * transaction, or a call with another `at` loads afresh, so a standalone
 * call always sees the tables as they are.  Within the statement the fleet's
 * inputs (connectors, statistics, assets, lineage) are what they were at the
 * load: a planning run does not write them.  An aborted subtransaction drops
 * the picture; its memory is freed then, or at the transaction's end while
 * a caller returning rows one call at a time still reads copies of it
 * (fleet_share_pin()).
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
static GraphResults *shared_graph = NULL;	/* its graph walk, once made */
static uint32 shared_gen = 0;	/* the picture's number (Fleet.share_gen) */
static double shared_horizon_s;
static TimestampTz shared_statement;
static bool callbacks_registered = false;

/* Callers still reading copies of a picture across calls (fleet_share_pin()). */
static int	shared_pins = 0;

/*
 * Drop the shared picture (its memory goes with the context).  While a
 * pinned reader still points into it, its memory is left to the
 * transaction's end instead (the context is a child of
 * TopTransactionContext): freeing it under that reader was a use after
 * free.
 */
static void
forget_shared(bool free_memory)
{
	if (free_memory && shared_cxt != NULL && shared_pins == 0)
		MemoryContextDelete(shared_cxt);
	shared = NULL;
	shared_cxt = NULL;
	shared_graph = NULL;
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
 * FLEET_PREDICT (the copy has predictions, not recent-run arrays).
 */
Fleet *
fleet_copy(const Fleet *from, double from_horizon_s, double horizon_s, int parts)
{
	Fleet	   *f = palloc(sizeof(Fleet));
	int			empty = 0;

	if (from->predicted && !(parts & FLEET_PREDICT))
		elog(ERROR, "syncopt: a copy of a predicted fleet was asked for its recent-run arrays");
	*f = *from;
	/* Its graph walk is the picture's, which the copies with the graph share. */
	f->share_gen = (from == shared && (parts & FLEET_GRAPH)) ? shared_gen : 0;
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
	/* A new number, never 0 (not a copy). */
	if (++shared_gen == 0)
		shared_gen = 1;
	return shared;
}

/* A pinned reader's memory is gone (fleet_share_pin()). */
static void
unpin_shared(void *arg)
{
	shared_pins--;
}

/*
 * Keep the memory of the shared picture while holder lives.  A caller that
 * returns its rows one call at a time (plan_and_forecast()) reads copies of
 * the picture, which point into it, across calls; between them a rolled
 * back subtransaction (a cursor's savepoint, a PL/pgSQL exception block
 * around the fetches) or another load in the same statement (a second call
 * in one select list) would otherwise free it.
 */
void
fleet_share_pin(MemoryContext holder)
{
	MemoryContextCallback *cb = MemoryContextAlloc(holder, sizeof(MemoryContextCallback));

	cb->func = unpin_shared;
	cb->arg = NULL;
	MemoryContextRegisterResetCallback(holder, cb);
	shared_pins++;
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

/*
 * graph_reach() of a predicted fleet (score_fleet()).  A copy of the shared
 * picture with its graph takes the walk the first such copy made, kept
 * with the picture (in its memory, gone with it); any other fleet is
 * walked.
 */
void
fleet_graph_reach(Fleet *fleet)
{
	MemoryContext old;

	if (fleet->share_gen == 0 || shared == NULL || fleet->share_gen != shared_gen)
	{
		graph_reach(fleet);
		return;
	}
	if (shared_graph != NULL)
	{
		graph_restore(fleet, shared_graph);
		return;
	}
	graph_reach(fleet);
	old = MemoryContextSwitchTo(shared_cxt);
	shared_graph = graph_keep(fleet);
	MemoryContextSwitchTo(old);
}
