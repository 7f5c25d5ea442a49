/*-------------------------------------------------------------------------
 *
 * syncopt.c
 *	  Module entry point: configuration variables, shared memory and the
 *	  registration of syncopt's background workers.
 *
 * syncopt must be preloaded: its workers and the shared memory through
 * which approvals wake the executor exist only when the postmaster loads
 * the library at start.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/varlena.h"

#include "syncopt.h"
#include "worker.h"
#include "worker_state.h"

PG_MODULE_MAGIC;

char	   *syncopt_database_name = NULL;
char	   *syncopt_worker_role = NULL;
bool		syncopt_enable_workers = true;
int			syncopt_history_retention_minutes = 90 * 24 * 60;
char	   *syncopt_http_allowed_hosts = NULL;
int			syncopt_executor_poll_interval_s = 60;
char	   *syncopt_http_ca_file = NULL;
int			syncopt_http_timeout_s = 30;
int			syncopt_http_connect_timeout_s = 10;
int			syncopt_http_max_response_kb = 64 * 1024;
int			syncopt_http_max_retries = 3;
int			syncopt_http_max_retry_wait_s = 60;
int			syncopt_http_max_concurrency = 8;
int			syncopt_rate_limit_reserve = 100;
int			syncopt_collector_max_workers = 4;
int			syncopt_default_sync_duration_s = 30 * 60;
double		syncopt_atc_k = 2.0;
int			syncopt_max_concurrent_syncs = 4;
int			syncopt_max_concurrent_per_destination = 0;
double		syncopt_anomaly_threshold = 3.5;
double		syncopt_anomaly_min_change = 0.5;
int			syncopt_anomaly_training_window_s = 14 * 24 * 3600;
int			syncopt_anomaly_min_training = 7;

/*
 * Planning and guardrail settings.  The SQL of run_planner() and the
 * executor's record step read them with current_setting(); C reads
 * those simulate()'s replay plans with too (the planning interval and the
 * retry back-off, in plan_triggers()).  Guardrails are PGC_SIGHUP so that
 * no session can lift them.
 */
int			syncopt_planner_interval_s = 15 * 60;
int			syncopt_retry_backoff_s = 5 * 60;
int			syncopt_retry_backoff_max_s = 12 * 3600;
static int	planner_min_benefit_s = 5 * 60;
static int	planner_time_limit_ms = 2 * 60 * 1000;
static int	pause_after_failures = 3;
static int	max_auto_actions_per_hour = 20;
static int	breaker_threshold = 3;
static int	executor_max_attempts = 5;
static int	notification_max_attempts = 5;

void		_PG_init(void);

/* The short name of a worker, as worker_status() and syncopt.wake() use it. */
const char *
syncopt_worker_name(SyncoptWorkerKind kind)
{
	return kind == SYNCOPT_WORKER_COLLECTOR ? "collector" : "executor";
}

/*
 * Check hook for syncopt.http_allowed_hosts: a comma-separated list of bare
 * host names or addresses, so that a scheme, port or path typed by mistake
 * is refused instead of silently matching nothing.
 */
static bool
check_http_allowed_hosts(char **newval, void **extra, GucSource source)
{
	char	   *copy = pstrdup(*newval);
	List	   *hosts;
	ListCell   *lc;
	bool		valid = true;

	if (!SplitGUCList(copy, ',', &hosts))
	{
		GUC_check_errdetail("List syntax is invalid.");
		valid = false;
	}
	else
	{
		foreach(lc, hosts)
		{
			const char *host = lfirst(lc);

			if (host[0] == '\0' || strpbrk(host, "/@?# ") != NULL ||
				strstr(host, "://") != NULL)
			{
				GUC_check_errdetail("\"%s\" is not a bare host name or address.", host);
				GUC_check_errhint("List hosts only, for example \"127.0.0.1, ::1, localhost\".");
				valid = false;
				break;
			}
		}
	}
	list_free(hosts);
	pfree(copy);
	return valid;
}

/* Settings of the analytics functions (all per session, no privilege needed). */
static void
define_analytics_gucs(void)
{
	DefineCustomIntVariable("syncopt.default_sync_duration",
							"Predicted duration of a sync when no connector of the fleet has history.",
							NULL,
							&syncopt_default_sync_duration_s,
							30 * 60,
							1, 7 * 24 * 3600,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomRealVariable("syncopt.atc_k",
							 "Look-ahead factor k of the ATC priority index.",
							 "Urgency is exp(-slack / (k x mean P90)): larger k starts caring about deadlines earlier.",
							 &syncopt_atc_k,
							 2.0,
							 0.1, 20.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.max_concurrent_syncs",
							"Syncs plan() lets run at once across the fleet.",
							NULL,
							&syncopt_max_concurrent_syncs,
							4,
							1, 10000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.max_concurrent_per_destination",
							"Syncs plan() lets run at once into one destination (0: no limit).",
							NULL,
							&syncopt_max_concurrent_per_destination,
							0,
							0, 10000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomRealVariable("syncopt.anomaly_threshold",
							 "Robust z-score (0.6745 (x - median) / MAD) from which anomalies() flags a run.",
							 NULL,
							 &syncopt_anomaly_threshold,
							 3.5,
							 1.0, 100.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomRealVariable("syncopt.anomaly_min_change",
							 "Smallest relative change from the median that anomalies() reports.",
							 "Guards against flagging tiny changes on very steady history.",
							 &syncopt_anomaly_min_change,
							 0.5,
							 0.0, 100.0,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.anomaly_training_window",
							"History before `since` that anomalies() learns from.",
							NULL,
							&syncopt_anomaly_training_window_s,
							14 * 24 * 3600,
							3600, 365 * 24 * 3600,
							PGC_USERSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.anomaly_min_training",
							"Runs of training history a metric needs before anomalies() judges it.",
							NULL,
							&syncopt_anomaly_min_training,
							7,
							3, 10000,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);
}

/* Define the settings of planning runs, guardrails and delivery. */
static void
define_decision_gucs(void)
{
	DefineCustomIntVariable("syncopt.planner_interval",
							"Time between planning runs: a sync that must start before the next run is triggered now.",
							NULL, &syncopt_planner_interval_s, 15 * 60, 60, 24 * 3600,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.planner_min_benefit",
							"Smallest predicted gain (lateness avoided, priced time saved) worth a proposal.",
							NULL, &planner_min_benefit_s, 5 * 60, 0, 24 * 3600,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.planner_time_limit",
							"Time a planning run takes candidates for: past it, the rest are counted as not reached.",
							NULL, &planner_time_limit_ms, 2 * 60 * 1000, 1, 3600 * 1000,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.retry_backoff",
							"Wait after a connector's second failure in a row before the planner retries it, doubled with each further one (0: retries are not spaced).",
							NULL, &syncopt_retry_backoff_s, 5 * 60, 0, 24 * 3600,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.retry_backoff_max",
							"Longest wait after failures in a row before the planner retries a connector.",
							NULL, &syncopt_retry_backoff_max_s, 12 * 3600, 0, 7 * 24 * 3600,
							PGC_USERSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.pause_after_failures",
							"Consecutive failures needing a human before the planner proposes a pause.",
							NULL, &pause_after_failures, 3, 1, 1000,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.max_auto_actions_per_hour",
							"Auto-mode approvals per hour across all connectors; past it, proposals wait for a human.",
							NULL, &max_auto_actions_per_hour, 20, 0, 100000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.breaker_threshold",
							"Consecutive failed executions on a connector that open its circuit breaker (auto drops to co-pilot).",
							NULL, &breaker_threshold, 3, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.executor_max_attempts",
							"Vendor calls the executor makes for one decision before it fails for good.",
							"Transport retries (syncopt.http_max_retries) count as calls.",
							&executor_max_attempts, 5, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("syncopt.notification_max_attempts",
							"Delivery attempts of one notification to one channel before it is given up.",
							NULL, &notification_max_attempts, 5, 1, 100,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
}

/* Define syncopt's configuration variables. */
static void
define_gucs(void)
{
	DefineCustomStringVariable("syncopt.database_name",
							   "Database in which syncopt's background workers run.",
							   "CREATE EXTENSION syncopt is refused in any other database.",
							   &syncopt_database_name,
							   "postgres",
							   PGC_POSTMASTER,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomStringVariable("syncopt.worker_role",
							   "Role as which syncopt's background workers run their passes.",
							   "It must be syncopt_worker or a member of it; never a superuser.",
							   &syncopt_worker_role,
							   "syncopt_worker",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomBoolVariable("syncopt.enable_workers",
							 "Starts syncopt's collector and executor workers.",
							 "Off leaves the SQL functions usable but nothing polls or executes.",
							 &syncopt_enable_workers,
							 true,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.history_retention",
							"How long sync runs, finished decisions and alerts are kept.",
							"The collector purges older rows in batches; 0 keeps everything.",
							&syncopt_history_retention_minutes,
							90 * 24 * 60,
							0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MIN,
							NULL, NULL, NULL);

	DefineCustomStringVariable("syncopt.http_allowed_hosts",
							   "Hosts that vendor calls may reach over plain http.",
							   "Every other host must use https with verified TLS; meant for a loopback test server.",
							   &syncopt_http_allowed_hosts,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY | GUC_LIST_INPUT,
							   check_http_allowed_hosts, NULL, NULL);

	DefineCustomIntVariable("syncopt.executor_poll_interval",
							"Safety poll of the executor between commit-time wakes.",
							NULL,
							&syncopt_executor_poll_interval_s,
							60,
							1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomStringVariable("syncopt.http_ca_file",
							   "File of CA certificates that vendor TLS certificates are verified against.",
							   "Empty uses the system's CA bundle. Verification itself cannot be turned off.",
							   &syncopt_http_ca_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.http_timeout",
							"Longest a vendor request may take, connection included.",
							NULL,
							&syncopt_http_timeout_s,
							30,
							1, 600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.http_connect_timeout",
							"Longest a connection to a vendor may take to open.",
							NULL,
							&syncopt_http_connect_timeout_s,
							10,
							1, 120,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.http_max_response_size",
							"Largest vendor response accepted; a larger one fails the request.",
							NULL,
							&syncopt_http_max_response_kb,
							64 * 1024,
							64, 1024 * 1024,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.http_max_retries",
							"Retries of a vendor request after 429, 5xx or a transport failure.",
							NULL,
							&syncopt_http_max_retries,
							3,
							0, 10,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.http_max_retry_wait",
							"Longest Retry-After a request waits out; a longer one ends the poll until then.",
							NULL,
							&syncopt_http_max_retry_wait_s,
							60,
							0, 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.http_max_concurrency",
							"Vendor requests one poll keeps in flight at once.",
							NULL,
							&syncopt_http_max_concurrency,
							8,
							1, 64,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.rate_limit_reserve",
							"Requests of the vendor's hourly budget (X-Rate-Limit-Remaining) kept unused.",
							"When fewer remain, the poll stops and the account waits 15 minutes, leaving room for approved actions.",
							&syncopt_rate_limit_reserve,
							100,
							0, 1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("syncopt.collector_max_workers",
							"Accounts the collector polls at the same time, each in a background worker of its own.",
							"Each poll takes one of max_worker_processes while it runs; a hung or throttled account holds only its own.",
							&syncopt_collector_max_workers,
							4,
							1, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	define_analytics_gucs();
	define_decision_gucs();
	MarkGUCPrefixReserved("syncopt");
}

/* Module load: refuse to run unpreloaded, then set everything up. */
void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("syncopt must be loaded through shared_preload_libraries"),
				 errhint("Add syncopt to shared_preload_libraries in postgresql.conf and restart the server.")));

	define_gucs();
	worker_state_install_hooks();

	/* pg_upgrade runs the server in binary-upgrade mode: no workers then. */
	if (IsBinaryUpgrade || !syncopt_enable_workers)
		return;
	syncopt_register_workers();
}
