/*-------------------------------------------------------------------------
 *
 * fleet.c
 *	  Load the fleet picture the analytics compute on: connectors joined to
 *	  their connector_stats (never the raw history), assets with their next
 *	  deadline, the lineage and sync_order graph, and load windows and
 *	  calendar events expanded into instants.
 *
 * Local-time rules (deadline at 06:00 Europe/Berlin on weekdays, a window
 * 08:00-18:00 America/New_York) are turned into instants by SQL helpers so
 * that DST gaps and overlaps follow PostgreSQL's AT TIME ZONE.  The reads
 * are a handful of set-based queries whose cost grows with the number of
 * connectors and assets, not with sync history.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "analytics.h"
#include "spi_run.h"

static const char *const connectors_sql =
"SELECT c.connector_id, c.account_id, coalesce(c.name, c.external_id), a.vendor = 'airbyte',"
"       CASE WHEN coalesce(c.destination_id, c.group_id) IS NOT NULL"
"            THEN c.account_id || '/' || coalesce(c.destination_id, c.group_id) END,"
"       c.source_key, c.paused OR coalesce(c.sync_state = 'paused', false),"
"       (SELECT max(r.started_at) FROM syncopt.sync_run r"
"         WHERE r.connector_id = c.connector_id AND r.status = 'running'"
"           AND r.started_at <= $1 AND r.started_at > $1 - interval '1 day'),"
"       c.tags, c.batch_size, c.parallelism, c.schedule_minutes,"
"       coalesce(s.runs, 0), coalesce(s.failures, 0), coalesce(s.consecutive_failures, 0),"
"       greatest(s.last_success_at, c.last_success_at), s.ewma_duration_s, s.ewma_rows,"
"       coalesce(s.fit_n, 0), coalesce(s.fit_sum_x, 0), coalesce(s.fit_sum_y, 0),"
"       coalesce(s.fit_sum_xx, 0), coalesce(s.fit_sum_xy, 0),"
"       s.recent_duration_s, s.recent_rows, s.recent_started_at, s.recent_full,"
"       (SELECT max(r.started_at) FROM syncopt.sync_run r"
"         WHERE r.connector_id = c.connector_id AND r.status = 'succeeded' AND r.finished_at <= $1"
"           AND r.started_at > $1 - interval '8 days')"
"  FROM syncopt.connector c"
"  JOIN syncopt.account a ON a.account_id = c.account_id"
"  LEFT JOIN syncopt.connector_stats s ON s.connector_id = c.connector_id"
" WHERE c.deleted_at IS NULL"
" ORDER BY c.connector_id";

static const char *const assets_sql =
"SELECT a.asset_id, a.name, d.next_deadline, a.weight, coalesce(ev.mult, 1), ev.name,"
"       extract(epoch FROM a.duration)::float8,"
"       coalesce(extract(epoch FROM a.freshness_sla)::float8, 0)"
"  FROM syncopt.asset a"
" CROSS JOIN LATERAL (SELECT syncopt.next_local_time(a.deadline, a.days, a.timezone, $1)"
"                            AS next_deadline) d"
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

static const char *const windows_sql =
"SELECT w.target, w.connector_id, w.source_key, o.starts, o.ends,"
"       coalesce(w.load_factor, 0), coalesce(w.price_multiplier, 1),"
"       coalesce(w.name, 'load window ' || w.window_id)"
"  FROM syncopt.load_window w,"
"       syncopt.window_occurrences(w.start_time, w.end_time, w.dow, w.timezone,"
"                                  $1 - interval '1 day',"
"                                  $1 + make_interval(secs => $2) + interval '1 day') o"
" ORDER BY o.starts, w.window_id";

static const char *const tag_events_sql =
"SELECT tag, lower(during), upper(during), weight_multiplier, name"
"  FROM syncopt.calendar_event"
" WHERE tag IS NOT NULL"
"   AND during && tstzrange($1 - interval '1 day', $1 + make_interval(secs => $2) + interval '8 days')"
" ORDER BY event_id";

/* Run one read-only loader query with `at` and the horizon as $1, $2. */
static void
run_query(const char *sql, TimestampTz at, double horizon_s)
{
	Oid			types[2] = {TIMESTAMPTZOID, FLOAT8OID};
	Datum		values[2] = {TimestampTzGetDatum(at), Float8GetDatum(horizon_s)};

	(void) spi_run(sql, 2, types, values, NULL, true);
}

/* Column n (1-based) of row i of the last result, and whether it is NULL. */
static Datum
col(int i, int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, n, isnull);
}

/* Text column, copied; NULL when SQL NULL. */
static char *
col_text(int i, int n)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* float8 column; NaN when SQL NULL. */
static double
col_double(int i, int n)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* int4 column; 0 when SQL NULL. */
static int
col_int(int i, int n)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* int8 column; 0 when SQL NULL. */
static int64
col_int64(int i, int n)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* timestamptz column; NO_TIME when SQL NULL. */
static TimestampTz
col_time(int i, int n)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);

	return isnull ? NO_TIME : DatumGetTimestampTz(d);
}

/* Elements of an array column (none when NULL). */
static int
col_array(int i, int n, Oid elemtype, Datum **elems, bool **nulls)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			count = 0;

	*elems = NULL;
	*nulls = NULL;
	if (isnull)
		return 0;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(d), elemtype, typlen, typbyval, typalign,
					  elems, nulls, &count);
	return count;
}

/* Fill the recent-window buffers of a connector from its stats arrays. */
static void
load_recent(Connector *c, int row)
{
	Datum	   *dur,
			   *rows,
			   *at,
			   *full;
	bool	   *dur_null,
			   *rows_null,
			   *at_null,
			   *full_null;
	int			n = col_array(row, 24, FLOAT8OID, &dur, &dur_null);
	int			nrows = col_array(row, 25, INT8OID, &rows, &rows_null);
	int			nat = col_array(row, 26, TIMESTAMPTZOID, &at, &at_null);
	int			nfull = col_array(row, 27, BOOLOID, &full, &full_null);
	int			k = 0;

	c->recent_dur = palloc(sizeof(double) * Max(n, 1));
	c->recent_rows = palloc(sizeof(double) * Max(n, 1));
	c->recent_at = palloc(sizeof(TimestampTz) * Max(n, 1));
	c->recent_full = palloc(sizeof(bool) * Max(n, 1));
	for (int j = 0; j < n; j++)
	{
		if (dur_null[j] || j >= nat || at_null[j])
			continue;
		c->recent_dur[k] = Max(DatumGetFloat8(dur[j]), 1.0);
		c->recent_rows[k] = (j < nrows && !rows_null[j]) ? (double) DatumGetInt64(rows[j]) : NAN;
		c->recent_at[k] = DatumGetTimestampTz(at[j]);
		c->recent_full[k] = j < nfull && !full_null[j] && DatumGetBool(full[j]);
		k++;
	}
	c->nrecent = k;
}

/* Read every live connector with its statistics. */
static void
load_connectors(Fleet *fleet, MemoryContext mcxt)
{
	run_query(connectors_sql, fleet->at, 0);
	MemoryContextSwitchTo(mcxt);
	fleet->nconn = (int) SPI_processed;
	fleet->conn = palloc0(sizeof(Connector) * Max(fleet->nconn, 1));
	for (int i = 0; i < fleet->nconn; i++)
	{
		Connector  *c = &fleet->conn[i];
		Datum	   *tags;
		bool	   *tag_nulls;
		bool		isnull;

		c->id = col_int64(i, 1);
		c->account_id = col_int64(i, 2);
		c->name = col_text(i, 3);
		c->airbyte = DatumGetBool(col(i, 4, &isnull));
		c->destination = col_text(i, 5);
		c->source_key = col_text(i, 6);
		c->paused = DatumGetBool(col(i, 7, &isnull));
		c->running_since = col_time(i, 8);
		c->ntags = col_array(i, 9, TEXTOID, &tags, &tag_nulls);
		c->tags = palloc(sizeof(char *) * Max(c->ntags, 1));
		for (int j = 0; j < c->ntags; j++)
			c->tags[j] = tag_nulls[j] ? "" : TextDatumGetCString(tags[j]);
		c->batch_size = col_int(i, 10);
		c->parallelism = col_int(i, 11);
		c->schedule_minutes = col_int(i, 12);
		c->runs = col_int64(i, 13);
		c->failures = col_int64(i, 14);
		c->consecutive_failures = col_int(i, 15);
		c->last_success_at = col_time(i, 16);
		c->ewma_duration_s = col_double(i, 17);
		c->ewma_rows = col_double(i, 18);
		c->fit_n = (double) col_int64(i, 19);
		c->fit_sx = col_double(i, 20);
		c->fit_sy = col_double(i, 21);
		c->fit_sxx = col_double(i, 22);
		c->fit_sxy = col_double(i, 23);
		load_recent(c, i);
		c->fresh_since = col_time(i, 28);
		if (c->fresh_since == NO_TIME)
			c->fresh_since = DT_NOBEGIN;
		c->due = NO_TIME;
		c->due_asset = -1;
		c->due_via = -1;
		c->calendar = 1;
		c->stale_asset = -1;
	}
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

/* Read every asset with its next deadline and calendar multiplier. */
static void
load_assets(Fleet *fleet, MemoryContext mcxt)
{
	run_query(assets_sql, fleet->at, 0);
	MemoryContextSwitchTo(mcxt);
	fleet->nasset = (int) SPI_processed;
	fleet->asset = palloc0(sizeof(Asset) * Max(fleet->nasset, 1));
	for (int i = 0; i < fleet->nasset; i++)
	{
		Asset	   *a = &fleet->asset[i];

		a->id = col_int64(i, 1);
		a->name = col_text(i, 2);
		a->deadline = col_time(i, 3);
		a->weight = col_double(i, 4);
		a->multiplier = col_double(i, 5);
		a->event = col_text(i, 6);
		a->duration_s = col_double(i, 7);
		a->freshness_sla_s = col_double(i, 8);
		a->due = NO_TIME;
		a->due_asset = -1;
	}
}

/* Compressed adjacency of n nodes from parallel edge arrays. */
static Adjacency
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
 * Read lineage and sync_order into adjacency lists.  Edges that touch a
 * deleted connector are left out: nothing will sync it.
 */
static void
load_edges(Fleet *fleet, MemoryContext mcxt)
{
	int			n;
	int		   *cf,
			   *ct,
			   *af,
			   *at,
			   *so_b,
			   *so_a;
	int			ncedges = 0,
				naedges = 0,
				nso = 0;

	run_query(lineage_sql, fleet->at, 0);
	MemoryContextSwitchTo(mcxt);
	n = (int) SPI_processed;
	cf = palloc(sizeof(int) * Max(n, 1));
	ct = palloc(sizeof(int) * Max(n, 1));
	af = palloc(sizeof(int) * Max(n, 1));
	at = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		conn_null;
		Datum		up_conn = col(i, 1, &conn_null);
		int			target = asset_index(fleet, col_int64(i, 3));

		if (target < 0)
			continue;
		if (!conn_null)
		{
			int			c = fleet_connector_index(fleet, DatumGetInt64(up_conn));

			if (c < 0)
				continue;
			cf[ncedges] = c;
			ct[ncedges++] = target;
		}
		else
		{
			int			up = asset_index(fleet, col_int64(i, 2));

			if (up < 0)
				continue;
			af[naedges] = up;
			at[naedges++] = target;
		}
	}
	fleet->conn_assets = build_adjacency(fleet->nconn, ncedges, cf, ct);
	fleet->asset_prev_conns = build_adjacency(fleet->nasset, ncedges, ct, cf);
	fleet->asset_next = build_adjacency(fleet->nasset, naedges, af, at);
	fleet->asset_prev_assets = build_adjacency(fleet->nasset, naedges, at, af);

	run_query(sync_order_sql, fleet->at, 0);
	MemoryContextSwitchTo(mcxt);
	n = (int) SPI_processed;
	so_b = palloc(sizeof(int) * Max(n, 1));
	so_a = palloc(sizeof(int) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		int			b = fleet_connector_index(fleet, col_int64(i, 1));
		int			a = fleet_connector_index(fleet, col_int64(i, 2));

		if (b < 0 || a < 0)
			continue;
		so_b[nso] = b;
		so_a[nso++] = a;
	}
	fleet->conn_after = build_adjacency(fleet->nconn, nso, so_b, so_a);
	fleet->conn_before = build_adjacency(fleet->nconn, nso, so_a, so_b);
}

/* Read load windows and tag-scoped calendar events as instants. */
static void
load_windows(Fleet *fleet, double horizon_s, MemoryContext mcxt)
{
	run_query(windows_sql, fleet->at, horizon_s);
	MemoryContextSwitchTo(mcxt);
	fleet->nwin = (int) SPI_processed;
	fleet->win = palloc0(sizeof(Window) * Max(fleet->nwin, 1));
	for (int i = 0; i < fleet->nwin; i++)
	{
		Window	   *w = &fleet->win[i];
		char	   *target = col_text(i, 1);

		w->target = target[0];
		w->connector_id = col_int64(i, 2);
		w->source_key = col_text(i, 3);
		w->starts = col_time(i, 4);
		w->ends = col_time(i, 5);
		w->load_factor = col_double(i, 6);
		w->price = col_double(i, 7);
		w->name = col_text(i, 8);
	}

	run_query(tag_events_sql, fleet->at, horizon_s);
	MemoryContextSwitchTo(mcxt);
	fleet->ntagev = (int) SPI_processed;
	fleet->tagev = palloc0(sizeof(TagEvent) * Max(fleet->ntagev, 1));
	for (int i = 0; i < fleet->ntagev; i++)
	{
		TagEvent   *e = &fleet->tagev[i];

		e->tag = col_text(i, 1);
		e->starts = col_time(i, 2);
		e->ends = col_time(i, 3);
		e->multiplier = col_double(i, 4);
		e->name = col_text(i, 5);
	}
}

/*
 * Load the fleet as of `at`.  horizon_s bounds how far ahead windows and
 * calendar events are expanded.  The result lives in the caller's memory
 * context.
 */
Fleet *
fleet_load(TimestampTz at, double horizon_s, int parts)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Fleet	   *fleet = palloc0(sizeof(Fleet));
	int			empty = 0;

	fleet->at = at;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	load_connectors(fleet, mcxt);
	if (parts & FLEET_GRAPH)
	{
		load_assets(fleet, mcxt);
		load_edges(fleet, mcxt);
	}
	else
	{
		fleet->conn_assets = build_adjacency(fleet->nconn, 0, &empty, &empty);
		fleet->conn_after = fleet->conn_assets;
		fleet->conn_before = fleet->conn_assets;
		fleet->asset_next = build_adjacency(0, 0, &empty, &empty);
		fleet->asset_prev_assets = fleet->asset_next;
		fleet->asset_prev_conns = fleet->asset_next;
	}
	if (parts & FLEET_WINDOWS)
		load_windows(fleet, horizon_s, mcxt);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	return fleet;
}

/*
 * Replace the fleet's windows and tag-scoped calendar events with those of
 * another horizon, as fleet_load() would read them for it: a planning run
 * loads the fleet once and derives its shorter-horizon plan from a copy.
 */
void
fleet_load_windows(Fleet *fleet, double horizon_s)
{
	MemoryContext mcxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	load_windows(fleet, horizon_s, mcxt);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
}
