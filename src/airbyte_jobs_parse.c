/*-------------------------------------------------------------------------
 *
 * airbyte_jobs_parse.c
 *	  Check an Airbyte GET /jobs page field by field and turn its jobs into
 *	  sync runs, without SQL: the page is walked once in C, so the cost of
 *	  checking stays a small part of ingesting it.
 *
 * The checks and their messages are those every ingestion function uses
 * (json_field_problem and json_enum_problem in 65_ingest_common.sql): the
 * first problem in page order, then field order, is reported, naming the
 * field.  Status mapping: succeeded, failed and cancelled end a run (at
 * lastUpdatedAt, else startTime + duration, never before the start);
 * pending, queued, running and incomplete (an attempt failed and Airbyte
 * retries) are one running run.  sync jobs are incremental syncs, refresh
 * jobs full ones; reset and clear jobs move no data and are left out.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "airbyte_jobs.h"

static const char *const job_statuses[] = {
	"pending", "queued", "running", "incomplete", "failed", "succeeded", "cancelled", NULL
};
static const char *const job_types[] = {"sync", "reset", "refresh", "clear", NULL};

/* Raise the ingestion error for a malformed page. */
static void
reject(const char *problem)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid Airbyte jobs page: %s", problem),
			 errdetail("Nothing from this body was stored."),
			 errhint("Pass the response body exactly as the vendor API returned it.")));
}

/* The name of a field: "data[i].key", or "key" for the page's own fields. */
static char *
field_name(int position, const char *key)
{
	return position < 0 ? pstrdup(key) : psprintf("data[%d].%s", position, key);
}

/* jsonb_typeof() of a value. */
static const char *
type_name(const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "unknown";
	}
}

/* The value as JSON text, as value::text shows it. */
static char *
json_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/* At most the first 40 characters of the value's JSON text. */
static char *
json_text_40(JsonbValue *v)
{
	char	   *text = json_text(v);

	return pnstrdup(text, pg_mbcharcliplen(text, strlen(text), 40));
}

/* Whether the next n characters are digits; moves past them if so. */
static bool
skip_digits(const char **p, int n)
{
	for (int i = 0; i < n; i++)
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
	*p += n;
	return true;
}

/* Moves past a run of digits; whether there was at least one. */
static bool
skip_some_digits(const char **p)
{
	const char *start = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > start;
}

/*
 * Whether s reads as an ISO-8601 timestamp with a zone, as the pattern
 * \d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?) does.
 */
static bool
timestamp_shape(const char *s)
{
	const char *p = s;

	if (!skip_digits(&p, 4) || *p++ != '-' || !skip_digits(&p, 2) || *p++ != '-' ||
		!skip_digits(&p, 2) || (*p != 'T' && *p != ' '))
		return false;
	p++;
	if (!skip_digits(&p, 2) || *p++ != ':' || !skip_digits(&p, 2))
		return false;
	if (*p == ':')
	{
		p++;
		if (!skip_digits(&p, 2))
			return false;
		if (*p == '.')
		{
			p++;
			if (!skip_some_digits(&p))
				return false;
		}
	}
	if (*p == 'Z')
		p++;
	else if (*p == '+' || *p == '-')
	{
		p++;
		if (!skip_digits(&p, 2))
			return false;
		if (*p == ':')
		{
			p++;
			if (!skip_digits(&p, 2))
				return false;
		}
		else if (*p >= '0' && *p <= '9' && !skip_digits(&p, 2))
			return false;
	}
	else
		return false;
	return *p == '\0';
}

/*
 * Whether s reads as an ISO-8601 duration with designators, PnYnMnWnDTnHnMnS
 * with every part optional but at least one present, only seconds
 * fractional, and a T followed by a time part.
 */
static bool
duration_shape(const char *s)
{
	static const char date_units[] = "YMWD";
	static const char time_units[] = "HMS";
	const char *p = s;
	int			next_unit = 0;

	if (*p++ != 'P' || *p == '\0')
		return false;
	while (*p >= '0' && *p <= '9')
	{
		const char *unit;

		skip_some_digits(&p);
		unit = *p ? strchr(date_units + next_unit, *p) : NULL;
		if (unit == NULL)
			return false;
		next_unit = unit - date_units + 1;
		p++;
	}
	if (*p == '\0')
		return true;
	if (*p++ != 'T' || *p < '0' || *p > '9')
		return false;
	next_unit = 0;
	while (*p >= '0' && *p <= '9')
	{
		const char *unit;

		skip_some_digits(&p);
		if (*p == '.' && next_unit <= 2)
		{
			p++;
			if (!skip_some_digits(&p) || *p != 'S')
				return false;
		}
		unit = *p ? strchr(time_units + next_unit, *p) : NULL;
		if (unit == NULL)
			return false;
		next_unit = unit - time_units + 1;
		p++;
	}
	return *p == '\0';
}

/* A field of an object; NULL when absent. */
static JsonbValue *
get_field(JsonbContainer *object, const char *key)
{
	return getKeyJsonValueFromContainer(object, key, strlen(key), NULL);
}

/* Whether the value is absent or JSON null. */
static bool
is_missing(const JsonbValue *v)
{
	return v == NULL || v->type == jbvNull;
}

/* A JSON string's value as a C string. */
static char *
string_value(const JsonbValue *v)
{
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * NULL when the field is present (or may be absent) and of the JSON type
 * wanted ("string", "object", "array"), else what is wrong with it.
 */
static char *
type_problem(JsonbValue *v, const char *wanted, bool nullable, int position, const char *key)
{
	if (is_missing(v))
		return nullable ? NULL : psprintf("field \"%s\" is missing or null", field_name(position, key));
	if (strcmp(type_name(v), wanted) == 0)
		return NULL;
	return psprintf("field \"%s\" must be a JSON %s, not %s",
					field_name(position, key), wanted, type_name(v));
}

/*
 * An integer field (at most 18 digits, no fraction or exponent) as text in
 * *digits, or what is wrong with it.  *digits is NULL when absent.
 */
static char *
integer_problem(JsonbValue *v, bool nullable, int position, const char *key, char **digits)
{
	*digits = NULL;
	if (is_missing(v))
		return nullable ? NULL : psprintf("field \"%s\" is missing or null", field_name(position, key));
	if (v->type == jbvNumeric)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
															   NumericGetDatum(v->val.numeric)));
		const char *p = text + (text[0] == '-');
		size_t		len = strlen(p);

		if (len >= 1 && len <= 18 && strspn(p, "0123456789") == len)
		{
			*digits = text;
			return NULL;
		}
	}
	return psprintf("field \"%s\" must be an integer, not %s",
					field_name(position, key), json_text_40(v));
}

/* A timestamp field as a C string in *text, or what is wrong with it. */
static char *
timestamp_problem(JsonbValue *v, bool nullable, int position, const char *key, char **text)
{
	*text = NULL;
	if (is_missing(v))
		return nullable ? NULL : psprintf("field \"%s\" is missing or null", field_name(position, key));
	if (v->type == jbvString)
	{
		char	   *s = string_value(v);

		if (timestamp_shape(s))
		{
			*text = s;
			return NULL;
		}
	}
	return psprintf("field \"%s\" must be an ISO-8601 timestamp with a time zone, not %s",
					field_name(position, key), json_text_40(v));
}

/* An enumerated string field in *text, or what is wrong with it. */
static char *
enum_problem(JsonbValue *v, const char *const *allowed, int position, const char *key, char **text)
{
	char	   *problem = type_problem(v, "string", false, position, key);
	StringInfoData list;

	*text = NULL;
	if (problem)
		return problem;
	*text = string_value(v);
	for (int i = 0; allowed[i]; i++)
		if (strcmp(*text, allowed[i]) == 0)
			return NULL;
	initStringInfo(&list);
	for (int i = 0; allowed[i]; i++)
		appendStringInfo(&list, "%s%s", i ? ", " : "", allowed[i]);
	return psprintf("field \"%s\" has unknown value %s (expected one of: %s)",
					field_name(position, key), json_text(v), list.data);
}

/* A text timestamp with a zone as TimestampTz (its shape was checked). */
static TimestampTz
to_timestamptz(const char *text)
{
	return DatumGetTimestampTz(DirectFunctionCall3(timestamptz_in, CStringGetDatum(text),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/* When a finished job ended: lastUpdatedAt, else start + duration, else start. */
static TimestampTz
job_end(TimestampTz started_at, const char *last_updated, const char *duration)
{
	TimestampTz end = started_at;

	if (last_updated)
		end = to_timestamptz(last_updated);
	else if (duration)
	{
		Datum		interval = DirectFunctionCall3(interval_in, CStringGetDatum(duration),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));

		end = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													  TimestampTzGetDatum(started_at), interval));
	}
	return Max(end, started_at);
}

/*
 * Check job i of the page (item) and fill *run from it; returns what is
 * wrong with it, or NULL.  *kept is false for reset and clear jobs.
 */
static char *
parse_job(JsonbValue *item, int i, AirbyteRun *run, bool *kept)
{
	JsonbContainer *job;
	JsonbValue *duration;
	char	   *problem;
	char	   *status,
			   *type,
			   *started,
			   *last_updated,
			   *rows,
			   *bytes;

	if (item->type != jbvBinary || !JsonContainerIsObject(item->val.binary.data))
		return psprintf("\"data[%d]\" must be a JSON object", i);
	job = item->val.binary.data;
	if ((problem = integer_problem(get_field(job, "jobId"), false, i, "jobId", &run->job_id)) ||
		(problem = enum_problem(get_field(job, "status"), job_statuses, i, "status", &status)) ||
		(problem = enum_problem(get_field(job, "jobType"), job_types, i, "jobType", &type)) ||
		(problem = timestamp_problem(get_field(job, "startTime"), false, i, "startTime", &started)))
		return problem;

	run->connection_id = NULL;
	if ((problem = type_problem(get_field(job, "connectionId"), "string", false, i, "connectionId")))
		return problem;
	run->connection_id = string_value(get_field(job, "connectionId"));
	if (strspn(run->connection_id, " ") == strlen(run->connection_id))
		return psprintf("field \"data[%d].connectionId\" is empty", i);

	duration = get_field(job, "duration");
	if ((problem = timestamp_problem(get_field(job, "lastUpdatedAt"), true, i, "lastUpdatedAt",
									 &last_updated)) ||
		(problem = type_problem(duration, "string", true, i, "duration")))
		return problem;
	if (!is_missing(duration) && !duration_shape(string_value(duration)))
		return psprintf("field \"data[%d].duration\" must be an ISO-8601 duration such as PT8H6M12S, not %s",
						i, json_text(duration));
	if ((problem = integer_problem(get_field(job, "rowsSynced"), true, i, "rowsSynced", &rows)) ||
		(problem = integer_problem(get_field(job, "bytesSynced"), true, i, "bytesSynced", &bytes)))
		return problem;
	if ((rows && rows[0] == '-') || (bytes && bytes[0] == '-'))
		return psprintf("fields \"data[%d].rowsSynced\" and \"data[%d].bytesSynced\" must not be negative",
						i, i);

	*kept = strcmp(type, "sync") == 0 || strcmp(type, "refresh") == 0;
	if (!*kept)
		return NULL;
	run->position = i;
	run->full_sync = strcmp(type, "refresh") == 0;
	run->started_at = to_timestamptz(started);
	run->has_rows = rows != NULL;
	run->rows = rows ? strtoi64(rows, NULL, 10) : 0;
	run->has_bytes = bytes != NULL;
	run->bytes = bytes ? strtoi64(bytes, NULL, 10) : 0;
	if (strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
		strcmp(status, "cancelled") == 0)
	{
		const char *duration_text = is_missing(duration) ? NULL : string_value(duration);

		run->status = status;
		run->finished_at = job_end(run->started_at, last_updated, duration_text);
		run->duration_known = last_updated != NULL || duration_text != NULL;
	}
	else
	{
		run->status = "running";
		run->finished_at = 0;
		run->duration_known = true;
	}
	return NULL;
}

/* What is wrong with the page's envelope, or NULL. */
static char *
page_problem(Jsonb *page)
{
	char	   *problem;

	if (page == NULL || JB_ROOT_IS_SCALAR(page) || !JB_ROOT_IS_OBJECT(page))
		return pstrdup("the body must be a JSON object");
	if ((problem = type_problem(get_field(&page->root, "data"), "array", false, -1, "data")) ||
		(problem = type_problem(get_field(&page->root, "next"), "string", true, -1, "next")) ||
		(problem = type_problem(get_field(&page->root, "previous"), "string", true, -1, "previous")))
		return problem;
	return NULL;
}

/*
 * Order runs by connection and job, and within one job its finished listing
 * first, then the later listing first.
 */
static int
run_cmp(const void *a, const void *b)
{
	const AirbyteRun *x = a;
	const AirbyteRun *y = b;
	int			c = strcmp(x->connection_id, y->connection_id);
	bool		x_done = strcmp(x->status, "running") != 0;
	bool		y_done = strcmp(y->status, "running") != 0;

	if (c == 0)
		c = strcmp(x->job_id, y->job_id);
	if (c == 0 && x_done != y_done)
		c = x_done ? -1 : 1;
	if (c == 0)
		c = y->position - x->position;
	return c;
}

/* The runs of a GET /jobs page, checked, one per job (airbyte_jobs.h). */
AirbyteRun *
airbyte_jobs_parse(Jsonb *page, int *nruns)
{
	char	   *problem = page_problem(page);
	JsonbValue *data;
	JsonbContainer *items;
	int			count;
	AirbyteRun *runs;
	int			n = 0,
				kept = 0;

	if (problem)
		reject(problem);
	data = get_field(&page->root, "data");
	items = data->val.binary.data;
	count = JsonContainerSize(items);
	runs = palloc0(sizeof(AirbyteRun) * Max(count, 1));
	for (int i = 0; i < count; i++)
	{
		bool		keep = false;

		problem = parse_job(getIthJsonbValueFromContainer(items, i), i, &runs[n], &keep);
		if (problem)
			reject(problem);
		if (keep)
			n++;
	}

	qsort(runs, n, sizeof(AirbyteRun), run_cmp);
	for (int i = 0; i < n; i++)
		if (kept == 0 || strcmp(runs[i].connection_id, runs[kept - 1].connection_id) != 0 ||
			strcmp(runs[i].job_id, runs[kept - 1].job_id) != 0)
			runs[kept++] = runs[i];
	*nruns = kept;
	return runs;
}
