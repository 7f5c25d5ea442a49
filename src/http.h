/*-------------------------------------------------------------------------
 *
 * http.h
 *	  syncopt's HTTP transport: concurrent requests over libcurl with the
 *	  limits, TLS rules and retries of docs/architecture.md.  It knows
 *	  nothing of Fivetran or Airbyte.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_HTTP_H
#define SYNCOPT_HTTP_H

/* How a request authenticates. */
typedef enum HttpAuth
{
	HTTP_AUTH_NONE,
	HTTP_AUTH_BASIC,			/* user / password */
	HTTP_AUTH_BEARER			/* token */
}			HttpAuth;

/* Why a request ended without a usable response. */
typedef enum HttpFailure
{
	HTTP_OK = 0,				/* a response arrived (any status) */
	HTTP_FAIL_REFUSED,			/* URL not allowed (scheme, host) */
	HTTP_FAIL_TRANSPORT,		/* connect, TLS, timeout, reset: retried */
	HTTP_FAIL_TOO_LARGE,		/* response over syncopt.http_max_response_size;
								 * status and the body's head are kept */
	HTTP_FAIL_RATE_LIMITED,		/* 429 asking to wait past http_max_retry_wait */
	HTTP_FAIL_IN_DOUBT			/* a request that is not safe to repeat may
								 * have reached the vendor, and no valid
								 * answer came: not retried */
}			HttpFailure;

/*
 * Longest wait a Retry-After header can ask for, in seconds; larger values
 * (and HTTP-dates further ahead) are cut to it.  docs/operations.md.
 */
#define HTTP_RETRY_AFTER_MAX_S 3600

typedef struct HttpRequest
{
	/* set by the caller */
	const char *method;			/* GET, POST, PATCH, DELETE */
	char	   *url;
	const char *body;			/* JSON body, or NULL */
	const char *accept;			/* Accept header, or NULL for application/json */
	HttpAuth	auth;
	const char *user;			/* basic auth */
	const char *password;		/* basic auth */
	const char *token;			/* bearer auth */
	void	   *tag;			/* the caller's, untouched */

	/* set by http_execute */
	HttpFailure failure;
	long		status;			/* HTTP status of the last response, 0 if none */
	char	   *response;		/* NUL-terminated body, palloc'd; may hold NUL
								 * bytes before response_len */
	size_t		response_len;
	bool		in_progress;	/* an attempt is on the wire right now */
	char		error[256];		/* why it failed; never holds a secret */
	int			attempts;
	int			retry_after_s;	/* Retry-After of the last response, capped
								 * at HTTP_RETRY_AFTER_MAX_S; -1 if none */
	int			rate_limit_remaining;	/* X-Rate-Limit-Remaining, -1 if none */
}			HttpRequest;

/* Counters of everything sent through the transport by this process. */
typedef struct HttpCounters
{
	long		requests;		/* attempts, retries included */
	long		retries;
}			HttpCounters;

extern HttpCounters http_counters;

/* Requests in flight that the caller collects one by one as they finish. */
typedef struct HttpSession HttpSession;

extern HttpSession *http_session_create(void);
extern void http_session_add(HttpSession *session, HttpRequest *req);
extern HttpRequest *http_session_next(HttpSession *session, long wait_ms, bool stop_on_latch);
extern int	http_session_pending(HttpSession *session);
extern void http_session_destroy(HttpSession *session);

extern void http_execute(HttpRequest *requests, int nrequests);
extern int	http_parse_retry_after(const char *value, size_t len, time_t now);
extern bool http_status_retryable(long status);
extern char *http_escape(const char *segment);

#endif							/* SYNCOPT_HTTP_H */
