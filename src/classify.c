/*-------------------------------------------------------------------------
 *
 * classify.c
 *	  What kind of failure a sync had, whether retrying is safe, and what
 *	  to do: syncopt.classify_failure() and syncopt.classify_runs().
 *
 * What decides, in this order:
 *	1. a vendor-native code, because the vendor knows best: Airbyte's
 *	   failureType (config_error, system_error, transient_error,
 *	   refresh_schema, manual_cancellation), Fivetran's sync_state
 *	   rescheduled, setup_state broken/incomplete, a sync_end status of
 *	   FAILURE_WITH_TASK and a task ('task:<code>', a sync_end's taskType or
 *	   a connection's status.tasks: a person must act), and HTTP status
 *	   codes;
 *	2. a user's own rule of syncopt.failure_pattern (builtin = false), tried
 *	   by priority: what a team writes down overrides everything learned;
 *	3. the first matching built-in rule of syncopt.failure_pattern, unless
 *	   the nearest labelled wording of syncopt.failure_example (learn.c) is
 *	   of another category and nearer, by RULE_MARGIN, than the nearest
 *	   example of the rule's category;
 *	4. the nearest labelled wording when its similarity reaches
 *	   LEARNED_ANSWER_MIN;
 *	5. nothing: 'unknown'.
 * When steps 3 or 4 name a cause a retry could fix but the first matching
 * built-in rule is of a cause it cannot fix, that rule answers
 * (prefer_permanent).
 * An outage is put on the side something says it is on (place_outage):
 * Airbyte's failure origin, a person's label of the wording, the side the
 * message names (outage_side.c); when nothing says, it is a transient
 * failure of no side.
 *
 * Safety by construction: retryable is true only when the category is one
 * a retry can fix (retry_safe_categories), what decided says so (a vendor
 * code; a user's rule; for the rest two signals: a built-in rule and the
 * nearest labelled example both find a retryable cause, or the wording is
 * nearly a labelled example's, LEARNED_ALONE_MIN), nothing in the message
 * reads as a cause a retry cannot fix (prefer_permanent: the first
 * matching built-in rule is not of such a cause, among them the rule for
 * limits somebody configured on a statement, and no labelled example of
 * such a cause is within AMBIGUITY_MARGIN of the verdict's own) and the
 * confidence reaches RETRY_CONFIDENCE_MIN.  Vendor codes and users' rules
 * are statements (confidence 1); a labelled example's confidence is its
 * similarity; a built-in rule's is the similarity of the nearest example
 * of the rule's category.  The planner's retry rule and auto mode read
 * only this retryable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "outage_side.h"
#include "spi_run.h"
#include "triage.h"

PG_FUNCTION_INFO_V1(syncopt_classify_failure);
PG_FUNCTION_INFO_V1(syncopt_classify_runs);
PG_FUNCTION_INFO_V1(syncopt_classify_unalerted_runs);

/*
 * A labelled example decides when the message's cosine similarity to it
 * reaches this; below it the built-in rules, then 'unknown', answer.  It
 * only names a category: a retry needs RETRY_CONFIDENCE_MIN and two
 * signals.
 */
#define LEARNED_ANSWER_MIN 0.15
/* Confidence an automatic retry needs (above the answer threshold: a close match only). */
#define RETRY_CONFIDENCE_MIN 0.3
/* Similarity at which a labelled example alone may start a retry: nearly the same wording. */
#define LEARNED_ALONE_MIN 0.6

/*
 * A matching built-in rule decides unless an example of another category
 * is nearer than the rule's category's nearest example by more than this.
 */
#define RULE_MARGIN 0.1

/*
 * A retry needs the nearest example of a cause a retry cannot fix to be
 * farther than the verdict's own nearest example by at least this: closer
 * than that, the message reads as either, and an ambiguous verdict is not
 * retried (chosen by leave-one-out over the corpus, docs/benchmarks.md).
 */
#define AMBIGUITY_MARGIN 0.1

/* Columns of classify_failure() and of classify_runs() after its first three. */
#define CLASSIFICATION_COLUMNS 7

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
	{"failure_with_task", "configuration", false,
	"Fivetran ended the sync with a task for a person (its sync_end status FAILURE_WITH_TASK): "
	"open the connection in Fivetran and do what the task asks."},
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

/*
 * Fivetran tasks, recorded as 'task:<code>' (a sync_end's taskType, or the
 * first of a connection's status.tasks when the REST API showed the
 * failure): a person must act before the connector syncs again, so none is
 * retryable.  A task not listed here still decides (task_verdict).
 */
static const NativeCode fivetran_tasks[] = {
	{"reconnect", "credentials", false,
	"Fivetran asks for the source to be reconnected (its authorization failed or was revoked): "
	"reconnect it in Fivetran, then re-run."},
	{"reconnect_warehouse", "configuration", false,
	"Fivetran asks for the connection to the database to be set up again: "
	"fix what the task and its reason name in Fivetran, then re-run."},
};

typedef struct Classification
{
	const char *category;
	bool		retryable;		/* what decided claims; classify() then applies the safety rule */
	const char *remediation;
	char	   *explanation;
	const char *source;			/* vendor_code, rule, example or none */
	int64		source_id;		/* the rule's or example's id; 0 for the others */
	double		confidence;
} Classification;

/* Categories whose failures an automatic retry may fix. */
static const char *const retry_safe_categories[] = {
	"transient", "timeout", "source_outage", "destination_outage", "rate_limit"
};

/*
 * The words of the message that a rule matched, cut to 80 bytes: they say
 * why the rule applied better than the rule itself.
 */
static char *
matched_words(const RuleInput *input, const regmatch_t *where)
{
	int			nchars = where->rm_eo - where->rm_so;
	char	   *words = palloc((Size) nchars * MAX_MULTIBYTE_CHAR_LEN + 1);
	int			len = pg_wchar2mb_with_len(input->chars + where->rm_so, words, nchars);

	if (len > 80)
	{
		words[pg_mbcliplen(words, len, 77)] = '\0';
		words = psprintf("%s...", words);
	}
	return words;
}

/*
 * The remediation of a category: that of its last built-in rule in
 * precedence, its most general.  NULL for 'unknown'.
 */
static const char *
category_remediation(const Triage *triage, const char *category)
{
	for (int i = triage->npatterns - 1; i >= 0; i--)
		if (triage->patterns[i].builtin && strcmp(triage->patterns[i].category, category) == 0)
			return triage->patterns[i].remediation;
	return NULL;
}

/* Whether a retry can fix failures of category. */
static bool
category_retry_safe(const char *category)
{
	for (int i = 0; i < (int) lengthof(retry_safe_categories); i++)
		if (strcmp(category, retry_safe_categories[i]) == 0)
			return true;
	return false;
}

/* Whether category is an outage of one side. */
static bool
category_outage(const char *category)
{
	return strcmp(category, "source_outage") == 0 || strcmp(category, "destination_outage") == 0;
}

/*
 * Put the outage on side (a category), with that side's remediation (of
 * its most general built-in rule), saying why.
 */
static void
put_outage_on(const char *side, const Triage *triage, char *why, Classification *out)
{
	if (strcmp(out->category, side) != 0)
	{
		out->category = side;
		out->remediation = category_remediation(triage, side);
	}
	out->explanation = psprintf("%s; %s", out->explanation, why);
}

/*
 * The side an outage example's own words name (a category), or NULL: an
 * example labelled with a side its words do not show ("503 Service
 * Unavailable") says nothing about the side of another message.
 */
static const char *
example_side(const LearnedExample *e, const char **word)
{
	const char *source_word;
	const char *destination_word;

	if (!category_outage(e->category))
		return NULL;
	switch (outage_sides_named(e->message, &source_word, &destination_word))
	{
		case OUTAGE_SIDE_SOURCE:
			*word = source_word;
			return "source_outage";
		case OUTAGE_SIDE_DESTINATION:
			*word = destination_word;
			return "destination_outage";
		default:
			return NULL;
	}
}

/*
 * Which side an outage verdict is on.  A refused connection or a 503 reads
 * the same whichever side answered, and the rules and labelled examples
 * that read a message as an outage were written for one side: their side
 * is a guess unless something says which.  In this order: the side the
 * vendor reports (Airbyte's failure origin); a label of this very wording
 * family (failure_wording(): a person's label knows what the words may
 * not, that a team's Snowflake is a source, say); the one side the
 * message's words name (outage_side.c); the one side the words of the
 * nearest labelled example (nearest, an outage) name.  When nothing says,
 * the side is not guessed: the verdict is a transient failure whose
 * remediation names both sides.  When the message names both, the
 * verdict's side stands.  Only the category and remediation change,
 * between categories a retry can fix; retryable stays as decided.
 * stated: a user's rule decided, and only the vendor's origin moves its
 * verdict.
 */
static void
place_outage(const char *message, const Triage *triage, const LearnedExample *nearest,
			 bool stated, Classification *out)
{
	const char *origin;
	const char *source_word;
	const char *destination_word;
	const char *side;
	const char *word;

	if (!category_outage(out->category))
		return;
	origin = outage_origin(message);
	if (origin)
	{
		put_outage_on(strcmp(origin, "source") == 0 ? "source_outage" : "destination_outage", triage,
					  psprintf("Airbyte reports the failure origin \"%s\"", origin), out);
		return;
	}
	if (stated)
		return;
	if (nearest && category_outage(nearest->category) &&
		strcmp(learned_wording(message), nearest->wording) == 0)
	{
		put_outage_on(nearest->category, triage,
					  psprintf("labelled example %lld is of this very wording and says which side",
							   (long long) nearest->id), out);
		return;
	}
	switch (outage_sides_named(message, &source_word, &destination_word))
	{
		case OUTAGE_SIDE_SOURCE:
			put_outage_on("source_outage", triage,
						  psprintf("the message names the source (\"%s\")", source_word), out);
			return;
		case OUTAGE_SIDE_DESTINATION:
			put_outage_on("destination_outage", triage,
						  psprintf("the message names the destination (\"%s\")", destination_word), out);
			return;
		case OUTAGE_SIDE_SOURCE | OUTAGE_SIDE_DESTINATION:
			out->explanation = psprintf("%s; the message names both the source (\"%s\") and the destination "
										"(\"%s\")", out->explanation, source_word, destination_word);
			return;
	}
	side = nearest ? example_side(nearest, &word) : NULL;
	if (side)
		put_outage_on(side, triage,
					  psprintf("the nearest labelled example, %lld, names the %s (\"%s\")", (long long) nearest->id,
							   strcmp(side, "source_outage") == 0 ? "source" : "destination", word), out);
	else
	{
		out->category = "transient";
		out->remediation = "Something the sync connects to was unreachable or answered that it is unavailable, "
			"and the message does not say whether it was the source or the destination: retry; if it "
			"persists, check the source host, the destination warehouse and the network path between them.";
		out->explanation = psprintf("%s; neither the message nor the nearest labelled example names the source "
									"or the destination, so the outage is put on neither side", out->explanation);
	}
}

/* A verdict of rule p, which matched the message. */
static void
rule_verdict(const Pattern *p, const RuleInput *input, double confidence, Classification *out)
{
	regmatch_t	where;

	triage_rule_where(p, input, &where);
	out->category = p->category;
	out->retryable = p->retryable;
	out->remediation = p->remediation;
	out->source = "rule";
	out->source_id = p->id;
	out->confidence = confidence;
	out->explanation = psprintf("message matches failure pattern %lld on \"%s\"",
								(long long) p->id, matched_words(input, &where));
}

/* The first 60 bytes of s, on a character boundary, with "..." when cut. */
static char *
clipped(const char *s)
{
	int			len = strlen(s);
	int			cut = pg_mbcliplen(s, len, 60);

	return cut < len ? psprintf("%.*s...", cut, s) : pstrdup(s);
}

/* The verdict when nothing decided: unknown, never retried, with why. */
static void
unknown_verdict(const char *remediation, char *explanation, Classification *out)
{
	out->category = "unknown";
	out->retryable = false;
	out->remediation = remediation;
	out->explanation = explanation;
	out->source = "none";
	out->source_id = 0;
	out->confidence = 0;
}

/* A verdict of the labelled example e at similarity. */
static void
example_verdict(const Triage *triage, const LearnedExample *e, double similarity, Classification *out)
{
	out->category = e->category;
	out->remediation = category_remediation(triage, e->category);
	out->source = "example";
	out->source_id = e->id;
	out->confidence = similarity;
	out->explanation = psprintf("message resembles labelled example %lld (similarity %.2f): \"%s\"",
								(long long) e->id, similarity, clipped(e->message));
}

/*
 * Safety by construction, when the verdict is a cause a retry could fix:
 * if anything in the message reads as a cause a retry cannot fix, that
 * reading wins, and nothing is retried.  When the first built-in rule that
 * matches (rule) is of such a cause, it answers: the
 * rules' order states which reading goes first (a configured statement
 * timeout before a timeout; Google's 403 rate limit before a 403
 * permission), so a permanent rule that comes first is never outvoted by
 * a retryable example.  Otherwise a labelled example of such a cause
 * nearly as near as the verdict's own (within AMBIGUITY_MARGIN) keeps the
 * category but stops the retry.  The explanation says what argued
 * against the retry.
 */
static void
prefer_permanent(const Triage *triage, const RuleInput *input, const Pattern *rule, Classification *out)
{
	static const char *const permanent[] = {"credentials", "permission", "schema_change", "configuration"};
	double		own = learned_category_similarity(triage->corpus, out->category);

	if (rule && !category_retry_safe(rule->category))
	{
		const char *first = out->category;

		rule_verdict(rule, input, learned_category_similarity(triage->corpus, rule->category), out);
		out->retryable = false;
		out->explanation = psprintf("%s, a cause a retry cannot fix, which wins over reading it as %s",
									out->explanation, first);
		return;
	}
	for (int i = 0; i < (int) lengthof(permanent); i++)
	{
		double		other;
		int			e = learned_category_nearest(triage->corpus, permanent[i], &other);

		if (e >= 0 && other + AMBIGUITY_MARGIN > own)
		{
			out->retryable = false;
			out->explanation = psprintf("%s; it reads almost as much as a %s failure (labelled example %lld, "
										"similarity %.2f against %.2f), so a person decides before any retry",
										out->explanation, permanent[i],
										(long long) triage->corpus->examples[e].id, other, own);
			return;
		}
	}
}

/* Decide from the message alone (steps 2 to 5 of the file comment). */
static void
classify_message(const char *message, const char *vendor, const Triage *triage, Classification *out)
{
	int			len = strlen(message);
	RuleInput	input;
	const Pattern *p;
	const LearnedExample *nearest = NULL;
	LearnedMatch match;
	bool		rule_retry;
	bool		example_retry;

	input.chars = palloc(sizeof(pg_wchar) * (len + 1));
	input.nchars = pg_mb2wchar_with_len(message, input.chars, len);
	rule_text(message, &input.text);
	p = triage_matching_rule(triage, &input, vendor, false);
	if (p)
	{
		rule_verdict(p, &input, 1.0, out);
		place_outage(message, triage, NULL, true, out);
		return;
	}
	learned_nearest(triage->corpus, message, &match);
	if (match.example >= 0)
		nearest = &triage->corpus->examples[match.example];
	p = triage_matching_rule(triage, &input, vendor, true);

	/*
	 * A retry needs two signals: a built-in rule and the nearest labelled
	 * example both find a retryable cause, or the wording is nearly the
	 * example's (a label of this very family).
	 */
	rule_retry = p != NULL && p->retryable && category_retry_safe(p->category);
	example_retry = nearest != NULL && category_retry_safe(nearest->category) &&
		match.similarity >= RETRY_CONFIDENCE_MIN;

	if (p && learned_category_similarity(triage->corpus, p->category) >= match.similarity - RULE_MARGIN)
	{
		rule_verdict(p, &input, learned_category_similarity(triage->corpus, p->category), out);
		out->retryable = rule_retry && example_retry;
	}
	else if (nearest && match.similarity >= LEARNED_ANSWER_MIN)
	{
		example_verdict(triage, nearest, match.similarity, out);
		out->retryable = category_retry_safe(nearest->category) &&
			(match.similarity >= LEARNED_ALONE_MIN || (rule_retry && example_retry));
	}
	else if (p)
	{
		rule_verdict(p, &input, learned_category_similarity(triage->corpus, p->category), out);
		out->retryable = false;
	}
	else
	{
		unknown_verdict("Nothing recognised the message: read it and the vendor's logs, then label the run with "
						"syncopt.label_failure() so the next failure worded so is recognised.",
						"no vendor code, rule or labelled example matched", out);
		return;
	}
	if (category_retry_safe(out->category))
		prefer_permanent(triage, &input, p, out);
	place_outage(message, triage, nearest, false, out);
	if (!out->retryable && category_retry_safe(out->category))
		out->explanation = psprintf("%s; a built-in rule and the nearest labelled example do not both find a "
									"retryable cause, so a person decides before any retry", out->explanation);
}

/* Decide from a Fivetran task code ('task:' stripped): every task waits for a person. */
static void
task_verdict(const char *task, Classification *out)
{
	for (int i = 0; i < (int) lengthof(fivetran_tasks); i++)
		if (pg_strcasecmp(task, fivetran_tasks[i].code) == 0)
		{
			out->category = fivetran_tasks[i].category;
			out->retryable = false;
			out->remediation = fivetran_tasks[i].remediation;
			out->explanation = psprintf("vendor code \"task:%s\": Fivetran waits for a person", fivetran_tasks[i].code);
			return;
		}
	out->category = "configuration";
	out->retryable = false;
	out->remediation = "Fivetran lists a task for this connection: open it in Fivetran, do what the task asks, then re-run.";
	out->explanation = psprintf("vendor code \"task:%s\": Fivetran waits for a person", task);
}

/* Decide from a vendor-native code (step 1 of the file comment); false when it means nothing. */
static bool
classify_code(const char *code, Classification *out)
{
	out->source = "vendor_code";
	out->source_id = 0;
	out->confidence = 1.0;
	if (pg_strncasecmp(code, "task:", 5) == 0 && code[5] != '\0')
	{
		task_verdict(code + 5, out);
		return true;
	}
	for (int i = 0; i < (int) lengthof(native_codes); i++)
		if (pg_strcasecmp(code, native_codes[i].code) == 0)
		{
			out->category = native_codes[i].category;
			out->retryable = native_codes[i].retryable;
			out->remediation = native_codes[i].remediation;
			out->explanation = psprintf("vendor code \"%s\"", native_codes[i].code);
			return true;
		}
	/* Any other 5xx is a server-side hiccup. */
	if (strlen(code) == 3 && code[0] == '5' && isdigit((unsigned char) code[1]) &&
		isdigit((unsigned char) code[2]))
	{
		out->category = "transient";
		out->retryable = true;
		out->remediation = "The vendor or source returned a server error; an automatic retry is safe.";
		out->explanation = psprintf("HTTP status %s", code);
		return true;
	}
	return false;
}

/* Classify one failure (the file comment says how). */
static void
classify(const char *message, const char *code, const char *vendor,
		 const Triage *triage, Classification *out)
{
	if (code && *code && classify_code(code, out))
	{
		/* The vendor said what happened. */
	}
	else if (message && *message)
		classify_message(message, vendor, triage, out);
	else
	{
		/* The vendors' REST APIs report a failed sync without its reason. */
		unknown_verdict("No reason was recorded (the vendors' REST APIs give none; the Fivetran "
						"Platform Connector log and webhooks do): look the run up in the vendor's UI or logs.",
						"no message or code to classify", out);
	}

	/* Safety by construction: see the file comment. */
	if (out->retryable && !(category_retry_safe(out->category) && out->confidence >= RETRY_CONFIDENCE_MIN))
	{
		out->retryable = false;
		if (category_retry_safe(out->category))
			out->explanation = psprintf("%s; confidence %.2f is below %.2f, so a person decides before any retry",
										out->explanation, out->confidence, RETRY_CONFIDENCE_MIN);
	}
	if (out->remediation == NULL)
		out->remediation = "Read the message and the vendor's logs.";
}

/* The classification columns of one result row. */
static void
classification_values(const Classification *cls, Datum *values, bool *nulls)
{
	values[0] = CStringGetTextDatum(cls->category);
	values[1] = BoolGetDatum(cls->retryable);
	values[2] = CStringGetTextDatum(cls->remediation);
	values[3] = CStringGetTextDatum(cls->explanation);
	values[4] = CStringGetTextDatum(cls->source);
	values[5] = Int64GetDatum(cls->source_id);
	nulls[5] = cls->source_id == 0;
	values[6] = Float8GetDatum(cls->confidence);
}

/* syncopt.classify_failure(message, code, vendor): one row. */
Datum
syncopt_classify_failure(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *message = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *code = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *vendor = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Triage	   *triage;
	Classification cls;
	Datum		values[CLASSIFICATION_COLUMNS];
	bool		nulls[CLASSIFICATION_COLUMNS] = {0};

	if (vendor && strcmp(vendor, "fivetran") != 0 && strcmp(vendor, "airbyte") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown vendor \"%s\"", vendor),
				 errhint("Use 'fivetran', 'airbyte' or NULL.")));
	InitMaterializedSRF(fcinfo, 0);
	triage = triage_current();
	classify(message, code, vendor, triage, &cls);
	classification_values(&cls, values, nulls);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	PG_RETURN_NULL();
}

/*
 * A verdict classify_runs() already gave in this call.  A fleet's failures
 * repeat their wording, and the rules' regular expressions are the cost
 * of a classification, so the same message, code and vendor are
 * classified once per call (up to VERDICT_CACHE_MAX distinct ones; the
 * rest are classified each time).  The vendor counts only when some rule
 * applies to one vendor: nothing else in a verdict depends on it.
 */
typedef struct CachedVerdict
{
	char	   *message;		/* NULL: empty slot */
	char	   *code;
	char	   *vendor;
	Classification cls;
} CachedVerdict;

/* Slots of the open-addressing verdict cache (a power of two), and how many may fill. */
#define VERDICT_CACHE_SLOTS 65536
#define VERDICT_CACHE_MAX (VERDICT_CACHE_SLOTS / 4 * 3)

/* Whether two nullable strings are equal. */
static bool
same_string(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * The slot holding message, code and vendor in the verdict cache, or the
 * empty slot where they belong (linear probing; the cache is never full).
 */
static CachedVerdict *
verdict_slot(CachedVerdict *cache, const char *message, const char *code, const char *vendor)
{
	uint32		h = hash_bytes((const unsigned char *) message, strlen(message));

	if (code)
		h = hash_combine(h, hash_bytes((const unsigned char *) code, strlen(code)));
	if (vendor)
		h = hash_combine(h, hash_bytes((const unsigned char *) vendor, strlen(vendor)));
	for (uint32 i = h & (VERDICT_CACHE_SLOTS - 1);; i = (i + 1) & (VERDICT_CACHE_SLOTS - 1))
	{
		CachedVerdict *slot = &cache[i];

		if (slot->message == NULL ||
			(strcmp(slot->message, message) == 0 && same_string(slot->code, code) &&
			 same_string(slot->vendor, vendor)))
			return slot;
	}
}

/* A copy of s in the current memory context, NULL staying NULL. */
static char *
copy_or_null(const char *s)
{
	return s ? pstrdup(s) : NULL;
}

/*
 * The failed or rescheduled runs that finished since $1, oldest first,
 * with the vendor; without_alert_sql only those no sync_failure alert
 * names yet.
 */
#define FAILED_RUNS_SQL(and_more) \
	"SELECT r.run_id, r.connector_id, r.finished_at, r.error_message," \
	"       coalesce(r.error_code, CASE WHEN r.status = 'rescheduled' THEN 'rescheduled' END)," \
	"       a.vendor" \
	"  FROM syncopt.sync_run r" \
	"  JOIN syncopt.connector c ON c.connector_id = r.connector_id" \
	"  JOIN syncopt.account a ON a.account_id = c.account_id" \
	" WHERE r.status IN ('failed', 'rescheduled') AND r.finished_at >= $1" \
	and_more \
	" ORDER BY r.finished_at, r.run_id"

static const char *const failed_runs_sql = FAILED_RUNS_SQL("");
static const char *const failed_runs_without_alert_sql =
FAILED_RUNS_SQL("   AND NOT EXISTS (SELECT FROM syncopt.alert x"
				"                    WHERE x.kind = 'sync_failure' AND x.connector_id = r.connector_id"
				"                      AND (x.details->>'run_id')::bigint = r.run_id)");

/*
 * classify_runs()'s rows for the failed runs runs_sql reads: each message,
 * code and vendor classified once per call.
 */
static Datum
classify_failed_runs(FunctionCallInfo fcinfo, const char *runs_sql)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz since = PG_GETARG_TIMESTAMPTZ(0);
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(since)};
	Triage	   *triage;
	CachedVerdict *cache = palloc0(sizeof(CachedVerdict) * VERDICT_CACHE_SLOTS);
	int			cached = 0;
	MemoryContext cache_cxt = CurrentMemoryContext;
	MemoryContext row_cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt classify_runs row",
												  ALLOCSET_DEFAULT_SIZES);

	InitMaterializedSRF(fcinfo, 0);
	triage = triage_current();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run(runs_sql, 1, types, args, NULL, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		values[3 + CLASSIFICATION_COLUMNS];
		bool		nulls[3 + CLASSIFICATION_COLUMNS] = {0};
		MemoryContext outer = MemoryContextSwitchTo(row_cxt);
		char	   *message = SPI_getvalue(tup, desc, 4);
		char	   *code = SPI_getvalue(tup, desc, 5);
		char	   *vendor = SPI_getvalue(tup, desc, 6);
		char	   *vendor_key = triage->vendor_scoped ? vendor : NULL;
		CachedVerdict *slot = verdict_slot(cache, message ? message : "", code, vendor_key);
		Classification fresh;
		const Classification *cls = &slot->cls;
		bool		isnull;

		if (slot->message == NULL)
		{
			classify(message, code, vendor, triage, &fresh);
			cls = &fresh;
			if (cached < VERDICT_CACHE_MAX)
			{
				/* Keep the verdict: its other strings are static or the rules'. */
				MemoryContextSwitchTo(cache_cxt);
				slot->message = pstrdup(message ? message : "");
				slot->code = copy_or_null(code);
				slot->vendor = copy_or_null(vendor_key);
				slot->cls = fresh;
				slot->cls.explanation = pstrdup(fresh.explanation);
				cached++;
			}
		}
		MemoryContextSwitchTo(row_cxt);
		values[0] = SPI_getbinval(tup, desc, 1, &isnull);
		values[1] = SPI_getbinval(tup, desc, 2, &isnull);
		values[2] = SPI_getbinval(tup, desc, 3, &isnull);
		classification_values(cls, values + 3, nulls + 3);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		MemoryContextSwitchTo(outer);
		MemoryContextReset(row_cxt);
	}
	SPI_finish();
	PG_RETURN_NULL();
}

/* syncopt.classify_runs(since): every failed or rescheduled run since then. */
Datum
syncopt_classify_runs(PG_FUNCTION_ARGS)
{
	return classify_failed_runs(fcinfo, failed_runs_sql);
}

/*
 * syncopt.classify_unalerted_runs(since): those of them no sync_failure
 * alert names yet.  A planning run alerts each failure of the last two
 * days once; classifying those it has already alerted only to drop them
 * was most of its sync_failure alerts' cost once the failures were read
 * by index (a classification is regular expressions and a nearest
 * labelled example, and real messages rarely repeat word for word).
 */
Datum
syncopt_classify_unalerted_runs(PG_FUNCTION_ARGS)
{
	return classify_failed_runs(fcinfo, failed_runs_without_alert_sql);
}
