-- Downstream reach at scale: 93,000 assets, past the size (about 92,700)
-- where whole per-asset reach bitsets needed more than 1 GB and
-- priority_scores() and sla_risk() failed with "invalid memory alloc
-- request size".  The expected counts
-- and weights are worked out by hand from the graph below.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT i, 1, 'c' || i, 'c' || i FROM generate_series(1, 4) i;
-- Assets 1..93000, weight 1 except asset 3 (weight 10); deadlines on 3
-- and 93000.
INSERT INTO syncopt.asset (asset_id, name, weight, deadline, timezone)
SELECT a, 'a' || a, CASE WHEN a = 3 THEN 10 ELSE 1 END,
       CASE WHEN a IN (3, 93000) THEN time '06:00' END, 'UTC'
  FROM generate_series(1, 93000) a;
-- c1 feeds asset 6, the head of a chain 6 -> 7 -> ... -> 93000 (acyclic
-- by construction: the per-statement cycle check is skipped for the bulk
-- load).  c2 feeds 1 and 2, which both feed 3 (a diamond: 3 counts
-- once); c4 feeds 5 and waits for c2, so c2's reach includes 5.  c3
-- feeds nothing.
ALTER TABLE syncopt.lineage DISABLE TRIGGER lineage_reject_cycle_insert;
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) SELECT a, a + 1 FROM generate_series(6, 92999) a;
ALTER TABLE syncopt.lineage ENABLE TRIGGER lineage_reject_cycle_insert;
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 6), (2, 1), (2, 2), (4, 5);
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (1, 3), (2, 3);
INSERT INTO syncopt.sync_order (before_connector_id, after_connector_id) VALUES (2, 4);

-- c1: assets 6..93000 = 92,995, weight 92,995; c2: {1, 2, 3, 5}, weight
-- 1 + 1 + 10 + 1 = 13; c3: none; c4: {5}, weight 1.
SELECT connector_id, downstream_assets, downstream_weight
  FROM syncopt.priority_scores('2026-11-20 03:00+00') ORDER BY connector_id;

-- Each deadline sees exactly its own upstream: asset 3 only c2 (c4 reaches
-- 5, not 3), asset 93000 only c1.
SELECT asset_id, split_part(reason, ' is predicted', 1) AS upstream
  FROM syncopt.sla_risk('2026-11-20 03:00+00') ORDER BY asset_id;

DROP EXTENSION syncopt;
