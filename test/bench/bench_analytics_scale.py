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

Both builds run on one data directory per size, a round of each in turn
(the server restarted with the other build's binaries): the build found by
PG_CONFIG ("after") and the one whose pg_config is
ANALYTICS_BEFORE_PG_CONFIG ("before"; unset: the after build only).  Each
figure is one call in a fresh backend after a warm-up statement: the
backend's CPU time (/proc/self/schedstat; the machine's cores are shared),
its wall time, and its peak resident memory (VmHWM, which counts the shared
buffers it touched); the median of ANALYTICS_SCALE_ROUNDS rounds (default
1) that alternate the builds.  The outputs of the two builds are compared
row by row (md5 of every row, in the function's order); the section says
whether they are identical.

ANALYTICS_SCALE_DIR keeps the generated clusters there and reuses them on
the next run (generating 50,000 connectors x 100 runs takes about ten
minutes on this machine).  ANALYTICS_SCALE_KEEP=FILE keeps the figures as
JSON, with the sizes, rounds, before label and run note they were measured
under; `bench_analytics_scale.py --from-json FILE` rewrites the section
from them.

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
# What the section calls the before build, and a paragraph on the run's
# conditions (kept with the figures: to_json()).
BEFORE_LABEL = os.environ.get("ANALYTICS_SCALE_BEFORE_LABEL", "the build before this work")
RUN_NOTE = os.environ.get("ANALYTICS_SCALE_RUN_NOTE", "")
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
    # The analytics bench's plain SQL priority, beside priority_scores().
    ("SQL baseline", AT, f"({ba.SQL_PRIORITY.strip().rstrip(';')}) q"),
]
BASELINE = "SQL baseline"
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


def measure_round(server, bin_dir, samples, first):
    """One round of every call with one build, added to samples (per call);
    in the first round also the md5 of each call's rows and the plans' shape."""
    server.start(bin_dir)
    md5s, shape = {}, {}
    try:
        for name, at, query in CALLS:
            sample = call(server, query)
            samples.setdefault((name, at), []).append(sample)
            print(f"{bin_dir} {name} {at}: {sample}", file=sys.stderr, flush=True)
            if first:
                md5s[(name, at)] = server.psql(
                    f"SELECT md5(string_agg(q::text, E'\\n')) FROM (SELECT * FROM {query}) q;")[0].strip()
        if first:
            for at in (AT, NOON):
                shape[at] = server.psql(
                    "SELECT count(*) || '/' || count(*) FILTER (WHERE will_miss) || '/' || "
                    f"count(*) FILTER (WHERE action = 'give_up') FROM syncopt.plan('{at}', '24 hours');")[0].strip()
    finally:
        server.stop()
    return md5s, shape


def measure(server, builds):
    """Per build and call: median CPU, median wall, largest peak memory, and
    the md5 of its rows, from ROUNDS rounds that alternate the builds (the
    machine's load moves between minutes: a round of each build back to
    back shares it); and the after build's plan shapes."""
    samples = {label: {} for label in builds}
    md5s, shapes = {}, {}
    labels = list(builds)
    for r in range(ROUNDS):
        for label in (labels if r % 2 == 0 else labels[::-1]):
            m, shape = measure_round(server, builds[label], samples[label], first=r == 0)
            if r == 0:
                md5s[label], shapes[label] = m, shape
    res = {label: {key: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v),
                         max(x[2] for x in v), md5s[label][key])
                   for key, v in samples[label].items()} for label in builds}
    return res, shapes["after"]


def exponent(lo, hi, n_lo, n_hi):
    """Growth exponent of a cost between two sizes (1 is linear)."""
    # One size measured (ANALYTICS_SCALE_SIZES=50000) has no growth.
    return math.log(hi / lo) / math.log(n_hi / n_lo) if lo > 0 and hi > 0 and n_hi != n_lo else float("nan")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--from-json":
        # Rewrite the section from the figures a run kept (ANALYTICS_SCALE_KEEP),
        # under the conditions it kept with them (the environment's for a
        # file kept before they were).
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
        builds = {"after": after_bin, **({"before": before_bin} if before_bin else {})}
        res, shape = measure(server, builds)
        results[n] = (res.get("before"), res["after"], shape)
        if not keep:
            subprocess.run(["rm", "-rf", root])
    if os.environ.get("ANALYTICS_SCALE_KEEP"):
        with open(os.environ["ANALYTICS_SCALE_KEEP"], "w") as f:
            json.dump(to_json(results), f)
    text = report(results)
    replace_section(SECTION, text)
    print(text)


def to_json(results):
    """The figures of a run as JSON: size -> leg -> "name|at" -> figures, and the plan shapes; under
    "conditions" what the section says of the run besides them."""
    legs = {"conditions": {"sizes": SIZES, "rounds": ROUNDS, "before_label": BEFORE_LABEL, "run_note": RUN_NOTE}}
    for n, (before, after, shape) in results.items():
        legs[str(n)] = {"before": {f"{k[0]}|{k[1]}": v for k, v in before.items()} if before else None,
                        "after": {f"{k[0]}|{k[1]}": v for k, v in after.items()}, "shape": shape}
    return legs


def from_json(legs):
    """The results to_json() kept, its conditions taken in place of the environment's."""
    global SIZES, ROUNDS, BEFORE_LABEL, RUN_NOTE
    kept = legs.pop("conditions", {})
    SIZES = kept.get("sizes", SIZES)
    ROUNDS = kept.get("rounds", ROUNDS)
    BEFORE_LABEL = kept.get("before_label", BEFORE_LABEL)
    RUN_NOTE = kept.get("run_note", RUN_NOTE)

    def keyed(leg):
        return {tuple(k.split("|")): tuple(v) for k, v in leg.items()} if leg else None
    return {int(n): (keyed(v["before"]), keyed(v["after"]), v["shape"]) for n, v in legs.items()}


def cell(r):
    """A figure: CPU time, wall time, peak memory."""
    return f"{r[0]:.2f} s ({r[1]:.2f} s wall, {r[2]:,.0f} MB)"


def report(results):
    """The section of docs/benchmarks.md."""
    have_before = all(results[n][0] is not None for n in SIZES)
    # A run kept before the baseline was measured has no row for it.
    calls = [c for c in CALLS if all((c[0], c[1]) in results[n][1] for n in SIZES)]
    lines = ["| function | instant | connectors | before | after | CPU before / after |",
             "| --- | --- | --- | --- | --- | --- |"]
    identical = True
    for name, at, _ in calls:
        for n in SIZES:
            before, after, _ = results[n]
            a = after[(name, at)]
            label = name if name == BASELINE else f"`{name}`"
            if have_before:
                b = before[(name, at)]
                identical &= b[3] == a[3]
                lines.append(f"| {label} | {at[11:16]} | {n:,} | {cell(b)} | {cell(a)} | {b[0] / a[0]:.2f}x |")
            else:
                lines.append(f"| {label} | {at[11:16]} | {n:,} | | {cell(a)} | |")
    growth = []
    status = []
    lo, hi = SIZES[0], SIZES[-1]
    for name, at, _ in calls:
        after_exp = exponent(results[lo][1][(name, at)][0], results[hi][1][(name, at)][0], lo, hi)
        if have_before:
            before_exp = exponent(results[lo][0][(name, at)][0], results[hi][0][(name, at)][0], lo, hi)
            growth.append(f"`{name}` at {at[11:16]}: {before_exp:.2f} before, {after_exp:.2f} after")
        else:
            growth.append(f"`{name}` at {at[11:16]}: {after_exp:.2f}")
        if name == BASELINE:
            continue
        cpu = results[hi][1][(name, at)][0]
        status.append(f"`{name}` at {at[11:16]}: {cpu:.2f} s CPU at {hi:,}, "
                      + ("under" if cpu < TARGET_S else "**not** under") + f" {TARGET_S:.0f} s")
    shapes = "; ".join(f"{n:,} connectors: {results[n][2][AT]} at {AT[11:16]}, {results[n][2][NOON]} at {NOON[11:16]}"
                       for n in SIZES)
    growth_text = (f"Growth from {lo:,} to {hi:,} connectors (exponent of CPU time, 1 is\n"
                   f"linear): {'; '.join(growth)}.\n\n" if hi != lo else "")
    # The baseline over priority_scores(), CPU time, each build.
    ratios = "; ".join(
        f"{n:,} connectors: " + ", ".join(
            f"{leg} {results[n][i][(BASELINE, AT)][0] / results[n][i][('priority_scores', AT)][0]:.1f}x"
            for i, leg in ((0, "before"), (1, "after")) if results[n][i] is not None)
        for n in SIZES) if (BASELINE, AT) in results[SIZES[0]][1] else "not measured in this run"
    builds = (f"`before` is {BEFORE_LABEL},\n`after` this build, both on the same data directory, their rounds\n"
              "alternating in one invocation." if have_before else "One build, this one.")
    rounds = ("one call" if ROUNDS == 1
              else f"the median of {ROUNDS} rounds" + (" that alternate the builds" if have_before else ""))
    run_note = f"{RUN_NOTE}\n" if RUN_NOTE else ""
    same = ("" if not have_before
            else "The outputs of the two builds are identical for every call (md5 of every row in order)."
            if identical else "**The outputs of the two builds differ** (md5 of the rows).")
    return f"""## {SECTION}

Written by `make bench` ({os.path.relpath(__file__, TOP)}). The analytics
bench's generated fleet (3,000 assets, 500 dashboards with deadlines, two
lineage edges per connector, sync_order every 20th pair, 50 source load
windows and a warehouse peak window), {RUNS} runs per connector,
`syncopt.max_concurrent_syncs = 1000`. {builds} Each figure is one call in a fresh backend after a
warm-up statement: the backend's CPU time ({rounds}), its
wall time and its peak resident memory (VmHWM, counting the shared buffers
it touched, at most 128 MB). This machine's two cores may be shared with
other work, so wall times include waiting for a core and even CPU times
can vary by a third between identical calls: compare within a row.
{same}
{run_note}
Planned syncs / predicted misses / given up by triage in `plan(at, '24
hours')`: {shapes}.

{chr(10).join(lines)}

{growth_text}Targets of issue 34 (each under {TARGET_S:.0f} s at {hi:,} connectors, CPU time
on this machine): {"; ".join(status)}.

The SQL baseline over `priority_scores()` (CPU time): {ratios}. {BASELINE_TEXT}

{NOTES}
"""


# Written from the profiles and the measurements made in session 26, as the text says.
NOTES = """**What session 26 changed (h-sla),** measured then by this bench
beside that round's before build (load average 4-7): at 50,000
connectors `plan()` and `sla_risk()` 1.3-1.5x less CPU, `priority_scores()`
1.4x, `batch_recommendations()` 1.2x, outputs identical. Profiled first
(perf on the backend, one call in a fresh backend, 50,000 connectors,
`sla_risk()` at 03:00 and 12:00), each change then checked md5-identical
against main on both fleets (plan for 24 hours and 3 days, sla_risk,
priority_scores and predict_duration at four instants and two slot counts
on 10,000 connectors; plan, sla_risk and priority_scores at three
instants, 1,000 and 300 slots, on 50,000):
- `sla_risk()` planned with every sync's reason, which none of its rows
  reads, and so its triage's kept order was planned once more at the end
  (a pass that writes reasons is never put back from the remembered ones).
  It and the planning run's eight-day plan now plan without (the decisions
  are the same, as `simulate()` relies on): no final pass, no 50,000
  reasons formatted.
- A fresh backend's page faults were a fifth of the samples (this VM
  makes each costly): `graph_compute()` zeroed one reach bitset per
  connector (19 MB), now one per connector that waits for another plus a
  scratch row; a pass with reasons (`plan()`) writes over the last pass's
  buffers instead of freeing and making 50,000 again.
- `redirect_dues()` looked at every upstream connector of each of the 500
  deadlines (47 million looks at 50,000 connectors, 7-13% of `plan()` and
  `sla_risk()` at 03:00): each deadline's due time for each upstream asset
  is kept (1.2 million, settled 131,072 at a time) and each connector gets
  the earliest one opening after its data by binary search over running
  minima.
- `plan()`'s window index compared every sync's source key with every load
  window's by `strcmp` (5%): the loader numbers the windows' sources and
  `window_applies()` compares integers. The predictions' reasons, read only
  by `predict_duration()`, are not formatted for the other functions (3%).
  `next_local_time()`, an SQL function, ran for each of 3,000 assets; now
  once per distinct rule of the 500 with a deadline (60) (3%). The assets'
  weights come from arrays of their own in the reach walk (cache misses on
  the Asset structs), arrays without NULLs are read in place, each run's
  log(1 + rows) is taken once, `blocking_connectors` are written into one
  reused array.
The previous rounds (h-loader, h-an50k: the kept runs of
`batch_recommendations()`) are in CHANGELOG.md.

**Where the time went** (perf, session 26's build, one call in a fresh
backend, 50,000 connectors, 03:00). `sla_risk()`: the loader 34% (executing the connectors' query, most of it reading `connector_stats`, 16%; reading its rows 14%, of which the predictions 5%), planning 20% (the triage tries 11%), scoring 18% (the graph walk 14%, of which `redirect_dues` 7%), the output 22% (the tuplestore 15%, `risk_values` 7%); page faults are 11% of all samples, half of them the tuplestore's. `plan()`: the loader 41% (the query 19%, reading the rows 17%), planning 30% (the triage tries 19%, the first pass with its reasons 8%), scoring 18% (the graph walk 16%, `redirect_dues` 7%), the output rows 6%; page faults 11%. Left: the
loader's cost is reading `connector_stats`' 98 MB (the four recent-run
arrays, 1,760 of a row's 1,870 bytes, which the predictions need) and
predicting 50,000 connectors from them; `sla_risk()`'s output is 118 MB of
`blocking_connectors` arrays, which the tuplestore zeroes, copies and
writes to a temporary file past `work_mem` whatever the C does (its page
faults are the largest share of this build's). A loader that read a
prediction summary kept by the fold (the model reads the instant only
through weekday and hour bucket, so P50 and P90 are a few numbers per
connector) instead of the arrays would remove most of the loader: done since
(issue 34): the fleet loader reads each connector's duration model, a
generated column of `connector_stats` kept by the fold, and never the
arrays; the figures above include it (CHANGELOG.md, and the git history
of "Planning run at scale", measured the change)."""

# Why the ratio is what it is; the figures are the run's (above it).
BASELINE_TEXT = """The baseline is a plain SQL query computing a simpler
priority from the raw history (the "Analytics" section). On 100 runs per
connector it is not 10x, and on short history it will not be: most of
`priority_scores()` is the fleet loader and the graph walk, about what the
SQL's one sort of 100 runs per connector costs. The ratio grows with
history, which the C never reads (the "Analytics" section, 500 runs per
connector). The C earns its keep in what the SQL leaves out (transitive
weights, deadlines through chains and sync_order, windows, calendar,
failure risk, reasons) and in staying flat as history grows."""

if __name__ == "__main__":
    main()
