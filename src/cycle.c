/*-------------------------------------------------------------------------
 *
 * cycle.c
 *	  syncopt.find_cycle(): one cycle of a directed graph given as two
 *	  arrays of edge ends, or NULL when the graph has none.
 *
 * lineage and sync_order must stay acyclic.  Their statement-level
 * triggers pass this function the edges reachable from what a statement
 * added.  A depth-first search that colours each node visits every node
 * and edge once, so the check is linear in the edges reached however many
 * paths they form; following paths instead, as a recursive query without a
 * visited set does, is exponential in a layered DAG.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/array.h"

PG_FUNCTION_INFO_V1(syncopt_find_cycle);

/* Search state of a node: not reached, on the current path, finished. */
typedef enum Colour
{
	WHITE,
	GREY,
	BLACK
} Colour;

/* Order int64 values for qsort and bsearch. */
static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* Order int values for qsort. */
static int
int_cmp(const void *a, const void *b)
{
	int			x = *(const int *) a;
	int			y = *(const int *) b;

	return (x > y) - (x < y);
}

/* The elements of a one-dimensional bigint array without NULLs. */
static int64 *
edge_ends(ArrayType *array, const char *argname, int *count)
{
	Datum	   *elems;
	bool	   *nulls;
	int64	   *ends;

	if (ARR_NDIM(array) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(array, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, count);
	ends = palloc(sizeof(int64) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL", argname),
					 errdetail("Element %d is NULL.", i + 1)));
		ends[i] = DatumGetInt64(elems[i]);
	}
	return ends;
}

/* The dense index of a node id among the sorted distinct ids. */
static int
node_index(const int64 *ids, int n, int64 id)
{
	const int64 *hit = bsearch(&id, ids, n, sizeof(int64), int64_cmp);

	Assert(hit != NULL);
	return hit - ids;
}

/*
 * syncopt.find_cycle(from_ids bigint[], to_ids bigint[]) returns bigint[]: the
 * nodes of one cycle, first node repeated at the end, or NULL.  Edge i goes
 * from from_ids[i] to to_ids[i].  Searches start from the smallest id and
 * follow edges to smaller ids first, so the same edges, in whatever order,
 * always yield the same cycle.
 */
Datum
syncopt_find_cycle(PG_FUNCTION_ARGS)
{
	int			nfrom,
				nto,
				n = 0;
	int64	   *from = edge_ends(PG_GETARG_ARRAYTYPE_P(0), "from_ids", &nfrom);
	int64	   *to = edge_ends(PG_GETARG_ARRAYTYPE_P(1), "to_ids", &nto);
	int64	   *ids;
	int		   *tail,
			   *head,
			   *off,
			   *dst,
			   *cursor,
			   *path,
			   *depth;
	Colour	   *colour;

	if (nfrom != nto)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("from_ids and to_ids must have the same length"),
				 errdetail("from_ids has %d elements, to_ids has %d.", nfrom, nto)));

	/* Nodes: the distinct ids, sorted, so that an id maps to its index. */
	ids = palloc(sizeof(int64) * Max(2 * nfrom, 1));
	memcpy(ids, from, sizeof(int64) * nfrom);
	memcpy(ids + nfrom, to, sizeof(int64) * nto);
	qsort(ids, 2 * nfrom, sizeof(int64), int64_cmp);
	for (int i = 0; i < 2 * nfrom; i++)
		if (n == 0 || ids[n - 1] != ids[i])
			ids[n++] = ids[i];

	/* The out-edges of node v lead to dst[off[v] .. off[v + 1] - 1]. */
	tail = palloc(sizeof(int) * Max(nfrom, 1));
	head = palloc(sizeof(int) * Max(nfrom, 1));
	for (int e = 0; e < nfrom; e++)
	{
		tail[e] = node_index(ids, n, from[e]);
		head[e] = node_index(ids, n, to[e]);
	}
	off = palloc0(sizeof(int) * (n + 1));
	for (int e = 0; e < nfrom; e++)
		off[tail[e] + 1]++;
	for (int v = 0; v < n; v++)
		off[v + 1] += off[v];
	cursor = palloc(sizeof(int) * (n + 1));
	memcpy(cursor, off, sizeof(int) * (n + 1));
	dst = palloc(sizeof(int) * Max(nfrom, 1));
	for (int e = 0; e < nfrom; e++)
		dst[cursor[tail[e]]++] = head[e];
	for (int v = 0; v < n; v++)
		qsort(dst + off[v], off[v + 1] - off[v], sizeof(int), int_cmp);

	/*
	 * Iterative search: path holds the grey nodes from the root, depth[v]
	 * is v's place on it, cursor[v] the next out-edge of v to follow.  An
	 * edge to a grey node closes a cycle along the path.
	 */
	memcpy(cursor, off, sizeof(int) * (n + 1));
	colour = palloc0(sizeof(Colour) * Max(n, 1));
	path = palloc(sizeof(int) * Max(n, 1));
	depth = palloc(sizeof(int) * Max(n, 1));
	for (int root = 0; root < n; root++)
	{
		int			top = 0;

		if (colour[root] != WHITE)
			continue;
		colour[root] = GREY;
		depth[root] = 0;
		path[0] = root;
		while (top >= 0)
		{
			int			v = path[top];
			int			w;

			if (cursor[v] == off[v + 1])
			{
				colour[v] = BLACK;
				top--;
				continue;
			}
			w = dst[cursor[v]++];
			if (colour[w] == GREY)
			{
				int			len = top - depth[w] + 2;
				Datum	   *cycle = palloc(sizeof(Datum) * len);

				for (int k = 0; k < len - 1; k++)
					cycle[k] = Int64GetDatum(ids[path[depth[w] + k]]);
				cycle[len - 1] = Int64GetDatum(ids[w]);
				PG_RETURN_ARRAYTYPE_P(construct_array(cycle, len, INT8OID, 8, FLOAT8PASSBYVAL,
													  TYPALIGN_DOUBLE));
			}
			if (colour[w] == WHITE)
			{
				colour[w] = GREY;
				depth[w] = ++top;
				path[top] = w;
			}
		}
	}
	PG_RETURN_NULL();
}
