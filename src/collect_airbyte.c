/*-------------------------------------------------------------------------
 *
 * collect_airbyte.c
 *	  The Airbyte crawl of a poll: an application token, connections, then
 *	  the jobs updated since the last poll, with offset paging until an
 *	  empty page.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"

#include "collect_poll.h"
#include "syncopt.h"

/* Page size: Airbyte's maximum. */
#define AIRBYTE_PAGE_LIMIT 100

/* Airbyte jobs updated this long before a poll began are read again. */
#define JOBS_CURSOR_OVERLAP_MS (5 * 60 * 1000L)

/*
 * Airbyte: a bearer token for the account (vendor.c caches it), the token
 * request counted on the token endpoint when one was made.
 */
static bool
airbyte_token(Poll *poll, CollectEndpoint *ep, bool renew)
{
	HttpRequest req;

	switch (vendor_airbyte_token(&poll->acct, renew, &req))
	{
		case VENDOR_TOKEN_CACHED:
			return true;
		case VENDOR_TOKEN_ISSUED:
			(void) response_usable(poll, ep, &req);
			ep->pages++;
			return true;
		case VENDOR_TOKEN_HTTP_FAILED:
			(void) response_usable(poll, ep, &req);
			return false;
		case VENDOR_TOKEN_BAD_REPLY:
			ep->requests += req.attempts;
			endpoint_error(poll, ep, "POST /applications/token: the reply has no access_token and expires_in");
			return false;
	}
	return false;
}

/* Reader of collect_airbyte_page(): touched, items, ids. */
static void
read_airbyte_page(Poll *poll, void *arg)
{
	PageResult *page = (PageResult *) arg;

	page->touched = (int) step_int(1);
	page->items = (int) step_int(2);
	step_text_array(poll, 3, &page->ids);
}

/*
 * Airbyte: one offset-paged listing (connections or jobs) until an empty
 * page.  A 401 renews the token once, in case it expired early.  Returns
 * whether the listing completed; *seen collects connection ids.
 */
static bool
airbyte_list(Poll *poll, CollectEndpoint *ep, CollectEndpoint *token_ep, const char *kind,
			 const char *query, List **seen)
{
	int			offset = 0;
	bool		renewed = false;

	while (poll->stopped == NULL)
	{
		HttpRequest req;
		Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
		Datum		args[3];
		PageResult	page = {.ids = seen ? *seen : NIL};

		poll_request(poll, &req, "GET",
					 poll_url(poll, "/%s?limit=%d&offset=%d%s", kind, AIRBYTE_PAGE_LIMIT, offset, query));
		http_execute(&req, 1);
		if (req.failure == HTTP_OK && req.status == 401 && !renewed)
		{
			ep->requests += req.attempts;
			renewed = true;
			if (!airbyte_token(poll, token_ep, true))
				return false;
			continue;
		}
		if (!response_usable(poll, ep, &req))
			return false;
		args[0] = Int64GetDatum(poll->account_id);
		args[1] = text_arg(kind);
		args[2] = text_arg(req.response);
		if (!poll_step(poll, ep, psprintf("page at offset %d of /%s", offset, kind),
					   "SELECT touched, items, ids FROM syncopt.collect_airbyte_page($1, $2, $3)",
					   3, types, args, NULL, read_airbyte_page, &page))
			return false;
		if (seen)
			*seen = page.ids;
		ep->pages++;
		ep->rows += page.touched;
		if (page.items == 0)
			return true;
		offset += page.items;
	}
	return false;
}

/* Airbyte: token, connections, then jobs updated since the last poll (or the history kept). */
void
poll_airbyte(Poll *poll)
{
	CollectEndpoint *token_ep = poll_endpoint(poll, "token");
	CollectEndpoint *conn_ep;
	CollectEndpoint *jobs_ep;
	List	   *seen = NIL;
	char	   *query = "&orderBy=updatedAt%7CASC";

	if (!airbyte_token(poll, token_ep, false))
		return;
	conn_ep = poll_endpoint(poll, "connections");
	if (airbyte_list(poll, conn_ep, token_ep, "connections", "", &seen))
		mark_missing(poll, conn_ep, seen);
	if (poll->stopped != NULL)
		return;

	jobs_ep = poll_endpoint(poll, "jobs");

	/*
	 * Jobs since the last poll; on a first poll, since the history kept
	 * (syncopt.history_retention): older runs would be purged at once, and
	 * a workspace's whole history can be thousands of pages.
	 */
	if (poll->has_jobs_cursor || syncopt_history_retention_minutes > 0)
	{
		TimestampTz since = poll->has_jobs_cursor ? poll->jobs_cursor :
			TimestampTzPlusMilliseconds(poll->started_at, -(int64) syncopt_history_retention_minutes * 60 * 1000);
		struct pg_tm tm;
		fsec_t		fsec;

		if (timestamp2tm(since, NULL, &tm, &fsec, NULL, NULL) == 0)
			query = psprintf("%s&updatedAtStart=%04d-%02d-%02dT%02d:%02d:%02dZ", query,
							 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	}
	if (airbyte_list(poll, jobs_ep, token_ep, "jobs", query, NULL))
		poll->new_jobs_cursor = TimestampTzPlusMilliseconds(poll->started_at, -JOBS_CURSOR_OVERLAP_MS);

	/*
	 * Jobs pages leave the runs they finish in stats_backlog: fold them once
	 * now, whether or not the crawl completed (what it committed stays).  A
	 * backlog left by a stop or a crash is folded by the next poll.
	 */
	if (poll->stopped == NULL)
		poll_step(poll, jobs_ep, "folding new runs into connector_stats",
				  "SELECT syncopt.fold_stats_backlog()", 0, NULL, NULL, NULL, NULL, NULL);
}
