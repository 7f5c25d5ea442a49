/*-------------------------------------------------------------------------
 *
 * executor.c
 *	  The executor worker's pass.
 *
 * The executor wakes when an approval commits (see wake.c) and otherwise on
 * a safety poll of syncopt.executor_poll_interval.  Each pass first marks
 * proposals whose approval window closed as expired, so that nobody can
 * approve them and dashboards stop listing them as pending.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "worker.h"

/* Expire stale proposals; returns the delay until the safety poll. */
long
executor_pass(bool woken)
{
	int64		expired = worker_query_int8("SELECT syncopt.expire_decisions()", 0);

	if (expired > 0)
		ereport(DEBUG1,
				(errmsg("syncopt executor: %lld proposals expired", (long long) expired)));
	return syncopt_executor_poll_interval_s * 1000L;
}
