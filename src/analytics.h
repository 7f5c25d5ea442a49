/*-------------------------------------------------------------------------
 *
 * analytics.h
 *	  The in-memory picture of the fleet that syncopt's analytics share:
 *	  connectors with their running statistics and predictions, assets with
 *	  deadlines, the dependency graph, and load and cost windows.
 *
 * Each analytics call loads this picture once (fleet.c), computes on it in
 * C and returns rows; nothing is cached between statements (a planning
 * run shares its one load with the analytics it calls: fleet_share.c).  Times are
 * TimestampTz (microseconds), durations are seconds as double.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_ANALYTICS_H
#define SYNCOPT_ANALYTICS_H

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

/* "No deadline": later than every real instant. */
#define NO_TIME DT_NOEND

/* How the next sync's duration was predicted, and the answer. */
typedef struct Prediction
{
	double		p50_s;
	double		p90_s;
	double		full_p50_s;		/* a full re-sync, when history has one */
	double		rows;			/* expected rows; NaN when unknown */
	int			samples;
	const char *method;
	StringInfoData reason;
} Prediction;

typedef struct Connector
{
	int64		id;
	int64		account_id;
	char	   *name;
	bool		airbyte;
	char	   *destination;	/* NULL: not limited per destination */
	char	   *source_key;
	int			window_source;	/* its source_key's number among the load
								 * windows' (fleet_number_sources()); -1 none */
	bool		paused;
	TimestampTz running_since;	/* NO_TIME: not running */
	int			ntags;
	char	  **tags;
	int			batch_size;		/* 0: unknown */
	int			parallelism;
	int			schedule_minutes;

	/* connector_stats */
	int64		runs;
	int64		failures;
	int			consecutive_failures;
	TimestampTz last_success_at;	/* NO_TIME: never */
	TimestampTz last_failure_at;	/* end of its last failure; NO_TIME: never */
	TimestampTz fresh_since;	/* start of the last successful sync ended by
								 * `at` (its data's age); DT_NOBEGIN: none */
	double		ewma_duration_s;	/* NaN: unknown */
	double		ewma_rows;
	double		fit_n,
				fit_sx,
				fit_sy,
				fit_sxx,
				fit_sxy;
	int			nrecent;		/* timed successes of its recent window */
	const double *model;		/* connector_stats.duration_model (NULL when
								 * Fleet.predicted, or nrecent is 0) */

	Prediction	pred;

	/* Graph results (graph.c) */
	TimestampTz due;			/* must finish by; NO_TIME: nothing waits */
	int			due_asset;		/* asset whose deadline binds; -1 none */
	int			due_via;		/* sync_order successor it binds through; -1 */
	double		weight;			/* downstream weight incl. calendar */
	int			ndown;			/* distinct downstream assets */
	double		calendar;		/* largest calendar multiplier applied */
	const char *calendar_event; /* its name, NULL when 1 */
	double		staleness;		/* worst age / freshness SLA downstream */
	int			stale_asset;
} Connector;

typedef struct Asset
{
	int64		id;
	char	   *name;
	TimestampTz deadline;		/* next occurrence after `at`; NO_TIME none */
	double		weight;
	double		multiplier;		/* calendar multiplier at its deadline */
	char	   *event;			/* name of that calendar event */
	double		duration_s;
	double		freshness_sla_s;	/* 0: none */

	TimestampTz due;			/* deadline pushed back from downstream */
	int			due_asset;
} Asset;

/* A concrete occurrence of a load_window. */
typedef struct Window
{
	char		target;			/* 'w'arehouse, 's'ource, 'c'onnector */
	int64		connector_id;
	char	   *source_key;
	int			source_no;		/* source_key's number among the windows'; -1 none */
	TimestampTz starts;
	TimestampTz ends;
	double		load_factor;	/* 0..1; 1 = do not sync */
	double		price;			/* warehouse price multiplier, 1 = normal */
	char	   *name;
} Window;

/* A calendar event scoped to a connector tag. */
typedef struct TagEvent
{
	char	   *tag;
	TimestampTz starts;
	TimestampTz ends;
	double		multiplier;
	char	   *name;
} TagEvent;

/* Adjacency in compressed form: the targets of node i are idx[off[i]..off[i+1]). */
typedef struct Adjacency
{
	int		   *off;
	int		   *idx;
} Adjacency;

typedef struct Fleet
{
	TimestampTz at;
	int			nconn;
	Connector  *conn;
	int			nasset;
	Asset	   *asset;
	Adjacency	conn_assets;	/* connector -> assets it feeds */
	Adjacency	conn_after;		/* connector -> connectors that wait for it */
	Adjacency	conn_before;	/* connector -> connectors it waits for */
	Adjacency	asset_next;		/* asset -> downstream assets */
	Adjacency	asset_prev_assets;	/* asset -> upstream assets */
	Adjacency	asset_prev_conns;	/* asset -> upstream connectors */
	int			nwin;
	Window	   *win;
	int			ntagev;
	TagEvent   *tagev;
	double		mean_p90_s;		/* over connectors with a deadline */
	bool		predicted;		/* FLEET_PREDICT: connectors with recent runs
								 * predicted at `at`, their models not kept */
	bool		terse;			/* FLEET_TERSE: predictions without reasons */
	uint32		share_gen;		/* fleet_share.c: a copy, with its graph, of
								 * the shared picture of this number; 0 not */
	/* graph.c: the assets with a deadline downstream of each connector */
	int		   *deadline_pos;	/* asset -> its number among those, or -1 */
	int			deadline_words; /* words of one connector's bitset */
	uint64	   *deadline_reach; /* nconn bitsets over deadline_pos */
} Fleet;

/* Scratch space of graph_downstream(): stamps, stack, and its answer. */
typedef struct GraphWalk
{
	int		   *seen;			/* nconn + nasset: connectors, then assets */
	int		   *stack;
	int		   *down;			/* nasset: the assets found, ascending */
} GraphWalk;

/* What the fleet loader should read besides connectors. */
#define FLEET_GRAPH		0x01	/* assets, lineage, sync_order, calendar */
#define FLEET_WINDOWS	0x02	/* load and cost windows */
/*
 * The caller will not plan: running_since, which only plan_fleet() reads,
 * is left NO_TIME, saving an index probe of sync_run per connector.
 * fresh_since is read all the same: the graph walk needs it to tell which
 * deadline a connector's last success already serves.
 */
#define FLEET_NOT_PLANNING	0x04
/*
 * The caller predicts at `at` (score_fleet(), predict_fleet()): each
 * connector with recent runs is predicted as its row is read and its
 * duration model is not kept (33 numbers, 13 MB at 50,000 connectors,
 * read once); without it the models are kept for predictions at other
 * instants (simulate()).
 */
#define FLEET_PREDICT		0x08
/*
 * The caller reads no prediction's reason (only predict_duration() does):
 * the predictions are made without (pred.reason.data NULL).  Formatting
 * and keeping them was a twentieth of sla_risk() at 50,000 connectors.
 */
#define FLEET_TERSE			0x10

/* fleet.c */
extern Fleet *fleet_load(TimestampTz at, double horizon_s, int parts);
extern int	fleet_connector_index(const Fleet *fleet, int64 connector_id);
extern Adjacency build_adjacency(int n, int nedges, const int *from, const int *to);
extern void fleet_load_windows(Fleet *fleet, double horizon_s);

/* fleet_share.c: a planning run's one load, shared with its analytics */
extern const Fleet *fleet_share_load(TimestampTz at, double horizon_s);
extern void fleet_share_pin(MemoryContext holder);
extern Fleet *fleet_copy(const Fleet *from, double from_horizon_s, double horizon_s, int parts);
extern Fleet *fleet_get(TimestampTz at, double horizon_s, int parts);
extern void fleet_graph_reach(Fleet *fleet);

/* predict.c */
extern void predict_fleet(Fleet *fleet);
extern void predict_from_history(Connector *c, TimestampTz at, bool explain, MemoryContext scratch);
extern int64 predict_period(TimestampTz at);

/* graph.c */
typedef struct GraphResults GraphResults;

extern void graph_compute(Fleet *fleet);
extern void graph_reach(Fleet *fleet);
extern void graph_tag_weights(Fleet *fleet);
extern GraphResults *graph_keep(const Fleet *fleet);
extern void graph_restore(Fleet *fleet, const GraphResults *g);
extern TimestampTz deadline_opening(const Fleet *fleet, int a);
extern int *graph_order(int n, const Adjacency *next, const Adjacency *prev);
extern int	graph_reachers(const Fleet *fleet, int asset, int *out);
extern void graph_walk_init(const Fleet *fleet, GraphWalk *walk);
extern int	graph_downstream(const Fleet *fleet, int ci, GraphWalk *walk);

/* graph_dues.c */
extern void graph_unserved_dues(Fleet *fleet);
extern void graph_give_up(Fleet *fleet, const bool *given_up);

/* score.c */
typedef struct Score
{
	double		score;
	double		urgency;
	double		load_penalty;
	double		cost_penalty;
	double		failure_risk;
	double		slack_s;		/* NaN: no deadline */
	TimestampTz latest_start;
	StringInfoData reason;
} Score;

extern Score *score_fleet(Fleet *fleet, bool explain);
extern Score *score_connectors(Fleet *fleet, bool explain);
extern int *priority_order(const Fleet *fleet, const Score *scores);
extern bool window_applies(const Window *w, const Connector *c);
extern const Window *window_active(const Fleet *fleet, const Connector *c,
								   TimestampTz t, bool warehouse);
extern TimestampTz window_postpones(const Window *w, const Connector *c, TimestampTz start,
									TimestampTz end, TimestampTz due);
extern TimestampTz latest_clear_start(const Fleet *fleet, const int *idx, int n, const Connector *c,
									  TimestampTz start, double run_s, const Window **beat);

/* plan.c */
typedef struct PlannedSync
{
	int			connector;
	TimestampTz start;
	TimestampTz end;
	bool		will_miss;
	const char *action;
	int			priority;
	StringInfoData reason;
} PlannedSync;

extern PlannedSync *plan_fleet(Fleet *fleet, Score *scores, double horizon_s, bool explain, int *njobs);
extern TimestampTz plan_opening(const Fleet *fleet, const Connector *c);
extern TimestampTz retry_opening(int failures_in_row, TimestampTz last_failure);
extern bool plan_triggers(const Fleet *fleet, const PlannedSync *job);

/* analytics_util.c */
extern TimestampTz time_add(TimestampTz t, double seconds);
extern double time_diff(TimestampTz a, TimestampTz b);
extern const char *format_time(TimestampTz t);
extern const char *format_duration(double seconds);
extern void reason_init(StringInfo reason);
extern void keep_reason(StringInfo reason);
extern MemoryContext row_context_create(void);
extern Datum interval_datum(double seconds);
extern double interval_seconds(const Interval *span);
extern double quantile(double *values, int n, double q);
extern double median_of(const double *values, int n);
extern void utc_dow_hour(TimestampTz t, int *dow, int *hour);
extern const char *const day_names[7];

#endif							/* SYNCOPT_ANALYTICS_H */
