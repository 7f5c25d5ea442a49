/*-------------------------------------------------------------------------
 *
 * outcome_ready.h
 *	  Resolving SLA outcomes (the forecast scorecard): when a deadline
 *	  instance's asset was ready from its inputs and the runs known at a
 *	  time, whether a planner decision intervened, and the verdict.  Shared
 *	  by outcome_ready_times() (outcomes already recorded, read back) and
 *	  new_outcomes() (outcomes resolved as their inputs are written).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_OUTCOME_READY_H
#define SYNCOPT_OUTCOME_READY_H

#include "datatype/timestamp.h"

/* The successful runs that may land an input: by connector, then start. */
typedef struct LandedRuns
{
	int			n;
	int64	   *conn;
	TimestampTz *started;
	TimestampTz *landed;		/* earliest end of this run and those started after it */
} LandedRuns;

/* The executed planner decisions: by connector. */
typedef struct Acted
{
	int			n;
	int64	   *conn;
	bool	   *starts_sync;
	TimestampTz *when;
} Acted;

/* What outcomes are resolved against: read once for all of them. */
typedef struct OutcomeEvidence
{
	TimestampTz at;				/* the runs known then */
	Interval	grace;			/* how long after its deadline an outcome may be revised */
	LandedRuns	runs;
	Acted		acted;
} OutcomeEvidence;

/* One outcome's inputs (ascending ids, as written) and what they resolve to. */
typedef struct OutcomeInputs
{
	const int64 *conns;
	const bool *conn_nulls;		/* NULL: none */
	int			nconns;
	const Interval *spans;		/* build times, paired with conns */
	const bool *span_nulls;		/* NULL: none */
	int			nspans;
} OutcomeInputs;

typedef struct OutcomeVerdict
{
	TimestampTz ready;			/* NO_TIME: not (yet) known */
	bool		met_known;
	bool		met;
	bool		intervened;
	bool		settled;
} OutcomeVerdict;

extern void load_outcome_evidence(OutcomeEvidence *ev, TimestampTz at, const Interval *grace,
								  TimestampTz first_open, TimestampTz first_forecast,
								  TimestampTz last_deadline);
extern OutcomeVerdict resolve_outcome(const OutcomeEvidence *ev, const OutcomeInputs *in,
									  TimestampTz opens_at, TimestampTz forecast, TimestampTz deadline);

#endif							/* SYNCOPT_OUTCOME_READY_H */
