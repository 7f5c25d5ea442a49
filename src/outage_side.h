/*-------------------------------------------------------------------------
 *
 * outage_side.h
 *	  Which side of a sync a failure message puts an outage on: the side the
 *	  vendor reports, or the side the message's words name (outage_side.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_OUTAGE_SIDE_H
#define SYNCOPT_OUTAGE_SIDE_H

#include "postgres.h"

/* The sides a message names: bits, so a message may name both. */
#define OUTAGE_SIDE_SOURCE		0x1
#define OUTAGE_SIDE_DESTINATION	0x2

extern const char *outage_origin(const char *message);
extern int	outage_sides_named(const char *message, const char **source_word, const char **destination_word);

#endif							/* SYNCOPT_OUTAGE_SIDE_H */
