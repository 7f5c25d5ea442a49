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

-- Cycles of one, two and three edges are refused, naming the path.
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

-- Deleting a connector or asset removes its edges.
DELETE FROM syncopt.asset WHERE name = 'stg_orders';
SELECT upstream_connector_id, upstream_asset_id, asset_id FROM syncopt.lineage ORDER BY lineage_id;

DROP EXTENSION syncopt;
