/*-------------------------------------------------------------------------
 *
 * rule_literals.c
 *	  The literals a failure rule's regular expression cannot match without.
 *
 * PostgreSQL's regular expression engine builds its automaton's states
 * afresh on every call, which made the rules most of the cost of
 * classifying a message that was not classified before: about 30 to 100
 * microseconds a rule on a message of a hundred or so characters.  Most
 * rules cannot match most messages, and a rule's words say so cheaply:
 * "invalid_grant|token (has )?expired" cannot match a message that
 * contains neither "invalid_grant" nor "expired", and
 * "(bucket|database).{0,80}(does not exist|not found)" one that lacks
 * either "bucket" or "database", or both "does not exist" and "not found".
 * rule_literals() reads a pattern into such requirements: for each of its
 * top-level alternatives, the clauses (sets of lower-case literals) a
 * match of it meets, each by containing one of the clause's literals.
 * triage.c runs an alternative's regular expression only on messages that
 * meet every clause of it, so verdicts are exactly those of running every
 * rule; each alternative's place in the pattern is kept for that.  Whether
 * a quantifier is non-greedy is noted too: such an alternative cannot be
 * matched apart from the others (triage.c says why).
 *
 * The reading is conservative: it understands literals, escaped
 * punctuation, groups, alternation, brackets, '.', class escapes (\d, \S,
 * \w, ...), the zero-width \m, \M, \y, \Y, ^ and $, and the quantifiers *,
 * +, ?, {m}, {m,} and {m,n} (greedy or not); a part that may match the
 * empty string requires nothing.  Anything else (back references,
 * lookahead, embedded options, a literal outside ASCII) and the pattern
 * gets no literals: its regular expression runs on every message.  Matching
 * is case-insensitive: literals are lower case and are looked for in the
 * message lowered once (rule_text, which also notes the message's pairs of
 * adjacent characters, so that most absent literals are settled without a
 * search); a message with a character outside ASCII is never filtered,
 * since only ASCII case folding is done here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "rule_literals.h"

/* More alternatives than this, or a literal longer, and a rule is not filtered. */
#define MAX_LITERALS 64
#define MAX_LITERAL_LEN 63

/* What a part of a pattern requires: n < 0 for nothing, else one of n strings. */
typedef struct Requirement
{
	int			n;
	char	  **s;
} Requirement;

/*
 * The reader's position in a pattern, whether it met what it does not
 * understand, and whether it met a non-greedy quantifier.
 */
typedef struct Reader
{
	const char *p;
	bool		failed;
	bool		lazy;
} Reader;

static Requirement read_group(Reader *r);

/* A requirement of nothing. */
static Requirement
nothing(void)
{
	Requirement req = {-1, NULL};

	return req;
}

/* A requirement of the one literal text[0..len). */
static Requirement
one_literal(const char *text, int len)
{
	Requirement req;

	req.n = 1;
	req.s = palloc(sizeof(char *));
	req.s[0] = pnstrdup(text, len);
	return req;
}

/* How selective a requirement is: its shortest literal's length, 0 for nothing. */
static int
selectivity(Requirement req)
{
	int			shortest = INT_MAX;

	if (req.n <= 0)
		return 0;
	for (int i = 0; i < req.n; i++)
		shortest = Min(shortest, (int) strlen(req.s[i]));
	return shortest;
}

/* Of two requirements that both hold, the more selective (then the one with fewer literals). */
static Requirement
stronger(Requirement a, Requirement b)
{
	int			sa = selectivity(a);
	int			sb = selectivity(b);

	if (sa != sb)
		return sa > sb ? a : b;
	if (sa == 0)
		return a;
	return a.n <= b.n ? a : b;
}

/* Skip a bracket expression, the reader just past its '['; it requires nothing. */
static void
skip_bracket(Reader *r)
{
	if (*r->p == '^')
		r->p++;
	if (*r->p == ']')
		r->p++;
	while (*r->p && *r->p != ']')
	{
		if (r->p[0] == '[' && (r->p[1] == ':' || r->p[1] == '.' || r->p[1] == '='))
		{
			const char *close = strstr(r->p + 2, r->p[1] == ':' ? ":]" : r->p[1] == '.' ? ".]" : "=]");

			if (close == NULL)
			{
				r->failed = true;
				return;
			}
			r->p = close + 2;
			continue;
		}
		r->p++;
	}
	if (*r->p != ']')
		r->failed = true;
	else
		r->p++;
}

/*
 * Read one atom.  Its requirement is returned; when it is a single literal
 * character, that character (lower case) goes to *literal, else '\0'.
 */
static Requirement
read_atom(Reader *r, char *literal)
{
	char		c = *r->p;

	*literal = '\0';
	if (c == '(')
	{
		Requirement inner;

		r->p++;
		if (r->p[0] == '?')
		{
			if (r->p[1] != ':')
			{
				r->failed = true;
				return nothing();
			}
			r->p += 2;
		}
		inner = read_group(r);
		if (*r->p != ')')
			r->failed = true;
		else
			r->p++;
		return inner;
	}
	if (c == '[')
	{
		r->p++;
		skip_bracket(r);
		return nothing();
	}
	if (c == '.' || c == '^' || c == '$')
	{
		r->p++;
		return nothing();
	}
	if (c == '\\')
	{
		char		e = r->p[1];

		r->p += 2;
		/* Zero-width constraints and classes of characters require nothing. */
		if (e && strchr("mMyYAZdDsSwW", e))
			return nothing();
		/* An escaped punctuation character is itself. */
		if (e && strchr(".\\()[]{}|*+?^$/-'\" ", e))
		{
			*literal = e;
			return one_literal(&e, 1);
		}
		r->failed = true;
		return nothing();
	}
	if (c == '\0' || c == ')' || c == '|' || strchr("*+?{", c) || IS_HIGHBIT_SET(c))
	{
		r->failed = true;
		return nothing();
	}
	r->p++;
	*literal = pg_ascii_tolower((unsigned char) c);
	return one_literal(literal, 1);
}

/* Read a quantifier if one follows; its least count goes to *least (1 when none). */
static bool
read_quantifier(Reader *r, int *least)
{
	char		c = *r->p;

	*least = 1;
	if (c == '*' || c == '?')
		*least = 0;
	else if (c == '{')
	{
		char	   *end;
		long		m = strtol(r->p + 1, &end, 10);

		if (end == r->p + 1 || m < 0)
		{
			r->failed = true;
			return false;
		}
		while (*end && *end != '}')
		{
			if (!isdigit((unsigned char) *end) && *end != ',')
			{
				r->failed = true;
				return false;
			}
			end++;
		}
		if (*end != '}')
		{
			r->failed = true;
			return false;
		}
		*least = (int) Min(m, 2);
		r->p = end;
	}
	else if (c != '+')
		return false;
	r->p++;
	/* A non-greedy marker changes nothing of what must be matched. */
	if (*r->p == '?')
	{
		r->lazy = true;
		r->p++;
	}
	return true;
}

/* The requirements that all hold for a match of a sequence. */
typedef struct Clauses
{
	int			n;
	Requirement *clause;
} Clauses;

/* Add a requirement that holds to the clauses. */
static void
add_clause(Clauses *clauses, Requirement req)
{
	if (req.n <= 0)
		return;
	clauses->clause = clauses->n == 0 ? palloc(sizeof(Requirement)) :
		repalloc(clauses->clause, sizeof(Requirement) * (clauses->n + 1));
	clauses->clause[clauses->n++] = req;
}

/*
 * Read a sequence of pieces up to '|', ')' or the end: each run of literal
 * characters holds for any match of it, and so does each piece's own
 * requirement unless the piece may be absent.
 */
static Clauses
read_sequence(Reader *r)
{
	Clauses		clauses = {0, NULL};
	char		run[MAX_LITERAL_LEN + 1];
	int			runlen = 0;

	while (!r->failed && *r->p && *r->p != '|' && *r->p != ')')
	{
		char		literal;
		int			least;
		Requirement piece = read_atom(r, &literal);
		bool		quantified = read_quantifier(r, &least);

		if (r->failed)
			break;
		if (literal && !quantified && runlen < MAX_LITERAL_LEN)
		{
			run[runlen++] = literal;
			continue;
		}
		if (runlen > 0)
			add_clause(&clauses, one_literal(run, runlen));
		runlen = 0;
		if (least > 0)
			add_clause(&clauses, piece);
	}
	if (runlen > 0)
		add_clause(&clauses, one_literal(run, runlen));
	return clauses;
}

/*
 * Read the alternatives of a group up to ')': one of them holds, so the
 * most selective requirement of each, all together.
 */
static Requirement
read_group(Reader *r)
{
	Requirement all = {0, palloc(sizeof(char *) * MAX_LITERALS)};

	for (;;)
	{
		Clauses		branch = read_sequence(r);
		Requirement best = nothing();

		for (int i = 0; i < branch.n; i++)
			best = stronger(best, branch.clause[i]);
		if (r->failed || best.n < 0 || all.n + best.n > MAX_LITERALS)
			all.n = -1;
		else
		{
			memcpy(all.s + all.n, best.s, sizeof(char *) * best.n);
			all.n += best.n;
		}
		if (r->failed || *r->p != '|')
			break;
		r->p++;
	}
	return all.n < 0 ? nothing() : all;
}

/*
 * What a match of pattern (an advanced regular expression matched
 * case-insensitively) must contain: for one of its top-level alternatives,
 * one literal of each of that alternative's clauses.  NULL when the
 * pattern cannot be read so, or an alternative requires nothing: then its
 * expression runs on every message.
 */
RuleLiterals *
rule_literals(const char *pattern)
{
	Reader		r = {pattern, false, false};
	RuleLiterals *literals = palloc0(sizeof(RuleLiterals));

	for (;;)
	{
		const char *start = r.p;
		Clauses		branch = read_sequence(&r);

		if (r.failed || branch.n == 0)
			return NULL;
		literals->branch = literals->nbranches == 0 ? palloc(sizeof(RuleBranch)) :
			repalloc(literals->branch, sizeof(RuleBranch) * (literals->nbranches + 1));
		literals->branch[literals->nbranches].start = start - pattern;
		literals->branch[literals->nbranches].len = r.p - start;
		literals->branch[literals->nbranches].nclauses = branch.n;
		literals->branch[literals->nbranches].clause = palloc(sizeof(RuleClause) * branch.n);
		for (int i = 0; i < branch.n; i++)
		{
			literals->branch[literals->nbranches].clause[i].n = branch.clause[i].n;
			literals->branch[literals->nbranches].clause[i].literal = branch.clause[i].s;
		}
		literals->nbranches++;
		if (*r.p != '|')
			break;
		r.p++;
	}
	literals->lazy = r.lazy;
	return *r.p == '\0' ? literals : NULL;
}

/* The bit of a pair of adjacent lower-case bytes in RuleText.pairs. */
#define PAIR_BIT(a, b) ((((uint32) (unsigned char) (a) << 5) ^ (unsigned char) (b)) & (RULE_TEXT_PAIR_BITS - 1))

/*
 * Read a message for the rules' literals: lowered, unless it has a
 * character outside ASCII (such a message is never filtered), and which
 * pairs of adjacent bytes it holds.
 */
void
rule_text(const char *message, RuleText *text)
{
	int			len = strlen(message);
	char	   *lowered = palloc(len + 1);

	memset(text->pairs, 0, sizeof(text->pairs));
	text->lowered = NULL;
	for (int i = 0; i < len; i++)
	{
		if (IS_HIGHBIT_SET(message[i]))
		{
			pfree(lowered);
			return;
		}
		lowered[i] = pg_ascii_tolower((unsigned char) message[i]);
		if (i > 0)
		{
			uint32		bit = PAIR_BIT(lowered[i - 1], lowered[i]);

			text->pairs[bit / 64] |= UINT64CONST(1) << (bit % 64);
		}
	}
	lowered[len] = '\0';
	text->lowered = lowered;
}

/*
 * Whether the text holds literal.  A literal whose pairs of adjacent bytes
 * are not all in the text's pairs cannot be in it; that test, a few bits
 * read, settles most literals before any search.
 */
static bool
literal_in(const char *literal, const RuleText *text)
{
	for (int i = 0; literal[i] != '\0' && literal[i + 1] != '\0'; i++)
	{
		uint32		bit = PAIR_BIT(literal[i], literal[i + 1]);

		if ((text->pairs[bit / 64] & (UINT64CONST(1) << (bit % 64))) == 0)
			return false;
	}
	return strstr(text->lowered, literal) != NULL;
}

/*
 * Whether the lowered message meets each clause of a top-level alternative
 * with one of the clause's literals: only then can the alternative match.
 */
bool
rule_branch_met(const RuleBranch *branch, const RuleText *text)
{
	bool		met = true;

	for (int c = 0; c < branch->nclauses && met; c++)
	{
		met = false;
		for (int i = 0; i < branch->clause[c].n && !met; i++)
			met = literal_in(branch->clause[c].literal[i], text);
	}
	return met;
}

/*
 * Whether the rule cannot match the message: no top-level alternative has
 * each of its clauses met by a literal of the message.  False when there
 * is nothing to tell by (no literals, or a message that was not lowered).
 */
bool
rule_literals_absent(const RuleLiterals *literals, const RuleText *text)
{
	if (literals == NULL || text->lowered == NULL)
		return false;
	for (int b = 0; b < literals->nbranches; b++)
		if (rule_branch_met(&literals->branch[b], text))
			return false;
	return true;
}
