/*-------------------------------------------------------------------------
 *
 * json_try.h
 *	  Parsing text as JSON without raising an error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_JSON_TRY_H
#define SYNCOPT_JSON_TRY_H

#include "postgres.h"

#include "utils/jsonb.h"

extern Jsonb *json_try_parse(const char *text);

#endif							/* SYNCOPT_JSON_TRY_H */
