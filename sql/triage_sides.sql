-- Which side an outage is on (issue 30, session 24): classify_failure()
-- puts an outage on the side the vendor reports, a label of the wording,
-- or the message's words name (src/outage_side.c, classify.c's
-- place_outage), and on neither side when nothing says.  The wordings are
-- written for this test, one per quirk; the expected verdicts follow from
-- the rules (src/sql/45_failure_patterns.sql) by hand: each message below
-- matches the source-outage rule (or Google's backendError of the
-- warehouse-outage rule), which read it on one fixed side before.
CREATE EXTENSION syncopt;
SET client_min_messages = warning;
SET timezone = 'UTC';

------------------------------------------------------------------------
-- 1. The side the message names: a load operation, a warehouse client
-- library, a Singer target; a source connector.  Each read as the
-- source's outage before (a dropped connection matched the source-outage
-- rule first), or as the destination's (Google's backendError).
------------------------------------------------------------------------
SELECT m.k, c.category, c.retryable, c.explanation LIKE '%the message names the ' || m.side || '%' AS names_it
  FROM (VALUES
    (1, 'load job 4411 for table events aborted: connection reset by peer', 'destination'),
    (2, 'redshift_connector.error.InterfaceError: BrokenPipeError: [Errno 32] Broken pipe', 'destination'),
    (3, 'target-postgres | psycopg2.OperationalError: server closed the connection unexpectedly', 'destination'),
    (4, 'COPY INTO raw.clicks stopped: SSL SYSCALL error: EOF detected', 'destination'),
    (5, 'source-mongodb: 503 from the replica set proxy (reason: backendError)', 'source'),
    (6, 'tap-zendesk: requests.exceptions.ConnectionError: Connection reset by peer', 'source')) AS m(k, message, side),
       LATERAL syncopt.classify_failure(m.message) c
 ORDER BY m.k;

------------------------------------------------------------------------
-- 2. Airbyte's failure origin in any of its shapes decides first: the
-- "Failure in destination:" prefix and a failure summary's failureOrigin
-- field (only "Failure Origin:" at the start was read before).
------------------------------------------------------------------------
SELECT m.k, c.category, c.explanation LIKE '%Airbyte reports the failure origin "' || m.side || '"%' AS by_origin
  FROM (VALUES
    (1, 'Failure in destination: java.net.SocketException: Connection reset', 'destination'),
    (2, '{"failureOrigin":"destination","failureType":"system_error","externalMessage":"Connection refused"}', 'destination'),
    (3, 'attempt 2: failure_origin=source; java.net.ConnectException: Connection refused (tap output)', 'source')) AS m(k, message, side),
       LATERAL syncopt.classify_failure(m.message) c
 ORDER BY m.k;

------------------------------------------------------------------------
-- 3. Nothing names a side: the outage is put on neither (transient), its
-- remediation names both sides, and the retry decision is the same as
-- for any outage (two signals).  A Java stack frame's "(Unknown Source)"
-- names no source.
------------------------------------------------------------------------
SELECT category, retryable, remediation LIKE '%source or the destination%' AS names_both_sides,
       explanation LIKE '%names the source or the destination, so the outage is put on neither side' AS says_so
  FROM syncopt.classify_failure('{"error": {"code": 503, "message": "Backend unavailable, try later", "reason": "backendError"}}');
SELECT category, retryable
  FROM syncopt.classify_failure('Connection reset by peer');
SELECT category, explanation LIKE '%the message names the destination ("destination")%' AS only_destination
  FROM syncopt.classify_failure('java.net.SocketException: Connection reset at org.acme.Pump.read(Unknown Source) while writing to the destination');

------------------------------------------------------------------------
-- 4. Both sides named: the verdict's side stands, and the explanation
-- says both are named.
------------------------------------------------------------------------
SELECT category, explanation LIKE '%names both the source ("source") and the destination ("bigquery")%' AS both_named
  FROM syncopt.classify_failure('source-postgres to bigquery: Connection reset by peer');

------------------------------------------------------------------------
-- 5. Only outages move, and never into a retry: a permanent cause that
-- names the destination stays what it is.
------------------------------------------------------------------------
SELECT m.k, c.category, c.retryable
  FROM (VALUES
    (1, 'Failure in destination: password authentication failed for user "loader"'),
    (2, 'COPY INTO raw.clicks failed: permission denied for schema raw')) AS m(k, message),
       LATERAL syncopt.classify_failure(m.message) c
 ORDER BY m.k;

------------------------------------------------------------------------
-- 6. A label of the wording knows what the words may not: a team whose
-- Snowflake is a source labels its outage so, and the next failure of
-- that wording family is the source's although it names Snowflake; a
-- side-less wording labelled the destination's stays the destination's.
------------------------------------------------------------------------
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (1, 1, 'erp', 'ERP');
INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, status, error_message, source)
VALUES (401, 1, 's1', '2026-11-24 00:00+00', '2026-11-24 00:05+00', 'failed',
        'snowflake account acme-7 answered 503 Service Unavailable on query 881', 'api'),
       (402, 1, 's2', '2026-11-24 01:00+00', '2026-11-24 01:05+00', 'failed',
        'HTTP 503 from ingest endpoint /v2/batches/77', 'api');
SELECT category FROM syncopt.label_failure(401, 'source_outage', 'our Snowflake is the source');
SELECT category FROM syncopt.label_failure(402, 'destination_outage', 'the ingest endpoint is the warehouse''s');
SELECT m.k, c.category, c.explanation LIKE '%is of this very wording and says which side%' AS by_the_label
  FROM (VALUES
    (1, 'snowflake account acme-9 answered 503 Service Unavailable on query 912'),
    (2, 'HTTP 503 from ingest endpoint /v2/batches/78')) AS m(k, message),
       LATERAL syncopt.classify_failure(m.message) c
 ORDER BY m.k;

------------------------------------------------------------------------
-- 7. A change-capture connector whose schema history no longer fits asks
-- for a person: configuration, never retried; "recovery mode" alone (a
-- database replica recovering) is not that.
------------------------------------------------------------------------
SELECT m.k, c.category, c.retryable
  FROM (VALUES
    (1, 'binlog row for shop.orders has 12 columns, the stored table has 11: restart the connector with snapshot.mode=recovery'),
    (2, 'Debezium: database schema history topic incomplete for inventory.items'),
    (3, 'replica db-2 is in recovery mode after a failover, try again shortly')) AS m(k, message),
       LATERAL syncopt.classify_failure(m.message) c
 ORDER BY m.k;

DROP EXTENSION syncopt CASCADE;
