/*-------------------------------------------------------------------------
 *
 * analytics_util.c
 *	  Time arithmetic, formatting for reasons, and order statistics shared
 *	  by the analytics functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "utils/datetime.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "analytics.h"

const char *const day_names[7] = {
	"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"
};

/* Day of week (0 = Sunday) and hour of day, in UTC. */
void
utc_dow_hour(TimestampTz t, int *dow, int *hour)
{
	/* The PostgreSQL epoch, 2000-01-01, was a Saturday. */
	int64		days = t / USECS_PER_DAY;
	int64		rem = t % USECS_PER_DAY;

	if (rem < 0)
	{
		rem += USECS_PER_DAY;
		days--;
	}
	*dow = (int) (((days + 6) % 7 + 7) % 7);
	*hour = (int) (rem / USECS_PER_HOUR);
}

/* t plus a number of seconds; NO_TIME stays NO_TIME. */
TimestampTz
time_add(TimestampTz t, double seconds)
{
	if (t == NO_TIME)
		return NO_TIME;
	return t + (TimestampTz) llround(seconds * USECS_PER_SEC);
}

/* a - b in seconds. */
double
time_diff(TimestampTz a, TimestampTz b)
{
	return (double) (a - b) / USECS_PER_SEC;
}

/*
 * The texts format_time() and format_duration() return, in buffers used in
 * turn.  Every caller copies the text at once (appendStringInfo, psprintf,
 * errdetail) and no call formats more than FORMAT_RING values, so a buffer
 * is not written again while it is read.  A palloc'd string each time was
 * garbage kept until the analytics call ended: at 50,000 connectors plan()
 * formats a few hundred thousand, and allocating them (mostly faulting in
 * fresh pages) was a tenth of its time.  A buffer holds the longest text
 * either can write (a duration of DBL_MAX seconds in days).
 */
#define FORMAT_RING		8
#define FORMAT_LEN		336

static char format_ring[FORMAT_RING][FORMAT_LEN];
static int	format_next;

/* The next buffer of the ring. */
static char *
format_buffer(void)
{
	format_next = (format_next + 1) % FORMAT_RING;
	return format_ring[format_next];
}

/*
 * A timestamp as the session shows it (DateStyle, TimeZone), minus seconds;
 * valid until FORMAT_RING more values are formatted.
 */
const char *
format_time(TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz;
	const char *tzn;
	char	   *buf;

	if (t == NO_TIME)
		return "never";
	if (timestamp2tm(t, &tz, &tm, &fsec, &tzn, NULL) != 0)
		return "out of range";
	buf = format_buffer();
	snprintf(buf, FORMAT_LEN, "%04d-%02d-%02d %02d:%02d %s",
			 tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, tm.tm_min, tzn ? tzn : "");
	return buf;
}

/*
 * A duration a person reads at a glance: "2 h 05 min", "12 min", "40 s";
 * valid until FORMAT_RING more values are formatted.
 */
const char *
format_duration(double seconds)
{
	const char *sign = seconds < 0 ? "-" : "";
	double		s = fabs(seconds);
	char	   *buf = format_buffer();

	if (s >= 86400 * 2)
		snprintf(buf, FORMAT_LEN, "%s%.1f days", sign, s / 86400);
	else if (s >= 3600)
	{
		long		m = lround(s / 60);

		snprintf(buf, FORMAT_LEN, "%s%ld h %02ld min", sign, m / 60, m % 60);
	}
	else if (s >= 60)
		snprintf(buf, FORMAT_LEN, "%s%ld min", sign, lround(s / 60));
	else
		snprintf(buf, FORMAT_LEN, "%s%ld s", sign, lround(s));
	return buf;
}

/* Room a reason starts with: a planned sync's takes 140 bytes on average. */
#define REASON_START	256

/*
 * Start an empty reason of REASON_START bytes (appends enlarge it as
 * usual): one per planned sync from initStringInfo took 1 kB each, 50 MB
 * at 50,000 connectors, every page of it a fault in a fresh backend.
 */
void
reason_init(StringInfo reason)
{
	reason->data = palloc(REASON_START);
	reason->maxlen = REASON_START;
	resetStringInfo(reason);
}

/*
 * Move a reason built in scratch memory into the current memory context at
 * its exact size (later appends enlarge it as usual): a buffer from
 * initStringInfo takes 1 kB, 50 MB per reason at 50,000 connectors.
 */
void
keep_reason(StringInfo reason)
{
	char	   *data = palloc(reason->len + 1);

	memcpy(data, reason->data, reason->len + 1);
	reason->data = data;
	reason->maxlen = reason->len + 1;
}

/*
 * A context for one output row's values, to be reset once
 * tuplestore_putvalues() has copied them: kept to the end of the call, the
 * values of 50,000 rows (reasons, intervals) were tens of MB, every page of
 * it a fault in a fresh backend.
 */
MemoryContext
row_context_create(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "syncopt output row", ALLOCSET_DEFAULT_SIZES);
}

/* An interval Datum of so many seconds (no day or month part). */
Datum
interval_datum(double seconds)
{
	Interval   *iv = palloc0(sizeof(Interval));

	iv->time = (TimeOffset) llround(seconds * USECS_PER_SEC);
	return IntervalPGetDatum(iv);
}

/* Exchange two doubles. */
static inline void
swap_doubles(double *a, double *b)
{
	double		t = *a;

	*a = *b;
	*b = t;
}

/*
 * Move the k-th smallest of values[0..n) to position k, smaller ones before
 * it and larger ones after (Hoare's selection, median-of-three pivots):
 * linear on average where a sort is n log n, which matters for the
 * thousands of pairwise slopes of a Theil-Sen fit.
 */
static void
select_kth(double *values, int n, int k)
{
	int			left = 0,
				right = n - 1;

	while (right > left)
	{
		int			mid = left + (right - left) / 2;
		double		pivot;
		int			i = left,
					j = right;

		/* order values[left], values[mid], values[right]; the middle pivots */
		if (values[mid] < values[left])
			swap_doubles(&values[mid], &values[left]);
		if (values[right] < values[left])
			swap_doubles(&values[right], &values[left]);
		if (values[right] < values[mid])
			swap_doubles(&values[right], &values[mid]);
		pivot = values[mid];
		while (i <= j)
		{
			while (values[i] < pivot)
				i++;
			while (values[j] > pivot)
				j--;
			if (i <= j)
			{
				swap_doubles(&values[i], &values[j]);
				i++;
				j--;
			}
		}
		if (k <= j)
			right = j;
		else if (k >= i)
			left = i;
		else
			return;
	}
}

/*
 * The q-quantile of values (reordered in place), by linear interpolation
 * between order statistics (type 7, as percentile_cont).
 */
double
quantile(double *values, int n, double q)
{
	double		pos;
	int			lo;
	double		next;

	Assert(n > 0);
	pos = q * (n - 1);
	lo = Min((int) floor(pos), n - 1);
	select_kth(values, n, lo);
	if (lo >= n - 1 || pos == lo)
		return values[lo];
	/* the next order statistic is the smallest of those after position lo */
	next = values[lo + 1];
	for (int i = lo + 2; i < n; i++)
		next = Min(next, values[i]);
	return values[lo] + (pos - lo) * (next - values[lo]);
}

/* The median of values, leaving them untouched. */
double
median_of(const double *values, int n)
{
	double	   *copy = palloc(sizeof(double) * n);
	double		m;

	memcpy(copy, values, sizeof(double) * n);
	m = quantile(copy, n, 0.5);
	pfree(copy);
	return m;
}

/* Seconds in an interval, a month counted as 30 days. */
double
interval_seconds(const Interval *span)
{
	return (double) span->time / USECS_PER_SEC +
		(double) span->day * SECS_PER_DAY + (double) span->month * DAYS_PER_MONTH * SECS_PER_DAY;
}
