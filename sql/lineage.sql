-- The dependency graph stays a DAG: cycles are refused with their path.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES
    (1, 'sf', 'salesforce'), (1, 'erp', 'netsuite'), (1, 'crm', 'hubspot');
INSERT INTO syncopt.asset (asset_id, name) VALUES
    (1, 'stg_accounts'), (2, 'stg_orders'), (3, 'fct_revenue'), (4, 'exec_dashboard'), (5, 'island');

-- A DAG with a shared ancestor (stg_accounts feeds fct_revenue directly and
-- through stg_orders) is fine.
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 1), (2, 2), (3, 1);
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (1, 2), (1, 3), (2, 3), (3, 4);

-- Cycles of one, two and three edges are refused, naming the path (one of
-- them when the edge closes several: 4 -> 1 closes two).
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (4, 4);
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (2, 1);
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (4, 1);
-- So is an update that closes one.
UPDATE syncopt.lineage SET asset_id = 1 WHERE upstream_asset_id = 3 AND asset_id = 4;
-- Re-pointing an edge elsewhere is fine.
UPDATE syncopt.lineage SET asset_id = 5 WHERE upstream_asset_id = 3 AND asset_id = 4;
-- Exactly one upstream, and no duplicate edges.
INSERT INTO syncopt.lineage (upstream_connector_id, upstream_asset_id, asset_id) VALUES (1, 1, 2);
INSERT INTO syncopt.lineage (asset_id) VALUES (2);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (1, 1);
SELECT count(*) AS edges FROM syncopt.lineage;

-- sync_order: ERP before CRM before Salesforce; the reverse closes a cycle.
INSERT INTO syncopt.sync_order VALUES (2, 3), (3, 1);
INSERT INTO syncopt.sync_order VALUES (1, 2);
INSERT INTO syncopt.sync_order VALUES (1, 1);
-- An update is checked without the pair it replaces: turning CRM-before-
-- Salesforce into Salesforce-before-ERP leaves Salesforce -> ERP -> CRM.
UPDATE syncopt.sync_order SET before_connector_id = 1, after_connector_id = 2
 WHERE before_connector_id = 3;
SELECT * FROM syncopt.sync_order ORDER BY 1, 2;
-- Turning it into CRM-before-ERP closes ERP -> CRM -> ERP.
UPDATE syncopt.sync_order SET before_connector_id = 3 WHERE before_connector_id = 1;
-- A long chain of connectors, inserted in one statement, then closed.
INSERT INTO syncopt.connector (account_id, external_id, name)
SELECT 1, 'c' || i, 'chain' || i FROM generate_series(4, 9) i;
INSERT INTO syncopt.sync_order SELECT i, i + 1 FROM generate_series(3, 8) i;
INSERT INTO syncopt.sync_order VALUES (9, 1);
-- A cycle inside one statement, and a self-pair among others.
INSERT INTO syncopt.sync_order VALUES (5, 4), (4, 3), (9, 5);
INSERT INTO syncopt.sync_order VALUES (4, 9), (6, 6);
SELECT count(*) AS pairs FROM syncopt.sync_order;

-- One statement is checked as a whole: a chain whose edges all arrive
-- together is fine ...
INSERT INTO syncopt.asset (asset_id, name) VALUES (6, 'raw_a'), (7, 'raw_b'), (8, 'raw_c'), (9, 'raw_d');
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (8, 9), (7, 8), (6, 7);
-- ... and a cycle made only of edges of one statement is refused, with
-- nothing of the statement kept.
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (9, 5), (5, 6);
SELECT count(*) AS edges FROM syncopt.lineage;

-- A deep layered DAG: 30 layers of 3 assets, each feeding the 3 of the next
-- layer (3^29 paths from top to bottom; the check visits each asset once).
-- The timeout only turns a walk along every path into a failure instead
-- of a hang.
SET statement_timeout = '60s';
INSERT INTO syncopt.asset (asset_id, name)
SELECT 100 * l + w, format('layer%s_%s', l, w) FROM generate_series(1, 30) l, generate_series(1, 3) w;
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id)
SELECT 100 * l + w, 100 * (l + 1) + v FROM generate_series(1, 29) l, generate_series(1, 3) w, generate_series(1, 3) v;
-- Feeding the top layer from an existing asset is fine ...
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (9, 101);
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id) VALUES (2, 102);
-- ... closing a cycle through all 30 layers from the bottom is refused,
-- the middle of its 35-asset path left out.
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (3003, 6);
RESET statement_timeout;
SELECT count(*) AS edges FROM syncopt.lineage;

-- Deleting a connector or asset removes its edges.
DELETE FROM syncopt.asset WHERE name = 'stg_orders';
SELECT upstream_connector_id, upstream_asset_id, asset_id FROM syncopt.lineage
 WHERE asset_id < 100 ORDER BY lineage_id;

DROP EXTENSION syncopt;
