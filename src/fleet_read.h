/*-------------------------------------------------------------------------
 *
 * fleet_read.h
 *	  What the fleet loader's files share (fleet.c reads the connectors and
 *	  the graph, fleet_windows.c the load windows and calendar events): the
 *	  loading state, the query runner and the column readers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_FLEET_READ_H
#define SYNCOPT_FLEET_READ_H

#include <math.h>

#include "access/htup_details.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "analytics.h"
#include "spi_run.h"

/* The widest loader query (connectors_sql). */
#define MAX_COLS		26

/* One row of a loader query, its columns deformed once. */
typedef struct Row
{
	Datum		values[MAX_COLS];
	bool		isnull[MAX_COLS];
} Row;

/* Edges read from lineage or sync_order, as node indexes. */
typedef struct EdgeList
{
	int			n;
	int			cap;
	int		   *from;
	int		   *to;
} EdgeList;

/* What the row readers fill while a loader query streams its rows. */
typedef struct Loading
{
	Fleet	   *fleet;
	bool		planning;		/* read what only plan_fleet() needs */
	MemoryContext scratch;		/* one row's temporaries, reset after it */
	MemoryContext predicting;	/* FLEET_PREDICT: a prediction's temporaries */
	Row			row;
	int			cap;			/* room in the fleet array being filled */
	EdgeList	conn_edges;		/* lineage: connector -> asset */
	EdgeList	asset_edges;	/* lineage: asset -> asset */
	EdgeList	order_edges;	/* sync_order: before -> after */
} Loading;

extern void fleet_run_query(const char *sql, double horizon_s, SpiRowReader reader, Loading *load);
extern Row *fleet_deform(HeapTuple tuple, TupleDesc desc, Loading *load);
extern void *fleet_grow(void *array, int *cap, int n, Size size);
extern void fleet_read_windows(Loading *load, double horizon_s);

/* Column n (1-based) of a row; isnull set. */
static inline Datum
col(const Row *r, int n, bool *isnull)
{
	*isnull = r->isnull[n - 1];
	return r->values[n - 1];
}

/* Text column, copied; NULL when SQL NULL. */
static inline char *
col_text(const Row *r, int n)
{
	bool		isnull;
	Datum		d = col(r, n, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* float8 column; NaN when SQL NULL. */
static inline double
col_double(const Row *r, int n)
{
	bool		isnull;
	Datum		d = col(r, n, &isnull);

	return isnull ? NAN : DatumGetFloat8(d);
}

/* int4 column; 0 when SQL NULL. */
static inline int
col_int(const Row *r, int n)
{
	bool		isnull;
	Datum		d = col(r, n, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* int8 column; 0 when SQL NULL. */
static inline int64
col_int64(const Row *r, int n)
{
	bool		isnull;
	Datum		d = col(r, n, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* timestamptz column; NO_TIME when SQL NULL. */
static inline TimestampTz
col_time(const Row *r, int n)
{
	bool		isnull;
	Datum		d = col(r, n, &isnull);

	return isnull ? NO_TIME : DatumGetTimestampTz(d);
}

#endif							/* SYNCOPT_FLEET_READ_H */
