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

extern RuleLiterals *rule_literals(const char *pattern);
extern bool rule_branch_met(const RuleBranch *branch, const char *lowered);
extern bool rule_literals_absent(const RuleLiterals *literals, const char *lowered);
extern char *rule_literals_lowered(const char *message);

#endif							/* SYNCOPT_RULE_LITERALS_H */
