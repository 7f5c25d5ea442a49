/*-------------------------------------------------------------------------
 *
 * drift.c
 *	  syncopt.schema_drift(): each contracted connector's latest schema
 *	  snapshot against its data contract.
 *
 * Changes, and whether they break what downstream relies on:
 *	 table_removed	a contracted table is gone (breaking)
 *	 column_removed a contracted column is known gone: the table's full column
 *					list (source_columns) lacks it or has it disabled (breaking
 *					when required); a column only left unlisted by the schema
 *					config is unknown and not reported
 *	 column_retyped the delivered type differs from the contract's (breaking;
 *					the fix is the cast that restores the contract type)
 *	 column_added	a column the contract does not list, in a contracted table
 *	 table_added	a table that was not in the previous snapshot
 * Type names are compared after folding vendor and PostgreSQL synonyms
 * (int4 = integer, long = bigint, string = varchar = text, ...).  Affected
 * assets are every asset downstream of the connector through lineage.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "analytics.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_schema_drift);

/*
 * Contract columns joined to the columns known delivered (full join, per
 * contracted table), plus tables new since the previous snapshot.  A
 * snapshot nests schema, table and column names, so names with dots stay
 * whole.  A column is known delivered when the latest snapshot lists it or
 * the table's full column list (source_columns) has it enabled; known gone
 * only when that full list lacks it or has it disabled.  The schema config
 * lists only changed columns, so without a full list a column it does not
 * list is unknown and not reported.  kind: 'c' contract side present, 'o'
 * observed only, 't' new table.
 */
static const char *const drift_sql =
"WITH latest AS ("
"    SELECT DISTINCT ON (s.connector_id) s.connector_id, s.snapshot_id, s.tables"
"      FROM syncopt.schema_snapshot s"
"     WHERE s.connector_id IN (SELECT connector_id FROM syncopt.data_contract)"
"     ORDER BY s.connector_id, s.captured_at DESC, s.snapshot_id DESC),"
" previous AS ("
"    SELECT DISTINCT ON (s.connector_id) s.connector_id, s.tables"
"      FROM syncopt.schema_snapshot s JOIN latest l ON l.connector_id = s.connector_id"
"     WHERE s.snapshot_id <> l.snapshot_id"
"     ORDER BY s.connector_id, s.captured_at DESC, s.snapshot_id DESC),"
" latest_tables AS ("
"    SELECT l.connector_id, sch.key AS schema_name, t.key AS table_name, t.value AS columns"
"      FROM latest l,"
"           jsonb_each(CASE WHEN jsonb_typeof(l.tables) = 'object' THEN l.tables ELSE '{}' END) sch,"
"           jsonb_each(CASE WHEN jsonb_typeof(sch.value) = 'object' THEN sch.value ELSE '{}' END) t),"
" observed AS ("
"    SELECT t.connector_id, t.schema_name, t.table_name, c.key AS column_name, c.value AS data_type"
"      FROM latest_tables t,"
"           jsonb_each_text(CASE WHEN jsonb_typeof(t.columns) = 'object' THEN t.columns ELSE '{}' END) c"
"    UNION ALL"
"    SELECT t.connector_id, t.schema_name, t.table_name, f.key, NULL"
"      FROM latest_tables t"
"      JOIN syncopt.source_columns sc USING (connector_id, schema_name, table_name),"
"           jsonb_each(sc.columns) f"
"     WHERE f.value = 'true' AND NOT (jsonb_typeof(t.columns) = 'object' AND t.columns ? f.key)),"
" contracted AS ("
"    SELECT k.*, EXISTS (SELECT 1 FROM latest l WHERE l.connector_id = k.connector_id) AS has_snapshot,"
"           EXISTS (SELECT 1 FROM latest_tables t WHERE t.connector_id = k.connector_id"
"                      AND t.schema_name = k.schema_name AND t.table_name = k.table_name) AS table_present,"
"           EXISTS (SELECT 1 FROM syncopt.source_columns sc WHERE sc.connector_id = k.connector_id"
"                      AND sc.schema_name = k.schema_name AND sc.table_name = k.table_name"
"                      AND sc.columns -> k.column_name IS DISTINCT FROM 'true') AS column_gone"
"      FROM syncopt.data_contract k)"
"SELECT 'c', k.connector_id, k.schema_name, k.table_name, k.column_name, k.data_type, o.data_type,"
"       k.required, k.table_present, o.column_name IS NOT NULL OR NOT k.column_gone,"
"       o.column_name IS NOT NULL"
"  FROM contracted k"
"  LEFT JOIN observed o USING (connector_id, schema_name, table_name, column_name)"
" WHERE k.has_snapshot "
"UNION ALL "
"SELECT 'o', o.connector_id, o.schema_name, o.table_name, o.column_name, NULL, o.data_type,"
"       false, true, true, true"
"  FROM observed o"
" WHERE EXISTS (SELECT 1 FROM syncopt.data_contract k WHERE k.connector_id = o.connector_id"
"                  AND k.schema_name = o.schema_name AND k.table_name = o.table_name)"
"   AND NOT EXISTS (SELECT 1 FROM syncopt.data_contract k WHERE k.connector_id = o.connector_id"
"                  AND k.schema_name = o.schema_name AND k.table_name = o.table_name"
"                  AND k.column_name = o.column_name) "
"UNION ALL "
"SELECT 't', t.connector_id, t.schema_name, t.table_name, NULL, NULL, NULL, false, true, true, true"
"  FROM latest_tables t JOIN previous p ON p.connector_id = t.connector_id"
" WHERE p.tables #> ARRAY[t.schema_name, t.table_name] IS NULL "
"ORDER BY 2, 3, 4, 1, 5";

/* Fold a type name to a canonical spelling so synonyms compare equal. */
static char *
canonical_type(const char *type)
{
	static const char *const synonyms[][2] = {
		{"int", "integer"}, {"int4", "integer"}, {"long", "bigint"}, {"int8", "bigint"},
		{"int2", "smallint"}, {"short", "smallint"}, {"float8", "double precision"},
		{"double", "double precision"}, {"float", "double precision"}, {"float4", "real"},
		{"string", "text"}, {"varchar", "text"}, {"character varying", "text"},
		{"bool", "boolean"}, {"decimal", "numeric"}, {"bigdecimal", "numeric"},
		{"timestamp with time zone", "timestamptz"}, {"utc_datetime", "timestamptz"},
		{"instant", "timestamptz"}, {"timestamp without time zone", "timestamp"},
		{"naive_datetime", "timestamp"}, {"localdate", "date"}, {"local_date", "date"},
		{"json", "jsonb"},
	};
	char	   *folded = str_tolower(type, strlen(type), DEFAULT_COLLATION_OID);
	char	   *paren = strchr(folded, '(');

	/* varchar(255) and numeric(10,2) compare by their base type. */
	if (paren)
		*paren = '\0';
	folded = pstrdup(folded);
	while (*folded == ' ')
		folded++;
	for (int n = strlen(folded); n > 0 && folded[n - 1] == ' '; n--)
		folded[n - 1] = '\0';
	for (int i = 0; i < (int) lengthof(synonyms); i++)
		if (strcmp(folded, synonyms[i][0]) == 0)
			return pstrdup(synonyms[i][1]);
	return folded;
}

/* Names of every asset downstream of connector ci, as a text[] Datum. */
static Datum
affected_assets(const Fleet *fleet, int ci)
{
	Datum	   *names = palloc(sizeof(Datum) * Max(fleet->nasset, 1));
	int			n = 0;

	if (ci >= 0)
	{
		GraphWalk	walk;

		graph_walk_init(fleet, &walk);
		n = graph_downstream(fleet, ci, &walk);
		for (int k = 0; k < n; k++)
			names[k] = CStringGetTextDatum(fleet->asset[walk.down[k]].name);
		pfree(walk.seen);
		pfree(walk.stack);
		pfree(walk.down);
	}
	return PointerGetDatum(construct_array(names, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* syncopt.schema_drift(): one row per change. */
Datum
syncopt_schema_drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext mcxt = CurrentMemoryContext;
	Fleet	   *fleet = NULL;
	SPITupleTable *changes;
	uint64		nchanges;
	int64		removed_connector = 0;
	char	   *removed_schema = NULL;
	char	   *removed_table = NULL;

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run(drift_sql, 0, NULL, NULL, NULL, true);
	changes = SPI_tuptable;
	nchanges = SPI_processed;

	/*
	 * The affected assets need only the lineage and sync_order: no
	 * predictions, no due times, no probe of the runs, and nothing read at
	 * all when there is no change to report.
	 */
	if (nchanges > 0)
		fleet = fleet_load(GetCurrentTransactionStartTimestamp(), 0, FLEET_GRAPH | FLEET_NOT_PLANNING);
	for (uint64 i = 0; i < nchanges; i++)
	{
		HeapTuple	tup = changes->vals[i];
		TupleDesc	desc = changes->tupdesc;
		char	   *kind = SPI_getvalue(tup, desc, 1);
		bool		isnull;
		int64		connector_id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));
		char	   *schema = SPI_getvalue(tup, desc, 3);
		char	   *table = SPI_getvalue(tup, desc, 4);
		char	   *column = SPI_getvalue(tup, desc, 5);
		char	   *expected = SPI_getvalue(tup, desc, 6);
		char	   *observed = SPI_getvalue(tup, desc, 7);
		bool		required = DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull));
		bool		table_present = DatumGetBool(SPI_getbinval(tup, desc, 9, &isnull));
		bool		column_maybe_present = DatumGetBool(SPI_getbinval(tup, desc, 10, &isnull));
		bool		column_listed = DatumGetBool(SPI_getbinval(tup, desc, 11, &isnull));
		const char *change;
		bool		breaking;
		char	   *fix;
		char	   *reason;
		Datum		values[11];
		bool		nulls[11] = {0};

		if (kind[0] == 'c' && !table_present)
		{
			/* One row per removed table, not one per contracted column. */
			if (removed_connector == connector_id && removed_schema &&
				strcmp(removed_schema, schema) == 0 && strcmp(removed_table, table) == 0)
				continue;
			removed_connector = connector_id;
			removed_schema = schema;
			removed_table = table;
			change = "table_removed";
			breaking = true;
			column = NULL;
			expected = NULL;
			fix = psprintf("Re-enable %s.%s in the connector's schema, or drop it from the contract and the models that read it.",
						   schema, table);
			reason = psprintf("the contract lists %s.%s but the latest snapshot has no such table", schema, table);
		}
		else if (kind[0] == 'c' && !column_maybe_present)
		{
			change = "column_removed";
			breaking = required;
			fix = required
				? psprintf("Restore %s in the source or connector, or mark it not required once downstream models stop reading it.", column)
				: psprintf("Nothing required: %s is optional in the contract.", column);
			reason = psprintf("%s.%s.%s is in the contract%s but the table's full column list does not deliver it",
							  schema, table, column, required ? " as required" : "");
		}
		else if (kind[0] == 'c')
		{
			/* Unlisted but not known gone, or listed with a matching type. */
			if (!column_listed || expected == NULL || observed == NULL ||
				strcmp(canonical_type(expected), canonical_type(observed)) == 0)
				continue;
			change = "column_retyped";
			breaking = true;
			fix = psprintf("SELECT %s::%s AS %s FROM %s.%s  -- cast back to the contract type in the staging model",
						   quote_identifier(column), expected, quote_identifier(column),
						   quote_identifier(schema), quote_identifier(table));
			reason = psprintf("%s.%s.%s arrives as %s but the contract says %s",
							  schema, table, column, observed, expected);
		}
		else if (kind[0] == 'o')
		{
			change = "column_added";
			breaking = false;
			fix = psprintf("Nothing breaks; add %s to the contract if a model should rely on it.", column);
			reason = psprintf("%s.%s has a new column %s%s%s%s that the contract does not list",
							  schema, table, column, observed ? " (" : "", observed ? observed : "",
							  observed ? ")" : "");
		}
		else
		{
			change = "table_added";
			breaking = false;
			column = NULL;
			fix = psprintf("Nothing breaks; add %s.%s to the contract if a model should rely on it.", schema, table);
			reason = psprintf("%s.%s appeared since the previous snapshot", schema, table);
		}

		values[0] = Int64GetDatum(connector_id);
		values[1] = CStringGetTextDatum(schema);
		values[2] = CStringGetTextDatum(table);
		nulls[3] = column == NULL;
		if (column)
			values[3] = CStringGetTextDatum(column);
		values[4] = CStringGetTextDatum(change);
		nulls[5] = expected == NULL;
		if (expected)
			values[5] = CStringGetTextDatum(expected);
		nulls[6] = observed == NULL;
		if (!nulls[6])
			values[6] = CStringGetTextDatum(observed);
		values[7] = BoolGetDatum(breaking);
		values[8] = affected_assets(fleet, fleet_connector_index(fleet, connector_id));
		values[9] = CStringGetTextDatum(fix);
		values[10] = CStringGetTextDatum(reason);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	PG_RETURN_NULL();
}
