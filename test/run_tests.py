#!/usr/bin/env python3
"""Run every syncopt suite against one throwaway preloaded cluster.

Suites, in order:
  regress      pg_regress files sql/*.sql against expected/*.out, in
               database contrib_regression (no worker touches it, so the
               output is deterministic);
  pgtap        test/pgtap/*.sql, each run by psql and read as TAP;
  integration  test/integration/test_*.py (unittest), against the real
               background workers in database syncopt_test.

Each test file (regress), TAP assertion (pgtap) or test method
(integration) counts once.  The last line is "N passed, N failed"; the exit
status is non-zero when anything failed.
"""

import argparse
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from harness.cluster import PG_BIN, Cluster, as_postgres  # noqa: E402

WORKER_DB = "syncopt_test"
SETTINGS = {
    "shared_preload_libraries": "'syncopt,pg_cron'",
    "syncopt.database_name": f"'{WORKER_DB}'",
    "syncopt.http_allowed_hosts": "'127.0.0.1, ::1, localhost'",
    "cron.database_name": f"'{WORKER_DB}'",
    "cron.use_background_workers": "on",
    "max_worker_processes": "32",
}
WITHOUT_PG_CRON = {"shared_preload_libraries": "'syncopt'"}


def have_library(name):
    """Whether the server under test has the loadable library name (pg_cron, auto_explain).

    Debian's 15 always has both (make test installs pg_cron); a server built
    from source may have neither, and then the tests that need one are
    skipped, not failed.
    """
    pkglib = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True,
                            check=True).stdout.strip()
    return os.path.exists(os.path.join(pkglib, name + ".so"))


class Tally:
    """Counts results and prints one line per test."""

    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def record(self, suite, name, ok, detail=""):
        if ok:
            self.passed += 1
        else:
            self.failed += 1
        print(f"{'ok  ' if ok else 'FAIL'} {suite}/{name}", flush=True)
        if not ok and detail:
            print("     " + detail.rstrip().replace("\n", "\n     "), flush=True)


def pg_regress_path():
    pgxs = subprocess.run(["pg_config", "--pgxs"], capture_output=True, text=True,
                          check=True).stdout.strip()
    return os.path.join(os.path.dirname(pgxs), "..", "test", "regress", "pg_regress")


def regress_result(line):
    """(test, passed) from one line of pg_regress's summary, else (None, None).

    pg_regress reports "test x ... ok" up to 15 and TAP ("ok 1 - x",
    "not ok 6 + x" inside a parallel group) from 16 on.
    """
    m = re.match(r"^\s*(?:test\s+)?(\S+)\s+\.\.\.\s+(ok|FAILED|failed)", line)
    if m:
        return m.group(1), m.group(2) == "ok"
    m = re.match(r"^\s*(not ok|ok)\s+\d+\s+[-+]\s+(\S+)", line)
    if m:
        return m.group(2), m.group(1) == "ok"
    return None, None


def run_regress(cluster, tally, only, keep_results=None):
    tests = sorted(f[:-4] for f in os.listdir(os.path.join(TOP, "sql")) if f.endswith(".sql"))
    tests = [t for t in tests if not only or t in only]
    if not tests:
        return
    work = tempfile.mkdtemp(prefix="syncopt-regress-")
    for sub in ("sql", "expected"):
        shutil.copytree(os.path.join(TOP, sub), os.path.join(work, sub))
    if os.geteuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", work], check=True)
    proc = subprocess.run(
        as_postgres([pg_regress_path(), f"--bindir={PG_BIN}", f"--inputdir={work}",
                     f"--outputdir={work}", f"--host={cluster.socket_dir}",
                     f"--port={cluster.port}", "--user=postgres",
                     "--dbname=contrib_regression", "--load-extension=plpgsql"] + tests),
        capture_output=True, text=True)
    seen = set()
    for line in proc.stdout.splitlines():
        name, ok = regress_result(line)
        if name in tests:
            seen.add(name)
            tally.record("regress", name, ok)
    for t in tests:
        if t not in seen:
            tally.record("regress", t, False, "pg_regress did not report it:\n" + proc.stdout + proc.stderr)
    diffs = os.path.join(work, "regression.diffs")
    if os.path.exists(diffs):
        with open(diffs) as f:
            print(f.read())
    if keep_results:
        shutil.copytree(os.path.join(work, "results"), keep_results, dirs_exist_ok=True)
    shutil.rmtree(work, ignore_errors=True)


def run_pgtap(cluster, tally, only):
    tap_dir = os.path.join(HERE, "pgtap")
    files = sorted(f for f in os.listdir(tap_dir) if f.endswith(".sql"))
    files = [f for f in files if not only or f[:-4] in only]
    if not files:
        return
    cluster.psql("DROP DATABASE IF EXISTS contrib_regression")
    cluster.psql("CREATE DATABASE contrib_regression")
    cluster.psql("CREATE EXTENSION pgtap; CREATE EXTENSION syncopt;", db="contrib_regression")
    for name in files:
        with open(os.path.join(tap_dir, name)) as f:
            sql = f.read()
        code, out, err = cluster.psql(sql, db="contrib_regression", check=False)
        planned = None
        count = 0
        for line in out.splitlines():
            m = re.match(r"^\s*1\.\.(\d+)", line)
            if m:
                planned = int(m.group(1))
            m = re.match(r"^\s*(not ok|ok) (\d+)(.*)", line)
            if m:
                count += 1
                tally.record("pgtap", f"{name[:-4]} {m.group(2)}{m.group(3)}", m.group(1) == "ok",
                             "\n".join(l for l in out.splitlines() if l.lstrip().startswith("#")))
        if code != 0 or planned is None or planned != count:
            tally.record("pgtap", f"{name[:-4]} (plan)", False,
                         f"psql exit {code}, planned {planned}, ran {count}\n{err}")


class TallyResult(unittest.TestResult):
    """Feeds unittest outcomes into the tally as they happen."""

    def __init__(self, tally, cluster):
        super().__init__()
        self.tally = tally
        self.cluster = cluster

    def _name(self, test):
        return f"{test.__class__.__module__}.{getattr(test, '_testMethodName', str(test))}"

    def addSuccess(self, test):
        self.tally.record("integration", self._name(test), True)

    def addFailure(self, test, err):
        self.tally.record("integration", self._name(test), False,
                          "".join(traceback.format_exception(*err)) + "\nserver log:\n" + self.cluster.log_tail())

    addError = addFailure

    def addSubTest(self, test, subtest, err):
        # unittest calls neither addSuccess nor addFailure for a test one of
        # whose subtests failed: without this the test left the tally
        # silently (neither passed nor failed).
        if err is not None:
            where = subtest.id()[len(test.id()):].strip()
            self.tally.record("integration", f"{self._name(test)} {where}", False,
                              "".join(traceback.format_exception(*err)) + "\nserver log:\n" + self.cluster.log_tail())

    def addExpectedFailure(self, test, err):
        # Neither passed nor failed: a known defect, named where it is marked.
        self.tally.skipped += 1
        print(f"xfail integration/{self._name(test)}: {err[1]!s:.300}", flush=True)

    def addUnexpectedSuccess(self, test):
        self.tally.record("integration", self._name(test), False,
                          "marked as an expected failure but passed: remove the mark")

    def addSkip(self, test, reason):
        self.tally.skipped += 1
        print(f"skip integration/{self._name(test)}: {reason}", flush=True)


def run_integration(cluster, tally, only):
    import integration
    integration.CLUSTER = cluster
    integration.WORKER_DB = WORKER_DB
    integration.PG_CRON = have_library("pg_cron")
    integration.AUTO_EXPLAIN = have_library("auto_explain")
    # The fixtures' runs carry fixed dates (November 2026); the default
    # retention (90 days) would let the collector's purge take them once
    # those dates are 90 days old, so the tests keep ten years instead.
    cluster.psql("ALTER SYSTEM SET syncopt.history_retention = '3650d'; SELECT pg_reload_conf();")
    mods = sorted(f[:-3] for f in os.listdir(os.path.join(HERE, "integration"))
                  if f.startswith("test_") and f.endswith(".py"))
    mods = [m for m in mods if not only or m in only]
    loader = unittest.TestLoader()
    for mod in mods:
        module = importlib.import_module(f"integration.{mod}")
        loader.loadTestsFromModule(module).run(TallyResult(tally, cluster))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["regress", "pgtap", "integration"], action="append",
                        help="run only these suites (default: all)")
    parser.add_argument("--keep-results", metavar="DIR",
                        help="copy pg_regress's actual outputs to DIR (for reviewing new tests)")
    parser.add_argument("names", nargs="*", help="run only these test files or modules")
    args = parser.parse_args()
    suites = args.suite or ["regress", "pgtap", "integration"]
    only = set(args.names)

    tally = Tally()
    settings = dict(SETTINGS)
    if not have_library("pg_cron"):
        print("pg_cron is not installed for this server: the tests that need it are skipped", flush=True)
        settings = {k: v for k, v in SETTINGS.items() if not k.startswith("cron.")}
        settings.update(WITHOUT_PG_CRON)
    cluster = Cluster(settings, databases=[WORKER_DB])
    try:
        cluster.start()
        cluster.psql("CREATE EXTENSION syncopt", db=WORKER_DB)
        if "regress" in suites:
            run_regress(cluster, tally, only, args.keep_results)
        if "pgtap" in suites:
            run_pgtap(cluster, tally, only)
        if "integration" in suites:
            run_integration(cluster, tally, only)
    except Exception:
        traceback.print_exc()
        print("server log:\n" + cluster.log_tail())
        tally.failed += 1
    finally:
        cluster.destroy()

    summary = f"{tally.passed} passed, {tally.failed} failed"
    if tally.skipped:
        summary += f", {tally.skipped} skipped"
    print(summary)
    return 1 if tally.failed else 0


if __name__ == "__main__":
    sys.exit(main())
