/*-------------------------------------------------------------------------
 *
 * collector.c
 *	  The collector worker's pass.
 *
 * Today the collector keeps history bounded: it runs the batched retention
 * purge (syncopt.purge_history) once an hour, and again at once while a
 * purge still finds a full batch, committing between batches so that a
 * large backlog never becomes one long transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "worker.h"

/* How often the retention purge runs when there is no backlog. */
#define PURGE_INTERVAL_MS (60 * 60 * 1000L)

/* Pause between purge batches while a backlog remains. */
#define PURGE_BACKLOG_MS 1000L

/* Rows per table per batch; must match purge_history's default. */
#define PURGE_BATCH_SIZE 10000

/* Run the retention purge when due; returns the delay until the next pass. */
long
collector_pass(bool woken)
{
	static TimestampTz next_purge_at = 0;
	TimestampTz now = GetCurrentTimestamp();
	int64		purged;

	if (syncopt_history_retention_minutes == 0)
		return PURGE_INTERVAL_MS;
	if (now < next_purge_at)
		return TimestampDifferenceMilliseconds(now, next_purge_at);

	purged = spi_single_int8("SELECT syncopt.purge_history()");
	if (purged > 0)
		ereport(LOG,
				(errmsg("syncopt collector: purged %lld rows older than syncopt.history_retention",
						(long long) purged)));

	if (purged >= PURGE_BATCH_SIZE)
		return PURGE_BACKLOG_MS;
	next_purge_at = TimestampTzPlusMilliseconds(now, PURGE_INTERVAL_MS);
	return PURGE_INTERVAL_MS;
}
