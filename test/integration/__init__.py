"""Integration tests against the real background workers.

The runner sets CLUSTER (a harness.cluster.Cluster, already started, with
syncopt installed in WORKER_DB) before importing the test modules.
"""

CLUSTER = None
WORKER_DB = None
