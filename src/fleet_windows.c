/*-------------------------------------------------------------------------
 *
 * fleet_windows.c
 *	  The fleet loader's load and cost windows and tag-scoped calendar
 *	  events, expanded into instants over the horizon, and the numbering of
 *	  the windows' sources.
 *
 * Local-time rules (a window 08:00-18:00 America/New_York on weekdays) are
 * turned into instants by SQL helpers so that DST gaps and overlaps follow
 * PostgreSQL's AT TIME ZONE.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "analytics.h"
#include "fleet_read.h"

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

/* Row reader of windows_sql: one occurrence of a load or cost window. */
static void
read_window(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Loading    *load = arg;
	Fleet	   *fleet = load->fleet;
	Row		   *r = fleet_deform(tuple, desc, load);
	Window	   *w;
	char	   *target = col_text(r, 1);

	fleet->win = fleet_grow(fleet->win, &load->cap, fleet->nwin, sizeof(Window));
	w = &fleet->win[fleet->nwin++];
	MemSet(w, 0, sizeof(Window));
	w->target = target[0];
	w->connector_id = col_int64(r, 2);
	w->source_key = col_text(r, 3);
	w->starts = col_time(r, 4);
	w->ends = col_time(r, 5);
	w->load_factor = col_double(r, 6);
	w->price = col_double(r, 7);
	w->name = col_text(r, 8);
}

/* Row reader of tag_events_sql: one tag-scoped calendar event. */
static void
read_tag_event(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Loading    *load = arg;
	Fleet	   *fleet = load->fleet;
	Row		   *r = fleet_deform(tuple, desc, load);
	TagEvent   *e;

	fleet->tagev = fleet_grow(fleet->tagev, &load->cap, fleet->ntagev, sizeof(TagEvent));
	e = &fleet->tagev[fleet->ntagev++];
	MemSet(e, 0, sizeof(TagEvent));
	e->tag = col_text(r, 1);
	e->starts = col_time(r, 2);
	e->ends = col_time(r, 3);
	e->multiplier = col_double(r, 4);
	e->name = col_text(r, 5);
}

/* Order strings (qsort of pointers to them). */
static int
string_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* The place of key among n sorted distinct keys, or -1. */
static int
key_number(char *const *keys, int n, const char *key)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			cmp = strcmp(keys[mid], key);

		if (cmp == 0)
			return mid;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -1;
}

/*
 * Number the distinct source keys of the fleet's load windows, and give
 * each window and each connector its key's number (-1: none), so that
 * window_applies() compares two integers: comparing the strings, plan()'s
 * look at every window for every sync was a twentieth of sla_risk() at
 * 50,000 connectors.
 */
static void
number_sources(Fleet *fleet)
{
	char	  **keys = palloc(sizeof(char *) * Max(fleet->nwin, 1));
	int			nkeys = 0,
				ndistinct = 0;

	for (int w = 0; w < fleet->nwin; w++)
		if (fleet->win[w].source_key != NULL)
			keys[nkeys++] = fleet->win[w].source_key;
	qsort(keys, nkeys, sizeof(char *), string_cmp);
	for (int k = 0; k < nkeys; k++)
		if (ndistinct == 0 || strcmp(keys[ndistinct - 1], keys[k]) != 0)
			keys[ndistinct++] = keys[k];
	for (int w = 0; w < fleet->nwin; w++)
		fleet->win[w].source_no = fleet->win[w].source_key == NULL ? -1
			: key_number(keys, ndistinct, fleet->win[w].source_key);
	for (int i = 0; i < fleet->nconn; i++)
		fleet->conn[i].window_source = fleet->conn[i].source_key == NULL ? -1
			: key_number(keys, ndistinct, fleet->conn[i].source_key);
	pfree(keys);
}

/*
 * Read load windows and tag-scoped calendar events as instants, and number
 * the windows' sources in the windows and the connectors.
 */
void
fleet_read_windows(Loading *load, double horizon_s)
{
	Fleet	   *fleet = load->fleet;

	load->cap = 0;
	fleet_run_query(windows_sql, horizon_s, read_window, load);
	if (fleet->win == NULL)
		fleet->win = palloc0(sizeof(Window));
	number_sources(fleet);
	load->cap = 0;
	fleet_run_query(tag_events_sql, horizon_s, read_tag_event, load);
	if (fleet->tagev == NULL)
		fleet->tagev = palloc0(sizeof(TagEvent));
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
	Loading		load = {0};

	/* A copy may share its arrays with the fleet it was made from. */
	fleet->win = NULL;
	fleet->nwin = 0;
	fleet->tagev = NULL;
	fleet->ntagev = 0;
	load.fleet = fleet;
	load.planning = true;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	MemoryContextSwitchTo(mcxt);
	fleet_read_windows(&load, horizon_s);
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
}
