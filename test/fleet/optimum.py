"""The best schedule of a simulated world, searched for by an integer program.

syncopt.simulate_world() hands out the world that syncopt.simulate()
replays.  With noise 0 that world is deterministic (every sync takes its
day's duration, nothing fails), so the best any policy could do is a
well-posed question: which syncs, started when, meet the most deadline
weight on the slots?  `best_schedule()` answers it with CBC (Debian's
coinor-cbc) on a time grid, and `check_schedule()` replays the answer
independently in continuous time, so a figure never rests on the solver's
word alone.

The program (a restriction of the real problem, so what it finds is a
schedule that exists):
  x[i, g]  connector i starts a sync at grid point g (every `grid_s`
           seconds from the start), only where the world allows it: no
           window forbidding its source overlaps the run at P90 (the gate
           simulate() and plan() apply), no credential outage, and the sync
           would meet at least one requirement;
  z[d]     deadline d is met: for each of its requirements, some chosen
           start at or after its opening ends by its due time;
  slots    at each grid point at most `slots` syncs run (starts on the grid
           make the grid points the only places where the count can peak);
           the vendor-scheduled runs of connectors nothing waits for take
           their share of every cell they touch;
  one sync of a connector at a time;
  maximise the weight met.
Starting only on the grid can only lose weight, so the weight it misses is
an upper bound on what the best schedule misses, and the schedule it
returns is one a policy could run.
"""

import math
import os
import re
import subprocess
import tempfile
from collections import defaultdict


def _sync_seconds(conn, t):
    """The duration of a sync of conn starting t seconds after the start."""
    day = int((t - conn["first_day_s"]) // 86400)
    return conn["sync_s"][day]


def _allowed(conn, t):
    """May a sync of conn start at t?  Not into a forbidding window at P90, not in an outage."""
    for ws, we in conn["forbidden_windows"]:
        if we > t and ws < t + conn["p90_s"]:
            return False
    outage = conn["outage"]
    return not (outage and outage[0] <= t < outage[1])


def _vendor_runs(world, conn):
    """The vendor-scheduled runs of conn, one at a time as the replay runs them: (start, end)."""
    runs, free = [], -math.inf
    for t in conn["vendor_starts_s"]:
        start = max(t, free)
        if start >= world["horizon_s"]:
            break
        free = start + _sync_seconds(conn, start)
        runs.append((start, free))
    return runs


def _sum(terms, sign="+"):
    """Terms joined by sign, a few to a line: CBC's LP reader refuses long lines."""
    lines = [f" {sign} ".join(terms[k:k + 8]) for k in range(0, len(terms), 8)]
    return f"\n   {sign} ".join(lines)


def _run_cbc(lp_text, time_limit_s):
    """Solve an LP-format maximisation; (status, objective, {variable: value})."""
    with tempfile.TemporaryDirectory(prefix="syncopt-optimum-") as tmp:
        lp, sol = os.path.join(tmp, "model.lp"), os.path.join(tmp, "model.sol")
        with open(lp, "w") as f:
            f.write(lp_text)
        out = subprocess.run(["cbc", lp, "sec", str(time_limit_s), "ratio", "0.0001", "solve", "solu", sol],
                             capture_output=True, text=True, check=True).stdout
        if not os.path.exists(sol):
            raise RuntimeError("cbc wrote no solution:\n" + out[-2000:])
        status = next((line.split("-", 1)[1].strip() for line in out.splitlines()
                       if line.startswith("Result -")), "unknown")
        with open(sol) as f:
            head = f.readline()
            values = {}
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    values[parts[1]] = float(parts[2])
    m = re.search(r"objective value\s+(-?[\d.eE+]+)", head)
    if m is None:
        raise RuntimeError(f"cbc found no schedule: {head.strip()}")
    return status, float(m.group(1)), values


def best_schedule(world, slots, grid_s=300, time_limit_s=120):
    """The best schedule CBC finds on the grid: dict with missed weight, status and the starts."""
    if not world["deadlines"]:
        return {"missed": 0.0, "status": "nothing to meet", "starts": [], "variables": 0}
    conns = {c["connector_id"]: c for c in world["connectors"]}
    horizon = world["horizon_s"]
    npoint = int(math.ceil(horizon / grid_s))
    serves = defaultdict(list)          # (deadline, requirement) -> variables
    covers = defaultdict(list)          # grid point -> variables running there
    mine = defaultdict(list)            # (connector, grid point) -> its variables running there
    starts = {}                          # variable -> (connector, start)
    for d, deadline in enumerate(world["deadlines"]):
        for q, req in enumerate(deadline["requirements"]):
            conn = conns[req["connector_id"]]
            first = max(0, math.ceil(req["opens_s"] / grid_s))
            for g in range(first, npoint):
                t = g * grid_s
                if t + _sync_seconds(conn, t) > req["due_s"]:
                    break
                if not _allowed(conn, t):
                    continue
                name = f"x{conn['connector_id']}_{g}"
                if name not in starts:
                    starts[name] = (conn["connector_id"], t)
                    end = t + _sync_seconds(conn, t)
                    for h in range(g, min(npoint, math.ceil(end / grid_s))):
                        covers[h].append(name)
                        mine[(conn["connector_id"], h)].append(name)
                serves[(d, q)].append(name)
    busy = defaultdict(int)             # grid point -> vendor runs in its cell
    for conn in conns.values():
        for start, end in _vendor_runs(world, conn):
            for h in range(int(start // grid_s), min(npoint, math.ceil(end / grid_s))):
                busy[h] += 1
    rows, fixed_zero = [], []
    for d, deadline in enumerate(world["deadlines"]):
        for q in range(len(deadline["requirements"])):
            if not serves[(d, q)]:
                fixed_zero.append(d)
                break
            rows.append(f"z{d} - " + _sum(serves[(d, q)], "-") + " <= 0")
    for h, names in covers.items():
        if len(names) + busy[h] > slots:
            rows.append(_sum(names) + f" <= {max(slots - busy[h], 0)}")
    for names in mine.values():
        if len(names) > 1:
            rows.append(_sum(names) + " <= 1")
    weights = [deadline["weight"] for deadline in world["deadlines"]]
    lp = ["Maximize", " met: " + _sum([f"{w:.6f} z{d}" for d, w in enumerate(weights)]), "Subject To"]
    lp += [f" c{n}: {row}" for n, row in enumerate(rows)]
    lp += ["Bounds"] + [f" z{d} = 0" for d in fixed_zero]
    lp += ["Binaries"] + [f" {name}" for name in starts] + [f" z{d}" for d in range(len(weights))]
    lp.append("End")
    status, met, values = _run_cbc("\n".join(lp) + "\n", time_limit_s)
    chosen = sorted(starts[name] for name, v in values.items() if name in starts and v > 0.5)
    return {"missed": sum(weights) - met, "status": status, "starts": chosen, "variables": len(starts)}


def check_schedule(world, slots, starts):
    """Replay starts [(connector_id, t)] in continuous time under the world's rules; the weight missed.

    Raises ValueError when the schedule breaks a rule: a start the windows
    or an outage forbid, two syncs of one connector at once, more than
    `slots` syncs at once (the vendor-scheduled runs included)."""
    conns = {c["connector_id"]: c for c in world["connectors"]}
    runs = [(t, t + _sync_seconds(conns[i], t), i) for i, t in starts]
    for i, t in starts:
        if not _allowed(conns[i], t) or not 0 <= t < world["horizon_s"]:
            raise ValueError(f"connector {i} may not start at {t}")
    for conn in conns.values():
        runs += [(s, e, conn["connector_id"]) for s, e in _vendor_runs(world, conn)]
    events = sorted([(s, 1, i) for s, e, i in runs] + [(e, -1, i) for s, e, i in runs])
    running, per_conn = 0, defaultdict(int)
    for t, step, i in events:          # ends sort before starts at the same instant
        running += step
        per_conn[i] += step
        if running > slots or per_conn[i] > 1:
            raise ValueError(f"at {t}: {running} syncs running, {per_conn[i]} of connector {i}")
    missed = 0.0
    for deadline in world["deadlines"]:
        for req in deadline["requirements"]:
            mine = sorted((s, e) for s, e, i in runs if i == req["connector_id"] and s >= req["opens_s"])
            # The first sync after the opening is the one that counts, as in simulate().
            if not mine or mine[0][1] > req["due_s"]:
                missed += deadline["weight"]
                break
    return missed
