/*-------------------------------------------------------------------------
 *
 * collect.c
 *	  One poll of a Fivetran or Airbyte account: the poll's steps, requests
 *	  and recorded outcome; the vendor crawls are in collect_fivetran.c and
 *	  collect_airbyte.c.
 *
 * This file knows the crawl: which endpoints to request, in which order,
 * and how paging continues (Fivetran cursors, Airbyte offsets until an
 * empty page).  What a response means is the SQL functions' business
 * (syncopt.collect_* and syncopt.ingest_*, src/sql/66-70); each response is
 * handed to them in its own step, so a bad page is rolled back alone and
 * stops only its own crawl, never commits half, and never holds a
 * transaction open across HTTP when the worker runs the poll.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "collect_poll.h"
#include "spi_run.h"
#include "syncopt.h"

/* Wait after the rate-limit budget ran low (the vendor's window is an hour). */
#define BUDGET_WAIT_MS (15 * 60 * 1000L)

/*
 * First key (of the two-int4 advisory lock form) of the lock held while a
 * poll of an account runs, the account id being the second: "sync".
 */
#define POLL_LOCK_KEY 0x73796e63

/* Add an endpoint's counters to the poll's report. */
CollectEndpoint *
poll_endpoint(Poll *poll, const char *name)
{
	CollectEndpoint *ep = MemoryContextAllocZero(poll->mcxt, sizeof(CollectEndpoint));

	ep->name = name;
	poll->endpoints = lappend(poll->endpoints, ep);
	return ep;
}

/* Keep the first error of an endpoint. */
void
endpoint_error(Poll *poll, CollectEndpoint *ep, const char *fmt,...)
{
	va_list		args;
	char		message[512];

	va_start(args, fmt);
	vsnprintf(message, sizeof(message), fmt, args);
	va_end(args);
	/* A long message is cut: never inside a character, or it is not text. */
	message[pg_mbcliplen(message, strlen(message), sizeof(message) - 1)] = '\0';
	poll->any_error = true;
	if (ep->error == NULL)
		ep->error = MemoryContextStrdup(poll->mcxt, message);
}

/* What poll_step hands the step's result to. */
typedef struct PollReading
{
	Poll	   *poll;
	StepReader	reader;
	void	   *arg;
}			PollReading;

/* Result reader of poll_step: the step reader with its poll. */
static void
read_poll_step(void *arg)
{
	PollReading *reading = arg;

	reading->reader(reading->poll, reading->arg);
}

/* The spi_step flags of a poll's steps: a transaction (worker) or a subtransaction (SQL caller). */
static int
step_flags(Poll *poll)
{
	return poll->own_transactions ? 0 : SPI_STEP_SUBTRANSACTION;
}

/*
 * Run one SQL statement as a step; the reader copies what it needs into the
 * poll's context.  An error rolls the step back and is kept on the
 * endpoint (false returned), except a cancel or shutdown, which propagates.
 */
bool
poll_step(Poll *poll, CollectEndpoint *ep, const char *what, const char *sql,
		  int nargs, Oid *types, Datum *values, const char *nulls,
		  StepReader reader, void *arg)
{
	PollReading reading = {poll, reader, arg};
	ErrorData  *error;

	if (spi_step(step_flags(poll), sql, nargs, types, values, nulls,
				 reader ? read_poll_step : NULL, &reading, &error))
		return true;
	endpoint_error(poll, ep, "%s: %s", what, error->message);
	return false;
}

/* Column `col` (1-based) of the step's first row as a string in the poll's context. */
char *
step_text(Poll *poll, int col)
{
	char	   *value;

	if (SPI_processed < 1)
		return NULL;
	value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
	return value ? MemoryContextStrdup(poll->mcxt, value) : NULL;
}

/* Column `col` of the step's first row as an integer (0 when NULL). */
int64
step_int(int col)
{
	bool		isnull;
	Datum		value;

	if (SPI_processed < 1)
		return 0;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	if (isnull)
		return 0;
	switch (SPI_gettypeid(SPI_tuptable->tupdesc, col))
	{
		case INT4OID:
			return DatumGetInt32(value);
		case INT8OID:
			return DatumGetInt64(value);
		default:
			elog(ERROR, "syncopt: unexpected column type");
	}
	return 0;
}

/* Append the elements of a text[] column of the first row to *list. */
void
step_text_array(Poll *poll, int col, List **list)
{
	bool		isnull;
	Datum		value;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	MemoryContext oldcxt;

	if (SPI_processed < 1)
		return;
	value = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, &isnull);
	if (isnull)
		return;
	deconstruct_array(DatumGetArrayTypeP(value), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	oldcxt = MemoryContextSwitchTo(poll->mcxt);
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			*list = lappend(*list, TextDatumGetCString(elems[i]));
	MemoryContextSwitchTo(oldcxt);
}

/* Reader: every row's first column, as strings, appended to a List. */
void
read_string_rows(Poll *poll, void *arg)
{
	List	  **list = (List **) arg;
	MemoryContext oldcxt = MemoryContextSwitchTo(poll->mcxt);

	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			*list = lappend(*list, pstrdup(value));
	}
	MemoryContextSwitchTo(oldcxt);
}

/* Reader of collect_account_info(). */
static void
read_account(Poll *poll, void *arg)
{
	bool		isnull;
	Datum		cursor;

	/* A function with OUT parameters answers a row of NULLs for no account. */
	isnull = true;
	if (SPI_processed == 1)
		(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("account %lld does not exist", (long long) poll->account_id)));
	poll->acct.vendor = step_text(poll, 1);
	poll->acct.base_url = step_text(poll, 2);
	poll->acct.api_key = step_text(poll, 3);
	poll->acct.api_secret = step_text(poll, 4);
	cursor = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull);
	poll->has_jobs_cursor = !isnull;
	if (!isnull)
		poll->jobs_cursor = DatumGetTimestampTz(cursor);
}

/* A request to the account's API, authenticated as its vendor wants. */
void
poll_request(Poll *poll, HttpRequest *req, const char *method, char *url)
{
	vendor_request_init(&poll->acct, req, method, url);
}

/* The path of a URL under the account's base, for error messages. */
static const char *
url_path(Poll *poll, const char *url)
{
	size_t		base = strlen(poll->acct.base_url);

	return strncmp(url, poll->acct.base_url, base) == 0 ? url + base : url;
}

/*
 * Account for a finished request: its answer scrubbed of the account's
 * credentials, rate-limit budget, and whether it gave a usable 2xx body.
 * Failures are kept on the endpoint.
 */
bool
response_usable(Poll *poll, CollectEndpoint *ep, HttpRequest *req)
{
	vendor_scrub_response(&poll->acct, req);
	ep->requests += req->attempts;
	if (req->rate_limit_remaining >= 0)
	{
		/* Answers to concurrent requests come in any order: keep the lowest. */
		if (poll->rate_limit_remaining < 0 || req->rate_limit_remaining < poll->rate_limit_remaining)
			poll->rate_limit_remaining = req->rate_limit_remaining;
		if (req->rate_limit_remaining <= syncopt_rate_limit_reserve && poll->stopped == NULL)
		{
			poll->stopped = "budget_wait";
			poll->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), BUDGET_WAIT_MS);
		}
	}
	if (req->failure == HTTP_FAIL_RATE_LIMITED)
	{
		/* The transport already cut it to HTTP_RETRY_AFTER_MAX_S (an hour). */
		int			wait_s = Max(req->retry_after_s, 0);

		poll->stopped = "rate_limited";
		poll->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_s * 1000L);
		endpoint_error(poll, ep, "%s %s: rate limited for %d s (Retry-After%s)",
					   req->method, url_path(poll, req->url), wait_s,
					   wait_s == HTTP_RETRY_AFTER_MAX_S ? ", capped at the maximum" : "");
		return false;
	}
	if (req->failure != HTTP_OK)
	{
		endpoint_error(poll, ep, "%s %s: %s (after %d attempts)", req->method,
					   url_path(poll, req->url), req->error, req->attempts);
		return false;
	}
	if (req->status < 200 || req->status > 299)
	{
		endpoint_error(poll, ep, "%s %s: HTTP %ld%s%s", req->method, url_path(poll, req->url),
					   req->status,
					   req->attempts > 1 ? " after retries" : "",
					   req->status == 401 || req->status == 403 ?
					   " (credentials rejected; set them again with syncopt.set_credentials())" : "");
		return false;
	}
	poll->any_success = true;
	return true;
}

/* Text datum of a string, for step arguments. */
Datum
text_arg(const char *value)
{
	return CStringGetTextDatum(value);
}

/* Fill a StringInfo with a formatted URL under the account's base. */
char *
poll_url(Poll *poll, const char *fmt,...)
{
	StringInfoData buf;
	MemoryContext oldcxt = MemoryContextSwitchTo(poll->mcxt);

	initStringInfo(&buf);
	appendStringInfoString(&buf, poll->acct.base_url);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	MemoryContextSwitchTo(oldcxt);
	return buf.data;
}

/* A text[] datum of the strings in the list. */
static Datum
text_array_arg(List *strings)
{
	int			n = list_length(strings);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	int			i = 0;
	ListCell   *lc;

	foreach(lc, strings)
		elems[i++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* After a complete listing, mark connectors the vendor no longer lists. */
bool
mark_missing(Poll *poll, CollectEndpoint *ep, List *seen)
{
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum		args[2];

	args[0] = Int64GetDatum(poll->account_id);
	args[1] = text_array_arg(seen);
	return poll_step(poll, ep, "marking connectors no longer listed",
					 "SELECT syncopt.collect_mark_missing($1, $2)", 2, types, args, NULL, NULL, NULL);
}

/* The outcome word recorded for the poll. */
static const char *
poll_outcome(Poll *poll)
{
	if (poll->stopped != NULL)
		return poll->stopped;
	if (!poll->any_error)
		return "ok";
	return poll->any_success ? "partial" : "error";
}

/* The first error of any endpoint, or NULL. */
static char *
poll_first_error(Poll *poll)
{
	ListCell   *lc;

	foreach(lc, poll->endpoints)
	{
		CollectEndpoint *ep = lfirst(lc);

		if (ep->error != NULL)
			return psprintf("%s: %s", ep->name, ep->error);
	}
	return NULL;
}

/* Record the poll's outcome and when the next one is due. */
static void
record_outcome(Poll *poll)
{
	Oid			types[9] = {INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID, INT4OID,
	TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[9];
	char		nulls[9] = "         ";
	int			requests = 0,
				pages = 0,
				rows = 0;
	char	   *error = poll_first_error(poll);
	ListCell   *lc;

	foreach(lc, poll->endpoints)
	{
		CollectEndpoint *e = lfirst(lc);

		requests += e->requests;
		pages += e->pages;
		rows += e->rows;
	}
	args[0] = Int64GetDatum(poll->account_id);
	args[1] = text_arg(poll_outcome(poll));
	args[2] = error ? text_arg(error) : (Datum) 0;
	nulls[2] = error ? ' ' : 'n';
	args[3] = Int32GetDatum(requests);
	args[4] = Int32GetDatum(pages);
	args[5] = Int32GetDatum(rows);
	args[6] = Int32GetDatum(poll->rate_limit_remaining);
	nulls[6] = poll->rate_limit_remaining >= 0 ? ' ' : 'n';
	args[7] = TimestampTzGetDatum(poll->new_jobs_cursor);
	nulls[7] = poll->new_jobs_cursor != 0 ? ' ' : 'n';
	args[8] = TimestampTzGetDatum(poll->retry_at);
	nulls[8] = poll->retry_at != 0 ? ' ' : 'n';

	/* Not through poll_step: an error here is the poll's own, not an endpoint's. */
	(void) spi_step(step_flags(poll),
					"SELECT syncopt.collector_record_outcome($1, $2, $3, $4, $5, $6, $7, $8, $9)",
					9, types, args, nulls, NULL, NULL, NULL);
}

/*
 * The lock tag that makes polls of one account exclusive.  A user lock, not
 * an advisory one: any role that connects may take any advisory lock
 * (pg_advisory_lock) and, holding this one, would stall the account's
 * polls; no SQL function takes a user lock.  pg_locks shows it as
 * "userlock" (database, key, account id, 2).
 */
static void
poll_lock_tag(LOCKTAG *tag, int64 account_id)
{
	tag->locktag_field1 = MyDatabaseId;
	tag->locktag_field2 = POLL_LOCK_KEY;
	tag->locktag_field3 = (uint32) account_id;
	tag->locktag_field4 = 2;
	tag->locktag_type = LOCKTAG_USERLOCK;
	tag->locktag_lockmethodid = USER_LOCKMETHOD;
}

/*
 * Take the session lock of the account's poll, so that no two polls of one
 * account run at once.  A poller (own_transactions) waits for it; collect()
 * from SQL refuses while another poll runs.
 */
static void
poll_lock(int64 account_id, bool own_transactions)
{
	LOCKTAG		tag;
	LockAcquireResult got;

	poll_lock_tag(&tag, account_id);
	if (own_transactions)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		got = LockAcquire(&tag, ExclusiveLock, true, false);
		CommitTransactionCommand();
	}
	else
		got = LockAcquire(&tag, ExclusiveLock, true, true);
	if (got == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("account %lld is being polled now", (long long) account_id),
				 errdetail("The collector or another session is polling this account."),
				 errhint("Wait until that poll ends (syncopt.collector_status shows it), then call syncopt.collect() again.")));
}

/* Release the lock poll_lock() took. */
static void
poll_unlock(int64 account_id)
{
	LOCKTAG		tag;

	poll_lock_tag(&tag, account_id);
	LockRelease(&tag, ExclusiveLock, true);
}

/* Poll the account; see collect.h. */
List *
collect_account(int64 account_id, bool own_transactions)
{
	Poll	   *poll;
	MemoryContext mcxt;
	Oid			types[1] = {INT8OID};
	Datum		args[1];
	CollectEndpoint *setup;
	MemoryContext oldcxt = CurrentMemoryContext;

	mcxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt poll", ALLOCSET_DEFAULT_SIZES);
	poll = MemoryContextAllocZero(mcxt, sizeof(Poll));
	poll->account_id = account_id;
	poll->acct.account_id = account_id;
	poll->own_transactions = own_transactions;
	poll->mcxt = mcxt;
	poll->rate_limit_remaining = -1;
	poll->started_at = GetCurrentTimestamp();
	poll_lock(account_id, own_transactions);
	MemoryContextSwitchTo(mcxt);

	PG_TRY();
	{
		setup = poll_endpoint(poll, "account");
		args[0] = Int64GetDatum(account_id);
		if (poll_step(poll, setup, "reading the account",
					  "SELECT * FROM syncopt.collect_account_info($1)", 1, types, args, NULL,
					  read_account, NULL) &&
			poll_step(poll, setup, "noting the start",
					  "SELECT syncopt.collector_record_start($1)", 1, types, args, NULL, NULL, NULL))
		{
			if (poll->acct.api_key == NULL || poll->acct.api_secret == NULL)
			{
				endpoint_error(poll, setup, "the account has no credentials; call syncopt.set_credentials()");
				if (!own_transactions)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot poll account %lld: it has no credentials", (long long) account_id),
							 errhint("Call syncopt.set_credentials() first.")));
			}
			else if (strcmp(poll->acct.vendor, "fivetran") == 0)
				poll_fivetran(poll);
			else
				poll_airbyte(poll);
			record_outcome(poll);
		}
		else if (!own_transactions)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("cannot poll account %lld: %s", (long long) account_id, setup->error)));
		if (setup->error == NULL)
			poll->endpoints = list_delete_first(poll->endpoints);
	}
	PG_FINALLY();
	{
		vendor_forget_secrets(&poll->acct);
		poll_unlock(account_id);
	}
	PG_END_TRY();

	MemoryContextSwitchTo(oldcxt);
	return poll->endpoints;
}

PG_FUNCTION_INFO_V1(syncopt_collect);

/* syncopt.collect(account_id): one poll now, one row per endpoint. */
Datum
syncopt_collect(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int64		account_id = PG_GETARG_INT64(0);
	List	   *endpoints;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	endpoints = collect_account(account_id, false);
	foreach(lc, endpoints)
	{
		CollectEndpoint *ep = lfirst(lc);
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, ep->error == NULL};

		values[0] = CStringGetTextDatum(ep->name);
		values[1] = Int32GetDatum(ep->pages);
		values[2] = Int32GetDatum(ep->rows);
		values[3] = Int32GetDatum(ep->requests);
		values[4] = ep->error ? CStringGetTextDatum(ep->error) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
