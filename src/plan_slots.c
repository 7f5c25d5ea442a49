/*-------------------------------------------------------------------------
 *
 * plan_slots.c
 *	  The slots of a plan (syncopt.max_concurrent_syncs) and the free time
 *	  on them, for plan.c's list scheduling.
 *
 * Each slot keeps the syncs placed on it as disjoint spans, merged where
 * they overlap or touch (no run fits between spans that touch).  The free
 * time of a slot is its gaps: before its first span (from DT_NOBEGIN),
 * between spans, and after its last (to DT_NOEND); an empty slot is one
 * gap.  The gaps of all slots are kept in one treap ordered by (from,
 * slot descending), each node with the latest gap end and the longest gap
 * of its subtree, and plan.c asks two questions of it for a run
 * [start, end):
 *	 - which slot is free over the whole run: a gap with from <= start and
 *	   to >= end; of those, the one whose free time began latest (keeping
 *	   longer gaps for others), the lowest slot on ties: the rightmost such
 *	   gap in the treap's order;
 *	 - when no slot is, the earliest instant after start at which a slot
 *	   could take the whole run: the leftmost gap with from > start at
 *	   least as long as the run.
 * Each is one descent of the treap, O(log gaps).  Asked of each slot in
 * turn (a binary search of its spans, then a walk to the first gap long
 * enough), the same questions cost slots x log spans per placement and
 * were most of plan() at 50,000 connectors on 1,000 slots.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "plan_slots.h"

#define NO_GAP	(-1)

/* Length of a gap; unbounded at either end counts as the longest. */
static int64
gap_len(const SlotGap *g)
{
	if (g->from == DT_NOBEGIN || g->to == DT_NOEND)
		return PG_INT64_MAX;
	return g->to - g->from;
}

/* Does gap a come before gap b in the treap's order (from, then slot descending)? */
static bool
gap_before(const SlotGap *a, TimestampTz from, int slot)
{
	return a->from < from || (a->from == from && a->slot > slot);
}

/* Recompute node t's subtree maxima from its children. */
static void
gap_pull(Slots *s, int t)
{
	SlotGap    *g = &s->gap[t];

	g->max_to = g->to;
	g->max_len = gap_len(g);
	if (g->left != NO_GAP)
	{
		g->max_to = Max(g->max_to, s->gap[g->left].max_to);
		g->max_len = Max(g->max_len, s->gap[g->left].max_len);
	}
	if (g->right != NO_GAP)
	{
		g->max_to = Max(g->max_to, s->gap[g->right].max_to);
		g->max_len = Max(g->max_len, s->gap[g->right].max_len);
	}
}

/* Join two treaps, every gap of a before every gap of b. */
static int
gap_merge(Slots *s, int a, int b)
{
	if (a == NO_GAP)
		return b;
	if (b == NO_GAP)
		return a;
	if (s->gap[a].prio > s->gap[b].prio)
	{
		s->gap[a].right = gap_merge(s, s->gap[a].right, b);
		gap_pull(s, a);
		return a;
	}
	s->gap[b].left = gap_merge(s, a, s->gap[b].left);
	gap_pull(s, b);
	return b;
}

/* Split treap t into the gaps before (from, slot) (*lo) and the rest (*hi). */
static void
gap_split(Slots *s, int t, TimestampTz from, int slot, int *lo, int *hi)
{
	if (t == NO_GAP)
	{
		*lo = *hi = NO_GAP;
		return;
	}
	if (gap_before(&s->gap[t], from, slot))
	{
		gap_split(s, s->gap[t].right, from, slot, &s->gap[t].right, hi);
		*lo = t;
	}
	else
	{
		gap_split(s, s->gap[t].left, from, slot, lo, &s->gap[t].left);
		*hi = t;
	}
	gap_pull(s, t);
}

/*
 * Add the gap [from, to) of slot k.  It goes down from the root while the
 * nodes it passes outrank it (their maxima taking in its own on the way)
 * and splits the subtree where it stops: one descent, and only the small
 * subtree below it rebuilt.
 */
static void
gap_insert(Slots *s, int k, TimestampTz from, TimestampTz to)
{
	int			t;
	int		   *link = &s->root;
	SlotGap    *g;

	if (s->nfree > 0)
		t = s->free_gap[--s->nfree];
	else
	{
		if (s->ngap == s->maxgap)
		{
			s->maxgap *= 2;
			s->gap = repalloc(s->gap, sizeof(SlotGap) * s->maxgap);
			s->free_gap = repalloc(s->free_gap, sizeof(int) * s->maxgap);
		}
		t = s->ngap++;
	}
	/* xorshift32: the shape of the treap never changes an answer, only its depth. */
	s->seed ^= s->seed << 13;
	s->seed ^= s->seed >> 17;
	s->seed ^= s->seed << 5;
	g = &s->gap[t];
	g->from = from;
	g->to = to;
	g->slot = k;
	g->prio = s->seed;
	while (*link != NO_GAP && s->gap[*link].prio > g->prio)
	{
		SlotGap    *up = &s->gap[*link];

		up->max_to = Max(up->max_to, to);
		up->max_len = Max(up->max_len, gap_len(g));
		link = gap_before(g, up->from, up->slot) ? &up->left : &up->right;
	}
	gap_split(s, *link, from, k, &g->left, &g->right);
	gap_pull(s, t);
	*link = t;
}

/* Recompute node t's subtree maxima; did they change? */
static bool
gap_repull(Slots *s, int t)
{
	TimestampTz max_to = s->gap[t].max_to;
	int64		max_len = s->gap[t].max_len;

	gap_pull(s, t);
	return s->gap[t].max_to != max_to || s->gap[t].max_len != max_len;
}

/*
 * Find the gap of slot k that begins at from in subtree t and either
 * remove it (remove) or set its end to `to`.  Returns the subtree's new
 * root, and in *changed whether its maxima changed: the subtrees it was
 * found through are pulled again only up to the first whose maxima stay.
 */
static int
gap_change(Slots *s, int t, int k, TimestampTz from, bool remove, TimestampTz to,
		   bool *changed)
{
	SlotGap    *g;

	if (t == NO_GAP)
		elog(ERROR, "syncopt: plan lost track of the free time on slot %d", k);
	g = &s->gap[t];
	if (g->from == from && g->slot == k)
	{
		if (!remove)
		{
			g->to = to;
			*changed = gap_repull(s, t);
			return t;
		}
		s->free_gap[s->nfree++] = t;
		*changed = true;
		return gap_merge(s, g->left, g->right);
	}
	if (gap_before(g, from, k))
		g->right = gap_change(s, g->right, k, from, remove, to, changed);
	else
		g->left = gap_change(s, g->left, k, from, remove, to, changed);
	if (*changed)
		*changed = gap_repull(s, t);
	return t;
}

/* Make room for nslots empty slots. */
void
slots_init(Slots *s, int nslots)
{
	s->nslots = nslots;
	s->line = palloc0(sizeof(SlotLine) * Max(nslots, 1));
	s->maxgap = Max(2 * nslots, 64);
	s->gap = palloc(sizeof(SlotGap) * s->maxgap);
	s->free_gap = palloc(sizeof(int) * s->maxgap);
	slots_reset(s);
}

/* Empty every slot: each is one gap from DT_NOBEGIN to DT_NOEND. */
void
slots_reset(Slots *s)
{
	s->ngap = 0;
	s->nfree = 0;
	s->root = NO_GAP;
	s->seed = 2463534242;
	for (int k = 0; k < s->nslots; k++)
	{
		s->line[k].n = 0;
		gap_insert(s, k, DT_NOBEGIN, DT_NOEND);
	}
}

/* First span of line l whose end is after t (l->n when none). */
static int
first_ending_after(const SlotLine *l, TimestampTz t)
{
	int			lo = 0,
				hi = l->n;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (l->to[mid] <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Start of the gap before span j of line l (j may be l->n: the gap after the last). */
static TimestampTz
gap_from(const SlotLine *l, int j)
{
	return j > 0 ? l->to[j - 1] : DT_NOBEGIN;
}

/* End of the gap before span j of line l. */
static TimestampTz
gap_to(const SlotLine *l, int j)
{
	return j < l->n ? l->from[j] : DT_NOEND;
}

/*
 * Put [from, to) on slot k, merged with the spans it overlaps or touches,
 * and change the gaps it takes or splits.  The gap before the first span
 * it merges with keeps its start (the span before ends before from) and
 * ends where the merged span begins; the gaps between the spans it
 * merges are gone; a gap after it begins.  Changed in place, most
 * placements touch one or two nodes' paths instead of rebuilding four.
 */
void
slots_take(Slots *s, int k, TimestampTz from, TimestampTz to)
{
	SlotLine   *l = &s->line[k];
	int			lo = first_ending_after(l, from - 1);
	int			hi = lo;
	bool		changed;

	while (hi < l->n && l->from[hi] <= to)
	{
		from = Min(from, l->from[hi]);
		to = Max(to, l->to[hi]);
		hi++;
	}
	if (from != gap_to(l, lo))
		s->root = gap_change(s, s->root, k, gap_from(l, lo), false, from, &changed);
	for (int j = lo + 1; j <= hi; j++)
		s->root = gap_change(s, s->root, k, gap_from(l, j), true, 0, &changed);
	gap_insert(s, k, to, gap_to(l, hi));
	if (hi == lo && l->n == l->max)
	{
		l->max = Max(8, 2 * l->max);
		l->from = l->from ? repalloc(l->from, sizeof(TimestampTz) * l->max) : palloc(sizeof(TimestampTz) * l->max);
		l->to = l->to ? repalloc(l->to, sizeof(TimestampTz) * l->max) : palloc(sizeof(TimestampTz) * l->max);
	}
	/* Spans lo..hi-1 become one at lo. */
	memmove(&l->from[lo + 1], &l->from[hi], sizeof(TimestampTz) * (l->n - hi));
	memmove(&l->to[lo + 1], &l->to[hi], sizeof(TimestampTz) * (l->n - hi));
	l->n += 1 - (hi - lo);
	l->from[lo] = from;
	l->to[lo] = to;
}

/* The last gap of treap t (in its order) that ends at or after end, or NO_GAP. */
static int
last_reaching(const Slots *s, int t, TimestampTz end)
{
	if (t == NO_GAP || s->gap[t].max_to < end)
		return NO_GAP;
	for (;;)
	{
		const SlotGap *g = &s->gap[t];

		if (g->right != NO_GAP && s->gap[g->right].max_to >= end)
			t = g->right;
		else if (g->to >= end)
			return t;
		else
			t = g->left;
	}
}

/* The last gap of treap t with from <= start and to >= end, or NO_GAP. */
static int
last_free(const Slots *s, int t, TimestampTz start, TimestampTz end)
{
	const SlotGap *g;
	int			found;

	if (t == NO_GAP || s->gap[t].max_to < end)
		return NO_GAP;
	g = &s->gap[t];
	if (g->from > start)
		return last_free(s, g->left, start, end);
	found = last_free(s, g->right, start, end);
	if (found != NO_GAP)
		return found;
	if (g->to >= end)
		return t;
	/* Every gap to the left begins at or before start. */
	return last_reaching(s, g->left, end);
}

/* The first gap of treap t (in its order) at least len long, or NO_GAP. */
static int
first_holding(const Slots *s, int t, int64 len)
{
	if (t == NO_GAP || s->gap[t].max_len < len)
		return NO_GAP;
	for (;;)
	{
		const SlotGap *g = &s->gap[t];

		if (g->left != NO_GAP && s->gap[g->left].max_len >= len)
			t = g->left;
		else if (gap_len(g) >= len)
			return t;
		else
			t = g->right;
	}
}

/* The first gap of treap t with from > start at least len long, or NO_GAP. */
static int
first_after(const Slots *s, int t, TimestampTz start, int64 len)
{
	const SlotGap *g;
	int			found;

	if (t == NO_GAP || s->gap[t].max_len < len)
		return NO_GAP;
	g = &s->gap[t];
	if (g->from <= start)
		return first_after(s, g->right, start, len);
	found = first_after(s, g->left, start, len);
	if (found != NO_GAP)
		return found;
	if (gap_len(g) >= len)
		return t;
	/* Every gap to the right begins after start. */
	return first_holding(s, g->right, len);
}

/*
 * A slot free over all of [start, end): the one whose free time began
 * latest (the end of its last sync before start), the lowest on ties; or
 * -1 with *retry the earliest instant after start from which a slot could
 * take the whole run (when every slot is busy at start, the first gap
 * long enough on each begins after start).  The run must be at least a
 * microsecond long.
 */
int
slots_find(const Slots *s, TimestampTz start, TimestampTz end, TimestampTz *retry)
{
	int			g = last_free(s, s->root, start, end);

	*retry = DT_NOEND;
	if (g != NO_GAP)
		return s->gap[g].slot;
	g = first_after(s, s->root, start, end - start);
	if (g == NO_GAP)
		elog(ERROR, "syncopt: plan found no free time on any slot");
	*retry = s->gap[g].from;
	return -1;
}
