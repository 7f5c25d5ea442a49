/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  What kind of failure a sync had, whether retrying is safe, and what
 *	  to do: syncopt.classify_failure() and syncopt.classify_runs().
 *
 * Vendor-native fields answer first, because the vendor knows best:
 * Airbyte's failureType (config_error, system_error, transient_error,
 * refresh_schema, manual_cancellation), Fivetran's sync_state rescheduled
 * and setup_state broken/incomplete, and HTTP status codes.  Then the
 * rules of syncopt.failure_pattern, tried by priority (users add rows with
 * a lower number to override the built-in ones), matched case-insensitively
 * against the message.  An outage is put on the side Airbyte blames when
 * the message carries its failure origin.  Nothing matched is 'unknown'
 * and never retried automatically.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_classify_failure);
PG_FUNCTION_INFO_V1(syncopt_classify_runs);

/* A vendor-native code and what it means. */
typedef struct NativeCode
{
	const char *code;
	const char *category;
	bool		retryable;
	const char *remediation;
} NativeCode;

static const NativeCode native_codes[] = {
	{"config_error", "configuration", false,
	"Airbyte reports a configuration error: fix the connector's settings or credentials, then re-run."},
	{"system_error", "transient", true,
	"Airbyte reports a platform error; an automatic retry is safe."},
	{"transient_error", "transient", true,
	"Airbyte reports a transient error; an automatic retry is safe."},
	{"refresh_schema", "schema_change", false,
	"Airbyte needs the schema refreshed: review the change in the connection, then refresh and re-sync."},
	{"manual_cancellation", "unknown", false,
	"Someone cancelled the sync; nothing to fix unless it was unexpected."},
	{"rescheduled", "rate_limit", true,
	"Fivetran rescheduled the sync (usually a source quota); it resumes by itself after the reset."},
	{"broken", "configuration", false,
	"Fivetran marks the connection broken: run its setup tests in Fivetran and fix what they report."},
	{"incomplete", "configuration", false,
	"Fivetran setup is incomplete: finish the connection setup in Fivetran."},
	{"401", "credentials", false,
	"The source refused the credentials (HTTP 401): update them in the vendor UI."},
	{"403", "permission", false,
	"The source denied access (HTTP 403): grant the connector's user the missing permission."},
	{"408", "timeout", true,
	"The request timed out (HTTP 408); an automatic retry is safe."},
	{"429", "rate_limit", true,
	"The source rate-limited the sync (HTTP 429): wait for the quota to reset."},
	{"504", "timeout", true,
	"A gateway timed out (HTTP 504); an automatic retry is safe."},
};

/* A rule of syncopt.failure_pattern. */
typedef struct Pattern
{
	int64		id;
	text	   *pattern;
	char	   *vendor;			/* NULL: any */
	char	   *category;
	bool		retryable;
	char	   *remediation;
} Pattern;

typedef struct Classification
{
	const char *category;
	bool		retryable;
	const char *remediation;
	char	   *explanation;
} Classification;

/* Read the failure patterns in the order they are tried. */
static Pattern *
load_patterns(int *npatterns)
{
	MemoryContext mcxt = CurrentMemoryContext;
	Pattern    *patterns;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run("SELECT pattern_id, pattern, vendor, category, retryable, remediation"
				   "  FROM syncopt.failure_pattern ORDER BY priority, pattern_id",
				   0, NULL, NULL, NULL, true);
	MemoryContextSwitchTo(mcxt);
	*npatterns = (int) SPI_processed;
	patterns = palloc(sizeof(Pattern) * Max(*npatterns, 1));
	for (int i = 0; i < *npatterns; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		patterns[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		patterns[i].pattern = DatumGetTextPCopy(SPI_getbinval(tup, desc, 2, &isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		patterns[i].vendor = isnull ? NULL : TextDatumGetCString(d);
		patterns[i].category = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
		patterns[i].retryable = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		patterns[i].remediation = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
	return patterns;
}

/*
 * The words of message msg that pattern matched (case-insensitively), cut
 * to 80 bytes: they say why the rule applied better than the rule itself.
 */
static char *
matched_words(text *msg, text *pattern)
{
	char	   *words = text_to_cstring(DatumGetTextPP(DirectFunctionCall5Coll(regexp_substr_no_subexpr,
																			   DEFAULT_COLLATION_OID,
																			   PointerGetDatum(msg),
																			   PointerGetDatum(pattern),
																			   Int32GetDatum(1),
																			   Int32GetDatum(1),
																			   CStringGetTextDatum("i"))));

	if (strlen(words) > 80)
	{
		words[pg_mbcliplen(words, strlen(words), 77)] = '\0';
		words = psprintf("%s...", words);
	}
	return words;
}

/*
 * The side Airbyte blames for a failure: its failure reasons read "Failure
 * Origin: source|destination, Message: ...".  NULL when the message does
 * not start so, or names another origin (replication, platform, ...).
 */
static const char *
failure_origin(const char *message)
{
	static const char *const sides[] = {"source", "destination"};
	static const char prefix[] = "failure origin:";

	while (isspace((unsigned char) *message))
		message++;
	if (pg_strncasecmp(message, prefix, strlen(prefix)) != 0)
		return NULL;
	message += strlen(prefix);
	while (isspace((unsigned char) *message))
		message++;
	for (int i = 0; i < (int) lengthof(sides); i++)
		if (pg_strncasecmp(message, sides[i], strlen(sides[i])) == 0 &&
			!isalnum((unsigned char) message[strlen(sides[i])]))
			return sides[i];
	return NULL;
}

/*
 * Put an outage on the side the vendor blames: a refused connection is the
 * source's outage unless Airbyte says the destination failed.  The
 * remediation is then that of the other side's last rule in precedence,
 * its most general: no rule of that side matched the message.
 */
static void
blame_origin(const char *origin, const Pattern *patterns, int npatterns, Classification *out)
{
	const char *side;

	if (strcmp(out->category, "source_outage") != 0 && strcmp(out->category, "destination_outage") != 0)
		return;
	side = strcmp(origin, "source") == 0 ? "source_outage" : "destination_outage";
	if (strcmp(out->category, side) == 0)
		return;
	for (int i = npatterns - 1; i >= 0; i--)
		if (strcmp(patterns[i].category, side) == 0)
		{
			out->category = patterns[i].category;
			out->retryable = patterns[i].retryable;
			out->remediation = patterns[i].remediation;
			out->explanation = psprintf("%s; Airbyte reports the failure origin \"%s\"", out->explanation, origin);
			return;
		}
}

/* Classify one failure: native code, then patterns, then unknown. */
static void
classify(const char *message, const char *code, const char *vendor,
		 const Pattern *patterns, int npatterns, Classification *out)
{
	if (code && *code)
	{
		for (int i = 0; i < (int) lengthof(native_codes); i++)
			if (pg_strcasecmp(code, native_codes[i].code) == 0)
			{
				out->category = native_codes[i].category;
				out->retryable = native_codes[i].retryable;
				out->remediation = native_codes[i].remediation;
				out->explanation = psprintf("vendor code \"%s\"", native_codes[i].code);
				return;
			}
		/* Any other 5xx is a server-side hiccup. */
		if (strlen(code) == 3 && code[0] == '5' && isdigit((unsigned char) code[1]) &&
			isdigit((unsigned char) code[2]))
		{
			out->category = "transient";
			out->retryable = true;
			out->remediation = "The vendor or source returned a server error; an automatic retry is safe.";
			out->explanation = psprintf("HTTP status %s", code);
			return;
		}
	}
	if (message && *message)
	{
		text	   *msg = cstring_to_text(message);
		const char *origin = failure_origin(message);

		for (int i = 0; i < npatterns; i++)
		{
			const Pattern *p = &patterns[i];

			if (p->vendor && vendor && strcmp(p->vendor, vendor) != 0)
				continue;
			if (p->vendor && vendor == NULL)
				continue;
			if (DatumGetBool(DirectFunctionCall2Coll(texticregexeq, DEFAULT_COLLATION_OID,
													 PointerGetDatum(msg), PointerGetDatum(p->pattern))))
			{
				out->category = p->category;
				out->retryable = p->retryable;
				out->remediation = p->remediation;
				out->explanation = psprintf("message matches failure pattern %lld on \"%s\"",
											(long long) p->id, matched_words(msg, p->pattern));
				if (origin)
					blame_origin(origin, patterns, npatterns, out);
				return;
			}
		}
	}
	out->category = "unknown";
	out->retryable = false;
	if (message && *message)
	{
		out->remediation = "No known pattern matches: read the message and the vendor's logs; "
			"add a row to syncopt.failure_pattern so the next one is recognised.";
		out->explanation = "no vendor code or pattern matched";
	}
	else
	{
		/* The vendors' REST APIs report a failed sync without its reason. */
		out->remediation = "No reason was recorded (the vendors' REST APIs give none; the Fivetran "
			"Platform Connector log and webhooks do): look the run up in the vendor's UI or logs.";
		out->explanation = "no message or code to classify";
	}
}

/* syncopt.classify_failure(message, code, vendor): one row. */
Datum
syncopt_classify_failure(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *message = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *code = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *vendor = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Pattern    *patterns;
	int			npatterns;
	Classification cls;
	Datum		values[4];
	bool		nulls[4] = {0};

	if (vendor && strcmp(vendor, "fivetran") != 0 && strcmp(vendor, "airbyte") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown vendor \"%s\"", vendor),
				 errhint("Use 'fivetran', 'airbyte' or NULL.")));
	InitMaterializedSRF(fcinfo, 0);
	patterns = load_patterns(&npatterns);
	classify(message, code, vendor, patterns, npatterns, &cls);
	values[0] = CStringGetTextDatum(cls.category);
	values[1] = BoolGetDatum(cls.retryable);
	values[2] = CStringGetTextDatum(cls.remediation);
	values[3] = CStringGetTextDatum(cls.explanation);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_NULL();
}

/* syncopt.classify_runs(since): every failed or rescheduled run since then. */
Datum
syncopt_classify_runs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz since = PG_GETARG_TIMESTAMPTZ(0);
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(since)};
	Pattern    *patterns;
	int			npatterns;

	InitMaterializedSRF(fcinfo, 0);
	patterns = load_patterns(&npatterns);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run("SELECT r.run_id, r.connector_id, r.finished_at, r.error_message,"
				   "       coalesce(r.error_code, CASE WHEN r.status = 'rescheduled' THEN 'rescheduled' END),"
				   "       a.vendor"
				   "  FROM syncopt.sync_run r"
				   "  JOIN syncopt.connector c ON c.connector_id = r.connector_id"
				   "  JOIN syncopt.account a ON a.account_id = c.account_id"
				   " WHERE r.status IN ('failed', 'rescheduled') AND r.finished_at >= $1"
				   " ORDER BY r.finished_at, r.run_id",
				   1, types, args, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Classification cls;
		Datum		values[7];
		bool		nulls[7] = {0};
		char	   *message = SPI_getvalue(tup, desc, 4);
		char	   *code = SPI_getvalue(tup, desc, 5);
		char	   *vendor = SPI_getvalue(tup, desc, 6);
		bool		isnull;

		classify(message, code, vendor, patterns, npatterns, &cls);
		values[0] = SPI_getbinval(tup, desc, 1, &isnull);
		values[1] = SPI_getbinval(tup, desc, 2, &isnull);
		values[2] = SPI_getbinval(tup, desc, 3, &isnull);
		values[3] = CStringGetTextDatum(cls.category);
		values[4] = BoolGetDatum(cls.retryable);
		values[5] = CStringGetTextDatum(cls.remediation);
		values[6] = CStringGetTextDatum(cls.explanation);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	PG_RETURN_NULL();
}
