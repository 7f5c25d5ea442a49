/*-------------------------------------------------------------------------
 *
 * notify.c
 *	  Delivering alerts to notification channels (Slack incoming webhooks,
 *	  generic webhooks), as part of the executor's pass.
 *
 * The queue and the bodies are SQL's (src/sql/76_notify.sql); here the
 * claimed deliveries are POSTed concurrently with no transaction open and
 * each outcome is recorded on its own.  A channel URL is a secret: error
 * texts name the channel, never the URL.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "http.h"
#include "spi_run.h"
#include "worker.h"

/* Deliveries claimed per pass. */
#define DELIVERY_BATCH 100

/* One claimed delivery. */
typedef struct Delivery
{
	int64		alert_id;
	int64		channel_id;
	char	   *channel;
	char	   *url;
	char	   *body;
}			Delivery;

typedef struct DeliveryBatch
{
	Delivery	items[DELIVERY_BATCH];
	int			n;
}			DeliveryBatch;

/* Reader of notification_claim(). */
static void
read_delivery(HeapTuple tuple, TupleDesc desc, void *arg)
{
	DeliveryBatch *batch = arg;
	Delivery   *d = &batch->items[batch->n++];
	bool		isnull;

	d->alert_id = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	d->channel_id = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	d->channel = SPI_getvalue(tuple, desc, 3);
	d->url = SPI_getvalue(tuple, desc, 4);
	d->body = SPI_getvalue(tuple, desc, 5);
}

/* Deliver due notifications; returns the delay until the next one is due. */
long
notify_pass(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	DeliveryBatch *batch = palloc0(sizeof(DeliveryBatch));
	HttpRequest *reqs;
	Oid			types[4] = {INT8OID, INT8OID, INT4OID, TEXTOID};
	Datum		limit[1] = {Int32GetDatum(DELIVERY_BATCH)};
	Oid			limit_type[1] = {INT4OID};
	int64		due_ms;

	if (!spi_worker_step("SELECT * FROM syncopt.notification_claim($1)", 1, limit_type, limit, NULL,
						 read_delivery, batch))
		return syncopt_executor_poll_interval_s * 1000L;

	reqs = palloc0(sizeof(HttpRequest) * Max(batch->n, 1));
	for (int i = 0; i < batch->n; i++)
	{
		reqs[i].method = "POST";
		reqs[i].url = batch->items[i].url;
		reqs[i].body = batch->items[i].body;
		reqs[i].auth = HTTP_AUTH_NONE;
	}
	if (batch->n > 0)
		http_execute(reqs, batch->n);

	for (int i = 0; i < batch->n; i++)
	{
		Delivery   *d = &batch->items[i];
		Datum		args[4];
		char		nulls[4] = {' ', ' ', reqs[i].failure == HTTP_OK ? ' ' : 'n',
		reqs[i].failure == HTTP_OK ? 'n' : ' '};

		explicit_bzero(d->url, strlen(d->url));
		args[0] = Int64GetDatum(d->alert_id);
		args[1] = Int64GetDatum(d->channel_id);
		args[2] = Int32GetDatum((int32) reqs[i].status);
		args[3] = reqs[i].failure == HTTP_OK ? (Datum) 0 :
			CStringGetTextDatum(psprintf("channel %s: %s", d->channel, reqs[i].error));
		(void) spi_worker_step("SELECT syncopt.notification_record($1, $2, $3, $4)",
							   4, types, args, nulls, NULL, NULL);
	}
	MemoryContextSwitchTo(cxt);

	if (batch->n == DELIVERY_BATCH)
		return 0;
	/* The CASE: greatest() ignores NULL, so an empty queue would read as 0. */
	due_ms = spi_worker_int8("SELECT CASE WHEN count(*) > 0 THEN greatest(0, ceil(extract(epoch FROM"
							 " min(next_attempt_at) - clock_timestamp()) * 1000)) END::bigint"
							 " FROM syncopt.notification_delivery WHERE delivered_at IS NULL AND gave_up_at IS NULL", -1);
	MemoryContextSwitchTo(cxt);
	return due_ms >= 0 ? Max(due_ms, 10) : syncopt_executor_poll_interval_s * 1000L;
}
