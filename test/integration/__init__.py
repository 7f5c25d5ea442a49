"""Integration tests against the real background workers.

The runner sets CLUSTER (a harness.cluster.Cluster, already started, with
syncopt installed in WORKER_DB), PG_CRON (whether the server has pg_cron
preloaded) and AUTO_EXPLAIN (whether it has the auto_explain library)
before importing the test modules.
"""

CLUSTER = None
WORKER_DB = None
PG_CRON = True
AUTO_EXPLAIN = True
