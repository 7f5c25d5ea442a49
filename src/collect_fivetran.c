/*-------------------------------------------------------------------------
 *
 * collect_fivetran.c
 *	  The Fivetran crawl of a poll: groups and their connections with cursor
 *	  paging (each item the whole connection object), then the schema config
 *	  of the connections that succeeded since it was read, within the rate
 *	  budget, then the full column lists of the contracted tables whose
 *	  contracted columns the schema config does not list.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "collect_poll.h"
#include "syncopt.h"

/* Page size: Fivetran's maximum. */
#define FIVETRAN_PAGE_LIMIT 1000

/* Schema config requests sent per batch, bounding memory. */
#define DETAIL_BATCH 200

/*
 * Column lists read per poll: Fivetran counts them as source-interaction
 * requests, limited to 25 a minute on trial accounts (500 otherwise).
 */
#define COLUMN_TABLES_PER_POLL 20

/* Reader of collect_fivetran_groups_page(): ids appended, next cursor kept. */
static void
read_groups_page(Poll *poll, void *arg)
{
	PageResult *page = (PageResult *) arg;

	step_text_array(poll, 1, &page->ids);
	page->next_cursor = step_text(poll, 2);
}

/* Fivetran: every group, then every connection of every group. */
static bool
fivetran_list_groups(Poll *poll, List **groups)
{
	CollectEndpoint *ep = poll_endpoint(poll, "groups");
	PageResult	page = {0};

	do
	{
		HttpRequest req;
		Oid			types[1] = {TEXTOID};
		Datum		args[1];
		char	   *cursor = page.next_cursor;

		poll_request(poll, &req, "GET",
					 cursor ? poll_url(poll, "/v1/groups?limit=%d&cursor=%s", FIVETRAN_PAGE_LIMIT,
									   http_escape(cursor))
					 : poll_url(poll, "/v1/groups?limit=%d", FIVETRAN_PAGE_LIMIT));
		http_execute(&req, 1);
		if (!response_usable(poll, ep, &req))
			return false;
		args[0] = text_arg(req.response);
		if (!poll_step(poll, ep, psprintf("page %d of /v1/groups", ep->pages + 1),
					   "SELECT group_ids, next_cursor FROM syncopt.collect_fivetran_groups_page($1)",
					   1, types, args, NULL, read_groups_page, &page))
			return false;
		ep->pages++;
	} while (page.next_cursor != NULL && poll->stopped == NULL);
	*groups = page.ids;
	return poll->stopped == NULL;
}

/* Where one group's connection listing is: its id and the next cursor. */
typedef struct GroupPage
{
	char	   *group_id;
	char	   *cursor;
}			GroupPage;

/* Reader of collect_fivetran_connections_page(). */
static void
read_connections_page(Poll *poll, void *arg)
{
	PageResult *page = (PageResult *) arg;

	page->touched = (int) step_int(1);
	step_text_array(poll, 2, &page->ids);
	page->next_cursor = step_text(poll, 3);
}

/*
 * The connections of all groups, the first pages of every group requested
 * together, then each group's next page, until no cursor is left.
 */
static bool
fivetran_list_connections(Poll *poll, List *groups)
{
	CollectEndpoint *ep = poll_endpoint(poll, "connections");
	List	   *frontier = NIL;
	List	   *seen = NIL;
	bool		complete = true;
	ListCell   *lc;

	foreach(lc, groups)
	{
		GroupPage  *gp = MemoryContextAllocZero(poll->mcxt, sizeof(GroupPage));

		gp->group_id = lfirst(lc);
		frontier = lappend(frontier, gp);
	}
	while (frontier != NIL && poll->stopped == NULL)
	{
		int			n = list_length(frontier);
		HttpRequest *reqs = palloc0(sizeof(HttpRequest) * n);
		List	   *next = NIL;
		int			i = 0;

		foreach(lc, frontier)
		{
			GroupPage  *gp = lfirst(lc);
			char	   *gid = http_escape(gp->group_id);

			poll_request(poll, &reqs[i++], "GET",
						 gp->cursor ?
						 poll_url(poll, "/v1/groups/%s/connections?limit=%d&cursor=%s", gid,
								  FIVETRAN_PAGE_LIMIT, http_escape(gp->cursor)) :
						 poll_url(poll, "/v1/groups/%s/connections?limit=%d", gid, FIVETRAN_PAGE_LIMIT));
		}
		http_execute(reqs, n);
		i = 0;
		foreach(lc, frontier)
		{
			GroupPage  *gp = lfirst(lc);
			HttpRequest *req = &reqs[i++];
			Oid			types[2] = {INT8OID, TEXTOID};
			Datum		args[2];
			PageResult	page = {.ids = seen};

			if (!response_usable(poll, ep, req))
			{
				complete = false;
				continue;
			}
			args[0] = Int64GetDatum(poll->account_id);
			args[1] = text_arg(req->response);
			if (!poll_step(poll, ep, psprintf("a page of /v1/groups/%s/connections", gp->group_id),
						   "SELECT touched, ids, next_cursor FROM syncopt.collect_fivetran_connections_page($1, $2)",
						   2, types, args, NULL, read_connections_page, &page))
			{
				complete = false;
				continue;
			}
			seen = page.ids;
			ep->pages++;
			ep->rows += page.touched;
			if (page.next_cursor != NULL)
			{
				GroupPage  *more = MemoryContextAllocZero(poll->mcxt, sizeof(GroupPage));

				more->group_id = gp->group_id;
				more->cursor = page.next_cursor;
				next = lappend(next, more);
			}
		}
		frontier = next;
	}
	if (complete && poll->stopped == NULL)
		return mark_missing(poll, ep, seen);
	return false;
}

/* Reader: first column of the first row as an int, into *(int *) arg. */
static void
read_int(Poll *poll, void *arg)
{
	*(int *) arg = (int) step_int(1);
}

/*
 * Schema configs read in one poll: at most this share (a divisor) of the
 * budget the vendor reports left beyond syncopt.rate_limit_reserve, so a
 * first poll of a large account, or a fleet that syncs more often than it
 * is polled, never spends the account's whole hourly budget (20,000
 * requests) at once: approved actions and the next polls keep the rest.
 */
#define SCHEMA_BUDGET_SHARE 2

/*
 * Fivetran: the schema config of every connection
 * syncopt.collect_fivetran_schema_targets names, DETAIL_BATCH requests at a
 * time.  Their details are not fetched: each listing item is already the
 * whole connection object.  A 404 (the connection went away, or has no
 * schema config) is recorded as read, so it is not asked again until the
 * connection succeeds again.
 */
static void
fivetran_fetch_schemas(Poll *poll)
{
	CollectEndpoint *ep = poll_endpoint(poll, "schemas");
	List	   *targets = NIL;
	Oid			target_types[2] = {INT8OID, INT4OID};
	Datum		target_args[2];
	char		target_nulls[2] = "  ";
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		args[3];
	char		nulls[3] = "   ";
	int			total;

	target_args[0] = Int64GetDatum(poll->account_id);
	target_args[1] = Int32GetDatum(Max(poll->rate_limit_remaining - syncopt_rate_limit_reserve, 0) /
								   SCHEMA_BUDGET_SHARE);
	/* No X-Rate-Limit-Remaining seen: the vendor states no budget, so no cap. */
	target_nulls[1] = poll->rate_limit_remaining >= 0 ? ' ' : 'n';
	if (!poll_step(poll, ep, "choosing connections",
				   "SELECT syncopt.collect_fivetran_schema_targets($1, $2)", 2, target_types, target_args,
				   target_nulls, read_string_rows, &targets))
		return;
	args[0] = Int64GetDatum(poll->account_id);
	total = list_length(targets);
	for (int start = 0; start < total && poll->stopped == NULL; start += DETAIL_BATCH)
	{
		int			n = Min(DETAIL_BATCH, total - start);
		HttpRequest *reqs = palloc0(sizeof(HttpRequest) * n);

		for (int i = 0; i < n; i++)
			poll_request(poll, &reqs[i], "GET",
						 poll_url(poll, "/v1/connections/%s/schemas", http_escape(list_nth(targets, start + i))));
		http_execute(reqs, n);
		for (int i = 0; i < n; i++)
		{
			char	   *external_id = list_nth(targets, start + i);
			bool		gone = reqs[i].failure == HTTP_OK && reqs[i].status == 404;
			int			touched = 0;

			if (gone)
				ep->requests += reqs[i].attempts;
			else if (!response_usable(poll, ep, &reqs[i]))
				continue;
			args[1] = text_arg(external_id);
			args[2] = gone ? (Datum) 0 : text_arg(reqs[i].response);
			nulls[2] = gone ? 'n' : ' ';
			if (!poll_step(poll, ep, psprintf("connection %s", external_id),
						   "SELECT syncopt.collect_fivetran_schema_read($1, $2, $3)", 3, types, args, nulls,
						   read_int, &touched))
				continue;
			ep->pages++;
			ep->rows += touched;
		}
		pfree(reqs);
	}
}

/*
 * Fivetran: the full column list (GET .../schemas/{schema}/tables/{table}/columns)
 * of the tables syncopt.collect_fivetran_column_targets names, so that
 * schema_drift() can tell a contracted column that is gone from one the
 * schema config merely does not list.  A table the vendor does not find
 * (404) is left for the next poll.
 */
static void
fivetran_fetch_columns(Poll *poll)
{
	CollectEndpoint *ep = poll_endpoint(poll, "columns");
	List	   *targets = NIL;	/* external id, schema, table, ... */
	Oid			target_types[2] = {INT8OID, INT4OID};
	Datum		target_args[2];
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];
	HttpRequest *reqs;
	int			n;

	target_args[0] = Int64GetDatum(poll->account_id);
	target_args[1] = Int32GetDatum(COLUMN_TABLES_PER_POLL);
	if (!poll_step(poll, ep, "choosing tables",
				   "SELECT u.v FROM syncopt.collect_fivetran_column_targets($1, $2) WITH ORDINALITY t(e, s, tb, n),"
				   " unnest(ARRAY[t.e, t.s, t.tb]) WITH ORDINALITY u(v, k) ORDER BY t.n, u.k",
				   2, target_types, target_args, NULL, read_string_rows, &targets))
		return;
	args[0] = Int64GetDatum(poll->account_id);
	n = list_length(targets) / 3;
	if (n == 0)
		return;
	reqs = palloc0(sizeof(HttpRequest) * n);
	for (int i = 0; i < n; i++)
		poll_request(poll, &reqs[i], "GET",
					 poll_url(poll, "/v1/connections/%s/schemas/%s/tables/%s/columns",
							  http_escape(list_nth(targets, 3 * i)), http_escape(list_nth(targets, 3 * i + 1)),
							  http_escape(list_nth(targets, 3 * i + 2))));
	http_execute(reqs, n);
	for (int i = 0; i < n; i++)
	{
		int			touched = 0;

		if (reqs[i].failure == HTTP_OK && reqs[i].status == 404)
		{
			ep->requests += reqs[i].attempts;
			continue;
		}
		if (!response_usable(poll, ep, &reqs[i]))
			continue;
		for (int k = 0; k < 3; k++)
			args[1 + k] = text_arg(list_nth(targets, 3 * i + k));
		args[4] = text_arg(reqs[i].response);
		if (!poll_step(poll, ep, psprintf("columns of %s.%s of connection %s", (char *) list_nth(targets, 3 * i + 1),
										  (char *) list_nth(targets, 3 * i + 2), (char *) list_nth(targets, 3 * i)),
					   "SELECT syncopt.ingest_fivetran_columns($1, $2, $3, $4, $5::jsonb)", 5, types, args, NULL,
					   read_int, &touched))
			continue;
		ep->pages++;
		ep->rows += touched;
	}
	pfree(reqs);
}

/* Fivetran: groups, connections, the schemas that changed, column lists. */
void
poll_fivetran(Poll *poll)
{
	List	   *groups = NIL;

	if (!fivetran_list_groups(poll, &groups))
		return;
	fivetran_list_connections(poll, groups);
	if (poll->stopped != NULL)
		return;
	fivetran_fetch_schemas(poll);
	if (poll->stopped != NULL)
		return;
	fivetran_fetch_columns(poll);
}
