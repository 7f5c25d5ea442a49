/*-------------------------------------------------------------------------
 *
 * ingest_airbyte_jobs.c
 *	  syncopt.ingest_airbyte_jobs(account_id, page): one Airbyte GET /jobs
 *	  page to sync_run rows, connector_stats folded in.
 *
 * GET /jobs is the bulk of a fleet's history, so this path is in C with
 * statements kept across calls: the page is checked and mapped in memory
 * (airbyte_jobs_parse.c), then written with a handful of set-based
 * statements whatever its length:
 *	- connectors are looked up by connectionId; a job of a connection not
 *	  seen yet creates a bare connector row, so no run is lost;
 *	- runs are inserted with ON CONFLICT DO NOTHING; only when some already
 *	  existed (a re-polled page, a running job that ended) does an UPDATE
 *	  run, which never takes a finished run back to running and skips rows
 *	  that would not change;
 *	- the runs that finished with this page (inserted finished, or running
 *	  before) are folded into connector_stats (absorb.c) from memory, or,
 *	  with fold_stats false, left in stats_backlog: a collector poll folds
 *	  them once at its end, one stats row rewrite per connector instead of
 *	  one per connector and page.
 * Re-ingesting a page changes nothing; everything is one transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "absorb.h"
#include "airbyte_jobs.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_ingest_airbyte_jobs);

static const char *const account_sql = "SELECT syncopt.ingest_account($1, 'airbyte')";

static const char *const find_connectors_sql =
"SELECT c.external_id, c.connector_id FROM syncopt.connector c"
" WHERE c.account_id = $1 AND c.external_id = ANY ($2)";

static const char *const create_connectors_sql =
"INSERT INTO syncopt.connector (account_id, external_id) SELECT $1, unnest($2)"
" ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING";

#define PAGE_COLUMNS \
"unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::text[], $6::bigint[]," \
" $7::bigint[], $8::boolean[], $9::boolean[])" \
" AS p(connector_id, external_run_id, started_at, finished_at, status, rows, bytes, full_sync," \
"      duration_known)"

/* A written run as absorb_run_from_row reads it, then (update only) its old status. */
#define WRITTEN_RUN \
"r.connector_id, r.status, r.started_at, r.finished_at, r.rows, r.full_sync, r.duration_known, r.run_id"

/* A job already stored is skipped by sync_run's key trigger (40_history.sql). */
static const char *const insert_runs_sql =
"INSERT INTO syncopt.sync_run AS r (connector_id, external_run_id, started_at, finished_at, status,"
"                                   rows, bytes, full_sync, duration_known, source)"
" SELECT p.*, 'api' FROM " PAGE_COLUMNS
" RETURNING " WRITTEN_RUN;

static const char *const update_runs_sql =
"WITH p AS (SELECT * FROM " PAGE_COLUMNS "),"
"     old AS (SELECT o.run_id, o.status FROM syncopt.sync_run o"
"               JOIN p ON o.connector_id = p.connector_id AND o.external_run_id = p.external_run_id"
"                FOR UPDATE OF o)"
" UPDATE syncopt.sync_run r SET started_at = p.started_at, finished_at = p.finished_at,"
"        status = p.status, rows = p.rows, bytes = p.bytes, full_sync = p.full_sync,"
"        duration_known = p.duration_known, ingested_at = now()"
"   FROM p, old"
"  WHERE r.connector_id = p.connector_id AND r.external_run_id = p.external_run_id"
"    AND old.run_id = r.run_id"
"    AND (old.status = 'running' OR p.status <> 'running')"
"    AND (r.started_at, r.finished_at, r.status, r.rows, r.bytes, r.full_sync, r.duration_known)"
"        IS DISTINCT FROM (p.started_at, p.finished_at, p.status, p.rows, p.bytes, p.full_sync,"
"                          p.duration_known)"
" RETURNING " WRITTEN_RUN ", old.status";

static SPIPlanPtr account_plan;
static SPIPlanPtr find_connectors_plan;
static SPIPlanPtr create_connectors_plan;
static SPIPlanPtr insert_runs_plan;
static SPIPlanPtr update_runs_plan;

enum
{
	P_CONNECTOR, P_JOB, P_STARTED, P_FINISHED, P_STATUS, P_ROWS, P_BYTES, P_FULL, P_KNOWN,
	P_COLUMNS
};

static const Oid page_types[P_COLUMNS] = {
	INT8ARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
	INT8ARRAYOID, INT8ARRAYOID, BOOLARRAYOID, BOOLARRAYOID
};

/* Check the account exists and is an Airbyte one (errors name it). */
static void
check_account(Datum account_id, bool isnull)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {account_id};
	char		nulls[1] = {isnull ? 'n' : ' '};

	if (spi_run_kept(&account_plan, account_sql, 1, types, values, nulls, true) != SPI_OK_SELECT)
		elog(ERROR, "syncopt: account check failed");
}

/* A text[] of the strings. */
static Datum
text_array(char **strings, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(strings[i]);
	return spi_array(elems, NULL, n, TEXTOID);
}

/* Order C strings by their bytes. */
static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * Look up the connector of each of the n distinct, sorted connection ids
 * into ids[]; returns how many were found.
 */
static int
find_connectors(Datum account_id, char **connections, int n, int64 *ids)
{
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		values[2] = {account_id, text_array(connections, n)};
	int			found = 0;

	if (spi_run_kept(&find_connectors_plan, find_connectors_sql, 2, types, values, NULL, false)
		!= SPI_OK_SELECT)
		elog(ERROR, "syncopt: connector lookup failed");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		char	   *external_id = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i],
																	SPI_tuptable->tupdesc, 1, &isnull));
		char	  **hit = bsearch(&external_id, connections, n, sizeof(char *), cstring_cmp);

		if (hit)
		{
			ids[hit - connections] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 2, &isnull));
			found++;
		}
	}
	return found;
}

/* Set each run's connector id, creating the connectors not seen yet. */
static int64 *
resolve_connectors(Datum account_id, AirbyteRun *runs, int nruns)
{
	char	  **connections = palloc(sizeof(char *) * nruns);
	int64	   *ids;
	int64	   *run_connector = palloc(sizeof(int64) * nruns);
	int			n = 0;

	/* the runs are sorted by connection id */
	for (int i = 0; i < nruns; i++)
		if (n == 0 || strcmp(connections[n - 1], runs[i].connection_id) != 0)
			connections[n++] = runs[i].connection_id;
	ids = palloc0(sizeof(int64) * n);
	if (find_connectors(account_id, connections, n, ids) < n)
	{
		Oid			types[2] = {INT8OID, TEXTARRAYOID};
		Datum		values[2] = {account_id, text_array(connections, n)};

		if (spi_run_kept(&create_connectors_plan, create_connectors_sql, 2, types, values, NULL, false)
			!= SPI_OK_INSERT)
			elog(ERROR, "syncopt: connector creation failed");
		if (find_connectors(account_id, connections, n, ids) < n)
			elog(ERROR, "syncopt: connectors of an Airbyte jobs page vanished while it was ingested");
	}
	for (int i = 0, c = 0; i < nruns; i++)
	{
		while (strcmp(connections[c], runs[i].connection_id) != 0)
			c++;
		run_connector[i] = ids[c];
	}
	return run_connector;
}

/* The page's runs as the nine arrays the write statements unnest. */
static void
page_arrays(AirbyteRun *runs, int nruns, int64 *connector, Datum *values)
{
	Datum	   *col[P_COLUMNS];
	bool	   *null[P_COLUMNS];

	for (int c = 0; c < P_COLUMNS; c++)
	{
		col[c] = palloc(sizeof(Datum) * nruns);
		null[c] = palloc0(sizeof(bool) * nruns);
	}
	for (int i = 0; i < nruns; i++)
	{
		AirbyteRun *run = &runs[i];
		bool		running = strcmp(run->status, "running") == 0;

		col[P_CONNECTOR][i] = Int64GetDatum(connector[i]);
		col[P_JOB][i] = CStringGetTextDatum(run->job_id);
		col[P_STARTED][i] = TimestampTzGetDatum(run->started_at);
		col[P_FINISHED][i] = TimestampTzGetDatum(run->finished_at);
		null[P_FINISHED][i] = running;
		col[P_STATUS][i] = CStringGetTextDatum(run->status);
		col[P_ROWS][i] = Int64GetDatum(run->rows);
		null[P_ROWS][i] = !run->has_rows;
		col[P_BYTES][i] = Int64GetDatum(run->bytes);
		null[P_BYTES][i] = !run->has_bytes;
		col[P_FULL][i] = BoolGetDatum(run->full_sync);
		col[P_KNOWN][i] = BoolGetDatum(run->duration_known);
	}
	for (int c = 0; c < P_COLUMNS; c++)
		values[c] = spi_array(col[c], null[c], nruns, get_element_type(page_types[c]));
}

/*
 * Append the finished runs of the last result (WRITTEN_RUN columns) to
 * out; with old_status_column, only those that were running before.
 */
static int
collect_finished(AbsorbRun *out, int n, int old_status_column)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		absorb_run_from_row(tuple, desc, &out[n]);
		if (out[n].running)
			continue;
		if (old_status_column && strcmp(SPI_getvalue(tuple, desc, old_status_column), "running") != 0)
			continue;
		n++;
	}
	return n;
}

/*
 * syncopt.ingest_airbyte_jobs(account_id bigint, page jsonb,
 *							   fold_stats boolean) returns integer
 */
Datum
syncopt_ingest_airbyte_jobs(PG_FUNCTION_ARGS)
{
	Datum		account_id = PG_GETARG_DATUM(0);
	AirbyteRun *runs;
	int			nruns;
	int64	   *connector;
	Datum		values[P_COLUMNS];
	AbsorbRun  *finished;
	int			nfinished;
	int			touched;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	check_account(account_id, PG_ARGISNULL(0));
	runs = airbyte_jobs_parse(PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1), &nruns);
	if (nruns == 0)
	{
		SPI_finish();
		PG_RETURN_INT32(0);
	}

	connector = resolve_connectors(account_id, runs, nruns);
	page_arrays(runs, nruns, connector, values);
	finished = palloc(sizeof(AbsorbRun) * nruns);

	if (spi_run_kept(&insert_runs_plan, insert_runs_sql, P_COLUMNS, (Oid *) page_types, values, NULL,
					 false) != SPI_OK_INSERT_RETURNING)
		elog(ERROR, "syncopt: inserting runs failed");
	touched = (int) SPI_processed;
	nfinished = collect_finished(finished, 0, 0);

	/* Some jobs were known: update those that changed. */
	if (touched < nruns)
	{
		if (spi_run_kept(&update_runs_plan, update_runs_sql, P_COLUMNS, (Oid *) page_types, values, NULL,
						 false) != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "syncopt: updating runs failed");
		touched += (int) SPI_processed;
		nfinished = collect_finished(finished, nfinished, 9);
	}

	if (PG_ARGISNULL(2) || PG_GETARG_BOOL(2))
		absorb_fold(finished, nfinished, true);
	else
		absorb_defer(finished, nfinished);
	SPI_finish();
	PG_RETURN_INT32(touched);
}
