"""Integration tests against the real background workers.

The runner sets CLUSTER (a harness.cluster.Cluster, already started, with
syncopt installed in WORKER_DB) and PG_CRON (whether the server has pg_cron
preloaded) before importing the test modules.
"""

CLUSTER = None
WORKER_DB = None
PG_CRON = True
