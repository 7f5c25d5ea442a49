#!/usr/bin/env python3
"""make bench, decision-quality part: syncopt against static schedules, FIFO,
EDF and the lower bound, on generated fleets; then prediction and detection
quality on the same generator (the triage of failure wordings is measured by
bench_triage.py; this bench keeps only classify_runs() on the fleets' runs).

Decisions: for each scenario class and each of SEEDS seeds, a fresh fleet
(test/fleet/generator.py, 60 connectors, that seed) is loaded and
syncopt.simulate() replays 7 days under the four policies with the same
random numbers.  Per-seed results are paired: syncopt minus each baseline,
with a 95% confidence interval (t distribution) of the mean difference.

Prediction: the generator's history is cut at T; predict_duration(T)'s P50
and P90 are compared with each connector's first successful run after T.
Detection: anomalies() over the loaded history against the injected
duration spikes and row drops; classify_runs() against the injected
failure classes.

Writes the "Decision quality" section of docs/benchmarks.md.
"""

import json
import math
import os
import statistics
import sys
from datetime import datetime, timedelta, timezone

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fleet.failure_messages import CATEGORIES  # noqa: E402
from fleet.generator import GeneratedFleet  # noqa: E402
from fleet.optimum import best_schedule, check_schedule  # noqa: E402
from harness.cluster import Cluster  # noqa: E402
from report import replace_section, server_seconds  # noqa: E402

DB = "syncopt_bench"
SETTINGS = {"shared_preload_libraries": "'syncopt'", "syncopt.database_name": f"'{DB}'",
            "syncopt.enable_workers": "off"}
# SYNCOPT_BENCH_SEEDS and SYNCOPT_BENCH_BEST_LIMIT_S shorten a run (the section says what was used)
SEEDS = int(os.environ.get("SYNCOPT_BENCH_SEEDS", "30"))
CONNECTORS = 60
NOW = datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)
DETECTION_DAYS = 7     # anomalies judged on the last week; the 14 days before train them
POLICIES = ["static", "fifo", "edf", "syncopt"]
# name: (generator scenario, concurrency slots)
SCENARIOS = {
    "loose deadlines, under capacity": ("loose", 16),
    "tight deadlines, under capacity": ("tight", 16),
    "tight deadlines, over capacity": ("tight", 3),
    "failure-heavy": ("failure_heavy", 8),
}
# slots of the capacity sweep on the tight scenario (3 and 16 are classes above)
SWEEP_SLOTS = (3, 4, 5, 6, 8, 16)
# the planner's decision-quality changes were tuned on seeds 1..TUNING_SEEDS; the rest are held out
TUNING_SEEDS = 15
# the search for the best schedule: tight fleets on this many slots, noise 0
BEST_SLOTS = 3
BEST_TIME_LIMIT_S = int(os.environ.get("SYNCOPT_BENCH_BEST_LIMIT_S", "120"))
ACCOUNTS = """
DROP EXTENSION IF EXISTS syncopt CASCADE;
CREATE EXTENSION syncopt;
INSERT INTO syncopt.account (account_id, vendor, name, base_url) VALUES
    (1, 'fivetran', 'ft', 'https://api.fivetran.com'), (2, 'airbyte', 'ab', 'https://api.airbyte.com/v1');
"""
# t(0.975) by degrees of freedom (SEEDS - 1)
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
        14: 2.145, 19: 2.093, 29: 2.045}.get(SEEDS - 1, 2.0)


def ci(values):
    """Mean and half-width of its 95% confidence interval."""
    m = statistics.fmean(values)
    half = T975 * statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else float("nan")
    return m, half


def simulate(cluster, slots, seed):
    rows = cluster.rows(f"""
SET syncopt.max_concurrent_syncs = {slots};
SELECT s.policy, s.weighted_misses, s.sla_misses, s.weighted_tardiness_h, s.credits, s.syncs,
       s.lb_weighted_misses, s.deadlines, s.wasted_syncs, s.slot_bound_weighted_misses, s.load_window_syncs
  FROM unnest(ARRAY{POLICIES!r}) p, syncopt.simulate(p, '7 days', {seed}, '{NOW.isoformat()}') s""", DB)
    return {r[0]: dict(wm=float(r[1]), misses=int(r[2]), wt=float(r[3]), credits=float(r[4]), syncs=int(r[5]),
                       lb_wm=float(r[6]), deadlines=int(r[7]), wasted=int(r[8]), slot_wm=float(r[9]),
                       in_windows=int(r[10])) for r in rows}


def split_line(syncopt, edf, static):
    """syncopt and edf against static on the tuning seeds (1-15) and the held-out ones (16-30) apart."""
    halves = [("seeds 1-15 (the planner's changes were chosen on these)", slice(0, TUNING_SEEDS)),
              ("held-out seeds 16-30", slice(TUNING_SEEDS, None))]
    parts = []
    for label, part in halves:
        st = sum(static[part])
        if st:
            parts.append(f"{label}: syncopt {sum(syncopt[part]) / st:.2f}x static, edf {sum(edf[part]) / st:.2f}x")
    return "- " + "; ".join(parts) + "."


def beyond_bound_without_faults(cluster, slots, seed):
    """syncopt's weighted misses beyond the bound with noise 0 (exact P50, no faults)."""
    row = cluster.rows(f"""
SET syncopt.max_concurrent_syncs = {slots};
SELECT weighted_misses - lb_weighted_misses
  FROM syncopt.simulate('syncopt', '7 days', {seed}, '{NOW.isoformat()}', noise => 0)""", DB)
    return float(row[0][0])


def decisions(cluster, results):
    """The scenario classes; each (scenario, slots) list of per-seed results is kept in results."""
    out = []
    verdicts = []
    noiseless = {}
    for name, (scenario, slots) in SCENARIOS.items():
        per_seed = results.setdefault((scenario, slots), [])
        for seed in range(1, SEEDS + 1):
            fleet = GeneratedFleet(seed=seed, connectors=CONNECTORS, scenario=scenario, now=NOW)
            cluster.psql(ACCOUNTS + fleet.sql(), DB)
            per_seed.append(simulate(cluster, slots, seed))
            if scenario == "loose":
                noiseless.setdefault(name, []).append(beyond_bound_without_faults(cluster, slots, seed))
        out.append(f"\n### {name} ({scenario} scenario, {slots} slots, {SEEDS} seeds)\n")
        out.append("| policy | weighted misses | misses per seed | weighted tardiness (h) | credits | syncs "
                   "| syncs in source load windows |")
        out.append("|---|---|---|---|---|---|---|")
        bounds = {"lower bound": "lb_wm", f"lower bound on {slots} slots": "slot_wm"}
        for p in POLICIES + list(bounds):
            if p in bounds:
                wm = ci([s["syncopt"][bounds[p]] for s in per_seed])
                out.append(f"| {p} | {wm[0]:.1f} ± {wm[1]:.1f} | | | | | |")
                continue
            wm = ci([s[p]["wm"] for s in per_seed])
            out.append(f"| {p} | {wm[0]:.1f} ± {wm[1]:.1f} | {statistics.fmean(s[p]['misses'] for s in per_seed):.1f}"
                       f" of {statistics.fmean(s[p]['deadlines'] for s in per_seed):.0f} | "
                       f"{ci([s[p]['wt'] for s in per_seed])[0]:.1f} | {ci([s[p]['credits'] for s in per_seed])[0]:.1f}"
                       f" ± {ci([s[p]['credits'] for s in per_seed])[1]:.1f} | "
                       f"{statistics.fmean(s[p]['syncs'] for s in per_seed):.0f} | "
                       f"{statistics.fmean(s[p]['in_windows'] for s in per_seed):.0f} |")
        out.append("")
        out.append("Paired differences, syncopt minus baseline (mean ± 95% CI over seeds):")
        out.append("")
        for base in ["static", "fifo", "edf"]:
            dwm = ci([s["syncopt"]["wm"] - s[base]["wm"] for s in per_seed])
            dcr = ci([s["syncopt"]["credits"] - s[base]["credits"] for s in per_seed])
            out.append(f"- vs {base}: weighted misses {dwm[0]:+.1f} ± {dwm[1]:.1f}, credits {dcr[0]:+.1f} ± {dcr[1]:.1f}")
        tot = {p: sum(s[p]["wm"] for s in per_seed) for p in POLICIES}
        cred = {p: sum(s[p]["credits"] for s in per_seed) for p in POLICIES}
        beyond = statistics.fmean(s["syncopt"]["wm"] - s["syncopt"]["lb_wm"] for s in per_seed)
        beyond_slots = statistics.fmean(s["syncopt"]["wm"] - s["syncopt"]["slot_wm"] for s in per_seed)
        slot_ratio = (sum(s["syncopt"]["slot_wm"] for s in per_seed) / tot["static"]
                      if tot["static"] else float("nan"))
        ratio = tot["syncopt"] / tot["static"] if tot["static"] else float("nan")
        saving = 1 - cred["syncopt"] / cred["static"]
        out.append(f"- syncopt's weighted misses are {ratio:.2f}x static's, "
                   f"{'below' if tot['syncopt'] < tot['edf'] else 'NOT below'} edf's (target: below); "
                   f"{beyond:.2f} weighted misses per seed beyond the lower bound ({beyond_slots:.2f} beyond the "
                   f"bound on {slots} slots, which alone is {slot_ratio:.2f}x static's); credits "
                   f"{100 * abs(saving):.0f}% {'below' if saving >= 0 else 'above'} static.")
        out.append(split_line([s["syncopt"]["wm"] for s in per_seed], [s["edf"]["wm"] for s in per_seed],
                              [s["static"]["wm"] for s in per_seed]))
        if name in noiseless:
            out.append(f"- the same {SEEDS} fleets with noise 0 (exact P50 durations, no failures, no outages): "
                       f"{statistics.fmean(noiseless[name]):.2f} weighted misses per seed beyond the lower bound "
                       f"(largest {max(noiseless[name]):.1f}): without faults the planner still misses more than the "
                       f"clairvoyant bound.")
        verdicts.append((name, ratio, tot["syncopt"] < tot["edf"], beyond, saving, slot_ratio))
    return out, verdicts


def capacity_sweep(cluster, results):
    """The tight scenario on more and fewer slots: how far each policy is from static."""
    missing = [k for k in SWEEP_SLOTS if ("tight", k) not in results]
    for seed in range(1, SEEDS + 1):
        fleet = GeneratedFleet(seed=seed, connectors=CONNECTORS, scenario="tight", now=NOW)
        cluster.psql(ACCOUNTS + fleet.sql(), DB)
        for k in missing:
            results.setdefault(("tight", k), []).append(simulate(cluster, k, seed))
    out = ["", "### How the ratios move with capacity", "",
           f"The tight scenario's {SEEDS} fleets on {', '.join(map(str, SWEEP_SLOTS))} slots "
           "(static's schedule does not depend on the slots, so it misses nearly every deadline on all of them): "
           "weighted misses of each policy and of the bound on the slots as a ratio to static's, "
           "syncopt minus edf paired over seeds, and syncopt's credits against static.", "",
           "| slots | bound on the slots | fifo | edf | syncopt | syncopt minus edf | syncopt's credits |",
           "| --- | --- | --- | --- | --- | --- | --- |"]
    met = []
    for k in SWEEP_SLOTS:
        per_seed = results[("tight", k)]
        static = sum(s["static"]["wm"] for s in per_seed)

        def ratio(key, policy="syncopt"):
            return sum(s[policy][key] for s in per_seed) / static

        dwm = ci([s["syncopt"]["wm"] - s["edf"]["wm"] for s in per_seed])
        saving = 1 - sum(s["syncopt"]["credits"] for s in per_seed) / sum(s["static"]["credits"] for s in per_seed)
        out.append(f"| {k} | {ratio('slot_wm'):.2f}x | {ratio('wm', 'fifo'):.2f}x | {ratio('wm', 'edf'):.2f}x | "
                   f"**{ratio('wm'):.2f}x** | {dwm[0]:+.1f} ± {dwm[1]:.1f} | {-100 * saving:+.0f}% |")
        met.append((k, ratio("wm"), ratio("slot_wm")))
    out.append("")
    out.append("The old target there (at most 0.5x static) is retired: no schedule that honours the windows "
               "can go below the bound on the slots, which is " + ", ".join(f"{b:.2f}x on {k}" for k, _, b in met)
               + " slots, against syncopt's " + ", ".join(f"{r:.2f}x" for _, r, _ in met) + ".")
    return out


def best_schedules(cluster):
    """Noise free, over capacity: each policy against the best schedule CBC finds for the same world."""
    rows = []
    for seed in range(1, SEEDS + 1):
        fleet = GeneratedFleet(seed=seed, connectors=CONNECTORS, scenario="tight", now=NOW)
        cluster.psql(ACCOUNTS + fleet.sql(), DB)
        sims = {r[0]: (float(r[1]), float(r[2])) for r in cluster.rows(f"""
SET syncopt.max_concurrent_syncs = {BEST_SLOTS};
SELECT s.policy, s.weighted_misses, s.slot_bound_weighted_misses
  FROM unnest(ARRAY{POLICIES!r}) p, syncopt.simulate(p, '7 days', {seed}, '{NOW.isoformat()}', noise => 0) s""", DB)}
        world = json.loads(cluster.value(f"SELECT syncopt.simulate_world('7 days', {seed}, '{NOW.isoformat()}', 0)", DB))
        best = best_schedule(world, BEST_SLOTS, time_limit_s=BEST_TIME_LIMIT_S)
        replayed = check_schedule(world, BEST_SLOTS, best["starts"])
        if abs(replayed - best["missed"]) > 1e-6:
            raise AssertionError(f"seed {seed}: the schedule found misses {replayed} on replay, not {best['missed']}")
        row = {p: wm for p, (wm, _) in sims.items()}
        row.update(best=best["missed"], slot=sims["syncopt"][1], proved=best["status"].startswith("Optimal"))
        row["known"] = min(row["best"], row["syncopt"])
        rows.append(row)
        print(f"best schedule, seed {seed}: {row}", flush=True)
    static = sum(r["static"] for r in rows)
    out = ["", f"### How far from the best schedule, without noise ({BEST_SLOTS} slots)", "",
           f"The tight scenario's {SEEDS} fleets on {BEST_SLOTS} slots with noise 0: every sync takes exactly its "
           "P50 and nothing fails, so which schedule is best is a well-posed question. "
           "`syncopt.simulate_world()` hands out the world `simulate()` replays, and test/fleet/optimum.py "
           "searches it with CBC (an integer program: a sync may start every 5 minutes where the windows allow "
           "it; at most as many syncs as slots at once, the vendor-scheduled runs included; one sync of a "
           "connector at a time; a deadline met when each of its connectors has a sync starting after its "
           f"opening that ends by its due time; at most {BEST_TIME_LIMIT_S} s per fleet, keeping the best "
           "schedule found by then). Starting only every 5 minutes can only cost weight, so the schedule found "
           "misses at least what the best schedule misses: between it and the lower bound on the slots lies "
           "the best any policy could do here. Each schedule found is replayed in continuous time by "
           "`check_schedule()`, which agrees with the solver on every fleet.", "",
           "| schedule | weighted misses per seed | vs static |", "| --- | --- | --- |"]
    for label, key in [("static", "static"), ("fifo", "fifo"), ("edf", "edf"), ("syncopt", "syncopt"),
                       ("schedule the solver found", "best"),
                       ("best known schedule (the better of syncopt's and the solver's)", "known"),
                       (f"lower bound on {BEST_SLOTS} slots", "slot")]:
        wm = ci([r[key] for r in rows])
        out.append(f"| {label} | {wm[0]:.1f} ± {wm[1]:.1f} | {sum(r[key] for r in rows) / static:.2f}x |")
    gap = ci([r["syncopt"] - r["known"] for r in rows])
    behind = sorted(((r["syncopt"] - r["known"], seed) for seed, r in enumerate(rows, 1) if r["syncopt"] > r["known"]),
                    reverse=True)
    out += ["", f"- The solver proved its 5-minute schedule the best on the grid on {sum(r['proved'] for r in rows)} "
            f"fleets and stopped at the time limit on the others, where its schedule can be worse than syncopt's; "
            f"syncopt misses no more than the solver's schedule on {sum(r['syncopt'] <= r['best'] for r in rows)} of "
            f"{SEEDS} fleets.",
            f"- syncopt misses {gap[0]:.1f} ± {gap[1]:.1f} weighted deadlines per seed more than the best known "
            f"schedule ({100 * (sum(r['syncopt'] for r in rows) / sum(r['known'] for r in rows) - 1):.0f}% more; "
            f"within the 3% of issue 31, a target retired below: "
            f"{'yes' if sum(r['syncopt'] for r in rows) <= 1.03 * sum(r['known'] for r in rows) else 'no'}); "
            f"it is behind on {len(behind)} fleets" + (", by " if behind else "")
            + ", ".join(f"{d:.0f} (seed {seed})" for d, seed in behind) + "."]
    for label, part in [("seeds 1-15 (tuning)", rows[:TUNING_SEEDS]), ("held-out seeds 16-30", rows[TUNING_SEEDS:])]:
        if part:
            out.append(f"- {label}: syncopt misses {sum(r['syncopt'] for r in part):.0f}, the best known schedule "
                       f"{sum(r['known'] for r in part):.0f}, the solver's {sum(r['best'] for r in part):.0f} "
                       f"({100 * (sum(r['syncopt'] for r in part) / sum(r['known'] for r in part) - 1):.0f}% more "
                       f"than the best known).")
    return out


def prediction(cluster):
    apes, covered, over_p50, n = [], 0, 0, 0
    for seed in range(1, 11):
        fleet = GeneratedFleet(seed=seed, connectors=CONNECTORS, scenario="loose", now=NOW + timedelta(days=2), days=23)
        cut = NOW
        cluster.psql(ACCOUNTS + fleet.sql_connectors() + fleet.sql_runs(before=cut), DB)
        pred = {r[0]: (float(r[1]), float(r[2])) for r in cluster.rows(
            f"SELECT c.external_id, extract(epoch FROM p.p50), extract(epoch FROM p.p90) "
            f"FROM syncopt.predict_duration('{cut.isoformat()}') p JOIN syncopt.connector c USING (connector_id)", DB)}
        seen = set()
        for r in fleet.runs:
            ext = r["connector"]["external_id"]
            if r["started_at"] < cut or ext in seen or r["status"] != "succeeded" or ext not in pred:
                continue
            seen.add(ext)
            p50, p90 = pred[ext]
            apes.append(abs(p50 - r["seconds"]) / r["seconds"])
            covered += r["seconds"] <= p90
            over_p50 += r["seconds"] > p50
            n += 1
    return [f"- Next-run durations of {n} connectors (10 seeds, history cut at T, first successful run after T):",
            f"  median absolute percent error of P50 **{100 * statistics.median(apes):.0f}%**; "
            f"P90 coverage **{100 * covered / n:.0f}%** (target near 90%); underestimation (run longer than P50) "
            f"{100 * over_p50 / n:.0f}%, longer than the P90 the planner uses {100 * (n - covered) / n:.0f}%."]


def detection(cluster):
    tp = {"duration_spike": 0, "row_drop": 0}
    fp = {"duration_spike": 0, "row_drop": 0}
    injected = {"duration_spike": 0, "row_drop": 0}
    classes = {}
    for seed in range(1, 11):
        fleet = GeneratedFleet(seed=seed, connectors=CONNECTORS, scenario="failure_heavy", now=NOW)
        cluster.psql(ACCOUNTS + fleet.sql_connectors() + fleet.sql_runs(), DB)
        since = (NOW - timedelta(days=DETECTION_DAYS)).isoformat()
        flagged = cluster.rows(f"""
SELECT c.external_id, r.external_run_id, a.metric, a.direction
  FROM syncopt.anomalies('{since}') a JOIN syncopt.sync_run r USING (run_id)
  JOIN syncopt.connector c ON c.connector_id = a.connector_id
 WHERE a.metric IN ('duration', 'rows')""", DB)
        truth = {k: v for k, v in fleet.truth.items()}
        for kind in injected:
            injected[kind] += sum(1 for (ext, run), v in truth.items() if v == kind and
                                  any(r["external_run_id"] == run and r["started_at"] >= NOW - timedelta(days=DETECTION_DAYS)
                                      for r in fleet.runs if r["connector"]["external_id"] == ext))
        for ext, run, metric, direction in flagged:
            kind = "duration_spike" if metric == "duration" and direction == "spike" else (
                "row_drop" if metric == "rows" and direction == "drop" else None)
            if kind is None:
                continue
            if truth.get((ext, run)) == kind:
                tp[kind] += 1
            else:
                fp[kind] += 1
        for ext, run, category in cluster.rows("""
SELECT c.external_id, r.external_run_id, k.category
  FROM syncopt.classify_runs('-infinity') k JOIN syncopt.sync_run r USING (run_id)
  JOIN syncopt.connector c ON c.connector_id = k.connector_id""", DB):
            kind = truth.get((ext, run))
            if kind:
                classes.setdefault(kind, []).append(category)
    lines = [f"- Anomalies (robust z-score on the log scale, durations against the rows moved) on the last {DETECTION_DAYS} days "
             f"of 10 failure-heavy fleets, trained on the {fleet.days - DETECTION_DAYS} days before (the default window is 14):"]
    for kind in tp:
        precision = tp[kind] / (tp[kind] + fp[kind]) if tp[kind] + fp[kind] else float("nan")
        recall = tp[kind] / injected[kind] if injected[kind] else float("nan")
        lines.append(f"  {kind.replace('_', ' ')}: precision **{100 * precision:.0f}%**, recall **{100 * recall:.0f}%** "
                     f"({tp[kind]} of {injected[kind]} injected found, {fp[kind]} other runs flagged)")
    lines.append("  How the method got here (session 14), measured the same way: one level for all days, the plain "
                 "sample MAD and no floor found duration spikes at precision 53%, recall 73% and row drops at 74%, 100% "
                 "on these 10 fleets.  The changes (a weekend level for the rows line, the small-sample correction of "
                 "the MAD, a spread of at least 0.2 for durations and credits) were chosen on 20 other failure-heavy "
                 "fleets (seeds 11 to 30: duration spikes 56%, 80% before, 69%, 83% after) and checked on 20 more "
                 "(seeds 31 to 50: 52%, 77% before, 66%, 81% after).  The floor trades precision for recall: 0, 0.1, "
                 "0.15, 0.2, 0.3 gave 60, 59, 63, 69, 83% precision at 84, 84, 83, 83, 83% recall on seeds 11 to 30. "
                 "The injected spikes are 5 to 8 times the normal duration, so a larger floor looks better here by "
                 "construction; 0.2 flags nothing under about twice the expected duration, the smallest change a "
                 "person reading the feed would call a spike.")
    lines += fleet_class_lines(classes)
    return lines


def precision_recall(pairs):
    """Per cause: (precision, recall, right, labelled, claimed) over (cause, category) pairs."""
    out = {}
    for cause, accepted in CATEGORIES.items():
        right = sum(1 for k, c in pairs if k == cause and c in accepted)
        labelled = sum(1 for k, _ in pairs if k == cause)
        claimed = sum(1 for _, c in pairs if c in accepted)
        if labelled:
            out[cause] = (right / claimed if claimed else float("nan"), right / labelled, right, labelled, claimed)
    return out


def fleet_class_lines(classes):
    """classify_runs() on the fleets' runs against the injected failure causes."""
    pairs = [(cause, category) for cause, categories in classes.items() for category in categories]
    lines = ["- Failure classes on the fleets' runs (classify_runs on 10 failure-heavy fleets; each injected "
             "failure carries one of its cause's wordings, as the Fivetran Platform Connector log and webhooks do; "
             "the vendors' REST APIs give none, and failures collected only from them are `unknown`; the "
             "triage of wordings itself is measured in the Failure triage section):"]
    for cause, (precision, recall, right, labelled, claimed) in precision_recall(pairs).items():
        lines.append(f"  {cause.replace('_', ' ')}: precision **{100 * precision:.0f}%**, recall **{100 * recall:.0f}%** "
                     f"of {labelled} runs")
    return lines


def simulation_cost(cluster):
    """Wall time of simulate() by fleet size: syncopt (the planner at each instant) against edf, side by side."""
    out = ["", "### What a simulation costs", "",
           "`simulate(policy, '7 days')` on one tight fleet per size, 8 slots, timed in the server, "
           "edf and syncopt one after the other; syncopt runs the planner (graph_compute, the scores and "
           "plan_fleet) at each of the 672 planning instants (every 15 minutes), with the predictions of "
           "each UTC hour computed once; edf dispatches by due time.", "",
           "| connectors | edf | syncopt | syncopt / edf |", "| --- | --- | --- | --- |"]
    for n in (120, 240, 480, 960):
        fleet = GeneratedFleet(seed=1, connectors=n, scenario="tight", now=NOW)
        cluster.psql(ACCOUNTS + fleet.sql(), DB)
        took = {p: server_seconds(cluster, DB, f"SELECT * FROM syncopt.simulate('{p}', '7 days', 1, '{NOW.isoformat()}')",
                                  setup="SET syncopt.max_concurrent_syncs = 8;")
                for p in ("edf", "syncopt")}
        out.append(f"| {n} | {took['edf']:.2f} s | {took['syncopt']:.2f} s | {took['syncopt'] / took['edf']:.0f}x |")
    return out


def summary(verdicts):
    """The targets of issue 31, met or not, per scenario class."""
    lines = ["\nTarget (issue 31): weighted misses below edf's in every class with noise; the ratio to static",
             "is reported with the bound on the slots, which shows what any schedule honouring the windows can",
             "reach (the gap to the best known schedule without noise is below).\n",
             "| scenario | misses vs static | below edf | beyond bound per seed | credits vs static "
             "| bound on the slots vs static |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, ratio, below_edf, beyond, saving, slot_ratio in verdicts:
        lines.append(f"| {name} | {ratio:.2f}x | {'yes (met)' if below_edf else 'NO (NOT met)'} | {beyond:.1f} | "
                     f"{-100 * saving:+.0f}% | {slot_ratio:.2f}x |")
    return "\n".join(lines) + "\n"


def main():
    cluster = Cluster(SETTINGS, databases=[DB])
    cluster.start()
    try:
        results = {}
        dec, verdicts = decisions(cluster, results)
        sweep = capacity_sweep(cluster, results)
        best = best_schedules(cluster)
        pred = prediction(cluster)
        det = detection(cluster)
        cost = simulation_cost(cluster)
    finally:
        cluster.destroy()
    text = f"""## Decision quality

`test/bench/bench_decisions.py`: {SEEDS} seeds per scenario class (best-schedule
search at most {BEST_TIME_LIMIT_S} s per fleet); each seed is a fresh generated
fleet of {CONNECTORS} connectors (both vendors, a dbt-like graph, dashboards and
reports in four time zones, month-end close, source load windows, warehouse
peak pricing, injected faults) replayed for 7 days by `syncopt.simulate()`
under each policy with the same random numbers.

Since issue 31 the `syncopt` rows are the planner that ships: at each
planning instant (every 15 minutes) `simulate()` hands the fleet as the
replay left it to `score_fleet()` and `plan_fleet()`, the code `plan()` and
`run_planner()` run, and starts what that run triggers; a test pins the
replay's decisions to `run_planner()`'s (test/integration/test_fleet.py).
The figures before issue 31 (0.13x static loose, 0.48x tight, 0.62x over
capacity) were measured on a second implementation with a look-ahead and
catch-ups the planner does not have; they are retired.  A connector's due
time is the earliest downstream deadline its last success does not serve
(before, a served deadline hid the next one until it passed, and a window
forbidding the source in between made that one a miss).  The planner holds
a slot for a sync's P50 (its P90 stays the forecast: predicted end, risk,
windows) and, when capacity is short, gives up whole deadlines (deadline
triage: a deadline is met only if all its syncs are) and times their
connectors' syncs for their next deadline; those two changes were chosen
on seeds 1-15 only, and each class reports seeds 16-30 apart as held out.
A deadline the planner gives up is not brought up to date before its next
occurrence, so its tardiness runs until then.
Weighted misses count each missed deadline with its asset's weight;
credits are warehouse hours on the union of busy intervals (60 s minimum per
resume, 5-minute auto-suspend tail, peak price x2).  fifo, edf and
syncopt keep out of the windows that forbid syncing a source, as `plan()`
does; static's vendor schedules do not know them (last column).  fifo and
edf retry a failed sync at once, up to three attempts; syncopt's next
planning run plans it again.  The lower bound has unlimited slots and no
transient failures; the lower bound on the slots counts the deadlines no
policy can meet with that many slots, one deadline at a time.
Reproduce with `python3 test/bench/bench_decisions.py`.
""" + summary(verdicts) + "\n".join(dec + sweep + best + cost) + "\n\n### Prediction and detection\n\n" + "\n".join(pred + det) + "\n"
    replace_section("Decision quality", text)
    for v in verdicts:
        print(v)
    print(text)


if __name__ == "__main__":
    main()
