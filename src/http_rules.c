/*-------------------------------------------------------------------------
 *
 * http_rules.c
 *	  What the HTTP transport allows and how it reads what comes back: the
 *	  URL rules (https only, save hosts in syncopt.http_allowed_hosts), which
 *	  answers are retried and after how long (Retry-After, back-off), and
 *	  response bodies made valid text.
 *
 * These are the transport's decisions, apart from the machinery that runs
 * transfers (http.c), so that each can be read, and tested, on its own.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "common/pg_prng.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/varlena.h"

#include "http.h"
#include "http_internal.h"
#include "syncopt.h"

/* Back-off after the first retryable failure, doubled each time, capped. */
#define BACKOFF_BASE_MS 500L
#define BACKOFF_CAP_MS (30 * 1000L)

/* Whether the host is listed in syncopt.http_allowed_hosts. */
static bool
host_allowed_plain_http(const char *host)
{
	char	   *copy;
	List	   *hosts;
	ListCell   *lc;
	bool		found = false;
	size_t		hlen = strlen(host);

	if (syncopt_http_allowed_hosts == NULL || syncopt_http_allowed_hosts[0] == '\0')
		return false;
	/* curl reports IPv6 hosts in brackets; the list has them bare. */
	if (hlen > 2 && host[0] == '[' && host[hlen - 1] == ']')
	{
		host = pnstrdup(host + 1, hlen - 2);
		hlen -= 2;
	}
	copy = pstrdup(syncopt_http_allowed_hosts);
	if (SplitGUCList(copy, ',', &hosts))
	{
		foreach(lc, hosts)
		{
			if (pg_strcasecmp((const char *) lfirst(lc), host) == 0)
			{
				found = true;
				break;
			}
		}
	}
	list_free(hosts);
	pfree(copy);
	return found;
}

/*
 * Check the URL against the scheme rules; on refusal fill req->error and
 * return false.
 */
bool
http_url_permitted(HttpRequest *req)
{
	CURLU	   *url = curl_url();
	char	   *scheme = NULL;
	char	   *host = NULL;
	char	   *userinfo = NULL;
	bool		ok = false;

	if (url == NULL)
	{
		snprintf(req->error, sizeof(req->error), "out of memory parsing a URL");
		return false;
	}
	if (curl_url_set(url, CURLUPART_URL, req->url, 0) != CURLUE_OK ||
		curl_url_get(url, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		curl_url_get(url, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		snprintf(req->error, sizeof(req->error), "malformed URL");
	else if (curl_url_get(url, CURLUPART_USER, &userinfo, 0) == CURLUE_OK)
		snprintf(req->error, sizeof(req->error),
				 "URLs must not carry credentials; use syncopt.set_credentials()");
	else if (pg_strcasecmp(scheme, "https") == 0)
		ok = true;
	else if (pg_strcasecmp(scheme, "http") == 0 && host_allowed_plain_http(host))
		ok = true;
	else
		snprintf(req->error, sizeof(req->error),
				 "refusing %s to host \"%s\": only https is allowed, except hosts in syncopt.http_allowed_hosts",
				 scheme, host);
	curl_free(scheme);
	curl_free(host);
	curl_free(userinfo);
	curl_url_cleanup(url);
	return ok;
}

/* Parse a header's integer value; -1 when it is not a plain number. */
int
http_header_int(const char *value, size_t len)
{
	long		v = 0;
	size_t		i = 0;

	while (i < len && (value[i] == ' ' || value[i] == '\t'))
		i++;
	if (i == len || value[i] < '0' || value[i] > '9')
		return -1;
	for (; i < len && value[i] >= '0' && value[i] <= '9'; i++)
	{
		v = v * 10 + (value[i] - '0');
		if (v > INT_MAX)
			return INT_MAX;
	}
	return (int) v;
}

/*
 * Seconds a Retry-After value asks to wait, in either form of RFC 9110
 * (delay-seconds or an HTTP-date, measured from `now`), cut to
 * HTTP_RETRY_AFTER_MAX_S; a date in the past is 0.  -1 when the value is
 * neither.  Every caller of the transport sees only this capped figure.
 */
int
http_parse_retry_after(const char *value, size_t len, time_t now)
{
	char		text[64];
	time_t		when;
	int64		seconds;

	while (len > 0 && (value[len - 1] == '\r' || value[len - 1] == '\n' ||
					   value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	seconds = http_header_int(value, len);
	if (seconds >= 0)
		return (int) Min(seconds, HTTP_RETRY_AFTER_MAX_S);
	if (len == 0 || len >= sizeof(text))
		return -1;
	memcpy(text, value, len);
	text[len] = '\0';
	when = curl_getdate(text, NULL);
	if (when == -1)
		return -1;
	/* In 64 bits: a date in 2200 must not wrap around. */
	seconds = (int64) when - (int64) now;
	return (int) Max(0, Min(seconds, HTTP_RETRY_AFTER_MAX_S));
}

/* Whether an HTTP status is worth retrying (429 and 5xx). */
bool
http_status_retryable(long status)
{
	return status == 429 || (status >= 500 && status <= 599);
}

/* Delay before retry number `attempt` (1-based): doubling, capped, +-20%. */
long
http_backoff_ms(int attempt)
{
	long		ms = BACKOFF_BASE_MS << Min(attempt - 1, 10);

	ms = Min(ms, BACKOFF_CAP_MS);
	return (long) (ms * (0.8 + 0.4 * pg_prng_double(&pg_global_prng_state)));
}

/* Escape one URL path or query segment; the result is palloc'd. */
char *
http_escape(const char *segment)
{
	char	   *escaped = curl_easy_escape(NULL, segment, 0);
	char	   *result;

	if (escaped == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	result = pstrdup(escaped);
	curl_free(escaped);
	return result;
}

/*
 * A response body as text the database can store: the vendors send UTF-8
 * JSON, and a body that is not valid UTF-8 would be stored as it came and
 * break every restore of a dump.  Invalid byte sequences and NUL bytes
 * (which would cut the C string) each become U+FFFD rather than failing
 * the request: a page stays usable (one bad connection name must not stop
 * the crawl of the account for good, and an accepted action must not be
 * recorded as failed), and a body that was broken JSON stays broken JSON.
 * In a database whose encoding is neither UTF-8 nor SQL_ASCII, characters
 * beyond ASCII become \uXXXX escapes, which JSON reads back as the same
 * characters where the encoding has them (and refuses with a clear error
 * where it has not), and what is invalid becomes "?", since U+FFFD may not
 * exist there.  The result is palloc'd.
 */
char *
http_body_sanitize(const char *buf, size_t len, size_t *out_len)
{
	int			encoding = GetDatabaseEncoding();
	bool		escape = encoding != PG_UTF8 && encoding != PG_SQL_ASCII;
	StringInfoData out;
	size_t		i = 0;

	if (!escape && pg_encoding_verifymbstr(PG_UTF8, buf, (int) len) == (int) len)
	{
		*out_len = len;
		return pnstrdup(buf, len);
	}
	initStringInfo(&out);
	while (i < len)
	{
		const unsigned char *c = (const unsigned char *) buf + i;
		int			n = pg_utf_mblen(c);

		if (*c != 0 && *c < 0x80)
			appendStringInfoChar(&out, (char) *c);
		else if (*c == 0 || (size_t) n > len - i || !pg_utf8_islegal(c, n))
		{
			appendStringInfoString(&out, escape ? "?" : "\xEF\xBF\xBD");
			n = 1;
		}
		else if (!escape)
			appendBinaryStringInfo(&out, (const char *) c, n);
		else
		{
			pg_wchar	cp = utf8_to_unicode(c);

			if (cp > 0xFFFF)
				appendStringInfo(&out, "\\u%04x\\u%04x",
								 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF));
			else
				appendStringInfo(&out, "\\u%04x", cp);
		}
		i += n;
	}
	*out_len = out.len;
	return out.data;
}
