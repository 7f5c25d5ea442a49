"""A seeded, deterministic generator of realistic sync fleets.

One GeneratedFleet (seed, size, scenario) holds:

  connectors   both vendors, realistic services, a schedule each (Fivetran
               360 minutes unless configured otherwise, Airbyte 24 hours),
               two destinations, shared source systems, a lognormal size
               (rows per day) and a duration law: seconds = a * rows^0.7,
               times day-of-week and hour-of-day seasonality, times
               lognormal noise (sigma 0.2 to 0.5);
  graph        a dbt-like DAG: 1 to 3 staging models per connector, each
               feeding 1 to 3 marts shared across connectors, marts feeding
               dashboards and reports with deadlines in four time zones,
               weights in tiers (1, 3, 10) and a freshness SLA set by the
               scenario;
  calendar     a month-end close (weight x2 for finance assets);
  windows      business-hours load windows on the OLTP sources and
               warehouse peak pricing (x2 on weekday office hours UTC);
  history      `days` of runs before `now` on each connector's schedule,
               with injected faults: transient failures (2 to 5 percent,
               more in the failure-heavy scenario), rate-limit reschedules,
               credential expiry until a human fixes it, schema changes,
               duration spikes and row drops, each remembered in `truth`
               so detection can be scored.

Everything comes from random.Random(seed); the same arguments give the same
fleet byte for byte.  `sql()` loads it into syncopt's tables (accounts 1 =
Fivetran and 2 = Airbyte must exist; connectors are found by external_id,
so the graph also loads over connectors the collector created);
`mock_fleet()` is what the mock vendor API serves.
"""

import json
import math
import random
import zlib
from datetime import datetime, timedelta, timezone

from fleet.failure_messages import MESSAGES

SERVICES = [  # service, OLTP source with business-hours load, rows/day median
    ("postgres", True, 400000), ("mysql", True, 250000), ("salesforce", False, 80000),
    ("hubspot", False, 30000), ("stripe", False, 60000), ("netsuite", False, 50000),
    ("zendesk", False, 20000), ("google_sheets", False, 2000)]
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
DESTINATIONS = ["warehouse_main", "warehouse_finance"]

SCENARIOS = {
    # freshness SLA of a deadline (hours), transient failure rate, share of
    # connectors whose credentials expire once in the history
    "loose": {"freshness_h": (10, 16), "fail": (0.02, 0.05), "expire": 0.03},
    "tight": {"freshness_h": (2, 4), "fail": (0.02, 0.05), "expire": 0.03},
    "failure_heavy": {"freshness_h": (4, 8), "fail": (0.10, 0.20), "expire": 0.10},
}

# The error code each injected cause reports; its message is drawn from
# failure_messages.MESSAGES (the wordings real syncs report).
ERROR_CODES = {"transient": "network", "rate_limit": "rate_limit", "credentials": "auth", "schema_change": "schema"}


def dow_factor(dt):
    """Weekends are lighter."""
    return 0.6 if dt.weekday() >= 5 else 1.0


def hour_factor(dt):
    """Office hours are heavier on the sources."""
    return 1.25 if 8 <= dt.hour < 18 else 1.0


class GeneratedFleet:
    def __init__(self, seed=1, connectors=100, scenario="loose", days=21,
                 now=datetime(2026, 11, 20, 0, 0, tzinfo=timezone.utc)):
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
        self.seed, self.scenario, self.now, self.days = seed, scenario, now, days
        sc = SCENARIOS[scenario]
        rnd = random.Random(seed)
        self.connectors = []
        for i in range(connectors):
            airbyte = rnd.random() < 0.4
            service, oltp, rows_median = rnd.choice(SERVICES)
            self.connectors.append({
                "n": i, "vendor": "airbyte" if airbyte else "fivetran",
                "external_id": (f"9924bcd0-99be-453d-ba47-{i:012d}" if airbyte else f"gen_conn_{i:05d}"),
                "name": f"{service}_{i}", "service": service,
                "schedule_minutes": 1440 if airbyte else rnd.choice([360, 360, 360, 180, 720]),
                "destination": DESTINATIONS[0 if rnd.random() < 0.75 else 1],
                "source_key": f"{service}_db_{i % 5}" if oltp else None,
                "tags": ["finance"] if service in ("netsuite", "stripe") else [],
                "rows_day": rows_median * math.exp(rnd.gauss(0, 0.8)),
                "coef": rnd.uniform(0.15, 0.6),
                "sigma": rnd.uniform(0.2, 0.5),
                "fail": rnd.uniform(*sc["fail"]),
                "phase": rnd.randrange(0, 60 * 24),
            })
        self._graph(rnd, sc)
        self._history(rnd, sc)

    def error_message(self, kind, run_id):
        """The message of an injected failure: one of its cause's wordings, by a hash of the run
        (not from the fleet's random stream, so the fleet is the same whatever the wordings)."""
        wordings = MESSAGES[kind]
        return wordings[zlib.crc32(f"{self.seed}/{run_id}".encode()) % len(wordings)][0]

    def duration(self, c, rows, start, noise):
        """Seconds a sync of `rows` rows takes, starting at `start`."""
        return max(20.0, c["coef"] * rows ** 0.7 * dow_factor(start) * hour_factor(start) * noise)

    def _graph(self, rnd, sc):
        n = len(self.connectors)
        marts = [{"name": f"mart_{m}", "kind": "dbt_model", "minutes": rnd.randint(2, 15)}
                 for m in range(max(2, n // 3))]
        self.assets, self.lineage = [], []
        for c in self.connectors:
            for s in range(rnd.randint(1, 3)):
                stg = {"name": f"stg_{c['name']}_{s}", "kind": "dbt_model", "minutes": rnd.randint(1, 5)}
                self.assets.append(stg)
                self.lineage.append(("connector", c["external_id"], c["vendor"], stg["name"]))
                for mart in rnd.sample(marts, rnd.randint(1, min(3, len(marts)))):
                    self.lineage.append(("asset", stg["name"], None, mart["name"]))
        self.assets.extend(marts)
        for d in range(max(1, n // 5)):
            kind = "dashboard" if rnd.random() < 0.7 else "report"
            zone = rnd.choice(ZONES)
            finance = rnd.random() < 0.25
            self.assets.append({
                "name": f"{'finance_' if finance else ''}{kind}_{d}", "kind": kind, "minutes": 0,
                "deadline": f"{rnd.randint(5, 9):02d}:{rnd.choice([0, 15, 30, 45]):02d}",
                "timezone": zone, "days": "1-5" if rnd.random() < 0.7 else "*",
                "weight": rnd.choice([1, 1, 1, 3, 3, 10]),
                "freshness_h": rnd.randint(*sc["freshness_h"]), "finance": finance})
            for mart in rnd.sample(marts, rnd.randint(1, min(3, len(marts)))):
                self.lineage.append(("asset", mart["name"], None, self.assets[-1]["name"]))
        # Deduplicate edges while keeping the generator's order.
        self.lineage = list(dict.fromkeys(self.lineage))

    def _history(self, rnd, sc):
        """Runs before `now`, oldest first, with faults; truth[(external_id, run_id)] = kind."""
        self.runs, self.truth = [], {}
        start_of_history = self.now - timedelta(days=self.days)
        for c in self.connectors:
            expire_at = None
            if rnd.random() < sc["expire"]:
                expire_at = start_of_history + timedelta(hours=rnd.uniform(24, 24 * (self.days - 2)))
                fixed_at = expire_at + timedelta(hours=rnd.uniform(4, 30))
            period = timedelta(minutes=c["schedule_minutes"])
            t = start_of_history + timedelta(minutes=c["phase"] % c["schedule_minutes"])
            k, last_ok = 0, t - period
            while t < self.now - timedelta(hours=2):
                k += 1
                run_id = f"gen-{c['n']}-{k}"
                gap_days = (t - last_ok).total_seconds() / 86400
                rows = c["rows_day"] * gap_days * dow_factor(t) * math.exp(rnd.gauss(0, 0.25))
                noise = math.exp(rnd.gauss(0, c["sigma"]))
                kind = None
                u = rnd.random()
                if expire_at and expire_at <= t < fixed_at:
                    kind = "credentials"
                elif u < c["fail"]:
                    kind = "transient"
                elif u < c["fail"] + 0.01:
                    kind = "rate_limit"
                elif u < c["fail"] + 0.015:
                    kind = "schema_change"
                elif u < c["fail"] + 0.025 and k > 20:
                    kind = "duration_spike"
                    noise *= rnd.uniform(5, 8)
                elif u < c["fail"] + 0.035 and k > 20:
                    kind = "row_drop"
                    rows *= rnd.uniform(0.01, 0.05)
                seconds = self.duration(c, rows, t, noise)
                run = {"connector": c, "external_run_id": run_id, "started_at": t, "rows": int(rows),
                       "seconds": seconds, "status": "succeeded", "error": None, "code": None}
                if kind in ERROR_CODES:
                    run["status"] = "rescheduled" if kind == "rate_limit" else "failed"
                    run["error"], run["code"] = self.error_message(kind, run_id), ERROR_CODES[kind]
                    run["seconds"] = min(seconds, rnd.uniform(20, 300))
                    run["rows"] = 0
                else:
                    last_ok = t
                if kind:
                    self.truth[(c["external_id"], run_id)] = kind
                self.runs.append(run)
                t += period
            c["setup_state"] = "broken" if expire_at and fixed_at > self.now else "connected"

    # -- loading ---------------------------------------------------------

    @staticmethod
    def q(value):
        if value is None:
            return "NULL"
        if isinstance(value, (int, float)):
            return repr(value)
        if isinstance(value, datetime):
            return "'" + value.isoformat() + "'"
        if isinstance(value, list):
            return "ARRAY[" + ",".join(GeneratedFleet.q(v) for v in value) + "]::text[]"
        return "'" + str(value).replace("'", "''") + "'"

    def connector_ref(self, external_id, vendor):
        account = 2 if vendor == "airbyte" else 1
        return (f"(SELECT connector_id FROM syncopt.connector WHERE account_id = {account}"
                f" AND external_id = {self.q(external_id)})")

    def sql_connectors(self):
        q = self.q
        rows = [f"({2 if c['vendor'] == 'airbyte' else 1}, {q(c['external_id'])}, {q(c['name'])}, "
                f"{q(c['service'])}, {c['schedule_minutes']}, {q(c['destination'])}, {q(c['source_key'])}, "
                f"{q(c['tags'])}, {q(c['setup_state'])})" for c in self.connectors]
        return ("INSERT INTO syncopt.connector (account_id, external_id, name, service, schedule_minutes,"
                " destination_id, source_key, tags, setup_state) VALUES\n" + ",\n".join(rows) + ";\n")

    def sql_runs(self, before=None):
        """History (started before `before`, if given), absorbed the way ingestion absorbs it."""
        q = self.q
        runs = [r for r in self.runs if before is None or r["started_at"] < before]
        out = ["CREATE TEMP TABLE gen_run_ids (run_id bigint) ON COMMIT DROP;\n"]
        for i in range(0, len(runs), 2000):
            rows = []
            for r in runs[i:i + 2000]:
                c = r["connector"]
                account = 2 if c["vendor"] == "airbyte" else 1
                rows.append(f"({account}, {q(c['external_id'])}, {q(r['external_run_id'])}, {q(r['started_at'])}, "
                            f"{q(r['started_at'] + timedelta(seconds=r['seconds']))}, {q(r['status'])}, "
                            f"{r['rows']}, {q(r['code'])}, {q(r['error'])})")
            out.append("WITH v (account_id, external_id, run, started, finished, status, nrows, code, message)"
                       " AS (VALUES\n" + ",\n".join(rows) + "),\n"
                       " ins AS (INSERT INTO syncopt.sync_run (connector_id, external_run_id, started_at,"
                       " finished_at, status, rows, error_code, error_message, source)"
                       " SELECT c.connector_id, v.run, v.started::timestamptz, v.finished::timestamptz,"
                       " v.status, v.nrows, v.code, v.message, 'api' FROM v JOIN syncopt.connector c"
                       " USING (account_id, external_id) RETURNING run_id)\n"
                       "INSERT INTO gen_run_ids SELECT run_id FROM ins;\n")
        out.append("SELECT syncopt.absorb_runs(array_agg(run_id ORDER BY run_id)) FROM gen_run_ids;\n")
        return "BEGIN;\n" + "".join(out) + "COMMIT;\n"

    def sql_graph(self):
        q = self.q
        out = ["INSERT INTO syncopt.asset (name, kind, deadline, timezone, days, freshness_sla, weight, duration)"
               " VALUES\n" + ",\n".join(
                   f"({q(a['name'])}, {q(a['kind'])}, {q(a.get('deadline'))}, {q(a.get('timezone', 'UTC'))}, "
                   f"{q(a.get('days', '*'))}, "
                   f"{q(str(a['freshness_h']) + ' hours') if 'freshness_h' in a else 'NULL'}, "
                   f"{a.get('weight', 1)}, {q(str(a['minutes']) + ' minutes')})" for a in self.assets) + ";\n"]
        edges = []
        for kind, upstream, vendor, asset in self.lineage:
            target = f"(SELECT asset_id FROM syncopt.asset WHERE name = {q(asset)})"
            if kind == "connector":
                edges.append(f"INSERT INTO syncopt.lineage (upstream_connector_id, asset_id)"
                             f" SELECT {self.connector_ref(upstream, vendor)}, {target};")
            else:
                edges.append(f"INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) SELECT"
                             f" (SELECT asset_id FROM syncopt.asset WHERE name = {q(upstream)}), {target};")
        out.append("\n".join(edges) + "\n")
        return "".join(out) + self.sql_calendar()

    def sql_calendar(self):
        """The month-end close and the load windows (what sql_graph adds beside the assets and lineage)."""
        q = self.q
        out = []
        # Month-end close: the last two days of the month and the first two of the next.
        first = self.now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = (first + timedelta(days=32)).replace(day=1)
        out.append("INSERT INTO syncopt.calendar_event (name, during, weight_multiplier, tag) VALUES"
                   f" ('month-end close', tstzrange({q(nxt - timedelta(days=2))}, {q(nxt + timedelta(days=2))}),"
                   " 2, 'finance');\n")
        sources = sorted({c["source_key"] for c in self.connectors if c["source_key"]})
        rows = [f"('{s} business hours', 'source', {q(s)}, '1-5', '08:00', '18:00', 'America/New_York', 1, NULL)"
                for s in sources]
        rows.append("('warehouse peak', 'warehouse', NULL, '1-5', '13:00', '22:00', 'UTC', NULL, 2)")
        out.append("INSERT INTO syncopt.load_window (name, target, source_key, dow, start_time, end_time, timezone,"
                   " load_factor, price_multiplier) VALUES\n" + ",\n".join(rows) + ";\n")
        return "".join(out)

    def sql_platform_log(self, schema="fivetran_log"):
        """The Fivetran connectors' runs as a Platform Connector `log` table would hold them."""
        q = self.q
        rows, n = [], 0
        for r in self.runs:
            c = r["connector"]
            if c["vendor"] != "fivetran":
                continue
            end = r["started_at"] + timedelta(seconds=r["seconds"])
            status = {"succeeded": "SUCCESSFUL", "failed": "FAILURE", "rescheduled": "RESCHEDULED"}[r["status"]]
            events = [(r["started_at"], "INFO", "sync_start", {}),
                      (end, "INFO", "records_modified", {"table": "t", "count": r["rows"]})]
            if r["error"]:
                # Fivetran's log names a failure's event `error` (event SEVERE).
                events.append((end, "SEVERE", "error", {"message": r["error"]}))
            events.append((end, "INFO", "sync_end", {"status": status}))
            for ts, level, event, data in events:
                n += 1
                rows.append(f"('{n}', {q(ts.replace(tzinfo=None))}, {q(c['external_id'])}, {q(level)}, "
                            f"{q(event)}, {q(json.dumps(data))}, {q(r['external_run_id'])})")
        return (f"CREATE SCHEMA {schema};\n"
                f"CREATE TABLE {schema}.log (id text, time_stamp timestamp, connection_id text, event text,"
                " message_event text, message_data text, sync_id text);\n"
                f"INSERT INTO {schema}.log VALUES\n" + ",\n".join(rows) + ";\n")

    def sql_admin(self):
        """What an admin adds to collected connectors: shared sources and tags."""
        return "".join(
            f"UPDATE syncopt.connector SET source_key = {self.q(c['source_key'])}, tags = {self.q(c['tags'])}"
            f" WHERE account_id = {2 if c['vendor'] == 'airbyte' else 1}"
            f" AND external_id = {self.q(c['external_id'])};\n"
            for c in self.connectors if c["source_key"] or c["tags"])

    def sql(self):
        return self.sql_connectors() + self.sql_runs() + self.sql_graph() + "ANALYZE;\n"

    # -- the mock vendor API's view of the same fleet --------------------

    def mock_fleet(self):
        """Fivetran connections and Airbyte connections/jobs as the vendors would list them."""
        iso = lambda t: t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
        last = {}
        for r in self.runs:
            last.setdefault(r["connector"]["n"], {})[r["status"]] = r
        fivetran, airbyte, jobs = [], [], []
        for c in self.connectors:
            if c["vendor"] == "fivetran":
                ok, bad = last.get(c["n"], {}).get("succeeded"), last.get(c["n"], {}).get("failed")
                fivetran.append({"id": c["external_id"], "group_id": c["destination"], "service": c["service"],
                                 "schema": c["name"], "sync_frequency": c["schedule_minutes"],
                                 "setup_state": c["setup_state"],
                                 "succeeded_at": iso(ok["started_at"] + timedelta(seconds=ok["seconds"])) if ok else None,
                                 "failed_at": iso(bad["started_at"] + timedelta(seconds=bad["seconds"])) if bad else None})
            else:
                airbyte.append({"connectionId": c["external_id"], "name": c["name"],
                                "destination": c["destination"]})
        for r in self.runs:
            c = r["connector"]
            if c["vendor"] == "airbyte":
                jobs.append({"connectionId": c["external_id"], "startTime": iso(r["started_at"]),
                             "seconds": int(r["seconds"]), "rows": r["rows"],
                             "status": {"succeeded": "succeeded", "failed": "failed"}.get(r["status"], "cancelled")})
        return {"fivetran": fivetran, "airbyte": airbyte, "jobs": jobs}
