-- import_dbt_manifest(): a small dbt project written by hand (two Fivetran
-- and two Airbyte connectors behind its sources, a model chain, a metric,
-- three exposures) becomes assets and lineage; a re-import changes only what
-- changed; hand-made assets and edges are never touched; bad manifests are
-- refused and change nothing.
\set SHOW_CONTEXT never
CREATE EXTENSION syncopt;

INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'),
    (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1'),
    (3, 'fivetran', 'ft_eu', 'https://api.fivetran.com');
-- Fivetran's connector name is the connection's destination schema
-- ("schema"); a database connector's schemas are <schema>_<source schema>.
-- Airbyte writes to namespaceFormat (custom_format) with the stream prefix.
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name, raw) VALUES
    (1, 1, 'warm_cactus', 'salesforce', NULL),
    (2, 1, 'pg_prod_id', 'pg_prod', NULL),
    (3, 2, 'ab-stripe', 'Stripe to Snowflake', '{"namespaceDefinition": "custom_format", "namespaceFormat": "stripe", "prefix": ""}'),
    (4, 2, 'ab-hubspot', 'HubSpot', '{"namespaceDefinition": "destination", "prefix": "hubspot_"}'),
    (5, 1, 'sheet_id', 'google_sheets.budget', NULL),
    (6, 1, 'mk_us', 'marketing', NULL),
    (7, 3, 'mk_eu', 'marketing', NULL),
    (8, 1, 'ft_stripe', 'stripe', NULL);

CREATE TEMP TABLE manifest (v jsonb);
INSERT INTO manifest VALUES ($json${
  "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
               "dbt_version": "1.9.4", "project_name": "shop", "generated_at": "2026-12-01T05:00:00Z",
               "invocation_id": "inv-1"},
  "nodes": {
    "model.shop.stg_accounts": {"unique_id": "model.shop.stg_accounts", "resource_type": "model", "name": "stg_accounts",
        "depends_on": {"macros": [], "nodes": ["source.shop.salesforce.account"]}, "config": {"enabled": true}},
    "model.shop.stg_opps": {"unique_id": "model.shop.stg_opps", "resource_type": "model", "name": "stg_opps",
        "depends_on": {"nodes": ["source.shop.salesforce.opportunity"]}},
    "model.shop.stg_orders": {"unique_id": "model.shop.stg_orders", "resource_type": "model", "name": "stg_orders",
        "depends_on": {"nodes": ["source.shop.pg.orders", "source.shop.stripe.charges", "seed.shop.country_codes"]}},
    "model.shop.fct_revenue": {"unique_id": "model.shop.fct_revenue", "resource_type": "model", "name": "fct_revenue",
        "meta": {"syncopt": {"deadline": "05:30", "timezone": "Europe/Berlin", "weight": 2}},
        "depends_on": {"nodes": ["model.shop.stg_accounts", "model.shop.stg_opps", "model.shop.stg_orders"]}},
    "model.shop.dim_contacts": {"unique_id": "model.shop.dim_contacts", "resource_type": "model", "name": "dim_contacts",
        "config": {"enabled": true, "meta": {"syncopt": {"duration": "10 minutes"}}},
        "depends_on": {"nodes": ["source.shop.hubspot.contacts", "source.shop.manual.fx"]}},
    "model.shop.off": {"unique_id": "model.shop.off", "resource_type": "model", "name": "off",
        "config": {"enabled": false}, "depends_on": {"nodes": ["source.shop.pg.orders"]}},
    "snapshot.shop.snap_orders": {"unique_id": "snapshot.shop.snap_orders", "resource_type": "snapshot",
        "depends_on": {"nodes": ["source.shop.pg.orders"]}},
    "seed.shop.country_codes": {"unique_id": "seed.shop.country_codes", "resource_type": "seed", "depends_on": {"nodes": []}},
    "test.shop.not_null_fct_revenue_id.1a2b": {"unique_id": "test.shop.not_null_fct_revenue_id.1a2b",
        "resource_type": "test", "depends_on": {"nodes": ["model.shop.fct_revenue"]}}
  },
  "sources": {
    "source.shop.salesforce.account": {"unique_id": "source.shop.salesforce.account", "resource_type": "source",
        "source_name": "salesforce", "name": "account", "schema": "salesforce", "loader": "fivetran",
        "freshness": {"warn_after": {"count": 12, "period": "hour"}, "error_after": {"count": 1, "period": "day"}, "filter": null}},
    "source.shop.salesforce.opportunity": {"unique_id": "source.shop.salesforce.opportunity", "resource_type": "source",
        "name": "opportunity", "schema": "salesforce",
        "freshness": {"warn_after": {"count": 6, "period": "hour"}, "error_after": {"count": null, "period": null}}},
    "source.shop.pg.orders": {"unique_id": "source.shop.pg.orders", "resource_type": "source", "name": "orders",
        "schema": "pg_prod_public", "freshness": null},
    "source.shop.stripe.charges": {"unique_id": "source.shop.stripe.charges", "resource_type": "source", "name": "charges",
        "schema": "STRIPE", "loader": "Airbyte", "config": {"freshness": {"error_after": {"count": 90, "period": "minute"}}}},
    "source.shop.hubspot.contacts": {"unique_id": "source.shop.hubspot.contacts", "resource_type": "source",
        "name": "contacts", "identifier": "hubspot_contacts", "schema": "raw"},
    "source.shop.sheets.budget": {"unique_id": "source.shop.sheets.budget", "resource_type": "source", "name": "budget",
        "schema": "google_sheets"},
    "source.shop.legacy.events": {"unique_id": "source.shop.legacy.events", "resource_type": "source", "name": "events",
        "schema": "legacy_dw"},
    "source.shop.manual.fx": {"unique_id": "source.shop.manual.fx", "resource_type": "source", "name": "fx",
        "schema": "fx_rates", "source_meta": {"syncopt": {"connector": "warm_cactus"}}},
    "source.shop.marketing.ads": {"unique_id": "source.shop.marketing.ads", "resource_type": "source", "name": "ads",
        "schema": "marketing", "loader": "fivetran"}
  },
  "exposures": {
    "exposure.shop.exec_dashboard": {"unique_id": "exposure.shop.exec_dashboard", "resource_type": "exposure",
        "type": "dashboard", "owner": {"name": "Ana", "email": "ana@example.com"},
        "meta": {"syncopt": {"deadline": "06:00", "days": "1-5", "timezone": "America/New_York", "weight": 5}},
        "depends_on": {"nodes": ["model.shop.fct_revenue"]}},
    "exposure.shop.churn_model": {"unique_id": "exposure.shop.churn_model", "resource_type": "exposure", "type": "ml",
        "owner": {"email": "ml@example.com"}, "config": {"meta": {"syncopt": {"deadline": "07:00"}}},
        "depends_on": {"nodes": ["metric.shop.revenue", "model.shop.dim_contacts"]}},
    "exposure.shop.legacy_report": {"unique_id": "exposure.shop.legacy_report", "resource_type": "exposure",
        "type": "notebook", "depends_on": {"nodes": ["source.shop.legacy.events", "source.shop.sheets.budget",
                                                     "source.shop.marketing.ads"]}}
  },
  "metrics": {"metric.shop.revenue": {"unique_id": "metric.shop.revenue", "resource_type": "metric",
                                      "depends_on": {"nodes": ["semantic_model.shop.revenue_sm"]}}},
  "semantic_models": {"semantic_model.shop.revenue_sm": {"unique_id": "semantic_model.shop.revenue_sm",
                                                         "resource_type": "semantic_model",
                                                         "depends_on": {"nodes": ["model.shop.fct_revenue"]}}},
  "disabled": {"model.shop.retired_long_ago": [{"unique_id": "model.shop.retired_long_ago", "resource_type": "model"}]},
  "parent_map": {}, "child_map": {}
}$json$);

-- A hand-made asset downstream of an imported model, with a hand-made edge
-- (drawn after the first import), and one whose name a dbt node also has.
INSERT INTO syncopt.asset (name, kind, deadline) VALUES ('finance_pack', 'report', '08:00');

-- A dry run reports the changes and keeps nothing.
SELECT count(*) AS changes FROM syncopt.import_dbt_manifest((SELECT v FROM manifest), dry_run => true);
SELECT count(*) AS assets, (SELECT count(*) FROM syncopt.lineage) AS edges,
       (SELECT count(*) FROM syncopt.dbt_import) AS imports FROM syncopt.asset;

-- The first import: 9 sources, 5 models and a snapshot, 3 exposures.
SELECT * FROM syncopt.import_dbt_manifest((SELECT v FROM manifest)) ORDER BY change, resource_type, unique_id, detail;
SELECT name, kind, to_char(deadline, 'HH24:MI') AS deadline, timezone, days, weight, freshness_sla, duration, owner
  FROM syncopt.asset WHERE origin = 'dbt' ORDER BY name;
-- Every edge, with the connector or asset upstream.
SELECT coalesce(c.external_id, u.name) AS upstream, d.name AS downstream
  FROM syncopt.lineage l
  LEFT JOIN syncopt.connector c ON c.connector_id = l.upstream_connector_id
  LEFT JOIN syncopt.asset u ON u.asset_id = l.upstream_asset_id
  JOIN syncopt.asset d ON d.asset_id = l.asset_id
 WHERE l.origin = 'dbt'
 ORDER BY 2, 1;
SELECT project_name, dbt_version, schema_version, summary FROM syncopt.dbt_import;

-- The planner reads the imported graph: Salesforce (warm_cactus) feeds
-- fct_revenue, due 05:30 Berlin (04:30 UTC on Monday 2026-12-07), before
-- the dashboard's 06:00 New York (11:00 UTC).
SELECT connector_id, deadline AT TIME ZONE 'UTC' AS deadline_utc
  FROM syncopt.priority_scores('2026-12-07 00:00+00') WHERE connector_id = 1;

-- The same manifest again changes nothing (only the reports repeat).
SELECT change, count(*) FROM syncopt.import_dbt_manifest((SELECT v FROM manifest)) GROUP BY change ORDER BY change;

-- A hand-made edge from an imported model, then a manifest in which
-- stg_opps and dim_contacts are gone, fct_revenue weighs 3, the dashboard
-- is due at 06:30 and a new model reads the opportunities.
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id)
SELECT u.asset_id, d.asset_id FROM syncopt.asset u, syncopt.asset d
 WHERE u.name = 'model.shop.dim_contacts' AND d.name = 'finance_pack';
UPDATE manifest SET v = jsonb_set(jsonb_set(jsonb_set(
    v #- '{nodes,model.shop.stg_opps}' #- '{nodes,model.shop.dim_contacts}'
      #- '{exposures,exposure.shop.churn_model,depends_on,nodes,1}',
    '{nodes,model.shop.fct_revenue}',
    (v #> '{nodes,model.shop.fct_revenue}')
        || '{"meta": {"syncopt": {"deadline": "05:30", "timezone": "Europe/Berlin", "weight": 3}},
             "depends_on": {"nodes": ["model.shop.stg_accounts", "model.shop.stg_orders"]}}'),
    '{exposures,exposure.shop.exec_dashboard,meta,syncopt,deadline}', '"06:30"'),
    '{nodes,model.shop.fct_pipeline}',
    '{"unique_id": "model.shop.fct_pipeline", "resource_type": "model",
      "depends_on": {"nodes": ["source.shop.salesforce.opportunity"]}}');
SELECT * FROM syncopt.import_dbt_manifest((SELECT v FROM manifest))
 WHERE change NOT IN ('ignored', 'unmapped', 'ambiguous') ORDER BY change, resource_type, unique_id, detail;
SELECT name FROM syncopt.asset WHERE name IN ('model.shop.stg_opps', 'model.shop.dim_contacts', 'finance_pack') ORDER BY 1;
-- The retired model is kept in the import's history, row and all.
SELECT c.change, c.unique_id, c.before ->> 'kind' AS kind
  FROM syncopt.dbt_import_change c
 WHERE c.import_id = (SELECT max(import_id) FROM syncopt.dbt_import) AND c.change IN ('retired', 'kept') ORDER BY 2;

-- A hand-made asset that holds a node's name keeps it.
INSERT INTO syncopt.asset (name) VALUES ('model.shop.fct_orders_daily');
UPDATE manifest SET v = jsonb_set(v, '{nodes,model.shop.fct_orders_daily}',
    '{"unique_id": "model.shop.fct_orders_daily", "resource_type": "model", "depends_on": {"nodes": ["model.shop.stg_orders"]}}');
SELECT * FROM syncopt.import_dbt_manifest((SELECT v FROM manifest)) WHERE change = 'conflict';
SELECT name, origin, kind FROM syncopt.asset WHERE name = 'model.shop.fct_orders_daily';

-- Broken manifests are refused by name and change nothing.
SELECT count(*) AS assets_before FROM syncopt.asset;
SELECT * FROM syncopt.import_dbt_manifest('[]');
SELECT * FROM syncopt.import_dbt_manifest('{"metadata": {}}');
SELECT * FROM syncopt.import_dbt_manifest(jsonb_set((SELECT v FROM manifest), '{metadata,dbt_schema_version}',
                                                    '"https://schemas.getdbt.com/dbt/manifest/v9.json"'));
SELECT * FROM syncopt.import_dbt_manifest((SELECT v FROM manifest) - 'exposures');
SELECT * FROM syncopt.import_dbt_manifest(jsonb_set((SELECT v FROM manifest), '{nodes,model.shop.fct_revenue,depends_on,nodes}', '"x"'));
SELECT * FROM syncopt.import_dbt_manifest(jsonb_set((SELECT v FROM manifest), '{nodes,model.shop.fct_revenue,meta,syncopt,deadline}', '"25:00"'));
SELECT * FROM syncopt.import_dbt_manifest(jsonb_set((SELECT v FROM manifest), '{exposures,exposure.shop.exec_dashboard,meta,syncopt,timezone}', '"Mars/Olympus_Mons"'));
SELECT * FROM syncopt.import_dbt_manifest('{"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"}, "nodes": {"model.a.b": {"unique');
SELECT count(*) AS assets_after FROM syncopt.asset;

-- Admins import; readers see the history but cannot import.
SET ROLE syncopt_reader;
SELECT count(*) > 0 AS history_readable FROM syncopt.dbt_import;
SELECT * FROM syncopt.import_dbt_manifest('{}');
RESET ROLE;

DROP EXTENSION syncopt;
