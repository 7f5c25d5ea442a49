/*-------------------------------------------------------------------------
 *
 * rule_literals.h
 *	  The literals a failure rule's regular expression cannot match without:
 *	  a cheap test that spares the regular expression engine the messages a
 *	  rule cannot match (rule_literals.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_RULE_LITERALS_H
#define SYNCOPT_RULE_LITERALS_H

#include "postgres.h"

/* Lower-case strings of which a match contains at least one. */
typedef struct RuleClause
{
	int			n;
	char	  **literal;
} RuleClause;

/* One top-level alternative of a rule: a match of it meets all its clauses. */
typedef struct RuleBranch
{
	int			nclauses;
	RuleClause *clause;
	int			start;			/* where its text starts in the pattern */
	int			len;			/* and its length in bytes */
} RuleBranch;

/* What a match of a rule needs: one of its alternatives' clauses, all of them. */
typedef struct RuleLiterals
{
	int			nbranches;
	RuleBranch *branch;
	bool		lazy;			/* some quantifier is non-greedy */
} RuleLiterals;

/* Bits of RuleText.pairs. */
#define RULE_TEXT_PAIR_BITS 4096

/* A message as the rules' literals are looked for in it (rule_text()). */
typedef struct RuleText
{
	char	   *lowered;		/* NULL: it has a character outside ASCII */
	uint64		pairs[RULE_TEXT_PAIR_BITS / 64];	/* its pairs of adjacent
													 * bytes, hashed */
} RuleText;

extern RuleLiterals *rule_literals(const char *pattern);
extern void rule_text(const char *message, RuleText *text);
extern bool rule_branch_met(const RuleBranch *branch, const RuleText *text);
extern bool rule_literals_absent(const RuleLiterals *literals, const RuleText *text);

#endif							/* SYNCOPT_RULE_LITERALS_H */
