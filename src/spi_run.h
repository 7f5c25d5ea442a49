/*-------------------------------------------------------------------------
 *
 * spi_run.h
 *	  The one way syncopt's C code runs SQL: every statement with the search
 *	  path pinned, inside the caller's SPI connection (spi_run, spi_run_kept)
 *	  or as a step in a (sub)transaction of its own (spi_step and the worker
 *	  forms built on it).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_SPI_RUN_H
#define SYNCOPT_SPI_RUN_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "executor/spi.h"

/*
 * The search path of every statement: syncopt's own objects and the
 * catalog, and temporary relations last, so that no function, operator or
 * type of a schema another role can create in is ever resolved.
 */
#define SPI_RUN_SEARCH_PATH "pg_catalog, syncopt, pg_temp"

/* Flags of spi_step(). */
#define SPI_STEP_SUBTRANSACTION	0x01	/* else a transaction of its own */
#define SPI_STEP_LOG_ERROR		0x02	/* a caught error also goes to the log */

/* Sees a step's result (SPI_tuptable, SPI_processed) in the caller's memory context. */
typedef void (*SpiResultReader) (void *arg);

/* Sees one result row (of a step, or of spi_run_each), in the caller's memory context. */
typedef void (*SpiRowReader) (HeapTuple tuple, TupleDesc desc, void *arg);

extern int	spi_run(const char *sql, int nargs, Oid *types, Datum *values,
					const char *nulls, bool read_only);
extern uint64 spi_run_each(const char *sql, int nargs, Oid *types, Datum *values,
						   const char *nulls, SpiRowReader reader, void *arg);
extern int	spi_run_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
						 Datum *values, const char *nulls, bool read_only);
extern bool spi_step(int flags, const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls, SpiResultReader reader, void *arg,
					 ErrorData **error);
extern bool spi_worker_step(const char *sql, int nargs, Oid *types, Datum *values,
							const char *nulls, SpiRowReader reader, void *arg);
extern int64 spi_worker_int8(const char *sql, int64 if_null);
extern Datum spi_array(Datum *elems, bool *nulls, int n, Oid elemtype);

#endif							/* SYNCOPT_SPI_RUN_H */
