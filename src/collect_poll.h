/*-------------------------------------------------------------------------
 *
 * collect_poll.h
 *	  What the vendor crawls (collect_fivetran.c, collect_airbyte.c) share
 *	  with the poll machinery in collect.c: the poll's state, steps that run
 *	  one statement in their own (sub)transaction, and requests to the
 *	  account's API.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_COLLECT_POLL_H
#define SYNCOPT_COLLECT_POLL_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/timestamp.h"

#include "collect.h"
#include "http.h"
#include "vendor.h"

/* The state of one poll; everything lives in mcxt, which survives commits. */
typedef struct Poll
{
	int64		account_id;
	bool		own_transactions;
	MemoryContext mcxt;
	VendorAccount acct;			/* strings in mcxt; secrets wiped at the end */
	bool		has_jobs_cursor;
	TimestampTz jobs_cursor;
	TimestampTz new_jobs_cursor;	/* 0: keep the old one */
	TimestampTz started_at;
	List	   *endpoints;
	int			rate_limit_remaining;
	TimestampTz retry_at;		/* 0: none */
	const char *stopped;		/* rate_limited / budget_wait, or NULL */
	bool		any_error;
	bool		any_success;
}			Poll;

/* What a page step reports: rows changed, items, ids on it, next cursor. */
typedef struct PageResult
{
	int			touched;
	int			items;
	List	   *ids;
	char	   *next_cursor;
}			PageResult;

/* Copies results out of a step's SPI result. */
typedef void (*StepReader) (Poll *poll, void *arg);

extern CollectEndpoint *poll_endpoint(Poll *poll, const char *name);
extern void endpoint_error(Poll *poll, CollectEndpoint *ep, const char *fmt,...) pg_attribute_printf(3, 4);
extern bool poll_step(Poll *poll, CollectEndpoint *ep, const char *what, const char *sql,
					  int nargs, Oid *types, Datum *values, const char *nulls,
					  StepReader reader, void *arg);
extern char *step_text(Poll *poll, int col);
extern int64 step_int(int col);
extern void step_text_array(Poll *poll, int col, List **list);
extern void read_string_rows(Poll *poll, void *arg);
extern void poll_request(Poll *poll, HttpRequest *req, const char *method, char *url);
extern bool response_usable(Poll *poll, CollectEndpoint *ep, HttpRequest *req);
extern Datum text_arg(const char *value);
extern char *poll_url(Poll *poll, const char *fmt,...) pg_attribute_printf(2, 3);
extern bool mark_missing(Poll *poll, CollectEndpoint *ep, List *seen);

/* The vendor crawls. */
extern void poll_fivetran(Poll *poll);
extern void poll_airbyte(Poll *poll);

#endif							/* SYNCOPT_COLLECT_POLL_H */
