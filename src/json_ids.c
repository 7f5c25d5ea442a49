/*-------------------------------------------------------------------------
 *
 * json_ids.c
 *	  A bigint array as a JSON array, without a text round trip per element.
 *
 * An SLA alert's details listed the deadline's blocking connectors, on a
 * large fleet thousands of ids per alert (they now list at most 20:
 * plan_rows.c, ALERT_BLOCKING_MAX).  to_jsonb() (and
 * jsonb_build_object()) turns each bigint into text with its output
 * function and parses that text back with numeric_in: at 10,000
 * connectors a day's first planning run converts about 1.1 million ids
 * that way for its 500 alerts, about 7% of the run.
 *
 * The same jsonb is written here straight from the integers, in the
 * on-disk formats of jsonb (utils/jsonb.h) and numeric, which pg_upgrade
 * keeps stable: going through a JsonbValue per element (int64_to_numeric,
 * pushJsonbValue, JsonbValueToJsonb) still cost about 4% of a day's first
 * planning run at 50,000 connectors (15 million ids).  The result is
 * byte for byte what to_jsonb() stores (regress planning_run_cost compares
 * the two).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/array.h"
#include "utils/jsonb.h"

PG_FUNCTION_INFO_V1(syncopt_ids_jsonb);

/*
 * A numeric's short header (numeric.c keeps these private): an integer
 * has display scale 0, and its weight, the position of its first base
 * 10,000 digit, is at most 4 for a bigint, so it always has the short form.
 */
#define NUMERIC_SHORT				0x8000
#define NUMERIC_SHORT_SIGN_MASK		0x2000
#define NUMERIC_SHORT_WEIGHT_MASK	0x003F
#define NUMERIC_NBASE				10000
/* Base 10,000 digits of a bigint: at most 5. */
#define INT64_NBASE_DIGITS			5

/*
 * The base 10,000 digits of v's absolute value, most significant first,
 * without trailing zero digits (as numeric stores them); returns how many
 * are kept, and sets *weight to the first digit's position.
 */
static int
nbase_digits(int64 v, int16 *digits, int *weight)
{
	uint64		u = v < 0 ? -(uint64) v : (uint64) v;
	int16		low_first[INT64_NBASE_DIGITS];
	int			n = 0;
	int			kept;
	int			skip = 0;

	while (u > 0)
	{
		low_first[n++] = (int16) (u % NUMERIC_NBASE);
		u /= NUMERIC_NBASE;
	}
	*weight = n > 0 ? n - 1 : 0;
	while (skip < n && low_first[skip] == 0)
		skip++;
	kept = n - skip;
	for (int i = 0; i < kept; i++)
		digits[i] = low_first[n - 1 - i];
	return kept;
}

/*
 * Appends v as a jsonb numeric at buf + *len (padded with zeros to a
 * 4-byte boundary first, as jsonb aligns a numeric), or only counts its
 * bytes when buf is NULL; returns the bytes added, padding included.
 */
static int
put_numeric(char *buf, int64 *len, int64 v)
{
	int16		digits[INT64_NBASE_DIGITS];
	int			weight;
	int			n = nbase_digits(v, digits, &weight);
	int			pad = (int) (INTALIGN(*len) - *len);
	int			size = VARHDRSZ + sizeof(uint16) + n * sizeof(int16);

	if (buf != NULL)
	{
		char	   *p = buf + *len + pad;
		uint16		header = NUMERIC_SHORT | (weight & NUMERIC_SHORT_WEIGHT_MASK);

		if (v < 0)
			header |= NUMERIC_SHORT_SIGN_MASK;
		memset(buf + *len, 0, pad);
		SET_VARSIZE(p, size);
		memcpy(p + VARHDRSZ, &header, sizeof(uint16));
		memcpy(p + VARHDRSZ + sizeof(uint16), digits, n * sizeof(int16));
	}
	*len += pad + size;
	return pad + size;
}

/*
 * Writes the jsonb array of the ids into buf (NULL: only measures it) and
 * returns its size: the varlena header, the container's header, one JEntry
 * per element (every JB_OFFSET_STRIDE'th holding the end offset of its
 * element's data, the others its length), then the numerics.  The ids are
 * read in place: the array's values, one per element whose bit in the
 * null bitmap (when it has one) is set.
 */
static int64
put_array(char *buf, ArrayType *ids, int n)
{
	const int64 *next = (const int64 *) ARR_DATA_PTR(ids);
	const bits8 *bitmap = ARR_NULLBITMAP(ids);
	int64		len = VARHDRSZ + sizeof(uint32) + (int64) n * sizeof(JEntry);
	int64		data_start = len;

	if (buf != NULL)
	{
		uint32		header = (uint32) n | JB_FARRAY;

		memcpy(buf + VARHDRSZ, &header, sizeof(uint32));
	}
	for (int i = 0; i < n; i++)
	{
		JEntry		meta;

		if (bitmap != NULL && (bitmap[i / 8] & (1 << (i % 8))) == 0)
			meta = JENTRY_ISNULL;
		else
			meta = JENTRY_ISNUMERIC | put_numeric(buf, &len, *next++);
		if (len - data_start > JENTRY_OFFLENMASK)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("total size of jsonb array elements exceeds the maximum of %d bytes",
							JENTRY_OFFLENMASK),
					 errdetail("The array has %d ids.", n)));
		if (i % JB_OFFSET_STRIDE == 0)
			meta = (meta & JENTRY_TYPEMASK) | (uint32) (len - data_start) | JENTRY_HAS_OFF;
		if (buf != NULL)
			memcpy(buf + VARHDRSZ + sizeof(uint32) + (int64) i * sizeof(JEntry), &meta, sizeof(JEntry));
	}
	return len;
}

/*
 * The one-dimensional bigint array as a jsonb array of numbers (NULL
 * elements as null): the same value to_jsonb() returns for it.
 */
Datum
syncopt_ids_jsonb(PG_FUNCTION_ARGS)
{
	ArrayType  *ids = PG_GETARG_ARRAYTYPE_P(0);
	int			n = ArrayGetNItems(ARR_NDIM(ids), ARR_DIMS(ids));
	int64		size;
	char	   *result;

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("ids_jsonb takes a one-dimensional array"),
				 errdetail("The array has %d dimensions.", ARR_NDIM(ids)),
				 errhint("Use to_jsonb() for a multidimensional array.")));

	/* Measured first, so that the result is allocated once. */
	size = put_array(NULL, ids, n);
	result = palloc(size);
	put_array(result, ids, n);
	SET_VARSIZE(result, size);

	PG_RETURN_POINTER(result);
}
