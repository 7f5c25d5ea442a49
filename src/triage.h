/*-------------------------------------------------------------------------
 *
 * triage.h
 *	  What the failure triage reads, kept per backend until the rules or the
 *	  labels change: the rules of syncopt.failure_pattern with their regular
 *	  expressions compiled, the labelled corpus indexed, and the rules'
 *	  matching (triage.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_TRIAGE_H
#define SYNCOPT_TRIAGE_H

#include "postgres.h"

#include "mb/pg_wchar.h"
#include "regex/regex.h"

#include "learn.h"
#include "rule_literals.h"

/* A rule of syncopt.failure_pattern. */
typedef struct Pattern
{
	int64		id;
	char	   *pattern;
	char	   *vendor;			/* NULL: any */
	char	   *category;
	bool		retryable;
	char	   *remediation;
	bool		builtin;
	RuleLiterals *literals;		/* what a match needs; NULL: run on every
								 * message */
	regex_t    *whole;			/* the pattern, compiled */
	regex_t   **branches;		/* each top-level alternative compiled on its
								 * own, or NULL (triage.c says when) */
} Pattern;

/* What classify() reads: the rules and the labelled corpus. */
typedef struct Triage
{
	Pattern    *patterns;
	int			npatterns;
	bool		vendor_scoped;	/* some rule applies to one vendor only */
	LearnedCorpus *corpus;
} Triage;

/*
 * A message as the rules read it: converted to pg_wchar once, since every
 * rule is matched against the same characters, and read once for the
 * rules' literals.
 */
typedef struct RuleInput
{
	pg_wchar   *chars;
	int			nchars;
	RuleText	text;
} RuleInput;

extern Triage *triage_current(void);
extern const Pattern *triage_matching_rule(const Triage *triage, const RuleInput *input,
										   const char *vendor, bool builtin);
extern void triage_rule_where(const Pattern *p, const RuleInput *input, regmatch_t *where);

#endif							/* SYNCOPT_TRIAGE_H */
