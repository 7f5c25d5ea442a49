"""`make demo` runs to its end non-interactively and leaves the state it
describes: collected connectors of both vendors, a planning run that
forecasts the one report due too soon as late, an approved decision that
reached `succeeded` after the mock received the vendor call, and an SVG
plan.  The demo uses its own cluster and mock (in a directory of
its own), as a user's `make demo` would; `demo.py stop` removes them."""

import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

import integration

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(TOP, "demo", "demo.py")


def check_story(test, out):
    """Assert, with the assertions of test (a unittest.TestCase), that the
    demo's output tells its story; returns the at-risk connector."""
    for step in range(1, 11):
        test.assertIn(f"== {step}. ", out)
    # Both vendors were collected, and the Platform Connector log read.
    test.assertRegex(out, r"airbyte\s+\|\s+\d+ \|\s+\d+")
    test.assertRegex(out, r"fivetran\s+\|\s+\d+ \|\s+\d+")
    test.assertRegex(out, r"runs_ingested \n-+\n\s+[1-9]\d*")
    # The report due sooner than its slowest input can land is forecast late, and the plan says why.
    at_risk = re.search(r"\n finance_flash +\| [^|]+\| [^|]+\| at_risk_\w+ +\| \{(\w+)\}", out)
    test.assertIsNotNone(at_risk, "finance_flash is not forecast at risk")
    # Its sync is planned to miss (named by the earliest deadline it feeds,
    # which another report may hold at some hours).
    test.assertRegex(out, r"\n " + at_risk.group(1) + r" +\|[^\n]*misses \w+ by ")
    # The approval shown is the trigger of the sync that report waits for,
    # and it heads the approval list: it is already late, so it must be decided first.
    test.assertIn(f"(trigger_sync of {at_risk.group(1)})", out)
    approvals = out[out.index("== 8. "):out.index("== 9. ")]
    first = re.search(r"\n-+\+[-+]+\n\s+\d+ \| (\S+)\s+\| (\w+)", approvals)
    test.assertIsNotNone(first, approvals)
    test.assertEqual(first.groups(), (at_risk.group(1), "trigger_sync"), approvals)
    # The approved decision reached the vendor and succeeded.
    test.assertRegex(out, r"the mock vendor API received: POST /(fivetran/v1/connections/\S+/sync|airbyte/v1/jobs)")
    test.assertRegex(out, r"\|\s+succeeded\s+\|\s+alice\s+\|\s+200")
    test.assertIn("make demo-stop", out)
    return at_risk.group(1)


class DemoTests(unittest.TestCase):

    def test_demo_runs_to_its_end(self):
        if not integration.PG_CRON:
            self.skipTest("the demo preloads pg_cron, which this server lacks")
        parent = tempfile.mkdtemp(prefix="syncopt-demo-test-")
        os.chmod(parent, 0o755)     # the postgres OS user runs the demo's cluster inside
        root = os.path.join(parent, "demo")
        env = dict(os.environ, SYNCOPT_DEMO_ROOT=root)
        try:
            proc = subprocess.run([sys.executable, DEMO, "start"], env=env, capture_output=True,
                                  text=True, timeout=600, stdin=subprocess.DEVNULL)
            self.assertEqual(proc.returncode, 0, proc.stdout[-3000:] + proc.stderr[-3000:])
            check_story(self, proc.stdout)
            svg = ElementTree.parse(os.path.join(root, "plan.svg")).getroot()
            self.assertTrue(svg.tag.endswith("svg"))
            self.assertGreater(len([e for e in svg if e.tag.endswith("rect")]), 0)
        finally:
            stop = subprocess.run([sys.executable, DEMO, "stop"], env=env, capture_output=True, text=True, timeout=120)
            self.assertEqual(stop.returncode, 0, stop.stderr)
            self.assertFalse(os.path.exists(root))
            os.rmdir(parent)
