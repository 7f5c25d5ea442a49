/*-------------------------------------------------------------------------
 *
 * spi_plan.c
 *	  Statements prepared once per backend and kept across calls.
 *
 * The plan cache may keep a generic plan made while the tables were small
 * (and replans only when a table changes shape or its statistics); a
 * sequential scan or hash join chosen then would read whole tables once
 * they are large.  Kept statements therefore run with enable_seqscan,
 * enable_hashjoin and enable_mergejoin off, so that whenever they are
 * planned their key lookups are index probes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/array.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "spi_plan.h"

static const char *const probe_only_settings[] = {"enable_seqscan", "enable_hashjoin", "enable_mergejoin"};

/* The statement *plan, preparing and keeping it on first use. */
static SPIPlanPtr
kept_plan(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
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

/*
 * Run the kept statement *plan (prepared from sql on first use) with the
 * planner held to index probes; returns SPI_execute_plan's result.  The
 * settings are restored afterwards, and by the (sub)transaction's abort on
 * an error.
 */
int
spi_run_kept(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types,
			 Datum *values, const char *nulls, bool read_only)
{
	int			nestlevel = NewGUCNestLevel();
	int			rc;

	for (int i = 0; i < lengthof(probe_only_settings); i++)
		(void) set_config_option(probe_only_settings[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	rc = SPI_execute_plan(kept_plan(plan, sql, nargs, types), values, nulls, read_only, 0);
	AtEOXact_GUC(true, nestlevel);
	return rc;
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
