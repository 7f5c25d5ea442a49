/*-------------------------------------------------------------------------
 *
 * fleet.c
 *	  Load the fleet picture the analytics compute on: connectors joined to
 *	  their connector_stats (never the raw history, nor the recent window's
 *	  arrays: each connector's duration model), assets with their next
 *	  deadline, and the lineage and sync_order graph; fleet_windows.c adds
 *	  the load windows and calendar events expanded into instants.
 *
 * Local-time rules (deadline at 06:00 Europe/Berlin on weekdays) are turned
 * into instants by SQL helpers so that DST gaps and overlaps follow
 * PostgreSQL's AT TIME ZONE.  The reads are a handful of set-based queries
 * whose cost grows with the number of connectors and assets, not with sync
 * history.  Each streams its rows through a cursor to a row reader that
 * keeps only what the fleet needs, so no query's whole result is held at
 * once.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "analytics.h"
#include "duration_model.h"
#include "fleet_read.h"
#include "spi_run.h"

/*
 * The start of the data a connector holds at `at` (fresh_since: its last
 * success ended by then, started within 8 days) comes from the latest
 * success connector_stats keeps: when that run had ended by `at`, it is
 * the answer; when it started 8 days or more before `at`, every success did
 * and there is none.  Only when it ended after `at` (an instant in the
 * past, as simulate() and backtest() ask), or the connector has no stats
 * row or runs waiting in stats_backlog, is sync_run probed, for that
 * connector alone: at 50,000 connectors the probe of every connector was a
 * third of plan().  The runs in progress at `at` (only read when planning)
 * are one aggregate over sync_run's partial index of running runs.
 *
 * The failure streak is connector_stats' unless a success is known after
 * its last failure (the connector row's last success, which the vendor's
 * connector listing moves without a run being folded into the stats, or
 * the stats lagging behind: stats_backlog): then the streak is over, as
 * simulate()'s replay counts it (failures in a row since the last
 * success).  A stale streak raised a connector's failure risk, and so its
 * priority, above what the replay gave it (test_fleet's pin test: two
 * connectors swapped planned starts).
 */
static const char *const connectors_sql =
"SELECT c.connector_id, c.account_id, coalesce(c.name, c.external_id), a.vendor = 'airbyte',"
"       CASE WHEN coalesce(c.destination_id, c.group_id) IS NOT NULL"
"            THEN c.account_id || '/' || coalesce(c.destination_id, c.group_id) END,"
"       c.source_key, c.paused OR coalesce(c.sync_state = 'paused', false),"
"       running.started_at,"
"       c.tags, c.batch_size, c.parallelism, c.schedule_minutes,"
"       coalesce(s.runs, 0), coalesce(s.failures, 0),"
"       CASE WHEN s.last_failure_at < greatest(s.last_success_at, c.last_success_at) THEN 0"
"            ELSE coalesce(s.consecutive_failures, 0) END,"
"       greatest(s.last_success_at, c.last_success_at), s.ewma_duration_s, s.ewma_rows,"
"       coalesce(s.fit_n, 0), coalesce(s.fit_sum_x, 0), coalesce(s.fit_sum_y, 0),"
"       coalesce(s.fit_sum_xx, 0), coalesce(s.fit_sum_xy, 0),"
"       s.duration_model,"
"       CASE WHEN s.connector_id IS NULL OR backlog.connector_id IS NOT NULL"
"                 OR (s.latest_success_finished_at > $1"
"                     AND s.latest_success_started_at > $1 - interval '8 days')"
"            THEN (SELECT max(r.started_at) FROM syncopt.sync_run r"
"                   WHERE r.connector_id = c.connector_id AND r.status = 'succeeded'"
"                     AND r.finished_at <= $1 AND r.started_at > $1 - interval '8 days')"
"            WHEN s.latest_success_started_at > $1 - interval '8 days'"
"            THEN s.latest_success_started_at END,"
"       s.last_failure_at"
"  FROM syncopt.connector c"
"  JOIN syncopt.account a ON a.account_id = c.account_id"
"  LEFT JOIN syncopt.connector_stats s ON s.connector_id = c.connector_id"
"  LEFT JOIN (SELECT r.connector_id, max(r.started_at) AS started_at FROM syncopt.sync_run r"
"              WHERE $3 AND r.status = 'running'"
"                AND r.started_at <= $1 AND r.started_at > $1 - interval '1 day'"
"              GROUP BY r.connector_id) running ON running.connector_id = c.connector_id"
"  LEFT JOIN (SELECT DISTINCT unnest(b.connector_id) AS connector_id FROM syncopt.stats_backlog b) backlog"
"         ON backlog.connector_id = c.connector_id"
" WHERE c.deleted_at IS NULL";

/*
 * Each asset's next deadline: next_local_time() is called once per
 * distinct rule (local time, days, time zone), not per asset (on the
 * bench's fleet 60 rules for 500 deadlines), and not for an asset without
 * a deadline, whose next one is NULL: each call plans and runs SQL
 * functions, and per asset they were 3% of sla_risk() at 50,000 connectors.
 */
static const char *const assets_sql =
"SELECT a.asset_id, a.name, d.next_deadline, a.weight, coalesce(ev.mult, 1), ev.name,"
"       extract(epoch FROM a.duration)::float8,"
"       coalesce(extract(epoch FROM a.freshness_sla)::float8, 0)"
"  FROM syncopt.asset a"
"  LEFT JOIN (SELECT r.deadline, r.days, r.timezone,"
"                    syncopt.next_local_time(r.deadline, r.days, r.timezone, $1) AS next_deadline"
"               FROM (SELECT DISTINCT deadline, days, timezone FROM syncopt.asset"
"                      WHERE deadline IS NOT NULL) r) d"
"         ON d.deadline = a.deadline AND d.days = a.days AND d.timezone = a.timezone"
"  LEFT JOIN LATERAL (SELECT e.weight_multiplier AS mult, e.name FROM syncopt.calendar_event e"
"                      WHERE e.tag IS NULL AND (e.asset_id = a.asset_id OR e.asset_id IS NULL)"
"                        AND e.during @> coalesce(d.next_deadline, $1)"
"                      ORDER BY e.weight_multiplier DESC, e.event_id LIMIT 1) ev ON true"
" ORDER BY a.asset_id";

static const char *const lineage_sql =
"SELECT upstream_connector_id, upstream_asset_id, asset_id FROM syncopt.lineage ORDER BY lineage_id";

static const char *const sync_order_sql =
"SELECT before_connector_id, after_connector_id FROM syncopt.sync_order"
" ORDER BY before_connector_id, after_connector_id";

/*
 * Run one read-only loader query with `at`, the horizon and whether the
 * caller plans as $1, $2, $3, handing its rows to reader a batch at a time
 * (spi_run_each): the result is never held whole, only what the fleet
 * keeps of it.
 */
void
fleet_run_query(const char *sql, double horizon_s, SpiRowReader reader, Loading *load)
{
	Oid			types[3] = {TIMESTAMPTZOID, FLOAT8OID, BOOLOID};
	Datum		values[3] = {TimestampTzGetDatum(load->fleet->at), Float8GetDatum(horizon_s),
	BoolGetDatum(load->planning)};

	(void) spi_run_each(sql, 3, types, values, NULL, reader, load);
}

/* Deform a row of a loader query into load->row. */
Row *
fleet_deform(HeapTuple tuple, TupleDesc desc, Loading *load)
{
	if (desc->natts > MAX_COLS)
		elog(ERROR, "syncopt: a fleet query returned %d columns, more than %d", desc->natts, MAX_COLS);
	heap_deform_tuple(tuple, desc, load->row.values, load->row.isnull);
	return &load->row;
}

/* Room for element n of an array of cap elements of size, doubling it when full. */
void *
fleet_grow(void *array, int *cap, int n, Size size)
{
	if (n < *cap)
		return array;
	*cap = Max(*cap * 2, 64);
	return array == NULL ? palloc(size * *cap) : repalloc_huge(array, size * *cap);
}

/* Add an edge to a list. */
static void
add_edge(EdgeList *edges, int from, int to)
{
	int			cap = edges->cap;

	edges->from = fleet_grow(edges->from, &cap, edges->n, sizeof(int));
	edges->to = fleet_grow(edges->to, &edges->cap, edges->n, sizeof(int));
	edges->from[edges->n] = from;
	edges->to[edges->n++] = to;
}

/*
 * The duration model of a connector (column 24, connector_stats.
 * duration_model): its number of timed runs, and a copy of its elements in
 * mcxt when it has runs.
 */
static void
load_model(Connector *c, const Row *r, MemoryContext mcxt)
{
	bool		isnull;
	Datum		d = col(r, 24, &isnull);
	ArrayType  *a;
	int			n;
	double	   *model;

	c->nrecent = 0;
	c->model = NULL;
	if (isnull)
		return;
	a = DatumGetArrayTypeP(d);
	n = ArrayGetNItems(ARR_NDIM(a), ARR_DIMS(a));
	if (n == 0)
		return;

	/*
	 * A stored model is recomputed only when its row is written, not when
	 * the library changes: one of another length than its run count calls
	 * for would be read past its end, so it is refused.
	 */
	if (ARR_NDIM(a) != 1 || ARR_HASNULL(a) || ARR_ELEMTYPE(a) != FLOAT8OID ||
		n != (((double *) ARR_DATA_PTR(a))[DM_RUNS] < COLD_RUNS ? DM_COLD_LEN : DM_FITTED_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("connector %lld has a malformed duration model", (long long) c->id),
				 errdetail("connector_stats.duration_model has %d elements, not the shape this build of syncopt reads.", n),
				 errhint("Recompute it: UPDATE syncopt.connector_stats SET recent_duration_s = recent_duration_s WHERE connector_id = %lld.",
						 (long long) c->id)));
	model = MemoryContextAlloc(mcxt, sizeof(double) * n);
	memcpy(model, ARR_DATA_PTR(a), sizeof(double) * n);
	c->nrecent = (int) model[DM_RUNS];
	c->model = model;
}

/* Row reader of connectors_sql: one live connector with its statistics. */
static void
read_connector(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Loading    *load = arg;
	Fleet	   *fleet = load->fleet;
	MemoryContext mcxt = CurrentMemoryContext;
	Row		   *r = fleet_deform(tuple, desc, load);
	Connector  *c;
	Datum	   *tags = NULL;
	bool	   *tag_nulls = NULL;
	bool		isnull;
	Datum		d;

	fleet->conn = fleet_grow(fleet->conn, &load->cap, fleet->nconn, sizeof(Connector));
	c = &fleet->conn[fleet->nconn++];
	MemSet(c, 0, sizeof(Connector));
	c->id = col_int64(r, 1);
	c->account_id = col_int64(r, 2);
	c->name = col_text(r, 3);
	c->airbyte = DatumGetBool(col(r, 4, &isnull));
	c->destination = col_text(r, 5);
	c->source_key = col_text(r, 6);
	c->window_source = -1;
	c->paused = DatumGetBool(col(r, 7, &isnull));
	c->running_since = col_time(r, 8);
	c->ntags = 0;
	d = col(r, 9, &isnull);
	MemoryContextSwitchTo(load->scratch);
	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
						  &tags, &tag_nulls, &c->ntags);
	MemoryContextSwitchTo(mcxt);
	c->tags = palloc(sizeof(char *) * Max(c->ntags, 1));
	for (int j = 0; j < c->ntags; j++)
		c->tags[j] = tag_nulls[j] ? "" : TextDatumGetCString(tags[j]);
	c->batch_size = col_int(r, 10);
	c->parallelism = col_int(r, 11);
	c->schedule_minutes = col_int(r, 12);
	c->runs = col_int64(r, 13);
	c->failures = col_int64(r, 14);
	c->consecutive_failures = col_int(r, 15);
	c->last_success_at = col_time(r, 16);
	c->ewma_duration_s = col_double(r, 17);
	c->ewma_rows = col_double(r, 18);
	c->fit_n = (double) col_int64(r, 19);
	c->fit_sx = col_double(r, 20);
	c->fit_sy = col_double(r, 21);
	c->fit_sxx = col_double(r, 22);
	c->fit_sxy = col_double(r, 23);
	MemoryContextSwitchTo(load->scratch);
	if (load->predicting == NULL)
		load_model(c, r, mcxt);
	else
	{
		/* Predicted now, from a model that lives for this row only. */
		load_model(c, r, load->scratch);
		MemoryContextSwitchTo(mcxt);
		if (c->nrecent > 0)
			predict_from_history(c, fleet->at, !fleet->terse, load->predicting);
		c->model = NULL;
	}
	MemoryContextSwitchTo(mcxt);
	MemoryContextReset(load->scratch);
	c->fresh_since = col_time(r, 25);
	if (c->fresh_since == NO_TIME)
		c->fresh_since = DT_NOBEGIN;
	c->last_failure_at = col_time(r, 26);
	c->due = NO_TIME;
	c->due_asset = -1;
	c->due_via = -1;
	c->calendar = 1;
	c->stale_asset = -1;
}

/* A connector's id and where the connector is, to sort the fleet by. */
typedef struct IdPlace
{
	int64		id;
	int			place;
} IdPlace;

/* Order IdPlaces by id (qsort). */
static int
id_place_cmp(const void *a, const void *b)
{
	int64		x = ((const IdPlace *) a)->id;
	int64		y = ((const IdPlace *) b)->id;

	return (x > y) - (x < y);
}

/*
 * Sort the connectors by id: their ids are sorted with their places, then
 * each connector is moved once, along the cycles of that permutation.
 * qsort of the connectors themselves moved a whole Connector at each swap
 * (5% of priority_scores() at 50,000 connectors).
 */
static void
sort_connectors(Fleet *fleet)
{
	Connector  *conn = fleet->conn;
	IdPlace    *key = palloc(sizeof(IdPlace) * fleet->nconn);

	for (int i = 0; i < fleet->nconn; i++)
	{
		key[i].id = conn[i].id;
		key[i].place = i;
	}
	qsort(key, fleet->nconn, sizeof(IdPlace), id_place_cmp);
	/* Position k takes the connector at key[k].place; a placed k gets place k. */
	for (int start = 0; start < fleet->nconn; start++)
	{
		Connector	hold;
		int			k = start;

		if (key[start].place == start)
			continue;
		hold = conn[start];
		while (key[k].place != start)
		{
			int			from = key[k].place;

			conn[k] = conn[from];
			key[k].place = k;
			k = from;
		}
		conn[k] = hold;
		key[k].place = k;
	}
	pfree(key);
}

/*
 * Read every live connector with its statistics, sorted by id.  The query
 * has no ORDER BY: sorted by the database, the wide connector_stats rows
 * (their recent-run arrays) were either sorted whole or read through the
 * index in random order; a hash join streams them in table order and the
 * fleet is sorted here, where only the connectors' fixed part moves.
 */
static void
load_connectors(Loading *load)
{
	Fleet	   *fleet = load->fleet;
	bool		sorted = true;

	load->cap = 0;
	fleet_run_query(connectors_sql, 0, read_connector, load);
	if (fleet->conn == NULL)
		fleet->conn = palloc0(sizeof(Connector));
	for (int i = 1; i < fleet->nconn && sorted; i++)
		sorted = fleet->conn[i - 1].id < fleet->conn[i].id;
	if (!sorted)
		sort_connectors(fleet);
}

/* Index of a connector by id (connectors are sorted by id), or -1. */
int
fleet_connector_index(const Fleet *fleet, int64 connector_id)
{
	int			lo = 0,
				hi = fleet->nconn - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (fleet->conn[mid].id == connector_id)
			return mid;
		if (fleet->conn[mid].id < connector_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Index of an asset by id (assets are sorted by id), or -1. */
static int
asset_index(const Fleet *fleet, int64 asset_id)
{
	int			lo = 0,
				hi = fleet->nasset - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (fleet->asset[mid].id == asset_id)
			return mid;
		if (fleet->asset[mid].id < asset_id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/* Row reader of assets_sql: one asset with its next deadline and calendar multiplier. */
static void
read_asset(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Loading    *load = arg;
	Fleet	   *fleet = load->fleet;
	Row		   *r = fleet_deform(tuple, desc, load);
	Asset	   *a;

	fleet->asset = fleet_grow(fleet->asset, &load->cap, fleet->nasset, sizeof(Asset));
	a = &fleet->asset[fleet->nasset++];
	MemSet(a, 0, sizeof(Asset));
	a->id = col_int64(r, 1);
	a->name = col_text(r, 2);
	a->deadline = col_time(r, 3);
	a->weight = col_double(r, 4);
	a->multiplier = col_double(r, 5);
	a->event = col_text(r, 6);
	a->duration_s = col_double(r, 7);
	a->freshness_sla_s = col_double(r, 8);
	a->due = NO_TIME;
	a->due_asset = -1;
}

/* Read every asset with its next deadline and calendar multiplier. */
static void
load_assets(Loading *load)
{
	load->cap = 0;
	fleet_run_query(assets_sql, 0, read_asset, load);
	if (load->fleet->asset == NULL)
		load->fleet->asset = palloc0(sizeof(Asset));
}

/* Compressed adjacency of n nodes from parallel edge arrays. */
Adjacency
build_adjacency(int n, int nedges, const int *from, const int *to)
{
	Adjacency	adj;
	int		   *fill = palloc0(sizeof(int) * (n + 1));

	adj.off = palloc0(sizeof(int) * (n + 1));
	adj.idx = palloc(sizeof(int) * Max(nedges, 1));
	for (int e = 0; e < nedges; e++)
		adj.off[from[e] + 1]++;
	for (int i = 0; i < n; i++)
		adj.off[i + 1] += adj.off[i];
	for (int e = 0; e < nedges; e++)
		adj.idx[adj.off[from[e]] + fill[from[e]]++] = to[e];
	pfree(fill);
	return adj;
}

/*
 * Row reader of lineage_sql: an edge into an asset from a connector or an
 * asset.  Edges that touch a deleted connector are left out: nothing will
 * sync it.
 */
static void
read_lineage(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Loading    *load = arg;
	Row		   *r = fleet_deform(tuple, desc, load);
	bool		conn_null;
	Datum		up_conn = col(r, 1, &conn_null);
	int			target = asset_index(load->fleet, col_int64(r, 3));
	int			up;

	if (target < 0)
		return;
	if (!conn_null)
	{
		up = fleet_connector_index(load->fleet, DatumGetInt64(up_conn));
		if (up >= 0)
			add_edge(&load->conn_edges, up, target);
	}
	else
	{
		up = asset_index(load->fleet, col_int64(r, 2));
		if (up >= 0)
			add_edge(&load->asset_edges, up, target);
	}
}

/* Row reader of sync_order_sql: a pair of live connectors. */
static void
read_sync_order(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Loading    *load = arg;
	Row		   *r = fleet_deform(tuple, desc, load);
	int			b = fleet_connector_index(load->fleet, col_int64(r, 1));
	int			a = fleet_connector_index(load->fleet, col_int64(r, 2));

	if (b >= 0 && a >= 0)
		add_edge(&load->order_edges, b, a);
}

/* Read lineage and sync_order into adjacency lists. */
static void
load_edges(Loading *load)
{
	Fleet	   *fleet = load->fleet;
	EdgeList   *ce = &load->conn_edges;
	EdgeList   *ae = &load->asset_edges;
	EdgeList   *oe = &load->order_edges;

	fleet_run_query(lineage_sql, 0, read_lineage, load);
	fleet->conn_assets = build_adjacency(fleet->nconn, ce->n, ce->from, ce->to);
	fleet->asset_prev_conns = build_adjacency(fleet->nasset, ce->n, ce->to, ce->from);
	fleet->asset_next = build_adjacency(fleet->nasset, ae->n, ae->from, ae->to);
	fleet->asset_prev_assets = build_adjacency(fleet->nasset, ae->n, ae->to, ae->from);

	fleet_run_query(sync_order_sql, 0, read_sync_order, load);
	fleet->conn_after = build_adjacency(fleet->nconn, oe->n, oe->from, oe->to);
	fleet->conn_before = build_adjacency(fleet->nconn, oe->n, oe->to, oe->from);
}

/*
 * Load the fleet as of `at`.  horizon_s bounds how far ahead windows and
 * calendar events are expanded; parts says what to read besides the
 * connectors (FLEET_*).  The result lives in the caller's memory context.
 */
Fleet *
fleet_load(TimestampTz at, double horizon_s, int parts)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Loading		load = {0};
	int			empty = 0;

	load.fleet = palloc0(sizeof(Fleet));
	load.fleet->at = at;
	load.planning = (parts & FLEET_NOT_PLANNING) == 0;
	load.scratch = AllocSetContextCreate(mcxt, "syncopt fleet row", ALLOCSET_SMALL_SIZES);
	if (parts & FLEET_PREDICT)
	{
		load.predicting = AllocSetContextCreate(mcxt, "syncopt prediction", ALLOCSET_DEFAULT_SIZES);
		load.fleet->predicted = true;
	}
	load.fleet->terse = (parts & FLEET_TERSE) != 0;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	/* The row readers run here: what they keep lives in the caller's context. */
	MemoryContextSwitchTo(mcxt);
	load_connectors(&load);
	if (parts & FLEET_GRAPH)
	{
		load_assets(&load);
		load_edges(&load);
	}
	else
	{
		load.fleet->conn_assets = build_adjacency(load.fleet->nconn, 0, &empty, &empty);
		load.fleet->conn_after = load.fleet->conn_assets;
		load.fleet->conn_before = load.fleet->conn_assets;
		load.fleet->asset_next = build_adjacency(0, 0, &empty, &empty);
		load.fleet->asset_prev_assets = load.fleet->asset_next;
		load.fleet->asset_prev_conns = load.fleet->asset_next;
	}
	if (parts & FLEET_WINDOWS)
		fleet_read_windows(&load, horizon_s);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	MemoryContextDelete(load.scratch);
	if (load.predicting)
		MemoryContextDelete(load.predicting);
	return load.fleet;
}
