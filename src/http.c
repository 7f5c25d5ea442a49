/*-------------------------------------------------------------------------
 *
 * http.c
 *	  Concurrent HTTP requests over the libcurl multi interface.
 *
 * Rules (docs/architecture.md, "HTTP transport"): https only, except hosts
 * listed in syncopt.http_allowed_hosts; TLS peer and host verification
 * always on, with syncopt.http_ca_file for private CAs; no redirects at all
 * (a redirect could carry credentials to another host); connect and total
 * timeouts; a response size cap (the head of a larger answer is kept, with
 * its status); CURLOPT_NOSIGNAL.  A 429 is retried after its Retry-After (or
 * with back-off when it has none) unless that is longer than
 * syncopt.http_max_retry_wait; 5xx answers and transport failures are
 * retried with bounded exponential back-off.  Credentials go to libcurl as
 * options, never into URLs, and no error text built here contains them.
 *
 * A request that is not safe to repeat (POST) always gets a connection of
 * its own, so that libcurl never re-sends it silently on a keep-alive
 * connection that died, and once it may have reached the vendor it is never
 * retried: it ends HTTP_FAIL_IN_DOUBT and the caller decides.  A status
 * outside 100-599 is no valid answer and counts as a transport failure.
 *
 * The rules themselves (which URLs, which answers are retried and when,
 * what a body is made into) are in http_rules.c; this file runs transfers.
 *
 * Requests run in a session: the caller adds requests at any time and takes
 * each back as soon as it is finished (http_session_next), so a slow vendor
 * holds only its own requests and no answer is kept longer than needed.
 * The waits look at interrupts, the latch and postmaster death every
 * POLL_SLICE_MS: an orphaned worker exits without recording anything.  The
 * caller destroys the session in a PG_FINALLY block, so an ERROR (a cancel,
 * statement_timeout, shutdown) leaks no curl handle or buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "http.h"
#include "http_internal.h"
#include "syncopt.h"
#include "worker_state.h"

/* Longest wait between two looks at interrupts while transfers run. */
#define POLL_SLICE_MS 50

HttpCounters http_counters;

/* One request's transfer state; malloc'd buffers, owned by http_execute. */
typedef struct Transfer
{
	HttpRequest *req;
	CURL	   *easy;
	struct curl_slist *headers;
	char	   *buf;			/* malloc'd: written from curl callbacks */
	size_t		len;
	size_t		cap;
	bool		too_large;
	bool		done;
	TimestampTz not_before;		/* retry time */
	char		curl_error[CURL_ERROR_SIZE];
}			Transfer;

/* The transfers of a session; their structs live in the session's context. */
struct HttpSession
{
	MemoryContext cxt;
	CURLM	   *multi;
	List	   *transfers;		/* Transfer *, in the order added */
	int			active;			/* transfers with an easy handle in multi */
};

static bool curl_ready = false;

/* libcurl write callback: append to the transfer's buffer up to the cap. */
static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	Transfer   *t = (Transfer *) arg;
	size_t		n = size * nmemb;
	size_t		limit = (size_t) syncopt_http_max_response_kb * 1024;
	size_t		keep = n;

	/* Past the cap, keep the head and make libcurl abort the transfer. */
	if (t->len + n > limit)
	{
		t->too_large = true;
		keep = limit - t->len;
	}
	if (t->len + keep + 1 > t->cap)
	{
		size_t		newcap = Max(t->cap * 2, t->len + keep + 1);
		char	   *grown;

		newcap = Min(Max(newcap, 8192), limit + 1);
		grown = realloc(t->buf, newcap);
		if (grown == NULL)
			return 0;
		t->buf = grown;
		t->cap = newcap;
	}
	memcpy(t->buf + t->len, data, keep);
	t->len += keep;
	t->buf[t->len] = '\0';
	return t->too_large ? 0 : n;	/* 0: CURLE_WRITE_ERROR ends it */
}

/*
 * libcurl header callback: keep Retry-After and X-Rate-Limit-Remaining.  A
 * new status line (a retry, a 100 Continue) forgets earlier values.
 */
static size_t
on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	Transfer   *t = (Transfer *) arg;
	size_t		n = size * nmemb;
	static const char retry_after[] = "retry-after:";
	static const char remaining[] = "x-rate-limit-remaining:";

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0)
	{
		t->req->retry_after_s = -1;
		return n;
	}
	if (n > sizeof(retry_after) - 1 &&
		pg_strncasecmp(line, retry_after, sizeof(retry_after) - 1) == 0)
	{
		t->req->retry_after_s =
			http_parse_retry_after(line + sizeof(retry_after) - 1,
								   n - (sizeof(retry_after) - 1), time(NULL));
	}
	else if (n > sizeof(remaining) - 1 &&
			 pg_strncasecmp(line, remaining, sizeof(remaining) - 1) == 0)
		t->req->rate_limit_remaining = http_header_int(line + sizeof(remaining) - 1,
												  n - (sizeof(remaining) - 1));
	return n;
}

/*
 * Whether sending the request twice does no more than sending it once
 * (RFC 9110 9.2.2): every method syncopt uses but POST.
 */
static bool
request_repeatable(const HttpRequest *req)
{
	return strcmp(req->method, "POST") != 0;
}

/* Create the easy handle of one attempt; false (with req->error) on failure. */
static bool
transfer_prepare(Transfer *t)
{
	HttpRequest *req = t->req;
	CURL	   *easy = curl_easy_init();
	char		header[256];

	if (easy == NULL)
	{
		snprintf(req->error, sizeof(req->error), "could not create a curl handle");
		return false;
	}
	t->easy = easy;
	t->len = 0;
	t->too_large = false;
	t->curl_error[0] = '\0';
	req->retry_after_s = -1;

	snprintf(header, sizeof(header), "Accept: %s",
			 req->accept ? req->accept : "application/json");
	t->headers = curl_slist_append(t->headers, header);
	if (req->body != NULL)
		t->headers = curl_slist_append(t->headers, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip for small JSON bodies. */
	t->headers = curl_slist_append(t->headers, "Expect:");

	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
	if (strcmp(req->method, "GET") == 0)
		curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
	if (req->body != NULL)
		curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, req->body);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "syncopt/" SYNCOPT_VERSION);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	if (syncopt_http_ca_file != NULL && syncopt_http_ca_file[0] != '\0')
		curl_easy_setopt(easy, CURLOPT_CAINFO, syncopt_http_ca_file);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) syncopt_http_connect_timeout_s * 1000L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long) syncopt_http_timeout_s * 1000L);
	/*
	 * libcurl re-sends a request by itself when a reused connection turns out
	 * dead; for a request that is not safe to repeat that could act twice
	 * unseen, so it gets a fresh connection that nobody reuses.
	 */
	if (!request_repeatable(req))
	{
		curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
	}
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->curl_error);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, t);

	if (req->auth == HTTP_AUTH_BASIC)
	{
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(easy, CURLOPT_USERNAME, req->user);
		curl_easy_setopt(easy, CURLOPT_PASSWORD, req->password);
	}
	else if (req->auth == HTTP_AUTH_BEARER)
	{
		curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BEARER);
		curl_easy_setopt(easy, CURLOPT_XOAUTH2_BEARER, req->token);
	}
	return true;
}

/* Release one attempt's handle and headers; the buffer is kept. */
static void
transfer_release(CURLM *multi, Transfer *t)
{
	if (t->easy != NULL)
	{
		if (multi != NULL)
			curl_multi_remove_handle(multi, t->easy);
		curl_easy_cleanup(t->easy);
		t->easy = NULL;
	}
	curl_slist_free_all(t->headers);
	t->headers = NULL;
}

/*
 * Whether the attempt that ended with `code` may have reached the vendor:
 * an answer came, or the connection was up and sending began.
 */
static bool
attempt_maybe_received(Transfer *t, CURLcode code)
{
	curl_off_t	pretransfer_us = 0;

	if (code == CURLE_OK)
		return true;
	curl_easy_getinfo(t->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
	return pretransfer_us > 0;
}

/*
 * Decide what a finished attempt means: done, or retry at not_before.
 * Fills the request's outcome fields.
 */
static void
transfer_finish(Transfer *t, CURLcode code)
{
	HttpRequest *req = t->req;
	TimestampTz now = GetCurrentTimestamp();
	long		wait_ms = -1;
	long		status = 0;

	req->status = 0;
	req->failure = HTTP_OK;
	req->error[0] = '\0';
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	if (req->retry_after_s >= 0)
		worker_state_note_retry_after(req->retry_after_s);

	if (t->too_large && status >= 100 && status <= 599)
	{
		/* The vendor answered; the caller decides what the cut body means. */
		req->status = status;
		req->failure = HTTP_FAIL_TOO_LARGE;
		snprintf(req->error, sizeof(req->error),
				 "response larger than syncopt.http_max_response_size (%d kB)",
				 syncopt_http_max_response_kb);
		t->done = true;
		return;
	}
	if (code == CURLE_OK && (status < 100 || status > 599))
	{
		req->failure = HTTP_FAIL_TRANSPORT;
		snprintf(req->error, sizeof(req->error), "invalid HTTP status %ld", status);
	}
	else if (code != CURLE_OK)
	{
		req->failure = HTTP_FAIL_TRANSPORT;
		snprintf(req->error, sizeof(req->error), "%s%s%s",
				 curl_easy_strerror(code), t->curl_error[0] ? ": " : "", t->curl_error);
		/* TLS and protocol refusals will not heal by retrying. */
		if (code == CURLE_PEER_FAILED_VERIFICATION || code == CURLE_SSL_CACERT_BADFILE ||
			code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
			code == CURLE_SSL_CONNECT_ERROR)
		{
			t->done = true;
			return;
		}
	}
	else
		req->status = status;

	if (req->failure == HTTP_FAIL_TRANSPORT)
	{
		if (!request_repeatable(req) && attempt_maybe_received(t, code))
		{
			req->failure = HTTP_FAIL_IN_DOUBT;
			t->done = true;
			return;
		}
		wait_ms = http_backoff_ms(req->attempts);
	}
	else if (req->status == 429)
	{
		snprintf(req->error, sizeof(req->error), "HTTP 429 Too Many Requests");
		if (req->retry_after_s > syncopt_http_max_retry_wait_s)
		{
			req->failure = HTTP_FAIL_RATE_LIMITED;
			t->done = true;
			return;
		}
		wait_ms = req->retry_after_s >= 0 ? req->retry_after_s * 1000L : http_backoff_ms(req->attempts);
	}
	else if (http_status_retryable(req->status))
	{
		snprintf(req->error, sizeof(req->error), "HTTP %ld", req->status);
		wait_ms = req->retry_after_s >= 0 ?
			Min(req->retry_after_s, syncopt_http_max_retry_wait_s) * 1000L :
			http_backoff_ms(req->attempts);
	}

	if (wait_ms < 0 || req->attempts > syncopt_http_max_retries)
	{
		t->done = true;
		return;
	}
	t->not_before = TimestampTzPlusMilliseconds(now, wait_ms);
}

/*
 * Stop waiting when the backend is cancelled or the worker told to stop; a
 * worker whose postmaster died exits at once, recording nothing (a new
 * postmaster's executor settles its rows).
 */
static void
check_for_stop(void)
{
	if (!PostmasterIsAlive())
		proc_exit(1);
	CHECK_FOR_INTERRUPTS();
	if (ShutdownRequestPending)
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("syncopt: HTTP requests abandoned because the worker is shutting down")));
}

/* Admit waiting transfers whose time has come, up to the concurrency limit. */
static void
admit_transfers(HttpSession *session)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, session->transfers)
	{
		Transfer   *t = lfirst(lc);

		if (session->active >= syncopt_http_max_concurrency)
			break;
		if (t->done || t->easy != NULL || t->not_before > now)
			continue;
		t->req->attempts++;
		http_counters.requests++;
		if (t->req->attempts > 1)
			http_counters.retries++;
		if (!transfer_prepare(t))
		{
			t->req->failure = HTTP_FAIL_TRANSPORT;
			t->done = true;
			continue;
		}
		curl_multi_add_handle(session->multi, t->easy);
		t->req->in_progress = true;
		session->active++;
	}
}

/* Milliseconds until the earliest waiting retry; -1 when none waits. */
static long
next_retry_ms(HttpSession *session)
{
	TimestampTz now = GetCurrentTimestamp();
	long		best = -1;
	ListCell   *lc;

	foreach(lc, session->transfers)
	{
		Transfer   *t = lfirst(lc);
		long		ms;

		if (t->done || t->easy != NULL)
			continue;
		ms = TimestampDifferenceMilliseconds(now, t->not_before);
		if (best < 0 || ms < best)
			best = ms;
	}
	return best;
}

/* Let libcurl move the bytes, and settle every attempt that ended. */
static void
perform_transfers(HttpSession *session)
{
	int			running;
	int			queued;
	CURLMsg    *msg;

	curl_multi_perform(session->multi, &running);
	while ((msg = curl_multi_info_read(session->multi, &queued)) != NULL)
	{
		Transfer   *t;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		transfer_finish(t, msg->data.result);
		transfer_release(session->multi, t);
		t->req->in_progress = false;
		session->active--;
	}
}

/*
 * Hand a finished transfer's outcome to its request and forget the
 * transfer: the body is copied into the caller's memory context (the head
 * only, for an answer over the size cap), made valid text, and the buffer
 * freed.
 */
static HttpRequest *
transfer_deliver(HttpSession *session, Transfer *t)
{
	HttpRequest *req = t->req;
	bool		keep = t->buf != NULL &&
		(req->failure == HTTP_OK || req->failure == HTTP_FAIL_TOO_LARGE);

	if (keep)
		req->response = http_body_sanitize(t->buf, t->len, &req->response_len);
	else
	{
		req->response_len = 0;
		req->response = pstrdup("");
	}
	free(t->buf);
	t->buf = NULL;
	session->transfers = list_delete_ptr(session->transfers, t);
	pfree(t);
	return req;
}

/* Start a session: no request yet. */
HttpSession *
http_session_create(void)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt http session",
											  ALLOCSET_SMALL_SIZES);
	HttpSession *session = MemoryContextAllocZero(cxt, sizeof(HttpSession));

	session->cxt = cxt;
	if (!curl_ready)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_ready = true;
	}
	session->multi = curl_multi_init();
	if (session->multi == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a curl multi handle")));
	return session;
}

/*
 * Queue a request; its outcome fields are reset here.  The request must stay
 * where it is until http_session_next() returns it.
 */
void
http_session_add(HttpSession *session, HttpRequest *req)
{
	Transfer   *t = MemoryContextAllocZero(session->cxt, sizeof(Transfer));
	MemoryContext old;

	t->req = req;
	req->failure = HTTP_OK;
	req->status = 0;
	req->response = NULL;
	req->response_len = 0;
	req->in_progress = false;
	req->error[0] = '\0';
	req->attempts = 0;
	req->retry_after_s = -1;
	req->rate_limit_remaining = -1;
	if (!http_url_permitted(req))
	{
		req->failure = HTTP_FAIL_REFUSED;
		t->done = true;
	}
	old = MemoryContextSwitchTo(session->cxt);
	session->transfers = lappend(session->transfers, t);
	MemoryContextSwitchTo(old);
}

/* Requests added and not yet returned by http_session_next(). */
int
http_session_pending(HttpSession *session)
{
	return list_length(session->transfers);
}

/*
 * Wait for the next finished request and return it, with its outcome.
 * Returns NULL when none is pending, when wait_ms (>= 0) passed first, or,
 * with stop_on_latch, as soon as the latch is set (the caller resets it).
 */
HttpRequest *
http_session_next(HttpSession *session, long wait_ms, bool stop_on_latch)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(wait_ms, 0));

	for (;;)
	{
		ListCell   *lc;
		long		slice = POLL_SLICE_MS;

		foreach(lc, session->transfers)
		{
			if (((Transfer *) lfirst(lc))->done)
				return transfer_deliver(session, lfirst(lc));
		}
		if (session->transfers == NIL || (stop_on_latch && MyLatch->is_set))
			return NULL;
		if (wait_ms >= 0)
		{
			slice = Min(slice, TimestampDifferenceMilliseconds(GetCurrentTimestamp(), until));
			if (slice <= 0)
				return NULL;
		}

		admit_transfers(session);
		if (session->active > 0)
		{
			perform_transfers(session);
			curl_multi_poll(session->multi, NULL, 0, (int) slice, NULL);
			perform_transfers(session);
		}
		else
		{
			long		retry = next_retry_ms(session);

			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 Max(1, retry >= 0 ? Min(retry, slice) : slice), PG_WAIT_EXTENSION);
			if (!stop_on_latch)
				ResetLatch(MyLatch);
		}
		check_for_stop();
	}
}

/* Release every handle and buffer of a session; safe in PG_FINALLY. */
void
http_session_destroy(HttpSession *session)
{
	ListCell   *lc;

	if (session == NULL)
		return;
	foreach(lc, session->transfers)
	{
		Transfer   *t = lfirst(lc);

		transfer_release(session->multi, t);
		t->req->in_progress = false;
		free(t->buf);
		t->buf = NULL;
	}
	if (session->multi != NULL)
		curl_multi_cleanup(session->multi);
	MemoryContextDelete(session->cxt);
}

/*
 * Send the requests concurrently (at most syncopt.http_max_concurrency at a
 * time), retrying as the rules above say, and fill in each one's outcome.
 */
void
http_execute(HttpRequest *requests, int nrequests)
{
	HttpSession *volatile session = NULL;

	if (nrequests <= 0)
		return;
	PG_TRY();
	{
		session = http_session_create();
		for (int i = 0; i < nrequests; i++)
			http_session_add(session, &requests[i]);
		while (http_session_pending(session) > 0)
			(void) http_session_next(session, -1, false);
	}
	PG_FINALLY();
	{
		http_session_destroy(session);
	}
	PG_END_TRY();
}
