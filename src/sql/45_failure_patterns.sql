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
     'The destination warehouse answered that it is unavailable; retry once its service is back.', 55, true),
    -- Before credentials, timeouts and outages (issue 30, third round): a
    -- limit somebody configured on how long a statement may run, or how
    -- much it may use, stops the same statement the same way next time
    -- (PostgreSQL's statement_timeout, idle_in_transaction_session_timeout
    -- and temp_file_limit, MySQL's max_execution_time, MariaDB's
    -- max_statement_time, a warehouse's statement timeout): configuration,
    -- never an automatic retry.  Lock waits are not in it: MySQL and
    -- PostgreSQL document them as contention a retry resolves.
    ('statement[ _]timeout|\m(statement|query|warehouse|execution) (timeout|time limit)'
     '|max(imum)?[ _](statement|execution)[ _]time|execution time exceeded'
     '|idle[ _-]in[ _-]transaction[ _](session[ _])?timeout|temp_file_limit'
     '|exceeded the configured|configured (limit|timeout|maximum)',
     NULL, 'configuration', false,
     'A limit configured on the source or destination stopped the statement (a statement or query timeout, '
     'a maximum execution time, a temporary file limit): raise the limit for the connector''s user or make '
     'the sync''s queries smaller, then re-run; retrying as is stops the same way.', 15, true),
    -- Before timeouts, outages and transient errors (session 24): a
    -- change-capture connector that asks to be reconfigured, restarted in a
    -- mode or snapshotted anew, because its schema history no longer fits
    -- the change events (Debezium's schema history topic), waits for a
    -- person.  Not "recovery mode" alone: PostgreSQL's "the database system
    -- is in recovery mode" passes by itself.
    ('reconfigur(e|ing) the connector|restart (the )?connector with|schema[ _](history|recovery)'
     '|take a new snapshot|re-?execute the snapshot',
     NULL, 'configuration', false,
     'The change-capture connector''s schema history no longer fits the change events, and it asks for a '
     'person: recover the schema history or take a new snapshot as its message says (Debezium''s recovery '
     'snapshot mode), then re-run; retrying as is stops the same way.', 36, true);

CREATE TRIGGER failure_pattern_protect_builtin
    BEFORE INSERT OR UPDATE OR DELETE ON syncopt.failure_pattern
    FOR EACH ROW EXECUTE FUNCTION syncopt.failure_pattern_protect_builtin();
