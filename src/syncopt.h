/*-------------------------------------------------------------------------
 *
 * syncopt.h
 *	  Declarations shared by every syncopt module: configuration variables
 *	  and the kinds of background worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SYNCOPT_H
#define SYNCOPT_H

/* The background workers syncopt starts; each has one shared-memory slot. */
typedef enum SyncoptWorkerKind
{
	SYNCOPT_WORKER_COLLECTOR = 0,
	SYNCOPT_WORKER_EXECUTOR,
	SYNCOPT_NUM_WORKERS
}			SyncoptWorkerKind;

/* GUCs, defined in syncopt.c */
extern char *syncopt_database_name;
extern char *syncopt_worker_role;
extern bool syncopt_enable_workers;
extern int	syncopt_history_retention_minutes;
extern char *syncopt_http_allowed_hosts;
extern int	syncopt_executor_poll_interval_s;
extern char *syncopt_http_ca_file;
extern int	syncopt_http_timeout_s;
extern int	syncopt_http_connect_timeout_s;
extern int	syncopt_http_max_response_kb;
extern int	syncopt_http_max_retries;
extern int	syncopt_http_max_retry_wait_s;
extern int	syncopt_http_max_concurrency;
extern int	syncopt_rate_limit_reserve;
extern int	syncopt_collector_max_workers;
extern int	syncopt_default_sync_duration_s;
extern double syncopt_atc_k;
extern int	syncopt_max_concurrent_syncs;
extern int	syncopt_max_concurrent_per_destination;
extern int	syncopt_planner_interval_s;
extern int	syncopt_retry_backoff_s;
extern int	syncopt_retry_backoff_max_s;
extern double syncopt_anomaly_threshold;
extern double syncopt_anomaly_min_change;
extern int	syncopt_anomaly_training_window_s;
extern int	syncopt_anomaly_min_training;

extern const char *syncopt_worker_name(SyncoptWorkerKind kind);

#endif							/* SYNCOPT_H */
