/*-------------------------------------------------------------------------
 *
 * spi_plan.c
 *	  Statements prepared once per backend and kept across calls.
 *
 * The plan cache replans a kept statement when a table it reads changes
 * shape or its statistics; the functions running these statements set
 * enable_seqscan, enable_hashjoin and enable_mergejoin off, so a generic
 * plan made while the tables were small still probes their keys by index
 * once they are large.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/array.h"
#include "utils/lsyscache.h"

#include "spi_plan.h"

/* The statement *plan, preparing and keeping it on first use. */
SPIPlanPtr
spi_kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "syncopt: could not prepare \"%s\": %s",
				 sql, SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "syncopt: could not keep \"%s\"", sql);
		*plan = p;
	}
	return *plan;
}

/* A one-dimensional array of n elements of elemtype; nulls may be NULL. */
Datum
spi_array(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int16		len;
	bool		byval;
	char		align;

	get_typlenbyvalalign(elemtype, &len, &byval, &align);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, elemtype, len, byval, align));
}
