/*-------------------------------------------------------------------------
 *
 * json_try.c
 *	  Parsing text as JSON without raising an error.
 *
 * The Platform Connector's message_data is text, and a few rows in real
 * logs are not JSON.  Those rows must be skipped and counted, not abort the
 * whole read, and PostgreSQL 15 has no soft-error input functions: so the
 * text is first checked with the JSON lexer, which reports problems as a
 * return code, and only valid text is converted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/jsonapi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "json_try.h"
#include "pg_compat.h"

PG_FUNCTION_INFO_V1(syncopt_try_jsonb);

/* The text as jsonb, or NULL when it is not valid JSON. */
Jsonb *
json_try_parse(const char *text)
{
	char	   *json = pstrdup(text);
	JsonLexContext *lex;
	bool		valid;

	/*
	 * With de-escaping on, the lexer also reports what jsonb_in would refuse
	 * (\u0000, escapes the database encoding cannot hold).
	 */
	lex = makeJsonLexContextCstringLen(NULL, json, strlen(json),
									   GetDatabaseEncoding(), true);
	valid = (pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS);
	freeJsonLexContext(lex);
	if (!valid)
		return NULL;
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(json)));
}

/* syncopt.try_jsonb(text): the value as jsonb, or NULL when it is not JSON. */
Datum
syncopt_try_jsonb(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = json_try_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)));

	if (jb == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(jb);
}
