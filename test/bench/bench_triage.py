#!/usr/bin/env python3
"""make bench, failure triage part (issue 30): the rules as they stood
before the learned triage against classify_failure() now, side by side in
one run, on wordings neither has been tuned on; how many labels a wording
family needs before it is recognised; classify_runs() on 100,000 failed
runs, with and without the labelled corpus.

Held-out sets: failure_heldout.REAL_HELD_OUT (41 real wordings quoted from
public sources, written before the learned triage) and
failure_messages.HELD_OUT (18 wordings the rules were never tuned on).
Neither is in the corpus (checked below); the learning curve's labels are
rolled back, so they stay held out.

"Before" is the 0.1 rule path, reproduced here from syncopt.failure_pattern
(the built-in rules are unchanged): the first matching rule by priority,
its category and its retryable, an outage moved to the side Airbyte's
failure origin names.  It gives the figures measured with the code before
the change (10 of 41 right, 25 unknown, 5 harmful on REAL_HELD_OUT).

Writes the "Failure triage" section of docs/benchmarks.md.
"""

import os
import random
import re
import sys
import zlib

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fleet.failure_heldout import REAL_HELD_OUT, RETRY_SAFE  # noqa: E402
from fleet.failure_messages import CATEGORIES, FAMILIES, HELD_OUT, MESSAGES, MORE  # noqa: E402
from harness.cluster import Cluster  # noqa: E402
from report import replace_section, server_seconds  # noqa: E402

DB = "syncopt_bench"
SETTINGS = {"shared_preload_libraries": "'syncopt'", "syncopt.database_name": f"'{DB}'",
            "syncopt.enable_workers": "off"}
RUNS = 100_000
DISTINCT = 10_000
MAX_LABELS = 3


def q(s):
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def before(cluster, message):
    """(category, retryable) of the 0.1 rule path."""
    rows = cluster.rows(f"""
SELECT p.category, p.retryable FROM syncopt.failure_pattern p
 WHERE p.builtin AND {q(message)} ~* p.pattern ORDER BY p.priority, p.pattern_id LIMIT 1""", DB)
    if not rows:
        return "unknown", False
    category, retryable = rows[0][0], rows[0][1] == "t"
    origin = re.match(r"\s*failure origin:\s*(source|destination)\b", message, re.I)
    if origin and category in ("source_outage", "destination_outage"):
        category = origin.group(1).lower() + "_outage"
    return category, retryable


def after(cluster, message):
    """(category, retryable, source) of classify_failure() now."""
    category, retryable, source = cluster.rows(
        f"SELECT category, retryable, source FROM syncopt.classify_failure({q(message)})", DB)[0]
    return category, retryable == "t", source


def score(results):
    """Right, unknown and harmful counts, overall and per cause, of [(cause, category, retryable)]."""
    per = {}
    for cause, category, retryable in results:
        p = per.setdefault(cause, [0, 0, 0, 0])
        p[0] += 1
        p[1] += category in CATEGORIES[cause]
        p[2] += category == "unknown"
        p[3] += retryable and cause not in RETRY_SAFE
    total = [sum(p[i] for p in per.values()) for i in range(4)]
    return total, per


def measure(cluster, wordings):
    """Before and after on {cause: [(message, source), ...]}."""
    old, new, sources = [], [], {}
    for cause, entries in wordings.items():
        for message, _ in entries:
            c, r = before(cluster, message)
            old.append((cause, c, r))
            c, r, s = after(cluster, message)
            new.append((cause, c, r))
            sources[s] = sources.get(s, 0) + 1
    return score(old), score(new), sources


def table(name, wordings, old, new, sources):
    """Markdown lines of one held-out set's comparison."""
    (ot, oper), (nt, nper) = old, new
    n = ot[0]
    lines = [f"{name} ({n} wordings):", "",
             "| | right | unknown | harmful (not retryable, read as retryable) |", "| --- | --- | --- | --- |",
             f"| rules before (0.1) | {ot[1]} ({100 * ot[1] / n:.0f}%) | {ot[2]} | {ot[3]} |",
             f"| learned triage now | **{nt[1]} ({100 * nt[1] / n:.0f}%)** | {nt[2]} | **{nt[3]}** |", "",
             "| cause | wordings | right before | right now | unknown before | unknown now | harmful before | harmful now |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cause in wordings:
        o, w = oper[cause], nper[cause]
        lines.append(f"| {cause.replace('_', ' ')} | {o[0]} | {o[1]} | {w[1]} | {o[2]} | {w[2]} | {o[3]} | {w[3]} |")
    lines += ["", "What decided now: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())) + ".", ""]
    return lines


def sibling(message, k):
    """Another member of message's wording family: its numbers and quoted names changed."""
    rnd = random.Random(zlib.crc32(f"{k}:{message}".encode()))
    out = re.sub(r"\d+", lambda m: str(rnd.randrange(1, 99999)), message)
    out = re.sub(r"([\"'])([^\"']{1,60})\1", lambda m: m.group(1) + f"name_{rnd.randrange(1000)}" + m.group(1), out)
    return out if out != message else message + f" (attempt {k + 2})"


def learning_curve(cluster):
    """For each REAL_HELD_OUT wording the triage gets wrong: labels of its family's other members until it is right."""
    rows = []
    for cause, entries in REAL_HELD_OUT.items():
        for message, _ in entries:
            category, _, _ = after(cluster, message)
            if category in CATEGORIES[cause]:
                continue
            label = sorted(CATEGORIES[cause])[0] if cause != "transient" else "transient"
            needed = None
            statements = ["BEGIN;"]
            for k in range(MAX_LABELS):
                run_id = 900000 + k
                statements.append(
                    "INSERT INTO syncopt.sync_run (run_id, connector_id, external_run_id, started_at, finished_at, "
                    f"status, error_message, source) VALUES ({run_id}, 1, 'lc{k}', '2026-11-22', '2026-11-22 00:05', "
                    f"'failed', {q(sibling(message, k))}, 'api');")
                statements.append(f"SELECT syncopt.label_failure({run_id}, {q(label)}, 'learning curve');")
                statements.append(f"SELECT 'after {k + 1}: ' || category FROM syncopt.classify_failure({q(message)});")
            statements.append("ROLLBACK;")
            out = cluster.psql("\n".join(statements), DB)[1]
            for k in range(MAX_LABELS):
                m = re.search(rf"after {k + 1}: (\w+)", out)
                if m and m.group(1) in CATEGORIES[cause]:
                    needed = k + 1
                    break
            rows.append((cause, message, needed))
    return rows


def timing(cluster):
    """Server seconds of classify_runs(): RUNS failed runs whose wordings repeat with other digits, and
    DISTINCT runs whose messages all differ; each with the corpus and with the rules alone."""
    wordings = [m for d in (MESSAGES, MORE) for es in d.values() for m, _ in es]
    wordings += [m for es in FAMILIES.values() for m, _, _ in es]
    wordings += [m for d in (REAL_HELD_OUT, HELD_OUT) for es in d.values() for m, _ in es]
    values = ", ".join(q(m) for m in wordings)
    cluster.psql(f"""
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name)
SELECT 1000 + k, 1 + k % 2, 'c' || k, 'c' || k FROM generate_series(1, 100) k;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
SELECT 1000 + 1 + k % 100, 't' || k, timestamptz '2026-11-01' + k * interval '10 seconds',
       timestamptz '2026-11-01' + k * interval '10 seconds' + interval '5 minutes', 'failed',
       replace(w.m[1 + k % array_length(w.m, 1)], '0', (k % 10)::text), 'api'
  FROM generate_series(1, {RUNS}) k, (SELECT ARRAY[{values}] AS m) w;
INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at, finished_at, status, error_message, source)
SELECT 1000 + 1 + k % 100, 'u' || k, timestamptz '2026-12-01' + k * interval '10 seconds',
       timestamptz '2026-12-01' + k * interval '10 seconds' + interval '5 minutes', 'failed',
       w.m[1 + k % array_length(w.m, 1)] || ' (job ' || k || ')', 'api'
  FROM generate_series(1, {DISTINCT}) k, (SELECT ARRAY[{values}] AS m) w;
ANALYZE syncopt.sync_run;""", DB)
    rules_only = """
BEGIN;
ALTER TABLE syncopt.failure_example DISABLE TRIGGER failure_example_protect_builtin;
DELETE FROM syncopt.failure_example;"""
    repeat = "SELECT * FROM syncopt.classify_runs('2026-11-01') WHERE finished_at < '2026-12-01'"
    distinct = "SELECT * FROM syncopt.classify_runs('2026-12-01')"
    out = {}
    for name, query, rounds in (("repeat", repeat, 3), ("distinct", distinct, 1)):
        out[name] = (sorted(server_seconds(cluster, DB, query) for _ in range(rounds))[rounds // 2],
                     sorted(server_seconds(cluster, DB, query, setup=rules_only) for _ in range(rounds))[rounds // 2])
    return out, len(wordings)


def main():
    cluster = Cluster(SETTINGS, databases=(DB,))
    cluster.start()
    try:
        cluster.psql("""
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
INSERT INTO syncopt.connector (connector_id, account_id, external_id, name) VALUES (1, 1, 'lc', 'lc');""", DB)
        corpus = {r[0] for r in cluster.rows("SELECT message FROM syncopt.failure_example", DB)}
        leaked = [m for es in REAL_HELD_OUT.values() for m, _ in es if m in corpus]
        if leaked:
            raise SystemExit(f"held-out wordings found in the corpus: {leaked}")
        # HELD_OUT repeats one wording of MORE (ORA-01031): measured without it.
        validation = {cause: [(m, s) for m, s in es if m not in corpus] for cause, es in HELD_OUT.items()}
        version = cluster.value("SELECT version()", DB).split(" on ")[0]
        real_old, real_new, real_sources = measure(cluster, REAL_HELD_OUT)
        old_old, old_new, old_sources = measure(cluster, validation)
        curve = learning_curve(cluster)
        times, nwordings = timing(cluster)
        load = open("/proc/loadavg").read().split()[0]
    finally:
        cluster.destroy()

    one = sum(1 for _, _, n in curve if n == 1)
    more = [(c, m, n) for c, m, n in curve if n != 1]
    lines = ["## Failure triage", "",
             f"Written by `make bench` (test/bench/bench_triage.py), {version}, {os.cpu_count()} cores (load "
             f"average {load} at the end of the run: absolute times are those of a busy machine). The built-in rules as they stood before the learned "
             "triage (\"rules before\": first matching rule, its retryable) and `classify_failure()` now (users' "
             "rules, built-in rules checked against the nearest labelled example, the nearest labelled example, "
             "then `unknown`; a retry only on two signals or a near-identical label), side by side on the same "
             "wordings. Harmful: a cause a retry cannot fix (credentials, permission, schema or data, "
             "configuration) read as retryable.", ""]
    lines += table("Real wordings held out (test/fleet/failure_heldout.py, REAL_HELD_OUT: Fivetran's "
                   "troubleshooting pages, Airbyte's issues and other public sources, labelled by hand, "
                   "written before the learned triage)", REAL_HELD_OUT, real_old, real_new, real_sources)
    lines += table("The earlier held-out set (failure_messages.HELD_OUT less the ORA-01031 wording MORE also "
                   "holds; never tuned on by the rules; the learned triage's method and thresholds were chosen "
                   "on it, so for the triage it is a validation set, not a held-out one)", validation,
                   old_old, old_new, old_sources)
    lines += ["How the figures on REAL_HELD_OUT came about, in order (the set was read each time): the rules "
              "before, measured with that code, 10 of 41 right, 25 unknown, 5 harmful; the first learned triage "
              "(the nearest example first at similarity 0.2, a retry at 0.3), 24 right, 5 unknown, **2 harmful** "
              "(a Databricks configuration error and an SSH configuration check read as destination outages at "
              "similarity 0.35 and 0.42); the retry then required two signals (a rule and the nearest example "
              "both retry-safe, or a near-identical label), chosen on the validation set and leave-one-out over "
              "the corpus where it retries 48 of 76 retry-safe wordings against 50 before, 0 harmful either "
              "way, and a matching rule kept its verdict unless an example of another category is nearer by "
              "more than 0.1 (validation 16 of 18 either way, leave-one-out with rules 139 of 158 against "
              "128): the table above. Below the 80% target: the misses are wordings whose family no example "
              "covers (data errors, permissions worded as skipped streams, Airbyte platform failures), "
              "answered with a near-miss category at similarity 0.2 to 0.3 or `unknown`; none is retried. "
              "The learning curve is what closes them.", ""]
    lines += [f"Learning curve: each REAL_HELD_OUT wording the triage gets wrong, after labels on other members "
              f"of its family (the same wording with other numbers and names, as the next failure would read), "
              f"rolled back: **{one} of {len(curve)} recognised after one label**"
              + (", " + "; ".join(f"{c.replace('_', ' ')} \"{m[:50]}...\": "
                                  + (f"{n} labels" if n else f"not after {MAX_LABELS}")
                                  for c, m, n in more) if more else "") + ".", ""]
    (rep, rep_rules), (dis, dis_rules) = times["repeat"], times["distinct"]
    lines += [f"`classify_runs()`, server time: over {RUNS:,} failed runs whose {nwordings} wordings repeat with "
              f"other digits (10 variants each, as a fleet's failures repeat), median of 3, **{rep:.2f} s** with "
              f"the {len(corpus)}-wording corpus, {rep_rules:.2f} s with the rules alone (corpus emptied in a "
              "rolled-back transaction); each distinct message, code and vendor is classified once per call "
              "(up to 49,152 of them). "
              f"Over {DISTINCT:,} runs whose messages all differ (a job number appended): {dis:.2f} s with the "
              f"corpus, {dis_rules:.2f} s with the rules alone, {1000 * dis / DISTINCT:.2f} ms a message, "
              "nearly all of it the built-in rules' regular expressions; the nearest-example search adds "
              f"{100 * (dis - dis_rules) / dis_rules:.0f}%. 100,000 failures that all read differently would "
              f"take about {dis * RUNS / DISTINCT:.0f} s: the target of a few seconds holds for repeating "
              "wordings, not for all-distinct ones.", ""]
    replace_section("Failure triage", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
