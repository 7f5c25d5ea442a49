-- Views for dashboards (Grafana, Metabase, Superset read Postgres directly;
-- docs/grafana/syncopt-dashboard.json uses every one of them).  Each runs
-- with the caller's privileges (security_invoker), so a view never shows
-- more than its reader could select from the tables, and each reads
-- indexed rows or the latest planning run's snapshot rather than
-- re-planning the fleet, so that it answers quickly on large fleets.

-- One row per connector: is it healthy, and why not.
CREATE VIEW syncopt.connector_health WITH (security_invoker = true) AS
SELECT c.connector_id, a.vendor, c.name, c.service, c.destination_id,
       CASE WHEN c.paused OR c.sync_state = 'paused' THEN 'paused'
            WHEN c.setup_state IN ('broken', 'incomplete') THEN 'broken'
            WHEN coalesce(s.consecutive_failures, 0) >= 3 THEN 'failing'
            WHEN coalesce(s.consecutive_failures, 0) > 0 THEN 'degraded'
            WHEN coalesce(s.last_success_at, c.last_success_at) IS NULL THEN 'unknown'
            ELSE 'healthy' END AS health,
       coalesce(s.last_success_at, c.last_success_at) AS last_success_at,
       s.last_run_at, coalesce(s.consecutive_failures, 0) AS consecutive_failures,
       coalesce(s.runs, 0) AS runs,
       CASE WHEN s.runs > 0 THEN round((s.successes::numeric / s.runs) * 100, 1) END AS success_rate_pct,
       make_interval(secs => s.ewma_duration_s) AS typical_duration,
       CASE WHEN c.paused OR c.sync_state = 'paused' THEN 'paused at the vendor'
            WHEN c.setup_state IN ('broken', 'incomplete')
                 THEN 'the vendor reports setup ' || c.setup_state || ' (credentials or permissions)'
            WHEN coalesce(s.consecutive_failures, 0) > 0
                 THEN s.consecutive_failures || ' failed sync(s) in a row since the last success'
            WHEN coalesce(s.last_success_at, c.last_success_at) IS NULL THEN 'no sync seen yet'
            ELSE 'last sync succeeded' END AS reason
  FROM syncopt.connector c
  JOIN syncopt.account a ON a.account_id = c.account_id
  LEFT JOIN syncopt.connector_stats s ON s.connector_id = c.connector_id
 WHERE c.deleted_at IS NULL;
COMMENT ON VIEW syncopt.connector_health IS
    'Each connector''s health (healthy, degraded, failing, broken, paused, unknown) with the reason, from connector_stats.';

-- The latest planning run's SLA forecast, per asset with a deadline.
CREATE VIEW syncopt.sla_status WITH (security_invoker = true) AS
SELECT f.asset_id, a.name AS asset, a.kind, a.owner, f.deadline, f.predicted_ready,
       CASE WHEN NOT f.at_risk THEN 'on_track' ELSE 'at_risk_' || f.risk END AS status,
       f.predicted_ready - f.deadline AS predicted_lateness,
       (SELECT array_agg(coalesce(c.name, c.external_id) ORDER BY c.connector_id)
          FROM syncopt.connector c WHERE c.connector_id = ANY (f.blocking_connectors)) AS blocking_connectors,
       f.reason, r.at AS planned_at, f.planner_run_id
  FROM syncopt.sla_forecast f
  JOIN syncopt.asset a ON a.asset_id = f.asset_id
  JOIN syncopt.planner_run r ON r.planner_run_id = f.planner_run_id;
COMMENT ON VIEW syncopt.sla_status IS
    'Each asset''s next deadline and when its inputs are predicted ready, as the latest planning run forecast it.';

-- What waits for a human, and by when it must be decided to still help.
CREATE VIEW syncopt.pending_approvals WITH (security_invoker = true) AS
SELECT d.decision_id, d.created_at, d.connector_id, coalesce(c.name, c.external_id) AS connector,
       d.vendor, d.action, d.params, d.act_by, d.priority_score, d.reason, d.mode, d.guardrail,
       d.expires_at, now() - d.created_at AS waiting
  FROM syncopt.fivetran_sync_ai_logs d
  JOIN syncopt.connector c ON c.connector_id = d.connector_id
 WHERE d.status = 'proposed' AND (d.expires_at IS NULL OR d.expires_at > now());
COMMENT ON VIEW syncopt.pending_approvals IS
    'Proposals an approver can approve or reject now (UPDATE ... SET status = ''approved''); ORDER BY act_by NULLS LAST, priority_score DESC NULLS LAST puts first what must be decided soonest.';

-- Every step of every decision: who moved it, as which role, and the result.
CREATE VIEW syncopt.decision_audit WITH (security_invoker = true) AS
SELECT e.event_id, e.at, e.decision_id, d.connector_id, coalesce(c.name, c.external_id) AS connector,
       d.action, d.mode, e.old_status, e.new_status, e.actor, e.via_role, e.note,
       d.http_status, d.error
  FROM syncopt.decision_event e
  JOIN syncopt.fivetran_sync_ai_logs d ON d.decision_id = e.decision_id
  JOIN syncopt.connector c ON c.connector_id = d.connector_id;
COMMENT ON VIEW syncopt.decision_audit IS
    'The audit trail of decisions (decision_event) with the decision and connector it concerns.';

-- Where the warehouse time goes over the last 7 days: run time per
-- connector, and credits where the vendor or the log reported them.  The
-- runs started since the cutoff (now() - 7 days, computed once) are read
-- as the whole UTC days after the cutoff's day from sync_run_daily
-- (40_history.sql: about seven rows per connector instead of the week's
-- runs), and the runs of the cutoff's own day from its instant on raw from
-- sync_run; summed per connector_id, then joined to connector.  Durations
-- are summed exactly (numeric seconds) and made double precision once:
-- the former sum of each run's double precision seconds approximated it,
-- in the scan's order (docs/architecture.md, "Cost by connector").
CREATE VIEW syncopt.cost_by_connector WITH (security_invoker = true) AS
SELECT r.connector_id, coalesce(c.name, c.external_id) AS connector, c.destination_id,
       r.syncs, r.failed_syncs, round((r.secs / 3600)::numeric, 2) AS sync_hours, r.reported_credits,
       round((100 * r.secs / nullif(sum(r.secs) OVER (), 0))::numeric, 2) AS share_of_sync_time_pct,
       r.rows
  FROM (SELECT w.connector_id, sum(w.syncs)::bigint AS syncs, sum(w.failed_syncs)::bigint AS failed_syncs,
               sum(w.seconds)::double precision AS secs, sum(w.credits) AS reported_credits, sum(w.rows) AS rows
          FROM (SELECT d.connector_id, d.syncs, d.failed_syncs, d.seconds, d.credits, d.rows
                  FROM syncopt.sync_run_daily d
                 WHERE d.day > (SELECT ((now() - interval '7 days') AT TIME ZONE 'UTC')::date)
                 UNION ALL
                SELECT r.connector_id, 1, CASE WHEN r.status = 'failed' THEN 1 ELSE 0 END,
                       extract(epoch FROM r.finished_at) - extract(epoch FROM r.started_at), r.credits, r.rows
                  FROM syncopt.sync_run r
                 WHERE r.started_at >= (SELECT now() - interval '7 days')
                   AND r.started_at < (SELECT (((now() - interval '7 days') AT TIME ZONE 'UTC')::date + 1)::timestamp
                                              AT TIME ZONE 'UTC')
                   AND r.finished_at IS NOT NULL AND r.duration_known) w
         GROUP BY w.connector_id) r
  JOIN syncopt.connector c ON c.connector_id = r.connector_id;
COMMENT ON VIEW syncopt.cost_by_connector IS
    'Sync time, failed syncs, reported credits and share of the fleet''s sync time per connector over the last 7 days.';

-- Anomalous runs of the 24 hours before the latest planning run (which
-- computes them once for every dashboard reading them).
CREATE VIEW syncopt.anomaly_feed WITH (security_invoker = true) AS
SELECT x.run_id, r.started_at, x.connector_id, coalesce(c.name, c.external_id) AS connector,
       x.metric, x.direction, x.observed, x.expected, round(x.score::numeric, 1) AS score, x.reason,
       p.at AS detected_at
  FROM syncopt.anomaly_snapshot x
  JOIN syncopt.planner_run p ON p.planner_run_id = x.planner_run_id
  JOIN syncopt.connector c ON c.connector_id = x.connector_id
  JOIN syncopt.sync_run r ON r.run_id = x.run_id;
COMMENT ON VIEW syncopt.anomaly_feed IS
    'Runs of the 24 hours before the latest planning run whose duration, rows, credits or freshness lag is anomalous, with the reason.';

-- The latest planning run's plan, one bar per connector for a timeline panel.
CREATE VIEW syncopt.plan_timeline WITH (security_invoker = true) AS
SELECT p.connector_id, coalesce(c.name, c.external_id) AS connector, c.destination_id,
       p.planned_start, p.predicted_end, p.deadline, p.slack, p.will_miss, p.action, p.priority,
       p.reason, r.at AS planned_at, p.planner_run_id
  FROM syncopt.planned_sync p
  JOIN syncopt.connector c ON c.connector_id = p.connector_id
  JOIN syncopt.planner_run r ON r.planner_run_id = p.planner_run_id;
COMMENT ON VIEW syncopt.plan_timeline IS
    'The latest planning run''s schedule: planned start and predicted end of each sync against its deadline.';

-- Failed runs of the last 7 days with the triage's verdict and what
-- decided it (a vendor code, a rule, a labelled example, or nothing).
CREATE VIEW syncopt.failure_triage WITH (security_invoker = true) AS
SELECT f.run_id, f.connector_id, coalesce(c.name, c.external_id) AS connector, f.finished_at,
       f.category, f.retryable, f.source, f.source_id, round(f.confidence::numeric, 2) AS confidence,
       f.explanation, f.remediation
  FROM syncopt.classify_runs(now() - interval '7 days') f
  JOIN syncopt.connector c ON c.connector_id = f.connector_id;
COMMENT ON VIEW syncopt.failure_triage IS
    'Failed runs of the last 7 days: category, retry safety, and the source of the verdict (vendor_code, rule, example, none) with its id and confidence.';

-- Failure wordings that recur and no label covers yet, most frequent
-- first: label one run per family with syncopt.label_failure() and the
-- rest of the family is recognised.  Families a vendor code decides need
-- no label and are left out.
CREATE VIEW syncopt.failure_label_queue WITH (security_invoker = true) AS
WITH failed AS (
    SELECT syncopt.failure_wording(r.error_message) AS wording, r.run_id, r.connector_id, r.finished_at,
           r.error_message, r.error_code, a.vendor
      FROM syncopt.sync_run r
      JOIN syncopt.connector c ON c.connector_id = r.connector_id
      JOIN syncopt.account a ON a.account_id = c.account_id
     WHERE r.status IN ('failed', 'rescheduled') AND btrim(r.error_message) <> ''
), family AS (
    SELECT f.wording, count(*) AS runs, count(DISTINCT f.connector_id) AS connectors,
           min(f.finished_at) AS first_seen, max(f.finished_at) AS last_seen,
           (array_agg(f.run_id ORDER BY f.finished_at DESC, f.run_id DESC))[1] AS latest_run_id,
           (array_agg(f.error_message ORDER BY f.finished_at DESC, f.run_id DESC))[1] AS message,
           (array_agg(f.error_code ORDER BY f.finished_at DESC, f.run_id DESC))[1] AS code,
           (array_agg(f.vendor ORDER BY f.finished_at DESC, f.run_id DESC))[1] AS vendor
      FROM failed f
     GROUP BY f.wording
    HAVING count(*) >= 2
)
SELECT fa.wording, fa.runs, fa.connectors, fa.first_seen, fa.last_seen, fa.latest_run_id, fa.message,
       v.category, v.retryable, v.source, v.source_id, round(v.confidence::numeric, 2) AS confidence
  FROM family fa
 CROSS JOIN LATERAL syncopt.classify_failure(fa.message, fa.code, fa.vendor) v
 WHERE v.source <> 'vendor_code'
   AND NOT EXISTS (SELECT FROM syncopt.failure_example e
                    WHERE e.superseded_by IS NULL AND syncopt.failure_wording(e.message) = fa.wording)
 ORDER BY fa.runs DESC, fa.last_seen DESC, fa.wording;
COMMENT ON VIEW syncopt.failure_label_queue IS
    'Recurring failure wordings no label covers, most frequent first, with the current verdict: label one run of each with syncopt.label_failure().';
