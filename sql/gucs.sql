-- syncopt's settings: defaults, ranges, who may see and change them.
\set SHOW_CONTEXT never

-- Every setting with its unit, context and range.  (The values of
-- database_name and http_allowed_hosts depend on the server's configuration.)
SELECT name, CASE WHEN name IN ('syncopt.database_name', 'syncopt.http_allowed_hosts')
                  THEN '(configured)' ELSE setting END AS setting,
       unit, context, vartype, min_val, max_val, boot_val
  FROM pg_settings WHERE name LIKE 'syncopt.%' ORDER BY name;

-- The prefix is reserved: a misspelt setting is refused.
SET syncopt.histroy_retention = '1d';
-- Reload-time settings cannot be changed in a session.
SET syncopt.history_retention = '1d';
SET syncopt.executor_poll_interval = '5s';

-- ALTER SYSTEM validates before writing anything.
ALTER SYSTEM SET syncopt.http_allowed_hosts = 'http://127.0.0.1';
ALTER SYSTEM SET syncopt.http_allowed_hosts = '127.0.0.1, evil.example/path';
ALTER SYSTEM SET syncopt.http_allowed_hosts = 'user@127.0.0.1';
ALTER SYSTEM SET syncopt.http_allowed_hosts = '127.0.0.1,,::1';
ALTER SYSTEM SET syncopt.executor_poll_interval = '0';
ALTER SYSTEM SET syncopt.executor_poll_interval = '2h';
ALTER SYSTEM SET syncopt.history_retention = '-1';
ALTER SYSTEM SET syncopt.enable_workers = 'sometimes';

-- Security-relevant settings are visible to superusers only.
CREATE ROLE regress_plain;
SET ROLE regress_plain;
SHOW syncopt.http_allowed_hosts;
SHOW syncopt.database_name;
SHOW syncopt.history_retention;
SHOW syncopt.executor_poll_interval;
RESET ROLE;
DROP ROLE regress_plain;
