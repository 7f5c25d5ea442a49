-- syncopt 0.1.0 -> 0.2.0 (ALTER EXTENSION syncopt UPDATE TO '0.2.0').
--
-- Each change to src/sql/ since 0.1.0 is repeated here, so that an updated
-- install has exactly the schema of a fresh one (test_upgrade compares the
-- two, object by object).

\echo Use "ALTER EXTENSION syncopt UPDATE TO '0.2.0'" to load this file. \quit
