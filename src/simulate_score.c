/*-------------------------------------------------------------------------
 *
 * simulate_score.c
 *	  What a finished syncopt.simulate() replay scores: deadlines missed and
 *	  how late, the lower bounds alongside, and warehouse credits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "simulate.h"
#include "syncopt.h"

#define MIN_BILLED_S	60.0

/*
 * The earliest end of a successful sync of connector i starting at or
 * after t0, with unlimited slots and no transient failures, outside the
 * windows that forbid syncing its source (as the gated policies start).
 */
static TimestampTz
lower_bound_end(const Sim *sim, int i, TimestampTz t0)
{
	TimestampTz best = NO_TIME;
	TimestampTz t = t0;

	while (t < best && t < sim->end)
	{
		TimestampTz gate;

		if (sim_in_outage(sim, i, t))
			t = sim->outage_to[i];
		else if ((gate = sim_window_gate(sim, i, t, DT_NOBEGIN, NULL)) != 0)
			t = gate;
		else
		{
			/* Durations change only at UTC midnight: a later start that day ends later. */
			best = Min(best, time_add(t, sim_sync_seconds(sim, i, t)));
			t = (TimestampTz) ((sim_day_of(t) + 1) * DAY_S * USECS_PER_SEC);
		}
	}
	return best;
}

/*
 * The shortest a sync of requirement r's connector can take within its
 * window: durations change only at UTC midnight.
 */
static double
shortest_sync(const Sim *sim, const SimReq *r)
{
	double		best = sim_sync_seconds(sim, r->conn, r->open);

	for (int64 d = sim_day_of(r->open) + 1; d <= sim_day_of(r->due); d++)
		best = Min(best, sim_sync_seconds(sim, r->conn, (TimestampTz) (d * DAY_S * USECS_PER_SEC)));
	return best;
}

/*
 * Could any policy meet occurrence occ with the slots it has?  Each of its
 * connectors needs a sync of its own starting at the common opening, so by
 * each due time the shortest syncs of the requirements due by then must fit
 * in slots x (due time - opening); each must also end in time alone.
 */
static bool
fits_slots(const Sim *sim, const SimOcc *occ)
{
	double		slots = syncopt_max_concurrent_syncs;

	for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
	{
		const SimReq *t = &sim->req[k];
		double		work = 0;

		if (t->lb_end > t->due)
			return false;
		for (int q = occ->first_req; q < occ->first_req + occ->nreq; q++)
			if (sim->req[q].due <= t->due)
				work += shortest_sync(sim, &sim->req[q]);
		if (work > slots * time_diff(t->due, t->open))
			return false;
	}
	return true;
}

/* Lateness of every occurrence, for the policy and for the bounds. */
void
sim_score_deadlines(Sim *sim, SimResult *res)
{
	double	   *late = palloc(sizeof(double) * Max(sim->nocc, 1));

	for (int o = 0; o < sim->nocc; o++)
	{
		SimOcc	   *occ = &sim->occ[o];
		double		worst = 0,
					lb_worst = 0;

		for (int k = occ->first_req; k < occ->first_req + occ->nreq; k++)
		{
			SimReq	   *r = &sim->req[k];
			TimestampTz end = r->done ? r->done : sim->end;

			r->lb_end = Min(lower_bound_end(sim, r->conn, r->open), sim->end);
			worst = Max(worst, time_diff(end, occ->deadline) + r->lag_s);
			lb_worst = Max(lb_worst, time_diff(r->lb_end, occ->deadline) + r->lag_s);
		}
		late[o] = Max(worst, 0);
		if (worst > 0)
		{
			res->misses++;
			res->weighted_misses += occ->weight;
			res->weighted_tardiness_h += occ->weight * worst / 3600;
		}
		if (lb_worst > 0)
		{
			res->lb_misses++;
			res->lb_weighted_misses += occ->weight;
			res->lb_weighted_tardiness_h += occ->weight * lb_worst / 3600;
		}
		if (!fits_slots(sim, occ))
		{
			res->slot_misses++;
			res->slot_weighted_misses += occ->weight;
		}
	}
	res->p95_lateness_s = sim->nocc > 0 ? quantile(late, sim->nocc, 0.95) : 0;
}

/*
 * Largest set of each connector's feasible requirements with pairwise
 * disjoint windows: requirements are indexed by due time, so the greedy
 * choice by right end is optimal.
 */
int
sim_lower_bound_syncs(const Sim *sim)
{
	int			total = 0;

	for (int i = 0; i < sim->fleet->nconn; i++)
	{
		TimestampTz last_due = DT_NOBEGIN;

		for (int k = sim->req_off[i]; k < sim->req_off[i + 1]; k++)
		{
			const SimReq *r = &sim->req[sim->req_of_conn[k]];

			if (r->lb_end <= r->due && r->open >= last_due)
			{
				total++;
				last_due = r->due;
			}
		}
	}
	return total;
}

static const SimRun *sort_runs;
static const Fleet *sort_fleet;

/* Runs by destination, then start. */
static int
compare_run(const void *a, const void *b)
{
	const SimRun *x = &sort_runs[*(const int *) a];
	const SimRun *y = &sort_runs[*(const int *) b];
	const char *dx = sort_fleet->conn[x->conn].destination;
	const char *dy = sort_fleet->conn[y->conn].destination;
	int			cmp = strcmp(dx ? dx : "", dy ? dy : "");

	if (cmp != 0)
		return cmp;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return 0;
}

/* Billed seconds of one warehouse-on interval, with price windows applied. */
static double
billed(const Fleet *f, TimestampTz from, TimestampTz to)
{
	double		seconds = Max(MIN_BILLED_S, time_diff(to, from));
	double		extra = 0;

	to = time_add(from, seconds);
	for (int w = 0; w < f->nwin; w++)
	{
		const Window *win = &f->win[w];

		if (win->target == 'w' && win->ends > from && win->starts < to)
			extra += (win->price - 1) * time_diff(Min(win->ends, to), Max(win->starts, from));
	}
	return seconds + extra;
}

/* Credits: the union of busy intervals per destination, resumes and tails billed. */
double
sim_credits(const Sim *sim)
{
	int		   *idx = palloc(sizeof(int) * Max(sim->nrun, 1));
	double		total_s = 0;
	TimestampTz from = 0,
				to = 0;
	const char *dest = NULL;

	for (int k = 0; k < sim->nrun; k++)
		idx[k] = k;
	sort_runs = sim->run;
	sort_fleet = sim->fleet;
	qsort(idx, sim->nrun, sizeof(int), compare_run);
	for (int k = 0; k < sim->nrun; k++)
	{
		const SimRun *r = &sim->run[idx[k]];
		const char *d = sim->fleet->conn[r->conn].destination;
		bool		same = k > 0 && strcmp(d ? d : "", dest ? dest : "") == 0;

		if (same && r->start <= to)
			to = Max(to, time_add(r->end, sim->tail_s));
		else
		{
			if (k > 0)
				total_s += billed(sim->fleet, from, to);
			from = r->start;
			to = time_add(r->end, sim->tail_s);
			dest = d;
		}
	}
	if (sim->nrun > 0)
		total_s += billed(sim->fleet, from, to);
	return total_s / 3600;
}

/* Syncs that ran into a load window of their source or connector. */
int
sim_load_window_syncs(const Sim *sim)
{
	int			n = 0;

	for (int k = 0; k < sim->nrun; k++)
	{
		const SimRun *run = &sim->run[k];

		for (int w = sim->win_off[run->conn]; w < sim->win_off[run->conn + 1]; w++)
		{
			const Window *win = &sim->fleet->win[sim->win_idx[w]];

			if (win->starts < run->end && win->ends > run->start)
			{
				n++;
				break;
			}
		}
	}
	return n;
}
