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
 *	3. delivers queued notifications (notify.c);
 *	4. claims due approved rows in batches (FOR UPDATE SKIP LOCKED, status
 *	   executing committed before any call), sends each batch's calls
 *	   concurrently with no transaction open, and records each outcome in a
 *	   transaction of its own, so that one bad row never stops the queue.
 *
 * What a request looks like and what a response means is decided in SQL
 * (src/sql/74_execute.sql); this file moves the bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "http.h"
#include "spi_run.h"
#include "vendor.h"
#include "worker.h"

/* Rows claimed per batch; bounds memory and the calls in one http_execute. */
#define CLAIM_BATCH 200

/* Batches per pass before the worker looks at its latch again. */
#define MAX_BATCHES_PER_PASS 20

/* One vendor call of a decision (a claimed row, or a recovery check). */
typedef struct Call
{
	int64		decision_id;
	int64		account_id;
	char	   *method;
	char	   *path;
	char	   *body;
	VendorAccount *acct;		/* NULL: the account could not be read */
	const char *acct_error;		/* why no request was sent, or NULL */
	HttpRequest req;
	int			calls;			/* requests sent, token renewals excluded */
}			Call;

/* What a pass collects: calls, and the accounts they use. */
typedef struct CallBatch
{
	Call	   *calls;
	int			ncalls;
	List	   *accounts;		/* VendorAccount * */
}			CallBatch;

/* Copy a text column of a result row, or NULL. */
static char *
row_text(HeapTuple tuple, TupleDesc desc, int col)
{
	return SPI_getvalue(tuple, desc, col);
}

/* Copy an int8 column of a result row. */
static int64
row_int8(HeapTuple tuple, TupleDesc desc, int col)
{
	bool		isnull;
	Datum		value = SPI_getbinval(tuple, desc, col, &isnull);

	return isnull ? 0 : DatumGetInt64(value);
}

/* Reader: a claimed row or a recovery check (id, account, method, path[, body]). */
static void
read_call(HeapTuple tuple, TupleDesc desc, void *arg)
{
	CallBatch  *batch = arg;
	Call	   *call = &batch->calls[batch->ncalls++];

	memset(call, 0, sizeof(Call));
	call->decision_id = row_int8(tuple, desc, 1);
	call->account_id = row_int8(tuple, desc, 2);
	call->method = row_text(tuple, desc, 3);
	call->path = row_text(tuple, desc, 4);
	call->body = desc->natts >= 5 ? row_text(tuple, desc, 5) : NULL;
}

/* Reader of collect_account_info(): the account's coordinates and secrets. */
static void
read_account(HeapTuple tuple, TupleDesc desc, void *arg)
{
	VendorAccount *acct = arg;

	acct->vendor = row_text(tuple, desc, 1);
	acct->base_url = row_text(tuple, desc, 2);
	acct->api_key = row_text(tuple, desc, 3);
	acct->api_secret = row_text(tuple, desc, 4);
}

/*
 * The account of each call, read once per account; Airbyte accounts get a
 * bearer token (cached across passes by vendor.c).  A call whose account
 * has no credentials or no token keeps the reason in acct_error.
 */
static void
attach_accounts(CallBatch *batch, bool renew_tokens)
{
	for (int i = 0; i < batch->ncalls; i++)
	{
		Call	   *call = &batch->calls[i];
		VendorAccount *acct = NULL;
		ListCell   *lc;

		foreach(lc, batch->accounts)
		{
			if (((VendorAccount *) lfirst(lc))->account_id == call->account_id)
				acct = lfirst(lc);
		}
		if (acct == NULL)
		{
			Oid			types[1] = {INT8OID};
			Datum		args[1] = {Int64GetDatum(call->account_id)};
			HttpRequest token_req;

			acct = palloc0(sizeof(VendorAccount));
			acct->account_id = call->account_id;
			if (!spi_worker_step("SELECT vendor, base_url, api_key, api_secret FROM syncopt.collect_account_info($1)",
								 1, types, args, NULL, read_account, acct) ||
				acct->api_key == NULL || acct->api_secret == NULL)
				acct->vendor = NULL;
			else if (strcmp(acct->vendor, "airbyte") == 0)
			{
				VendorTokenResult got = vendor_airbyte_token(acct, renew_tokens, &token_req);

				if (got != VENDOR_TOKEN_CACHED && got != VENDOR_TOKEN_ISSUED)
					acct->token = NULL;
			}
			batch->accounts = lappend(batch->accounts, acct);
		}
		if (acct->vendor == NULL)
			call->acct_error = "the account has no credentials (syncopt.set_credentials())";
		else if (strcmp(acct->vendor, "airbyte") == 0 && acct->token == NULL)
			call->acct_error = "Airbyte refused the account's client credentials (POST /applications/token)";
		else
			call->acct = acct;
	}
}

/* Send every call that has an account, concurrently; no transaction is open. */
static void
send_calls(CallBatch *batch)
{
	HttpRequest *reqs = palloc0(sizeof(HttpRequest) * Max(batch->ncalls, 1));
	int			n = 0;

	for (int i = 0; i < batch->ncalls; i++)
	{
		Call	   *call = &batch->calls[i];

		if (call->acct == NULL)
			continue;
		vendor_request_init(call->acct, &reqs[n], call->method,
							psprintf("%s%s", call->acct->base_url, call->path));
		reqs[n].body = call->body;
		reqs[n].tag = call;
		n++;
	}
	if (n > 0)
		http_execute(reqs, n);
	for (int i = 0; i < n; i++)
	{
		Call	   *call = reqs[i].tag;

		call->calls += reqs[i].attempts;
		call->req = reqs[i];
	}
}

/*
 * Airbyte answers 401 when a token expired early: renew the token once and
 * send those calls again (a 401 means the vendor did not act).
 */
static void
resend_unauthorized(CallBatch *batch)
{
	CallBatch	retry = {0};
	ListCell   *lc;
	Call	  **originals = palloc0(sizeof(Call *) * Max(batch->ncalls, 1));

	retry.calls = palloc0(sizeof(Call) * Max(batch->ncalls, 1));
	for (int i = 0; i < batch->ncalls; i++)
	{
		Call	   *call = &batch->calls[i];

		if (call->acct != NULL && strcmp(call->acct->vendor, "airbyte") == 0 &&
			call->req.failure == HTTP_OK && call->req.status == 401)
		{
			originals[retry.ncalls] = call;
			retry.calls[retry.ncalls] = *call;
			retry.calls[retry.ncalls].acct = NULL;
			retry.ncalls++;
		}
	}
	if (retry.ncalls == 0)
		return;
	attach_accounts(&retry, true);
	send_calls(&retry);
	for (int i = 0; i < retry.ncalls; i++)
	{
		/* The retry's call count already includes the first request. */
		if (retry.calls[i].acct == NULL)
			originals[i]->acct_error = retry.calls[i].acct_error;
		originals[i]->acct = retry.calls[i].acct;
		originals[i]->req = retry.calls[i].req;
		originals[i]->calls = retry.calls[i].calls;
	}
	foreach(lc, retry.accounts)
		vendor_forget_secrets(lfirst(lc));
	list_free(retry.accounts);
}

/* The error text of a call that got no usable HTTP answer, or NULL. */
static char *
call_error(Call *call)
{
	if (call->acct == NULL)
		return pstrdup(call->acct_error);
	if (call->req.failure == HTTP_OK)
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

/* Record each call's outcome through the given SQL function, one row per transaction. */
static void
record_calls(CallBatch *batch, bool recovery)
{
	for (int i = 0; i < batch->ncalls; i++)
	{
		Call	   *call = &batch->calls[i];
		char	   *error = call_error(call);
		bool		answered = call->acct != NULL && call->req.failure == HTTP_OK;
		Oid			types[7] = {INT8OID, INT4OID, TEXTOID, TEXTOID, INT4OID, BOOLOID, INT4OID};
		Datum		args[7];
		char		nulls[7] = {' ', answered ? ' ' : 'n', call->req.response ? ' ' : 'n',
		error ? ' ' : 'n', ' ', ' ', ' '};

		if (call->acct != NULL)
			vendor_scrub_response(call->acct, &call->req);
		args[0] = Int64GetDatum(call->decision_id);
		args[1] = Int32GetDatum((int32) call->req.status);
		args[2] = call->req.response ? CStringGetTextDatum(call->req.response) : (Datum) 0;
		args[3] = error ? CStringGetTextDatum(error) : (Datum) 0;
		args[4] = Int32GetDatum(call->calls);
		args[5] = BoolGetDatum(call_retryable(call));
		args[6] = Int32GetDatum(call->req.retry_after_s);
		if (recovery)
			(void) spi_worker_step("SELECT syncopt.executor_reconciled($1, $2, $3, $4)",
								   4, types, args, nulls, NULL, NULL);
		else
			(void) spi_worker_step("SELECT syncopt.executor_record($1, $2, $3, $4, $5, $6, $7)",
								   7, types, args, nulls, NULL, NULL);
	}
}

/* Send a batch's calls and record them; the secrets are wiped afterwards. */
static void
run_calls(CallBatch *batch, bool recovery)
{
	ListCell   *lc;

	attach_accounts(batch, false);
	send_calls(batch);
	resend_unauthorized(batch);
	record_calls(batch, recovery);
	foreach(lc, batch->accounts)
		vendor_forget_secrets(lfirst(lc));
}

/* Settle the rows a previous run of the executor left executing. */
static void
recover_in_flight(void)
{
	CallBatch	batch = {0};
	int64		executing = spi_worker_int8(
											"SELECT count(*) FROM syncopt.fivetran_sync_ai_logs WHERE status = 'executing'", 0);

	if (executing == 0)
		return;
	ereport(LOG,
			(errmsg("syncopt executor: settling %lld decisions left executing by a previous run",
					(long long) executing)));
	batch.calls = palloc0(sizeof(Call) * executing);
	if (spi_worker_step("SELECT * FROM syncopt.executor_recover()", 0, NULL, NULL, NULL,
						read_call, &batch))
		run_calls(&batch, true);
}

/* Claim, send and record one batch; returns how many rows were claimed. */
static int
execute_batch(void)
{
	CallBatch	batch = {0};
	Oid			types[1] = {INT4OID};
	Datum		args[1] = {Int32GetDatum(CLAIM_BATCH)};

	batch.calls = palloc0(sizeof(Call) * CLAIM_BATCH);
	if (!spi_worker_step("SELECT * FROM syncopt.executor_claim($1)", 1, types, args, NULL,
						 read_call, &batch))
		return 0;
	if (batch.ncalls > 0)
		run_calls(&batch, false);
	return batch.ncalls;
}

/* Expire, recover, notify, execute; returns the delay until the next pass. */
long
executor_pass(bool woken)
{
	static bool recovered = false;
	MemoryContext pass_cxt = CurrentMemoryContext;
	long		delay_ms = syncopt_executor_poll_interval_s * 1000L;
	int64		due_ms;
	int64		expired = spi_worker_int8("SELECT syncopt.expire_decisions()", 0);

	MemoryContextSwitchTo(pass_cxt);
	if (expired > 0)
		ereport(DEBUG1,
				(errmsg("syncopt executor: %lld proposals expired", (long long) expired)));
	if (!recovered)
	{
		recover_in_flight();
		recovered = true;
	}

	for (int b = 0; b < MAX_BATCHES_PER_PASS; b++)
	{
		MemoryContext batch_cxt = AllocSetContextCreate(pass_cxt, "syncopt executor batch",
														ALLOCSET_DEFAULT_SIZES);
		int			claimed;

		MemoryContextSwitchTo(batch_cxt);
		claimed = execute_batch();
		MemoryContextSwitchTo(pass_cxt);
		MemoryContextDelete(batch_cxt);
		if (claimed < CLAIM_BATCH)
			break;
		delay_ms = 0;			/* more may be waiting */
	}

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
