-- Failure triage that learns from labels (issue 30): wording families, a
-- person's label recognised at once, what decides each verdict, the label
-- queue, bad input and who may label.  Labels record session_user, as the
-- decision audit does (SET ROLE below keeps the test's session user).  Expected verdicts are worked out by
-- hand from the rules, the built-in examples (src/sql/46_failure_corpus.sql)
-- and the labels below.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';
INSERT INTO syncopt.account (account_id, vendor, name, base_url)
VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES
    (1, 1, 'erp', 'ERP'), (2, 1, 'crm', 'CRM'), (3, 2, 'shop', 'Shop');

------------------------------------------------------------------------
-- 1. Wording families: case, digits, quoted names and spacing fold away.
------------------------------------------------------------------------
SELECT m, syncopt.failure_wording(m) AS wording
  FROM (VALUES ('Table "ORDERS_2024" is locked by   process 4711'),
               ('table ''customers'' is locked by process 12'),
               ('Timeout after 300s (attempt 3 of 5)'),
               ('')) AS v(m);
SELECT syncopt.failure_wording(NULL) IS NULL AS null_in_null_out;
-- Vendors' JSON error bodies are all quotes: keys, upper-case codes and
-- prose stay wording, so a 503 body and a 400 body are two families (one
-- label no longer supersedes the other), while names still fold away.
SELECT m, syncopt.failure_wording(m) AS wording
  FROM (VALUES ('{ "error": { "code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE" } }'),
               ('{"error":{"code":400,"message":"Invalid value at ''start_date''","status":"INVALID_ARGUMENT"}}'),
               ('{"error":{"code":400,"message":"Invalid value at ''end_date''","status":"INVALID_ARGUMENT"}}'),
               ('Table "ORDERS" is locked: "CUSTOMER_ID" must be unique'),
               ('Can''t connect to server 10.0.0.7; don''t retry')) AS v(m);

------------------------------------------------------------------------
-- 2. The starting corpus: built-in, labelled by syncopt, none superseded;
-- it holds the issue's families and no held-out wording
-- (test/fleet/failure_heldout.py: the Fivetran idle-slot wording).
------------------------------------------------------------------------
SELECT count(*) > 150 AS corpus, bool_and(builtin) AS all_builtin, bool_and(superseded_by IS NULL) AS current,
       count(*) FILTER (WHERE message LIKE '%REPLICATION CLIENT privilege needed%') AS replication_client,
       count(*) FILTER (WHERE message LIKE '%has become invalid%') AS held_out_wording
  FROM syncopt.failure_example;
-- Built-in examples cannot be changed, even by their owner.
UPDATE syncopt.failure_example SET category = 'transient' WHERE example_id = 1;
DELETE FROM syncopt.failure_example WHERE example_id = 1;

------------------------------------------------------------------------
-- 3. A wording nothing knows, then one label, then the family is
-- recognised at once: the verdict names the label.
------------------------------------------------------------------------
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (101, 1, 'a1', '2026-11-22 00:00+00', '2026-11-22 00:05+00', 'failed',
        'Flux capacitor misaligned on node 7; recalibrate the capacitor', 'api'),
       (102, 2, 'b1', '2026-11-22 01:00+00', '2026-11-22 01:05+00', 'failed',
        'Flux capacitor misaligned on node 12; recalibrate the capacitor', 'api'),
       (103, 1, 'a2', '2026-11-22 02:00+00', '2026-11-22 02:05+00', 'succeeded', NULL, 'api'),
       (104, 1, 'a3', '2026-11-22 03:00+00', '2026-11-22 03:05+00', 'failed', NULL, 'api'),
       (105, 3, 'c1', '2026-11-22 04:00+00', '2026-11-22 04:05+00', 'failed', 'Sync failed', 'api'),
       (106, 3, 'c2', '2026-11-22 05:00+00', '2026-11-22 05:05+00', 'failed', 'Sync failed', 'api');
SELECT category, retryable, source, explanation
  FROM syncopt.classify_failure('Flux capacitor misaligned on node 99; recalibrate the capacitor');
-- The queue: the capacitor family (2 runs) and Airbyte's 'Sync failed'
-- (2 runs), most frequent first, then by the latest run; the succeeded
-- run and the run without a message are not in it.
SELECT wording, runs, connectors, latest_run_id, category, source
  FROM syncopt.failure_label_queue;
CREATE ROLE triage_approver LOGIN IN ROLE syncopt_approver;
SET ROLE triage_approver;
SELECT example_id > 0 AS added, message, category, builtin, origin, run_id, note,
       labelled_by = session_user AS labelled_by_session_user, labelled_at = now() AS labelled_now, superseded_by
  FROM syncopt.label_failure(101, 'configuration', 'the capacitor needs recalibrating by hand');
RESET ROLE;
-- The next failure of the family is recognised; its verdict names the label.
SELECT c.category, c.retryable, c.source, c.source_id = e.example_id AS by_the_label, c.confidence >= 0.6 AS close,
       c.explanation LIKE 'message resembles labelled example % (similarity %): "Flux capacitor misaligned on node 7; recalibrate the capac%' AS explains
  FROM syncopt.classify_failure('Flux capacitor misaligned on node 99; recalibrate the capacitor') c,
       syncopt.failure_example e WHERE e.run_id = 101;
-- classify_runs names the source of each verdict; the family left the queue.
SELECT run_id, category, retryable, source, source_id IS NOT NULL AS has_id
  FROM syncopt.classify_runs('2026-11-22 00:00+00') ORDER BY run_id;
SELECT wording, runs FROM syncopt.failure_label_queue;
-- Labelling the family again (a correction) supersedes the first label,
-- which stays as the record of who said what.
SELECT category FROM syncopt.label_failure(102, 'transient', 'a retry fixed it after all');
SELECT run_id, category, superseded_by IS NOT NULL AS superseded
  FROM syncopt.failure_example WHERE NOT builtin ORDER BY example_id;
SELECT category, source, confidence >= 0.6 AS close, retryable
  FROM syncopt.classify_failure('Flux capacitor misaligned on node 3; recalibrate the capacitor');

------------------------------------------------------------------------
-- 4. Safety: a user's rule may not make a permanent category retryable;
-- a vendor code decides first; FAILURE_WITH_TASK waits for a person.
------------------------------------------------------------------------
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation, priority)
VALUES ('frobnicator key rejected', 'credentials', true, 'Rotate the frobnicator key.', 1);
SELECT category, retryable, source
  FROM syncopt.classify_failure('The frobnicator key rejected our login');
SELECT category, retryable, source, explanation
  FROM syncopt.classify_failure('Flux capacitor misaligned on node 3; recalibrate the capacitor', 'FAILURE_WITH_TASK');

------------------------------------------------------------------------
-- 4b. Safety by construction (third round): a limit somebody configured
-- on a statement is configuration and never retried, whatever else the
-- message resembles (the Snowflake statement timeout of
-- test/fleet/failure_heldout2.py was read as a retryable timeout before);
-- a lock wait is contention, but a near-twin of the configured statement
-- timeout, so it is not retried either; a plain network timeout still is.
------------------------------------------------------------------------
SELECT m, category, retryable, source
  FROM (VALUES ('net.snowflake.client.jdbc.SnowflakeSQLException: Statement reached its statement or warehouse timeout of ''3600'' second(s) and was canceled.'),
               ('ERROR: canceling statement due to statement timeout'),
               ('mysqldump: Error 3024: Query execution was interrupted, maximum statement execution time exceeded'),
               ('ERROR: canceling statement due to lock timeout'),
               ('java.net.SocketTimeoutException: Read timed out')) AS v(m),
       LATERAL syncopt.classify_failure(v.m) c;
-- What argued against the retry is named.
SELECT explanation LIKE '%failure pattern 12 (configuration)%' OR explanation LIKE 'message matches failure pattern 12 %' AS names_the_limit_rule
  FROM syncopt.classify_failure('Statement reached its statement or warehouse timeout of 600 second(s) and was canceled.');

------------------------------------------------------------------------
-- 4c. A rule runs only on messages that contain one of its literals
-- (rule_literals.c), and that changes no verdict: upper-case literals and
-- class escapes match case-insensitively, a message outside ASCII is never
-- filtered, and a pattern the literal reader does not understand (a back
-- reference) still runs on every message.  Users' rules, tried first.
------------------------------------------------------------------------
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation, priority)
VALUES ('SLOT\s+GONE', 'configuration', false, 'Recreate the slot.', 2),
       ('(zz|qq)-\1', 'permission', false, 'Grant zz.', 3),
       ('crème brûlée', 'schema_change', false, 'Dessert.', 4);
SELECT m, u.pattern AS users_rule
  FROM (VALUES ('replication slot   gone at 04:00'),
               ('Replication Slot Gone'),
               ('Slot gone – café closed'),
               ('code qq-qq refused'),
               ('code qq-zz refused'),
               ('crème brûlée is not a column')) AS v(m)
 CROSS JOIN LATERAL syncopt.classify_failure(v.m) c
  LEFT JOIN syncopt.failure_pattern u ON u.pattern_id = c.source_id AND c.source = 'rule' AND NOT u.builtin;
DELETE FROM syncopt.failure_pattern WHERE NOT builtin AND priority IN (2, 3, 4);

------------------------------------------------------------------------
-- 5. Bad input changes nothing.
------------------------------------------------------------------------
\set VERBOSITY default
SELECT syncopt.label_failure(999, 'configuration', NULL);
SELECT syncopt.label_failure(101, 'unknown', NULL);
SELECT syncopt.label_failure(101, NULL, NULL);
SELECT syncopt.label_failure(103, 'transient', NULL);
SELECT syncopt.label_failure(104, 'transient', NULL);
SELECT syncopt.label_failure(101, 'transient', repeat('x', 2001));
\set VERBOSITY terse
SELECT count(*) AS labels FROM syncopt.failure_example WHERE NOT builtin;

------------------------------------------------------------------------
-- 6. Who may label: approvers and admins; readers read the corpus only.
------------------------------------------------------------------------
CREATE ROLE triage_reader LOGIN IN ROLE syncopt_reader;
SET ROLE triage_reader;
SELECT count(*) > 0 AS reads_corpus FROM syncopt.failure_example;
SELECT syncopt.label_failure(105, 'transient', NULL);
INSERT INTO syncopt.failure_example (message, category) VALUES ('x', 'transient');
RESET ROLE;
SET ROLE triage_approver;
INSERT INTO syncopt.failure_example (message, category) VALUES ('x', 'transient');
RESET ROLE;
-- Admins label too: Airbyte's bare 'Sync failed' family leaves the queue.
CREATE ROLE triage_admin LOGIN IN ROLE syncopt_admin;
SET ROLE triage_admin;
SELECT run_id, category FROM syncopt.label_failure(105, 'source_outage', 'the shop API was down');
SELECT count(*) AS queued FROM syncopt.failure_label_queue;
RESET ROLE;

------------------------------------------------------------------------
-- 7. A backend keeps the rules and the corpus (triage.c) only while
-- syncopt.triage_version is unchanged: a label counts from the next
-- statement of its own transaction and in every later one, a rolled-back
-- label never comes back (a version is never handed out twice, so another
-- transaction's label cannot take its version), changes made under
-- session_replication_role = replica count too, and a deleted rule no
-- longer answers.  (Another session's label: test_fleet.)
------------------------------------------------------------------------
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (201, 1, 'd1', '2026-11-23 00:00+00', '2026-11-23 00:05+00', 'failed',
        'Quantum flange detached from manifold 4; reseat the flange', 'api'),
       (202, 2, 'd2', '2026-11-23 01:00+00', '2026-11-23 01:05+00', 'failed',
        'Gremlin nibbled through conduit 9 beside the turbine', 'api'),
       (203, 3, 'd3', '2026-11-23 02:00+00', '2026-11-23 02:05+00', 'failed',
        'Pixie dust clogged the sprocket 3 lubricator', 'api');
BEGIN;
SELECT category, source FROM syncopt.classify_failure('Quantum flange detached from manifold 8; reseat the flange');
SELECT category FROM syncopt.label_failure(201, 'schema_change', 'the flange changed shape');
SELECT category, source, source_id = (SELECT example_id FROM syncopt.failure_example WHERE run_id = 201) AS by_the_label
  FROM syncopt.classify_failure('Quantum flange detached from manifold 8; reseat the flange');
COMMIT;
SELECT category, source FROM syncopt.classify_failure('Quantum flange detached from manifold 5; reseat the flange');
-- Rolled back: the label answered inside its transaction only, even after
-- another transaction's label moved the version on.
SELECT category, source FROM syncopt.classify_failure('Gremlin nibbled through conduit 2 beside the turbine');
BEGIN;
SELECT category FROM syncopt.label_failure(202, 'permission', 'gremlins are not allowed');
SELECT category, source FROM syncopt.classify_failure('Gremlin nibbled through conduit 2 beside the turbine');
ROLLBACK;
SELECT category FROM syncopt.label_failure(203, 'transient', 'the dust settles');
SELECT category, source FROM syncopt.classify_failure('Gremlin nibbled through conduit 2 beside the turbine');
SELECT category, source FROM syncopt.classify_failure('Pixie dust clogged the sprocket 7 lubricator');
-- As a logical replica or a restore writes (triggers of the default kind
-- do not fire then; the version's do).
SET session_replication_role = replica;
UPDATE syncopt.failure_example SET category = 'configuration' WHERE run_id = 203;
RESET session_replication_role;
SELECT category, source FROM syncopt.classify_failure('Pixie dust clogged the sprocket 7 lubricator');
-- A user's rule answers while it is there, and not after it is deleted.
INSERT INTO syncopt.failure_pattern (pattern, category, retryable, remediation, priority)
VALUES ('sprocket \d+ lubricator', 'destination_outage', true, 'Oil it.', 5);
SELECT category, source FROM syncopt.classify_failure('Pixie dust clogged the sprocket 7 lubricator');
DELETE FROM syncopt.failure_pattern WHERE NOT builtin AND priority = 5;
SELECT category, source FROM syncopt.classify_failure('Pixie dust clogged the sprocket 7 lubricator');

------------------------------------------------------------------------
-- 8. The extension dropped and created again in the same session starts
-- its version sequence again: the same version number then names other
-- labels, and the backend's copy is not taken for them.
------------------------------------------------------------------------
DROP EXTENSION syncopt CASCADE;
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (1, 1, 'erp', 'ERP');
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (301, 1, 'e1', '2026-11-24 00:00+00', '2026-11-24 00:05+00', 'failed', 'Moth nest found in relay 6 of the loader', 'api');
SELECT category FROM syncopt.label_failure(301, 'credentials', 'moths');
SELECT version AS version_after_one_label FROM syncopt.triage_version;
SELECT category, source FROM syncopt.classify_failure('Moth nest found in relay 2 of the loader');
DROP EXTENSION syncopt CASCADE;
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (1, 1, 'erp', 'ERP');
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (302, 1, 'e2', '2026-11-24 01:00+00', '2026-11-24 01:05+00', 'failed', 'Beetle swarm inside conveyor 4', 'api');
SELECT category FROM syncopt.label_failure(302, 'timeout', 'beetles');
SELECT version AS same_version_again FROM syncopt.triage_version;
-- The moth label went with the extension: a built-in example answers.
SELECT category <> 'credentials' AS not_the_dropped_label,
       source_id IN (SELECT example_id FROM syncopt.failure_example WHERE builtin) AS by_a_builtin_example
  FROM syncopt.classify_failure('Moth nest found in relay 2 of the loader');

DROP EXTENSION syncopt CASCADE;
DROP ROLE triage_approver;
DROP ROLE triage_reader;
DROP ROLE triage_admin;
