#!/usr/bin/env python3
"""make demo / make demo-stop: a cluster with syncopt and a guided tour.

`start` replaces any earlier demo cluster, starts a new one with syncopt and
pg_cron preloaded, runs demo/tour.sql through psql so that every statement
is shown with its result, and leaves the cluster running.  `stop` removes
it.
"""

import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "test"))

from harness.cluster import PG_BIN, Cluster  # noqa: E402

ROOT = "/var/tmp/syncopt-demo"
DB = "syncopt_demo"
SETTINGS = {
    "shared_preload_libraries": "'syncopt,pg_cron'",
    "syncopt.database_name": f"'{DB}'",
    "cron.database_name": f"'{DB}'",
    "cron.use_background_workers": "on",
    "max_worker_processes": "32",
}


def stop():
    if os.path.isdir(ROOT):
        Cluster.existing(ROOT).destroy()
        print(f"removed the demo cluster in {ROOT}")


def start():
    stop()
    cluster = Cluster(SETTINGS, databases=[DB], root=ROOT)
    cluster.start()
    tour = os.path.join(TOP, "demo", "tour.sql")
    proc = subprocess.run([f"{PG_BIN}/psql", "-X", "-e", "-v", "ON_ERROR_STOP=1", "-f", tour]
                          + cluster.conninfo(DB))
    if proc.returncode != 0:
        print(cluster.log_tail(), file=sys.stderr)
        return proc.returncode
    print(f"""
The demo cluster is still running. Connect with:

    psql -h {ROOT} -p {cluster.port} -U postgres {DB}

Server log: {cluster.log}
Remove it with: make demo-stop""")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["start"]:
        sys.exit(start())
    if sys.argv[1:] == ["stop"]:
        sys.exit(stop())
    sys.exit("usage: demo.py start|stop")
