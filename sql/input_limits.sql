-- Bad input at the SQL surface: time zones that name no real place, and
-- free text past its documented limit, are refused with a clear error
-- (SQLSTATE, message naming the column and the limit) and change nothing.
\set SHOW_CONTEXT never
\set VERBOSITY default
CREATE EXTENSION syncopt;
CREATE ROLE regress_input_admin IN ROLE syncopt_admin;
CREATE ROLE regress_input_approver IN ROLE syncopt_approver;

-- 3,200 characters that do not compress: past the 2,704 bytes a btree
-- index entry may hold, which a unique index refused with a raw 54000.
SELECT string_agg(md5(i::text), '') AS long FROM generate_series(1, 100) i \gset
SELECT length(:'long') AS long_length;

INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (account_id, external_id, name) VALUES (1, 'c1', 'salesforce');

-- Time zones ---------------------------------------------------------------
-- PostgreSQL takes these as POSIX rules: '+99:00' and 'UTC+25' move a
-- deadline by days, 'UTC+5' is five hours *behind* UTC.  Only names in
-- pg_timezone_names and abbreviations in pg_timezone_abbrevs pass.
SELECT tz, syncopt.is_valid_timezone(tz) AS valid
  FROM unnest(ARRAY['+99:00', 'UTC+25', '-12', 'XYZ+3', '<+99>-99', 'PST8PDT,M3.2.0,M11.1.0', 'Mars/Olympus', ' UTC',
                    'UTC', 'utc', 'Europe/Berlin', 'europe/berlin', 'America/New_York', 'Etc/GMT-14', 'Etc/GMT+12',
                    'EST5EDT', 'CET', 'PST', 'Z']) tz;
SET ROLE regress_input_admin;
INSERT INTO syncopt.asset (name, deadline, timezone) VALUES ('mart', '08:00', '+99:00');
INSERT INTO syncopt.asset (name, deadline, timezone) VALUES ('mart', '08:00', 'UTC+25');
INSERT INTO syncopt.asset (name, deadline, timezone) VALUES ('mart', '08:00', 'Mars/Olympus');
INSERT INTO syncopt.asset (name, deadline, timezone) VALUES ('mart', '08:00', 'Etc/GMT-14');
UPDATE syncopt.asset SET timezone = 'UTC-14' WHERE name = 'mart';
INSERT INTO syncopt.load_window (target, start_time, end_time, load_factor, timezone)
VALUES ('warehouse', '09:00', '17:00', 1, '+14:00');
INSERT INTO syncopt.load_window (target, start_time, end_time, load_factor, timezone)
VALUES ('warehouse', '09:00', '17:00', 1, 'America/New_York');
RESET ROLE;
SELECT name, timezone FROM syncopt.asset;
SELECT timezone FROM syncopt.load_window;

-- Lengths where a unique or GIN index refused with 54000 ---------------------
SET ROLE regress_input_admin;
INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('airbyte', :'long', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.asset (name) VALUES (:'long');
INSERT INTO syncopt.policy (tag) VALUES (:'long');
INSERT INTO syncopt.notification_channel (name, kind, url) VALUES (:'long', 'slack', 'https://hooks.slack.com/x');
INSERT INTO syncopt.data_contract (connector_id, schema_name, table_name, column_name) VALUES (1, 'public', 'orders', :'long');
INSERT INTO syncopt.data_contract (connector_id, schema_name, table_name, column_name) VALUES (1, :'long', 'orders', 'id');
UPDATE syncopt.connector SET source_key = :'long' WHERE connector_id = 1;
UPDATE syncopt.connector SET tags = ARRAY['finance', :'long'] WHERE connector_id = 1;
UPDATE syncopt.connector SET tags = (SELECT array_agg('t' || i) FROM generate_series(1, 101) i) WHERE connector_id = 1;
RESET ROLE;
-- Written by the collector, from vendor data.
INSERT INTO syncopt.connector (account_id, external_id) VALUES (1, :'long');
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, source)
VALUES (1, :'long', '2026-03-02 10:00+00', '2026-03-02 10:05+00', 'succeeded', 'api');

-- At the limit is fine, one past it is not; the limit counts characters,
-- not bytes (200 two-byte characters fit).
SET ROLE regress_input_admin;
INSERT INTO syncopt.asset (name) VALUES (repeat('a', 200)), (repeat('é', 200));
INSERT INTO syncopt.asset (name) VALUES (repeat('b', 201));
UPDATE syncopt.connector SET tags = ARRAY[repeat('t', 100)], source_key = repeat('k', 200) WHERE connector_id = 1;
INSERT INTO syncopt.calendar_event (name, during, tag) VALUES ('close', '[2026-03-31, 2026-04-01)', repeat('t', 101));
INSERT INTO syncopt.load_window (name, target, start_time, end_time, load_factor)
VALUES (repeat('w', 201), 'warehouse', '09:00', '17:00', 1);
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation)
VALUES ('quota', 'rate_limit', true, repeat('r', 2001));
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation)
VALUES (repeat('x', 2001), 'rate_limit', true, 'wait');
RESET ROLE;
SELECT count(*) AS assets, max(length(name)) AS longest_name, max(octet_length(name)) AS most_bytes FROM syncopt.asset;
SELECT cardinality(tags) AS tags, length(tags[1]) AS tag_length, length(source_key) AS source_key_length FROM syncopt.connector;

-- What people type into proposals and reviews ------------------------------
SET ROLE regress_input_admin;
SELECT decision_id FROM syncopt.propose(1, 'trigger_sync', '{}', repeat('r', 2001));
SELECT decision_id FROM syncopt.propose(1, 'notify', jsonb_build_object('message', repeat('m', 2001)), 'tell them');
SELECT decision_id, length(reason) AS reason_length
  FROM syncopt.propose(1, 'notify', jsonb_build_object('message', repeat('m', 2000)), repeat('r', 2000));
RESET ROLE;
SET ROLE regress_input_approver;
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected', review_note = repeat('n', 2001);
UPDATE syncopt.fivetran_sync_ai_logs SET status = 'rejected', review_note = 'not now';
RESET ROLE;
SELECT decision_id, status, review_note FROM syncopt.fivetran_sync_ai_logs;

DROP EXTENSION syncopt;
DROP ROLE regress_input_admin;
DROP ROLE regress_input_approver;
