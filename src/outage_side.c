/*-------------------------------------------------------------------------
 *
 * outage_side.c
 *	  Which side of a sync a failure message puts an outage on.
 *
 * A refused connection, a dropped TLS session or a 503 reads the same
 * whichever side answered it: what tells the source's outage from the
 * destination's is what the message says around it.  First what the vendor
 * states (Airbyte's failure origin, in any of the shapes it is printed);
 * then the words that name a side: a destination or warehouse product, its
 * client library or host, a load operation (COPY INTO, a load job, a
 * loader or writer, a Singer target, a sink), the word "destination"; or a
 * source connector (Airbyte's source_* modules, a Singer tap), an extractor,
 * the word "source".  classify.c decides what a message naming both sides,
 * or neither, is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "outage_side.h"

/* A word that names a side, and how it must stand in the message. */
typedef struct SideWord
{
	const char *word;			/* lower case */
	int			side;			/* OUTAGE_SIDE_* */
	bool		prefix;			/* may run on into a name (tap-github, target_redshift) */
} SideWord;

/*
 * The words, lower case.  A word stands alone: no letter or digit just
 * before it, nor just after it but a plural 's' ("snowflake.connector",
 * "redshift_connector", "com.databricks.jdbc" and "destination-bigquery"
 * name their products; "resource" and "sourced" name nothing).  The
 * warehouses are destinations, as the built-in rules take them.
 */
static const SideWord side_words[] = {
	{"destination", OUTAGE_SIDE_DESTINATION, false},
	{"warehouse", OUTAGE_SIDE_DESTINATION, false},
	{"snowflake", OUTAGE_SIDE_DESTINATION, false},
	{"snowflakecomputing", OUTAGE_SIDE_DESTINATION, false},
	{"bigquery", OUTAGE_SIDE_DESTINATION, false},
	{"redshift", OUTAGE_SIDE_DESTINATION, false},
	{"databricks", OUTAGE_SIDE_DESTINATION, false},
	{"synapse", OUTAGE_SIDE_DESTINATION, false},
	{"copy into", OUTAGE_SIDE_DESTINATION, false},
	{"copy data into", OUTAGE_SIDE_DESTINATION, false},
	{"load job", OUTAGE_SIDE_DESTINATION, false},
	{"load operation", OUTAGE_SIDE_DESTINATION, false},
	{"loader", OUTAGE_SIDE_DESTINATION, false},
	{"writer", OUTAGE_SIDE_DESTINATION, false},
	{"sink", OUTAGE_SIDE_DESTINATION, false},
	{"target-", OUTAGE_SIDE_DESTINATION, true},
	{"target_", OUTAGE_SIDE_DESTINATION, true},
	{"source", OUTAGE_SIDE_SOURCE, false},
	{"tap-", OUTAGE_SIDE_SOURCE, true},
	{"tap_", OUTAGE_SIDE_SOURCE, true},
	{"extract", OUTAGE_SIDE_SOURCE, false},
	{"extraction", OUTAGE_SIDE_SOURCE, false},
	{"extractor", OUTAGE_SIDE_SOURCE, false},
};

/*
 * Text before a word that makes it name no side: a Java stack frame's
 * "(Unknown Source)".
 */
static const char *const not_a_side[] = {"unknown "};

/* Whether c is a letter or a digit (ASCII; other bytes are neither). */
static inline bool
word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* message in lower case (ASCII letters only), palloc'd. */
static char *
lowered(const char *message)
{
	char	   *low = pstrdup(message);

	for (char *p = low; *p; p++)
		*p = pg_ascii_tolower((unsigned char) *p);
	return low;
}

/*
 * The side named right after p, once spaces, quotes, colons and equals
 * signs are skipped ("failureOrigin\": \"destination\""): NULL when
 * neither.
 */
static const char *
side_after(const char *p)
{
	static const char *const sides[] = {"source", "destination"};

	while (*p == ' ' || *p == '"' || *p == '\'' || *p == ':' || *p == '=' || *p == '\t')
		p++;
	for (int i = 0; i < (int) lengthof(sides); i++)
		if (strncmp(p, sides[i], strlen(sides[i])) == 0 && !word_char(p[strlen(sides[i])]))
			return sides[i];
	return NULL;
}

/*
 * The side Airbyte blames for a failure ("source" or "destination"), as its
 * failure reasons print it: "Failure Origin: destination, Message: ...",
 * "Failure in source: ..." or a failure summary's "failureOrigin":
 * "destination".  NULL when the message carries none, or another origin
 * (replication, platform, ...).
 */
const char *
outage_origin(const char *message)
{
	static const char *const origin_keys[] = {"failure origin", "failureorigin", "failure_origin"};
	char	   *low = lowered(message);
	const char *side = NULL;

	for (int i = 0; i < (int) lengthof(origin_keys) && !side; i++)
		for (const char *p = strstr(low, origin_keys[i]); p && !side; p = strstr(p + 1, origin_keys[i]))
			side = side_after(p + strlen(origin_keys[i]));
	for (const char *p = strstr(low, "failure in "); p && !side; p = strstr(p + 1, "failure in "))
	{
		side = side_after(p + strlen("failure in "));
		/* "Failure in source: ...", not "failure in source table t" */
		if (side && p[strlen("failure in ") + strlen(side)] != ':')
			side = NULL;
	}
	pfree(low);
	return side;
}

/* Whether the word at p of low stands after text that makes it name no side. */
static bool
excluded(const char *low, const char *p)
{
	for (int i = 0; i < (int) lengthof(not_a_side); i++)
	{
		size_t		len = strlen(not_a_side[i]);

		if ((size_t) (p - low) >= len && strncmp(p - len, not_a_side[i], len) == 0)
			return true;
	}
	return false;
}

/*
 * The sides the message's words name (OUTAGE_SIDE_* bits, 0 for none),
 * with the first word found of each in *source_word and *destination_word
 * (NULL when that side is not named).
 */
int
outage_sides_named(const char *message, const char **source_word, const char **destination_word)
{
	char	   *low = lowered(message);
	int			sides = 0;

	*source_word = NULL;
	*destination_word = NULL;
	for (int i = 0; i < (int) lengthof(side_words); i++)
	{
		const SideWord *w = &side_words[i];
		size_t		len = strlen(w->word);

		if (sides & w->side)
			continue;
		for (const char *p = strstr(low, w->word); p; p = strstr(p + 1, w->word))
		{
			const char *end = p + len;

			if (p > low && word_char(p[-1]))
				continue;
			if (!w->prefix && *end == 's')
				end++;
			if (!w->prefix && word_char(*end))
				continue;
			if (excluded(low, p))
				continue;
			sides |= w->side;
			if (w->side == OUTAGE_SIDE_SOURCE)
				*source_word = w->word;
			else
				*destination_word = w->word;
			break;
		}
	}
	pfree(low);
	return sides;
}
