/*-------------------------------------------------------------------------
 *
 * learn.c
 *	  Failure triage that learns from labelled wordings: the rows of
 *	  syncopt.failure_example (built-in ones and those a person added with
 *	  syncopt.label_failure()) as a nearest-neighbour index, and the
 *	  wording family of a message (syncopt.failure_wording()).
 *
 * A message becomes words (lower case, runs of digits folded to one "0",
 * anything but letters, digits and '_' a separator, one-letter words
 * dropped) and the character 4-grams of each word padded with a space on
 * both sides, so "refresh_token" and "refreshing a token" still share
 * features.  Features are weighted 1 + ln(count) times the smoothed
 * inverse document frequency ln((n + 1) / (df + 1)) + 1 over the corpus,
 * a word counting WORD_COUNT times so that a shared word weighs more than
 * one shared 4-gram of it; the similarity of a message to an example is
 * the cosine of their weight vectors.  The answer is not simply the
 * nearest example: the VOTERS nearest examples vote for their categories
 * with their squared similarities, and the nearest example of the winning
 * category answers, so one stray wording of another category does not
 * outvote two near ones, while two faint ones do not outvote a close one.
 * This method, its features and the thresholds of classify.c were chosen
 * by measurement on wordings outside the held-out sets (docs/benchmarks.md,
 * "Failure triage": leave-one-out over the corpus and
 * failure_messages.HELD_OUT): words alone, word pairs and 4-grams alone did
 * no better than both; the vote and the word count were a gain there.
 *
 * The corpus is read and indexed when triage.c finds it changed, and
 * kept for the calls after.  A posting list sorted by feature serves each
 * message: its features are looked up in a hash table of the corpus's
 * features, which also holds each one's inverse document frequency, and
 * only the examples that share one are scored.  The scoring adds the same
 * products in the same order as a plain computation would, so the
 * similarities are the same to the last bit.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"

#include "learn.h"
#include "spi_run.h"

PG_FUNCTION_INFO_V1(syncopt_failure_wording);

/* Longest word that yields features; longer runs are ids or payloads. */
#define MAX_WORD 40
/* Bytes of a message read for features and wordings. */
#define MAX_MESSAGE 4000
/* Occurrences a word counts for (each of its 4-grams counts once). */
#define WORD_COUNT 2
/* Nearest examples that vote for the answer's category. */
#define VOTERS 3

/* One feature of a message and how often it occurs. */
typedef struct Feature
{
	uint32		hash;
	int			count;
} Feature;

/* sort_features(): features by hash, the comparison inlined (a message's every feature is sorted). */
#define ST_SORT sort_features
#define ST_ELEMENT_TYPE Feature
#define ST_COMPARE(a, b) ((a)->hash < (b)->hash ? -1 : (a)->hash > (b)->hash ? 1 : 0)
#define ST_SCOPE static
#define ST_DEFINE
#include "lib/sort_template.h"

/* Order postings by feature, then example. */
static int
posting_cmp(const void *a, const void *b)
{
	const LearnedPosting *x = a;
	const LearnedPosting *y = b;

	if (x->feature != y->feature)
		return x->feature < y->feature ? -1 : 1;
	return x->example - y->example;
}

/* Append the hash of kind + text[0..len), occurring count times, to the features. */
static void
add_feature(Feature **features, int *n, int *cap, char kind, const char *text, int len, int count)
{
	char		buf[MAX_WORD + 4];

	buf[0] = kind;
	memcpy(buf + 1, text, len);
	if (*n == *cap)
	{
		*cap *= 2;
		*features = repalloc(*features, sizeof(Feature) * *cap);
	}
	(*features)[*n].hash = hash_bytes((unsigned char *) buf, len + 1);
	(*features)[*n].count = count;
	(*n)++;
}

/*
 * The distinct features of a message with their counts, sorted by hash:
 * each word, and the 4-grams of the word padded with spaces.
 */
static Feature *
message_features(const char *message, int *nfeatures)
{
	int			cap = 64;
	int			n = 0;
	Feature    *features = palloc(sizeof(Feature) * cap);
	const char *p = message;
	const char *end = message + strnlen(message, MAX_MESSAGE);

	while (p < end)
	{
		char		word[MAX_WORD + 3];
		int			len = 0;
		bool		too_long = false;

		/* Read one word: letters, digits (a run folded to "0") and '_'. */
		word[len++] = ' ';
		while (p < end && (isalnum((unsigned char) *p) || *p == '_') && !IS_HIGHBIT_SET(*p))
		{
			char		c = pg_ascii_tolower((unsigned char) *p);

			if (isdigit((unsigned char) c))
			{
				while (p + 1 < end && isdigit((unsigned char) p[1]))
					p++;
				c = '0';
			}
			if (len <= MAX_WORD)
				word[len++] = c;
			else
				too_long = true;
			p++;
		}
		if (len > 2 && !too_long)
		{
			word[len++] = ' ';
			add_feature(&features, &n, &cap, 'w', word + 1, len - 2, WORD_COUNT);
			for (int i = 0; i + 4 <= len; i++)
				add_feature(&features, &n, &cap, 'c', word + i, 4, 1);
		}
		/* Skip the separators up to the next word. */
		while (p < end && !((isalnum((unsigned char) *p) || *p == '_') && !IS_HIGHBIT_SET(*p)))
			p++;
	}
	if (n > 1)
		sort_features(features, n);
	/* Fold repeats into counts. */
	{
		int			out = 0;

		for (int i = 0; i < n; i++)
		{
			if (out > 0 && features[out - 1].hash == features[i].hash)
				features[out - 1].count += features[i].count;
			else
				features[out++] = features[i];
		}
		n = out;
	}
	*nfeatures = n;
	return features;
}

/* Smoothed inverse document frequency of a feature in df of n examples. */
static double
idf(int df, int n)
{
	return log((n + 1.0) / (df + 1.0)) + 1.0;
}

/* The weight 1 + ln(count) of a feature occurring count times. */
static double
count_weight(const LearnedCorpus *corpus, int count)
{
	if (count < LEARNED_SMALL_COUNTS)
		return corpus->count_weights[count];
	return 1.0 + log((double) count);
}

/* The corpus's entry for feature, or NULL when no example has it. */
static const LearnedFeature *
corpus_feature(const LearnedCorpus *corpus, uint32 feature)
{
	for (uint32 i = feature & corpus->feature_mask;; i = (i + 1) & corpus->feature_mask)
	{
		const LearnedFeature *f = &corpus->features[i];

		if (f->count == 0)
			return NULL;
		if (f->feature == feature)
			return f;
	}
}

/*
 * Index the corpus's postings (sorted by feature) by feature, each with its
 * inverse document frequency, and its examples' categories by number.
 */
static void
index_corpus(LearnedCorpus *corpus)
{
	int			slots = 16;
	int			distinct = 0;

	for (int i = 1; i < LEARNED_SMALL_COUNTS; i++)
		corpus->count_weights[i] = 1.0 + log((double) i);
	for (int i = 0; i < corpus->npostings; i++)
		distinct += i == 0 || corpus->postings[i].feature != corpus->postings[i - 1].feature;
	while (slots < 2 * distinct)
		slots *= 2;
	corpus->features = palloc0(sizeof(LearnedFeature) * slots);
	corpus->feature_mask = slots - 1;
	corpus->absent_idf = idf(0, corpus->nexamples);
	for (int start = 0; start < corpus->npostings;)
	{
		uint32		feature = corpus->postings[start].feature;
		int			stop = start;
		uint32		i = feature & corpus->feature_mask;

		while (stop < corpus->npostings && corpus->postings[stop].feature == feature)
			stop++;
		while (corpus->features[i].count != 0)
			i = (i + 1) & corpus->feature_mask;
		corpus->features[i].feature = feature;
		corpus->features[i].first = start;
		corpus->features[i].count = stop - start;
		corpus->features[i].idf = idf(stop - start, corpus->nexamples);
		start = stop;
	}

	corpus->categories = palloc(sizeof(char *) * Max(corpus->nexamples, 1));
	corpus->category_of = palloc(sizeof(int) * Max(corpus->nexamples, 1));
	for (int e = 0; e < corpus->nexamples; e++)
	{
		int			c = 0;

		while (c < corpus->ncategories && strcmp(corpus->categories[c], corpus->examples[e].category) != 0)
			c++;
		if (c == corpus->ncategories)
			corpus->categories[corpus->ncategories++] = corpus->examples[e].category;
		corpus->category_of[e] = c;
	}
	corpus->category_best = palloc(sizeof(int) * Max(corpus->ncategories, 1));
}

/* The index of category in the corpus's categories, or -1 when no example has it. */
static int
category_index(const LearnedCorpus *corpus, const char *category)
{
	for (int c = 0; c < corpus->ncategories; c++)
		if (strcmp(corpus->categories[c], category) == 0)
			return c;
	return -1;
}

/*
 * Read syncopt.failure_example and index it, in the caller's memory
 * context.  Must be called outside an SPI connection of the caller.
 */
LearnedCorpus *
learned_corpus_load(void)
{
	MemoryContext mcxt = CurrentMemoryContext;
	LearnedCorpus *corpus = palloc0(sizeof(LearnedCorpus));
	int			cap = 1024;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	/* Newest first: of equally near examples, the latest label wins. */
	(void) spi_run("SELECT example_id, category, message FROM syncopt.failure_example"
				   " WHERE superseded_by IS NULL ORDER BY example_id DESC",
				   0, NULL, NULL, NULL, true);
	MemoryContextSwitchTo(mcxt);
	corpus->nexamples = (int) SPI_processed;
	corpus->examples = palloc0(sizeof(LearnedExample) * Max(corpus->nexamples, 1));
	corpus->postings = palloc(sizeof(LearnedPosting) * cap);
	for (int i = 0; i < corpus->nexamples; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Feature    *features;
		int			nfeatures;

		corpus->examples[i].id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		corpus->examples[i].category = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		corpus->examples[i].message = TextDatumGetCString(SPI_getbinval(tup, desc, 3, &isnull));
		corpus->examples[i].wording = learned_wording(corpus->examples[i].message);
		features = message_features(corpus->examples[i].message, &nfeatures);
		for (int f = 0; f < nfeatures; f++)
		{
			if (corpus->npostings == cap)
			{
				cap *= 2;
				corpus->postings = repalloc(corpus->postings, sizeof(LearnedPosting) * cap);
			}
			corpus->postings[corpus->npostings].feature = features[f].hash;
			corpus->postings[corpus->npostings].example = i;
			corpus->postings[corpus->npostings].weight = (float) (1.0 + log((double) features[f].count));
			corpus->npostings++;
		}
		pfree(features);
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);

	/* Weigh each posting by its feature's rarity, then scale each example to length 1. */
	if (corpus->npostings > 1)
		qsort(corpus->postings, corpus->npostings, sizeof(LearnedPosting), posting_cmp);
	for (int start = 0; start < corpus->npostings;)
	{
		int			stop = start;
		double		w;

		while (stop < corpus->npostings && corpus->postings[stop].feature == corpus->postings[start].feature)
			stop++;
		w = idf(stop - start, corpus->nexamples);
		for (int i = start; i < stop; i++)
		{
			corpus->postings[i].weight *= w;
			corpus->examples[corpus->postings[i].example].norm +=
				(double) corpus->postings[i].weight * corpus->postings[i].weight;
		}
		start = stop;
	}
	for (int i = 0; i < corpus->nexamples; i++)
		corpus->examples[i].norm = sqrt(corpus->examples[i].norm);
	for (int i = 0; i < corpus->npostings; i++)
	{
		double		norm = corpus->examples[corpus->postings[i].example].norm;

		if (norm > 0)
			corpus->postings[i].weight /= norm;
	}
	corpus->scores = palloc0(sizeof(double) * Max(corpus->nexamples, 1));
	index_corpus(corpus);
	return corpus;
}

/*
 * The example that answers for message: of the VOTERS examples nearest to
 * it, the nearest of the category with the greatest sum of squared
 * similarities (ties go to the category of the nearer example).  Leaves
 * every example's similarity in corpus->scores, and the nearest example of
 * each category, for learned_category_nearest().
 */
void
learned_nearest(LearnedCorpus *corpus, const char *message, LearnedMatch *match)
{
	int			voters[VOTERS];
	int			nvoters = 0;
	double		best_vote = 0;
	int			nfeatures;
	Feature    *features = message_features(message, &nfeatures);
	double		qnorm = 0;

	memset(corpus->scores, 0, sizeof(double) * Max(corpus->nexamples, 1));
	for (int c = 0; c < corpus->ncategories; c++)
		corpus->category_best[c] = -1;
	for (int f = 0; f < nfeatures; f++)
	{
		const LearnedFeature *cf = corpus_feature(corpus, features[f].hash);
		double		w = count_weight(corpus, features[f].count) * (cf ? cf->idf : corpus->absent_idf);

		qnorm += w * w;
		if (cf == NULL)
			continue;
		for (int i = cf->first; i < cf->first + cf->count; i++)
			corpus->scores[corpus->postings[i].example] += w * corpus->postings[i].weight;
	}
	pfree(features);

	match->example = -1;
	match->similarity = 0;
	if (qnorm <= 0)
		return;
	qnorm = sqrt(qnorm);

	/*
	 * The voters, nearest first (newest first among equals: the corpus
	 * order), and the nearest example of each category (the first of
	 * equals).
	 */
	for (int i = 0; i < corpus->nexamples; i++)
	{
		int			j;
		int		   *best = &corpus->category_best[corpus->category_of[i]];

		corpus->scores[i] /= qnorm;
		if (corpus->scores[i] > 0 && (*best < 0 || corpus->scores[i] > corpus->scores[*best]))
			*best = i;
		if (corpus->scores[i] <= 0 ||
			(nvoters == VOTERS && corpus->scores[i] <= corpus->scores[voters[VOTERS - 1]]))
			continue;
		if (nvoters < VOTERS)
			nvoters++;
		for (j = nvoters - 1; j > 0 && corpus->scores[voters[j - 1]] < corpus->scores[i]; j--)
			voters[j] = voters[j - 1];
		voters[j] = i;
	}

	/* Each voter's category gathers its voters' squared similarities. */
	for (int a = 0; a < nvoters; a++)
	{
		const char *category = corpus->examples[voters[a]].category;
		double		vote = 0;

		for (int b = 0; b < nvoters; b++)
			if (strcmp(corpus->examples[voters[b]].category, category) == 0)
				vote += corpus->scores[voters[b]] * corpus->scores[voters[b]];
		if (vote > best_vote)
		{
			best_vote = vote;
			match->example = voters[a];
			match->similarity = Min(corpus->scores[voters[a]], 1.0);
		}
	}
}

/*
 * The example of category nearest to the last learned_nearest() message, or
 * -1 when none shares a feature with it; its similarity goes to
 * *similarity (0 when none).
 */
int
learned_category_nearest(const LearnedCorpus *corpus, const char *category, double *similarity)
{
	int			c = category_index(corpus, category);
	int			best = c < 0 ? -1 : corpus->category_best[c];

	*similarity = best < 0 ? 0 : Min(corpus->scores[best], 1.0);
	return best;
}

/* The highest similarity of the last learned_nearest() message to an example of category. */
double
learned_category_similarity(const LearnedCorpus *corpus, const char *category)
{
	double		similarity;

	(void) learned_category_nearest(corpus, category, &similarity);
	return similarity;
}

/*
 * Whether quoted text says what went wrong rather than naming something:
 * a JSON key ("status":), a JSON value written as an upper-case code
 * ("status": "PERMISSION_DENIED"), or prose of three words or more.  Vendors' JSON
 * error bodies are all quotes; masking every one made a 503 body and a 400
 * body one family, and a label of one superseded the other's.
 */
static bool
quoted_is_wording(const char *start, const char *open, const char *close,
				  const char *end)
{
	const char *q;
	int			spaces = 0;
	bool		code = *open == '"' && close - open > 1;

	for (q = open + 1; q < close; q++)
	{
		if (*q == ' ')
			spaces++;
		if (!((*q >= 'A' && *q <= 'Z') || *q == '_'))
			code = false;
	}
	if (spaces >= 2)
		return true;
	if (*open != '"')
		return false;
	for (q = close + 1; q < end && *q == ' '; q++)
		;
	if (q < end && *q == ':')
		return true;
	/* A code only as a JSON value: after a quoted key and its colon. */
	for (q = open - 1; q >= start && *q == ' '; q--)
		;
	if (!code || q < start || *q != ':')
		return false;
	for (q--; q >= start && *q == ' '; q--)
		;
	return q >= start && *q == '"';
}

/*
 * Fold message[p, end) into buf, as learned_wording() describes, until buf
 * holds 200 bytes; quoted text kept as wording is folded the same way.
 */
static void
fold_wording(StringInfo buf, const char *start, const char *p, const char *end)
{
	while (p < end && buf->len < 200)
	{
		unsigned char c = (unsigned char) *p;

		if (c == '\'' || c == '"' || c == '`')
		{
			const char *close = memchr(p + 1, c, end - p - 1);

			/* A quote that closes within 200 bytes holds a name or value. */
			if (close != NULL && close - p <= 200)
			{
				if (quoted_is_wording(start, p, close, end))
				{
					appendStringInfoChar(buf, (char) c);
					fold_wording(buf, start, p + 1, close);
					appendStringInfoChar(buf, (char) c);
				}
				else
					appendStringInfoString(buf, "'?'");
				p = close + 1;
				continue;
			}
		}
		if (isdigit(c))
		{
			while (p + 1 < end && isdigit((unsigned char) p[1]))
				p++;
			appendStringInfoChar(buf, '0');
		}
		else if (isspace(c))
		{
			while (p + 1 < end && isspace((unsigned char) p[1]))
				p++;
			if (buf->len > 0 && buf->data[buf->len - 1] != ' ')
				appendStringInfoChar(buf, ' ');
		}
		else
			appendStringInfoChar(buf, IS_HIGHBIT_SET(c) ? (char) c : pg_ascii_tolower(c));
		p++;
	}
}

/*
 * The wording family of a message: lower case, runs of digits as "0",
 * quoted names and values as '?' (quoted wording kept: quoted_is_wording),
 * whitespace runs as one space, at most 200 characters; what stays is the
 * part that says what went wrong.
 */
char *
learned_wording(const char *message)
{
	StringInfoData buf;
	const char *end = message + strnlen(message, MAX_MESSAGE);

	initStringInfo(&buf);
	fold_wording(&buf, message, message, end);
	/* Never cut a multibyte character in two. */
	buf.len = pg_mbcliplen(buf.data, buf.len, Min(buf.len, 200));
	buf.data[buf.len] = '\0';
	while (buf.len > 0 && buf.data[buf.len - 1] == ' ')
		buf.data[--buf.len] = '\0';
	return buf.data;
}

/* syncopt.failure_wording(message): the wording family it belongs to. */
Datum
syncopt_failure_wording(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(learned_wording(text_to_cstring(PG_GETARG_TEXT_PP(0)))));
}
