-- syncopt install script, assembled from src/sql/*.sql by the Makefile.

\echo Use "CREATE EXTENSION syncopt" to load this file. \quit

-- The workers run in one database; creating the extension anywhere else
-- would leave tables that nothing polls or executes.  pg_regress's own
-- database is accepted so that the regression suites can run.
DO $preamble$
DECLARE
    wanted text := pg_catalog.current_setting('syncopt.database_name', true);
BEGIN
    IF wanted IS NULL THEN
        RAISE EXCEPTION 'syncopt must be loaded through shared_preload_libraries'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Add syncopt to shared_preload_libraries in postgresql.conf and restart the server.';
    END IF;
    IF pg_catalog.current_database() OPERATOR(pg_catalog.<>) wanted
       AND pg_catalog.current_database() OPERATOR(pg_catalog.<>) 'contrib_regression' THEN
        RAISE EXCEPTION 'syncopt can only be created in database "%"', wanted
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = pg_catalog.format('syncopt''s background workers connect to the database named by syncopt.database_name; this is "%s".',
                                             pg_catalog.current_database()),
                  HINT = pg_catalog.format('Set syncopt.database_name = ''%s'' in postgresql.conf and restart the server, or create the extension in "%s".',
                                           pg_catalog.current_database(), wanted);
    END IF;
END
$preamble$;

-- Roles are cluster-wide and outlive the extension; create them only once.
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_reader') THEN
        CREATE ROLE syncopt_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_approver') THEN
        CREATE ROLE syncopt_approver NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'syncopt_admin') THEN
        CREATE ROLE syncopt_admin NOLOGIN;
    END IF;
END
$roles$;
-- Approvers and admins read everything readers read.  Admins are not
-- approvers: a deployment that wants four eyes keeps the two apart.
DO $membership$
BEGIN
    IF NOT pg_catalog.pg_has_role('syncopt_approver', 'syncopt_reader', 'MEMBER') THEN
        GRANT syncopt_reader TO syncopt_approver;
    END IF;
    IF NOT pg_catalog.pg_has_role('syncopt_admin', 'syncopt_reader', 'MEMBER') THEN
        GRANT syncopt_reader TO syncopt_admin;
    END IF;
END
$membership$;

COMMENT ON SCHEMA syncopt IS 'syncopt: SLA-aware control plane for Fivetran and Airbyte syncs';
-- Small validators used by CHECK constraints, so that a bad value is
-- refused where it is typed rather than where it is first used.

CREATE FUNCTION syncopt.is_valid_timezone(tz text) RETURNS boolean
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM pg_catalog.now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION syncopt.is_valid_timezone(text) IS
    'True when PostgreSQL accepts the name as a time zone (e.g. Europe/Berlin, UTC).';

-- A cron day-of-week field: '*' or numbers 0-7 (0 and 7 are Sunday),
-- ranges and lists, e.g. '1-5' or '1,3,5' or '0,6'.
CREATE FUNCTION syncopt.is_valid_dow_field(field text) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT field OPERATOR(pg_catalog.~) '^(\*|[0-7](-[0-7])?(,[0-7](-[0-7])?)*)$'
$$;
COMMENT ON FUNCTION syncopt.is_valid_dow_field(text) IS
    'True for a cron day-of-week field: *, or 0-7 (0 and 7 are Sunday) in ranges and lists.';

-- The actions a decision can ask for: the one list the control table, the
-- policies that allow them and the error messages that name them share.
CREATE FUNCTION syncopt.decision_actions() RETURNS text[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY['trigger_sync', 'pause', 'resume', 'set_schedule', 'resync_tables',
                 'resync_connector', 'set_batch_size', 'notify']
$$;
COMMENT ON FUNCTION syncopt.decision_actions() IS 'Every action syncopt can propose and execute.';

CREATE DOMAIN syncopt.decision_action AS text
    CONSTRAINT decision_action_known CHECK (VALUE OPERATOR(pg_catalog.=) ANY (syncopt.decision_actions()));
COMMENT ON DOMAIN syncopt.decision_action IS 'An action syncopt can propose and execute.';

-- The states of a decision (see syncopt.decision_transition for the moves).
CREATE DOMAIN syncopt.decision_status AS text
    CONSTRAINT decision_status_known CHECK (VALUE IN (
        'shadow', 'proposed', 'approved', 'executing', 'succeeded', 'failed',
        'unknown', 'rejected', 'cancelled', 'expired', 'superseded'));
COMMENT ON DOMAIN syncopt.decision_status IS 'A state of a decision in syncopt.fivetran_sync_ai_logs.';

CREATE FUNCTION syncopt.is_valid_regex(pattern text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM '' OPERATOR(pg_catalog.~*) pattern;
    RETURN true;
EXCEPTION WHEN invalid_regular_expression THEN
    RETURN false;
END
$$;
COMMENT ON FUNCTION syncopt.is_valid_regex(text) IS
    'True when the text compiles as a PostgreSQL regular expression.';
-- Vendor accounts, their secrets, and the connectors they hold.

CREATE TABLE syncopt.account (
    account_id    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    vendor        text NOT NULL
                  CONSTRAINT account_vendor_known CHECK (vendor IN ('fivetran', 'airbyte')),
    name          text NOT NULL UNIQUE
                  CONSTRAINT account_name_not_blank CHECK (btrim(name) <> ''),
    -- Requests go only to this base URL (never to a URL taken from the
    -- control table).  No credentials, query or fragment in it.
    base_url      text NOT NULL
                  CONSTRAINT account_base_url_shape
                  CHECK (base_url ~ '^https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~/-]*)?$'),
    poll_interval interval NOT NULL DEFAULT '15 minutes'
                  CONSTRAINT account_poll_interval_range
                  CHECK (poll_interval >= '10 seconds' AND poll_interval <= '1 day'),
    enabled       boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncopt.account IS
    'A Fivetran or Airbyte account that syncopt polls and acts on. Fivetran: https://api.fivetran.com; Airbyte Cloud: https://api.airbyte.com/v1.';

-- Secrets live in their own table that only the extension owner can read.
-- set_credentials() writes them; nothing in syncopt returns them.
CREATE TABLE syncopt.account_secret (
    account_id     bigint PRIMARY KEY
                   REFERENCES syncopt.account ON DELETE CASCADE,
    api_key        text NOT NULL,   -- Fivetran API key, or Airbyte client_id
    api_secret     text NOT NULL,   -- Fivetran API secret, or Airbyte client_secret
    webhook_secret text,            -- Fivetran webhook signing secret
    updated_at     timestamptz NOT NULL DEFAULT now(),
    updated_by     name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE syncopt.account_secret IS
    'Vendor credentials. Readable by the extension owner only; written through syncopt.set_credentials().';

CREATE TABLE syncopt.connector (
    connector_id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account_id       bigint NOT NULL REFERENCES syncopt.account ON DELETE CASCADE,
    external_id      text NOT NULL
                     CONSTRAINT connector_external_id_not_blank CHECK (btrim(external_id) <> ''),
    name             text,
    group_id         text,          -- Fivetran group (= destination)
    workspace_id     text,          -- Airbyte workspace
    destination_id   text,          -- destination, for per-destination concurrency
    source_key       text,          -- shared source system, for source load windows
    service          text,
    schedule_minutes integer CONSTRAINT connector_schedule_minutes_positive CHECK (schedule_minutes > 0),
    schedule_type    text CONSTRAINT connector_schedule_type_known
                     CHECK (schedule_type IN ('auto', 'manual', 'cron', 'basic')),
    cron_expression  text,          -- Airbyte Quartz cron, when schedule_type = 'cron'
    daily_sync_time  time,          -- Fivetran daily_sync_time (UTC)
    paused           boolean NOT NULL DEFAULT false,
    sync_state       text CONSTRAINT connector_sync_state_known
                     CHECK (sync_state IN ('scheduled', 'syncing', 'paused', 'rescheduled')),
    setup_state      text CONSTRAINT connector_setup_state_known
                     CHECK (setup_state IN ('incomplete', 'connected', 'broken')),
    last_success_at  timestamptz,
    last_failure_at  timestamptz,
    tags             text[] NOT NULL DEFAULT '{}',
    batch_size       integer CONSTRAINT connector_batch_size_positive CHECK (batch_size > 0),
    parallelism      integer CONSTRAINT connector_parallelism_positive CHECK (parallelism > 0),
    raw              jsonb,
    deleted_at       timestamptz,   -- the vendor no longer lists it
    details_at       timestamptz,   -- collector: details last fetched (Fivetran)
    schema_at        timestamptz,   -- collector: schema config last fetched (Fivetran)
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT connector_external_id_unique UNIQUE (account_id, external_id)
);
COMMENT ON TABLE syncopt.connector IS
    'A Fivetran connection or Airbyte connection, as last seen by the collector. Admins may edit tags and source_key.';
CREATE INDEX connector_tags_idx ON syncopt.connector USING gin (tags);
CREATE INDEX connector_source_key_idx ON syncopt.connector (source_key) WHERE source_key IS NOT NULL;

-- Store or replace an account's API credentials.  SECURITY DEFINER so that
-- admins can write secrets they can never read back.
CREATE FUNCTION syncopt.set_credentials(account_id bigint, key text, secret text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF account_id IS NULL OR NOT EXISTS (
        SELECT FROM syncopt.account a WHERE a.account_id OPERATOR(pg_catalog.=) set_credentials.account_id)
    THEN
        RAISE EXCEPTION 'account % does not exist', coalesce(account_id::text, 'NULL')
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it first: INSERT INTO syncopt.account (vendor, name, base_url) VALUES (...).';
    END IF;
    IF btrim(coalesce(key, '')) = '' OR btrim(coalesce(secret, '')) = '' THEN
        RAISE EXCEPTION 'API key and secret must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Fivetran: the API key and secret; Airbyte: the application client_id and client_secret.';
    END IF;
    INSERT INTO syncopt.account_secret AS s (account_id, api_key, api_secret)
    VALUES (set_credentials.account_id, key, secret)
    ON CONFLICT ON CONSTRAINT account_secret_pkey DO UPDATE
        SET api_key = excluded.api_key,
            api_secret = excluded.api_secret,
            updated_at = pg_catalog.now(),
            updated_by = session_user;
END
$$;
COMMENT ON FUNCTION syncopt.set_credentials(bigint, text, text) IS
    'Stores an account''s API key and secret (Airbyte: client_id and client_secret). They cannot be read back.';

-- Store or clear the secret that signs an account's Fivetran webhooks.
CREATE FUNCTION syncopt.set_webhook_secret(account_id bigint, secret text)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF secret IS NOT NULL AND btrim(secret) = '' THEN
        RAISE EXCEPTION 'webhook secret must not be empty'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass NULL to remove the secret.';
    END IF;
    UPDATE syncopt.account_secret s
       SET webhook_secret = secret, updated_at = pg_catalog.now(), updated_by = session_user
     WHERE s.account_id OPERATOR(pg_catalog.=) set_webhook_secret.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no credentials', coalesce(account_id::text, 'NULL')
            USING ERRCODE = 'undefined_object',
                  HINT = 'Call syncopt.set_credentials() for the account first.';
    END IF;
END
$$;
COMMENT ON FUNCTION syncopt.set_webhook_secret(bigint, text) IS
    'Stores the secret Fivetran signs webhooks with (X-Fivetran-Signature-256). It cannot be read back.';

-- What admins may know about credentials: whether they are set, and when.
CREATE VIEW syncopt.credential_status AS
SELECT a.account_id,
       a.name,
       a.vendor,
       s.account_id IS NOT NULL AS has_credentials,
       s.webhook_secret IS NOT NULL AS has_webhook_secret,
       s.updated_at,
       s.updated_by
  FROM syncopt.account a
  LEFT JOIN syncopt.account_secret s USING (account_id);
COMMENT ON VIEW syncopt.credential_status IS
    'Which accounts have credentials and a webhook secret, without the secrets.';

-- Credentials are bound to where they are sent.  Whoever changes an
-- account's base_url or vendor could otherwise have the collector send
-- someone else's secret to a server of their choosing, so the change
-- removes them and they must be set again.
CREATE FUNCTION syncopt.account_forget_secret() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM syncopt.account_secret s WHERE s.account_id OPERATOR(pg_catalog.=) NEW.account_id;
    IF FOUND THEN
        RAISE NOTICE 'credentials of account % were removed because its base_url or vendor changed', NEW.account_id
            USING HINT = 'Set them again with syncopt.set_credentials().';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER account_forget_secret
    AFTER UPDATE OF base_url, vendor ON syncopt.account
    FOR EACH ROW WHEN (OLD.base_url IS DISTINCT FROM NEW.base_url OR OLD.vendor IS DISTINCT FROM NEW.vendor)
    EXECUTE FUNCTION syncopt.account_forget_secret();
-- What depends on the syncs: assets with deadlines, the lineage DAG from
-- connectors to assets, ordering between connectors, and the business
-- calendar that makes some days matter more.

CREATE TABLE syncopt.asset (
    asset_id      bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE
                  CONSTRAINT asset_name_not_blank CHECK (btrim(name) <> ''),
    kind          text NOT NULL DEFAULT 'dbt_model'
                  CONSTRAINT asset_kind_known
                  CHECK (kind IN ('dbt_model', 'dashboard', 'report', 'ml_job', 'reverse_etl', 'table', 'other')),
    deadline      time,             -- local time of day by which it must be fresh
    timezone      text NOT NULL DEFAULT 'UTC'
                  CONSTRAINT asset_timezone_valid CHECK (syncopt.is_valid_timezone(timezone)),
    days          text NOT NULL DEFAULT '*'
                  CONSTRAINT asset_days_cron_dow CHECK (syncopt.is_valid_dow_field(days)),
    freshness_sla interval
                  CONSTRAINT asset_freshness_sla_positive CHECK (freshness_sla > '0'),
    weight        double precision NOT NULL DEFAULT 1
                  CONSTRAINT asset_weight_positive CHECK (weight > 0 AND weight < 'Infinity'),
    -- How long the asset itself takes to build once its inputs are fresh
    -- (a dbt model's run time); deadlines are pushed back through it.
    duration      interval NOT NULL DEFAULT '0'
                  CONSTRAINT asset_duration_nonnegative CHECK (duration >= '0' AND duration < '7 days'),
    owner         text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncopt.asset IS
    'Something downstream of the syncs (dbt model, dashboard, report, ML job) with an optional daily deadline and freshness SLA.';

CREATE TABLE syncopt.lineage (
    lineage_id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    upstream_connector_id bigint REFERENCES syncopt.connector ON DELETE CASCADE,
    upstream_asset_id     bigint REFERENCES syncopt.asset ON DELETE CASCADE,
    asset_id              bigint NOT NULL REFERENCES syncopt.asset ON DELETE CASCADE,
    CONSTRAINT lineage_one_upstream
        CHECK (num_nonnulls(upstream_connector_id, upstream_asset_id) = 1),
    CONSTRAINT lineage_edge_unique
        UNIQUE NULLS NOT DISTINCT (upstream_connector_id, upstream_asset_id, asset_id)
);
COMMENT ON TABLE syncopt.lineage IS
    'Edges of the dependency DAG: a connector or an asset feeds an asset. Cycles are refused.';
CREATE INDEX lineage_upstream_connector_idx ON syncopt.lineage (upstream_connector_id)
    WHERE upstream_connector_id IS NOT NULL;
CREATE INDEX lineage_upstream_asset_idx ON syncopt.lineage (upstream_asset_id)
    WHERE upstream_asset_id IS NOT NULL;
CREATE INDEX lineage_asset_idx ON syncopt.lineage (asset_id);

CREATE TABLE syncopt.sync_order (
    before_connector_id bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    after_connector_id  bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    PRIMARY KEY (before_connector_id, after_connector_id)
);
COMMENT ON TABLE syncopt.sync_order IS
    'before_connector_id must finish before after_connector_id starts (e.g. ERP before CRM). Cycles are refused.';
CREATE INDEX sync_order_after_idx ON syncopt.sync_order (after_connector_id);

CREATE TABLE syncopt.calendar_event (
    event_id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name              text NOT NULL,
    during            tstzrange NOT NULL
                      CONSTRAINT calendar_event_during_not_empty
                      CHECK (NOT isempty(during) AND NOT lower_inf(during) AND NOT upper_inf(during)),
    weight_multiplier double precision NOT NULL DEFAULT 1
                      CONSTRAINT calendar_event_multiplier_positive
                      CHECK (weight_multiplier > 0 AND weight_multiplier < 'Infinity'),
    asset_id          bigint REFERENCES syncopt.asset ON DELETE CASCADE,
    tag               text,
    CONSTRAINT calendar_event_one_scope CHECK (num_nonnulls(asset_id, tag) <= 1)
);
COMMENT ON TABLE syncopt.calendar_event IS
    'A period (month-end close, Black Friday) that multiplies the weight of one asset, of assets fed by connectors with a tag, or of everything.';
CREATE INDEX calendar_event_during_idx ON syncopt.calendar_event USING gist (during);

-- Refuse a lineage edge that would close a cycle, naming the path.
-- Writers are serialised by a table lock, so two concurrent inserts cannot
-- each pass the check and close a cycle together.
CREATE FUNCTION syncopt.lineage_reject_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cycle_path text;
BEGIN
    IF NEW.upstream_asset_id IS NULL THEN
        RETURN NEW;             -- connectors are sources: no cycle through them
    END IF;
    LOCK TABLE syncopt.lineage IN SHARE ROW EXCLUSIVE MODE;
    IF NEW.upstream_asset_id = NEW.asset_id THEN
        cycle_path := (SELECT name FROM syncopt.asset WHERE asset_id = NEW.asset_id);
        cycle_path := cycle_path || ' -> ' || cycle_path;
    ELSE
        -- Walk downstream from the new edge's target; reaching its source
        -- means the edge would close a cycle.
        WITH RECURSIVE downstream(asset_id, path) AS (
            SELECT NEW.asset_id, ARRAY[NEW.asset_id]
            UNION ALL
            SELECT l.asset_id, d.path || l.asset_id
              FROM downstream d
              JOIN syncopt.lineage l ON l.upstream_asset_id = d.asset_id
             WHERE l.asset_id <> ALL (d.path)
               AND l.lineage_id IS DISTINCT FROM NEW.lineage_id
        )
        SELECT string_agg(a.name, ' -> ' ORDER BY p.ord)
          INTO cycle_path
          FROM (SELECT ARRAY[NEW.upstream_asset_id] || path AS path
                  FROM downstream
                 WHERE asset_id = NEW.upstream_asset_id
                 LIMIT 1) c,
               unnest(c.path) WITH ORDINALITY p(asset_id, ord)
          JOIN syncopt.asset a ON a.asset_id = p.asset_id;
    END IF;
    IF cycle_path IS NOT NULL THEN
        RAISE EXCEPTION 'lineage edge would create a cycle'
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = 'Cycle: ' || cycle_path || '.',
                  HINT = 'Lineage must be a DAG: remove one of the edges on this path.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER lineage_reject_cycle
    BEFORE INSERT OR UPDATE ON syncopt.lineage
    FOR EACH ROW EXECUTE FUNCTION syncopt.lineage_reject_cycle();

-- Refuse a sync_order pair that would close a cycle, naming the path.
CREATE FUNCTION syncopt.sync_order_reject_cycle() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cycle_path text;
BEGIN
    LOCK TABLE syncopt.sync_order IN SHARE ROW EXCLUSIVE MODE;
    IF NEW.before_connector_id = NEW.after_connector_id THEN
        cycle_path := (SELECT name FROM syncopt.connector WHERE connector_id = NEW.after_connector_id);
        cycle_path := coalesce(cycle_path, NEW.after_connector_id::text);
        cycle_path := cycle_path || ' -> ' || cycle_path;
    ELSE
        WITH RECURSIVE later(connector_id, path) AS (
            SELECT NEW.after_connector_id, ARRAY[NEW.after_connector_id]
            UNION ALL
            SELECT o.after_connector_id, l.path || o.after_connector_id
              FROM later l
              JOIN syncopt.sync_order o ON o.before_connector_id = l.connector_id
             WHERE o.after_connector_id <> ALL (l.path)
               AND (TG_OP = 'INSERT'
                    OR (o.before_connector_id, o.after_connector_id)
                       IS DISTINCT FROM (OLD.before_connector_id, OLD.after_connector_id))
        )
        SELECT string_agg(coalesce(c.name, p.connector_id::text), ' -> ' ORDER BY p.ord)
          INTO cycle_path
          FROM (SELECT ARRAY[NEW.before_connector_id] || path AS path
                  FROM later
                 WHERE connector_id = NEW.before_connector_id
                 LIMIT 1) x,
               unnest(x.path) WITH ORDINALITY p(connector_id, ord)
          LEFT JOIN syncopt.connector c ON c.connector_id = p.connector_id;
    END IF;
    IF cycle_path IS NOT NULL THEN
        RAISE EXCEPTION 'sync order would create a cycle'
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = 'Cycle: ' || cycle_path || '.',
                  HINT = 'sync_order must be acyclic: remove one of the pairs on this path.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER sync_order_reject_cycle
    BEFORE INSERT OR UPDATE ON syncopt.sync_order
    FOR EACH ROW EXECUTE FUNCTION syncopt.sync_order_reject_cycle();
-- Load and cost windows, credit budgets, and the policies that say how far
-- syncopt may act on its own.

CREATE TABLE syncopt.load_window (
    window_id        bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name             text,
    target           text NOT NULL
                     CONSTRAINT load_window_target_known CHECK (target IN ('warehouse', 'source', 'connector')),
    connector_id     bigint REFERENCES syncopt.connector ON DELETE CASCADE,
    source_key       text,          -- matches connector.source_key
    dow              text NOT NULL DEFAULT '*'
                     CONSTRAINT load_window_dow_cron CHECK (syncopt.is_valid_dow_field(dow)),
    start_time       time NOT NULL,
    end_time         time NOT NULL, -- earlier than start_time: the window wraps midnight
    timezone         text NOT NULL DEFAULT 'UTC'
                     CONSTRAINT load_window_timezone_valid CHECK (syncopt.is_valid_timezone(timezone)),
    load_factor      double precision
                     CONSTRAINT load_window_load_factor_range CHECK (load_factor >= 0 AND load_factor <= 1),
    price_multiplier double precision
                     CONSTRAINT load_window_price_multiplier_positive
                     CHECK (price_multiplier > 0 AND price_multiplier < 'Infinity'),
    CONSTRAINT load_window_not_empty CHECK (start_time <> end_time),
    CONSTRAINT load_window_has_effect CHECK (num_nonnulls(load_factor, price_multiplier) >= 1),
    CONSTRAINT load_window_target_matches CHECK (
        CASE target
            WHEN 'warehouse' THEN connector_id IS NULL AND source_key IS NULL
            WHEN 'source' THEN connector_id IS NULL AND source_key IS NOT NULL
            WHEN 'connector' THEN connector_id IS NOT NULL AND source_key IS NULL
        END)
);
COMMENT ON TABLE syncopt.load_window IS
    'A recurring window in which a source is busy (load_factor 0..1, 1 = do not sync) or warehouse compute costs more (price_multiplier).';

CREATE TABLE syncopt.budget (
    budget_id     bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    period        text NOT NULL CONSTRAINT budget_period_known CHECK (period IN ('day', 'week', 'month')),
    credits_limit numeric NOT NULL CONSTRAINT budget_credits_limit_positive CHECK (credits_limit > 0),
    account_id    bigint REFERENCES syncopt.account ON DELETE CASCADE,  -- NULL: all accounts
    CONSTRAINT budget_unique UNIQUE NULLS NOT DISTINCT (period, account_id)
);
COMMENT ON TABLE syncopt.budget IS
    'Warehouse credits that syncs may spend per period; automatic actions stop when it is used up.';

CREATE TABLE syncopt.policy (
    policy_id            bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    connector_id         bigint REFERENCES syncopt.connector ON DELETE CASCADE,
    tag                  text,
    mode                 text NOT NULL DEFAULT 'shadow'
                         CONSTRAINT policy_mode_known CHECK (mode IN ('shadow', 'copilot', 'auto')),
    max_actions_per_hour integer NOT NULL DEFAULT 4
                         CONSTRAINT policy_max_actions_range CHECK (max_actions_per_hour >= 0),
    allowed_actions      syncopt.decision_action[] NOT NULL
                         DEFAULT syncopt.decision_actions()::syncopt.decision_action[],
    min_schedule_minutes integer CONSTRAINT policy_min_schedule_positive CHECK (min_schedule_minutes > 0),
    max_schedule_minutes integer CONSTRAINT policy_max_schedule_positive CHECK (max_schedule_minutes > 0),
    protect              boolean NOT NULL DEFAULT false,   -- never pause
    -- Bounds for batch_recommendations() (Airbyte); NULL: no bound.
    max_batch_size       integer CONSTRAINT policy_max_batch_size_positive CHECK (max_batch_size > 0),
    max_parallelism      integer CONSTRAINT policy_max_parallelism_positive CHECK (max_parallelism > 0),
    proposal_ttl         interval NOT NULL DEFAULT '4 hours'
                         CONSTRAINT policy_proposal_ttl_positive CHECK (proposal_ttl > '0'),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT policy_one_scope CHECK (num_nonnulls(connector_id, tag) <= 1),
    CONSTRAINT policy_schedule_bounds CHECK (min_schedule_minutes <= max_schedule_minutes),
    CONSTRAINT policy_scope_unique UNIQUE NULLS NOT DISTINCT (connector_id, tag)
);
COMMENT ON TABLE syncopt.policy IS
    'How syncopt may act: per connector, per tag, or (neither) the default. A connector policy beats tag policies, which beat the default.';

-- The policy in force for a connector.  A connector policy wins outright;
-- otherwise every tag policy that matches is combined, the most careful
-- value of each field winning; otherwise the default row; otherwise the
-- built-in default (shadow mode: log only).
CREATE FUNCTION syncopt.effective_policy(connector_id bigint,
    OUT mode text, OUT max_actions_per_hour integer,
    OUT allowed_actions syncopt.decision_action[],
    OUT min_schedule_minutes integer, OUT max_schedule_minutes integer,
    OUT protect boolean, OUT proposal_ttl interval, OUT source text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    connector_tags text[];
BEGIN
    SELECT c.tags INTO connector_tags
      FROM syncopt.connector c WHERE c.connector_id = effective_policy.connector_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'connector % does not exist', coalesce(effective_policy.connector_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;

    SELECT p.mode, p.max_actions_per_hour, p.allowed_actions, p.min_schedule_minutes,
           p.max_schedule_minutes, p.protect, p.proposal_ttl, 'connector policy ' || p.policy_id
      INTO mode, max_actions_per_hour, allowed_actions, min_schedule_minutes,
           max_schedule_minutes, protect, proposal_ttl, source
      FROM syncopt.policy p WHERE p.connector_id = effective_policy.connector_id;
    IF FOUND THEN
        RETURN;
    END IF;

    SELECT (ARRAY['shadow', 'copilot', 'auto'])[min(array_position(ARRAY['shadow', 'copilot', 'auto'], p.mode))],
           min(p.max_actions_per_hour),
           (SELECT array_agg(a ORDER BY a) FROM (
                SELECT unnest(p2.allowed_actions) AS a
                  FROM syncopt.policy p2 WHERE p2.tag = ANY (connector_tags)
                 GROUP BY 1
                HAVING count(DISTINCT p2.policy_id) = (SELECT count(*) FROM syncopt.policy p3 WHERE p3.tag = ANY (connector_tags))) i),
           max(p.min_schedule_minutes), min(p.max_schedule_minutes),
           bool_or(p.protect), min(p.proposal_ttl),
           CASE WHEN count(*) = 1 THEN 'tag policy ' ELSE 'tag policies ' END
               || string_agg(p.policy_id::text || ' (' || p.tag || ')', ', ' ORDER BY p.policy_id)
      INTO mode, max_actions_per_hour, allowed_actions, min_schedule_minutes,
           max_schedule_minutes, protect, proposal_ttl, source
      FROM syncopt.policy p WHERE p.tag = ANY (connector_tags);
    IF mode IS NOT NULL THEN
        allowed_actions := coalesce(allowed_actions, '{}');
        RETURN;
    END IF;

    SELECT p.mode, p.max_actions_per_hour, p.allowed_actions, p.min_schedule_minutes,
           p.max_schedule_minutes, p.protect, p.proposal_ttl, 'default policy ' || p.policy_id
      INTO mode, max_actions_per_hour, allowed_actions, min_schedule_minutes,
           max_schedule_minutes, protect, proposal_ttl, source
      FROM syncopt.policy p WHERE p.connector_id IS NULL AND p.tag IS NULL;
    IF FOUND THEN
        RETURN;
    END IF;

    mode := 'shadow';
    max_actions_per_hour := 4;
    allowed_actions := syncopt.decision_actions();
    protect := false;
    proposal_ttl := '4 hours';
    source := 'built-in default';
END
$$;
COMMENT ON FUNCTION syncopt.effective_policy(bigint) IS
    'The policy in force for a connector and where it comes from (connector policy > tag policies, combined most carefully > default row > built-in shadow).';
-- What the syncs did: runs, per-connector running statistics, schema
-- snapshots and the contracts they are checked against, known failure
-- patterns, and alerts.

CREATE TABLE syncopt.sync_run (
    run_id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    connector_id    bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    external_run_id text NOT NULL
                    CONSTRAINT sync_run_external_id_not_blank CHECK (btrim(external_run_id) <> ''),
    started_at      timestamptz NOT NULL,
    finished_at     timestamptz,
    status          text NOT NULL
                    CONSTRAINT sync_run_status_known
                    CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled', 'rescheduled')),
    rows            bigint CONSTRAINT sync_run_rows_nonnegative CHECK (rows >= 0),
    bytes           bigint CONSTRAINT sync_run_bytes_nonnegative CHECK (bytes >= 0),
    credits         numeric CONSTRAINT sync_run_credits_nonnegative CHECK (credits >= 0),
    batch_size      integer CONSTRAINT sync_run_batch_size_positive CHECK (batch_size > 0),
    parallelism     integer CONSTRAINT sync_run_parallelism_positive CHECK (parallelism > 0),
    full_sync       boolean NOT NULL DEFAULT false,     -- historical / re-sync rather than incremental
    -- false when only the end of the run was seen (Fivetran's REST API gives
    -- succeeded_at / failed_at but no start): the run counts, its duration not.
    duration_known  boolean NOT NULL DEFAULT true,
    error_code      text,
    error_message   text,
    source          text NOT NULL
                    CONSTRAINT sync_run_source_known CHECK (source IN ('api', 'platform_log', 'webhook')),
    ingested_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_run_external_id_unique UNIQUE (connector_id, external_run_id),
    CONSTRAINT sync_run_finish_after_start CHECK (finished_at >= started_at),
    CONSTRAINT sync_run_running_unfinished CHECK ((status = 'running') = (finished_at IS NULL))
);
COMMENT ON TABLE syncopt.sync_run IS
    'One sync of one connector, from the vendor API, the Platform Connector log or a webhook. Re-ingesting the same run changes nothing.';
-- Serves per-connector recent-window analytics.
CREATE INDEX sync_run_connector_started_idx ON syncopt.sync_run (connector_id, started_at DESC);
-- Serves the retention purge and fleet-wide "since" scans (anomalies).
CREATE INDEX sync_run_started_idx ON syncopt.sync_run (started_at);
-- Serves "which connectors are syncing right now" for plan() and sla_risk().
CREATE INDEX sync_run_running_idx ON syncopt.sync_run (connector_id) WHERE status = 'running';

-- Kept up to date at ingest so that analytics read one row per connector
-- instead of scanning history.
CREATE TABLE syncopt.connector_stats (
    connector_id         bigint PRIMARY KEY REFERENCES syncopt.connector ON DELETE CASCADE,
    runs                 bigint NOT NULL DEFAULT 0,
    successes            bigint NOT NULL DEFAULT 0,
    failures             bigint NOT NULL DEFAULT 0,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_run_at          timestamptz,
    last_success_at      timestamptz,
    last_failure_at      timestamptz,
    ewma_duration_s      double precision,    -- alpha 0.3 over successful runs
    ewma_rows            double precision,
    -- Sums for the least-squares fit log(duration) ~ log(1 + rows).
    fit_n                bigint NOT NULL DEFAULT 0,
    fit_sum_x            double precision NOT NULL DEFAULT 0,
    fit_sum_y            double precision NOT NULL DEFAULT 0,
    fit_sum_xx           double precision NOT NULL DEFAULT 0,
    fit_sum_xy           double precision NOT NULL DEFAULT 0,
    fit_sum_yy           double precision NOT NULL DEFAULT 0,
    -- The most recent successful durations and row counts, newest last,
    -- for P50/P90 and robust anomaly baselines.
    recent_duration_s    double precision[] NOT NULL DEFAULT '{}',
    recent_rows          bigint[] NOT NULL DEFAULT '{}',
    recent_started_at    timestamptz[] NOT NULL DEFAULT '{}',
    recent_full          boolean[] NOT NULL DEFAULT '{}',   -- full (re-)sync rather than incremental
    last_schema_hash     text,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT connector_stats_counts CHECK (runs >= successes + failures AND successes >= 0 AND failures >= 0)
);
COMMENT ON TABLE syncopt.connector_stats IS
    'Running statistics per connector, maintained incrementally at ingest; analytics read these instead of sync_run.';

CREATE TABLE syncopt.schema_snapshot (
    snapshot_id  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    captured_at  timestamptz NOT NULL DEFAULT now(),
    schema_hash  text NOT NULL,
    -- {"schema.table": {"column": "type or null", ...}, ...}
    tables       jsonb NOT NULL
                 CONSTRAINT schema_snapshot_tables_object CHECK (jsonb_typeof(tables) = 'object'),
    raw          jsonb
);
COMMENT ON TABLE syncopt.schema_snapshot IS
    'The tables and columns a connector delivered at a point in time; a new row only when the schema hash changes.';
CREATE INDEX schema_snapshot_connector_idx ON syncopt.schema_snapshot (connector_id, captured_at DESC);

CREATE TABLE syncopt.data_contract (
    contract_id  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    schema_name  text NOT NULL,
    table_name   text NOT NULL,
    column_name  text NOT NULL,
    data_type    text,              -- NULL: any type
    required     boolean NOT NULL DEFAULT true,
    CONSTRAINT data_contract_column_unique UNIQUE (connector_id, schema_name, table_name, column_name)
);
COMMENT ON TABLE syncopt.data_contract IS
    'Columns downstream models rely on; schema_drift() compares the latest snapshot against them.';

CREATE TABLE syncopt.failure_pattern (
    pattern_id  bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    pattern     text NOT NULL,      -- case-insensitive POSIX regular expression
    vendor      text CONSTRAINT failure_pattern_vendor_known CHECK (vendor IN ('fivetran', 'airbyte')),
    category    text NOT NULL CONSTRAINT failure_pattern_category_known CHECK (category IN (
                    'credentials', 'permission', 'rate_limit', 'schema_change', 'source_outage',
                    'destination_outage', 'timeout', 'transient', 'configuration', 'unknown')),
    retryable   boolean NOT NULL,
    remediation text NOT NULL,
    priority    integer NOT NULL DEFAULT 100,   -- lower is tried first
    builtin     boolean NOT NULL DEFAULT false,
    CONSTRAINT failure_pattern_regex_valid CHECK (syncopt.is_valid_regex(pattern))
);
COMMENT ON TABLE syncopt.failure_pattern IS
    'Rules that classify failure messages. Built-in rows ship with syncopt; add your own with a lower priority to override them.';
CREATE INDEX failure_pattern_priority_idx ON syncopt.failure_pattern (priority, pattern_id);

-- Built-in rows belong to syncopt: users add their own rather than edit them.
CREATE FUNCTION syncopt.failure_pattern_protect_builtin() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF (TG_OP = 'INSERT' AND NEW.builtin) OR (TG_OP <> 'INSERT' AND OLD.builtin) THEN
        RAISE EXCEPTION 'built-in failure patterns cannot be changed'
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Insert your own pattern with a lower priority number; it is tried first.';
    END IF;
    RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END
$$;

CREATE TABLE syncopt.alert (
    alert_id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    kind               text NOT NULL CONSTRAINT alert_kind_known CHECK (kind IN (
                           'approval_needed', 'sla_risk', 'sync_failure', 'anomaly', 'schema_drift',
                           'circuit_open', 'budget', 'collector_error', 'notice')),
    connector_id       bigint REFERENCES syncopt.connector ON DELETE CASCADE,
    asset_id           bigint REFERENCES syncopt.asset ON DELETE CASCADE,
    severity           text NOT NULL DEFAULT 'warning'
                       CONSTRAINT alert_severity_known CHECK (severity IN ('info', 'warning', 'critical')),
    message            text NOT NULL,
    details            jsonb,
    created_at         timestamptz NOT NULL DEFAULT now(),
    delivered_at       timestamptz,
    delivery_attempts  integer NOT NULL DEFAULT 0,
    last_delivery_error text
);
COMMENT ON TABLE syncopt.alert IS 'Things a human should know, queued for notification channels.';
CREATE INDEX alert_created_idx ON syncopt.alert (created_at);
CREATE INDEX alert_undelivered_idx ON syncopt.alert (created_at) WHERE delivered_at IS NULL;
-- Where the collector is with each account (when the next poll is due, how
-- the last one ended, paging cursors, the vendor's rate-limit budget) and
-- how far the Platform Connector log has been read.

CREATE TABLE syncopt.collector_state (
    account_id           bigint PRIMARY KEY REFERENCES syncopt.account ON DELETE CASCADE,
    next_due_at          timestamptz,            -- NULL: due now
    poll_requested_at    timestamptz,            -- request_poll(); honoured even mid-poll
    last_started_at      timestamptz,
    last_finished_at     timestamptz,
    last_outcome         text CONSTRAINT collector_state_outcome_known
                         CHECK (last_outcome IN ('ok', 'partial', 'error', 'rate_limited', 'budget_wait')),
    last_error           text,
    last_requests        integer NOT NULL DEFAULT 0,
    last_pages           integer NOT NULL DEFAULT 0,
    last_rows            integer NOT NULL DEFAULT 0,
    polls                bigint NOT NULL DEFAULT 0,
    failed_polls         bigint NOT NULL DEFAULT 0,
    consecutive_failures integer NOT NULL DEFAULT 0,
    -- X-Rate-Limit-Remaining of the last response that carried it.
    rate_limit_remaining integer,
    rate_limit_seen_at   timestamptz,
    -- Airbyte: jobs updated at or after this are fetched by the next poll.
    jobs_cursor          timestamptz,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncopt.collector_state IS
    'Per account: when the collector polls next, how the last poll ended, and paging cursors. Written by the collector.';

CREATE TABLE syncopt.log_ingest_state (
    account_id    bigint NOT NULL REFERENCES syncopt.account ON DELETE CASCADE,
    log_schema    name NOT NULL,
    -- The last _fivetran_synced (or time_stamp) read, and the log ids read at
    -- exactly that value, so that the next call starts after them.
    watermark     timestamptz,
    boundary_ids  text[] NOT NULL DEFAULT '{}',
    rows_read     bigint NOT NULL DEFAULT 0,
    rows_skipped  bigint NOT NULL DEFAULT 0,
    runs_touched  bigint NOT NULL DEFAULT 0,
    last_read_at  timestamptz,
    PRIMARY KEY (account_id, log_schema)
);
COMMENT ON TABLE syncopt.log_ingest_state IS
    'How far syncopt.ingest_fivetran_log() has read each Platform Connector schema, and how many rows it skipped.';

-- What a dashboard or an operator needs to know about collection.
CREATE VIEW syncopt.collector_status AS
SELECT a.account_id,
       a.name,
       a.vendor,
       a.enabled,
       a.poll_interval,
       s.account_id IS NOT NULL AS has_credentials,
       CASE
           WHEN NOT a.enabled THEN 'disabled'
           WHEN s.account_id IS NULL THEN 'no credentials'
           WHEN c.last_started_at IS NOT NULL
                AND (c.last_finished_at IS NULL OR c.last_finished_at < c.last_started_at) THEN 'polling'
           ELSE coalesce(c.last_outcome, 'never polled')
       END AS state,
       c.next_due_at,
       c.last_started_at,
       c.last_finished_at,
       c.last_outcome,
       c.last_error,
       c.last_requests,
       c.last_pages,
       c.last_rows,
       c.polls,
       c.failed_polls,
       c.consecutive_failures,
       c.rate_limit_remaining,
       c.rate_limit_seen_at
  FROM syncopt.account a
  LEFT JOIN syncopt.account_secret s USING (account_id)
  LEFT JOIN syncopt.collector_state c USING (account_id);
COMMENT ON VIEW syncopt.collector_status IS
    'One row per account: whether the collector can poll it, how the last poll ended, and when the next is due.';

-- The accounts the collector should poll now, oldest due first.
CREATE FUNCTION syncopt.collector_due_accounts() RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.account_id
      FROM syncopt.account a
      JOIN syncopt.account_secret s USING (account_id)
      LEFT JOIN syncopt.collector_state c USING (account_id)
     WHERE a.enabled
       AND (c.next_due_at IS NULL OR c.next_due_at <= pg_catalog.clock_timestamp())
     ORDER BY c.next_due_at NULLS FIRST, a.account_id
$$;

-- Milliseconds until the next account is due; NULL when none can be polled.
CREATE FUNCTION syncopt.collector_next_due_ms() RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    -- greatest() ignores a NULL: without the CASE, no pollable account
    -- would read as "due now" and the collector would spin.
    SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN
               greatest(0, pg_catalog.ceil(1000 * extract(epoch FROM
                   pg_catalog.min(coalesce(c.next_due_at, '-infinity')) - pg_catalog.clock_timestamp())))
           END::bigint
      FROM syncopt.account a
      JOIN syncopt.account_secret s USING (account_id)
      LEFT JOIN syncopt.collector_state c USING (account_id)
     WHERE a.enabled
$$;

-- Note that a poll of the account began (visible as state 'polling').
CREATE FUNCTION syncopt.collector_record_start(account_id bigint) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    INSERT INTO syncopt.collector_state AS c (account_id, last_started_at)
    VALUES (collector_record_start.account_id, pg_catalog.clock_timestamp())
    ON CONFLICT (account_id) DO UPDATE
        SET last_started_at = excluded.last_started_at, updated_at = pg_catalog.now()
$$;

-- Record how a poll ended and when the next one is due.  A failing account
-- backs off (1, 2, 4 ... minutes, never past its poll_interval); a rate
-- limit or an exhausted budget waits until retry_at.  The first failure
-- after a success raises a collector_error alert.
CREATE FUNCTION syncopt.collector_record_outcome(
    account_id bigint, outcome text, error text, requests integer, pages integer, rows integer,
    rate_limit_remaining integer, jobs_cursor timestamptz, retry_at timestamptz)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acct      syncopt.account;
    st        syncopt.collector_state;
    failed    boolean := outcome IN ('error', 'partial');
    streak    integer;
    due       timestamptz;
BEGIN
    SELECT * INTO acct FROM syncopt.account a WHERE a.account_id = collector_record_outcome.account_id;
    IF NOT FOUND THEN
        RETURN;                 -- deleted while it was polled
    END IF;
    SELECT * INTO st FROM syncopt.collector_state c WHERE c.account_id = acct.account_id FOR UPDATE;
    streak := CASE WHEN failed THEN coalesce(st.consecutive_failures, 0) + 1 ELSE 0 END;
    due := CASE
        WHEN retry_at IS NOT NULL THEN retry_at
        -- asked for while this poll ran: poll again at once
        WHEN st.poll_requested_at >= st.last_started_at THEN NULL
        WHEN failed THEN clock_timestamp() + least(acct.poll_interval,
                                                   interval '1 minute' * power(2, least(streak - 1, 10)))
        ELSE coalesce(st.last_started_at, clock_timestamp()) + acct.poll_interval
    END;
    INSERT INTO syncopt.collector_state AS c (
        account_id, next_due_at, last_started_at, last_finished_at, last_outcome, last_error,
        last_requests, last_pages, last_rows, polls, failed_polls, consecutive_failures,
        rate_limit_remaining, rate_limit_seen_at, jobs_cursor)
    VALUES (acct.account_id, due, coalesce(st.last_started_at, clock_timestamp()), clock_timestamp(),
            outcome, error, requests, pages, rows, 1, CASE WHEN failed THEN 1 ELSE 0 END, streak,
            collector_record_outcome.rate_limit_remaining,
            CASE WHEN collector_record_outcome.rate_limit_remaining IS NOT NULL THEN clock_timestamp() END,
            collector_record_outcome.jobs_cursor)
    ON CONFLICT ON CONSTRAINT collector_state_pkey DO UPDATE SET
        next_due_at = excluded.next_due_at,
        last_finished_at = excluded.last_finished_at,
        last_outcome = excluded.last_outcome,
        last_error = excluded.last_error,
        last_requests = excluded.last_requests,
        last_pages = excluded.last_pages,
        last_rows = excluded.last_rows,
        polls = c.polls + 1,
        failed_polls = c.failed_polls + excluded.failed_polls,
        consecutive_failures = excluded.consecutive_failures,
        rate_limit_remaining = coalesce(excluded.rate_limit_remaining, c.rate_limit_remaining),
        rate_limit_seen_at = coalesce(excluded.rate_limit_seen_at, c.rate_limit_seen_at),
        jobs_cursor = coalesce(excluded.jobs_cursor, c.jobs_cursor),
        updated_at = now();
    IF failed AND streak = 1 THEN
        INSERT INTO syncopt.alert (kind, severity, message, details)
        VALUES ('collector_error', 'warning',
                format('collecting from account %s (%s) failed: %s', acct.name, acct.vendor, error),
                jsonb_build_object('account_id', acct.account_id, 'outcome', outcome));
    END IF;
END
$$;

-- Ask the collector to poll an account (or every enabled account) now.
CREATE FUNCTION syncopt.request_poll(account_id bigint DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF account_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM syncopt.account a WHERE a.account_id OPERATOR(pg_catalog.=) request_poll.account_id) THEN
        RAISE EXCEPTION 'account % does not exist', account_id USING ERRCODE = 'undefined_object';
    END IF;
    INSERT INTO syncopt.collector_state AS c (account_id, next_due_at, poll_requested_at)
    SELECT a.account_id, NULL, pg_catalog.clock_timestamp() FROM syncopt.account a
     WHERE a.enabled AND (request_poll.account_id IS NULL OR a.account_id OPERATOR(pg_catalog.=) request_poll.account_id)
    ON CONFLICT ON CONSTRAINT collector_state_pkey DO UPDATE
        SET next_due_at = NULL, poll_requested_at = excluded.poll_requested_at, updated_at = pg_catalog.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM syncopt.wake('collector');
    RETURN n;
END
$$;
COMMENT ON FUNCTION syncopt.request_poll(bigint) IS
    'Makes the account (NULL: every enabled account) due now and wakes the collector at commit; returns how many.';
-- Built-in failure patterns: messages Fivetran and Airbyte are known to
-- produce, grouped into categories with a remediation and whether an
-- automatic retry is safe.  Users add their own rows (builtin = false).

INSERT INTO syncopt.failure_pattern (pattern, vendor, category, retryable, remediation, priority, builtin) VALUES
    ('(invalid|expired|revoked) (oauth|access|refresh)? ?token|token (has )?expired|invalid_grant'
     '|(security|session|access|refresh|oauth|jwt) token\M.{0,60}\m(expired|invalid|revoked)|expiredtoken',
     NULL, 'credentials', false,
     'Re-authorise the connector in the vendor UI (OAuth token expired or revoked); retrying will not help.', 10, true),
    -- MySQL reports a wrong password as "Access denied for user ... (using password: YES)".
    ('authentication failed|invalid (credentials|password|api key)|password authentication failed|401 unauthorized|unauthori[sz]ed'
     '|incorrect (username|user name|password)|username or password|access denied for user .*using password'
     '|login failed for user|invalid_session_id|session expired|api key .{0,30}(invalid|revoked|expired)'
     '|invalid username/password|logon denied'
     '|password (has )?expired|(could not|couldn''t|cannot|can''t|unable to|failed to) authenticate'
     '|invalid client secret|client secret .{0,30}(invalid|expired)',
     NULL, 'credentials', false,
     'Update the source credentials in the vendor UI, then resume the connector.', 20, true),
    ('permission (was )?denied|insufficient (access|privileges?|permissions?|rights)|access denied|forbidden'
     '|not authori[sz]ed to|403|no privileges|(does not|doesn''t) have ((the )?(required )?|\S+ )permissions?'
     '|command denied|denied to user|not accessible',
     NULL, 'permission', false,
     'Grant the connector''s user the missing privilege on the source (see the message for the object).', 30, true),
    -- Before permissions: Google APIs answer a rate limit with 403 Forbidden.
    ('rate limit|too many (\w+ ){0,2}(requests|calls)|429|quota (exceeded|exhausted)|api limit'
     '|exceeded (your|the)( \w+){0,3} quota|(requests|calls) per (second|minute|hour|day) exceeded'
     '|(requests?|calls?) limit .{0,30}(reached|exceeded)|request_limit_exceeded'
     '|exceeded \d+ (calls|requests) per|reached (your|the) \S+ limit'
     '|throttl|rate exceeded|slow ?down|resource_exhausted|exhausted .{0,30}(tokens|quota|requests|calls)',
     NULL, 'rate_limit', true,
     'Wait for the source API quota to reset; move the sync out of the source''s busy window or lower its frequency.', 25, true),
    ('schema (change|mismatch)|column .* (does not exist|not found|changed type)|type mismatch|incompatible (type|schema)|breaking schema'
     '|cannot (change|alter|drop) column|column \S+ cannot be (dropped|altered|changed)|invalid column name|unknown column'
     '|bad (int64|float64|double|numeric|bool|date|timestamp|datetime) value|is of type \w+ but expression is of type'
     '|schema does not match|has changed type|refresh (the )?schema'
     '|relation \S+ does not exist|incoming data has type'
     '|(numeric|date|timestamp|boolean) value .{0,60}is not recognized|field \S+ not found in the (destination )?schema'
     '|invalid identifier|invalid digit|schema (evolution|validation)|column .{0,80}was (removed|dropped|added|renamed)'
     '|type changed|cannot be assigned to|number of columns'
     '|(string|number|integer|boolean|object|array|null) found, (string|number|integer|boolean|object|array|null) expected',
     NULL, 'schema_change', false,
     'Review the schema change, update the data contract or downstream models, then re-sync the affected tables.', 50, true),
    ('destination|warehouse|snowflake|bigquery|redshift|databricks',
     NULL, 'destination_outage', true,
     'Check the destination warehouse is up and the connector''s role can write; retry once it is.', 70, true),
    ('connection (refused|reset)|could not connect|host unreachable|name or service not known|no route to host|ssl handshake|service unavailable|50[234]'
     '|i/o error|communications link failure|connection (closed|lost|broken)|eof detected|ssl syscall|broken pipe'
     '|\m(econnreset|econnrefused|etimedout|epipe)\M|socket hang up|upstream connect error|reset before headers'
     '|closed unexpectedly|connection has been (closed|reset|lost)|closed (the )?connection',
     NULL, 'source_outage', true,
     'The source was unreachable; retry later and check the source host, network path or SSH tunnel.', 60, true),
    ('time(d)? ?out|deadline exceeded|heartbeat',
     NULL, 'timeout', true,
     'The sync timed out; retry, and consider smaller batches or a quieter window for the source.', 80, true),
    ('temporar(y|ily)|transient|try again|internal server error|500|conflict with recovery|deadlock found|try restarting transaction',
     NULL, 'transient', true,
     'A transient vendor or network error; an automatic retry is safe.', 90, true),
    -- Before destinations: Snowflake names its warehouse when none is set.
    ('no active warehouse|does not exist or (is )?not authori[sz]ed|configuration check failed'
     '|does not match the format|replication slot \S+ does not exist'
     '|\m(bucket|database|dataset|publication|project|catalog|warehouse)\M.{0,80}(does not exist|not found)'
     '|unknown (database|catalog|warehouse)|nosuchbucket|invalid .{0,40}configuration|wal_level|binlog_format|binlog_row_image',
     NULL, 'configuration', false,
     'A setting names something that is not there (warehouse, database, bucket, stage) or a prerequisite is '
     'missing (wal_level or binlog_format for change capture): fix the connector''s, source''s or '
     'destination''s configuration, then re-run; retrying as is will not help.', 35, true),
    -- Before source outages: an outage reply that names a warehouse is the destination's.
    ('(bigquery|snowflake|redshift|databricks).{0,200}(50[234]|unavailable|could not connect|timed out)'
     '|(50[234]|unavailable|could not connect|timed out).{0,200}(bigquery|snowflake|redshift|databricks)|backenderror',
     NULL, 'destination_outage', true,
     'The destination warehouse answered that it is unavailable; retry once its service is back.', 55, true);

CREATE TRIGGER failure_pattern_protect_builtin
    BEFORE INSERT OR UPDATE OR DELETE ON syncopt.failure_pattern
    FOR EACH ROW EXECUTE FUNCTION syncopt.failure_pattern_protect_builtin();
-- The control table, its state machine and its audit trail.
--
-- Every decision syncopt (or an admin) makes is one row of
-- syncopt.fivetran_sync_ai_logs (the name is historical: rows cover both
-- vendors).  Humans move rows only through legal transitions, by UPDATE of
-- status and review_note; everything else is written by syncopt itself,
-- i.e. by a role with the privileges of the table's owner (the workers and
-- syncopt's SECURITY DEFINER functions).

CREATE TABLE syncopt.decision_transition (
    from_status syncopt.decision_status NOT NULL,
    to_status   syncopt.decision_status NOT NULL,
    actor       text NOT NULL CONSTRAINT decision_transition_actor_known CHECK (actor IN ('approver', 'system')),
    meaning     text NOT NULL,
    PRIMARY KEY (from_status, to_status)
);
COMMENT ON TABLE syncopt.decision_transition IS
    'The legal moves of a decision. actor = approver: a human with UPDATE on status may make it (and syncopt itself); system: only syncopt.';

INSERT INTO syncopt.decision_transition (from_status, to_status, actor, meaning) VALUES
    ('proposed',  'approved',   'approver', 'a human approves the proposal'),
    ('proposed',  'rejected',   'approver', 'a human rejects the proposal'),
    ('proposed',  'expired',    'system',   'expires_at passed before anyone approved it'),
    ('proposed',  'superseded', 'system',   'a newer proposal for the same connector and action replaced it'),
    ('approved',  'cancelled',  'approver', 'a human withdraws the approval before the executor claims it'),
    ('approved',  'executing',  'system',   'the executor claimed it and is calling the vendor'),
    ('executing', 'succeeded',  'system',   'the vendor accepted the call'),
    ('executing', 'failed',     'system',   'the call failed for good (non-retryable, or retries exhausted)'),
    ('executing', 'approved',   'system',   'a retryable failure: queued again for next_attempt_at'),
    ('executing', 'unknown',    'system',   'the executor stopped mid-call; whether the vendor acted is not known'),
    ('unknown',   'approved',   'approver', 'a human decides to send the call again'),
    ('unknown',   'succeeded',  'approver', 'reconciled: the vendor did act'),
    ('unknown',   'failed',     'approver', 'reconciled: the vendor did not act');

CREATE TABLE syncopt.fivetran_sync_ai_logs (
    decision_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at       timestamptz NOT NULL DEFAULT now(),
    planner_run_id   bigint,                    -- NULL for manual proposals
    account_id       bigint NOT NULL REFERENCES syncopt.account ON DELETE RESTRICT,
    connector_id     bigint NOT NULL REFERENCES syncopt.connector ON DELETE RESTRICT,
    vendor           text NOT NULL
                     CONSTRAINT decision_vendor_known CHECK (vendor IN ('fivetran', 'airbyte')),
    action           syncopt.decision_action NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}'
                     CONSTRAINT decision_params_object CHECK (jsonb_typeof(params) = 'object'),
    previous         jsonb,                     -- connector state before, for rollback
    priority_score   double precision,
    score_components jsonb,
    reason           text NOT NULL CONSTRAINT decision_reason_not_blank CHECK (btrim(reason) <> ''),
    mode             text NOT NULL
                     CONSTRAINT decision_mode_known CHECK (mode IN ('shadow', 'copilot', 'auto', 'manual')),
    status           syncopt.decision_status NOT NULL,
    proposed_by      name NOT NULL DEFAULT session_user,
    expires_at       timestamptz,               -- NULL: never expires
    not_before       timestamptz,               -- the executor waits until then
    act_by           timestamptz,               -- done later, it loses what it was proposed for; NULL: nothing at stake
    approved_by      name,
    approved_at      timestamptz,
    review_note      text,
    attempts         integer NOT NULL DEFAULT 0 CONSTRAINT decision_attempts_nonnegative CHECK (attempts >= 0),
    next_attempt_at  timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    http_status      integer CONSTRAINT decision_http_status_range CHECK (http_status BETWEEN 100 AND 599),
    response         jsonb,
    error            text,
    -- Deferred: a proposal is superseded just before its successor is inserted.
    superseded_by    bigint REFERENCES syncopt.fivetran_sync_ai_logs ON DELETE SET NULL
                     DEFERRABLE INITIALLY DEFERRED,
    guardrail        text,                      -- why auto mode did not approve it, if it did not
    rollback_of      bigint REFERENCES syncopt.fivetran_sync_ai_logs ON DELETE SET NULL,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       name NOT NULL DEFAULT current_user,   -- role of the last change
    CONSTRAINT decision_shadow_mode CHECK ((mode = 'shadow') = (status = 'shadow')),
    CONSTRAINT decision_approval_stamped CHECK ((approved_by IS NULL) = (approved_at IS NULL)),
    CONSTRAINT decision_approved_has_approver
        CHECK (status NOT IN ('approved', 'executing', 'succeeded', 'failed', 'unknown') OR approved_by IS NOT NULL),
    CONSTRAINT decision_expiry_after_creation CHECK (expires_at > created_at)
);
COMMENT ON TABLE syncopt.fivetran_sync_ai_logs IS
    'The control table: one row per decision (both vendors). Approve with UPDATE ... SET status = ''approved''; see syncopt.decision_transition.';
-- Executor: the approved queue in attempt order.
CREATE INDEX decision_approved_queue_idx ON syncopt.fivetran_sync_ai_logs (next_attempt_at NULLS FIRST, decision_id)
    WHERE status = 'approved';
-- Expiry pass and pending_approvals.
CREATE INDEX decision_proposed_expiry_idx ON syncopt.fivetran_sync_ai_logs (expires_at)
    WHERE status = 'proposed';
-- At most one open proposal per connector and action; older ones are superseded.
CREATE UNIQUE INDEX decision_one_open_proposal_idx ON syncopt.fivetran_sync_ai_logs (connector_id, action)
    WHERE status = 'proposed';
-- Per-connector history, guardrail counts (actions in the last hour).
CREATE INDEX decision_connector_created_idx ON syncopt.fivetran_sync_ai_logs (connector_id, created_at DESC);
-- Retention purge.
CREATE INDEX decision_created_idx ON syncopt.fivetran_sync_ai_logs (created_at);
CREATE INDEX decision_superseded_by_idx ON syncopt.fivetran_sync_ai_logs (superseded_by)
    WHERE superseded_by IS NOT NULL;

CREATE TABLE syncopt.decision_event (
    event_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    decision_id bigint NOT NULL REFERENCES syncopt.fivetran_sync_ai_logs ON DELETE CASCADE,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    old_status  syncopt.decision_status,       -- NULL for the insert
    new_status  syncopt.decision_status NOT NULL,
    actor       name NOT NULL,                  -- session_user: the person or worker login
    via_role    name NOT NULL,                  -- current_user: the role the change ran as
    note        text,
    changes     jsonb                           -- {"column": {"old": ..., "new": ...}}
);
COMMENT ON TABLE syncopt.decision_event IS
    'Append-only audit of every insert and change of a decision. Rows leave only with their decision (retention purge).';
CREATE INDEX decision_event_decision_idx ON syncopt.decision_event (decision_id, event_id);
CREATE INDEX decision_event_at_idx ON syncopt.decision_event (at);

-- True when the current role acts as syncopt itself: it has the privileges
-- of the control table's owner (the workers, syncopt's SECURITY DEFINER
-- functions, the installing superuser).
CREATE FUNCTION syncopt.is_system_actor() RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.pg_has_role(current_user, c.relowner, 'USAGE')
      FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) 'syncopt.fivetran_sync_ai_logs'::pg_catalog.regclass
$$;
COMMENT ON FUNCTION syncopt.is_system_actor() IS
    'True when the current role has the privileges of the control table''s owner, i.e. acts as syncopt itself.';

-- A new decision starts as shadow, proposed, or (auto mode inside its
-- guardrails) approved; its vendor and account follow from the connector.
CREATE FUNCTION syncopt.decision_before_insert() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c_account bigint;
    c_vendor  text;
BEGIN
    SELECT c.account_id, a.vendor INTO c_account, c_vendor
      FROM syncopt.connector c JOIN syncopt.account a USING (account_id)
     WHERE c.connector_id = NEW.connector_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'connector % does not exist', NEW.connector_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NEW.account_id IS DISTINCT FROM c_account AND NEW.account_id IS NOT NULL
       OR NEW.vendor IS DISTINCT FROM c_vendor AND NEW.vendor IS NOT NULL THEN
        RAISE EXCEPTION 'decision does not match its connector'
            USING ERRCODE = 'integrity_constraint_violation',
                  DETAIL = format('Connector %s belongs to %s account %s.', NEW.connector_id, c_vendor, c_account),
                  HINT = 'Leave account_id and vendor out; they are filled from the connector.';
    END IF;
    NEW.account_id := c_account;
    NEW.vendor := c_vendor;

    IF NEW.status NOT IN ('shadow', 'proposed', 'approved') THEN
        RAISE EXCEPTION 'a new decision cannot start as %', NEW.status
            USING ERRCODE = 'check_violation',
                  HINT = 'New decisions start as shadow, proposed, or (auto mode only) approved. Restoring a dump? Restore with session_replication_role = replica (docs/operations.md).';
    END IF;
    IF NEW.status = 'approved' AND (NEW.mode <> 'auto' OR NEW.approved_by IS NULL) THEN
        RAISE EXCEPTION 'only auto-mode decisions can start approved, and they must name their approver'
            USING ERRCODE = 'check_violation',
                  HINT = 'Insert it as proposed and let a human approve it, or set mode = ''auto'' and approved_by = ''syncopt:auto''.';
    END IF;
    IF NEW.status = 'approved' THEN
        NEW.approved_at := coalesce(NEW.approved_at, now());
    ELSE
        NEW.approved_by := NULL;
        NEW.approved_at := NULL;
    END IF;
    NEW.updated_at := now();
    NEW.updated_by := current_user;
    RETURN NEW;
END
$$;

-- The state machine: legal transitions only, by the right actor, before
-- expiry; humans change nothing but status and review_note; approvals are
-- stamped with who and when.
CREATE FUNCTION syncopt.decision_before_update() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    system_actor boolean := syncopt.is_system_actor();
    rule         syncopt.decision_transition;
    changed      text[];
    frozen       text[] := ARRAY['decision_id', 'created_at', 'planner_run_id', 'account_id',
                                 'connector_id', 'vendor', 'action', 'params', 'previous',
                                 'priority_score', 'score_components', 'reason', 'mode',
                                 'proposed_by', 'expires_at', 'act_by', 'approved_by', 'approved_at',
                                 'updated_by', 'guardrail', 'rollback_of'];
    next_states  text;
BEGIN
    SELECT array_agg(n.key ORDER BY n.key) INTO changed
      FROM jsonb_each(to_jsonb(NEW)) n
      JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
     WHERE n.value IS DISTINCT FROM o.value
       AND n.key NOT IN ('status', 'review_note', 'updated_at');

    IF NOT system_actor AND changed IS NOT NULL THEN
        RAISE EXCEPTION 'only status and review_note of a decision can be changed'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Decision %s: the update also changes %s.', OLD.decision_id, array_to_string(changed, ', ')),
                  HINT = 'Approve or reject with UPDATE syncopt.fivetran_sync_ai_logs SET status = ''approved'' (or ''rejected''), review_note = ''...'' WHERE decision_id = ...';
    END IF;
    IF changed && frozen THEN
        RAISE EXCEPTION 'decision fields % cannot be changed', array_to_string(ARRAY(SELECT unnest(changed) INTERSECT SELECT unnest(frozen) ORDER BY 1), ', ')
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = format('Decision %s is a record of what was decided; its content is fixed once written.', OLD.decision_id),
                  HINT = 'Propose a new decision instead.';
    END IF;

    IF NEW.status IS DISTINCT FROM OLD.status THEN
        SELECT * INTO rule FROM syncopt.decision_transition t
         WHERE t.from_status = OLD.status AND t.to_status = NEW.status;
        IF NOT FOUND THEN
            SELECT string_agg(t.to_status, ', ' ORDER BY t.to_status) INTO next_states
              FROM syncopt.decision_transition t WHERE t.from_status = OLD.status;
            RAISE EXCEPTION 'illegal decision transition from % to %', OLD.status, NEW.status
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = format('Decision %s is %s.', OLD.decision_id, OLD.status),
                      HINT = CASE WHEN next_states IS NULL
                                  THEN format('%s is final; no further change is possible.', initcap(OLD.status))
                                  ELSE format('From %s a decision can move to: %s.', OLD.status, next_states) END;
        END IF;
        IF rule.actor = 'system' AND NOT system_actor THEN
            RAISE EXCEPTION 'only syncopt can move a decision from % to %', OLD.status, NEW.status
                USING ERRCODE = 'insufficient_privilege',
                      DETAIL = format('Decision %s is %s; %s means: %s.', OLD.decision_id, OLD.status, NEW.status, rule.meaning),
                      HINT = 'Approvers can approve, reject, cancel an approval, or settle an unknown outcome.';
        END IF;
        IF OLD.status = 'proposed' AND NEW.status = 'approved' AND OLD.expires_at <= statement_timestamp() THEN
            RAISE EXCEPTION 'decision % expired at %', OLD.decision_id, OLD.expires_at
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      DETAIL = 'Proposals can be approved only before expires_at.',
                      HINT = 'Wait for the next planning run or propose it again with syncopt.propose().';
        END IF;
        IF NEW.status = 'approved' AND NOT (OLD.status = 'executing' AND system_actor) THEN
            NEW.approved_by := session_user;
            NEW.approved_at := now();
        END IF;
    END IF;

    NEW.updated_at := now();
    NEW.updated_by := current_user;
    RETURN NEW;
END
$$;

-- Decisions that can still move (open, in flight, or of unknown outcome)
-- can never be deleted; finished ones only leave through the retention purge.
CREATE FUNCTION syncopt.decision_before_delete() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF OLD.status IN (SELECT t.from_status FROM syncopt.decision_transition t) THEN
        RAISE EXCEPTION 'decision % is % and cannot be deleted', OLD.decision_id, OLD.status
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Reject or cancel it instead; finished decisions are purged after syncopt.history_retention.';
    END IF;
    RETURN OLD;
END
$$;

-- Append one audit event per inserted or changed decision.  SECURITY
-- DEFINER because approvers may not write the audit table themselves.
CREATE FUNCTION syncopt.decision_audit() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    diff jsonb;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        SELECT jsonb_object_agg(n.key, jsonb_build_object('old', o.value, 'new', n.value))
          INTO diff
          FROM jsonb_each(to_jsonb(NEW)) n
          JOIN jsonb_each(to_jsonb(OLD)) o USING (key)
         WHERE n.value IS DISTINCT FROM o.value
           AND n.key NOT IN ('updated_at', 'updated_by');
        IF diff IS NULL THEN
            RETURN NULL;        -- nothing changed: nothing to audit
        END IF;
    END IF;
    INSERT INTO syncopt.decision_event (decision_id, old_status, new_status, actor, via_role, note, changes)
    VALUES (NEW.decision_id,
            CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END,
            NEW.status,
            session_user,
            NEW.updated_by,
            CASE WHEN TG_OP = 'INSERT' OR NEW.review_note IS DISTINCT FROM OLD.review_note THEN NEW.review_note END,
            diff);
    RETURN NULL;
END
$$;

-- Audit rows never change; they leave only with their decision.
CREATE FUNCTION syncopt.decision_event_append_only() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- pg_trigger_depth() > 1: deleted by the cascade from its decision.
    IF TG_OP = 'DELETE' AND pg_trigger_depth() > 1 THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'syncopt.decision_event is append-only'
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Audit events leave only with their decision, through the retention purge.';
END
$$;

CREATE FUNCTION syncopt.wake_executor_trigger() RETURNS trigger
LANGUAGE C AS 'MODULE_PATHNAME', 'syncopt_wake_executor_trigger';
COMMENT ON FUNCTION syncopt.wake_executor_trigger() IS
    'Wakes the executor when the transaction that approved a decision commits (never on rollback).';

CREATE TRIGGER decision_before_insert BEFORE INSERT ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_before_insert();
CREATE TRIGGER decision_before_update BEFORE UPDATE ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_before_update();
CREATE TRIGGER decision_before_delete BEFORE DELETE ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_before_delete();
CREATE TRIGGER decision_audit AFTER INSERT OR UPDATE ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_audit();
CREATE TRIGGER decision_wake_executor_on_insert AFTER INSERT ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW WHEN (NEW.status = 'approved')
    EXECUTE FUNCTION syncopt.wake_executor_trigger();
CREATE TRIGGER decision_wake_executor_on_approval AFTER UPDATE OF status ON syncopt.fivetran_sync_ai_logs
    FOR EACH ROW WHEN (NEW.status = 'approved' AND OLD.status <> 'approved')
    EXECUTE FUNCTION syncopt.wake_executor_trigger();
CREATE TRIGGER decision_event_append_only BEFORE UPDATE OR DELETE ON syncopt.decision_event
    FOR EACH ROW EXECUTE FUNCTION syncopt.decision_event_append_only();
CREATE TRIGGER decision_event_no_truncate BEFORE TRUNCATE ON syncopt.decision_event
    FOR EACH STATEMENT EXECUTE FUNCTION syncopt.decision_event_append_only();
-- Manual proposals, and the parameter checks every proposal passes, so that
-- a request the vendor would refuse is refused when proposed, not when
-- executed.

-- Raise a clear error naming the field when params do not fit the action
-- and vendor (vendor facts: docs/sql-reference.md, "Action parameters").
CREATE FUNCTION syncopt.validate_action_params(vendor text, action text, params jsonb)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    allowed text[];
    extra   text;
    bad     text;
BEGIN
    IF params IS NULL OR jsonb_typeof(params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', coalesce(jsonb_typeof(params), 'NULL'));
    END IF;

    allowed := CASE action
        WHEN 'trigger_sync' THEN ARRAY['force']
        WHEN 'pause' THEN ARRAY[]::text[]
        WHEN 'resume' THEN ARRAY[]::text[]
        WHEN 'set_schedule' THEN
            CASE vendor WHEN 'fivetran' THEN ARRAY['sync_frequency', 'schedule_type', 'daily_sync_time']
                        ELSE ARRAY['schedule_type', 'cron_expression'] END
        WHEN 'resync_tables' THEN ARRAY['tables']
        WHEN 'resync_connector' THEN ARRAY['scope']
        WHEN 'set_batch_size' THEN ARRAY['batch_size', 'parallelism']
        WHEN 'notify' THEN ARRAY['message', 'severity']
    END;
    IF allowed IS NULL THEN
        RAISE EXCEPTION 'unknown action "%"', action
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Actions: ' || array_to_string(syncopt.decision_actions(), ', ') || '.';
    END IF;
    SELECT string_agg(k, ', ' ORDER BY k) INTO extra
      FROM jsonb_object_keys(params) k WHERE k <> ALL (allowed);
    IF extra IS NOT NULL THEN
        RAISE EXCEPTION 'unexpected params for % on %: %', action, vendor, extra
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = CASE WHEN cardinality(allowed) = 0 THEN format('%s takes no params.', action)
                              ELSE format('%s on %s takes: %s.', action, vendor, array_to_string(allowed, ', ')) END;
    END IF;

    IF action = 'trigger_sync' AND params ? 'force' AND jsonb_typeof(params->'force') <> 'boolean' THEN
        bad := 'force must be true or false';
    ELSIF action = 'set_schedule' AND params = '{}' THEN
        bad := 'set_schedule needs at least one schedule field';
    ELSIF action = 'set_schedule' AND vendor = 'fivetran' THEN
        IF params ? 'sync_frequency' AND NOT (jsonb_typeof(params->'sync_frequency') = 'number'
               AND (params->>'sync_frequency') IN ('1', '5', '15', '30', '60', '120', '180', '360', '480', '720', '1440')) THEN
            bad := 'sync_frequency must be one of Fivetran''s minutes: 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440';
        ELSIF params ? 'schedule_type' AND (params->>'schedule_type') IS DISTINCT FROM 'auto'
              AND (params->>'schedule_type') IS DISTINCT FROM 'manual' THEN
            bad := 'schedule_type must be "auto" or "manual"';
        ELSIF params ? 'daily_sync_time' AND NOT coalesce((params->>'daily_sync_time') ~ '^([01][0-9]|2[0-3]):00$', false) THEN
            bad := 'daily_sync_time must be a whole hour "HH:00" (UTC)';
        ELSIF params ? 'daily_sync_time' AND (params->>'sync_frequency') IS DISTINCT FROM '1440' THEN
            bad := 'daily_sync_time applies only with sync_frequency 1440';
        END IF;
    ELSIF action = 'set_schedule' THEN
        IF (params->>'schedule_type') IS NULL OR (params->>'schedule_type') NOT IN ('manual', 'cron') THEN
            bad := 'schedule_type must be "manual" or "cron" (Airbyte cannot set basic schedules through its API)';
        ELSIF (params->>'schedule_type') = 'cron'
              AND array_length(regexp_split_to_array(btrim(coalesce(params->>'cron_expression', '')), '\s+'), 1) NOT IN (6, 7) THEN
            bad := 'cron_expression must be a Quartz expression of 6 or 7 fields, e.g. "0 0 */6 * * ?"';
        ELSIF (params->>'schedule_type') = 'manual' AND params ? 'cron_expression' THEN
            bad := 'cron_expression applies only with schedule_type "cron"';
        END IF;
    ELSIF action IN ('resync_tables', 'resync_connector') AND vendor = 'airbyte' THEN
        bad := format('%s is not available through Airbyte''s public API', action);
    ELSIF action = 'resync_tables' AND NOT params ? 'tables' THEN
        bad := 'resync_tables needs "tables": {"schema": ["table", ...]}';
    ELSIF action IN ('resync_tables', 'resync_connector')
          AND coalesce(params->'tables', params->'scope') IS NOT NULL
          AND NOT syncopt.is_table_map(coalesce(params->'tables', params->'scope')) THEN
        bad := format('%s must map each schema to a non-empty array of table names, e.g. {"public": ["orders"]}',
                      CASE action WHEN 'resync_tables' THEN 'tables' ELSE 'scope' END);
    ELSIF action = 'set_batch_size' AND vendor = 'fivetran' THEN
        bad := 'Fivetran connections expose no batch size; propose set_schedule instead';
    ELSIF action = 'set_batch_size' AND NOT coalesce((params->>'batch_size') ~ '^[1-9][0-9]{0,8}$', false) THEN
        bad := 'batch_size must be a positive whole number';
    ELSIF action = 'set_batch_size' AND params ? 'parallelism'
          AND NOT coalesce((params->>'parallelism') ~ '^[1-9][0-9]{0,3}$', false) THEN
        bad := 'parallelism must be a positive whole number';
    ELSIF action = 'notify' AND params ? 'message' AND jsonb_typeof(params->'message') <> 'string' THEN
        bad := 'message must be a string';
    ELSIF action = 'notify' AND params ? 'severity' AND (params->>'severity') NOT IN ('info', 'warning', 'critical') THEN
        bad := 'severity must be info, warning or critical';
    END IF;

    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'invalid params for % on %', action, vendor
            USING ERRCODE = 'invalid_parameter_value', DETAIL = bad || '.';
    END IF;
END
$$;
COMMENT ON FUNCTION syncopt.validate_action_params(text, text, jsonb) IS
    'Raises a clear error when params do not fit the action and vendor; returns nothing when they do.';

-- {"schema": ["table", ...], ...} with at least one schema and no empty list.
CREATE FUNCTION syncopt.is_table_map(value jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_typeof(value) = 'object'
       AND value <> '{}'
       AND NOT EXISTS (
           SELECT FROM jsonb_each(value) s
            WHERE jsonb_typeof(s.value) <> 'array'
               OR jsonb_array_length(s.value) = 0
               OR EXISTS (SELECT FROM jsonb_array_elements(s.value) t
                           WHERE jsonb_typeof(t) <> 'string' OR t #>> '{}' = ''))
$$;

-- The connector settings a decision may change, as they are before it: the
-- `previous` of every decision, from which rollback() builds the inverse.
CREATE FUNCTION syncopt.connector_settings(conn syncopt.connector) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'paused', conn.paused, 'schedule_minutes', conn.schedule_minutes,
        'schedule_type', conn.schedule_type, 'daily_sync_time', conn.daily_sync_time,
        'cron_expression', conn.cron_expression, 'batch_size', conn.batch_size,
        'parallelism', conn.parallelism, 'sync_state', conn.sync_state)
$$;

-- Write a decision for a connector, superseding an older open proposal of
-- the same action (the partial unique index allows one).  Auto-approved
-- decisions are approved by 'syncopt:auto'.
CREATE FUNCTION syncopt.insert_decision(conn syncopt.connector, action text, params jsonb, reason text,
    mode text, status text, expires_at timestamptz, planner_run_id bigint DEFAULT NULL,
    priority_score double precision DEFAULT NULL, score_components jsonb DEFAULT NULL,
    guardrail text DEFAULT NULL, rollback_of bigint DEFAULT NULL, act_by timestamptz DEFAULT NULL)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint := nextval(pg_get_serial_sequence('syncopt.fivetran_sync_ai_logs', 'decision_id'));
    result syncopt.fivetran_sync_ai_logs;
BEGIN
    IF status <> 'shadow' THEN
        UPDATE syncopt.fivetran_sync_ai_logs d
           SET status = 'superseded', superseded_by = new_id
         WHERE d.connector_id = conn.connector_id AND d.action = insert_decision.action
           AND d.status = 'proposed';
    END IF;
    INSERT INTO syncopt.fivetran_sync_ai_logs
        (decision_id, planner_run_id, connector_id, action, params, previous, priority_score,
         score_components, reason, mode, status, expires_at, act_by, approved_by, guardrail, rollback_of)
    OVERRIDING SYSTEM VALUE
    VALUES (new_id, planner_run_id, conn.connector_id, action, params, syncopt.connector_settings(conn),
            priority_score, score_components, reason, mode, status, expires_at, act_by,
            CASE WHEN status = 'approved' THEN 'syncopt:auto' END, guardrail, rollback_of)
    RETURNING * INTO result;
    RETURN result;
END
$$;
COMMENT ON FUNCTION syncopt.insert_decision(syncopt.connector, text, jsonb, text, text, text, timestamptz, bigint, double precision, jsonb, text, bigint, timestamptz) IS
    'Writes a decision with the connector''s current settings as `previous`, superseding an older open proposal of the same action.';

-- Propose an action by hand.  The proposal waits for an approver whatever
-- the connector's mode, replaces an older open proposal of the same action
-- for the connector, and expires after the policy's proposal_ttl.
CREATE FUNCTION syncopt.manual_proposal(connector_id bigint, action text, params jsonb, reason text, rollback_of bigint)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    conn       syncopt.connector;
    vendor     text;
    pol        record;
    result     syncopt.fivetran_sync_ai_logs;
BEGIN
    SELECT * INTO conn FROM syncopt.connector c WHERE c.connector_id = manual_proposal.connector_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'connector % does not exist', coalesce(manual_proposal.connector_id::text, 'NULL')
            USING ERRCODE = 'undefined_object',
                  HINT = 'List connectors with SELECT connector_id, name FROM syncopt.connector.';
    ELSIF conn.deleted_at IS NOT NULL THEN
        RAISE EXCEPTION 'connector % was deleted at the vendor', conn.connector_id
            USING ERRCODE = 'undefined_object',
                  DETAIL = format('The collector last saw it before %s.', conn.deleted_at);
    END IF;
    IF btrim(coalesce(reason, '')) = '' THEN
        RAISE EXCEPTION 'a proposal needs a reason'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Say why, in words an approver will read: syncopt.propose(..., reason => ''...'').';
    END IF;
    SELECT a.vendor INTO vendor FROM syncopt.account a WHERE a.account_id = conn.account_id;
    PERFORM syncopt.validate_action_params(vendor, action, coalesce(params, '{}'));

    pol := syncopt.effective_policy(conn.connector_id);
    IF action <> ALL (pol.allowed_actions) THEN
        RAISE EXCEPTION '% is not allowed for connector %', action, conn.connector_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Allowed by the %s: %s.', pol.source, array_to_string(pol.allowed_actions, ', ')),
                  HINT = 'Change allowed_actions in syncopt.policy if this action should be possible.';
    END IF;
    IF action = 'pause' AND pol.protect THEN
        RAISE EXCEPTION 'connector % is protected and cannot be paused', conn.connector_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('protect is set by the %s.', pol.source),
                  HINT = 'Protected connectors are never paused; propose set_schedule instead.';
    END IF;

    result := syncopt.insert_decision(conn, action, coalesce(params, '{}'), reason, 'manual', 'proposed',
                                      now() + pol.proposal_ttl, rollback_of => rollback_of);
    RETURN result;
END
$$;
COMMENT ON FUNCTION syncopt.manual_proposal(bigint, text, jsonb, text, bigint) IS
    'The checks and write of a manual proposal (propose() and rollback()).';

CREATE FUNCTION syncopt.propose(connector_id bigint, action text, params jsonb DEFAULT '{}', reason text DEFAULT NULL)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT * FROM syncopt.manual_proposal(connector_id, action, params, reason, NULL)
$$;
COMMENT ON FUNCTION syncopt.propose(bigint, text, jsonb, text) IS
    'Proposes an action on a connector for an approver; checks params, policy and protect; supersedes an older open proposal of the same action.';
-- What the background workers run, and how to see and wake them.

CREATE FUNCTION syncopt.worker_status(
    OUT worker text, OUT pid integer, OUT database text, OUT state text,
    OUT started_at timestamptz, OUT last_loop_at timestamptz, OUT next_wake_at timestamptz,
    OUT starts bigint, OUT loops bigint, OUT wake_requests bigint, OUT wakes_handled bigint,
    OUT last_wake_at timestamptz, OUT last_error text, OUT last_error_at timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'syncopt_worker_status';
COMMENT ON FUNCTION syncopt.worker_status() IS
    'One row per background worker: pid, database, state, loop and wake counters, last error.';

CREATE FUNCTION syncopt.wake(worker text DEFAULT NULL) RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'syncopt_wake';
COMMENT ON FUNCTION syncopt.wake(text) IS
    'Wakes the collector, the executor, or (NULL) both when the calling transaction commits.';

-- Mark proposals whose approval window closed; run by the executor on
-- every pass.  Returns how many expired.
CREATE FUNCTION syncopt.expire_decisions() RETURNS bigint
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH expired AS (
        UPDATE syncopt.fivetran_sync_ai_logs
           SET status = 'expired'
         WHERE status OPERATOR(pg_catalog.=) 'proposed'
           AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.statement_timestamp()
        RETURNING 1)
    SELECT pg_catalog.count(*) FROM expired
$$;
COMMENT ON FUNCTION syncopt.expire_decisions() IS
    'Marks proposals past expires_at as expired; returns how many.';

-- Delete history older than the retention, at most batch_size rows per
-- table per call, so that the collector can commit between batches.  Only
-- finished decisions go (with their audit events); the newest schema
-- snapshot of each connector always stays, drift is measured against it.
CREATE FUNCTION syncopt.purge_history(retention interval DEFAULT NULL, batch_size integer DEFAULT 10000)
RETURNS bigint
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keep    interval := coalesce(retention, current_setting('syncopt.history_retention')::interval);
    cutoff  timestamptz;
    n       bigint;
    total   bigint := 0;
BEGIN
    IF batch_size IS NULL OR batch_size < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF keep <= interval '0' THEN
        RETURN 0;               -- retention 0: keep everything
    END IF;
    cutoff := now() - keep;

    DELETE FROM syncopt.sync_run WHERE run_id IN (
        SELECT run_id FROM syncopt.sync_run WHERE started_at < cutoff ORDER BY started_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.fivetran_sync_ai_logs WHERE decision_id IN (
        SELECT decision_id FROM syncopt.fivetran_sync_ai_logs
         WHERE created_at < cutoff AND updated_at < cutoff
           AND status NOT IN (SELECT t.from_status FROM syncopt.decision_transition t)
         ORDER BY created_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.alert WHERE alert_id IN (
        SELECT alert_id FROM syncopt.alert WHERE created_at < cutoff ORDER BY created_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    total := total + n;

    DELETE FROM syncopt.schema_snapshot WHERE snapshot_id IN (
        SELECT s.snapshot_id FROM syncopt.schema_snapshot s
         WHERE s.captured_at < cutoff
           AND EXISTS (SELECT FROM syncopt.schema_snapshot newer
                        WHERE newer.connector_id = s.connector_id AND newer.captured_at > s.captured_at)
         ORDER BY s.captured_at LIMIT purge_history.batch_size);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN total + n;
END
$$;
COMMENT ON FUNCTION syncopt.purge_history(interval, integer) IS
    'Deletes sync runs, finished decisions (with their audit), alerts and superseded schema snapshots older than the retention; one batch per table per call.';
-- What every ingestion function shares: checks that name the offending
-- field, the account check, and the incremental connector_stats update.

-- NULL when the value has the JSON type wanted, else what is wrong with it,
-- naming the field.  Inlined by the planner (a single SQL expression), so
-- page validation stays set-based.
CREATE FUNCTION syncopt.json_field_problem(value jsonb, wanted text, nullable boolean, field text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN value IS NULL OR jsonb_typeof(value) = 'null' THEN
            CASE WHEN nullable THEN NULL ELSE format('field "%s" is missing or null', field) END
        WHEN wanted = 'integer' THEN
            CASE WHEN jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]{1,18}$' THEN NULL
                 ELSE format('field "%s" must be an integer, not %s', field, left(value::text, 40)) END
        WHEN wanted = 'timestamp' THEN
            CASE WHEN jsonb_typeof(value) = 'string'
                      AND (value #>> '{}') ~ '^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d(:?\d\d)?)$'
                 THEN NULL
                 ELSE format('field "%s" must be an ISO-8601 timestamp with a time zone, not %s',
                             field, left(value::text, 40)) END
        WHEN jsonb_typeof(value) = wanted THEN NULL
        ELSE format('field "%s" must be a JSON %s, not %s', field, wanted, jsonb_typeof(value))
    END
$$;

-- NULL when the value (a string or null) is one of the allowed values.
CREATE FUNCTION syncopt.json_enum_problem(value jsonb, allowed text[], nullable boolean, field text)
RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(syncopt.json_field_problem(value, 'string', nullable, field),
                    CASE WHEN value IS NULL OR jsonb_typeof(value) = 'null' OR (value #>> '{}') = ANY (allowed)
                         THEN NULL
                         ELSE format('field "%s" has unknown value %s (expected one of: %s)',
                                     field, value::text, array_to_string(allowed, ', ')) END)
$$;

-- Raise the error every ingestion function uses for bad input.
CREATE FUNCTION syncopt.ingest_reject(what text, problem text) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RAISE EXCEPTION 'invalid %: %', what, problem
        USING ERRCODE = 'invalid_parameter_value',
              DETAIL = 'Nothing from this body was stored.',
              HINT = 'Pass the response body exactly as the vendor API returned it.';
END
$$;

-- The account, checked to exist and to be of the vendor the body is from.
CREATE FUNCTION syncopt.ingest_account(account_id bigint, vendor text) RETURNS syncopt.account
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    acct syncopt.account;
BEGIN
    SELECT * INTO acct FROM syncopt.account a WHERE a.account_id = ingest_account.account_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % does not exist', coalesce(account_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    IF acct.vendor <> vendor THEN
        RAISE EXCEPTION 'account % belongs to %, not %', account_id, initcap(acct.vendor), initcap(vendor)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('Use the syncopt.ingest_%s_* functions for it.', acct.vendor);
    END IF;
    RETURN acct;
END
$$;

-- Fold newly finished runs into connector_stats: counts, failure streak,
-- EWMA levels, log-linear fit sums and the recent window (src/absorb.c
-- gives the formulas).  count_outcomes = false feeds only the durations of
-- runs that were counted before while their start was still unknown.  Its
-- statements are kept across calls (src/spi_plan.c).
CREATE FUNCTION syncopt.absorb_runs(run_ids bigint[], count_outcomes boolean DEFAULT true)
RETURNS void
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_absorb_runs';
COMMENT ON FUNCTION syncopt.absorb_runs(bigint[], boolean) IS
    'Folds finished runs into connector_stats (counts, streaks, EWMA, fit sums, recent window); called by the ingestion functions.';

-- Runs finished by ingestion that asked to fold them later (a collector
-- poll folds once at its end, so a backfill of many pages rewrites each
-- connector's stats row once rather than once per page): one row per page,
-- the runs as they were when they finished, as absorb_runs would read them.
CREATE TABLE syncopt.stats_backlog (
    seq            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id         bigint[] NOT NULL,
    connector_id   bigint[] NOT NULL,
    status         text[] NOT NULL,
    started_at     timestamptz[] NOT NULL,
    finished_at    timestamptz[] NOT NULL,
    rows           bigint[] NOT NULL,       -- NULL elements: rows not reported
    full_sync      boolean[] NOT NULL,
    duration_known boolean[] NOT NULL,
    CONSTRAINT stats_backlog_parallel CHECK (
        cardinality(connector_id) = cardinality(run_id) AND cardinality(status) = cardinality(run_id)
        AND cardinality(started_at) = cardinality(run_id) AND cardinality(finished_at) = cardinality(run_id)
        AND cardinality(rows) = cardinality(run_id) AND cardinality(full_sync) = cardinality(run_id)
        AND cardinality(duration_known) = cardinality(run_id))
);
-- A page's arrays are written once and read once: storing them out of line
-- as they are costs less than compressing them.
ALTER TABLE syncopt.stats_backlog
    ALTER COLUMN run_id SET STORAGE EXTERNAL, ALTER COLUMN connector_id SET STORAGE EXTERNAL,
    ALTER COLUMN status SET STORAGE EXTERNAL, ALTER COLUMN started_at SET STORAGE EXTERNAL,
    ALTER COLUMN finished_at SET STORAGE EXTERNAL, ALTER COLUMN rows SET STORAGE EXTERNAL,
    ALTER COLUMN full_sync SET STORAGE EXTERNAL, ALTER COLUMN duration_known SET STORAGE EXTERNAL;
COMMENT ON TABLE syncopt.stats_backlog IS
    'Finished runs not yet folded into connector_stats, one row per ingested page; emptied by fold_stats_backlog() at the end of each collector poll.';

-- Fold the backlog into connector_stats in batches, oldest first; returns
-- the runs folded.  Concurrent callers take disjoint batches.
CREATE FUNCTION syncopt.fold_stats_backlog() RETURNS bigint
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_fold_stats_backlog';
COMMENT ON FUNCTION syncopt.fold_stats_backlog() IS
    'Folds the runs waiting in stats_backlog into connector_stats; returns how many were folded. The collector calls it after each Airbyte jobs crawl.';

-- Map a Fivetran sync_end status (log, webhook) to a sync_run status.
CREATE FUNCTION syncopt.fivetran_end_status(status text) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
    SELECT CASE upper(status)
        WHEN 'SUCCESSFUL' THEN 'succeeded'
        WHEN 'FAILURE' THEN 'failed'
        WHEN 'FAILURE_WITH_TASK' THEN 'failed'
        WHEN 'RESCHEDULED' THEN 'rescheduled'
        WHEN 'CANCELED' THEN 'cancelled'
        WHEN 'CANCELLED' THEN 'cancelled'
    END
$$;
COMMENT ON FUNCTION syncopt.fivetran_end_status(text) IS
    'Fivetran sync_end status (SUCCESSFUL, FAILURE, FAILURE_WITH_TASK, RESCHEDULED, CANCELED) as a sync_run status; NULL when unknown.';
-- Fivetran REST API bodies to rows: connection lists and details
-- (connector state, and a run for each succeeded_at / failed_at seen) and
-- schema configs (schema_snapshot).  Field names and vocabularies follow
-- the OpenAPI definitions (list_all_connections_in_group, connection_details,
-- connection_schema_config).

-- What is wrong with one connection object (NULL when nothing), naming the
-- field by its path in the body, e.g. data.items[3].status.sync_state.
CREATE FUNCTION syncopt.fivetran_connection_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(
        syncopt.json_field_problem(item -> 'id', 'string', false, at || '.id'),
        syncopt.json_field_problem(item -> 'group_id', 'string', false, at || '.group_id'),
        syncopt.json_field_problem(item -> 'service', 'string', false, at || '.service'),
        syncopt.json_field_problem(item -> 'schema', 'string', false, at || '.schema'),
        syncopt.json_field_problem(item -> 'paused', 'boolean', false, at || '.paused'),
        syncopt.json_field_problem(item -> 'sync_frequency', 'integer', false, at || '.sync_frequency'),
        CASE WHEN (item ->> 'sync_frequency')::bigint <= 0
             THEN format('field "%s.sync_frequency" must be positive', at) END,
        syncopt.json_enum_problem(item -> 'schedule_type', '{auto,manual}', false, at || '.schedule_type'),
        syncopt.json_field_problem(item -> 'daily_sync_time', 'string', true, at || '.daily_sync_time'),
        CASE WHEN (item ->> 'daily_sync_time') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
             THEN format('field "%s.daily_sync_time" must be HH:MM, not %s', at, item -> 'daily_sync_time') END,
        syncopt.json_field_problem(item -> 'succeeded_at', 'timestamp', true, at || '.succeeded_at'),
        syncopt.json_field_problem(item -> 'failed_at', 'timestamp', true, at || '.failed_at'),
        syncopt.json_field_problem(item -> 'status', 'object', false, at || '.status'),
        syncopt.json_enum_problem(item #> '{status,setup_state}', '{incomplete,connected,broken}', false,
                                  at || '.status.setup_state'),
        syncopt.json_enum_problem(item #> '{status,sync_state}', '{scheduled,syncing,paused,rescheduled}', false,
                                  at || '.status.sync_state'),
        syncopt.json_enum_problem(item #> '{status,update_state}', '{on_schedule,delayed}', true,
                                  at || '.status.update_state'),
        syncopt.json_field_problem(item #> '{status,is_historical_sync}', 'boolean', true,
                                   at || '.status.is_historical_sync'))
    END
$$;

-- The shared body of the two connection ingesters: validate every item,
-- upsert the connectors, and record a run for each new succeeded_at and
-- failed_at.  The REST API has no sync history, so such a run is only its
-- end (duration_known = false); it is not recorded when the Platform
-- Connector log or a webhook already gave the same run (same status, end
-- within two minutes).  Returns the connectors and runs it changed.
CREATE FUNCTION syncopt.ingest_fivetran_items(account_id bigint, items jsonb, item_path text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Plans per call: a generic plan cached while the tables were small turns
-- the run lookups into scans as history grows (cost grew with every page).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    problem   text;
    touched   integer;
    new_runs  bigint[];
BEGIN
    SELECT p INTO problem
      FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i),
           LATERAL syncopt.fivetran_connection_problem(e.item, format(item_path, e.i - 1)) AS p
     WHERE p IS NOT NULL
     LIMIT 1;
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connection', problem);
    END IF;

    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'id') e.item
          FROM jsonb_array_elements(items) WITH ORDINALITY AS e(item, i)
         ORDER BY e.item ->> 'id', e.i DESC
    ), up AS (
        INSERT INTO syncopt.connector AS c (
            account_id, external_id, name, group_id, destination_id, service, schedule_minutes,
            schedule_type, daily_sync_time, paused, sync_state, setup_state, last_success_at,
            last_failure_at, raw, deleted_at, updated_at)
        SELECT ingest_fivetran_items.account_id, s.item ->> 'id', s.item ->> 'schema', s.item ->> 'group_id',
               s.item ->> 'group_id', s.item ->> 'service', (s.item ->> 'sync_frequency')::integer,
               s.item ->> 'schedule_type', (s.item ->> 'daily_sync_time')::time, (s.item ->> 'paused')::boolean,
               s.item #>> '{status,sync_state}', s.item #>> '{status,setup_state}',
               (s.item ->> 'succeeded_at')::timestamptz, (s.item ->> 'failed_at')::timestamptz,
               s.item, NULL, now()
          FROM src s
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = excluded.name, group_id = excluded.group_id, destination_id = excluded.destination_id,
            service = excluded.service, schedule_minutes = excluded.schedule_minutes,
            schedule_type = excluded.schedule_type, daily_sync_time = excluded.daily_sync_time,
            paused = excluded.paused, sync_state = excluded.sync_state, setup_state = excluded.setup_state,
            last_success_at = excluded.last_success_at, last_failure_at = excluded.last_failure_at,
            raw = excluded.raw, deleted_at = NULL, updated_at = now()
        WHERE (c.raw, c.deleted_at) IS DISTINCT FROM (excluded.raw, NULL::timestamptz)
        RETURNING 1)
    SELECT count(*) INTO touched FROM up;

    WITH ends AS (
        SELECT DISTINCT c.connector_id, x.status, x.at
          FROM jsonb_array_elements(items) AS e(item)
          JOIN syncopt.connector c
            ON c.account_id = ingest_fivetran_items.account_id AND c.external_id = e.item ->> 'id'
         CROSS JOIN LATERAL (VALUES ('succeeded', (e.item ->> 'succeeded_at')::timestamptz),
                                    ('failed', (e.item ->> 'failed_at')::timestamptz)) AS x(status, at)
         WHERE x.at IS NOT NULL
    ), ins AS (
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status,
                                      source, duration_known)
        SELECT e.connector_id,
               'api:' || e.status || ':' || to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               e.at, e.at, e.status, 'api', false
          FROM ends e
         WHERE NOT EXISTS (
                SELECT FROM syncopt.sync_run r
                 WHERE r.connector_id = e.connector_id AND r.status = e.status
                   AND r.finished_at BETWEEN e.at - interval '2 minutes' AND e.at + interval '2 minutes')
        ON CONFLICT ON CONSTRAINT sync_run_external_id_unique DO NOTHING
        RETURNING run_id)
    SELECT array_agg(run_id) INTO new_runs FROM ins;

    PERFORM syncopt.absorb_runs(new_runs);
    RETURN touched + coalesce(cardinality(new_runs), 0);
END
$$;

-- Check the {"code": "Success", "data": {...}} envelope of a Fivetran body.
CREATE FUNCTION syncopt.fivetran_envelope_problem(body jsonb) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(body) IS DISTINCT FROM 'object' THEN 'the body must be a JSON object'
        ELSE coalesce(
            syncopt.json_field_problem(body -> 'code', 'string', false, 'code'),
            CASE WHEN body ->> 'code' <> 'Success'
                 THEN format('field "code" is %s, not "Success" (message: %s)', body -> 'code',
                             coalesce(body ->> 'message', 'none')) END,
            syncopt.json_field_problem(body -> 'data', 'object', false, 'data'))
    END
$$;

CREATE FUNCTION syncopt.ingest_fivetran_connections(account_id bigint, page jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    problem := coalesce(syncopt.fivetran_envelope_problem(page),
                        syncopt.json_field_problem(page #> '{data,items}', 'array', false, 'data.items'),
                        syncopt.json_field_problem(page #> '{data,next_cursor}', 'string', true, 'data.next_cursor'));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connections page', problem);
    END IF;
    RETURN syncopt.ingest_fivetran_items(account_id, page #> '{data,items}', 'data.items[%s]');
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_connections(bigint, jsonb) IS
    'Ingests one page of GET /v1/groups/{id}/connections or /v1/connections; returns connectors and runs changed.';

CREATE FUNCTION syncopt.ingest_fivetran_connection(account_id bigint, details jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    problem := syncopt.fivetran_envelope_problem(details);
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran connection details', problem);
    END IF;
    RETURN syncopt.ingest_fivetran_items(account_id, jsonb_build_array(details -> 'data'), 'data');
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_connection(bigint, jsonb) IS
    'Ingests the body of GET /v1/connections/{id}; returns connectors and runs changed.';

-- What is wrong with a schema config body (NULL when nothing).
CREATE FUNCTION syncopt.fivetran_schema_problem(config jsonb) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(
        syncopt.fivetran_envelope_problem(config),
        syncopt.json_enum_problem(config #> '{data,schema_change_handling}', '{ALLOW_ALL,ALLOW_COLUMNS,BLOCK_ALL}',
                                  false, 'data.schema_change_handling'),
        syncopt.json_field_problem(config #> '{data,schemas}', 'object', false, 'data.schemas'),
        (SELECT p FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
                LATERAL (SELECT coalesce(
                    syncopt.json_field_problem(s.schema, 'object', false, format('data.schemas.%s', s.name)),
                    syncopt.json_field_problem(s.schema -> 'enabled', 'boolean', false,
                                               format('data.schemas.%s.enabled', s.name)),
                    syncopt.json_field_problem(s.schema -> 'name_in_destination', 'string', true,
                                               format('data.schemas.%s.name_in_destination', s.name)),
                    syncopt.json_field_problem(s.schema -> 'tables', 'object', false,
                                               format('data.schemas.%s.tables', s.name)))) AS q(p)
          WHERE q.p IS NOT NULL LIMIT 1),
        (SELECT p FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
                jsonb_each(s.schema -> 'tables') AS t(name, tab),
                LATERAL (SELECT coalesce(
                    syncopt.json_field_problem(t.tab, 'object', false, format('data.schemas.%s.tables.%s', s.name, t.name)),
                    syncopt.json_field_problem(t.tab -> 'enabled', 'boolean', false,
                                               format('data.schemas.%s.tables.%s.enabled', s.name, t.name)),
                    syncopt.json_field_problem(t.tab -> 'name_in_destination', 'string', true,
                                               format('data.schemas.%s.tables.%s.name_in_destination', s.name, t.name)),
                    syncopt.json_field_problem(t.tab -> 'columns', 'object', true,
                                               format('data.schemas.%s.tables.%s.columns', s.name, t.name)),
                    (SELECT coalesce(
                                syncopt.json_field_problem(c.col, 'object', false,
                                    format('data.schemas.%s.tables.%s.columns.%s', s.name, t.name, c.name)),
                                syncopt.json_field_problem(c.col -> 'enabled', 'boolean', true,
                                    format('data.schemas.%s.tables.%s.columns.%s.enabled', s.name, t.name, c.name)))
                       FROM jsonb_each(CASE jsonb_typeof(t.tab -> 'columns') WHEN 'object' THEN t.tab -> 'columns'
                                       ELSE '{}' END) AS c(name, col)
                      WHERE jsonb_typeof(c.col) IS DISTINCT FROM 'object'
                         OR jsonb_typeof(c.col -> 'enabled') NOT IN ('boolean', 'null')
                      LIMIT 1))) AS q(p)
          WHERE jsonb_typeof(s.schema) = 'object' AND jsonb_typeof(s.schema -> 'tables') = 'object'
            AND q.p IS NOT NULL LIMIT 1))
$$;

-- A new schema_snapshot when the enabled tables and columns (by their
-- destination names) differ from the connector's latest one.  Fivetran
-- returns only columns whose settings were changed, so the snapshot holds
-- those; column types are not in the schema config and are stored as null.
CREATE FUNCTION syncopt.ingest_fivetran_schema(account_id bigint, connector_external_id text, config jsonb)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem  text;
    conn_id  bigint;
    tabs     jsonb;
    hash     text;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    SELECT c.connector_id INTO conn_id FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_schema.account_id AND c.external_id = connector_external_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'account % has no connector with external id "%"', account_id, connector_external_id
            USING ERRCODE = 'undefined_object',
                  HINT = 'Ingest the connection (ingest_fivetran_connections) before its schema.';
    END IF;
    problem := syncopt.fivetran_schema_problem(config);
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran schema config', problem);
    END IF;

    SELECT coalesce(jsonb_object_agg(
               coalesce(s.schema ->> 'name_in_destination', s.name) || '.'
                   || coalesce(t.tab ->> 'name_in_destination', t.name),
               (SELECT coalesce(jsonb_object_agg(coalesce(c.col ->> 'name_in_destination', c.name), NULL), '{}')
                  FROM jsonb_each(coalesce(t.tab -> 'columns', '{}')) AS c(name, col)
                 WHERE coalesce((c.col ->> 'enabled')::boolean, true))), '{}')
      INTO tabs
      FROM jsonb_each(config #> '{data,schemas}') AS s(name, schema),
           jsonb_each(s.schema -> 'tables') AS t(name, tab)
     WHERE (s.schema ->> 'enabled')::boolean AND (t.tab ->> 'enabled')::boolean;
    hash := md5(tabs::text);

    INSERT INTO syncopt.connector_stats AS st (connector_id, last_schema_hash) VALUES (conn_id, hash)
    ON CONFLICT (connector_id) DO UPDATE SET last_schema_hash = excluded.last_schema_hash
     WHERE st.last_schema_hash IS DISTINCT FROM excluded.last_schema_hash;

    IF hash IS NOT DISTINCT FROM (SELECT s.schema_hash FROM syncopt.schema_snapshot s
                                   WHERE s.connector_id = conn_id
                                   ORDER BY s.captured_at DESC, s.snapshot_id DESC LIMIT 1) THEN
        RETURN 0;
    END IF;
    INSERT INTO syncopt.schema_snapshot (connector_id, schema_hash, tables, raw)
    VALUES (conn_id, hash, tabs, config -> 'data');
    RETURN 1;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_schema(bigint, text, jsonb) IS
    'Ingests the body of GET /v1/connections/{id}/schemas; stores a schema_snapshot when the enabled tables or columns changed. Returns 1 or 0.';
-- Airbyte public API bodies to rows: connection pages (GET /connections)
-- and job pages (GET /jobs), as api.yaml's ConnectionsResponse and
-- JobsResponse define them.

-- Check the {"data": [...], "next": ..., "previous": ...} page shape.
CREATE FUNCTION syncopt.airbyte_page_problem(page jsonb) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE
        WHEN jsonb_typeof(page) IS DISTINCT FROM 'object' THEN 'the body must be a JSON object'
        ELSE coalesce(
            syncopt.json_field_problem(page -> 'data', 'array', false, 'data'),
            syncopt.json_field_problem(page -> 'next', 'string', true, 'next'),
            syncopt.json_field_problem(page -> 'previous', 'string', true, 'previous'))
    END
$$;

-- Minutes of an Airbyte basicTiming such as "Every 24 HOURS"; NULL otherwise.
CREATE FUNCTION syncopt.airbyte_basic_minutes(timing text) RETURNS integer
LANGUAGE sql IMMUTABLE
AS $$
    SELECT (m[1]::bigint * CASE m[2] WHEN 'MINUTES' THEN 1 WHEN 'HOURS' THEN 60 WHEN 'DAYS' THEN 1440
                                     WHEN 'WEEKS' THEN 10080 WHEN 'MONTHS' THEN 43200 END)::integer
      FROM regexp_match(timing, '^Every ([0-9]{1,6}) (MINUTES|HOURS|DAYS|WEEKS|MONTHS)$') AS m
     WHERE m[1]::bigint > 0
$$;

CREATE FUNCTION syncopt.airbyte_connection_problem(item jsonb, at text) RETURNS text
LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN jsonb_typeof(item) IS DISTINCT FROM 'object' THEN format('"%s" must be a JSON object', at)
    ELSE coalesce(
        syncopt.json_field_problem(item -> 'connectionId', 'string', false, at || '.connectionId'),
        CASE WHEN btrim(item ->> 'connectionId') = '' THEN format('field "%s.connectionId" is empty', at) END,
        syncopt.json_field_problem(item -> 'name', 'string', false, at || '.name'),
        syncopt.json_field_problem(item -> 'sourceId', 'string', false, at || '.sourceId'),
        syncopt.json_field_problem(item -> 'destinationId', 'string', false, at || '.destinationId'),
        syncopt.json_field_problem(item -> 'workspaceId', 'string', false, at || '.workspaceId'),
        syncopt.json_enum_problem(item -> 'status', '{active,inactive,deprecated,locked}', false, at || '.status'),
        syncopt.json_field_problem(item -> 'schedule', 'object', false, at || '.schedule'),
        syncopt.json_enum_problem(item #> '{schedule,scheduleType}', '{manual,cron,basic}', false,
                                  at || '.schedule.scheduleType'),
        syncopt.json_field_problem(item #> '{schedule,cronExpression}', 'string', true,
                                   at || '.schedule.cronExpression'),
        syncopt.json_field_problem(item #> '{schedule,basicTiming}', 'string', true,
                                   at || '.schedule.basicTiming'),
        syncopt.json_field_problem(item -> 'createdAt', 'integer', true, at || '.createdAt'),
        syncopt.json_field_problem(item -> 'tags', 'array', true, at || '.tags'),
        syncopt.json_field_problem(item -> 'configurations', 'object', true, at || '.configurations'))
    END
$$;

CREATE FUNCTION syncopt.ingest_airbyte_connections(account_id bigint, page jsonb) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
-- Plans per call: a generic plan cached while the tables were small turns
-- the run lookups into scans as history grows (cost grew with every page).
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    problem text;
    touched integer;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'airbyte');
    problem := coalesce(
        syncopt.airbyte_page_problem(page),
        (SELECT p FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i),
                LATERAL syncopt.airbyte_connection_problem(e.item, format('data[%s]', e.i - 1)) AS p
          WHERE p IS NOT NULL LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Airbyte connections page', problem);
    END IF;

    -- status: active runs on schedule; inactive is paused; locked (by
    -- Airbyte) cannot run either; deprecated is Airbyte's deleted.
    WITH src AS (
        SELECT DISTINCT ON (e.item ->> 'connectionId') e.item
          FROM jsonb_array_elements(page -> 'data') WITH ORDINALITY AS e(item, i)
         ORDER BY e.item ->> 'connectionId', e.i DESC
    ), up AS (
        INSERT INTO syncopt.connector AS c (
            account_id, external_id, name, workspace_id, destination_id, source_key, service,
            schedule_minutes, schedule_type, cron_expression, paused, raw, deleted_at, updated_at)
        SELECT ingest_airbyte_connections.account_id, s.item ->> 'connectionId', s.item ->> 'name',
               s.item ->> 'workspaceId', s.item ->> 'destinationId', s.item ->> 'sourceId', NULL,
               syncopt.airbyte_basic_minutes(s.item #>> '{schedule,basicTiming}'),
               s.item #>> '{schedule,scheduleType}', s.item #>> '{schedule,cronExpression}',
               s.item ->> 'status' <> 'active', s.item,
               CASE WHEN s.item ->> 'status' = 'deprecated' THEN now() END, now()
          FROM src s
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = excluded.name, workspace_id = excluded.workspace_id,
            destination_id = excluded.destination_id,
            -- source_key is the admins' to set; the vendor's sourceId only seeds it
            source_key = coalesce(c.source_key, excluded.source_key),
            schedule_minutes = excluded.schedule_minutes, schedule_type = excluded.schedule_type,
            cron_expression = excluded.cron_expression, paused = excluded.paused, raw = excluded.raw,
            deleted_at = CASE WHEN excluded.deleted_at IS NULL THEN NULL ELSE coalesce(c.deleted_at, excluded.deleted_at) END,
            updated_at = now()
        WHERE c.raw IS DISTINCT FROM excluded.raw
           OR (c.deleted_at IS NULL) <> (excluded.deleted_at IS NULL)
        RETURNING 1)
    SELECT count(*) INTO touched FROM up;
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_airbyte_connections(bigint, jsonb) IS
    'Ingests one page of GET /connections; returns connectors changed.';

-- Jobs to runs, in C (src/ingest_airbyte_jobs.c: the checks, the status
-- mapping and the writes, by statements kept across calls): GET /jobs
-- pages are the bulk of a fleet's history.  fold_stats = false leaves the
-- runs it finishes in stats_backlog for fold_stats_backlog() (the
-- collector, once per poll).
CREATE FUNCTION syncopt.ingest_airbyte_jobs(account_id bigint, page jsonb, fold_stats boolean DEFAULT true)
RETURNS integer
LANGUAGE c VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_ingest_airbyte_jobs';
COMMENT ON FUNCTION syncopt.ingest_airbyte_jobs(bigint, jsonb, boolean) IS
    'Ingests one page of GET /jobs as sync runs; returns runs changed. Re-ingesting a page changes nothing. fold_stats = false defers connector_stats to fold_stats_backlog().';
-- Sync runs reconstructed from the Fivetran Platform Connector tables
-- (log, connection or legacy connector) when they land in this database.
-- The recipe is the one of Fivetran's own dbt package: per connection,
-- sync_start opens a run and sync_end closes it (grouped by sync_id, or in
-- time order where sync_id is absent); sync_stats gives volumes and times,
-- records_modified the rows, SEVERE events the error.

-- The type of a column of schema.table, or NULL when there is no such column.
CREATE FUNCTION syncopt.column_type(rel regclass, col name) RETURNS regtype
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.atttypid::regtype FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) rel AND a.attname OPERATOR(pg_catalog.=) col
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
$$;

-- An SQL expression reading a timestamp column as timestamptz (a column
-- without time zone holds UTC, as Fivetran writes it).
CREATE FUNCTION syncopt.utc_timestamp_expr(rel regclass, col name) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN t IS NULL THEN NULL
        WHEN t OPERATOR(pg_catalog.=) 'timestamp without time zone'::regtype
            THEN pg_catalog.format('(%I AT TIME ZONE ''UTC'')', col)
        WHEN t OPERATOR(pg_catalog.=) 'timestamp with time zone'::regtype THEN pg_catalog.quote_ident(col)
        ELSE pg_catalog.format('(%I)::text::timestamptz', col)
    END
      FROM (SELECT syncopt.column_type(rel, col) AS t) c
$$;

-- Upsert the connectors listed in the connection (or legacy connector)
-- table; _fivetran_deleted marks them deleted.  Returns rows changed.
CREATE FUNCTION syncopt.ingest_fivetran_log_connectors(account_id bigint, log_schema name) RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel     regclass;
    idcol   name;
    namecol name;
    n       integer;
    q       text;
BEGIN
    rel := to_regclass(format('%I.connection', log_schema));
    IF rel IS NOT NULL THEN
        idcol := 'connection_id';
        namecol := 'connection_name';
    ELSE
        rel := to_regclass(format('%I.connector', log_schema));
        idcol := 'connector_id';
        namecol := 'connector_name';
    END IF;
    IF rel IS NULL THEN
        RETURN 0;               -- runs still come in; connectors get bare rows
    END IF;
    IF syncopt.column_type(rel, idcol) IS NULL THEN
        RAISE EXCEPTION 'table % has no column %', rel, idcol
            USING ERRCODE = 'undefined_column',
                  HINT = 'syncopt reads the Platform Connector schema as Fivetran writes it.';
    END IF;
    q := format($q$
        INSERT INTO syncopt.connector AS c (account_id, external_id, name, service, destination_id, group_id,
                                            paused, deleted_at, updated_at)
        SELECT DISTINCT ON (src.id) $1, src.id, src.name, src.service, src.dest, src.dest,
               coalesce(src.paused, false), CASE WHEN src.deleted THEN now() END, now()
          FROM (SELECT %I::text AS id, %s::text AS name, %s::text AS service, %s::text AS dest,
                       %s::boolean AS paused, coalesce(%s::boolean, false) AS deleted, %s AS synced
                  FROM %s) src
         WHERE src.id IS NOT NULL AND btrim(src.id) <> ''
         ORDER BY src.id, src.synced DESC NULLS LAST
        ON CONFLICT ON CONSTRAINT connector_external_id_unique DO UPDATE SET
            name = coalesce(excluded.name, c.name), service = coalesce(excluded.service, c.service),
            destination_id = coalesce(excluded.destination_id, c.destination_id),
            group_id = coalesce(excluded.group_id, c.group_id), paused = excluded.paused,
            deleted_at = CASE WHEN excluded.deleted_at IS NULL THEN NULL ELSE coalesce(c.deleted_at, now()) END,
            updated_at = now()
        WHERE (c.name, c.service, c.destination_id, c.paused, c.deleted_at IS NULL)
              IS DISTINCT FROM (coalesce(excluded.name, c.name), coalesce(excluded.service, c.service),
                                coalesce(excluded.destination_id, c.destination_id), excluded.paused,
                                excluded.deleted_at IS NULL)$q$,
        idcol,
        CASE WHEN syncopt.column_type(rel, namecol) IS NULL THEN 'NULL' ELSE quote_ident(namecol) END,
        CASE WHEN syncopt.column_type(rel, 'connector_type') IS NULL THEN 'NULL' ELSE 'connector_type' END,
        CASE WHEN syncopt.column_type(rel, 'destination_id') IS NULL THEN 'NULL' ELSE 'destination_id' END,
        CASE WHEN syncopt.column_type(rel, 'paused') IS NULL THEN 'NULL' ELSE 'paused' END,
        CASE WHEN syncopt.column_type(rel, '_fivetran_deleted') IS NULL THEN 'NULL' ELSE '_fivetran_deleted' END,
        coalesce(syncopt.utc_timestamp_expr(rel, '_fivetran_synced'), 'NULL::timestamptz'),
        rel);
    EXECUTE q USING account_id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE FUNCTION syncopt.ingest_fivetran_log(account_id bigint, log_schema name DEFAULT 'fivetran_log')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    rel        regclass;
    conncol    name;
    wm_expr    text;
    data_expr  text;
    st         syncopt.log_ingest_state;
    n_read     bigint;
    n_dupes    bigint;
    n_quirky   bigint;
    n_orphans  bigint;
    touched    bigint;
    finished   bigint[];
    merged     bigint[];
    n_merged   bigint;
    new_wm     timestamptz;
    new_ids    text[];
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    rel := to_regclass(format('%I.log', log_schema));
    IF rel IS NULL THEN
        RAISE EXCEPTION 'table %.log does not exist', quote_ident(log_schema)
            USING ERRCODE = 'undefined_table',
                  HINT = 'Pass the schema the Platform Connector writes to (fivetran_metadata for new connections, fivetran_log for older ones).';
    END IF;
    -- Definer's rights write syncopt's tables; reading the log stays the caller's right.
    IF NOT has_table_privilege(session_user, rel, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for table %', rel USING ERRCODE = 'insufficient_privilege';
    END IF;
    conncol := CASE WHEN syncopt.column_type(rel, 'connection_id') IS NOT NULL THEN 'connection_id'
                    WHEN syncopt.column_type(rel, 'connector_id') IS NOT NULL THEN 'connector_id' END;
    IF conncol IS NULL OR syncopt.column_type(rel, 'id') IS NULL OR syncopt.column_type(rel, 'time_stamp') IS NULL
       OR syncopt.column_type(rel, 'message_event') IS NULL OR syncopt.column_type(rel, 'message_data') IS NULL THEN
        RAISE EXCEPTION 'table % is not a Platform Connector log table', rel
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'It needs id, time_stamp, connection_id (or connector_id), message_event and message_data.';
    END IF;
    -- Read incrementally by _fivetran_synced (when rows land), else by time_stamp.
    wm_expr := coalesce(syncopt.utc_timestamp_expr(rel, '_fivetran_synced'), syncopt.utc_timestamp_expr(rel, 'time_stamp'));
    data_expr := CASE WHEN syncopt.column_type(rel, 'message_data') IN ('json'::regtype, 'jsonb'::regtype)
                      THEN 'message_data::jsonb' ELSE 'syncopt.try_jsonb(message_data::text)' END;

    PERFORM syncopt.ingest_fivetran_log_connectors(account_id, log_schema);

    INSERT INTO syncopt.log_ingest_state AS s (account_id, log_schema) VALUES (account_id, log_schema)
    ON CONFLICT DO NOTHING;
    SELECT * INTO st FROM syncopt.log_ingest_state s
     WHERE s.account_id = ingest_fivetran_log.account_id AND s.log_schema = ingest_fivetran_log.log_schema
       FOR UPDATE;

    -- Work tables for this call (two calls in one transaction reuse them).
    IF to_regclass('pg_temp.syncopt_log_batch') IS NULL THEN
        CREATE TEMP TABLE syncopt_log_batch (
            id text, ts timestamptz, wm timestamptz, conn text, sync_id text, event text,
            message_event text, raw_data text, data jsonb, connector_id bigint, run_key text) ON COMMIT DROP;
        CREATE TEMP TABLE syncopt_log_runs (
            connector_id bigint, ext text, started_at timestamptz, finished_at timestamptz, status text,
            total_s float8, mb float8, rows bigint, error_message text) ON COMMIT DROP;
    END IF;
    DELETE FROM pg_temp.syncopt_log_batch;
    DELETE FROM pg_temp.syncopt_log_runs;
    EXECUTE format($q$
        INSERT INTO pg_temp.syncopt_log_batch
        SELECT id::text, %s, %s, %I::text, %s, %s, message_event::text, message_data::text, %s, NULL, NULL
          FROM %s
         WHERE (%s > $1 OR $1 IS NULL OR (%s = $1 AND id::text <> ALL ($2))) %s$q$,
        syncopt.utc_timestamp_expr(rel, 'time_stamp'), wm_expr, conncol,
        CASE WHEN syncopt.column_type(rel, 'sync_id') IS NULL THEN 'NULL' ELSE 'sync_id::text' END,
        CASE WHEN syncopt.column_type(rel, 'event') IS NULL THEN 'NULL' ELSE 'event::text' END,
        data_expr, rel, wm_expr, wm_expr,
        CASE WHEN syncopt.column_type(rel, 'transformation_id') IS NULL THEN ''
             ELSE 'AND transformation_id IS NULL' END)
    USING st.watermark, st.boundary_ids;
    GET DIAGNOSTICS n_read = ROW_COUNT;

    SELECT max(b.wm) INTO new_wm FROM pg_temp.syncopt_log_batch b;
    SELECT coalesce(array_agg(DISTINCT b.id), '{}') INTO new_ids
      FROM pg_temp.syncopt_log_batch b WHERE b.wm = new_wm AND b.id IS NOT NULL;
    IF new_wm = st.watermark THEN
        new_ids := new_ids || st.boundary_ids;
    END IF;

    -- Quirky rows are skipped and counted: repeated ids (the first kept),
    -- rows without an id or connection, and sync events whose message_data
    -- is not the JSON Fivetran writes.
    WITH d AS (
        DELETE FROM pg_temp.syncopt_log_batch b
         WHERE b.ctid NOT IN (SELECT DISTINCT ON (x.id) x.ctid FROM pg_temp.syncopt_log_batch x
                               WHERE x.id IS NOT NULL ORDER BY x.id, x.wm, x.ts)
        RETURNING 1)
    SELECT count(*) INTO n_dupes FROM d;
    WITH q AS (
        DELETE FROM pg_temp.syncopt_log_batch b
         WHERE b.conn IS NULL OR btrim(b.conn) = '' OR b.ts IS NULL
            OR (b.message_event IN ('sync_end', 'sync_stats', 'records_modified')
                AND (b.data IS NULL OR jsonb_typeof(b.data) <> 'object'))
            OR (b.message_event = 'sync_end' AND syncopt.fivetran_end_status(b.data ->> 'status') IS NULL)
            OR (b.message_event = 'records_modified' AND (b.data ->> 'count') !~ '^[0-9]{1,18}$')
        RETURNING 1)
    SELECT count(*) INTO n_quirky FROM q;
    DELETE FROM pg_temp.syncopt_log_batch b
     WHERE NOT (b.message_event IN ('sync_start', 'sync_end', 'sync_stats', 'records_modified')
                OR upper(b.event) = 'SEVERE');

    INSERT INTO syncopt.connector (account_id, external_id)
    SELECT DISTINCT ingest_fivetran_log.account_id, b.conn FROM pg_temp.syncopt_log_batch b
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING;

    -- Each event's run: its sync_id; else the latest sync_start at or before
    -- it in this batch; else the run this connector still has open.
    UPDATE pg_temp.syncopt_log_batch b SET connector_id = c.connector_id
      FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_log.account_id AND c.external_id = b.conn;
    WITH k AS (
        SELECT b.ctid AS row_ctid,
               coalesce(b.sync_id,
                        'log:' || to_char((max(b.ts) FILTER (WHERE b.message_event = 'sync_start' AND b.sync_id IS NULL)
                                           OVER (PARTITION BY b.conn ORDER BY b.ts, b.id ROWS UNBOUNDED PRECEDING))
                                          AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) AS run_key
          FROM pg_temp.syncopt_log_batch b)
    UPDATE pg_temp.syncopt_log_batch b SET run_key = k.run_key FROM k WHERE b.ctid = k.row_ctid;
    UPDATE pg_temp.syncopt_log_batch b SET run_key = (
        SELECT r.external_run_id FROM syncopt.sync_run r
         WHERE r.connector_id = b.connector_id AND r.source = 'platform_log' AND r.status = 'running'
           AND r.started_at <= b.ts
         ORDER BY r.started_at DESC LIMIT 1)
     WHERE b.run_key IS NULL;
    SELECT count(*) INTO n_orphans FROM pg_temp.syncopt_log_batch b WHERE b.run_key IS NULL;

    INSERT INTO pg_temp.syncopt_log_runs
    SELECT k.connector_id, k.run_key,
           min(k.ts) FILTER (WHERE k.message_event = 'sync_start'),
           max(k.ts) FILTER (WHERE k.message_event = 'sync_end'),
           syncopt.fivetran_end_status((array_agg(k.data ->> 'status' ORDER BY k.ts DESC)
                                        FILTER (WHERE k.message_event = 'sync_end'))[1]),
           max((k.data ->> 'total_time_s')::float8) FILTER (WHERE k.message_event = 'sync_stats'
                                                             AND (k.data ->> 'total_time_s') ~ '^[0-9]+(\.[0-9]+)?$'),
           max(coalesce(k.data ->> 'load_volume_mb', k.data ->> 'process_volume_mb', k.data ->> 'extract_volume_mb')::float8)
               FILTER (WHERE k.message_event = 'sync_stats'
                         AND coalesce(k.data ->> 'load_volume_mb', k.data ->> 'process_volume_mb',
                                      k.data ->> 'extract_volume_mb') ~ '^[0-9]+(\.[0-9]+)?$'),
           sum((k.data ->> 'count')::bigint) FILTER (WHERE k.message_event = 'records_modified'),
           left(string_agg(coalesce(k.data ->> 'message', k.data ->> 'reason', k.raw_data), '; ' ORDER BY k.ts)
                    FILTER (WHERE upper(k.event) = 'SEVERE'), 2000)
      FROM pg_temp.syncopt_log_batch k
     WHERE k.run_key IS NOT NULL
     GROUP BY k.connector_id, k.run_key;

    -- A run the REST API saw only by its end becomes this richer run.
    WITH pairs AS (
        SELECT DISTINCT ON (a.run_id) a.run_id, l.ext
          FROM pg_temp.syncopt_log_runs l
          JOIN syncopt.sync_run a
            ON a.connector_id = l.connector_id AND a.source = 'api' AND a.status = l.status
           AND a.finished_at BETWEEN l.finished_at - interval '2 minutes' AND l.finished_at + interval '2 minutes'
         WHERE l.finished_at IS NOT NULL
           AND NOT EXISTS (SELECT FROM syncopt.sync_run e
                            WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)
         ORDER BY a.run_id, abs(extract(epoch FROM a.finished_at - l.finished_at))
    ), one AS (
        SELECT DISTINCT ON (p.ext) p.* FROM pairs p ORDER BY p.ext, p.run_id
    ), m AS (
        UPDATE syncopt.sync_run r SET external_run_id = one.ext, source = 'platform_log'
          FROM one WHERE r.run_id = one.run_id
        RETURNING r.run_id)
    SELECT count(*) INTO n_merged FROM m;

    WITH old AS (
        SELECT r.run_id, r.status, r.duration_known FROM syncopt.sync_run r
          JOIN pg_temp.syncopt_log_runs l ON r.connector_id = l.connector_id AND r.external_run_id = l.ext
    ), up AS (
        INSERT INTO syncopt.sync_run AS r (connector_id, external_run_id, started_at, finished_at, status,
                                           rows, bytes, error_message, duration_known, source)
        SELECT l.connector_id, l.ext,
               coalesce(l.started_at, l.finished_at - make_interval(secs => l.total_s), l.finished_at,
                        (SELECT e.started_at FROM syncopt.sync_run e
                          WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)),
               l.finished_at, coalesce(l.status, 'running'), l.rows, (l.mb * 1048576)::bigint,
               l.error_message, l.started_at IS NOT NULL OR l.total_s IS NOT NULL, 'platform_log'
          FROM pg_temp.syncopt_log_runs l
         WHERE l.started_at IS NOT NULL OR l.finished_at IS NOT NULL
            OR EXISTS (SELECT FROM syncopt.sync_run e WHERE e.connector_id = l.connector_id AND e.external_run_id = l.ext)
        ON CONFLICT ON CONSTRAINT sync_run_external_id_unique DO UPDATE SET
            started_at = CASE WHEN NOT r.duration_known AND excluded.duration_known THEN excluded.started_at
                              ELSE least(r.started_at, excluded.started_at) END,
            finished_at = coalesce(excluded.finished_at, r.finished_at),
            status = CASE WHEN excluded.finished_at IS NOT NULL THEN excluded.status ELSE r.status END,
            rows = CASE WHEN r.rows IS NULL THEN excluded.rows WHEN excluded.rows IS NULL THEN r.rows
                        ELSE r.rows + excluded.rows END,
            bytes = coalesce(excluded.bytes, r.bytes),
            error_message = coalesce(excluded.error_message, r.error_message),
            duration_known = r.duration_known OR excluded.duration_known,
            ingested_at = now()
        RETURNING r.run_id, r.status, r.duration_known)
    SELECT count(*),
           array_agg(up.run_id) FILTER (WHERE up.status <> 'running' AND (old.status IS NULL OR old.status = 'running')),
           array_agg(up.run_id) FILTER (WHERE up.status <> 'running' AND old.status <> 'running'
                                          AND up.duration_known AND NOT old.duration_known)
      INTO touched, finished, merged
      FROM up LEFT JOIN old USING (run_id);

    PERFORM syncopt.absorb_runs(finished, true);
    PERFORM syncopt.absorb_runs(merged, false);

    UPDATE syncopt.log_ingest_state s SET
        watermark = coalesce(new_wm, s.watermark),
        boundary_ids = CASE WHEN new_wm IS NULL THEN s.boundary_ids ELSE new_ids END,
        rows_read = s.rows_read + n_read,
        rows_skipped = s.rows_skipped + n_dupes + n_quirky + n_orphans,
        runs_touched = s.runs_touched + touched,
        last_read_at = now()
     WHERE s.account_id = ingest_fivetran_log.account_id AND s.log_schema = ingest_fivetran_log.log_schema;
    IF n_dupes + n_quirky + n_orphans > 0 THEN
        RAISE NOTICE 'skipped % of % new log rows: % repeated ids, % malformed, % outside any sync',
            n_dupes + n_quirky + n_orphans, n_read, n_dupes, n_quirky, n_orphans
            USING HINT = 'Totals are kept in syncopt.log_ingest_state.rows_skipped.';
    END IF;
    RETURN touched;
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_log(bigint, name) IS
    'Reads new rows of a Fivetran Platform Connector log table in this database into sync runs; returns runs changed. Incremental.';
-- Fivetran webhooks: a receiver of the user's choice passes each POST's raw
-- body and its X-Fivetran-Signature-256 header here.  sync_start opens a
-- run, sync_end closes it; test events and other event types are accepted
-- and store nothing.

-- True when signature is the hex HMAC-SHA256 of body under secret
-- (case-insensitive, compared in constant time).
CREATE FUNCTION syncopt.verify_signature(secret text, body text, signature text) RETURNS boolean
LANGUAGE C IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_verify_signature';

-- The text as jsonb, or NULL when it is not valid JSON (no error raised).
CREATE FUNCTION syncopt.try_jsonb(value text) RETURNS jsonb
LANGUAGE C IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_try_jsonb';

CREATE FUNCTION syncopt.ingest_fivetran_webhook(account_id bigint, body text, signature text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    secret   text;
    ev       jsonb;
    problem  text;
    conn_id  bigint;
    run      syncopt.sync_run;
    event_at timestamptz;
    end_status text;
    new_run_id bigint;
BEGIN
    PERFORM syncopt.ingest_account(account_id, 'fivetran');
    SELECT s.webhook_secret INTO secret FROM syncopt.account_secret s
     WHERE s.account_id = ingest_fivetran_webhook.account_id;
    IF secret IS NULL THEN
        RAISE EXCEPTION 'account % has no webhook secret', account_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Set the secret the webhook was created with: syncopt.set_webhook_secret(account_id, secret).';
    END IF;
    IF body IS NULL OR signature IS NULL OR NOT syncopt.verify_signature(secret, body, btrim(signature)) THEN
        RAISE EXCEPTION 'webhook signature does not match'
            USING ERRCODE = 'invalid_authorization_specification',
                  DETAIL = 'X-Fivetran-Signature-256 must be the hex HMAC-SHA256 of the raw body under the webhook secret. Nothing was stored.',
                  HINT = 'Pass the body exactly as received (no re-encoding) and the header value unchanged.';
    END IF;

    ev := syncopt.try_jsonb(body);
    problem := CASE WHEN jsonb_typeof(ev) IS DISTINCT FROM 'object' THEN 'the body must be a JSON object'
                    ELSE syncopt.json_field_problem(ev -> 'event', 'string', false, 'event') END;
    IF problem IS NULL AND ev ->> 'event' IN ('sync_start', 'sync_end') AND ev ? 'sync_id' THEN
        problem := coalesce(
            syncopt.json_field_problem(ev -> 'sync_id', 'string', false, 'sync_id'),
            syncopt.json_field_problem(coalesce(ev -> 'connector_id', ev -> 'connection_id'), 'string', false,
                                       'connector_id'),
            syncopt.json_field_problem(ev -> 'created', 'timestamp', false, 'created'),
            CASE WHEN ev ->> 'event' = 'sync_end' THEN coalesce(
                syncopt.json_field_problem(ev -> 'data', 'object', false, 'data'),
                syncopt.json_field_problem(ev #> '{data,status}', 'string', false, 'data.status'),
                CASE WHEN syncopt.fivetran_end_status(ev #>> '{data,status}') IS NULL
                     THEN format('field "data.status" has unknown value %s', ev #> '{data,status}') END) END);
    END IF;
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran webhook', problem);
    END IF;
    -- Test events (no sync_id) and event types syncopt does not use.
    IF ev ->> 'event' NOT IN ('sync_start', 'sync_end') OR NOT ev ? 'sync_id' THEN
        RETURN 0;
    END IF;

    INSERT INTO syncopt.connector AS c (account_id, external_id, name, service, group_id, destination_id)
    VALUES (account_id, coalesce(ev ->> 'connector_id', ev ->> 'connection_id'),
            coalesce(ev ->> 'connector_name', ev ->> 'connection_name'), ev ->> 'connector_type',
            coalesce(ev ->> 'destination_group_id', ev ->> 'group_id'),
            coalesce(ev ->> 'destination_group_id', ev ->> 'group_id'))
    ON CONFLICT ON CONSTRAINT connector_external_id_unique DO NOTHING;
    SELECT c.connector_id INTO conn_id FROM syncopt.connector c
     WHERE c.account_id = ingest_fivetran_webhook.account_id
       AND c.external_id = coalesce(ev ->> 'connector_id', ev ->> 'connection_id');
    event_at := (ev ->> 'created')::timestamptz;
    SELECT * INTO run FROM syncopt.sync_run r
     WHERE r.connector_id = conn_id AND r.external_run_id = ev ->> 'sync_id' FOR UPDATE;

    IF ev ->> 'event' = 'sync_start' THEN
        IF run.run_id IS NULL THEN
            INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, status, source)
            VALUES (conn_id, ev ->> 'sync_id', event_at, 'running', 'webhook');
            RETURN 1;
        ELSIF NOT run.duration_known AND event_at <= run.finished_at THEN
            -- the end arrived first; now its duration is known
            UPDATE syncopt.sync_run r SET started_at = event_at, duration_known = true, ingested_at = now()
             WHERE r.run_id = run.run_id;
            PERFORM syncopt.absorb_runs(ARRAY[run.run_id], false);
            RETURN 1;
        END IF;
        RETURN 0;               -- a repeated delivery
    END IF;

    end_status := syncopt.fivetran_end_status(ev #>> '{data,status}');
    IF run.run_id IS NULL THEN
        -- The REST API may have seen this run's end already.
        UPDATE syncopt.sync_run r SET external_run_id = ev ->> 'sync_id', source = 'webhook'
         WHERE r.run_id = (SELECT a.run_id FROM syncopt.sync_run a
                            WHERE a.connector_id = conn_id AND a.source = 'api' AND a.status = end_status
                              AND a.finished_at BETWEEN event_at - interval '2 minutes' AND event_at + interval '2 minutes'
                            ORDER BY abs(extract(epoch FROM a.finished_at - event_at)) LIMIT 1)
        RETURNING r.run_id INTO new_run_id;
        IF new_run_id IS NOT NULL THEN
            RETURN 1;
        END IF;
        INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status,
                                      error_message, duration_known, source)
        VALUES (conn_id, ev ->> 'sync_id', event_at, event_at, end_status,
                CASE WHEN end_status <> 'succeeded' THEN ev #>> '{data,reason}' END, false, 'webhook')
        RETURNING sync_run.run_id INTO new_run_id;
        PERFORM syncopt.absorb_runs(ARRAY[new_run_id], true);
        RETURN 1;
    ELSIF run.status = 'running' THEN
        UPDATE syncopt.sync_run r
           SET finished_at = greatest(event_at, r.started_at), status = end_status,
               error_message = CASE WHEN end_status <> 'succeeded' THEN ev #>> '{data,reason}' END,
               ingested_at = now()
         WHERE r.run_id = run.run_id;
        PERFORM syncopt.absorb_runs(ARRAY[run.run_id], true);
        RETURN 1;
    END IF;
    RETURN 0;                   -- a repeated delivery
END
$$;
COMMENT ON FUNCTION syncopt.ingest_fivetran_webhook(bigint, text, text) IS
    'Verifies and ingests one Fivetran webhook POST (raw body, X-Fivetran-Signature-256); returns runs changed. Raises on a bad signature.';
-- One poll of an account: the C driver (src/collect.c) makes the requests
-- and calls these small steps, each in its own (sub)transaction, to turn a
-- response into rows and to learn where paging goes next.

-- A Fivetran groups page: the group ids and the next cursor.
CREATE FUNCTION syncopt.collect_fivetran_groups_page(body text, OUT group_ids text[], OUT next_cursor text)
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page    jsonb := body::jsonb;
    problem text;
BEGIN
    problem := coalesce(syncopt.fivetran_envelope_problem(page),
                        syncopt.json_field_problem(page #> '{data,items}', 'array', false, 'data.items'),
                        syncopt.json_field_problem(page #> '{data,next_cursor}', 'string', true, 'data.next_cursor'),
                        (SELECT syncopt.json_field_problem(g -> 'id', 'string', false, 'data.items[].id')
                           FROM jsonb_array_elements(page #> '{data,items}') g
                          WHERE jsonb_typeof(g -> 'id') IS DISTINCT FROM 'string' LIMIT 1));
    IF problem IS NOT NULL THEN
        PERFORM syncopt.ingest_reject('Fivetran groups page', problem);
    END IF;
    SELECT coalesce(array_agg(g ->> 'id'), '{}') INTO group_ids FROM jsonb_array_elements(page #> '{data,items}') g;
    next_cursor := nullif(page #>> '{data,next_cursor}', '');
END
$$;

-- A Fivetran connections page: ingested, plus the ids on it and the next cursor.
CREATE FUNCTION syncopt.collect_fivetran_connections_page(
    account_id bigint, body text, OUT touched integer, OUT ids text[], OUT next_cursor text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page jsonb := body::jsonb;
BEGIN
    touched := syncopt.ingest_fivetran_connections(account_id, page);
    SELECT coalesce(array_agg(i ->> 'id'), '{}') INTO ids FROM jsonb_array_elements(page #> '{data,items}') i;
    next_cursor := nullif(page #>> '{data,next_cursor}', '');
END
$$;

-- Connections whose details (part 'details') or schema config (part
-- 'schema') are worth fetching: details when new or changed in a listing
-- since last read; the schema when never read or a sync succeeded since
-- (schema changes land with syncs).
CREATE FUNCTION syncopt.collect_fivetran_targets(account_id bigint, part text) RETURNS SETOF text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.external_id FROM syncopt.connector c
     WHERE c.account_id = collect_fivetran_targets.account_id AND c.deleted_at IS NULL
       AND CASE part WHEN 'details' THEN c.details_at IS NULL OR c.updated_at > c.details_at
                     ELSE c.schema_at IS NULL OR c.last_success_at > c.schema_at END
     ORDER BY c.external_id
$$;

-- Ingest a details or schema config body and note when it was read; a NULL
-- body (the vendor answered 404) only notes the read, so it is not asked
-- again until the connection changes.
CREATE FUNCTION syncopt.collect_fivetran_read(account_id bigint, part text, external_id text, body text)
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
BEGIN
    IF body IS NOT NULL THEN
        n := CASE part WHEN 'details' THEN syncopt.ingest_fivetran_connection(account_id, body::jsonb)
                       ELSE syncopt.ingest_fivetran_schema(account_id, external_id, body::jsonb) END;
    END IF;
    UPDATE syncopt.connector c
       SET details_at = CASE part WHEN 'details' THEN now() ELSE c.details_at END,
           schema_at = CASE part WHEN 'schema' THEN now() ELSE c.schema_at END
     WHERE c.account_id = collect_fivetran_read.account_id AND c.external_id = collect_fivetran_read.external_id;
    RETURN n;
END
$$;

-- An Airbyte page (connections or jobs): ingested, with its item ids and
-- how many items it had (0 ends offset paging).  Jobs pages leave the runs
-- they finish in stats_backlog; the crawl folds them once at its end.
CREATE FUNCTION syncopt.collect_airbyte_page(
    account_id bigint, kind text, body text, OUT touched integer, OUT items integer, OUT ids text[])
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    page jsonb := body::jsonb;
BEGIN
    touched := CASE kind WHEN 'connections' THEN syncopt.ingest_airbyte_connections(account_id, page)
                         ELSE syncopt.ingest_airbyte_jobs(account_id, page, fold_stats => false) END;
    items := jsonb_array_length(page -> 'data');
    IF kind = 'connections' THEN
        SELECT coalesce(array_agg(i ->> 'connectionId'), '{}') INTO ids FROM jsonb_array_elements(page -> 'data') i;
    END IF;
END
$$;

-- After a complete listing: connectors the vendor no longer lists are
-- marked deleted (their history stays).
CREATE FUNCTION syncopt.collect_mark_missing(account_id bigint, seen text[]) RETURNS integer
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH gone AS (
        UPDATE syncopt.connector c SET deleted_at = now(), updated_at = now()
         WHERE c.account_id = collect_mark_missing.account_id AND c.deleted_at IS NULL
           AND NOT (c.external_id = ANY (seen))
        RETURNING 1)
    SELECT count(*)::integer FROM gone
$$;

-- What the driver needs to know about an account before polling it.
CREATE FUNCTION syncopt.collect_account_info(
    account_id bigint, OUT vendor text, OUT base_url text, OUT api_key text, OUT api_secret text,
    OUT jobs_cursor timestamptz, OUT enabled boolean)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT a.vendor, rtrim(a.base_url, '/'), s.api_key, s.api_secret, c.jobs_cursor, a.enabled
      FROM syncopt.account a
      LEFT JOIN syncopt.account_secret s USING (account_id)
      LEFT JOIN syncopt.collector_state c USING (account_id)
     WHERE a.account_id = collect_account_info.account_id
$$;

-- One full poll of the account now, in this backend.  SECURITY DEFINER:
-- admins may poll with credentials they can never read.
CREATE FUNCTION syncopt.collect(account_id bigint)
RETURNS TABLE (endpoint text, pages integer, rows integer, requests integer, error text)
LANGUAGE C VOLATILE STRICT SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'syncopt_collect';
COMMENT ON FUNCTION syncopt.collect(bigint) IS
    'Polls one account now (the collector worker does this on each account''s poll_interval); one row per endpoint with pages, rows changed, requests and the error, if any.';
-- Analytics: the C set-returning functions that predict, score, plan and
-- explain, and the small SQL helpers that turn local wall-clock rules
-- (deadlines, load windows) into instants.  Time-zone arithmetic is left to
-- PostgreSQL's own AT TIME ZONE so that DST gaps and overlaps behave exactly
-- as they do everywhere else in the database.

-- Does a cron day-of-week field ('*', '1-5', '0,6', 7 = Sunday) include dow?
CREATE FUNCTION syncopt.dow_matches(field text, dow integer) RETURNS boolean
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT field = '*' OR EXISTS (
        SELECT 1
          FROM unnest(string_to_array(field, ',')) AS item
         WHERE CASE WHEN strpos(item, '-') > 0
                    THEN dow BETWEEN split_part(item, '-', 1)::integer AND split_part(item, '-', 2)::integer
                         OR (dow = 0 AND 7 BETWEEN split_part(item, '-', 1)::integer AND split_part(item, '-', 2)::integer)
                    ELSE item::integer % 7 = dow END)
$$;
COMMENT ON FUNCTION syncopt.dow_matches(text, integer) IS
    'True when the cron day-of-week field includes dow (0 = Sunday; 7 also means Sunday).';

-- The first instant after `after` at which the local clock in tz shows
-- local_time on a day the field allows; NULL when there is none within
-- eight days (or when local_time is NULL).
CREATE FUNCTION syncopt.next_local_time(local_time time, days text, tz text, after timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT min((d + local_time) AT TIME ZONE tz)
      FROM generate_series(-1, 8) AS k,
           LATERAL (SELECT (after AT TIME ZONE tz)::date + k AS d) AS day
     WHERE local_time IS NOT NULL
       AND syncopt.dow_matches(coalesce(days, '*'), extract(dow FROM d)::integer)
       AND (d + local_time) AT TIME ZONE tz > after
$$;
COMMENT ON FUNCTION syncopt.next_local_time(time, text, text, timestamptz) IS
    'Next instant after `after` when the clock in tz shows local_time on an allowed day (cron dow field).';

-- Each occurrence of a recurring local window (start_time to end_time on
-- the allowed days; an end at or before the start wraps past midnight)
-- that overlaps [from_ts, to_ts).
CREATE FUNCTION syncopt.window_occurrences(start_time time, end_time time, days text, tz text,
                                           from_ts timestamptz, to_ts timestamptz)
RETURNS TABLE (starts timestamptz, ends timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT o.s, o.e
      FROM generate_series(0, (to_ts AT TIME ZONE tz)::date - (from_ts AT TIME ZONE tz)::date + 1) AS k,
           LATERAL (SELECT (from_ts AT TIME ZONE tz)::date - 1 + k AS d) AS day,
           LATERAL (SELECT (d + start_time) AT TIME ZONE tz AS s,
                           (d + end_time + CASE WHEN end_time <= start_time THEN interval '1 day'
                                                ELSE interval '0' END) AT TIME ZONE tz AS e) o
     WHERE syncopt.dow_matches(days, extract(dow FROM d)::integer)
       AND o.e > from_ts AND o.s < to_ts
     ORDER BY o.s
$$;
COMMENT ON FUNCTION syncopt.window_occurrences(time, time, text, text, timestamptz, timestamptz) IS
    'The instants of a recurring local time window that overlap [from_ts, to_ts).';

CREATE FUNCTION syncopt.predict_duration(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, p50 interval, p90 interval, predicted_rows bigint,
               samples integer, method text, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_predict_duration';
COMMENT ON FUNCTION syncopt.predict_duration(timestamptz) IS
    'Predicted P50/P90 duration of each connector''s next sync started at `at`, from connector_stats, with the model that answered.';

CREATE FUNCTION syncopt.priority_scores(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, score double precision, urgency double precision,
               downstream_weight double precision, downstream_assets integer,
               calendar_multiplier double precision, staleness double precision,
               load_penalty double precision, cost_penalty double precision,
               failure_risk double precision, p90 interval, deadline timestamptz,
               deadline_asset_id bigint, latest_start timestamptz, slack interval, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_priority_scores';
COMMENT ON FUNCTION syncopt.priority_scores(timestamptz) IS
    'How urgent each connector''s next sync is at `at` (higher = more urgent), with every component of the score and a reason.';

CREATE FUNCTION syncopt.plan(at timestamptz DEFAULT now(), horizon interval DEFAULT '24 hours')
RETURNS TABLE (connector_id bigint, planned_start timestamptz, predicted_end timestamptz,
               deadline timestamptz, slack interval, will_miss boolean, action text,
               priority integer, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_plan';
COMMENT ON FUNCTION syncopt.plan(timestamptz, interval) IS
    'List schedule of the syncs that feed deadlines within the horizon over the concurrency slots, with predicted misses and triage.';

CREATE FUNCTION syncopt.sla_risk(at timestamptz DEFAULT now())
RETURNS TABLE (asset_id bigint, deadline timestamptz, predicted_ready timestamptz, at_risk boolean,
               risk text, blocking_connectors bigint[], reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_sla_risk';
COMMENT ON FUNCTION syncopt.sla_risk(timestamptz) IS
    'For each asset with a deadline: when its inputs are predicted to be ready under the plan, and what blocks it.';

CREATE FUNCTION syncopt.batch_recommendations(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, current_batch_size integer, recommended_batch_size integer,
               current_parallelism integer, recommended_parallelism integer,
               expected_rows_per_s double precision, expected_duration interval,
               recommended_schedule text, confidence double precision, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_batch_recommendations';
COMMENT ON FUNCTION syncopt.batch_recommendations(timestamptz) IS
    'Batch size and parallelism for Airbyte connectors (AIMD plus a fitted throughput curve), a start time for Fivetran ones.';

CREATE FUNCTION syncopt.anomalies(since timestamptz DEFAULT now() - interval '1 day')
RETURNS TABLE (run_id bigint, connector_id bigint, metric text, observed double precision,
               expected double precision, score double precision, direction text, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_anomalies';
COMMENT ON FUNCTION syncopt.anomalies(timestamptz) IS
    'Runs since `since` whose duration, rows, credits or freshness lag is far (robust z-score) from the connector''s trailing history.';

CREATE FUNCTION syncopt.classify_failure(message text, code text DEFAULT NULL, vendor text DEFAULT NULL)
RETURNS TABLE (category text, retryable boolean, remediation text, explanation text)
LANGUAGE c STABLE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'syncopt_classify_failure';
COMMENT ON FUNCTION syncopt.classify_failure(text, text, text) IS
    'Category, retry safety and remediation of a failure: vendor-native code first, then syncopt.failure_pattern.';

CREATE FUNCTION syncopt.classify_runs(since timestamptz DEFAULT now() - interval '1 day')
RETURNS TABLE (run_id bigint, connector_id bigint, finished_at timestamptz, category text,
               retryable boolean, remediation text, explanation text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_classify_runs';
COMMENT ON FUNCTION syncopt.classify_runs(timestamptz) IS
    'classify_failure() applied to every failed run that finished since `since`.';

CREATE FUNCTION syncopt.schema_drift()
RETURNS TABLE (connector_id bigint, schema_name text, table_name text, column_name text,
               change text, expected_type text, observed_type text, breaking boolean,
               affected_assets text[], suggested_fix text, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_schema_drift';
COMMENT ON FUNCTION syncopt.schema_drift() IS
    'Each connector''s latest schema snapshot against its data contract: added, removed and retyped columns and tables.';

CREATE FUNCTION syncopt.simulate(policy text, horizon interval DEFAULT '7 days', seed integer DEFAULT 1,
                                 start_at timestamptz DEFAULT now(),
                                 auto_suspend interval DEFAULT '5 minutes',
                                 noise double precision DEFAULT 1)
RETURNS TABLE (policy text, seed integer, deadlines integer, sla_misses integer,
               weighted_misses double precision, weighted_tardiness_h double precision,
               p95_lateness interval, syncs integer, failed_syncs integer, wasted_syncs integer,
               load_window_syncs integer, credits double precision,
               lb_sla_misses integer, lb_weighted_misses double precision,
               lb_weighted_tardiness_h double precision, lb_syncs integer,
               slot_bound_sla_misses integer, slot_bound_weighted_misses double precision, reason text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_simulate';
COMMENT ON FUNCTION syncopt.simulate(text, interval, integer, timestamptz, interval, double precision) IS
    'What-if replay of the fleet over a horizon under a policy (static, fifo, edf, syncopt) with the same random numbers for every policy, and a lower bound.';

CREATE FUNCTION syncopt.simulate_world(horizon interval DEFAULT '7 days', seed integer DEFAULT 1,
                                       start_at timestamptz DEFAULT now(),
                                       noise double precision DEFAULT 1)
RETURNS jsonb
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'syncopt_simulate_world';
COMMENT ON FUNCTION syncopt.simulate_world(interval, integer, timestamptz, double precision) IS
    'The world simulate() replays with the same arguments (deadlines and what each needs, each day''s sync durations, failure odds, outages, forbidding windows, vendor schedules), for checking schedules outside the server.';
-- Executing approved decisions: the vendor request of each action, the
-- executor's claim / record / recovery steps, and the circuit breaker.
--
-- The executor worker (src/executor.c) owns the HTTP; everything about
-- what a request looks like and what its answer means lives here, so that
-- it can be read, tested from SQL and changed without touching C.

CREATE TABLE syncopt.circuit_breaker (
    breaker_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector_id bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    opened_at    timestamptz NOT NULL DEFAULT now(),
    failures     integer NOT NULL,
    last_error   text,
    closed_at    timestamptz,
    closed_by    name,
    CONSTRAINT circuit_breaker_closed_stamped CHECK ((closed_at IS NULL) = (closed_by IS NULL))
);
COMMENT ON TABLE syncopt.circuit_breaker IS
    'Opened after syncopt.breaker_threshold consecutive failed executions on a connector; while open, auto mode drops to co-pilot. Close with syncopt.reset_breaker().';
CREATE UNIQUE INDEX circuit_breaker_open_idx ON syncopt.circuit_breaker (connector_id) WHERE closed_at IS NULL;

-- The vendor request of a decision: method, path under the account's
-- base_url, and JSON body, exactly as the vendors' OpenAPI files define
-- them.  notify has no vendor request (method NULL): its body is the
-- message the executor hands to the notification channels.
CREATE FUNCTION syncopt.render_request(decision_id bigint, OUT method text, OUT path text, OUT body jsonb)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d      record;
    id     text;
    source text;
BEGIN
    SELECT l.vendor, l.action, l.params, c.external_id, c.raw->>'sourceId' AS source_id
      INTO d
      FROM syncopt.fivetran_sync_ai_logs l JOIN syncopt.connector c USING (connector_id)
     WHERE l.decision_id = render_request.decision_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decision % does not exist', coalesce(render_request.decision_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    -- Ids go into URL paths: anything but the vendors' id alphabet is refused
    -- rather than escaped, so that no id can reach another endpoint.
    id := d.external_id;
    IF id !~ '^[A-Za-z0-9._~-]+$' OR id ~ '^\.+$' THEN
        RAISE EXCEPTION 'connector id "%" cannot be used in a request path', id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Vendor ids contain only letters, digits, ".", "_", "~" and "-", and are not dots alone.';
    END IF;
    PERFORM syncopt.validate_action_params(d.vendor, d.action, d.params);

    IF d.action = 'notify' THEN
        body := jsonb_build_object('message', coalesce(d.params->>'message', 'no message'),
                                   'severity', coalesce(d.params->>'severity', 'warning'));
        RETURN;
    END IF;

    IF d.vendor = 'fivetran' THEN
        CASE d.action
            WHEN 'trigger_sync' THEN
                method := 'POST'; path := format('/v1/connections/%s/sync', id);
                body := jsonb_build_object('force', coalesce((d.params->>'force')::boolean, false));
            WHEN 'pause', 'resume' THEN
                method := 'PATCH'; path := format('/v1/connections/%s', id);
                body := jsonb_build_object('paused', d.action = 'pause');
            WHEN 'set_schedule' THEN
                method := 'PATCH'; path := format('/v1/connections/%s', id);
                body := d.params;
            WHEN 'resync_tables' THEN
                method := 'POST'; path := format('/v1/connections/%s/schemas/tables/resync', id);
                body := d.params->'tables';
            WHEN 'resync_connector' THEN
                method := 'POST'; path := format('/v1/connections/%s/resync', id);
                body := CASE WHEN d.params ? 'scope' THEN jsonb_build_object('scope', d.params->'scope')
                             ELSE '{}' END;
        END CASE;
    ELSE
        CASE d.action
            WHEN 'trigger_sync' THEN
                method := 'POST'; path := '/jobs';
                body := jsonb_build_object('connectionId', id, 'jobType', 'sync');
            WHEN 'pause', 'resume' THEN
                method := 'PATCH'; path := format('/connections/%s', id);
                body := jsonb_build_object('status', CASE d.action WHEN 'pause' THEN 'inactive' ELSE 'active' END);
            WHEN 'set_schedule' THEN
                method := 'PATCH'; path := format('/connections/%s', id);
                body := jsonb_build_object('schedule', jsonb_strip_nulls(jsonb_build_object(
                            'scheduleType', d.params->>'schedule_type',
                            'cronExpression', d.params->>'cron_expression')));
            WHEN 'set_batch_size' THEN
                source := d.source_id;
                IF source IS NULL OR source !~ '^[A-Za-z0-9-]+$' THEN
                    RAISE EXCEPTION 'Airbyte connection % has no usable sourceId', id
                        USING ERRCODE = 'object_not_in_prerequisite_state',
                              HINT = 'The collector records sourceId from GET /connections; poll the account first.';
                END IF;
                method := 'PATCH'; path := format('/sources/%s', source);
                body := jsonb_build_object('configuration', jsonb_build_object('batch_size', (d.params->>'batch_size')::integer));
        END CASE;
    END IF;
END
$$;
COMMENT ON FUNCTION syncopt.render_request(bigint) IS
    'The vendor call of a decision: method, path under the account''s base_url, JSON body (notify: no call, the message).';

-- What a decision that succeeded changed, applied to the connector at once
-- so that the next planning run does not propose it again before the
-- collector's next poll confirms it.
CREATE FUNCTION syncopt.apply_decision(d syncopt.fivetran_sync_ai_logs) RETURNS void
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    UPDATE syncopt.connector c SET
        paused = CASE d.action WHEN 'pause' THEN true WHEN 'resume' THEN false ELSE c.paused END,
        schedule_minutes = CASE WHEN d.action = 'set_schedule' AND d.params ? 'sync_frequency'
                                THEN (d.params->>'sync_frequency')::integer ELSE c.schedule_minutes END,
        schedule_type = CASE WHEN d.action = 'set_schedule' AND d.params ? 'schedule_type'
                             THEN d.params->>'schedule_type' ELSE c.schedule_type END,
        daily_sync_time = CASE WHEN d.action = 'set_schedule' AND d.params ? 'daily_sync_time'
                               THEN (d.params->>'daily_sync_time')::time ELSE c.daily_sync_time END,
        cron_expression = CASE WHEN d.action = 'set_schedule' AND d.vendor = 'airbyte'
                               THEN d.params->>'cron_expression' ELSE c.cron_expression END,
        batch_size = CASE WHEN d.action = 'set_batch_size'
                          THEN (d.params->>'batch_size')::integer ELSE c.batch_size END
     WHERE c.connector_id = d.connector_id
       AND d.action IN ('pause', 'resume', 'set_schedule', 'set_batch_size')
$$;

-- Claim up to batch_size approved decisions that are due, in attempt
-- order, skipping rows another executor holds.  Each claimed row is moved
-- to executing (one more attempt counted before the call is made, so that
-- a crash leaves a row saying a call may have gone out) and its request is
-- returned.  A row whose request cannot be built fails here, alone; a
-- notify row is handed to the notification queue and succeeds.
CREATE FUNCTION syncopt.executor_claim(batch_size integer DEFAULT 100)
RETURNS TABLE (decision_id bigint, account_id bigint, method text, path text, body text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d   syncopt.fivetran_sync_ai_logs;
    req record;
BEGIN
    FOR d IN
        SELECT * FROM syncopt.fivetran_sync_ai_logs l
         WHERE l.status = 'approved'
           AND coalesce(l.next_attempt_at, '-infinity') <= now()
           AND coalesce(l.not_before, '-infinity') <= now()
         ORDER BY l.next_attempt_at NULLS FIRST, l.decision_id
         LIMIT batch_size
           FOR UPDATE SKIP LOCKED
    LOOP
        BEGIN
            req := syncopt.render_request(d.decision_id);
        EXCEPTION WHEN OTHERS THEN
            UPDATE syncopt.fivetran_sync_ai_logs l SET status = 'executing', started_at = now()
             WHERE l.decision_id = d.decision_id;
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'failed', finished_at = now(), error = 'cannot build the vendor request: ' || SQLERRM
             WHERE l.decision_id = d.decision_id;
            CONTINUE;
        END;

        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'executing', started_at = now(), attempts = l.attempts + 1, next_attempt_at = NULL
         WHERE l.decision_id = d.decision_id;
        IF req.method IS NULL THEN
            INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
            VALUES ('notice', d.connector_id, req.body->>'severity', req.body->>'message',
                    jsonb_build_object('decision_id', d.decision_id));
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'succeeded', finished_at = now(), response = jsonb_build_object('queued_notification', true)
             WHERE l.decision_id = d.decision_id;
            CONTINUE;
        END IF;
        decision_id := d.decision_id;
        account_id := d.account_id;
        method := req.method;
        path := req.path;
        body := req.body::text;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION syncopt.executor_claim(integer) IS
    'Executor: moves due approved decisions to executing and returns their vendor requests (notify rows are queued as alerts).';

-- A response body as jsonb: the JSON itself, or the first 2,000 characters
-- of anything else under "body".
CREATE FUNCTION syncopt.response_jsonb(body text) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF body IS NULL OR body = '' THEN
        RETURN NULL;
    END IF;
    RETURN body::jsonb;
EXCEPTION WHEN invalid_text_representation THEN
    RETURN jsonb_build_object('body', left(body, 2000));
END
$$;

-- Open the connector's breaker when its last breaker_threshold executions
-- all failed, with an alert; returns whether it opened now.
CREATE FUNCTION syncopt.check_breaker(connector_id bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    threshold integer := current_setting('syncopt.breaker_threshold')::integer;
    recent    text[];
    last_err  text;
BEGIN
    SELECT array_agg(l.status ORDER BY l.finished_at DESC), (array_agg(l.error ORDER BY l.finished_at DESC))[1]
      INTO recent, last_err
      FROM (SELECT l.status, l.error, l.finished_at FROM syncopt.fivetran_sync_ai_logs l
             WHERE l.connector_id = check_breaker.connector_id
               AND l.status IN ('succeeded', 'failed') AND l.action <> 'notify'
               AND l.finished_at > coalesce((SELECT max(b.closed_at) FROM syncopt.circuit_breaker b
                                             WHERE b.connector_id = check_breaker.connector_id), '-infinity')
             ORDER BY l.finished_at DESC LIMIT threshold) l;
    IF coalesce(cardinality(recent), 0) < threshold OR 'succeeded' = ANY (recent)
       OR EXISTS (SELECT FROM syncopt.circuit_breaker b
                   WHERE b.connector_id = check_breaker.connector_id AND b.closed_at IS NULL) THEN
        RETURN false;
    END IF;
    INSERT INTO syncopt.circuit_breaker (connector_id, failures, last_error)
    VALUES (check_breaker.connector_id, threshold, last_err);
    INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
    VALUES ('circuit_open', check_breaker.connector_id, 'critical',
            format('Circuit breaker opened for connector %s after %s failed executions in a row; auto mode is suspended (co-pilot) until an admin runs syncopt.reset_breaker(%s). Last error: %s',
                   check_breaker.connector_id, threshold, check_breaker.connector_id, coalesce(last_err, 'none')),
            jsonb_build_object('failures', threshold));
    RETURN true;
END
$$;

-- Record the outcome of a call: 2xx succeeds (and the connector is
-- updated); a retryable failure (transport, 429, 5xx) goes back to
-- approved for next_attempt_at while attempts remain; anything else fails
-- with the vendor's message kept.  Returns the new status.
CREATE FUNCTION syncopt.executor_record(decision_id bigint, http_status integer, response text,
    error text, calls integer, retryable boolean, retry_after_s integer)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d        syncopt.fivetran_sync_ai_logs;
    reply    jsonb := syncopt.response_jsonb(response);
    tries    integer;
    max_tries integer := current_setting('syncopt.executor_max_attempts')::integer;
    why      text := error;
    wait     interval;
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.decision_id = executor_record.decision_id FOR UPDATE;
    IF NOT FOUND OR d.status <> 'executing' THEN
        RETURN d.status;
    END IF;
    -- The claim counted one call; the transport may have made more.
    tries := d.attempts + greatest(coalesce(calls, 1) - 1, 0);

    IF why IS NULL AND http_status BETWEEN 200 AND 299 THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'succeeded', finished_at = now(), attempts = tries,
               http_status = executor_record.http_status, response = reply, error = NULL
         WHERE l.decision_id = d.decision_id
        RETURNING * INTO d;
        PERFORM syncopt.apply_decision(d);
        RETURN 'succeeded';
    END IF;

    IF why IS NULL THEN
        why := format('HTTP %s from %s: %s', http_status, d.vendor,
                      coalesce(reply->>'message', reply->>'detail', reply->>'title', reply->>'body', 'no message'));
    END IF;
    IF retryable AND tries < max_tries THEN
        wait := make_interval(secs => coalesce(nullif(retry_after_s, -1),
                                               least(600, 5 * power(2, least(tries, 10) - 1))));
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'approved', attempts = tries, next_attempt_at = now() + wait,
               http_status = executor_record.http_status, response = reply,
               error = format('%s; attempt %s of %s, next at %s', why, tries, max_tries, now() + wait)
         WHERE l.decision_id = d.decision_id;
        RETURN 'approved';
    END IF;

    UPDATE syncopt.fivetran_sync_ai_logs l
       SET status = 'failed', finished_at = now(), attempts = tries,
           http_status = executor_record.http_status, response = reply,
           error = CASE WHEN retryable THEN format('%s; gave up after %s attempts', why, tries) ELSE why END
     WHERE l.decision_id = d.decision_id;
    PERFORM syncopt.check_breaker(d.connector_id);
    RETURN 'failed';
END
$$;
COMMENT ON FUNCTION syncopt.executor_record(bigint, integer, text, text, integer, boolean, integer) IS
    'Executor: records a vendor call''s outcome (succeeded, approved again for a retry, or failed) and returns the new status.';

-- After the executor stopped (crash, kill, immediate shutdown), settle the
-- rows it left executing.  Changes that are safe to repeat (PATCH of
-- pause, resume, schedule, batch size) go back to approved and are sent
-- again, the row saying so.  A re-sync is never repeated blindly: unknown,
-- for a human.  A trigger_sync is returned with the request that checks
-- the connector's state at the vendor (executor_reconciled() judges it).
CREATE FUNCTION syncopt.executor_recover()
RETURNS TABLE (decision_id bigint, account_id bigint, method text, path text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d syncopt.fivetran_sync_ai_logs;
    c syncopt.connector;
BEGIN
    FOR d IN SELECT * FROM syncopt.fivetran_sync_ai_logs l WHERE l.status = 'executing'
              ORDER BY l.decision_id FOR UPDATE
    LOOP
        SELECT * INTO c FROM syncopt.connector WHERE connector_id = d.connector_id;
        IF d.action IN ('pause', 'resume', 'set_schedule', 'set_batch_size') THEN
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'approved', next_attempt_at = NULL,
                   error = format('the executor stopped during attempt %s; this change is safe to repeat, so it is sent again', d.attempts)
             WHERE l.decision_id = d.decision_id;
        ELSIF d.action = 'trigger_sync' AND c.external_id ~ '^[A-Za-z0-9._~-]+$' AND c.external_id !~ '^\.+$' THEN
            decision_id := d.decision_id;
            account_id := d.account_id;
            method := 'GET';
            path := CASE d.vendor
                        WHEN 'fivetran' THEN format('/v1/connections/%s', c.external_id)
                        ELSE format('/jobs?connectionId=%s&jobType=sync&limit=1&createdAtStart=%s', c.external_id,
                                    to_char((d.started_at - interval '5 minutes') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
                    END;
            RETURN NEXT;
        ELSE
            UPDATE syncopt.fivetran_sync_ai_logs l
               SET status = 'unknown',
                   error = format('the executor stopped during attempt %s of this %s; whether %s acted is not known. Check the connector at the vendor, then set status to succeeded, failed, or approved to send it again (docs/approvals.md, "Unknown outcomes").',
                                  d.attempts, d.action, initcap(d.vendor))
             WHERE l.decision_id = d.decision_id;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION syncopt.executor_recover() IS
    'Executor, at start: re-queues safe-to-repeat calls left executing, marks re-syncs unknown, returns the state checks of trigger_sync rows.';

-- Judge a trigger_sync left executing from the connector's state at the
-- vendor: a sync started since the claim means the call arrived
-- (succeeded); none means it did not, and sending it again is safe (a
-- Fivetran sync with force false, an Airbyte job, never doubles a running
-- one); a failed check leaves the row unknown.
CREATE FUNCTION syncopt.executor_reconciled(decision_id bigint, http_status integer, response text, error text)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d        syncopt.fivetran_sync_ai_logs;
    reply    jsonb := syncopt.response_jsonb(response);
    evidence text;
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.decision_id = executor_reconciled.decision_id FOR UPDATE;
    IF NOT FOUND OR d.status <> 'executing' THEN
        RETURN d.status;
    END IF;
    IF error IS NOT NULL OR http_status NOT BETWEEN 200 AND 299 OR jsonb_typeof(reply) <> 'object' THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'unknown',
               error = format('the executor stopped during this trigger_sync and checking the connector failed (%s); whether the sync was triggered is not known',
                              coalesce(error, 'HTTP ' || http_status))
         WHERE l.decision_id = d.decision_id;
        RETURN 'unknown';
    END IF;

    IF d.vendor = 'fivetran' THEN
        SELECT CASE
                 WHEN reply #>> '{data,status,sync_state}' = 'syncing' THEN 'the connection is syncing'
                 WHEN (reply #>> '{data,succeeded_at}')::timestamptz >= d.started_at THEN 'a sync succeeded at ' || (reply #>> '{data,succeeded_at}')
                 WHEN (reply #>> '{data,failed_at}')::timestamptz >= d.started_at THEN 'a sync failed at ' || (reply #>> '{data,failed_at}')
               END INTO evidence;
    ELSIF jsonb_typeof(reply->'data') = 'array' AND jsonb_array_length(reply->'data') > 0 THEN
        evidence := format('job %s was created at %s', reply #>> '{data,0,jobId}', reply #>> '{data,0,startTime}');
    END IF;

    IF evidence IS NOT NULL THEN
        UPDATE syncopt.fivetran_sync_ai_logs l
           SET status = 'succeeded', finished_at = now(),
               response = jsonb_build_object('reconciled', true, 'evidence', evidence),
               error = 'the executor stopped during the call; reconciled: ' || evidence
         WHERE l.decision_id = d.decision_id;
        RETURN 'succeeded';
    END IF;
    UPDATE syncopt.fivetran_sync_ai_logs l
       SET status = 'approved', next_attempt_at = NULL,
           error = format('the executor stopped during attempt %s; %s shows no sync since %s, so the trigger is sent again',
                          d.attempts, initcap(d.vendor), d.started_at)
     WHERE l.decision_id = d.decision_id;
    RETURN 'approved';
END
$$;
COMMENT ON FUNCTION syncopt.executor_reconciled(bigint, integer, text, text) IS
    'Executor: settles a trigger_sync left executing from the vendor''s view of the connector (succeeded, approved again, or unknown).';

-- Close a connector's open circuit breaker (admin): auto mode resumes.
CREATE FUNCTION syncopt.reset_breaker(connector_id bigint) RETURNS boolean
LANGUAGE sql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
    WITH closed AS (
        UPDATE syncopt.circuit_breaker b
           SET closed_at = pg_catalog.now(), closed_by = session_user
         WHERE b.connector_id OPERATOR(pg_catalog.=) reset_breaker.connector_id AND b.closed_at IS NULL
        RETURNING 1)
    SELECT pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 FROM closed
$$;
COMMENT ON FUNCTION syncopt.reset_breaker(bigint) IS
    'Closes the connector''s open circuit breaker (auto mode resumes); returns whether one was open.';
-- Notifications: channels (Slack incoming webhooks, generic webhooks), the
-- delivery queue the executor works through, and the daily digest.

CREATE TABLE syncopt.notification_channel (
    channel_id   bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    name         text NOT NULL CONSTRAINT notification_channel_name_unique UNIQUE,
    kind         text NOT NULL CONSTRAINT notification_channel_kind_known CHECK (kind IN ('slack', 'webhook')),
    -- A Slack webhook URL is a secret: only the owner can read this column.
    url          text NOT NULL CONSTRAINT notification_channel_url_http CHECK (url ~ '^https?://[^/?#]+'),
    alert_kinds  text[],        -- NULL: every kind
    min_severity text NOT NULL DEFAULT 'warning'
                 CONSTRAINT notification_channel_min_severity_known CHECK (min_severity IN ('info', 'warning', 'critical')),
    enabled      boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE syncopt.notification_channel IS
    'Where alerts go: a Slack incoming webhook or a generic webhook (JSON POST). Alerts raised after the channel was created are delivered to it.';

CREATE TABLE syncopt.notification_delivery (
    alert_id        bigint NOT NULL REFERENCES syncopt.alert ON DELETE CASCADE,
    channel_id      bigint NOT NULL REFERENCES syncopt.notification_channel ON DELETE CASCADE,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    last_status     integer,
    last_error      text,
    PRIMARY KEY (alert_id, channel_id)
);
COMMENT ON TABLE syncopt.notification_delivery IS
    'One alert to one channel: attempts, when it arrived, or why it was given up (after syncopt.notification_max_attempts).';
CREATE INDEX notification_delivery_pending_idx ON syncopt.notification_delivery (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- Channels as admins and readers see them: everything but the URL.
CREATE VIEW syncopt.notification_channel_status AS
SELECT ch.channel_id, ch.name, ch.kind, ch.alert_kinds, ch.min_severity, ch.enabled, ch.created_at,
       regexp_replace(ch.url, '^(https?://[^/?#]+).*$', '\1/...') AS destination,
       count(d.*) FILTER (WHERE d.delivered_at IS NOT NULL) AS delivered,
       count(d.*) FILTER (WHERE d.gave_up_at IS NOT NULL) AS given_up,
       count(d.*) FILTER (WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL) AS pending,
       max(d.last_error) FILTER (WHERE d.gave_up_at IS NOT NULL OR d.delivered_at IS NULL) AS last_error
  FROM syncopt.notification_channel ch
  LEFT JOIN syncopt.notification_delivery d USING (channel_id)
 GROUP BY ch.channel_id;
COMMENT ON VIEW syncopt.notification_channel_status IS
    'Notification channels without their (secret) URLs, with delivery counts and the last error.';

-- The body a channel receives for an alert.  Slack gets its incoming-
-- webhook shape ({"text": ...}); a generic webhook gets the alert as JSON.
CREATE FUNCTION syncopt.notification_body(a syncopt.alert, kind text) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE kind
        WHEN 'slack' THEN pg_catalog.jsonb_build_object('text',
            pg_catalog.format('%s syncopt %s: %s',
                CASE a.severity WHEN 'critical' THEN ':rotating_light:' WHEN 'warning' THEN ':warning:' ELSE ':information_source:' END,
                pg_catalog.replace(a.kind, '_', ' '), a.message))
        ELSE pg_catalog.jsonb_build_object('source', 'syncopt', 'alert_id', a.alert_id, 'kind', a.kind,
            'severity', a.severity, 'connector_id', a.connector_id, 'asset_id', a.asset_id,
            'message', a.message, 'details', a.details, 'created_at', a.created_at)
    END
$$;

-- Queue new alerts for the channels that want them, then claim due
-- deliveries (one more attempt counted first: delivery is at least once).
CREATE FUNCTION syncopt.notification_claim(batch_size integer DEFAULT 100)
RETURNS TABLE (alert_id bigint, channel_id bigint, channel text, url text, body text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    INSERT INTO syncopt.notification_delivery (alert_id, channel_id)
    SELECT a.alert_id, ch.channel_id
      FROM syncopt.alert a
      JOIN syncopt.notification_channel ch
        ON ch.enabled AND a.created_at >= ch.created_at
       AND (ch.alert_kinds IS NULL OR a.kind = ANY (ch.alert_kinds))
       AND array_position(ARRAY['info', 'warning', 'critical'], a.severity)
           >= array_position(ARRAY['info', 'warning', 'critical'], ch.min_severity)
     WHERE a.delivered_at IS NULL
    ON CONFLICT DO NOTHING;

    RETURN QUERY
    WITH due AS (
        SELECT d.alert_id, d.channel_id FROM syncopt.notification_delivery d
          JOIN syncopt.notification_channel ch USING (channel_id)
         WHERE d.delivered_at IS NULL AND d.gave_up_at IS NULL AND d.next_attempt_at <= now() AND ch.enabled
         ORDER BY d.next_attempt_at, d.alert_id
         LIMIT batch_size
           FOR UPDATE OF d SKIP LOCKED),
    claimed AS (
        UPDATE syncopt.notification_delivery d SET attempts = d.attempts + 1
          FROM due WHERE (d.alert_id, d.channel_id) = (due.alert_id, due.channel_id)
        RETURNING d.alert_id, d.channel_id)
    SELECT c.alert_id, c.channel_id, ch.name, ch.url, syncopt.notification_body(a, ch.kind)::text
      FROM claimed c
      JOIN syncopt.alert a USING (alert_id)
      JOIN syncopt.notification_channel ch USING (channel_id);
END
$$;

-- Record a delivery attempt: 2xx delivered; otherwise retried with
-- back-off until syncopt.notification_max_attempts, then given up.  The
-- alert counts as delivered once no channel is still trying.
CREATE FUNCTION syncopt.notification_record(alert_id bigint, channel_id bigint, http_status integer, error text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    max_tries integer := current_setting('syncopt.notification_max_attempts')::integer;
    ok        boolean := error IS NULL AND http_status BETWEEN 200 AND 299;
    why       text := coalesce(error, 'HTTP ' || http_status);
BEGIN
    UPDATE syncopt.notification_delivery d
       SET delivered_at = CASE WHEN ok THEN now() END,
           gave_up_at = CASE WHEN NOT ok AND d.attempts >= max_tries THEN now() END,
           next_attempt_at = now() + make_interval(secs => least(3600, 10 * power(2, least(d.attempts, 12) - 1))),
           last_status = http_status,
           last_error = CASE WHEN ok THEN NULL ELSE why END
     WHERE (d.alert_id, d.channel_id) = (notification_record.alert_id, notification_record.channel_id);

    UPDATE syncopt.alert a
       SET delivery_attempts = a.delivery_attempts + 1,
           last_delivery_error = CASE WHEN ok THEN a.last_delivery_error ELSE why END,
           delivered_at = CASE WHEN NOT EXISTS (
                              SELECT FROM syncopt.notification_delivery d
                               WHERE d.alert_id = a.alert_id AND d.delivered_at IS NULL AND d.gave_up_at IS NULL)
                          THEN now() END
     WHERE a.alert_id = notification_record.alert_id;
END
$$;

-- The daily digest an approver reads: what waits for them, what was done,
-- what is at risk, what failed and why, what looked odd.
CREATE FUNCTION syncopt.digest(since timestamptz DEFAULT now() - interval '1 day')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    out  text;
    line text;
    n    bigint;
BEGIN
    IF since IS NULL OR since > now() THEN
        RAISE EXCEPTION 'since must be a time in the past'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', coalesce(since::text, 'NULL'));
    END IF;
    out := format('syncopt digest since %s', to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'));

    SELECT count(*) INTO n FROM syncopt.pending_approvals;
    out := out || E'\n\n' || format('Waiting for approval: %s', n);
    FOR line IN
        SELECT format('  #%s %s on %s (%sscore %s, expires %s): %s', p.decision_id, p.action, p.connector,
                      CASE WHEN p.act_by IS NULL THEN ''
                           ELSE 'act by ' || to_char(p.act_by AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') || ', ' END,
                      coalesce(round(p.priority_score::numeric, 2)::text, '-'),
                      to_char(p.expires_at AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), p.reason)
          FROM syncopt.pending_approvals p
         ORDER BY p.act_by NULLS LAST, p.priority_score DESC NULLS LAST, p.decision_id LIMIT 10
    LOOP
        out := out || E'\n' || line;
    END LOOP;

    SELECT string_agg(format('%s %s', cnt, status), ', ' ORDER BY status) INTO line
      FROM (SELECT l.status, count(*) AS cnt FROM syncopt.fivetran_sync_ai_logs l
             WHERE l.finished_at >= since OR (l.status = 'unknown' AND l.updated_at >= since)
             GROUP BY l.status) s;
    out := out || E'\n\n' || 'Executed: ' || coalesce(line, 'nothing');
    FOR line IN
        SELECT format('  #%s %s on %s %s: %s', l.decision_id, l.action, coalesce(c.name, c.external_id),
                      l.status, coalesce(l.error, '-'))
          FROM syncopt.fivetran_sync_ai_logs l JOIN syncopt.connector c USING (connector_id)
         WHERE l.status IN ('failed', 'unknown') AND coalesce(l.finished_at, l.updated_at) >= since
         ORDER BY l.decision_id LIMIT 10
    LOOP
        out := out || E'\n' || line;
    END LOOP;

    out := out || E'\n\nSLA at risk:';
    n := 0;
    FOR line IN
        SELECT format('  %s due %s, predicted ready %s (%s risk): %s', a.name,
                      to_char(r.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                      coalesce(to_char(r.predicted_ready AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), 'unknown'),
                      r.risk, r.reason)
          FROM syncopt.sla_risk(now()) r JOIN syncopt.asset a USING (asset_id)
         WHERE r.at_risk
         ORDER BY r.deadline, a.name LIMIT 10
    LOOP
        out := out || E'\n' || line;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        out := out || ' none';
    END IF;

    out := out || E'\n\nFailed syncs:';
    n := 0;
    FOR line IN
        SELECT format('  %s: %s failure(s), %s (%s). %s', coalesce(c.name, c.external_id), count(*), f.category,
                      CASE WHEN bool_and(f.retryable) THEN 'retry is safe' ELSE 'needs a human' END,
                      max(f.remediation))
          FROM syncopt.classify_runs(since) f JOIN syncopt.connector c USING (connector_id)
         GROUP BY c.connector_id, c.name, c.external_id, f.category
         ORDER BY count(*) DESC, 1 LIMIT 10
    LOOP
        out := out || E'\n' || line;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        out := out || ' none';
    END IF;

    SELECT count(*) INTO n FROM syncopt.anomalies(since);
    out := out || E'\n\n' || format('Anomalies: %s', n);
    SELECT count(*) INTO n FROM syncopt.circuit_breaker WHERE closed_at IS NULL;
    out := out || E'\n' || format('Open circuit breakers: %s', n);
    RETURN out;
END
$$;
COMMENT ON FUNCTION syncopt.digest(timestamptz) IS
    'A plain-text digest for approvers: pending approvals, executed actions, SLAs at risk, classified failures, anomalies, open breakers.';
-- Planning runs: the analytics become decisions under each connector's
-- policy and the auto-mode guardrails; pg_cron scheduling; rollback.

CREATE TABLE syncopt.planner_run (
    planner_run_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL,            -- the instant planned for
    started_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at    timestamptz,
    run_by         name NOT NULL DEFAULT session_user,
    candidates     integer NOT NULL DEFAULT 0,      -- actions the analytics suggested
    written        integer NOT NULL DEFAULT 0,      -- decisions written (all modes)
    auto_approved  integer NOT NULL DEFAULT 0,
    refused        integer NOT NULL DEFAULT 0,      -- auto mode held back by a guardrail
    unchanged      integer NOT NULL DEFAULT 0,      -- same as an open or recent decision
    not_allowed    integer NOT NULL DEFAULT 0,      -- outside the policy (allowed_actions, protect, bounds)
    superseded     integer NOT NULL DEFAULT 0,
    alerts         integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE syncopt.planner_run IS
    'One row per completed planning run with what it did; a run that fails rolls back and leaves no row (pg_cron''s cron.job_run_details keeps its error).';
CREATE INDEX planner_run_started_idx ON syncopt.planner_run (started_at);

-- The latest planning run's plan and SLA forecast, kept so that dashboards
-- (plan_timeline, sla_status) read rows instead of re-planning the fleet.
CREATE TABLE syncopt.planned_sync (
    planner_run_id bigint NOT NULL REFERENCES syncopt.planner_run ON DELETE CASCADE,
    connector_id   bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    planned_start  timestamptz,
    predicted_end  timestamptz,
    deadline       timestamptz,
    slack          interval,
    will_miss      boolean NOT NULL,
    action         text NOT NULL,
    priority       integer,
    reason         text NOT NULL,
    PRIMARY KEY (planner_run_id, connector_id)
);
COMMENT ON TABLE syncopt.planned_sync IS
    'plan() as the latest planning run computed it; replaced by each run.';
CREATE TABLE syncopt.sla_forecast (
    planner_run_id      bigint NOT NULL REFERENCES syncopt.planner_run ON DELETE CASCADE,
    asset_id            bigint NOT NULL REFERENCES syncopt.asset ON DELETE CASCADE,
    deadline            timestamptz,
    predicted_ready     timestamptz,
    at_risk             boolean NOT NULL,
    risk                text NOT NULL,
    blocking_connectors bigint[] NOT NULL,
    reason              text NOT NULL,
    PRIMARY KEY (planner_run_id, asset_id)
);
COMMENT ON TABLE syncopt.sla_forecast IS
    'sla_risk() as the latest planning run computed it; replaced by each run.';
CREATE TABLE syncopt.anomaly_snapshot (
    planner_run_id bigint NOT NULL REFERENCES syncopt.planner_run ON DELETE CASCADE,
    run_id         bigint NOT NULL REFERENCES syncopt.sync_run ON DELETE CASCADE,
    connector_id   bigint NOT NULL REFERENCES syncopt.connector ON DELETE CASCADE,
    metric         text NOT NULL,
    observed       double precision,
    expected       double precision,
    score          double precision,
    direction      text,
    reason         text NOT NULL,
    PRIMARY KEY (planner_run_id, run_id, metric)
);
COMMENT ON TABLE syncopt.anomaly_snapshot IS
    'anomalies() of the 24 hours before the latest planning run; replaced by each run.';
-- The planner raises one alert per failed run and per SLA deadline.
CREATE INDEX alert_failure_run_idx ON syncopt.alert (((details->>'run_id')::bigint)) WHERE kind = 'sync_failure';
CREATE INDEX alert_sla_asset_idx ON syncopt.alert (asset_id) WHERE kind = 'sla_risk';

-- When the vendor's own schedule will next start the connector, from its
-- last start; infinity when it never will on its own (paused, manual, or a
-- cron schedule syncopt does not model: only daily Quartz "0 M H * * ?").
CREATE FUNCTION syncopt.vendor_next_start(conn syncopt.connector, last_start timestamptz, at timestamptz)
RETURNS timestamptz
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN conn.paused OR conn.schedule_type = 'manual' THEN 'infinity'::timestamptz
        WHEN conn.schedule_type = 'cron' THEN coalesce(
            syncopt.next_local_time(make_time((m[2])::integer, (m[1])::integer, 0), '*', 'UTC', at),
            'infinity'::timestamptz)
        WHEN conn.schedule_minutes = 1440 AND conn.daily_sync_time IS NOT NULL
            THEN syncopt.next_local_time(conn.daily_sync_time, '*', 'UTC', at)
        WHEN conn.schedule_minutes IS NULL THEN 'infinity'::timestamptz
        ELSE greatest(at, coalesce(last_start, at) + make_interval(mins => conn.schedule_minutes))
    END
      FROM (SELECT regexp_match(coalesce(conn.cron_expression, ''),
                                '^0 ([0-5]?[0-9]) ([01]?[0-9]|2[0-3]) \* \* \?( UTC)?$') AS m) cron
$$;
COMMENT ON FUNCTION syncopt.vendor_next_start(syncopt.connector, timestamptz, timestamptz) IS
    'Next start the vendor''s schedule will make on its own (infinity: never, or a schedule syncopt does not model).';

-- What the analytics suggest doing at `at`, before policy: one row per
-- connector and action with params, score, components, the predicted
-- benefit where it is a time, and the reason.  run_planner() filters these
-- through policies and guardrails; readers can run it to see why.
CREATE FUNCTION syncopt.planner_candidates(at timestamptz DEFAULT now())
RETURNS TABLE (connector_id bigint, action text, params jsonb, priority_score double precision,
               score_components jsonb, benefit interval, act_by timestamptz, reason text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
WITH knobs AS (
    SELECT current_setting('syncopt.planner_interval')::interval AS tick,
           current_setting('syncopt.planner_min_benefit')::interval AS min_gain,
           current_setting('syncopt.pause_after_failures')::integer AS pause_after
), s AS (
    SELECT s.*, jsonb_build_object(
               'urgency', s.urgency, 'downstream_weight', s.downstream_weight,
               'downstream_assets', s.downstream_assets, 'calendar_multiplier', s.calendar_multiplier,
               'staleness', s.staleness, 'load_penalty', s.load_penalty, 'cost_penalty', s.cost_penalty,
               'failure_risk', s.failure_risk, 'p90', s.p90, 'deadline', s.deadline,
               'latest_start', s.latest_start, 'slack', s.slack) AS components
      FROM syncopt.priority_scores(at) s
), c AS (
    SELECT c, c.connector_id, a.vendor, st.last_run_at, st.consecutive_failures
      FROM syncopt.connector c
      JOIN syncopt.account a USING (account_id)
      LEFT JOIN syncopt.connector_stats st USING (connector_id)
     WHERE c.deleted_at IS NULL
),
-- Start now what must start before the next run to meet its deadline and
-- that the vendor's schedule would start too late.
trigger_now AS (
    SELECT s.connector_id, 'trigger_sync'::text AS action, '{"force": false}'::jsonb AS params, s.score,
           s.components || jsonb_build_object('planned_start', p.planned_start, 'predicted_end', p.predicted_end,
                                              'vendor_next_start', v.next_start),
           least(v.next_start, at + interval '2 days') - s.latest_start AS benefit,
           s.latest_start AS act_by,
           format('Start now: %s, and the vendor schedule would %s. Plan: %s. Score: %s',
                  format(CASE WHEN s.latest_start < at
                              THEN 'it is already late for %2$s (it had to start by %1$s), so every minute counts'
                              ELSE 'it must start by %1$s to be done for %2$s' END,
                         to_char(s.latest_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                         to_char(s.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
                  CASE WHEN v.next_start = 'infinity' THEN 'not start it at all (manual, paused or unmodelled schedule)'
                       ELSE 'start it only at ' || to_char(v.next_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"') END,
                  p.reason, s.reason)
      FROM syncopt.plan(at, interval '24 hours') p
      JOIN s USING (connector_id)
      JOIN c USING (connector_id)
      CROSS JOIN knobs k
      CROSS JOIN LATERAL (SELECT syncopt.vendor_next_start(c.c, c.last_run_at, at) AS next_start) v
     WHERE p.action IN ('start_now', 'start_later')
       AND p.planned_start < at + k.tick
       AND s.latest_start IS NOT NULL AND s.deadline IS NOT NULL
       AND v.next_start > s.latest_start + k.min_gain
       -- A trigger that went out within one P90 is probably still running,
       -- unless a sync has ended since it went out (the one it started
       -- failed, or one already running finished) and none started since
       -- is running: then the next planning run triggers it again.
       AND NOT EXISTS (SELECT FROM syncopt.fivetran_sync_ai_logs l
                        WHERE l.connector_id = s.connector_id AND l.action = 'trigger_sync'
                          AND l.status IN ('approved', 'executing', 'succeeded', 'unknown')
                          AND coalesce(l.finished_at, at) > at - s.p90
                          AND (NOT EXISTS (SELECT FROM syncopt.sync_run r
                                            WHERE r.connector_id = l.connector_id
                                              AND r.finished_at > l.started_at
                                              AND r.finished_at <= at)
                               OR EXISTS (SELECT FROM syncopt.sync_run r
                                           WHERE r.connector_id = l.connector_id AND r.status = 'running'
                                             AND r.started_at > l.started_at AND r.started_at <= at)))
),
-- Move a daily sync out of a priced warehouse window when the deadline it
-- feeds still holds at the new time (SLA over cost).
move_daily AS (
    SELECT c.connector_id, 'set_schedule'::text,
           CASE c.vendor
               WHEN 'fivetran' THEN jsonb_build_object('sync_frequency', 1440, 'daily_sync_time', to_char(nt.t AT TIME ZONE 'UTC', 'HH24:00'))
               ELSE jsonb_build_object('schedule_type', 'cron',
                                       'cron_expression', format('0 0 %s * * ?', extract(hour FROM nt.t AT TIME ZONE 'UTC')))
           END,
           s.score,
           s.components || jsonb_build_object('current_start', v.next_start, 'window', w.name,
                                              'price_multiplier', w.price_multiplier, 'new_start', nt.t),
           sv.saving,
           v.next_start,
           format('Move the daily sync from %s to %s: it now runs inside %s (warehouse price x%s until %s); at the new time %s. Predicted saving: %s min of priced warehouse time.',
                  to_char(v.next_start AT TIME ZONE 'UTC', 'HH24:MI "UTC"'), to_char(nt.t AT TIME ZONE 'UTC', 'HH24:MI "UTC"'),
                  coalesce(w.name, 'a price window'), w.price_multiplier, to_char(w.ends AT TIME ZONE 'UTC', 'HH24:MI "UTC"'),
                  CASE WHEN s.deadline IS NULL THEN 'it feeds no deadline'
                       ELSE format('it is still done by %s for the deadline %s',
                                   to_char((nt.t + s.p90) AT TIME ZONE 'UTC', 'HH24:MI "UTC"'),
                                   to_char(s.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')) END,
                  round(extract(epoch FROM sv.saving) / 60))
      FROM c
      JOIN s USING (connector_id)
      JOIN syncopt.predict_duration(at) pd USING (connector_id)
      CROSS JOIN knobs k
      CROSS JOIN LATERAL (SELECT syncopt.vendor_next_start(c.c, c.last_run_at, at) AS next_start) v
      CROSS JOIN LATERAL (
          SELECT lw.name, lw.price_multiplier, o.ends
            FROM syncopt.load_window lw,
                 LATERAL syncopt.window_occurrences(lw.start_time, lw.end_time, lw.dow, lw.timezone,
                                                    v.next_start, v.next_start + interval '1 second') o
           WHERE lw.target = 'warehouse' AND lw.price_multiplier > 1
           ORDER BY lw.price_multiplier DESC, o.ends DESC LIMIT 1) w
      CROSS JOIN LATERAL (SELECT date_trunc('hour', w.ends + interval '59 minutes 59 seconds') AS t) nt
      -- Priced time saved: the run's minutes inside the window, times the surcharge.
      CROSS JOIN LATERAL (SELECT (least(v.next_start + pd.p50, w.ends) - v.next_start) * (w.price_multiplier - 1) AS saving) sv
     WHERE v.next_start < 'infinity'
       AND ((c.c).schedule_minutes = 1440 OR (c.c).schedule_type = 'cron')
       AND (s.deadline IS NULL OR nt.t + s.p90 <= s.deadline)
       AND sv.saving >= k.min_gain
       AND NOT EXISTS (SELECT FROM syncopt.load_window lw2,
                            LATERAL syncopt.window_occurrences(lw2.start_time, lw2.end_time, lw2.dow, lw2.timezone,
                                                               nt.t, nt.t + interval '1 second') o2
                        WHERE lw2.target = 'warehouse' AND lw2.price_multiplier > 1)
),
-- Pause a connector whose failures need a human: syncing again only fails.
pause_broken AS (
    SELECT c.connector_id, 'pause'::text, '{}'::jsonb, s.score,
           coalesce(s.components, '{}') || jsonb_build_object('consecutive_failures', c.consecutive_failures,
                                                              'category', f.category, 'retryable', f.retryable),
           NULL::interval, NULL::timestamptz,
           format('Pause: the last %s syncs failed, the latest with %s (%s), which a retry cannot fix. %s Resume it once fixed (syncopt proposes that when the vendor reports the setup connected).',
                  c.consecutive_failures, f.category, f.explanation, f.remediation)
      FROM c
      CROSS JOIN knobs k
      LEFT JOIN s USING (connector_id)
      CROSS JOIN LATERAL (SELECT r.error_message, r.error_code FROM syncopt.sync_run r
                           WHERE r.connector_id = c.connector_id AND r.status = 'failed'
                           ORDER BY r.started_at DESC LIMIT 1) last_failure
      CROSS JOIN LATERAL syncopt.classify_failure(last_failure.error_message, last_failure.error_code, c.vendor) f
     WHERE NOT (c.c).paused AND c.consecutive_failures >= k.pause_after AND NOT f.retryable
),
-- Resume a connector syncopt paused once the vendor reports it fixed.
resume_fixed AS (
    SELECT c.connector_id, 'resume'::text, '{}'::jsonb, s.score, s.components, NULL::interval, NULL::timestamptz,
           format('Resume: syncopt paused it with decision %s at %s; %s now reports its setup as connected (details read %s), so the cause looks fixed.',
                  lp.decision_id, to_char(lp.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'),
                  initcap(c.vendor), to_char((c.c).details_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'))
      FROM c
      LEFT JOIN s USING (connector_id)
      CROSS JOIN LATERAL (SELECT l.decision_id, l.action, l.planner_run_id, l.finished_at
                            FROM syncopt.fivetran_sync_ai_logs l
                           WHERE l.connector_id = c.connector_id AND l.action IN ('pause', 'resume')
                             AND l.status = 'succeeded'
                           ORDER BY l.finished_at DESC LIMIT 1) lp
     WHERE (c.c).paused AND lp.action = 'pause' AND lp.planner_run_id IS NOT NULL
       AND (c.c).setup_state = 'connected' AND (c.c).details_at > lp.finished_at
),
-- Re-sync the tables whose columns changed type (Fivetran).
resync_retyped AS (
    SELECT t.connector_id, 'resync_tables'::text,
           jsonb_build_object('tables', jsonb_object_agg(t.schema_name, t.tables)),
           s.score, s.components, NULL::interval, NULL::timestamptz,
           format('Re-sync %s: columns changed type against the data contract (%s), and a table re-sync reloads them with the new types%s.',
                  string_agg(t.names, ', '), string_agg(t.columns, '; '),
                  CASE WHEN bool_or(t.assets IS NOT NULL) THEN ' before ' || string_agg(t.assets, ', ') || ' read them' ELSE '' END)
      FROM (SELECT d.connector_id, d.schema_name,
                   jsonb_agg(DISTINCT d.table_name) AS tables,
                   string_agg(DISTINCT d.schema_name || '.' || d.table_name, ', ') AS names,
                   string_agg(format('%s.%s %s -> %s', d.table_name, d.column_name, d.expected_type, d.observed_type), ', ') AS columns,
                   nullif(array_to_string(array(SELECT DISTINCT unnest(array_agg(x)) FROM unnest(array_agg(d.affected_assets)) x), ', '), '') AS assets
              FROM syncopt.schema_drift() d
             WHERE d.change = 'column_retyped' AND d.table_name IS NOT NULL
             GROUP BY d.connector_id, d.schema_name) t
      JOIN c USING (connector_id)
      LEFT JOIN s USING (connector_id)
     WHERE c.vendor = 'fivetran'
     GROUP BY t.connector_id, s.score, s.components
),
-- Airbyte batch size, when the recommendation is confident and differs.
batch AS (
    SELECT b.connector_id, 'set_batch_size'::text, jsonb_build_object('batch_size', b.recommended_batch_size),
           s.score,
           coalesce(s.components, '{}') || jsonb_build_object('current_batch_size', b.current_batch_size,
                                                              'confidence', b.confidence,
                                                              'expected_rows_per_s', b.expected_rows_per_s),
           NULL::interval, NULL::timestamptz,
           format('Set the batch size to %s (now %s): %s', b.recommended_batch_size,
                  coalesce(b.current_batch_size::text, 'unknown'), b.reason)
      FROM syncopt.batch_recommendations(at) b
      JOIN c USING (connector_id)
      LEFT JOIN s USING (connector_id)
     WHERE c.vendor = 'airbyte' AND b.recommended_batch_size IS NOT NULL AND b.confidence >= 0.5
       AND (c.c).raw ? 'sourceId'
       AND (b.current_batch_size IS NULL
            OR abs(b.recommended_batch_size - b.current_batch_size) >= 0.1 * b.current_batch_size)
),
-- Tell the owners when an SLA is at high risk, once per blocking connector.
notify_risk AS (
    SELECT r.connector_id, 'notify'::text,
           jsonb_build_object('severity', 'critical',
                              'message', format('SLA at high risk: %s; connector %s blocks it.',
                                                string_agg(format('%s due %s', a.name,
                                                                  to_char(r.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
                                                           ', ' ORDER BY r.deadline, a.name),
                                                min(coalesce((c.c).name, (c.c).external_id)))),
           max(s.score), NULL::jsonb, NULL::interval, NULL::timestamptz,
           string_agg(r.reason, ' ' ORDER BY r.deadline, a.name)
      FROM (SELECT (sr).*, (sr).blocking_connectors[1] AS connector_id
              FROM syncopt.sla_risk(at) sr
             WHERE (sr).at_risk AND (sr).risk = 'high' AND cardinality((sr).blocking_connectors) > 0) r
      JOIN syncopt.asset a USING (asset_id)
      JOIN c USING (connector_id)
      LEFT JOIN s USING (connector_id)
     GROUP BY r.connector_id
)
SELECT * FROM trigger_now
UNION ALL SELECT * FROM move_daily
UNION ALL SELECT * FROM pause_broken
UNION ALL SELECT * FROM resume_fixed
UNION ALL SELECT * FROM resync_retyped
UNION ALL SELECT * FROM batch
UNION ALL SELECT * FROM notify_risk
$$;
COMMENT ON FUNCTION syncopt.planner_candidates(timestamptz) IS
    'The actions the analytics suggest at `at`, before policies and guardrails, each with its score, components, benefit, the time after which it loses that benefit (act_by) and reason.';

-- Why auto mode may not approve this action on this connector now, or
-- NULL when every guardrail passes: open circuit breaker, hourly caps
-- (per connector from the policy, global from the setting), budget stop.
CREATE FUNCTION syncopt.auto_guardrail(conn syncopt.connector, action text, max_per_hour integer, policy_source text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    breaker syncopt.circuit_breaker;
    n       bigint;
    global  integer := current_setting('syncopt.max_auto_actions_per_hour')::integer;
    b       record;
BEGIN
    SELECT * INTO breaker FROM syncopt.circuit_breaker cb
     WHERE cb.connector_id = conn.connector_id AND cb.closed_at IS NULL;
    IF FOUND THEN
        RETURN format('circuit breaker open since %s after %s failed executions; co-pilot until an admin runs syncopt.reset_breaker(%s)',
                      to_char(breaker.opened_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), breaker.failures, conn.connector_id);
    END IF;

    SELECT count(*) INTO n FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.connector_id = conn.connector_id AND l.approved_by = 'syncopt:auto'
       AND l.approved_at > now() - interval '1 hour';
    IF n >= max_per_hour THEN
        RETURN format('hourly cap reached: %s automatic actions on this connector in the last hour (max_actions_per_hour %s, %s)',
                      n, max_per_hour, policy_source);
    END IF;

    SELECT count(*) INTO n FROM syncopt.fivetran_sync_ai_logs l
     WHERE l.approved_by = 'syncopt:auto' AND l.approved_at > now() - interval '1 hour';
    IF n >= global THEN
        RETURN format('global hourly cap reached: %s automatic actions in the last hour (syncopt.max_auto_actions_per_hour %s)', n, global);
    END IF;

    IF action IN ('trigger_sync', 'resync_tables', 'resync_connector') THEN
        FOR b IN
            SELECT bu.period, bu.credits_limit,
                   (SELECT coalesce(sum(r.credits), 0) FROM syncopt.sync_run r
                      JOIN syncopt.connector c2 USING (connector_id)
                     WHERE r.started_at >= date_trunc(bu.period, now())
                       AND (bu.account_id IS NULL OR c2.account_id = bu.account_id)) AS spent
              FROM syncopt.budget bu
             WHERE bu.account_id IS NULL OR bu.account_id = conn.account_id
        LOOP
            IF b.spent >= b.credits_limit THEN
                RETURN format('budget stop: %s of %s credits used this %s', b.spent, b.credits_limit, b.period);
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- One planning run: candidates -> policy -> no churn -> mode and
-- guardrails -> decisions, plus alerts for new proposals, SLAs at risk and
-- classified failures.  Returns the decisions it wrote.
CREATE FUNCTION syncopt.run_planner(at timestamptz DEFAULT now())
RETURNS SETOF syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    started     timestamptz := clock_timestamp();
    time_limit  interval := current_setting('syncopt.planner_time_limit')::interval;
    run         syncopt.planner_run;
    cand        record;
    conn        syncopt.connector;
    pol         record;
    status      text;
    guard       text;
    written     syncopt.fivetran_sync_ai_logs;
    new_ids     bigint[] := '{}';
    n           integer;
BEGIN
    IF at IS NULL OR NOT isfinite(at) THEN
        RAISE EXCEPTION 'at must be a finite time'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = format('Got %s.', coalesce(at::text, 'NULL'));
    END IF;
    IF NOT pg_try_advisory_xact_lock(hashtext('syncopt.run_planner'), 0) THEN
        RAISE NOTICE 'another planning run is in progress; this one writes nothing'
            USING HINT = 'Runs are serialised by an advisory lock; the next scheduled run plans again.';
        RETURN;
    END IF;

    PERFORM syncopt.expire_decisions();
    INSERT INTO syncopt.planner_run (at) VALUES (at) RETURNING * INTO run;
    DELETE FROM syncopt.planned_sync;
    INSERT INTO syncopt.planned_sync
    SELECT run.planner_run_id, p.* FROM syncopt.plan(at, interval '24 hours') p;
    DELETE FROM syncopt.sla_forecast;
    INSERT INTO syncopt.sla_forecast
    SELECT run.planner_run_id, r.asset_id, r.deadline, r.predicted_ready, r.at_risk, r.risk,
           coalesce(r.blocking_connectors, '{}'), r.reason
      FROM syncopt.sla_risk(at) r;
    DELETE FROM syncopt.anomaly_snapshot;
    INSERT INTO syncopt.anomaly_snapshot
    SELECT run.planner_run_id, x.run_id, x.connector_id, x.metric, x.observed, x.expected, x.score,
           x.direction, x.reason
      FROM syncopt.anomalies(at - interval '24 hours') x;

    FOR cand IN
        SELECT * FROM syncopt.planner_candidates(at) pc
         -- Under a cap, actions that save an SLA go before notices.
         ORDER BY pc.priority_score DESC NULLS LAST, pc.connector_id,
                  CASE pc.action WHEN 'trigger_sync' THEN 0 WHEN 'notify' THEN 2 ELSE 1 END, pc.action
    LOOP
        IF clock_timestamp() - started > time_limit THEN
            RAISE EXCEPTION 'planning run stopped after syncopt.planner_time_limit (%)', time_limit
                USING ERRCODE = 'query_canceled',
                      DETAIL = 'Nothing from this run was written.',
                      HINT = 'Raise syncopt.planner_time_limit, or look at what makes the analytics slow (docs/operations.md).';
        END IF;
        run.candidates := run.candidates + 1;
        SELECT * INTO conn FROM syncopt.connector c WHERE c.connector_id = cand.connector_id;
        pol := syncopt.effective_policy(conn.connector_id);

        IF cand.action <> ALL (pol.allowed_actions)
           OR (cand.action = 'pause' AND pol.protect)
           OR (cand.action = 'set_schedule' AND cand.params ? 'sync_frequency'
               AND NOT (cand.params->>'sync_frequency')::integer
                       BETWEEN coalesce(pol.min_schedule_minutes, 1) AND coalesce(pol.max_schedule_minutes, 1440)) THEN
            run.not_allowed := run.not_allowed + 1;
            CONTINUE;
        END IF;

        -- No churn: the same action with the same params is open, was
        -- logged in shadow mode within the proposal TTL, or was recently
        -- done, failed or rejected (a human said no).  Triggers have their
        -- own guard in planner_candidates() (one P90 after the last).
        IF EXISTS (SELECT FROM syncopt.fivetran_sync_ai_logs l
                    WHERE l.connector_id = conn.connector_id AND l.action = cand.action AND l.params = cand.params
                      AND (l.status IN ('proposed', 'approved', 'executing', 'unknown')
                           OR (l.status = 'shadow' AND pol.mode = 'shadow'
                               AND l.created_at > now() - pol.proposal_ttl)
                           OR (l.status = 'rejected' AND l.updated_at > now() - pol.proposal_ttl)
                           OR (l.status IN ('succeeded', 'failed') AND cand.action <> 'trigger_sync'
                               AND l.updated_at > now() - pol.proposal_ttl))) THEN
            run.unchanged := run.unchanged + 1;
            CONTINUE;
        END IF;

        status := CASE pol.mode WHEN 'shadow' THEN 'shadow' WHEN 'copilot' THEN 'proposed' ELSE 'approved' END;
        guard := NULL;
        IF pol.mode = 'auto' THEN
            guard := syncopt.auto_guardrail(conn, cand.action, pol.max_actions_per_hour, pol.source);
            IF guard IS NOT NULL THEN
                status := 'proposed';
                run.refused := run.refused + 1;
            ELSE
                run.auto_approved := run.auto_approved + 1;
            END IF;
        END IF;

        written := syncopt.insert_decision(conn, cand.action, cand.params, cand.reason, pol.mode, status,
                                           greatest(now(), at) + pol.proposal_ttl, run.planner_run_id,
                                           cand.priority_score,
                                           coalesce(cand.score_components, '{}')
                                               || jsonb_build_object('benefit', cand.benefit, 'policy', pol.source),
                                           guard, act_by => cand.act_by);
        new_ids := new_ids || written.decision_id;
        run.written := run.written + 1;
        RETURN NEXT written;
    END LOOP;

    SELECT count(*) INTO n FROM syncopt.fivetran_sync_ai_logs l WHERE l.superseded_by = ANY (new_ids);
    run.superseded := n;

    -- Alerts: new proposals for approvers, SLAs at risk, failures of the
    -- last two days (each once).
    SELECT count(*) INTO n FROM syncopt.pending_approvals p WHERE p.decision_id = ANY (new_ids);
    IF n > 0 THEN
        INSERT INTO syncopt.alert (kind, severity, message, details)
        SELECT 'approval_needed', 'warning',
               format('%s new proposal(s) await approval: %s', n,
                      string_agg(format('#%s %s on %s', p.decision_id, p.action, p.connector), ', '
                                 ORDER BY p.act_by NULLS LAST, p.priority_score DESC NULLS LAST, p.decision_id)),
               jsonb_build_object('planner_run_id', run.planner_run_id, 'decision_ids', jsonb_agg(p.decision_id))
          FROM syncopt.pending_approvals p
         WHERE p.decision_id = ANY (new_ids);
        run.alerts := run.alerts + 1;
    END IF;

    INSERT INTO syncopt.alert (kind, asset_id, severity, message, details)
    SELECT 'sla_risk', r.asset_id, CASE r.risk WHEN 'high' THEN 'critical' ELSE 'warning' END,
           format('%s (due %s) is at %s risk: %s', a.name,
                  to_char(r.deadline AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"'), r.risk, r.reason),
           jsonb_build_object('deadline', r.deadline, 'predicted_ready', r.predicted_ready,
                              'blocking_connectors', r.blocking_connectors)
      FROM syncopt.sla_risk(at) r JOIN syncopt.asset a USING (asset_id)
     WHERE r.at_risk
       AND NOT EXISTS (SELECT FROM syncopt.alert x
                        WHERE x.kind = 'sla_risk' AND x.asset_id = r.asset_id
                          AND (x.details->>'deadline')::timestamptz = r.deadline);
    GET DIAGNOSTICS n = ROW_COUNT;
    run.alerts := run.alerts + n;

    INSERT INTO syncopt.alert (kind, connector_id, severity, message, details)
    SELECT 'sync_failure', f.connector_id, CASE WHEN f.retryable THEN 'info' ELSE 'warning' END,
           format('%s failed (%s, %s): %s Remediation: %s', coalesce(c.name, c.external_id), f.category,
                  CASE WHEN f.retryable THEN 'a retry is safe' ELSE 'needs a human' END, f.explanation, f.remediation),
           jsonb_build_object('run_id', f.run_id, 'category', f.category, 'retryable', f.retryable)
      FROM syncopt.classify_runs(at - interval '2 days') f
      JOIN syncopt.connector c USING (connector_id)
     WHERE NOT EXISTS (SELECT FROM syncopt.alert x
                        WHERE x.kind = 'sync_failure' AND x.connector_id = f.connector_id
                          AND (x.details->>'run_id')::bigint = f.run_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    run.alerts := run.alerts + n;

    UPDATE syncopt.planner_run r
       SET finished_at = clock_timestamp(), candidates = run.candidates, written = run.written,
           auto_approved = run.auto_approved, refused = run.refused, unchanged = run.unchanged,
           not_allowed = run.not_allowed, superseded = run.superseded, alerts = run.alerts
     WHERE r.planner_run_id = run.planner_run_id;
END
$$;
COMMENT ON FUNCTION syncopt.run_planner(timestamptz) IS
    'One planning run: the analytics'' suggestions through policies, no-churn checks and auto guardrails into the control table; returns the decisions written.';

-- Register the planning run with pg_cron (pg_cron 1.4 reads schedules in UTC).
CREATE FUNCTION syncopt.schedule_planner(schedule text DEFAULT '*/15 * * * *')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed in database "%"', current_database()
            USING ERRCODE = 'undefined_object',
                  DETAIL = 'syncopt.schedule_planner() registers syncopt.run_planner() as a pg_cron job.',
                  HINT = format('Add pg_cron to shared_preload_libraries, set cron.database_name = ''%s'', restart, and run CREATE EXTENSION pg_cron; or call syncopt.run_planner() from any scheduler.', current_database());
    END IF;
    IF schedule IS NULL OR btrim(schedule) = '' THEN
        RAISE EXCEPTION 'a schedule is needed'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'A cron expression in UTC, e.g. ''*/15 * * * *''.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
        USING 'syncopt-planner', schedule, 'SELECT count(*) FROM syncopt.run_planner()';
    RETURN job;
END
$$;
COMMENT ON FUNCTION syncopt.schedule_planner(text) IS
    'Registers (or re-schedules) the pg_cron job "syncopt-planner" that runs syncopt.run_planner(); the schedule is in UTC.';

-- Propose the inverse of an executed pause, resume, schedule or batch
-- change, from the settings the decision recorded as `previous`.
CREATE FUNCTION syncopt.rollback(decision_id bigint)
RETURNS syncopt.fivetran_sync_ai_logs
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d       syncopt.fivetran_sync_ai_logs;
    prev    jsonb;
    action  text;
    params  jsonb := '{}';
BEGIN
    SELECT * INTO d FROM syncopt.fivetran_sync_ai_logs l WHERE l.decision_id = rollback.decision_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'decision % does not exist', coalesce(rollback.decision_id::text, 'NULL')
            USING ERRCODE = 'undefined_object';
    END IF;
    IF d.status <> 'succeeded' THEN
        RAISE EXCEPTION 'only a decision that succeeded can be rolled back'
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  DETAIL = format('Decision %s is %s.', d.decision_id, d.status),
                  HINT = CASE WHEN d.status = 'approved' THEN 'Cancel it instead: UPDATE ... SET status = ''cancelled''.'
                              WHEN d.status = 'proposed' THEN 'Reject it instead: UPDATE ... SET status = ''rejected''.'
                              ELSE 'Nothing was changed at the vendor, so there is nothing to undo.' END;
    END IF;
    prev := coalesce(d.previous, '{}');
    CASE d.action
        WHEN 'pause' THEN action := 'resume';
        WHEN 'resume' THEN action := 'pause';
        WHEN 'set_schedule' THEN
            action := 'set_schedule';
            IF d.vendor = 'fivetran' THEN
                params := jsonb_strip_nulls(jsonb_build_object(
                    'sync_frequency', prev->'schedule_minutes',
                    'schedule_type', CASE WHEN prev->>'schedule_type' IN ('auto', 'manual') THEN prev->>'schedule_type' END,
                    'daily_sync_time', CASE WHEN prev->>'schedule_minutes' = '1440' AND prev->>'daily_sync_time' IS NOT NULL
                                            THEN left(prev->>'daily_sync_time', 2) || ':00' END));
            ELSIF prev->>'schedule_type' IN ('manual', 'cron') THEN
                params := jsonb_strip_nulls(jsonb_build_object(
                    'schedule_type', prev->>'schedule_type',
                    'cron_expression', regexp_replace(prev->>'cron_expression', '\s+UTC$', '')));
            ELSE
                RAISE EXCEPTION 'decision % cannot be rolled back through Airbyte''s API', d.decision_id
                    USING ERRCODE = 'feature_not_supported',
                          DETAIL = format('The schedule before it was %s; the public API sets only manual and cron schedules.',
                                          coalesce(prev->>'schedule_type', 'unknown')),
                          HINT = 'Restore the schedule in the Airbyte UI, or propose a cron schedule with syncopt.propose().';
            END IF;
        WHEN 'set_batch_size' THEN
            action := 'set_batch_size';
            IF prev->'batch_size' IS NULL OR jsonb_typeof(prev->'batch_size') <> 'number' THEN
                RAISE EXCEPTION 'decision % cannot be rolled back: the batch size before it is not known', d.decision_id
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                          HINT = 'Propose the batch size you want with syncopt.propose().';
            END IF;
            params := jsonb_build_object('batch_size', prev->'batch_size');
        ELSE
            RAISE EXCEPTION 'a % cannot be undone', d.action
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = format('Decision %s started work at the vendor that has no inverse.', d.decision_id),
                      HINT = 'Only pause, resume, set_schedule and set_batch_size can be rolled back.';
    END CASE;
    RETURN syncopt.manual_proposal(d.connector_id, action, params,
        format('Rollback of decision %s (%s with %s, executed %s): restores the settings recorded before it.',
               d.decision_id, d.action, d.params, to_char(d.finished_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
        d.decision_id);
END
$$;
COMMENT ON FUNCTION syncopt.rollback(bigint) IS
    'Proposes the inverse of an executed pause, resume, set_schedule or set_batch_size, from the decision''s `previous`; an approver approves it like any proposal.';
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
-- connector, and credits where the vendor or the log reported them.
CREATE VIEW syncopt.cost_by_connector WITH (security_invoker = true) AS
SELECT r.connector_id, coalesce(c.name, c.external_id) AS connector, c.destination_id,
       count(*) AS syncs,
       count(*) FILTER (WHERE r.status = 'failed') AS failed_syncs,
       round((sum(extract(epoch FROM r.finished_at - r.started_at)) / 3600)::numeric, 2) AS sync_hours,
       sum(r.credits) AS reported_credits,
       round((100 * sum(extract(epoch FROM r.finished_at - r.started_at))
              / nullif(sum(sum(extract(epoch FROM r.finished_at - r.started_at))) OVER (), 0))::numeric, 2)
           AS share_of_sync_time_pct,
       sum(r.rows) AS rows
  FROM syncopt.sync_run r
  JOIN syncopt.connector c ON c.connector_id = r.connector_id
 WHERE r.started_at >= now() - interval '7 days' AND r.finished_at IS NOT NULL AND r.duration_known
 GROUP BY r.connector_id, c.name, c.external_id, c.destination_id;
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
-- Privileges (docs/security.md explains the model), pg_dump registration,
-- and the first wake of the workers.

-- Nothing for PUBLIC: functions are executable by PUBLIC when created.
REVOKE ALL ON SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA syncopt FROM PUBLIC;
REVOKE ALL ON DOMAIN syncopt.decision_action, syncopt.decision_status FROM PUBLIC;

GRANT USAGE ON SCHEMA syncopt TO syncopt_reader;
GRANT USAGE ON DOMAIN syncopt.decision_action, syncopt.decision_status TO syncopt_reader;

-- Readers: everything but the secrets.
GRANT SELECT ON
    syncopt.account, syncopt.connector, syncopt.asset, syncopt.lineage, syncopt.sync_order,
    syncopt.calendar_event, syncopt.load_window, syncopt.budget, syncopt.policy,
    syncopt.sync_run, syncopt.connector_stats, syncopt.schema_snapshot, syncopt.data_contract,
    syncopt.failure_pattern, syncopt.alert, syncopt.decision_transition,
    syncopt.fivetran_sync_ai_logs, syncopt.decision_event,
    syncopt.collector_state, syncopt.log_ingest_state, syncopt.collector_status,
    syncopt.planner_run, syncopt.circuit_breaker, syncopt.notification_delivery,
    syncopt.notification_channel_status, syncopt.planned_sync, syncopt.sla_forecast, syncopt.anomaly_snapshot,
    syncopt.connector_health, syncopt.sla_status, syncopt.pending_approvals, syncopt.decision_audit,
    syncopt.cost_by_connector, syncopt.anomaly_feed, syncopt.plan_timeline
TO syncopt_reader;
GRANT EXECUTE ON FUNCTION
    syncopt.worker_status(), syncopt.effective_policy(bigint),
    syncopt.validate_action_params(text, text, jsonb), syncopt.is_table_map(jsonb),
    syncopt.is_valid_timezone(text), syncopt.is_valid_dow_field(text), syncopt.is_valid_regex(text),
    syncopt.is_system_actor(), syncopt.decision_actions()
TO syncopt_reader;
-- Analytics: they read only what readers may read (no SECURITY DEFINER).
GRANT EXECUTE ON FUNCTION
    syncopt.predict_duration(timestamptz), syncopt.priority_scores(timestamptz),
    syncopt.plan(timestamptz, interval), syncopt.sla_risk(timestamptz),
    syncopt.batch_recommendations(timestamptz), syncopt.anomalies(timestamptz),
    syncopt.classify_failure(text, text, text), syncopt.classify_runs(timestamptz),
    syncopt.schema_drift(), syncopt.dow_matches(text, integer),
    syncopt.next_local_time(time, text, text, timestamptz),
    syncopt.window_occurrences(time, time, text, text, timestamptz, timestamptz),
    syncopt.render_request(bigint), syncopt.planner_candidates(timestamptz),
    syncopt.vendor_next_start(syncopt.connector, timestamptz, timestamptz),
    syncopt.digest(timestamptz),
    syncopt.simulate(text, interval, integer, timestamptz, interval, double precision),
    syncopt.simulate_world(interval, integer, timestamptz, double precision)
TO syncopt_reader;

-- Approvers: move decisions, nothing else.
GRANT UPDATE (status, review_note) ON syncopt.fivetran_sync_ai_logs TO syncopt_approver;
-- A rollback is only a proposal; it is approved like any other.
GRANT EXECUTE ON FUNCTION syncopt.rollback(bigint) TO syncopt_approver;

-- Admins: configuration, credentials (write-only), manual proposals.
GRANT INSERT, UPDATE, DELETE ON
    syncopt.account, syncopt.asset, syncopt.lineage, syncopt.sync_order, syncopt.calendar_event,
    syncopt.load_window, syncopt.budget, syncopt.policy, syncopt.data_contract, syncopt.failure_pattern
TO syncopt_admin;
GRANT UPDATE (tags, source_key) ON syncopt.connector TO syncopt_admin;
-- Channels: admins write them but never read a URL back (Slack URLs are secrets).
GRANT INSERT, UPDATE, DELETE ON syncopt.notification_channel TO syncopt_admin;
GRANT SELECT (channel_id, name, kind, alert_kinds, min_severity, enabled, created_at)
    ON syncopt.notification_channel TO syncopt_admin;
GRANT SELECT ON syncopt.credential_status TO syncopt_admin;
GRANT EXECUTE ON FUNCTION
    syncopt.set_credentials(bigint, text, text), syncopt.set_webhook_secret(bigint, text),
    syncopt.propose(bigint, text, jsonb, text), syncopt.wake(text),
    syncopt.collect(bigint), syncopt.request_poll(bigint),
    syncopt.ingest_fivetran_log(bigint, name), syncopt.ingest_fivetran_webhook(bigint, text, text),
    syncopt.run_planner(timestamptz), syncopt.schedule_planner(text), syncopt.reset_breaker(bigint)
TO syncopt_admin;

-- pg_dump keeps user data of extension tables only when registered.  The
-- state machine and built-in failure patterns come from this script.
DO $dump$
DECLARE
    t regclass;
    seq text;
BEGIN
    FOR t IN
        SELECT c.oid::regclass FROM pg_catalog.pg_class c
         WHERE c.relnamespace OPERATOR(pg_catalog.=) 'syncopt'::regnamespace
           AND c.relkind OPERATOR(pg_catalog.=) 'r'
           AND c.relname OPERATOR(pg_catalog.<>) 'decision_transition'
    LOOP
        PERFORM pg_catalog.pg_extension_config_dump(t,
            CASE WHEN t OPERATOR(pg_catalog.=) 'syncopt.failure_pattern'::regclass THEN 'WHERE NOT builtin' ELSE '' END);
        FOR seq IN
            SELECT pg_catalog.pg_get_serial_sequence(t::text, a.attname)
              FROM pg_catalog.pg_attribute a
             WHERE a.attrelid OPERATOR(pg_catalog.=) t AND a.attidentity OPERATOR(pg_catalog.<>) ''
        LOOP
            PERFORM pg_catalog.pg_extension_config_dump(seq::regclass, '');
        END LOOP;
    END LOOP;
END
$dump$;

-- Let the workers, which may be waiting for this extension, start at once.
SELECT syncopt.wake();
