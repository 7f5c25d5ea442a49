/*-------------------------------------------------------------------------
 *
 * plan_slots.h
 *	  The slots of a plan and the free time on them (plan_slots.c), for
 *	  plan.c's list scheduling.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_PLAN_SLOTS_H
#define SYNCOPT_PLAN_SLOTS_H

#include "datatype/timestamp.h"

/* The syncs placed on one slot: disjoint [from, to) spans by start, none touching. */
typedef struct SlotLine
{
	int			n;
	int			max;
	TimestampTz *from;
	TimestampTz *to;
} SlotLine;

/* One stretch of free time on a slot, a node of the gap treap. */
typedef struct SlotGap
{
	TimestampTz from;			/* end of the span before; DT_NOBEGIN: none */
	TimestampTz to;				/* start of the span after; DT_NOEND: none */
	int			slot;
	uint32		prio;			/* heap order of the treap */
	int			left;			/* -1: none */
	int			right;
	TimestampTz max_to;			/* latest gap end in the subtree */
	int64		max_len;		/* longest gap in the subtree */
} SlotGap;

/* Every slot's spans, and all their gaps in one treap ordered by (from, slot descending). */
typedef struct Slots
{
	int			nslots;
	SlotLine   *line;
	SlotGap    *gap;			/* node pool */
	int			ngap;			/* nodes used in the pool */
	int			maxgap;
	int			nfree;			/* nodes freed for reuse, in free_gap */
	int		   *free_gap;
	int			root;
	uint32		seed;
} Slots;

extern void slots_init(Slots *slots, int nslots);
extern void slots_reset(Slots *slots);
extern void slots_take(Slots *slots, int k, TimestampTz from, TimestampTz to);
extern int	slots_find(const Slots *slots, TimestampTz start, TimestampTz end, TimestampTz *retry);

#endif							/* SYNCOPT_PLAN_SLOTS_H */
