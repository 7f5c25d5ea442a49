/*-------------------------------------------------------------------------
 *
 * learn.h
 *	  The labelled failure wordings of syncopt.failure_example as a nearest-
 *	  neighbour index: word and character 4-gram features, TF-IDF weights,
 *	  cosine similarity, a vote of the nearest examples (learn.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_LEARN_H
#define SYNCOPT_LEARN_H

#include "postgres.h"

/* One labelled wording of the corpus. */
typedef struct LearnedExample
{
	int64		id;
	char	   *category;
	char	   *message;
	char	   *wording;		/* its wording family (learned_wording()) */
	double		norm;			/* of its weight vector, before scaling */
} LearnedExample;

/* One (feature, example) weight; the corpus keeps them sorted by feature. */
typedef struct LearnedPosting
{
	uint32		feature;
	int			example;
	float		weight;
} LearnedPosting;

/* A feature of the corpus: where its postings are and how rare it is. */
typedef struct LearnedFeature
{
	uint32		feature;
	int			first;			/* its first posting */
	int			count;			/* its postings; 0: an empty slot */
	double		idf;
} LearnedFeature;

/* Counts of a feature in a message whose weights the corpus keeps computed. */
#define LEARNED_SMALL_COUNTS 16

typedef struct LearnedCorpus
{
	int			nexamples;
	LearnedExample *examples;
	int			npostings;
	LearnedPosting *postings;
	LearnedFeature *features;	/* open addressing on the feature */
	uint32		feature_mask;	/* slots - 1 (a power of two, under half full) */
	double		absent_idf;		/* idf of a feature no example has */
	int			ncategories;
	char	  **categories;		/* the examples' categories, each once */
	int		   *category_of;	/* the index in categories of each example */
	double	   *scores;			/* scratch of learned_nearest(), one per example */
	int		   *category_best;	/* and the nearest example of each category */
	double		count_weights[LEARNED_SMALL_COUNTS];	/* 1 + ln(count) */
} LearnedCorpus;

/* What the corpus says of one message. */
typedef struct LearnedMatch
{
	int			example;		/* the answering example, or -1 when none
								 * shares a feature */
	double		similarity;		/* its cosine similarity, 0 to 1 */
} LearnedMatch;

extern LearnedCorpus *learned_corpus_load(void);
extern void learned_nearest(LearnedCorpus *corpus, const char *message, LearnedMatch *match);
extern int	learned_category_nearest(const LearnedCorpus *corpus, const char *category, double *similarity);
extern double learned_category_similarity(const LearnedCorpus *corpus, const char *category);
extern char *learned_wording(const char *message);

#endif							/* SYNCOPT_LEARN_H */
