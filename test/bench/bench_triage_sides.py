#!/usr/bin/env python3
"""make bench, failure triage: which side an outage is on (issue 30, session 24).

classify_failure() of the build under test ("after", the binaries of the
pg_config on PATH) and of the build TRIAGE_BEFORE_PG_CONFIG names
("before"), side by side in one run on one server, on the four held-out
sets (failure_heldout*.py: REAL_HELD_OUT, _2, _3, _4 and _4_LATE), the
validation split and leave-one-out over each build's own corpus; then
classify_runs() on 100,000 failed runs, repeating and all distinct, each
build in its own database (created under its own binaries, so with its own
rules and corpus), alternating, the median of ROUNDS.  Each build's verdicts
come from a database created under that build's binaries, so the rules and
labelled corpus are the build's own.

Writes the sub-section SIDES of "Failure triage" in docs/benchmarks.md, and
its figures to DUMP; --render writes the sub-section again from DUMP (after
its text changed) without measuring; --quick prints the verdicts of the
build on PATH only (no before, no timing, nothing written).
"""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_triage import (CATEGORIES, GROUP, HELD_OUT, RETRY_SAFE, SAFE_CATEGORIES, SETTINGS,  # noqa: E402
                          REAL_HELD_OUT, REAL_HELD_OUT_2, REAL_HELD_OUT_3, REAL_HELD_OUT_4, REAL_HELD_OUT_4_LATE,
                          SHARED, SIDES, PG_BIN, Cluster, as_postgres, q, replace_subsection)
SETS = (("REAL_HELD_OUT", REAL_HELD_OUT), ("REAL_HELD_OUT_2", REAL_HELD_OUT_2),
        ("REAL_HELD_OUT_3", REAL_HELD_OUT_3), ("REAL_HELD_OUT_4", REAL_HELD_OUT_4),
        ("REAL_HELD_OUT_4_LATE", REAL_HELD_OUT_4_LATE))
RUNS = 100_000
ROUNDS = 5


def start_with(cluster, bindir, build):
    """Restart the cluster's server with the binaries, so the syncopt library and share files, of bindir, for
    the build's database."""
    cluster.stop()
    subprocess.run(as_postgres([f"{bindir}/pg_ctl", "-D", cluster.data, "-l", cluster.log, "-w", "-t", "60",
                                "-o", f"-c syncopt.database_name=bench_{build}", "start"]),
                   check=True, capture_output=True)


def verdicts(cluster, db, wordings):
    """{message: (category, retryable, what decided)} of classify_failure() in db, one statement."""
    values = ", ".join(f"({q(m)})" for es in wordings.values() for m, _ in es)
    rows = cluster.rows("SELECT w.m, c.category, c.retryable, c.source || coalesce(' #' || c.source_id, '') "
                        f"FROM (VALUES {values}) w(m) CROSS JOIN LATERAL syncopt.classify_failure(w.m) c", db)
    return {m: (c, r == "t", s) for m, c, r, s in rows}


def score(wordings, got):
    """{cause: [wordings, right, unknown, harmful]} and the totals."""
    per = {}
    for cause, entries in wordings.items():
        p = per.setdefault(cause, [0, 0, 0, 0])
        for m, _ in entries:
            category, retryable, _ = got[m]
            p[0] += 1
            p[1] += category in CATEGORIES[cause]
            p[2] += category == "unknown"
            p[3] += retryable and cause not in RETRY_SAFE
    return per, [sum(p[i] for p in per.values()) for i in range(4)]


def leave_one_out(cluster, db):
    """(right, unknown, harmful, retry-safe retried, retry-safe, examples) over db's built-in corpus, each example
    classified with itself taken out (rolled back)."""
    examples = cluster.rows("SELECT example_id, category, message FROM syncopt.failure_example WHERE builtin "
                            "ORDER BY example_id", db)
    statements = ["ALTER TABLE syncopt.failure_example DISABLE TRIGGER failure_example_protect_builtin;"]
    for eid, _, message in examples:
        statements.append(f"BEGIN; DELETE FROM syncopt.failure_example WHERE example_id = {eid}; "
                          f"SELECT 'loo|{eid}|' || category || '|' || retryable "
                          f"FROM syncopt.classify_failure({q(message)}); ROLLBACK;")
    statements.append("ALTER TABLE syncopt.failure_example ENABLE TRIGGER failure_example_protect_builtin;")
    out = cluster.psql("\n".join(statements), db)[1]
    got = {}
    for line in out.splitlines():
        if line.startswith("loo|"):
            _, eid, category, retryable = line.split("|")
            got[eid] = (category, retryable == "true")
    right = unknown = harmful = retried = safe = 0
    for eid, category, _ in examples:
        verdict, retryable = got[eid]
        right += GROUP.get(verdict, verdict) == GROUP.get(category, category)
        unknown += verdict == "unknown"
        harmful += retryable and category not in SAFE_CATEGORIES
        retried += retryable and category in SAFE_CATEGORIES
        safe += category in SAFE_CATEGORIES
    return right, unknown, harmful, retried, safe, len(examples)


def check_held_out(corpus):
    """Refuse to measure when a held-out wording is in the corpus, or a fourth-set wording shares SHARED
    characters (case and whitespace folded) with a corpus wording, as bench_triage.py does."""
    held = [m for _, d in SETS for es in d.values() for m, _ in es]
    leaked = [m for m in held if m in corpus]
    folded = [" ".join(c.lower().split()) for c in corpus]
    near = [m for _, d in SETS[3:] for es in d.values() for m, _ in es
            if any(w[i:i + SHARED] in c for w in [" ".join(m.lower().split())]
                   for i in range(max(1, len(w) - SHARED + 1)) for c in folded)]
    if leaked or near:
        raise SystemExit(f"held-out wordings in the corpus: {leaked}; fourth-set wordings sharing {SHARED} "
                         f"characters with it: {near}")


def measure(cluster, db):
    """Every set's and the validation split's verdicts in db, and leave-one-out."""
    corpus = {r[0] for r in cluster.rows("SELECT message FROM syncopt.failure_example", db)}
    check_held_out(corpus)
    validation = {cause: [(m, s) for m, s in es if m not in corpus] for cause, es in HELD_OUT.items()}
    out = {name: verdicts(cluster, db, wordings) for name, wordings in SETS}
    out["validation"] = verdicts(cluster, db, validation)
    return out, validation, leave_one_out(cluster, db)


def server_cpu(cluster, db, query):
    """(wall, CPU) seconds of the server's backend running query to its last row."""
    cpu = "split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint"
    out = cluster.psql(f"DO $$ DECLARE t0 timestamptz := clock_timestamp(); c0 bigint := {cpu}; BEGIN "
                       f"PERFORM count(*) FROM ({query}) q; "
                       f"RAISE NOTICE 'seconds=% cpu=%', extract(epoch FROM clock_timestamp() - t0), "
                       f"({cpu} - c0) / 1e9; END $$;", db)
    wall, cpu_s = out[2].split("seconds=")[1].split(" cpu=")
    return float(wall), float(cpu_s.split()[0])


def leg_wordings():
    """Every held-out wording of the four sets and of the validation split."""
    return [m for _, d in SETS for es in d.values() for m, _ in es] + [m for es in HELD_OUT.values() for m, _ in es]


# The two legs: RUNS failed runs whose wordings repeat with other digits, finishing in November, and RUNS whose
# messages all differ (a job number appended), finishing in December; each measured before the next is inserted,
# since classify_runs() reads every run since its date.
LEGS = {"repeating": ("2026-11-01", "replace(w.m[1 + k % array_length(w.m, 1)], '0', (k % 10)::text)"),
        "all distinct": ("2026-12-01", "w.m[1 + k % array_length(w.m, 1)] || ' (job ' || k || ')'")}


def fill_leg(cluster, db, leg):
    """Insert one leg's RUNS failed runs into db (the account and connectors first)."""
    since, message = LEGS[leg]
    values = ", ".join(q(m) for m in leg_wordings())
    cluster.psql(f"""
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES (1, 'fivetran', 'ft', 'https://api.fivetran.com')
    ON CONFLICT DO NOTHING;
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT k, 1, 'c' || k, 'c' || k FROM generate_series(1, 100) k ON CONFLICT DO NOTHING;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
SELECT 1 + k % 100, '{leg[0]}' || k, timestamptz '{since}' + k * interval '10 seconds',
       timestamptz '{since}' + k * interval '10 seconds' + interval '5 minutes', 'failed', {message}, 'api'
  FROM generate_series(1, {RUNS}) k, (SELECT ARRAY[{values}] AS m) w;
ANALYZE syncopt.sync_run;""", db)


def timing(cluster, builds):
    """{build: {leg: (wall, CPU)}}, medians of ROUNDS, the builds alternating on the same server, each leg's runs
    inserted into both builds' databases before it is measured."""
    seconds = {b: {leg: [] for leg in LEGS} for b in builds}
    for leg, (since, _) in LEGS.items():
        for build, bindir in builds.items():
            start_with(cluster, bindir, build)
            fill_leg(cluster, f"bench_{build}", leg)
        for _ in range(ROUNDS):
            for build, bindir in builds.items():
                start_with(cluster, bindir, build)
                seconds[build][leg].append(
                    server_cpu(cluster, f"bench_{build}", f"SELECT * FROM syncopt.classify_runs('{since}')"))
    return {b: {c: tuple(sorted(x)[len(x) // 2] for x in zip(*v)) for c, v in per.items()}
            for b, per in seconds.items()}


def fmt(p):
    """right / unknown / harmful of one score row."""
    return f"{p[1]} / {p[2]} / {p[3]}"


def lines_of(results, validations, loos, times, nwordings):
    """The sub-section's markdown."""
    wordings_of = dict(SETS)
    lines = [f"### {SIDES}", "",
             "Written by test/bench/bench_triage_sides.py: `classify_failure()` before (main at the session's "
             "start) and after the change, side by side in one run on one server, each build in a database "
             "created under its own binaries (its own rules and labelled corpus). Right / unknown / harmful "
             "(a cause a retry cannot fix read as retryable). The fourth set is no longer held out for the "
             "wordings learnt from it: its misses were read to design the side signal (no wording of it, nor of "
             "the issues it cites, is in the corpus or the tests, and the 60-character check holds).", "",
             "What changed (docs/analytics.md, \"Which side an outage is on\"): once a message reads as an outage, "
             "its side is what something says: Airbyte's failure origin (now also \"Failure in destination:\" and "
             "a failure summary's failureOrigin), a label of this very wording family, the one side the message's "
             "words name (a warehouse, its client library or host, a load operation, a loader, writer, sink or "
             "Singer target; a source connector, a Singer tap, an extractor, the word \"source\"), the one side "
             "the words of the nearest labelled outage name; when nothing says, the outage is put on neither side "
             "(`transient`, whose remediation names both) rather than guessed. Only the category moves, between "
             "categories a retry can fix; whether to retry is decided as before. Also a built-in rule (and two of "
             "Debezium's own messages in the corpus) for a change-capture connector that asks to be reconfigured "
             "or snapshotted anew because its schema history no longer fits: configuration, never retried.", "",
             "What it costs: a BigQuery job failure worded without naming BigQuery or a load (two in "
             "REAL_HELD_OUT_2) was right before only because it resembled a Snowflake internal error labelled "
             "the destination's; it now reads as an outage of no side (`transient`, not retried, as before). "
             "Two outages of the fourth set name no side either (Snowflake's streaming endpoint, a 503 "
             "\"Service Temporarily Unavailable\"): they read `transient` instead of the source's outage, still "
             "counted wrong, no longer a wrong side. The sets' `transient` cause counts an outage of either side "
             "or of none as right, so putting a source outage on neither side costs nothing there.", "",
             "| set | wordings | before | after |", "| --- | --- | --- | --- |"]
    for name, _ in SETS:
        _, bt = score(wordings_of[name], results["before"][name])
        _, at = score(wordings_of[name], results["after"][name])
        lines.append(f"| {name} | {bt[0]} | {fmt(bt)} | **{fmt(at)}** |")
    _, vb = score(validations["before"], results["before"]["validation"])
    _, va = score(validations["after"], results["after"]["validation"])
    lines.append(f"| validation split | {vb[0]} | {fmt(vb)} | **{fmt(va)}** |")
    lb, la = loos["before"], loos["after"]
    lines.append(f"| leave-one-out over each build's corpus | {lb[5]} / {la[5]} | {lb[0]} / {lb[1]} / {lb[2]} "
                 f"(retried {lb[3]} of {lb[4]} retry-safe) | **{la[0]} / {la[1]} / {la[2]}** (retried {la[3]} of "
                 f"{la[4]} retry-safe) |")
    lines += ["", "Per cause (right / unknown / harmful, before → after):", "",
              "| cause | " + " | ".join(n for n, _ in SETS) + " |", "| --- |" + " --- |" * len(SETS)]
    causes = [c for c in CATEGORIES if any(c in d for _, d in SETS)]
    for cause in causes:
        cells = []
        for name, d in SETS:
            if cause not in d:
                cells.append("")
                continue
            bp, _ = score({cause: d[cause]}, results["before"][name])
            ap, _ = score({cause: d[cause]}, results["after"][name])
            cells.append(f"{fmt(bp[cause])} → {fmt(ap[cause])} (of {bp[cause][0]})")
        lines.append(f"| {cause.replace('_', ' ')} | " + " | ".join(cells) + " |")
    changed = []
    for name, d in SETS:
        for cause, entries in d.items():
            for m, _ in entries:
                b, a = results["before"][name][m], results["after"][name][m]
                if b[:2] != a[:2]:
                    changed.append((name, cause, m, b, a))
    flipped = [m for name, _ in SETS + (("validation", None),) for m in results["after"][name]
               if m in results["before"][name] and results["before"][name][m][1] != results["after"][name][m][1]]
    lines += ["", f"Retry decisions that changed, over every wording of the sets and the validation split: "
              f"**{len(flipped)}**" + (": " + "; ".join(f"`{m[:60]}`" for m in flipped) if flipped else "") + ".",
              "", "Every verdict that changed (category, retried, what decided):", "",
              "| set | cause | wording (first 70 characters) | before | after |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {n} | {c.replace('_', ' ')} | `{m[:70]}` | {b[0]}{', retried' if b[1] else ''} ({b[2]}) "
              f"| {a[0]}{', retried' if a[1] else ''} ({a[2]}) |" for n, c, m, b, a in changed]
    if times:
        lines += ["", f"Speed: `classify_runs()` over {RUNS:,} failed runs built from the {nwordings} wordings "
                  "above, seconds of the server's backend (wall, CPU), the median of "
                  f"{ROUNDS}, the builds alternating on one server:", "",
                  "| case | wall before | wall after | CPU before | CPU after | CPU after / before |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for case in LEGS:
            b, a = times["before"][case], times["after"][case]
            lines.append(f"| {case} | {b[0]:.2f} s | {a[0]:.2f} s | {b[1]:.2f} s | **{a[1]:.2f} s** "
                         f"| {a[1] / b[1]:.2f} |")
    return lines + [""]


def main():
    if "--render" in sys.argv:
        render()
        return
    quick = "--quick" in sys.argv
    before_pg = os.environ.get("TRIAGE_BEFORE_PG_CONFIG")
    builds = {"after": PG_BIN}
    if not quick:
        if not before_pg:
            raise SystemExit("TRIAGE_BEFORE_PG_CONFIG must name the build before the change")
        builds = {"before": subprocess.run([before_pg, "--bindir"], capture_output=True, text=True,
                                           check=True).stdout.strip(), "after": PG_BIN}
    cluster = Cluster(SETTINGS, databases=())
    cluster.start()
    try:
        results, validations, loos, nwordings = {}, {}, {}, len(leg_wordings())
        for build, bindir in builds.items():
            start_with(cluster, bindir, build)
            db = f"bench_{build}"
            cluster.psql(f"CREATE DATABASE {db};")
            cluster.psql("CREATE EXTENSION syncopt;", db)
            results[build], validations[build], loos[build] = measure(cluster, db)
        times = None if quick else timing(cluster, builds)
    finally:
        cluster.destroy()
    if quick:
        for name, d in SETS + (("validation", validations["after"]),):
            per, t = score(d, results["after"][name])
            print(f"{name}: {t[1]} of {t[0]} right, {t[2]} unknown, {t[3]} harmful; "
                  + ", ".join(f"{c} {p[1]}/{p[0]} u{p[2]} h{p[3]}" for c, p in per.items()))
            for cause, entries in d.items():
                for m, _ in entries:
                    c, r, s = results["after"][name][m]
                    if c not in CATEGORIES[cause] or (r and cause not in RETRY_SAFE):
                        print(f"   MISS {cause:18} {c:18} {'retry' if r else '-':5} {s:12} {m[:90]}")
        print("leave-one-out: %d right, %d unknown, %d harmful, %d of %d retry-safe retried, %d examples"
              % loos["after"])
        return
    with open(DUMP, "w") as f:
        json.dump({"results": results, "validations": validations, "loos": loos, "times": times,
                   "nwordings": nwordings}, f)
    render()


# Where a measuring run keeps its figures, so that --render can write the sub-section again without measuring.
DUMP = os.environ.get("SIDES_JSON", "/tmp/bench_triage_sides.json")


def render():
    """Write the sub-section from the figures of the last measuring run (DUMP)."""
    with open(DUMP) as f:
        d = json.load(f)
    results = {b: {name: {m: tuple(v) for m, v in got.items()} for name, got in per.items()}
               for b, per in d["results"].items()}
    validations = {b: {c: [tuple(e) for e in es] for c, es in v.items()} for b, v in d["validations"].items()}
    text = "\n".join(lines_of(results, validations, d["loos"], d["times"], d["nwordings"]))
    replace_subsection(SIDES, text)
    print(text)


if __name__ == "__main__":
    main()
