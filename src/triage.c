/*-------------------------------------------------------------------------
 *
 * triage.c
 *	  What the failure triage reads, kept per backend: the rules of
 *	  syncopt.failure_pattern with their regular expressions compiled, and
 *	  the labelled corpus of syncopt.failure_example indexed (learn.c); and
 *	  how a message is matched against the rules.
 *
 * Reading and indexing both tables was done on every call of
 * classify_failure(), some 400 times a planning run.  They are now kept in
 * the backend's cache memory with the version of syncopt.triage_version
 * they were read at, and read again only when a call sees another
 * version.  Every statement that writes either table sets a version never
 * handed out before (src/sql/47_triage_version.sql), and the version is
 * read under the same snapshot as the tables would be, so a label counts
 * from the next statement of its own transaction and of any other session
 * once committed, as label_failure() promises; a rolled-back label's
 * version is never seen again.
 *
 * A rule's regular expression is compiled once per cache, not looked up
 * in PostgreSQL's cache of 32 expressions.  Most of a distinct message's
 * cost was the regular expression engine, which builds its automaton's
 * states afresh on every call, in time that grows with the size of the
 * expression: a rule of thirty alternatives cost 50 to 110 microseconds a
 * message, one alternative 3 to 9.  So each top-level alternative of a
 * rule is compiled on its own as well, and only the alternatives whose
 * literals the message holds (rule_literals.c) are run: the rule's match
 * is theirs that starts first, the longest of those that start there.
 * That is the whole expression's match: an expression of several
 * alternatives matches the longest string at the earliest position where
 * any alternative matches, and an alternative whose literals are missing
 * cannot match.  An alternative alone keeps that preference for the
 * longest only when no quantifier in it is non-greedy, so a rule with a
 * non-greedy quantifier, one without literals, and a message outside
 * ASCII run the whole expression.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_collation.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "spi_run.h"
#include "triage.h"

/* Which rules and labels a triage was read from (src/sql/47_triage_version.sql). */
typedef struct TriageVersion
{
	Oid			table;			/* of syncopt.triage_version */
	int64		version;
} TriageVersion;

/*
 * The cached triage, the memory it lives in, and the version it was read
 * at: the version row's table (a dropped and re-created extension starts
 * its sequence again) and its value.
 */
static Triage *cached_triage = NULL;
static MemoryContext cached_cxt = NULL;
static TriageVersion cached_version;

/* Free the compiled expressions of a triage whose memory goes. */
static void
free_regexes(void *arg)
{
	Triage	   *triage = arg;

	for (int i = 0; i < triage->npatterns; i++)
	{
		Pattern    *p = &triage->patterns[i];

		if (p->whole)
			pg_regfree(p->whole);
		for (int b = 0; p->branches && b < p->literals->nbranches; b++)
			if (p->branches[b])
				pg_regfree(p->branches[b]);
	}
}

/*
 * Compile len bytes of rule id's pattern, case-insensitively, as
 * PostgreSQL's ~* does, into *re.
 */
static void
compile_rule(regex_t *re, const char *pattern, int len, int64 id)
{
	pg_wchar   *wide = palloc(sizeof(pg_wchar) * (len + 1));
	int			wlen = pg_mb2wchar_with_len(pattern, wide, len);
	int			rc = pg_regcomp(re, wide, wlen, REG_ADVANCED | REG_ICASE, DEFAULT_COLLATION_OID);

	pfree(wide);
	if (rc != REG_OKAY)
	{
		char		reason[100];

		/* A cancel request ends up here: honour it before reporting. */
		CHECK_FOR_INTERRUPTS();
		pg_regerror(rc, re, reason, sizeof(reason));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("failure pattern %lld could not be compiled: %s", (long long) id, reason),
				 errdetail("The pattern is \"%.*s\".", len, pattern),
				 errhint("Correct or delete the pattern in syncopt.failure_pattern.")));
	}
}

/*
 * Read the failure patterns in the order they are tried, into triage, and
 * compile them.  The expressions go on the list free_regexes() frees as
 * soon as each is made.
 */
static void
load_patterns(Triage *triage)
{
	MemoryContext mcxt = CurrentMemoryContext;
	int			n;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	(void) spi_run("SELECT pattern_id, pattern, vendor, category, retryable, remediation, builtin"
				   "  FROM syncopt.failure_pattern ORDER BY priority, pattern_id",
				   0, NULL, NULL, NULL, true);
	MemoryContextSwitchTo(mcxt);
	n = (int) SPI_processed;
	triage->patterns = palloc0(sizeof(Pattern) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Pattern    *p = &triage->patterns[i];
		bool		isnull;
		Datum		d;

		p->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		p->pattern = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		d = SPI_getbinval(tup, desc, 3, &isnull);
		p->vendor = isnull ? NULL : TextDatumGetCString(d);
		p->category = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
		p->retryable = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		p->remediation = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
		p->builtin = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		p->literals = rule_literals(p->pattern);
		triage->vendor_scoped |= p->vendor != NULL;
		triage->npatterns = i + 1;
		p->whole = palloc0(sizeof(regex_t));
		compile_rule(p->whole, p->pattern, strlen(p->pattern), p->id);
		if (p->literals && p->literals->nbranches > 1 && !p->literals->lazy)
		{
			p->branches = palloc0(sizeof(regex_t *) * p->literals->nbranches);
			for (int b = 0; b < p->literals->nbranches; b++)
			{
				regex_t    *re = palloc0(sizeof(regex_t));

				compile_rule(re, p->pattern + p->literals->branch[b].start, p->literals->branch[b].len, p->id);
				p->branches[b] = re;
			}
		}
	}
	SPI_finish();
	MemoryContextSwitchTo(mcxt);
}

/* The version of the rules and labels this statement's snapshot sees. */
static TriageVersion
current_version(void)
{
	static SPIPlanPtr plan = NULL;
	TriageVersion version;
	bool		isnull;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "syncopt: SPI_connect failed");
	/* A probe of the primary key: a kept statement is planned for index probes only. */
	(void) spi_run_kept(&plan, "SELECT tableoid, version FROM syncopt.triage_version WHERE one_row",
						0, NULL, NULL, NULL, true);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("syncopt.triage_version holds %llu rows, not one", (unsigned long long) SPI_processed),
				 errdetail("The failure triage reads the version of its rules and labels from that row."),
				 errhint("Insert it again: INSERT INTO syncopt.triage_version (version) "
						 "VALUES (nextval('syncopt.triage_version_seq')).")));
	version.table = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	version.version = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	SPI_finish();
	return version;
}

/*
 * The rules and the labelled corpus as this statement sees them: the
 * backend's cached ones when their version is still current, else read
 * again.  A triage being read lives in the caller's memory until it is
 * whole, so an error leaves the old one (or none) and leaks nothing; a
 * triage replaced is freed.  What the caller gets stays valid until its
 * next call.
 */
Triage *
triage_current(void)
{
	TriageVersion version = current_version();
	MemoryContext cxt;
	MemoryContext caller;
	MemoryContextCallback *callback;
	Triage	   *triage;

	if (cached_triage && cached_version.table == version.table && cached_version.version == version.version)
		return cached_triage;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "syncopt triage", ALLOCSET_DEFAULT_SIZES);
	caller = MemoryContextSwitchTo(cxt);
	triage = palloc0(sizeof(Triage));
	callback = palloc(sizeof(MemoryContextCallback));
	callback->func = free_regexes;
	callback->arg = triage;
	MemoryContextRegisterResetCallback(cxt, callback);
	load_patterns(triage);
	triage->corpus = learned_corpus_load();
	MemoryContextSwitchTo(caller);

	MemoryContextSetParent(cxt, CacheMemoryContext);
	if (cached_cxt)
		MemoryContextDelete(cached_cxt);
	cached_cxt = cxt;
	cached_triage = triage;
	cached_version = version;
	return triage;
}

/*
 * Run re on the message; true when it matched.  Where it matched goes to
 * *where, unless where is NULL: finding only whether it matches is
 * cheaper.
 */
static bool
run_rule(const Pattern *p, regex_t *re, const RuleInput *input, regmatch_t *where)
{
	int			rc = pg_regexec(re, input->chars, input->nchars, 0, NULL, where ? 1 : 0, where, 0);

	if (rc == REG_OKAY)
		return true;
	if (rc != REG_NOMATCH)
	{
		char		reason[100];

		/* A cancel request ends up here: honour it before reporting. */
		CHECK_FOR_INTERRUPTS();
		pg_regerror(rc, re, reason, sizeof(reason));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("failure pattern %lld could not be matched: %s", (long long) p->id, reason),
				 errdetail("The pattern is \"%s\".", p->pattern),
				 errhint("Simplify the pattern in syncopt.failure_pattern.")));
	}
	return false;
}

/* Whether rule p matches the message: one alternative the message has the literals of matches. */
static bool
rule_matches(const Pattern *p, const RuleInput *input)
{
	if (p->branches == NULL || input->text.lowered == NULL)
		return !rule_literals_absent(p->literals, &input->text) && run_rule(p, p->whole, input, NULL);
	for (int b = 0; b < p->literals->nbranches; b++)
		if (rule_branch_met(&p->literals->branch[b], &input->text) && run_rule(p, p->branches[b], input, NULL))
			return true;
	return false;
}

/*
 * Where rule p, which matches the message, matched it (the file comment
 * says why the alternatives' matches give the whole expression's).
 */
void
triage_rule_where(const Pattern *p, const RuleInput *input, regmatch_t *where)
{
	bool		found = false;

	if (p->branches == NULL || input->text.lowered == NULL)
	{
		found = run_rule(p, p->whole, input, where);
		Assert(found);
		return;
	}
	for (int b = 0; b < p->literals->nbranches; b++)
	{
		regmatch_t	m;

		if (!rule_branch_met(&p->literals->branch[b], &input->text) ||
			!run_rule(p, p->branches[b], input, &m))
			continue;
		if (!found || m.rm_so < where->rm_so || (m.rm_so == where->rm_so && m.rm_eo > where->rm_eo))
			*where = m;
		found = true;
	}
	Assert(found);
}

/*
 * The first rule of the given kind (built-in or a user's) that matches the
 * message, case-insensitively, or NULL.
 */
const Pattern *
triage_matching_rule(const Triage *triage, const RuleInput *input, const char *vendor, bool builtin)
{
	for (int i = 0; i < triage->npatterns; i++)
	{
		const Pattern *p = &triage->patterns[i];

		if (p->builtin != builtin)
			continue;
		if (p->vendor && (vendor == NULL || strcmp(p->vendor, vendor) != 0))
			continue;
		if (rule_matches(p, input))
			return p;
	}
	return NULL;
}
