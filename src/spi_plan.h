/*-------------------------------------------------------------------------
 *
 * spi_plan.h
 *	  Statements prepared once per backend and kept across calls, for the
 *	  per-page ingestion paths where planning would cost more than running,
 *	  and the array parameters their set-based statements unnest.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_SPI_PLAN_H
#define SYNCOPT_SPI_PLAN_H

#include "executor/spi.h"

extern int	spi_run_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
						 Datum *values, const char *nulls, bool read_only);
extern Datum spi_array(Datum *elems, bool *nulls, int n, Oid elemtype);

#endif							/* SYNCOPT_SPI_PLAN_H */
