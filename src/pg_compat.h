/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  The differences between the PostgreSQL major versions syncopt builds on
 *	  (15 to 19), in one place.
 *
 * syncopt's code is written against the newest API; this header supplies
 * that API on the older versions, so call sites carry no version tests and
 * a version that drops out of support only shortens this file.  Headers
 * that later versions stopped including indirectly (utils/array.h from 16,
 * utils/tuplestore.h through funcapi.h from 19) need no guard: the files
 * that use them include them directly, which is right on every version.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_PG_COMPAT_H
#define SYNCOPT_PG_COMPAT_H

#include "common/jsonapi.h"
#include "lib/stringinfo.h"
#include "storage/proc.h"

/* PostgreSQL 16 moved the varlena macros out of postgres.h into varatt.h. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * PostgreSQL 17 replaced PGPROC's pgprocno and INVALID_PGPROCNO by the
 * ProcNumber type, MyProcNumber and INVALID_PROC_NUMBER.
 */
#if PG_VERSION_NUM < 170000
typedef int ProcNumber;

#define MyProcNumber (MyProc->pgprocno)
#define INVALID_PROC_NUMBER INVALID_PGPROCNO
#endif

/*
 * PostgreSQL 17's JSON lexer takes the context to initialize as a new first
 * argument (NULL: allocate one) and has freeJsonLexContext() to release it.
 * Before 17 the context was always allocated; the macro drops the argument,
 * which must be NULL, and calls the function of the same name (a macro never
 * expands inside its own expansion).
 */
#if PG_VERSION_NUM < 170000
#define makeJsonLexContextCstringLen(lex, json, len, encoding, need_escapes) \
	(AssertMacro((lex) == NULL), \
	 makeJsonLexContextCstringLen((json), (len), (encoding), (need_escapes)))

/* Release a lexer and the de-escaped string buffer it allocated. */
static inline void
freeJsonLexContext(JsonLexContext *lex)
{
	if (lex->strval != NULL)
	{
		pfree(lex->strval->data);
		pfree(lex->strval);
	}
	pfree(lex);
}
#endif

/*
 * PG 18: pg_b64_encode() takes the bytes to encode as const uint8 *, where
 * older versions take const char *.
 */
#if PG_VERSION_NUM >= 180000
#define PG_B64_SOURCE(p) ((const uint8 *) (p))
#else
#define PG_B64_SOURCE(p) ((const char *) (p))
#endif

/*
 * PostgreSQL 19's array iterator takes the element type's length, by-value
 * flag and alignment once, in array_iter_setup(); before 19 every
 * array_iter_next() took them.  The two macros take them at both places and
 * pass them where the version wants them.
 */
#if PG_VERSION_NUM >= 190000
#define ARRAY_ITER_SETUP(it, a, elmlen, elmbyval, elmalign) \
	array_iter_setup((it), (a), (elmlen), (elmbyval), (elmalign))
#define ARRAY_ITER_NEXT(it, isnull, i, elmlen, elmbyval, elmalign) \
	array_iter_next((it), (isnull), (i))
#else
#define ARRAY_ITER_SETUP(it, a, elmlen, elmbyval, elmalign) \
	array_iter_setup((it), (a))
#define ARRAY_ITER_NEXT(it, isnull, i, elmlen, elmbyval, elmalign) \
	array_iter_next((it), (isnull), (i), (elmlen), (elmbyval), (elmalign))
#endif

#endif							/* SYNCOPT_PG_COMPAT_H */
