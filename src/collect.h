/*-------------------------------------------------------------------------
 *
 * collect.h
 *	  One poll of a vendor account: requests through http.c, each response
 *	  ingested by the SQL functions in its own (sub)transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_COLLECT_H
#define SYNCOPT_COLLECT_H

#include "postgres.h"

#include "nodes/pg_list.h"

/* What one endpoint of a poll did. */
typedef struct CollectEndpoint
{
	const char *name;			/* groups, connections, details, schemas, token, jobs */
	int			pages;
	int			rows;
	int			requests;
	char	   *error;			/* first error, or NULL */
}			CollectEndpoint;

/*
 * Poll the account.  With own_transactions (the worker), every step commits
 * on its own and no transaction is open during HTTP; otherwise (collect()
 * called from SQL) each step is a subtransaction of the caller's.  The
 * outcome is recorded in syncopt.collector_state either way.  Returns a
 * list of CollectEndpoint.
 */
extern List *collect_account(int64 account_id, bool own_transactions);

#endif							/* SYNCOPT_COLLECT_H */
