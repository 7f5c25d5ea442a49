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
	double		norm;			/* of its weight vector, before scaling */
} LearnedExample;

/* One (feature, example) weight; the corpus keeps them sorted by feature. */
typedef struct LearnedPosting
{
	uint32		feature;
	int			example;
	float		weight;
} LearnedPosting;

typedef struct LearnedCorpus
{
	int			nexamples;
	LearnedExample *examples;
	int			npostings;
	LearnedPosting *postings;
	double	   *scores;			/* scratch of learned_nearest(), one per example */
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
