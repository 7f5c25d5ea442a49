/*-------------------------------------------------------------------------
 *
 * absorb.c
 *	  syncopt.absorb_runs(): fold newly finished runs into connector_stats,
 *	  so the analytics read one row per connector and never rescan history.
 *
 * Every ingestion path (vendor API pages, the Platform Connector log,
 * webhooks) calls this once per call with the runs it finished: the SQL
 * ones through absorb_runs(run_ids), the C ones (Airbyte job pages) with
 * the runs in memory through absorb_fold().  The work is a fixed handful of
 * set-based statements whatever the number of connectors on the page: read
 * the runs (absorb_runs only), lock their stats rows, compute the new values
 * here, write them back with one UPDATE.  A caller may instead leave the
 * runs in stats_backlog (absorb_defer()) for fold_stats_backlog(), which
 * folds many pages at once: each connector's row is then rewritten once per
 * batch rather than once per page.  The stats rows are
 * locked (FOR UPDATE, in connector order) before they are read, so two
 * concurrent ingestions of different runs of one connector fold both.
 *
 * Per connector, over its new runs in finish order:
 *	- counts of runs, successes and failures (unless count_outcomes is
 *	  false: runs counted before while their start was unknown feed only
 *	  their durations);
 *	- the failure streak: failures after the last success, else the old
 *	  streak plus the new failures;
 *	- over the timed successes x1..xk (succeeded, duration known), the EWMA
 *	  (alpha 0.3) of duration and rows: m' = (1-a)^k m + sum a (1-a)^(k-i) xi,
 *	  and with no old level x1 weighs (1-a)^(k-1), i.e. the series starts at
 *	  x1; the rows level moves only when every new timed run has rows;
 *	- the running sums of the log-linear duration model (x = ln(1 + rows),
 *	  y = ln(max(duration, 1 s))) over runs with rows;
 *	- the recent window: the newest RECENT_KEEP timed successes, old buffer
 *	  and new runs merged, oldest first;
 *	- in connector_last_runs, an Airbyte connector's newest LAST_RUNS_KEEP
 *	  finished runs, read again from sync_run for every connector named,
 *	  also one whose runs are all running (nothing else of it is written).
 *	  A stats_backlog element without a status names a connector that way
 *	  and folds no run: 0.2.0's update queues one per Airbyte connector, so
 *	  that the fold fills the table rather than a second statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "absorb.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_absorb_runs);
PG_FUNCTION_INFO_V1(syncopt_fold_stats_backlog);

#define ALPHA		0.3
#define RECENT_KEEP 64			/* length of the recent-window buffers */
#define BACKLOG_BATCH 500		/* stats_backlog rows (pages) folded at a time */

/* The runs of the call (columns as absorb_run_from_row reads them). */
static const char *const runs_sql =
"SELECT r.connector_id, r.status, r.started_at, r.finished_at, r.rows, r.full_sync,"
"       r.duration_known, r.run_id"
"  FROM syncopt.sync_run r"
" WHERE r.run_id = ANY ($1)";

/* Runs left to fold later, one backlog row per call. */
static const char *const defer_sql =
"INSERT INTO syncopt.stats_backlog (run_id, connector_id, status, started_at, finished_at, rows,"
"                                   full_sync, duration_known)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/* The oldest waiting backlog rows, taken off it (skipping others' batches). */
static const char *const take_backlog_sql =
"DELETE FROM syncopt.stats_backlog b"
" WHERE b.seq IN (SELECT q.seq FROM syncopt.stats_backlog q ORDER BY q.seq LIMIT $1"
"                 FOR UPDATE SKIP LOCKED)"
" RETURNING b.run_id, b.connector_id, b.status, b.started_at, b.finished_at, b.rows, b.full_sync,"
"           b.duration_known";

static const char *const create_stats_sql =
"INSERT INTO syncopt.connector_stats (connector_id) SELECT unnest($1)"
" ON CONFLICT DO NOTHING";

static const char *const lock_stats_sql =
"SELECT s.connector_id, s.consecutive_failures, s.ewma_duration_s, s.ewma_rows,"
"       s.recent_duration_s, s.recent_rows, s.recent_started_at, s.recent_full"
"  FROM syncopt.connector_stats s"
" WHERE s.connector_id = ANY ($1)"
" ORDER BY s.connector_id"
"   FOR UPDATE";

/*
 * Counts and sums are added to the locked row; the streak, the EWMA levels
 * and the window are computed here from it.  Window u.len is NULL when the
 * connector had no timed success (the window stays).
 */
#define UPDATE_STATS_SET \
"UPDATE syncopt.connector_stats s SET" \
"    runs = s.runs + u.n, successes = s.successes + u.ok, failures = s.failures + u.bad," \
"    consecutive_failures = u.streak," \
"    last_run_at = greatest(s.last_run_at, u.last_run)," \
"    last_success_at = greatest(s.last_success_at, u.last_ok)," \
"    last_failure_at = greatest(s.last_failure_at, u.last_bad)," \
"    ewma_duration_s = u.ewma_duration, ewma_rows = u.ewma_rows," \
"    fit_n = s.fit_n + u.fit_n, fit_sum_x = s.fit_sum_x + u.sx, fit_sum_y = s.fit_sum_y + u.sy," \
"    fit_sum_xx = s.fit_sum_xx + u.sxx, fit_sum_xy = s.fit_sum_xy + u.sxy," \
"    fit_sum_yy = s.fit_sum_yy + u.syy," \
"    recent_duration_s = CASE WHEN u.len IS NULL THEN s.recent_duration_s" \
"                             ELSE $19[u.off + 1 : u.off + u.len] END," \
"    recent_rows = CASE WHEN u.len IS NULL THEN s.recent_rows ELSE $20[u.off + 1 : u.off + u.len] END," \
"    recent_started_at = CASE WHEN u.len IS NULL THEN s.recent_started_at" \
"                             ELSE $21[u.off + 1 : u.off + u.len] END," \
"    recent_full = CASE WHEN u.len IS NULL THEN s.recent_full ELSE $22[u.off + 1 : u.off + u.len] END,"

/*
 * The latest success is read again from sync_run rather than folded: a run
 * whose start was unknown gets it later (count_outcomes false), which can
 * move the latest success back; of runs starting together, the first to
 * end is kept (the fleet loader asks whether one had ended by an instant).
 */
#define UPDATE_LATEST_SUCCESS \
"    (latest_success_started_at, latest_success_finished_at) =" \
"        (SELECT r.started_at, r.finished_at FROM syncopt.sync_run r" \
"          WHERE r.connector_id = s.connector_id AND r.status = 'succeeded'" \
"          ORDER BY r.started_at DESC, r.finished_at LIMIT 1),"

/*
 * The last finished runs are read again from sync_run like the latest
 * success, for every connector whose stats were written: a run folded
 * late (stats_backlog) or given its start later may belong anywhere among
 * them.  Only Airbyte connectors' are kept: batch_recommendations() reads
 * no others (Fivetran exposes no batch knob), and reading them cost a
 * fold of one run per connector a third more.
 */
static const char *const keep_last_runs_sql =
"INSERT INTO syncopt.connector_last_runs AS k"
"       (connector_id, started_at, ok, throttled, batch_size, parallelism, rows_per_s)"
"SELECT u.connector_id, l.*"
"  FROM unnest($1::bigint[]) AS u(connector_id)"
"  JOIN syncopt.connector c ON c.connector_id = u.connector_id"
"  JOIN syncopt.account a ON a.account_id = c.account_id AND a.vendor = 'airbyte'"
" CROSS JOIN LATERAL (" LAST_RUNS_SELECT("r.connector_id = u.connector_id") ") l"
"    ON CONFLICT (connector_id) DO UPDATE"
"   SET started_at = excluded.started_at, ok = excluded.ok, throttled = excluded.throttled,"
"       batch_size = excluded.batch_size, parallelism = excluded.parallelism,"
"       rows_per_s = excluded.rows_per_s";

#define UPDATE_STATS_FROM \
"    updated_at = now()" \
"  FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)" \
"       AS u(connector_id, n, ok, bad, streak, last_run, last_ok, last_bad, ewma_duration," \
"            ewma_rows, fit_n, sx, sy, sxx, sxy, syy, off, len)" \
" WHERE s.connector_id = u.connector_id"

static const char *const update_stats_sql = UPDATE_STATS_SET UPDATE_LATEST_SUCCESS UPDATE_STATS_FROM;

/*
 * The same for a 0.1.0 schema, whose connector_stats has no latest success:
 * between installing this library and ALTER EXTENSION syncopt UPDATE the
 * old schema runs with it, and ingestion goes on folding.
 */
static const char *const update_stats_010_sql = UPDATE_STATS_SET UPDATE_STATS_FROM;

enum
{
	U_CONNECTOR, U_N, U_OK, U_BAD, U_STREAK, U_LAST_RUN, U_LAST_OK, U_LAST_BAD,
	U_EWMA_DURATION, U_EWMA_ROWS, U_FIT_N, U_SX, U_SY, U_SXX, U_SXY, U_SYY,
	U_OFF, U_LEN, U_COLUMNS
};

enum
{
	W_DURATION, W_ROWS, W_STARTED, W_FULL, W_COLUMNS
};

static SPIPlanPtr runs_plan;
static SPIPlanPtr take_backlog_plan;
static SPIPlanPtr defer_plan;
static SPIPlanPtr create_stats_plan;
static SPIPlanPtr lock_stats_plan;
static SPIPlanPtr update_stats_plan;
static SPIPlanPtr update_stats_010_plan;
static SPIPlanPtr keep_last_runs_plan;

/* One timed success in the recent window, old or new. */
typedef struct WindowEntry
{
	double		duration;
	bool		has_duration;
	int64		rows;
	bool		has_rows;
	TimestampTz started_at;
	bool		full_sync;
	int			ord;			/* old buffer first, then new runs, in order */
} WindowEntry;

/* The UPDATE's parameters, one element per connector (window: per entry). */
typedef struct StatsColumns
{
	Datum	   *value[U_COLUMNS];
	bool	   *null[U_COLUMNS];
	int			n;
	Datum	   *window[W_COLUMNS];
	bool	   *window_null[W_COLUMNS];
	int			nwindow;
} StatsColumns;

/* Run a kept statement whose only argument is an array of ids. */
static void
run_with_ids(SPIPlanPtr *plan, const char *sql, Oid array_type, Datum ids, int expected)
{
	Oid			types[1] = {array_type};
	Datum		values[1] = {ids};
	int			rc;

	rc = spi_run_kept(plan, sql, 1, types, values, NULL, false);
	if (rc != expected)
		elog(ERROR, "syncopt: absorb statement failed: %s", SPI_result_code_string(rc));
}

/* Column n (1-based) of row i of the last result. */
static Datum
col(int i, int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, n, isnull);
}

/*
 * A run from a result row whose columns are, in order: connector_id,
 * status, started_at, finished_at, rows, full_sync, duration_known, run_id.
 */
void
absorb_run_from_row(HeapTuple tuple, TupleDesc desc, AbsorbRun *r)
{
	bool		isnull;
	char	   *status = TextDatumGetCString(SPI_getbinval(tuple, desc, 2, &isnull));

	r->connector_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	r->running = strcmp(status, "running") == 0;
	r->succeeded = strcmp(status, "succeeded") == 0;
	r->failed = strcmp(status, "failed") == 0;
	r->started_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 3, &isnull));
	r->finished_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
	r->rows = DatumGetInt64(SPI_getbinval(tuple, desc, 5, &isnull));
	r->has_rows = !isnull;
	r->full_sync = DatumGetBool(SPI_getbinval(tuple, desc, 6, &isnull));
	r->duration_known = DatumGetBool(SPI_getbinval(tuple, desc, 7, &isnull));
	r->run_id = DatumGetInt64(SPI_getbinval(tuple, desc, 8, &isnull));
}

/* The runs named by run_ids, copied out of the SPI result. */
static AbsorbRun *
read_runs(Datum run_ids, int *nruns)
{
	AbsorbRun  *runs;

	run_with_ids(&runs_plan, runs_sql, INT8ARRAYOID, run_ids, SPI_OK_SELECT);
	*nruns = (int) SPI_processed;
	runs = palloc0(sizeof(AbsorbRun) * Max(*nruns, 1));
	for (int i = 0; i < *nruns; i++)
		absorb_run_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, &runs[i]);
	return runs;
}

/* The distinct connectors of the runs (sorted by connector) as a bigint[]. */
static Datum
connector_ids(AbsorbRun *runs, int nruns, int *nconnectors)
{
	Datum	   *ids = palloc(sizeof(Datum) * Max(nruns, 1));
	int			n = 0;

	for (int i = 0; i < nruns; i++)
		if (n == 0 || DatumGetInt64(ids[n - 1]) != runs[i].connector_id)
			ids[n++] = Int64GetDatum(runs[i].connector_id);
	*nconnectors = n;
	return spi_array(ids, NULL, n, INT8OID);
}

/*
 * Lock the stats rows of the connectors, creating the missing ones first
 * (a connector's first run).
 */
static void
lock_stats(Datum ids, int nconnectors)
{
	run_with_ids(&lock_stats_plan, lock_stats_sql, INT8ARRAYOID, ids, SPI_OK_SELECT);
	if ((int) SPI_processed == nconnectors)
		return;
	run_with_ids(&create_stats_plan, create_stats_sql, INT8ARRAYOID, ids, SPI_OK_INSERT);
	run_with_ids(&lock_stats_plan, lock_stats_sql, INT8ARRAYOID, ids, SPI_OK_SELECT);
	if ((int) SPI_processed != nconnectors)
		elog(ERROR, "syncopt: connector_stats rows vanished while absorbing runs");
}

/* The elements of array column n of row i, with their null flags. */
static int
array_column(int i, int n, Oid elemtype, int16 len, bool byval, char align,
			 Datum **elems, bool **nulls)
{
	bool		isnull;
	Datum		d = col(i, n, &isnull);
	int			count = 0;

	*elems = NULL;
	*nulls = NULL;
	if (!isnull)
		deconstruct_array(DatumGetArrayTypeP(d), elemtype, len, byval, align, elems, nulls, &count);
	return count;
}

/* Order window entries by start, then old before new, in arrival order. */
static int
window_entry_cmp(const void *a, const void *b)
{
	const WindowEntry *x = a;
	const WindowEntry *y = b;

	if (x->started_at != y->started_at)
		return x->started_at < y->started_at ? -1 : 1;
	return x->ord - y->ord;
}

/*
 * The new window of locked stats row i: its old buffer plus the timed
 * successes runs[0..n), keeping the newest RECENT_KEEP, appended to the
 * UPDATE's flat window arrays.  Returns how many entries were appended.
 */
static int
merge_window(int i, AbsorbRun *runs, int n, StatsColumns *out)
{
	Datum	   *d,
			   *r,
			   *t,
			   *f;
	bool	   *dn,
			   *rn,
			   *tn,
			   *fn;
	int			nd = array_column(i, 5, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &d, &dn);
	int			nr = array_column(i, 6, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &r, &rn);
	int			nt = array_column(i, 7, TIMESTAMPTZOID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &t, &tn);
	int			nf = array_column(i, 8, BOOLOID, 1, true, TYPALIGN_CHAR, &f, &fn);
	WindowEntry *all = palloc(sizeof(WindowEntry) * (nt + n));
	int			count = 0;
	int			first;

	for (int k = 0; k < nt; k++)
	{
		WindowEntry *e = &all[count];

		count++;
		e->has_duration = k < nd && !dn[k];
		e->duration = e->has_duration ? DatumGetFloat8(d[k]) : 0;
		e->has_rows = k < nr && !rn[k];
		e->rows = e->has_rows ? DatumGetInt64(r[k]) : 0;
		e->started_at = tn[k] ? DT_NOBEGIN : DatumGetTimestampTz(t[k]);
		/* buffers written before recent_full existed are shorter */
		e->full_sync = k < nf && !fn[k] && DatumGetBool(f[k]);
		e->ord = count;
	}
	for (int k = 0; k < n; k++)
	{
		AbsorbRun	   *run = &runs[k];
		WindowEntry *e;

		if (!run->succeeded || !run->duration_known)
			continue;
		e = &all[count];
		count++;
		e->has_duration = true;
		e->duration = (double) (run->finished_at - run->started_at) / USECS_PER_SEC;
		e->has_rows = run->has_rows;
		e->rows = run->rows;
		e->started_at = run->started_at;
		e->full_sync = run->full_sync;
		e->ord = count;
	}
	qsort(all, count, sizeof(WindowEntry), window_entry_cmp);

	first = Max(count - RECENT_KEEP, 0);
	for (int k = first; k < count; k++)
	{
		WindowEntry *e = &all[k];
		int			j = out->nwindow++;

		out->window[W_DURATION][j] = Float8GetDatum(e->duration);
		out->window_null[W_DURATION][j] = !e->has_duration;
		out->window[W_ROWS][j] = Int64GetDatum(e->rows);
		out->window_null[W_ROWS][j] = !e->has_rows;
		out->window[W_STARTED][j] = TimestampTzGetDatum(e->started_at);
		out->window_null[W_STARTED][j] = false;
		out->window[W_FULL][j] = BoolGetDatum(e->full_sync);
		out->window_null[W_FULL][j] = false;
	}
	return count - first;
}

/* Set column c of connector j; null when isnull. */
static void
set_value(StatsColumns *out, int c, int j, Datum value, bool isnull)
{
	out->value[c][j] = value;
	out->null[c][j] = isnull;
}

/* Set a timestamp column of connector j; DT_NOBEGIN means none (NULL). */
static void
set_time(StatsColumns *out, int c, int j, TimestampTz t)
{
	set_value(out, c, j, TimestampTzGetDatum(t), TIMESTAMP_IS_NOBEGIN(t));
}

/*
 * Fold the runs runs[0..n) of the connector whose locked stats row is row i
 * of the last result into element j of the UPDATE's columns.
 */
static void
fold_connector(int i, AbsorbRun *runs, int n, bool count_outcomes, StatsColumns *out)
{
	int			j = out->n++;
	bool		isnull;
	int64		locked_id = DatumGetInt64(col(i, 1, &isnull));
	int32		old_streak = DatumGetInt32(col(i, 2, &isnull));
	double		old_duration = DatumGetFloat8(col(i, 3, &isnull));
	bool		no_old_duration = isnull;
	double		old_rows = DatumGetFloat8(col(i, 4, &isnull));
	bool		no_old_rows = isnull;
	int64		finished = 0,
				ok = 0,
				bad = 0,
				fit_n = 0;
	int32		failures_since_ok = 0;
	bool		seen_ok = false;
	TimestampTz last_run = DT_NOBEGIN,
				last_ok = DT_NOBEGIN,
				last_bad = DT_NOBEGIN;
	int			timed = 0,
				k = 0;
	double		dur_w = 0,
				dur_fresh = 0,
				rows_w = 0,
				rows_fresh = 0,
				sx = 0,
				sy = 0,
				sxx = 0,
				sxy = 0,
				syy = 0;

	if (locked_id != runs[0].connector_id)
		elog(ERROR, "syncopt: connector_stats row " INT64_FORMAT " does not match connector " INT64_FORMAT,
			 locked_id, runs[0].connector_id);
	for (int r = 0; r < n; r++)
		if (runs[r].succeeded && runs[r].duration_known)
			timed++;

	for (int r = 0; r < n; r++)
	{
		AbsorbRun	   *run = &runs[r];

		finished++;
		last_run = Max(last_run, run->finished_at);
		if (run->succeeded)
		{
			ok++;
			seen_ok = true;
			failures_since_ok = 0;
			last_ok = Max(last_ok, run->finished_at);
		}
		else if (run->failed)
		{
			bad++;
			failures_since_ok++;
			last_bad = Max(last_bad, run->finished_at);
		}

		if (run->succeeded && run->duration_known)
		{
			double		dur = (double) (run->finished_at - run->started_at) / USECS_PER_SEC;
			double		w = ALPHA * pow(1 - ALPHA, timed - (k + 1));
			double		w_fresh = k == 0 ? pow(1 - ALPHA, timed - 1) : w;

			k++;
			dur_w += w * dur;
			dur_fresh += w_fresh * dur;
			if (run->has_rows)
			{
				double		x = log(1 + (double) run->rows);
				double		y = log(Max(dur, 1));

				fit_n++;
				rows_w += w * (double) run->rows;
				rows_fresh += w_fresh * (double) run->rows;
				sx += x;
				sy += y;
				sxx += x * x;
				sxy += x * y;
				syy += y * y;
			}
		}
	}

	set_value(out, U_CONNECTOR, j, Int64GetDatum(runs[0].connector_id), false);
	set_value(out, U_N, j, Int64GetDatum(count_outcomes ? finished : 0), false);
	set_value(out, U_OK, j, Int64GetDatum(count_outcomes ? ok : 0), false);
	set_value(out, U_BAD, j, Int64GetDatum(count_outcomes ? bad : 0), false);
	if (!count_outcomes)
		set_value(out, U_STREAK, j, Int32GetDatum(old_streak), false);
	else
		set_value(out, U_STREAK, j, Int32GetDatum(seen_ok ? failures_since_ok : old_streak + (int32) bad), false);
	set_time(out, U_LAST_RUN, j, last_run);
	set_time(out, U_LAST_OK, j, last_ok);
	set_time(out, U_LAST_BAD, j, last_bad);

	if (timed == 0)
		set_value(out, U_EWMA_DURATION, j, Float8GetDatum(old_duration), no_old_duration);
	else
		set_value(out, U_EWMA_DURATION, j,
				  Float8GetDatum(no_old_duration ? dur_fresh
								 : pow(1 - ALPHA, timed) * old_duration + dur_w), false);
	if (timed == 0 || fit_n < timed)
		set_value(out, U_EWMA_ROWS, j, Float8GetDatum(old_rows), no_old_rows);
	else
		set_value(out, U_EWMA_ROWS, j,
				  Float8GetDatum(no_old_rows ? rows_fresh
								 : pow(1 - ALPHA, timed) * old_rows + rows_w), false);

	set_value(out, U_FIT_N, j, Int64GetDatum(fit_n), false);
	set_value(out, U_SX, j, Float8GetDatum(sx), false);
	set_value(out, U_SY, j, Float8GetDatum(sy), false);
	set_value(out, U_SXX, j, Float8GetDatum(sxx), false);
	set_value(out, U_SXY, j, Float8GetDatum(sxy), false);
	set_value(out, U_SYY, j, Float8GetDatum(syy), false);

	set_value(out, U_OFF, j, Int32GetDatum(out->nwindow), false);
	if (timed == 0)
		set_value(out, U_LEN, j, (Datum) 0, true);
	else
		set_value(out, U_LEN, j, Int32GetDatum(merge_window(i, runs, n, out)), false);
}

/* Element type of each UPDATE column, in U_* order. */
static const Oid column_types[U_COLUMNS] = {
	INT8OID, INT8OID, INT8OID, INT8OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	FLOAT8OID, FLOAT8OID, INT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
	INT4OID, INT4OID
};

static const Oid window_types[W_COLUMNS] = {FLOAT8OID, INT8OID, TIMESTAMPTZOID, BOOLOID};

/*
 * Whether connector_stats has the latest-success columns (0.2.0).  Asked on
 * every write, not once: ALTER EXTENSION syncopt UPDATE may add them while
 * this backend lives.
 */
static bool
stats_keep_latest_success(void)
{
	Oid			relid = get_relname_relid("connector_stats", get_namespace_oid("syncopt", false));

	return OidIsValid(relid) && get_attnum(relid, "latest_success_started_at") != InvalidAttrNumber;
}

/*
 * Whether connector_last_runs exists (0.2.0), asked on every write for the
 * reason above.
 */
static bool
keep_last_runs(void)
{
	return OidIsValid(get_relname_relid("connector_last_runs", get_namespace_oid("syncopt", false)));
}

/* Write every folded connector with one UPDATE. */
static void
write_stats(StatsColumns *out)
{
	Oid			types[U_COLUMNS + W_COLUMNS];
	Datum		values[U_COLUMNS + W_COLUMNS];
	int			rc;

	for (int c = 0; c < U_COLUMNS; c++)
	{
		types[c] = get_array_type(column_types[c]);
		values[c] = spi_array(out->value[c], out->null[c], out->n, column_types[c]);
	}
	for (int c = 0; c < W_COLUMNS; c++)
	{
		types[U_COLUMNS + c] = get_array_type(window_types[c]);
		values[U_COLUMNS + c] = spi_array(out->window[c], out->window_null[c], out->nwindow,
										  window_types[c]);
	}
	if (stats_keep_latest_success())
		rc = spi_run_kept(&update_stats_plan, update_stats_sql, U_COLUMNS + W_COLUMNS, types, values,
						  NULL, false);
	else
		rc = spi_run_kept(&update_stats_010_plan, update_stats_010_sql, U_COLUMNS + W_COLUMNS, types,
						  values, NULL, false);
	if (rc != SPI_OK_UPDATE || (int) SPI_processed != out->n)
		elog(ERROR, "syncopt: connector_stats update failed: %s", SPI_result_code_string(rc));
}

/* Room for nconnectors connectors and nwindow window entries. */
static void
alloc_columns(StatsColumns *out, int nconnectors, int nwindow)
{
	for (int c = 0; c < U_COLUMNS; c++)
	{
		out->value[c] = palloc(sizeof(Datum) * nconnectors);
		out->null[c] = palloc(sizeof(bool) * nconnectors);
	}
	for (int c = 0; c < W_COLUMNS; c++)
	{
		out->window[c] = palloc(sizeof(Datum) * Max(nwindow, 1));
		out->window_null[c] = palloc(sizeof(bool) * Max(nwindow, 1));
	}
	out->n = 0;
	out->nwindow = 0;
}

/* Order runs by connector, running last, then by finish and id. */
static int
absorb_run_cmp(const void *a, const void *b)
{
	const AbsorbRun *x = a;
	const AbsorbRun *y = b;

	if (x->connector_id != y->connector_id)
		return x->connector_id < y->connector_id ? -1 : 1;
	if (x->running != y->running)
		return x->running ? 1 : -1;
	if (x->finished_at != y->finished_at)
		return x->finished_at < y->finished_at ? -1 : 1;
	if (x->run_id != y->run_id)
		return x->run_id < y->run_id ? -1 : 1;
	return 0;
}

/*
 * Fold runs into connector_stats: lock the connectors' rows, fold each
 * connector's finished runs in finish order, write them with one UPDATE,
 * then keep the last runs of every connector named (one INSERT).
 */
void
absorb_fold(AbsorbRun *runs, int nruns, bool count_outcomes)
{
	int			nconnectors;
	Datum		ids;
	int			row = 0;
	StatsColumns out;

	if (nruns == 0)
		return;
	qsort(runs, nruns, sizeof(AbsorbRun), absorb_run_cmp);
	ids = connector_ids(runs, nruns, &nconnectors);
	lock_stats(ids, nconnectors);

	/*
	 * The locked rows and the runs are both in connector order; running runs
	 * sort last within a connector and are not folded.  Each connector keeps
	 * at most RECENT_KEEP window entries.
	 */
	alloc_columns(&out, nconnectors, nconnectors * RECENT_KEEP);
	for (int i = 0; i < nruns;)
	{
		int			end = i;
		int			done = i;

		while (end < nruns && runs[end].connector_id == runs[i].connector_id)
			end++;
		while (done < end && !runs[done].running)
			done++;
		if (done > i)
			fold_connector(row, &runs[i], done - i, count_outcomes, &out);
		row++;
		i = end;
	}
	if (out.n > 0)
		write_stats(&out);
	if (keep_last_runs())
		run_with_ids(&keep_last_runs_plan, keep_last_runs_sql, INT8ARRAYOID, ids, SPI_OK_INSERT);
}

/* syncopt.absorb_runs(run_ids bigint[], count_outcomes boolean) */
Datum
syncopt_absorb_runs(PG_FUNCTION_ARGS)
{
	bool		count_outcomes = PG_ARGISNULL(1) ? true : PG_GETARG_BOOL(1);
	ArrayType  *run_ids;
	AbsorbRun  *runs;
	int			nruns;

	if (PG_ARGISNULL(0))
		PG_RETURN_VOID();
	run_ids = PG_GETARG_ARRAYTYPE_P(0);
	if (ArrayGetNItems(ARR_NDIM(run_ids), ARR_DIMS(run_ids)) == 0)
		PG_RETURN_VOID();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	runs = read_runs(PointerGetDatum(run_ids), &nruns);
	absorb_fold(runs, nruns, count_outcomes);
	SPI_finish();
	PG_RETURN_VOID();
}

/* stats_backlog's array columns, in order, and their element types. */
enum
{
	B_RUN, B_CONNECTOR, B_STATUS, B_STARTED, B_FINISHED, B_ROWS, B_FULL, B_KNOWN, B_COLUMNS
};

static const Oid backlog_types[B_COLUMNS] = {
	INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID, BOOLOID, BOOLOID
};

/*
 * Leave finished runs in stats_backlog, as one row of parallel arrays, for
 * fold_stats_backlog(); the caller is connected to SPI.
 */
void
absorb_defer(AbsorbRun *runs, int nruns)
{
	Oid			types[B_COLUMNS];
	Datum		values[B_COLUMNS];
	Datum	   *col[B_COLUMNS];
	bool	   *null[B_COLUMNS];

	if (nruns == 0)
		return;
	for (int c = 0; c < B_COLUMNS; c++)
	{
		col[c] = palloc(sizeof(Datum) * nruns);
		null[c] = palloc0(sizeof(bool) * nruns);
	}
	for (int i = 0; i < nruns; i++)
	{
		AbsorbRun  *r = &runs[i];

		col[B_RUN][i] = Int64GetDatum(r->run_id);
		col[B_CONNECTOR][i] = Int64GetDatum(r->connector_id);
		col[B_STATUS][i] = CStringGetTextDatum(r->succeeded ? "succeeded"
											   : r->failed ? "failed" : "cancelled");
		col[B_STARTED][i] = TimestampTzGetDatum(r->started_at);
		col[B_FINISHED][i] = TimestampTzGetDatum(r->finished_at);
		col[B_ROWS][i] = Int64GetDatum(r->rows);
		null[B_ROWS][i] = !r->has_rows;
		col[B_FULL][i] = BoolGetDatum(r->full_sync);
		col[B_KNOWN][i] = BoolGetDatum(r->duration_known);
	}
	for (int c = 0; c < B_COLUMNS; c++)
	{
		types[c] = get_array_type(backlog_types[c]);
		values[c] = spi_array(col[c], null[c], nruns, backlog_types[c]);
	}
	if (spi_run_kept(&defer_plan, defer_sql, B_COLUMNS, types, values, NULL, false) != SPI_OK_INSERT)
		elog(ERROR, "syncopt: recording runs in stats_backlog failed");
}

/* Append the runs of backlog row i of the last result to runs[*n..]. */
static AbsorbRun *
backlog_runs(int i, AbsorbRun *runs, int *n, int *room)
{
	Datum	   *v[B_COLUMNS];
	bool	   *isnull[B_COLUMNS];
	int			count = 0;

	for (int c = 0; c < B_COLUMNS; c++)
	{
		int16		len;
		bool		byval;
		char		align;
		int			k;

		get_typlenbyvalalign(backlog_types[c], &len, &byval, &align);
		k = array_column(i, c + 1, backlog_types[c], len, byval, align, &v[c], &isnull[c]);
		if (c > 0 && k != count)
			elog(ERROR, "syncopt: a stats_backlog row has arrays of different lengths");
		count = k;
	}
	if (*n + count > *room)
	{
		*room = Max(*room * 2, *n + count);
		runs = repalloc(runs, sizeof(AbsorbRun) * *room);
	}
	for (int k = 0; k < count; k++)
	{
		AbsorbRun  *r = &runs[(*n)++];
		char	   *status = isnull[B_STATUS][k] ? NULL : TextDatumGetCString(v[B_STATUS][k]);

		r->run_id = DatumGetInt64(v[B_RUN][k]);
		r->connector_id = DatumGetInt64(v[B_CONNECTOR][k]);
		/* No status: no run, only its connector's last runs to keep. */
		r->running = status == NULL;
		r->succeeded = status != NULL && strcmp(status, "succeeded") == 0;
		r->failed = status != NULL && strcmp(status, "failed") == 0;
		r->started_at = DatumGetTimestampTz(v[B_STARTED][k]);
		r->finished_at = DatumGetTimestampTz(v[B_FINISHED][k]);
		r->has_rows = !isnull[B_ROWS][k];
		r->rows = r->has_rows ? DatumGetInt64(v[B_ROWS][k]) : 0;
		r->full_sync = DatumGetBool(v[B_FULL][k]);
		r->duration_known = DatumGetBool(v[B_KNOWN][k]);
	}
	return runs;
}

/*
 * Take one batch of rows off stats_backlog and fold their runs; returns
 * the rows taken, *folded the runs.  Each batch has its own SPI
 * connection, so its memory goes with it.
 */
static int
fold_backlog_batch(int64 *folded)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(BACKLOG_BATCH)};
	int			taken;
	int			room = 1024;
	int			nruns = 0;
	AbsorbRun  *runs;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	if (spi_run_kept(&take_backlog_plan, take_backlog_sql, 1, types, values, NULL, false)
		!= SPI_OK_DELETE_RETURNING)
		elog(ERROR, "syncopt: taking runs off stats_backlog failed");
	taken = (int) SPI_processed;
	runs = palloc(sizeof(AbsorbRun) * room);
	for (int i = 0; i < taken; i++)
		runs = backlog_runs(i, runs, &nruns, &room);
	/* Elements without a status are no runs: not counted. */
	for (int k = 0; k < nruns; k++)
		if (!runs[k].running)
			(*folded)++;
	absorb_fold(runs, nruns, true);
	SPI_finish();
	return taken;
}

/* syncopt.fold_stats_backlog() returns bigint */
Datum
syncopt_fold_stats_backlog(PG_FUNCTION_ARGS)
{
	int64		folded = 0;

	while (fold_backlog_batch(&folded) == BACKLOG_BATCH)
		CHECK_FOR_INTERRUPTS();
	PG_RETURN_INT64(folded);
}
