/*-------------------------------------------------------------------------
 *
 * plan_recall.c
 *	  The last list-scheduling passes of a plan's triages, remembered, so
 *	  that a pass over the same inputs is not made again.
 *
 * choose_triage() (plan_triage.c) makes the same pass more than once: the
 * local search plans its current deadlines given up before each round of
 * tries (the pass of the try it kept last, or of the triage kept), plans
 * the kept try again when the search ends, and the kept order is planned
 * once more at the end.  A pass without reasons is a function of the
 * order, each job's due time and deadline, and which jobs are dropped
 * (plan.c's place_job() reads nothing else that a triage changes), so
 * when those equal a remembered pass's, its placements are put back
 * instead: at 480 connectors on 8 slots, a replay's plans made 7.4 passes
 * each, 1.4 of them such repeats.  Passes that write reasons are always
 * made (the reasons are not remembered).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan_schedule.h"

/*
 * Passes remembered: the kept triage's pass can be five passes back (the
 * other triage's, the search's own, and its two tries in between).
 */
#define PASSES_REMEMBERED	5

/* What a pass read of one job (besides the order) and what it decided. */
typedef struct RecalledJob
{
	TimestampTz due;
	int			due_asset;
	bool		dropped;
	bool		will_miss;
	int			priority;
	const char *action;
	TimestampTz start;
	TimestampTz end;
	TimestampTz busy_end;
} RecalledJob;

/* One remembered pass. */
typedef struct RecalledPass
{
	int		   *order;
	RecalledJob *job;
	uint64		used;			/* when it was last made or put back; 0: empty */
} RecalledPass;

/* The passes a plan remembers. */
struct PassMemory
{
	RecalledPass pass[PASSES_REMEMBERED];
	uint64		clock;
};

/* Were the pass's inputs those of schedule s with this order? */
static bool
same_inputs(const Schedule *s, const RecalledPass *p, const int *order)
{
	if (memcmp(p->order, order, sizeof(int) * s->njobs) != 0)
		return false;
	for (int j = 0; j < s->njobs; j++)
	{
		const Connector *c = &s->fleet->conn[s->jobs[j].connector];
		const RecalledJob *r = &p->job[j];

		if (r->due != c->due || r->due_asset != c->due_asset || r->dropped != s->dropped[j])
			return false;
	}
	return true;
}

/*
 * List-schedule s in the given order (schedule_pass()), or put back a
 * remembered pass over the same inputs; a pass made is remembered in place
 * of the one used longest ago.
 */
void
recall_pass(Schedule *s, const int *order)
{
	PassMemory *m = s->memory;
	RecalledPass *p;

	if (s->explain)
	{
		schedule_pass(s, order);
		return;
	}
	if (m == NULL)
		m = s->memory = palloc0(sizeof(PassMemory));
	m->clock++;
	for (int k = 0; k < PASSES_REMEMBERED; k++)
	{
		p = &m->pass[k];
		if (p->used == 0 || !same_inputs(s, p, order))
			continue;
		p->used = m->clock;
		for (int j = 0; j < s->njobs; j++)
		{
			PlannedSync *job = &s->jobs[j];
			const RecalledJob *r = &p->job[j];

			job->start = r->start;
			job->end = r->end;
			job->will_miss = r->will_miss;
			job->action = r->action;
			job->priority = r->priority;
			s->busy_end[j] = r->busy_end;
			s->placed[j] = true;
		}
		return;
	}
	schedule_pass(s, order);
	p = &m->pass[0];
	for (int k = 1; k < PASSES_REMEMBERED; k++)
		if (m->pass[k].used < p->used)
			p = &m->pass[k];
	if (p->order == NULL)
	{
		p->order = palloc(sizeof(int) * Max(s->njobs, 1));
		p->job = palloc(sizeof(RecalledJob) * Max(s->njobs, 1));
	}
	p->used = m->clock;
	memcpy(p->order, order, sizeof(int) * s->njobs);
	for (int j = 0; j < s->njobs; j++)
	{
		const PlannedSync *job = &s->jobs[j];
		const Connector *c = &s->fleet->conn[job->connector];
		RecalledJob *r = &p->job[j];

		r->due = c->due;
		r->due_asset = c->due_asset;
		r->dropped = s->dropped[j];
		r->start = job->start;
		r->end = job->end;
		r->will_miss = job->will_miss;
		r->action = job->action;
		r->priority = job->priority;
		r->busy_end = s->busy_end[j];
	}
}

/* Free the plan's remembered passes. */
void
forget_passes(Schedule *s)
{
	if (s->memory == NULL)
		return;
	for (int k = 0; k < PASSES_REMEMBERED; k++)
		if (s->memory->pass[k].order)
		{
			pfree(s->memory->pass[k].order);
			pfree(s->memory->pass[k].job);
		}
	pfree(s->memory);
	s->memory = NULL;
}
