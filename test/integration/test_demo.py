"""The tour `make demo` shows runs cleanly (every statement it expects to
succeed does, and the commit-time wake it shows happens)."""

import os
import subprocess
import unittest

import integration
from harness.cluster import PG_BIN

TOUR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                    "demo", "tour.sql")


class DemoTourTests(unittest.TestCase):

    def test_tour_runs_in_a_fresh_database(self):
        c = integration.CLUSTER
        c.psql("DROP DATABASE IF EXISTS contrib_regression; CREATE DATABASE contrib_regression;")
        try:
            proc = subprocess.run([f"{PG_BIN}/psql", "-X", "-v", "ON_ERROR_STOP=1", "-f", TOUR]
                                  + c.conninfo("contrib_regression"),
                                  capture_output=True, text=True, timeout=120)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            # The wake the tour shows: one new request, handled by the executor.
            self.assertRegex(proc.stdout, r"executor \|\s+1 \| t")
            self.assertIn("illegal decision transition from approved to succeeded", proc.stderr)
            self.assertEqual(c.value("SELECT status || ' ' || approved_by FROM syncopt.fivetran_sync_ai_logs",
                                     "contrib_regression"), "approved alice")
        finally:
            c.psql("DROP DATABASE IF EXISTS contrib_regression")
            c.psql("DROP ROLE IF EXISTS alice")
