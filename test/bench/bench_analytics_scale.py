#!/usr/bin/env python3
"""make bench, analytics at scale (issue 34): plan(), sla_risk(),
priority_scores() and batch_recommendations() at 10,000 and 50,000
connectors, two builds side by side on the same fleets.

The fleet is bench_analytics.py's generator (3,000 assets, 500 dashboards
with deadlines, two lineage edges per connector, sync_order every 20th pair,
50 source load windows and a warehouse peak window) with 100 runs per
connector, at each size in ANALYTICS_SCALE_SIZES (default 10000,50000).
plan() and sla_risk() are measured at two instants: the analytics bench's
(2026-11-20 03:00 UTC) and 12:00 UTC the same day, where plan() places a
sync for every connector, many of them late, and Moore-Hodgson triage gives
some up (the rows say how many); priority_scores() and
batch_recommendations() at the first.

Both builds run on one data directory per size, one after the other (the
server restarted with the other build's binaries): the build found by
PG_CONFIG ("after") and the one whose pg_config is
ANALYTICS_BEFORE_PG_CONFIG ("before"; unset: the after build only).  Each
figure is one call in a fresh backend after a warm-up statement: the
backend's CPU time (/proc/self/schedstat; the machine's cores are shared),
its wall time, and its peak resident memory (VmHWM, which counts the shared
buffers it touched); the median of ANALYTICS_SCALE_ROUNDS calls (default
1).  The outputs of the two builds are compared row by row (md5 of every
row, in the function's order); the section says whether they are identical.

ANALYTICS_SCALE_DIR keeps the generated clusters there and reuses them on
the next run (generating 50,000 connectors x 100 runs takes about ten
minutes on this machine).  ANALYTICS_SCALE_KEEP=FILE keeps the figures as
JSON; `bench_analytics_scale.py --from-json FILE` rewrites the section from
them.

Writes the "Analytics at 50,000 connectors (issue 34)" section of
docs/benchmarks.md.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, HERE)

import bench_analytics as ba  # noqa: E402
from harness.cluster import Cluster, as_postgres  # noqa: E402
from report import replace_section  # noqa: E402

SECTION = "Analytics at 50,000 connectors (issue 34)"
SIZES = [int(s) for s in os.environ.get("ANALYTICS_SCALE_SIZES", "10000,50000").split(",")]
ROUNDS = int(os.environ.get("ANALYTICS_SCALE_ROUNDS", "1"))
RUNS = 100
AT = ba.AT
NOON = "2026-11-20 12:00+00"
CALLS = [
    ("plan", AT, f"syncopt.plan('{AT}', '24 hours')"),
    ("sla_risk", AT, f"syncopt.sla_risk('{AT}')"),
    ("plan", NOON, f"syncopt.plan('{NOON}', '24 hours')"),
    ("sla_risk", NOON, f"syncopt.sla_risk('{NOON}')"),
    ("priority_scores", AT, f"syncopt.priority_scores('{AT}')"),
    ("batch_recommendations", AT, f"syncopt.batch_recommendations('{AT}')"),
]
CPU_NS = "split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"
TARGET_S = 2.0


def bindir(pg_config):
    """The bin directory of the build pg_config describes."""
    return subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True).stdout.strip()


class Server:
    """One size's cluster, started with one build's binaries at a time."""

    def __init__(self, root):
        self.root = root
        self.data = os.path.join(root, "data")
        self.bin = None

    def start(self, bin_dir):
        self.stop()
        self.bin = bin_dir
        subprocess.run(as_postgres([f"{bin_dir}/pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "server.log"),
                                    "-w", "-t", "120", "start"]), check=True, capture_output=True)

    def stop(self):
        if self.bin:
            subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"]),
                           capture_output=True)
            self.bin = None

    def psql(self, sql):
        """stdout and stderr of sql in a new session (a fresh backend)."""
        proc = subprocess.run([f"{self.bin}/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-h", self.root, "-p", str(Cluster.port), "-U", "postgres", "-d", ba.DB],
                              input=sql, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        return proc.stdout, proc.stderr


def generate(root, n):
    """A cluster at root with the generated fleet of n connectors (the after build's binaries)."""
    cluster = Cluster(ba.SETTINGS, databases=[ba.DB], root=root)
    cluster.start()
    try:
        cluster.psql(ba.fleet_sql(n), ba.DB)
        ba.load_runs(cluster, n, 1, RUNS)
    finally:
        cluster.stop()


def call(server, query):
    """(CPU s, wall s, peak MB) of one call in a fresh backend."""
    out, err = server.psql(
        "SELECT count(*) FROM syncopt.connector;\n"
        f"DO $$ DECLARE t0 timestamptz := clock_timestamp(); c0 bigint := {CPU_NS}; BEGIN "
        f"PERFORM count(*) FROM {query}; "
        f"RAISE NOTICE 'seconds=% cpu=%', extract(epoch FROM clock_timestamp() - t0), ({CPU_NS} - c0) / 1e9; END $$;\n"
        "SELECT substring(pg_read_file('/proc/self/status') FROM 'VmHWM:\\s+(\\d+)');")
    line = [x for x in err.splitlines() if "cpu=" in x][-1]
    wall = float(line.split("seconds=")[1].split()[0])
    cpu = float(line.split("cpu=")[1])
    return cpu, wall, int(out.strip().splitlines()[-1]) / 1024


def measure(server, bin_dir):
    """Per call: median CPU, median wall, largest peak memory, and the md5 of its rows."""
    server.start(bin_dir)
    res = {}
    try:
        for name, at, query in CALLS:
            samples = [call(server, query) for _ in range(ROUNDS)]
            md5 = server.psql(f"SELECT md5(string_agg(q::text, E'\\n')) FROM (SELECT * FROM {query}) q;")[0].strip()
            res[(name, at)] = (statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples),
                               max(s[2] for s in samples), md5)
            print(f"{bin_dir} {name} {at}: {res[(name, at)]}", file=sys.stderr, flush=True)
        shape = {}
        for at in (AT, NOON):
            shape[at] = server.psql(
                "SELECT count(*) || '/' || count(*) FILTER (WHERE will_miss) || '/' || "
                f"count(*) FILTER (WHERE action = 'give_up') FROM syncopt.plan('{at}', '24 hours');")[0].strip()
    finally:
        server.stop()
    return res, shape


def exponent(lo, hi, n_lo, n_hi):
    """Growth exponent of a cost between two sizes (1 is linear)."""
    return math.log(hi / lo) / math.log(n_hi / n_lo) if lo > 0 and hi > 0 else float("nan")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from-json":
        # Rewrite the section from the figures a run kept (ANALYTICS_SCALE_KEEP).
        with open(sys.argv[2]) as f:
            replace_section(SECTION, report(from_json(json.load(f))))
        return
    after_bin = bindir(os.environ.get("PG_CONFIG", "pg_config"))
    before_pg = os.environ.get("ANALYTICS_BEFORE_PG_CONFIG")
    before_bin = bindir(before_pg) if before_pg else None
    keep = os.environ.get("ANALYTICS_SCALE_DIR")
    base = keep or tempfile.mkdtemp(prefix="syncopt-analytics-scale-")
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    results = {}
    for n in SIZES:
        root = os.path.join(base, str(n))
        if not os.path.exists(os.path.join(root, "data")):
            generate(root, n)
        server = Server(root)
        after, shape = measure(server, after_bin)
        before = measure(server, before_bin)[0] if before_bin else None
        results[n] = (before, after, shape)
        if not keep:
            subprocess.run(["rm", "-rf", root])
    if os.environ.get("ANALYTICS_SCALE_KEEP"):
        with open(os.environ["ANALYTICS_SCALE_KEEP"], "w") as f:
            json.dump(to_json(results), f)
    text = report(results)
    replace_section(SECTION, text)
    print(text)


def to_json(results):
    """The figures of a run as JSON: size -> leg -> "name|at" -> figures, and the plan shapes."""
    legs = {}
    for n, (before, after, shape) in results.items():
        legs[str(n)] = {"before": {f"{k[0]}|{k[1]}": v for k, v in before.items()} if before else None,
                        "after": {f"{k[0]}|{k[1]}": v for k, v in after.items()}, "shape": shape}
    return legs


def from_json(legs):
    """The results to_json() kept."""
    def keyed(leg):
        return {tuple(k.split("|")): tuple(v) for k, v in leg.items()} if leg else None
    return {int(n): (keyed(v["before"]), keyed(v["after"]), v["shape"]) for n, v in legs.items()}


def cell(r):
    """A figure: CPU time, wall time, peak memory."""
    return f"{r[0]:.2f} s ({r[1]:.2f} s wall, {r[2]:,.0f} MB)"


def report(results):
    """The section of docs/benchmarks.md."""
    have_before = all(results[n][0] is not None for n in SIZES)
    lines = ["| function | instant | connectors | before | after | CPU before / after |",
             "| --- | --- | --- | --- | --- | --- |"]
    identical = True
    for name, at, _ in CALLS:
        for n in SIZES:
            before, after, _ = results[n]
            a = after[(name, at)]
            if have_before:
                b = before[(name, at)]
                identical &= b[3] == a[3]
                lines.append(f"| `{name}` | {at[11:16]} | {n:,} | {cell(b)} | {cell(a)} | {b[0] / a[0]:.1f}x |")
            else:
                lines.append(f"| `{name}` | {at[11:16]} | {n:,} | | {cell(a)} | |")
    growth = []
    status = []
    lo, hi = SIZES[0], SIZES[-1]
    for name, at, _ in CALLS:
        after_exp = exponent(results[lo][1][(name, at)][0], results[hi][1][(name, at)][0], lo, hi)
        before_exp = (exponent(results[lo][0][(name, at)][0], results[hi][0][(name, at)][0], lo, hi)
                      if have_before else float("nan"))
        growth.append(f"`{name}` at {at[11:16]}: {before_exp:.2f} before, {after_exp:.2f} after")
        cpu = results[hi][1][(name, at)][0]
        status.append(f"`{name}` at {at[11:16]}: {cpu:.2f} s CPU at {hi:,}, "
                      + ("under" if cpu < TARGET_S else "**not** under") + f" {TARGET_S:.0f} s")
    shapes = "; ".join(f"{n:,} connectors: {results[n][2][AT]} at {AT[11:16]}, {results[n][2][NOON]} at {NOON[11:16]}"
                       for n in SIZES)
    same = ("The outputs of the two builds are identical for every call (md5 of every row in order)."
            if identical else "**The outputs of the two builds differ** (md5 of the rows).")
    return f"""## {SECTION}

Written by `make bench` ({os.path.relpath(__file__, TOP)}). The analytics
bench's generated fleet (3,000 assets, 500 dashboards with deadlines, two
lineage edges per connector, sync_order every 20th pair, 50 source load
windows and a warehouse peak window), {RUNS} runs per connector,
`syncopt.max_concurrent_syncs = 1000`. `before` is the build before this
work, `after` this build, both on the same data directory, one after the
other in one invocation. Each figure is one call in a fresh backend after a
warm-up statement: the backend's CPU time (the median of {ROUNDS}), its
wall time and its peak resident memory (VmHWM, counting the shared buffers
it touched, at most 128 MB). This machine's two cores are shared with
other sessions' work, so wall times include waiting for a core and even
CPU times vary by a third between identical calls: compare within a row.
{same}

Planned syncs / predicted misses / given up by triage in `plan(at, '24
hours')`: {shapes}.

{chr(10).join(lines)}

Growth from {lo:,} to {hi:,} connectors (exponent of CPU time, 1 is
linear): {"; ".join(growth)}.

Targets of issue 34 (each under {TARGET_S:.0f} s at {hi:,} connectors, CPU time
on this machine): {"; ".join(status)}.

{NOTES} {BASELINE}
"""


# Written from the profiles and the measurements made with this change, as the text says.
NOTES = """**What changed (this round).** The build before it already had the
previous round's changes (placement on a treap of free gaps in
`src/plan_slots.c`, `sla_risk()` walking only the connectors that reach
each deadline, the earliest unserved deadline by Kahn's order). Profiled
first (perf on the backend, one call in a fresh backend, 50,000
connectors): in that build 57% of `plan()` at 12:00 was the fleet loader,
31% its probe of `sync_run` per connector for the start of the data the
connector holds (`fresh_since`: its last success ended by `at` and started
within 8 days). `connector_stats` now keeps the start and end of each
connector's latest success (`latest_success_started_at`,
`latest_success_finished_at`: read again from `sync_run` at every fold,
and by the purge when it removed that run); the loader takes `fresh_since`
from them and probes `sync_run` only for a connector whose latest success
had not ended by `at` (an instant in the past, as `simulate()` and
`backtest()` ask), that has no stats row, or whose runs wait in
`stats_backlog` (regress `fleet_fresh` fails with either fallback
removed). The probe for runs in progress, which only `plan()` reads, is
one aggregate over the partial index of running runs instead of one probe
per connector. After that the loader was 33% of `plan()` at 12:00, and the
next item was the reasons' text: `format_time()` and `format_duration()`
returned a palloc'd string per value, kept until the call ended (13% of
`plan()`, half of it page faults of a fresh backend); they write into a
ring of static buffers now (every caller copies the text at once).
Outputs are identical: besides the comparison below, the md5 of every row
of `plan()` and `sla_risk()` at seven instants (11-20 03:00 and 12:00;
11-19 22:10, 11-17 01:30, 11-10 15:45 and 10-01 00:00, where latest
successes had not ended or begun and the loader falls back to its probe;
11-27 04:00, after every run), of `priority_scores()` and
`batch_recommendations()` at two and of `predict_duration()` at one, the
before and after builds on the 10,000-connector fleet: 19 of 19
identical.

**Where the time goes now** (perf, this build, 50,000 connectors, one call
in a fresh backend on a loaded machine). `priority_scores()`: the loader
47% (reading the connector rows 25%, a third of it page faults of the
copies of the recent-run arrays and names; executing the connectors'
query 18%), scoring 31% (the graph 16%, of which the earliest unserved
deadline, `redirect_dues`, 8%; predictions 12%). `plan()` at 12:00 (before
the formatting change): scheduling 37%, the loader 33%, scoring 18%, page
faults 19% across them; each sync's reason is written in every pass
(the priority pass and, when deadlines would be missed, a pass per triage
way and the kept one again) though only the last pass's are returned:
about a tenth of `plan()` at 12:00, left to the work on plan.c's triage.
`batch_recommendations()`: the loader 30%, its own read of the last 12
runs of each Airbyte connector 33% (index scans that read `sync_run`'s
heap pages from the OS cache: 128 MB of shared buffers do not hold them),
scoring 17%. `sla_risk()` is `plan()` plus the forecast rows and their
`blocking_connectors` arrays. The run written here was made on a
machine at load average 9-10 (other sessions' work on its two cores):
wall times are two to five times the CPU times, and single calls vary
(`batch_recommendations()` at 10,000 is slower after in this run, faster
at 50,000; its work changed only in the loader's probes). Peak memory fell
by a third for every call at 50,000 (the probes' and the formatted
values' allocations), which a fresh backend also pays as page faults.

**`priority_scores()` and the SQL baseline.**"""

BASELINE = """Measured once in the previous round (the before build here) on the same
fleets (this build, one call each in a fresh backend, CPU time; the
analytics bench's SQL query): at 10,000 connectors x 100 runs
`priority_scores()` 0.88 s (median of 3) and the SQL 1.81 s, 2.1x; at
50,000 x 100, 3.11 s and 6.68 s, 2.1x. It is not 10x, and on short history
it will not be: most of `priority_scores()` is the fleet loader (one
`connector_stats` row and one `sync_run` probe per connector) and the
graph walk, about what the SQL's one sort of 100 runs per connector costs.
The ratio grows with history, which the C never reads (the "Analytics"
section: 15x at 10,000 x 500 runs; not re-measured here). The C earns its
keep in what the SQL leaves out (transitive weights, deadlines through
chains and sync_order, windows, calendar, failure risk, reasons) and in
staying flat as history grows."""


if __name__ == "__main__":
    main()
