/*-------------------------------------------------------------------------
 *
 * spi_run.c
 *	  The one place syncopt's C code runs SQL.
 *
 * Every statement runs with search_path set to SPI_RUN_SEARCH_PATH at a
 * GUC nest level of its own, restored afterwards (and by the
 * (sub)transaction's abort on an error), whatever the caller's setting.
 * The workers connect as a role that may own much more than the role that
 * planted an object, and the C entry points run inside SECURITY DEFINER
 * functions or under a caller's search path: resolving a name through a
 * schema another role can create in would run that role's code with these
 * rights.  No other file calls SPI_execute* or SPI_prepare.
 *
 * Four forms share the pinning:
 *	- spi_run: one statement in the caller's SPI connection;
 *	- spi_run_each: one read-only query in the caller's SPI connection, its
 *	  rows handed to a reader through a cursor a batch at a time, for
 *	  results too large to hold whole (the fleet at 50,000 connectors);
 *	- spi_run_kept: a statement prepared once per backend and kept, for the
 *	  per-page ingestion paths where planning would cost more than running.
 *	  It runs a generic plan, planned once (plan_cache_mode pinned), and
 *	  that plan may be made while the tables are small; a sequential scan
 *	  or hash join chosen then would read whole tables once they are large,
 *	  so kept statements also run with enable_seqscan, enable_hashjoin and
 *	  enable_mergejoin off;
 *	- spi_step: one statement in a transaction (worker) or subtransaction
 *	  (SQL caller) of its own, an error rolled back and handed to the caller
 *	  so that one bad row never stops a worker's loop; spi_worker_step and
 *	  spi_worker_int8 are its forms for the workers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "spi_run.h"

static const char *const probe_only_settings[] = {"enable_seqscan", "enable_hashjoin", "enable_mergejoin"};

/*
 * Pin the search path (and, for kept statements, the planner to index
 * probes, planned once: generic plans) at a new GUC nest level; returns the
 * level for AtEOXact_GUC.  Without the generic plan the plan cache makes a
 * custom plan for at least the first five calls of each backend, and a
 * custom plan of "run_id = ANY ($1)" estimates every element of the array
 * on every partition of sync_run: absorb_runs() of 34,000 runs spent 1.9 s
 * planning (2 ms generic) and 0.6 s running on 45 days of weeks (issue 34).
 */
static int
pin_settings(bool probe_only)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", SPI_RUN_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (probe_only)
		for (int i = 0; i < lengthof(probe_only_settings); i++)
			(void) set_config_option(probe_only_settings[i], "off", PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	if (probe_only)
		(void) set_config_option("plan_cache_mode", "force_generic_plan", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Fail on an SPI result code that says the statement was not run. */
static int
checked(int rc, const char *sql)
{
	if (rc < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("syncopt: could not run a statement: %s", SPI_result_code_string(rc)),
				 errdetail("The statement was: %s", sql)));
	return rc;
}

/*
 * Run one statement in the caller's SPI connection with the search path
 * pinned; returns SPI_execute_with_args' result code.
 */
int
spi_run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		bool read_only)
{
	int			nestlevel = pin_settings(false);
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, 0);

	AtEOXact_GUC(true, nestlevel);
	return checked(rc, sql);
}

/* Rows spi_run_each fetches at a time. */
#define EACH_FETCH_ROWS	1000

/*
 * Run one read-only query in the caller's SPI connection with the search
 * path pinned, and hand its rows to reader through a cursor,
 * EACH_FETCH_ROWS at a time: only one batch of the result is ever held in
 * memory, where spi_run holds all of it.  The reader sees each row in the memory context
 * that was current at the call (it must copy what it keeps); each batch is
 * freed after it.  Returns the number of rows.
 */
uint64
spi_run_each(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
			 SpiRowReader reader, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	int			nestlevel = pin_settings(false);
	Portal		portal;
	uint64		total = 0;

	/*
	 * These reads cost much because they return many rows, not because of
	 * expressions worth compiling: at 50,000 connectors JIT spent 0.17 s
	 * compiling the fleet's connector read (EXPLAIN ANALYZE).
	 */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	portal = SPI_cursor_open_with_args(NULL, sql, nargs, types, values, nulls, true, 0);
	for (;;)
	{
		SPITupleTable *rows;
		uint64		n;

		SPI_cursor_fetch(portal, true, EACH_FETCH_ROWS);
		rows = SPI_tuptable;
		n = SPI_processed;
		if (n == 0)
			break;
		MemoryContextSwitchTo(caller);
		for (uint64 i = 0; i < n; i++)
			reader(rows->vals[i], rows->tupdesc, arg);
		SPI_freetuptable(rows);
		total += n;
	}
	SPI_cursor_close(portal);
	AtEOXact_GUC(true, nestlevel);
	MemoryContextSwitchTo(caller);
	return total;
}

/*
 * Run the kept statement *plan (prepared from sql on first use, in the
 * caller's SPI connection) with the search path pinned and the planner held
 * to index probes; returns SPI_execute_plan's result code.
 */
int
spi_run_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls, bool read_only)
{
	int			nestlevel = pin_settings(true);
	int			rc;

	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("syncopt: could not prepare a statement: %s",
							SPI_result_code_string(SPI_result)),
					 errdetail("The statement was: %s", sql)));
		*plan = p;
	}
	rc = SPI_execute_plan(*plan, values, nulls, read_only, 0);
	AtEOXact_GUC(true, nestlevel);
	return checked(rc, sql);
}

/*
 * Run one statement as a step: in a transaction of its own, or with
 * SPI_STEP_SUBTRANSACTION in a subtransaction of the caller's.  The reader,
 * if any, sees the result while it is still there, in the caller's memory
 * context (it must copy what it keeps).  With error NULL an error
 * propagates; otherwise the step is rolled back, the error copied to the
 * caller's context and returned in *error, and false returned, except a
 * cancel or shutdown, which always propagates.
 */
bool
spi_step(int flags, const char *sql, int nargs, Oid *types, Datum *values,
		 const char *nulls, SpiResultReader reader, void *arg, ErrorData **error)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		own = (flags & SPI_STEP_SUBTRANSACTION) == 0;
	volatile bool ok = true;

	if (own)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, sql);
	}
	else
		BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("syncopt: could not connect to SPI")));
		(void) spi_run(sql, nargs, types, values, nulls, false);
		if (reader != NULL)
		{
			MemoryContext spi = MemoryContextSwitchTo(caller);

			reader(arg);
			MemoryContextSwitchTo(spi);
		}
		SPI_finish();
		if (own)
		{
			PopActiveSnapshot();
			CommitTransactionCommand();
		}
		else
			ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		if (error == NULL)
			PG_RE_THROW();
		MemoryContextSwitchTo(caller);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
			PG_RE_THROW();
		if (flags & SPI_STEP_LOG_ERROR)
			EmitErrorReport();
		FlushErrorState();
		if (own)
			AbortCurrentTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		*error = edata;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
	if (own)
		pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* What spi_worker_step's result reader hands each row to. */
typedef struct RowReading
{
	SpiRowReader reader;
	void	   *arg;
}			RowReading;

/* Result reader of spi_worker_step: every row to the row reader. */
static void
read_rows(void *arg)
{
	RowReading *rows = arg;

	for (uint64 i = 0; i < SPI_processed; i++)
		rows->reader(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, rows->arg);
}

/*
 * A worker's step: one statement in a transaction of its own; the reader,
 * if any, sees each row.  An error is logged and rolled back and false
 * returned, so one bad row never stops a worker's loop; a cancel or
 * shutdown propagates.
 */
bool
spi_worker_step(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
				SpiRowReader reader, void *arg)
{
	RowReading	rows = {reader, arg};
	ErrorData  *error;

	return spi_step(SPI_STEP_LOG_ERROR, sql, nargs, types, values, nulls,
					reader ? read_rows : NULL, &rows, &error);
}

/* What spi_worker_int8's reader found. */
typedef struct Int8Reading
{
	int64		value;
	const char *sql;
}			Int8Reading;

/* Result reader of spi_worker_int8: the single bigint, NULL kept as is. */
static void
read_int8(void *arg)
{
	Int8Reading *reading = arg;
	bool		isnull;
	Datum		value;

	if (SPI_processed != 1 || SPI_tuptable->tupdesc->natts != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("syncopt: a query did not return one value"),
				 errdetail("The statement was: %s", reading->sql)));
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		reading->value = DatumGetInt64(value);
}

/*
 * A worker's query of one bigint, in a transaction of its own; NULL reads
 * as if_null.  An error propagates to the worker's loop.
 */
int64
spi_worker_int8(const char *sql, int64 if_null)
{
	Int8Reading reading = {if_null, sql};

	(void) spi_step(0, sql, 0, NULL, NULL, NULL, read_int8, &reading, NULL);
	return reading.value;
}

/* A one-dimensional array of n elements of elemtype; nulls may be NULL. */
Datum
spi_array(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		len;
	bool		byval;
	char		align;

	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elemtype, len, byval, align));
}
