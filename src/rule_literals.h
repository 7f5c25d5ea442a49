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

/* Lower-case strings of which every match of a rule contains at least one. */
typedef struct RuleLiterals
{
	int			n;
	char	  **literal;
} RuleLiterals;

extern RuleLiterals *rule_literals(const char *pattern);
extern bool rule_literals_absent(const RuleLiterals *literals, const char *lowered);
extern char *rule_literals_lowered(const char *message);

#endif							/* SYNCOPT_RULE_LITERALS_H */
