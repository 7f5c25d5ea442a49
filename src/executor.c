/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  The executor worker's pass: approved decisions become vendor calls.
 *
 * The executor wakes when an approval commits (see wake.c) and otherwise on
 * a safety poll of syncopt.executor_poll_interval.  Each pass
 *
 *	1. marks proposals whose approval window closed as expired;
 *	2. once per worker start, settles the rows a previous run left
 *	   executing (syncopt.executor_recover(): repeat what is safe, check the
 *	   vendor before re-triggering a sync, else unknown);
 *	3. keeps up to syncopt.http_max_concurrency calls in flight: it claims
 *	   due approved rows (FOR UPDATE SKIP LOCKED, status executing committed
 *	   before any call) whenever a slot is free, sends them with no
 *	   transaction open, and records each call in a transaction of its own
 *	   the moment it finishes.  An approval that commits while calls are in
 *	   flight sets the latch and is claimed at once; no account holds more
 *	   than three quarters of the slots, so a hung or throttling vendor
 *	   delays only its own calls.  Only one answer at a time is held after it arrived,
 *	   so memory stays near http_max_response_size x concurrency;
 *	4. delivers queued notifications (notify.c).
 *
 * A cancel or shutdown during the calls records every claimed row before
 * the error goes on (syncopt.executor_abandon()): nothing is left
 * executing by a live worker.  What a request looks like and what a
 * response means is decided in SQL (src/sql/74_execute.sql); this file
 * moves the bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "http.h"
#include "spi_run.h"
#include "vendor.h"
#include "worker.h"
#include "worker_state.h"

/* Most bytes of a response body handed to SQL; a longer one is cut. */
#define STORED_BODY_MAX (64 * 1024)

/* While calls are in flight, how often retries that came due are claimed. */
#define CLAIM_RECHECK_MS 1000L

/* One vendor call of a decision (a claimed row, or a recovery check). */
typedef struct Call
{
	MemoryContext cxt;			/* all of the call; deleted once recorded */
	int64		decision_id;
	int64		account_id;
	char	   *method;
	char	   *path;
	char	   *body;
	bool		recovery;		/* a state check of executor_recover() */
	VendorAccount *acct;		/* NULL: no request can be sent */
	const char *acct_error;		/* why no request was sent, or NULL */
	HttpRequest req;
	int			calls;			/* requests of earlier rounds (a 401 resend) */
	bool		renewed;		/* the token was renewed after a 401 */
	bool		finished;		/* the transport is done with it */
}			Call;

/* What a pass keeps while its calls run. */
typedef struct Executor
{
	HttpSession *session;
	List	   *read;			/* Call *, claimed and not started yet */
	List	   *in_flight;		/* Call *, started and not recorded yet */
	List	   *accounts;		/* VendorAccount *, read once per pass */
	bool		recovery;		/* the rows being read are recovery checks */
	MemoryContext pass_cxt;		/* the pass's context (answers land here) */
	MemoryContext step_cxt;		/* reset after each claim */
}			Executor;

static bool recovered = false;

/* Copy an int8 column of a result row. */
static int64
row_int8(HeapTuple tuple, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		value = SPI_getbinval(tuple, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(value);
}

/* Reader of collect_account_info(): the account's coordinates and secrets. */
static void
read_account(HeapTuple tuple, TupleDesc desc, void *arg)
{
	VendorAccount *acct = arg;

	acct->vendor = SPI_getvalue(tuple, desc, 1);
	acct->base_url = SPI_getvalue(tuple, desc, 2);
	acct->api_key = SPI_getvalue(tuple, desc, 3);
	acct->api_secret = SPI_getvalue(tuple, desc, 4);
}

/*
 * The account of a call, read once per pass; Airbyte accounts get a bearer
 * token (cached across passes by vendor.c, renewed when `renew`).  Returns
 * NULL with the reason in *error when no request can be sent.
 */
static VendorAccount *
account_for(Executor *ex, int64 account_id, bool renew, const char **error)
{
	VendorAccount *acct = NULL;
	ListCell   *lc;

	foreach(lc, ex->accounts)
	{
		if (((VendorAccount *) lfirst(lc))->account_id == account_id)
			acct = lfirst(lc);
	}
	if (acct == NULL)
	{
		Oid			types[1] = {INT8OID};
		Datum		args[1] = {Int64GetDatum(account_id)};

		acct = palloc0(sizeof(VendorAccount));
		acct->account_id = account_id;
		if (!spi_worker_step("SELECT vendor, base_url, api_key, api_secret FROM syncopt.collect_account_info($1)",
						 1, types, args, NULL, read_account, acct) ||
			acct->api_key == NULL || acct->api_secret == NULL)
			acct->vendor = NULL;
		ex->accounts = lappend(ex->accounts, acct);
		renew = false;
	}
	if (acct->vendor != NULL && strcmp(acct->vendor, "airbyte") == 0 &&
		(acct->token == NULL || renew))
	{
		HttpRequest token_req;
		VendorTokenResult got = vendor_airbyte_token(acct, renew, &token_req);

		if (got != VENDOR_TOKEN_CACHED && got != VENDOR_TOKEN_ISSUED)
			acct->token = NULL;
	}
	if (acct->vendor == NULL)
		*error = "the account has no credentials (syncopt.set_credentials())";
	else if (strcmp(acct->vendor, "airbyte") == 0 && acct->token == NULL)
		*error = "Airbyte refused the account's client credentials (POST /applications/token)";
	else
		return acct;
	return NULL;
}

/*
 * Hand the call's request to the transport.  The request gets its own copy
 * of a bearer token: a renewal frees the cached one while retries of this
 * request may still need it.
 */
static void
send_call(Executor *ex, Call *call)
{
	MemoryContext old = MemoryContextSwitchTo(call->cxt);

	vendor_request_init(call->acct, &call->req, call->method,
						psprintf("%s%s", call->acct->base_url, call->path));
	call->req.body = call->body;
	call->req.tag = call;
	if (call->req.token != NULL)
		call->req.token = pstrdup(call->req.token);
	MemoryContextSwitchTo(old);
	http_session_add(ex->session, &call->req);
}

/* Wipe the call's copy of a token and free everything of the call. */
static void
call_free(Call *call)
{
	if (call->req.token != NULL)
		explicit_bzero((char *) call->req.token, strlen(call->req.token));
	if (call->req.response != NULL)
		pfree(call->req.response);
	MemoryContextDelete(call->cxt);
}

/* Whether the vendor answered with a valid status (a cut body included). */
static bool
call_answered(Call *call)
{
	return call->acct != NULL &&
		(call->req.failure == HTTP_OK ||
		 (call->req.failure == HTTP_FAIL_TOO_LARGE && call->req.status > 0));
}

/* The error text of a call that got no usable HTTP answer, or NULL. */
static char *
call_error(Call *call)
{
	if (call->acct == NULL)
		return pstrdup(call->acct_error);
	if (call_answered(call))
		return NULL;
	if (call->req.failure == HTTP_FAIL_RATE_LIMITED)
		return psprintf("rate limited: the vendor asked to wait %d s (Retry-After)",
						call->req.retry_after_s);
	return psprintf("%s %s: %s", call->method, call->path, call->req.error);
}

/* Whether a call's failure is worth another attempt later. */
static bool
call_retryable(Call *call)
{
	if (call->acct == NULL)
		return false;
	switch (call->req.failure)
	{
		case HTTP_FAIL_TRANSPORT:
		case HTTP_FAIL_RATE_LIMITED:
			return true;
		case HTTP_OK:
			return http_status_retryable(call->req.status);
		default:
			return false;
	}
}

/*
 * What of the answer's body goes to SQL: at most STORED_BODY_MAX bytes, cut
 * before a UTF-8 continuation byte (the transport already made the body
 * valid text, NUL bytes included).  *cut says whether anything was left out.
 */
static char *
stored_body(Call *call, bool *cut)
{
	size_t		len = call->req.response_len;

	*cut = call->req.failure == HTTP_FAIL_TOO_LARGE || len > STORED_BODY_MAX;
	if (len > STORED_BODY_MAX)
	{
		len = STORED_BODY_MAX;
		while (len > 0 && ((unsigned char) call->req.response[len] & 0xC0) == 0x80)
			len--;
	}
	return pnstrdup(call->req.response, len);
}

/*
 * A call that could not be recorded normally, or whose worker is stopping:
 * syncopt.executor_abandon() sends a safe change again and marks the rest
 * unknown when a request may be out.  A recovery check is left executing
 * for the next recovery.
 */
static void
abandon_call(Call *call, int sent, bool on_wire, const char *reason)
{
	Oid			types[4] = {INT8OID, INT4OID, BOOLOID, TEXTOID};
	Datum		args[4];

	if (call->recovery)
	{
		recovered = false;
		return;
	}
	args[0] = Int64GetDatum(call->decision_id);
	args[1] = Int32GetDatum(sent);
	args[2] = BoolGetDatum(on_wire);
	args[3] = CStringGetTextDatum(reason);
	(void) spi_worker_step("SELECT syncopt.executor_abandon($1, $2, $3, $4)",
					   4, types, args, NULL, NULL, NULL);
}

/* Record a finished call through executor_record() or executor_reconciled(). */
static void
record_call(Call *call)
{
	MemoryContext old = MemoryContextSwitchTo(call->cxt);
	char	   *error;
	bool		answered;
	bool		cut = false;
	char	   *body;
	Oid			types[9] = {INT8OID, INT4OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, INT4OID,
	BOOLOID, INT8OID};
	Datum		args[9];
	char		nulls[9];
	bool		ok;

	/* Nothing the vendor echoed of the account's secrets is stored. */
	if (call->acct != NULL)
		vendor_scrub_response(call->acct, &call->req);
	error = call_error(call);
	answered = call_answered(call);
	body = answered ? stored_body(call, &cut) : NULL;
	memset(nulls, ' ', sizeof(nulls));
	nulls[1] = answered ? ' ' : 'n';
	nulls[2] = body ? ' ' : 'n';
	nulls[3] = error ? ' ' : 'n';
	nulls[8] = cut ? ' ' : 'n';

	args[0] = Int64GetDatum(call->decision_id);
	args[1] = Int32GetDatum((int32) call->req.status);
	args[2] = body ? CStringGetTextDatum(body) : (Datum) 0;
	args[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
	args[4] = Int32GetDatum(call->calls + call->req.attempts);
	args[5] = BoolGetDatum(call_retryable(call));
	args[6] = Int32GetDatum(call->req.retry_after_s);
	args[7] = BoolGetDatum(call->acct != NULL && call->req.failure == HTTP_FAIL_IN_DOUBT);
	args[8] = Int64GetDatum((int64) call->req.response_len);
	if (call->recovery)
		ok = spi_worker_step("SELECT syncopt.executor_reconciled($1, $2, $3, $4)",
						 4, types, args, nulls, NULL, NULL);
	else
		ok = spi_worker_step("SELECT syncopt.executor_record($1, $2, $3, $4, $5, $6, $7, $8, $9)",
						 9, types, args, nulls, NULL, NULL);
	if (!ok)
		abandon_call(call, call->calls + call->req.attempts,
					 call->calls + call->req.attempts > 0,
					 "recording the vendor's answer failed; see the server log");
	MemoryContextSwitchTo(old);
}

/*
 * Start the claimed calls just read: send each, or record at once why it
 * cannot be sent.  A call leaves ex->read only once it is in flight or
 * recorded, so that an interruption finds every claimed row.
 */
static void
start_read_calls(Executor *ex)
{
	while (ex->read != NIL)
	{
		Call	   *call = linitial(ex->read);

		call->acct = account_for(ex, call->account_id, false, &call->acct_error);
		if (call->acct == NULL)
			record_call(call);
		else
		{
			send_call(ex, call);
			ex->in_flight = lappend(ex->in_flight, call);
		}
		ex->read = list_delete_first(ex->read);
		if (call->acct == NULL)
			call_free(call);
	}
}

/*
 * A call the transport finished.  Airbyte answers 401 when a token expired
 * early: the token is renewed once (unless another call already did) and
 * the call sent again, since a 401 means the vendor did not act.  Anything
 * else is recorded now and the call freed.
 */
static void
finish_call(Executor *ex, Call *call)
{
	if (!call->renewed && call->acct != NULL && strcmp(call->acct->vendor, "airbyte") == 0 &&
		call->req.failure == HTTP_OK && call->req.status == 401)
	{
		bool		stale = call->acct->token != NULL &&
			strcmp(call->acct->token, call->req.token) != 0;

		call->renewed = true;
		call->calls += call->req.attempts;
		call->req.attempts = 0;
		pfree(call->req.response);
		call->req.response = NULL;
		explicit_bzero((char *) call->req.token, strlen(call->req.token));
		call->acct = account_for(ex, call->account_id, !stale, &call->acct_error);
		if (call->acct != NULL)
		{
			send_call(ex, call);
			return;
		}
	}
	call->finished = true;
	record_call(call);
	ex->in_flight = list_delete_ptr(ex->in_flight, call);
	call_free(call);
}

/* Reader: a claimed row or a recovery check (id, account, method, path[, body]). */
static void
read_call(HeapTuple tuple, TupleDesc desc, void *arg)
{
	Executor   *ex = arg;
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt executor call",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	Call	   *call = palloc0(sizeof(Call));

	call->cxt = cxt;
	call->decision_id = row_int8(tuple, desc, 1);
	call->account_id = row_int8(tuple, desc, 2);
	call->method = SPI_getvalue(tuple, desc, 3);
	call->path = SPI_getvalue(tuple, desc, 4);
	call->body = desc->natts >= 5 ? SPI_getvalue(tuple, desc, 5) : NULL;
	call->recovery = ex->recovery;
	MemoryContextSwitchTo(old);
	ex->read = lappend(ex->read, call);
}

/* Drop calls read by a step that did not commit: nothing was claimed. */
static void
drop_read_calls(Executor *ex)
{
	ListCell   *lc;

	foreach(lc, ex->read)
		call_free(lfirst(lc));
	list_free(ex->read);
	ex->read = NIL;
}

/*
 * Claim due rows for the free slots.  One account may hold all but a
 * quarter of the slots (at least one kept for the others, at least one
 * for itself): a single busy account still uses most of the concurrency,
 * and a hung one cannot take it all.  Returns whether the claim filled
 * every free slot.
 */
static bool
claim_calls(Executor *ex)
{
	int			free_slots = syncopt_http_max_concurrency - list_length(ex->in_flight);
	int			nbusy = list_length(ex->in_flight);
	Datum	   *busy;
	Oid			types[3] = {INT4OID, INT8ARRAYOID, INT4OID};
	Datum		args[3];
	ListCell   *lc;
	int			claimed;
	int			i = 0;
	bool		ok;

	if (free_slots <= 0)
		return true;
	MemoryContextSwitchTo(ex->step_cxt);
	busy = palloc(sizeof(Datum) * Max(nbusy, 1));
	foreach(lc, ex->in_flight)
		busy[i++] = Int64GetDatum(((Call *) lfirst(lc))->account_id);
	args[0] = Int32GetDatum(free_slots);
	args[1] = PointerGetDatum(construct_array(busy, nbusy, INT8OID, sizeof(int64),
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = Int32GetDatum(Max(1, syncopt_http_max_concurrency - Max(1, syncopt_http_max_concurrency / 4)));
	ex->recovery = false;
	MemoryContextSwitchTo(ex->pass_cxt);
	ok = spi_worker_step("SELECT * FROM syncopt.executor_claim($1, $2, $3)", 3, types, args, NULL,
					 read_call, ex);
	MemoryContextReset(ex->step_cxt);
	if (!ok)
	{
		drop_read_calls(ex);
		return false;
	}
	claimed = list_length(ex->read);
	start_read_calls(ex);
	return claimed == free_slots;
}

/* Start the state checks of the rows a previous run left executing. */
static void
start_recovery(Executor *ex)
{
	int64		executing = spi_worker_int8(
											  "SELECT count(*) FROM syncopt.fivetran_sync_ai_logs WHERE status = 'executing'", 0);

	MemoryContextSwitchTo(ex->pass_cxt);
	recovered = true;
	if (executing == 0)
		return;
	ereport(LOG,
			(errmsg("syncopt executor: settling %lld decisions left executing by a previous run",
					(long long) executing)));
	ex->recovery = true;
	if (spi_worker_step("SELECT * FROM syncopt.executor_recover()", 0, NULL, NULL, NULL,
					read_call, ex))
		start_read_calls(ex);
	else
		drop_read_calls(ex);
}

/*
 * Keep calls in flight until none is left and nothing more is due, and
 * record each call as it finishes.  Claims cost a transaction, so while the
 * queue is long they wait until a quarter of the slots is free; an
 * approval that sets the latch, an empty executor and CLAIM_RECHECK_MS
 * passing (retries come due) claim at once.
 */
static void
run_calls(Executor *ex)
{
	bool		more = true;	/* the last claim filled its slots */
	bool		woken = false;
	TimestampTz last_claim = 0;

	for (;;)
	{
		HttpRequest *req;
		int			free_slots = syncopt_http_max_concurrency - list_length(ex->in_flight);

		if (free_slots > 0 &&
			(woken || ex->in_flight == NIL ||
			 (more && free_slots >= Max(1, syncopt_http_max_concurrency / 4)) ||
			 TimestampDifferenceExceeds(last_claim, GetCurrentTimestamp(), CLAIM_RECHECK_MS)))
		{
			more = claim_calls(ex);
			woken = false;
			last_claim = GetCurrentTimestamp();
		}
		if (ex->in_flight == NIL)
			break;
		req = http_session_next(ex->session, CLAIM_RECHECK_MS, true);
		if (req != NULL)
			finish_call(ex, (Call *) req->tag);
		else if (MyLatch->is_set)
		{
			ResetLatch(MyLatch);
			(void) worker_state_take_wakes(SYNCOPT_WORKER_EXECUTOR);
			woken = true;
		}
	}
}

/*
 * The pass was interrupted (cancel, shutdown): settle every claimed row by
 * what may have reached the vendor, then free the transport.  A request is
 * taken to have reached it while on the wire and once finished (its answer
 * is not recorded); claimed rows not started yet had no request.
 */
static void
abandon_in_flight(Executor *ex, const char *why)
{
	List	   *calls = list_concat(ex->in_flight, ex->read);
	int			n = list_length(calls);
	int		   *sent = palloc0(sizeof(int) * Max(n, 1));
	bool	   *on_wire = palloc0(sizeof(bool) * Max(n, 1));
	ListCell   *lc;
	int			i = 0;

	/* Read the transport's view before the session is gone. */
	foreach(lc, calls)
	{
		Call	   *call = lfirst(lc);

		sent[i] = call->calls + call->req.attempts;
		on_wire[i++] = call->req.in_progress || call->finished;
	}
	http_session_destroy(ex->session);
	ex->session = NULL;
	ex->in_flight = NIL;
	ex->read = NIL;
	i = 0;
	foreach(lc, calls)
	{
		abandon_call(lfirst(lc), sent[i], on_wire[i], why);
		i++;
	}
}

/* Wipe the secrets of the accounts a pass read. */
static void
forget_accounts(Executor *ex)
{
	ListCell   *lc;

	foreach(lc, ex->accounts)
		vendor_forget_secrets(lfirst(lc));
	ex->accounts = NIL;
}

/* Expire, recover, execute, notify; returns the delay until the next pass. */
long
executor_pass(bool woken)
{
	MemoryContext pass_cxt = CurrentMemoryContext;
	Executor   *ex = palloc0(sizeof(Executor));
	long		delay_ms = syncopt_executor_poll_interval_s * 1000L;
	int64		due_ms;
	int64		expired = spi_worker_int8("SELECT syncopt.expire_decisions()", 0);

	MemoryContextSwitchTo(pass_cxt);
	if (expired > 0)
		ereport(DEBUG1,
				(errmsg("syncopt executor: %lld proposals expired", (long long) expired)));

	ex->pass_cxt = pass_cxt;
	ex->step_cxt = AllocSetContextCreate(pass_cxt, "syncopt executor step", ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		ex->session = http_session_create();
		if (!recovered)
			start_recovery(ex);
		run_calls(ex);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(pass_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		abandon_in_flight(ex, edata->message);
		forget_accounts(ex);
		ReThrowError(edata);
	}
	PG_END_TRY();
	http_session_destroy(ex->session);
	forget_accounts(ex);
	MemoryContextSwitchTo(pass_cxt);

	delay_ms = Min(delay_ms, notify_pass());
	MemoryContextSwitchTo(pass_cxt);

	/* Sleep no longer than until the next retry or not_before comes due. */
	/* The CASE: greatest() ignores NULL, so an empty queue would read as 0. */
	due_ms = spi_worker_int8("SELECT CASE WHEN count(*) > 0 THEN greatest(0, ceil(extract(epoch FROM"
							   " min(greatest(next_attempt_at, not_before)) - clock_timestamp()) * 1000)) END::bigint"
							   " FROM syncopt.fivetran_sync_ai_logs WHERE status = 'approved'", -1);
	MemoryContextSwitchTo(pass_cxt);
	if (due_ms >= 0)
		delay_ms = Min(delay_ms, Max(due_ms, 10));
	return delay_ms;
}
