#!/usr/bin/env python3
"""A mock of the Fivetran REST API and the Airbyte public API, for tests.

It serves the endpoints syncopt's collector uses, with the envelopes,
paging and auth of the vendors' OpenAPI files (../shared/vendor-specs/):

  Fivetran, under /fivetran:   GET /v1/groups, /v1/groups/{id}/connections,
                               /v1/connections/{id}, /v1/connections/{id}/schemas,
                               .../schemas/{schema}/tables/{table}/columns;
                               POST /v1/connections/{id}/sync, .../resync,
                               .../schemas/tables/resync; PATCH /v1/connections/{id}
      {"code": "Success", "data": {"items": [...], "next_cursor": "..."}},
      Basic auth, X-Rate-Limit / X-Rate-Limit-Remaining headers.
  Airbyte, under /airbyte/v1:  POST /applications/token, GET /connections, /jobs,
                               /connections/{id}; POST /jobs; PATCH /connections/{id},
                               /sources/{id}
      {"data": [...], "next": url, "previous": url}; limit/offset paging (an
      empty page ends it); bearer tokens that expire after expires_in;
      RFC 7807 problem bodies.

Webhook receivers, under /hooks/ (no auth): any POST is recorded and
answered 200 "ok", as a Slack incoming webhook does.

Control endpoints, under /_mock (no auth): POST /_mock/faults (a list of
faults to inject), GET /_mock/requests (every request received), POST
/_mock/clear_requests, POST /_mock/reset (requests and faults), POST /_mock/fleet (a new generated fleet), POST /_mock/advance
(every connection syncs once more), POST /_mock/connection (set fields of
one Fivetran connection, status merged: a failure with its status.tasks and
warnings), POST /_mock/expire_tokens, POST
/_mock/settings (latency: seconds added to every vendor answer, and paging
and token settings).

Fivetran's rate limit is enforced as documented (vendor-apis.md 1.1):
--rate-limit requests in any rolling --rate-window seconds (20,000 an
hour), X-Rate-Limit and X-Rate-Limit-Remaining on every answer, and past
the limit a 429 {"code": "TooManyRequests"} with Retry-After: the seconds
until the oldest request leaves the window.  GET /_mock/rate reports the
requests in the window, the peak, and how many were refused.

Fault kinds: "status" (any HTTP status, with an optional Retry-After),
"slow" (sleep before answering), "truncated" and "malformed" (a 200 with a
broken JSON body), "oversized" (a 200 body of `size` bytes), "unauthorized"
(401 as for wrong credentials), "echo_request" (an error of `status`, default
400, whose body quotes the request's headers and body, credentials
included, as careless vendors do).  Executor faults (one block in
apply_fault): "nul" (a 200 JSON body whose message holds a NUL: the
`\u0000` escape, or with "raw": true a NUL byte), "huge" (an answer of
`status` (default 200) whose JSON body of `size` bytes is streamed in
chunks), "close_after_read" (the request is read and recorded, then the
connection is closed without an answer: a vendor that died mid-call, or a
keep-alive connection that died under a request sent on it).  Odd statuses
(999, 600) and Retry-After values of any form (seconds, an HTTP-date, huge
numbers) go through "status" with "retry_after" as given.  A fault applies to requests whose path
matches its regex, `times` times, after letting the first `after` (default
0) of them through.

Collector faults: "hang" (read the request, answer nothing for `delay`
seconds, default 3600, then close), "mangle" (answer normally, with every
`find` in the body replaced by the raw bytes `replace_hex`: invalid UTF-8,
NUL bytes), "raw" (answer `status`, default 200, with the raw bytes
`body_hex`).  A path may start with /t/<tag> (/t/a/fivetran/v1/groups): it is
served as the path without that prefix, while faults match the whole path,
so that several accounts on one mock can each get faults of their own.

Fleets: a small built-in one (--fivetran-connections, --airbyte-connections)
or, with --generated N [--scenario S], the fleet of test/fleet/generator.py
(the same connectors, history and faults the benchmarks load).

Run: server.py [--port N] [--seed S] ...; it prints "PORT <n>" when ready.
"""

import argparse
import base64
import bisect
import collections
import json
import math
import os
import random
import re
import secrets
import sys
import threading
import time
import urllib.parse
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

FIVETRAN_FREQUENCIES = [5, 15, 30, 60, 120, 180, 360, 480, 720, 1440]
SERVICES = ["postgres", "salesforce", "hubspot", "google_sheets", "stripe", "netsuite", "mysql", "zendesk"]
EPOCH = datetime(2026, 11, 1, tzinfo=timezone.utc)


def iso(ts):
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def iso_seconds(ts):
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_duration(seconds):
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return "PT" + (f"{h}H" if h else "") + (f"{m}M" if m else "") + f"{s}S"


class Fleet:
    """A deterministic fleet of Fivetran groups/connections and Airbyte connections/jobs."""

    def __init__(self, seed=1, fivetran_groups=3, fivetran_connections=12, airbyte_connections=10,
                 jobs_per_connection=6):
        rnd = random.Random(seed)
        self.rnd = rnd
        self.groups = [{"id": f"group_{g}", "name": f"Warehouse {g}",
                        "created_at": iso(EPOCH - timedelta(days=400))} for g in range(fivetran_groups)]
        self.connections = {}
        for i in range(fivetran_connections):
            group = self.groups[i % fivetran_groups]["id"]
            cid = f"conn_{i:05d}"
            ok = EPOCH - timedelta(minutes=rnd.randint(10, 600))
            self.connections[cid] = {
                "id": cid, "group_id": group, "service": rnd.choice(SERVICES), "service_version": 1,
                "schema": f"source_{i}", "connected_by": "user_1",
                "created_at": iso(EPOCH - timedelta(days=300)),
                "succeeded_at": iso(ok), "failed_at": None,
                "paused": False, "pause_after_trial": False,
                "sync_frequency": rnd.choice(FIVETRAN_FREQUENCIES), "schedule_type": "auto",
                "data_delay_sensitivity": "NORMAL",
                "status": {"setup_state": "connected", "sync_state": "scheduled",
                           "update_state": "on_schedule", "is_historical_sync": False,
                           "tasks": [], "warnings": []},
                "config": {},
            }
        self.schemas = {cid: {"public": {"name_in_destination": c["schema"], "enabled": True, "tables": {
            f"table_{t}": {"name_in_destination": f"table_{t}", "enabled": True, "sync_mode": "SOFT_DELETE",
                           "supports_columns_config": True, "supports_history_mode": True,
                           "enabled_patch_settings": {"allowed": True},
                           "columns": {"id": {"name_in_destination": "id", "enabled": True, "hashed": False,
                                              "is_primary_key": True, "enabled_patch_settings": {"allowed": True}}}}
            for t in range(2)}}} for cid, c in self.connections.items()}
        self.ab_connections = []
        self.jobs = []
        self.next_job_id = 1000
        for i in range(airbyte_connections):
            cid = f"9924bcd0-99be-453d-ba47-{i:012d}"
            self.ab_connections.append({
                "connectionId": cid, "name": f"Source {i} to Warehouse", "sourceId": f"95e66a59-{i:04d}",
                "destinationId": "e478de0d-a3a0-475c-b019-25f7dd29e281",
                "workspaceId": "bd9e0ec2-9a0d-4b2e-a3d1-000000000001", "status": "active",
                "schedule": {"scheduleType": "basic", "basicTiming": "Every 24 HOURS"},
                "nonBreakingSchemaUpdatesBehavior": "ignore", "namespaceDefinition": "destination",
                "configurations": {"streams": []}, "createdAt": 1700000000, "tags": []})
            for j in range(jobs_per_connection):
                start = EPOCH - timedelta(days=jobs_per_connection - j, minutes=rnd.randint(0, 59))
                self.add_job(cid, start, rnd.randint(60, 3600), rnd.random() < 0.9)

    @classmethod
    def generated(cls, seed, connectors, scenario):
        """The fleet of test/fleet/generator.py, with history up to this hour."""
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        from fleet.generator import GeneratedFleet
        now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
        gen = GeneratedFleet(seed, connectors, scenario, now=now).mock_fleet()
        self = cls(seed, 1, 0, 0, 0)
        self.groups = [{"id": g, "name": g, "created_at": iso(EPOCH - timedelta(days=400))}
                       for g in sorted({c["group_id"] for c in gen["fivetran"]})]
        for c in gen["fivetran"]:
            self.connections[c["id"]] = {
                "id": c["id"], "group_id": c["group_id"], "service": c["service"], "service_version": 1,
                "schema": c["schema"], "connected_by": "user_1", "created_at": iso(EPOCH - timedelta(days=300)),
                "succeeded_at": c["succeeded_at"], "failed_at": c["failed_at"],
                "paused": False, "pause_after_trial": False, "sync_frequency": c["sync_frequency"],
                "schedule_type": "auto", "data_delay_sensitivity": "NORMAL",
                "status": {"setup_state": c["setup_state"], "sync_state": "scheduled",
                           "update_state": "on_schedule", "is_historical_sync": False, "tasks": [], "warnings": []},
                "config": {}}
            self.schemas[c["id"]] = {}
        for c in gen["airbyte"]:
            self.ab_connections.append({
                "connectionId": c["connectionId"], "name": c["name"], "sourceId": "95e66a59-" + c["connectionId"][-4:],
                "destinationId": "e478de0d-a3a0-475c-b019-25f7dd29e281",
                "workspaceId": "bd9e0ec2-9a0d-4b2e-a3d1-000000000001", "status": "active",
                "schedule": {"scheduleType": "basic", "basicTiming": "Every 24 HOURS"},
                "nonBreakingSchemaUpdatesBehavior": "ignore", "namespaceDefinition": "destination",
                "configurations": {"streams": []}, "createdAt": 1700000000, "tags": []})
        for j in gen["jobs"]:
            start = datetime.strptime(j["startTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
            end = start + timedelta(seconds=j["seconds"])
            self.jobs.append({"jobId": self.next_job_id, "status": j["status"], "jobType": "sync",
                              "startTime": j["startTime"], "connectionId": j["connectionId"],
                              "lastUpdatedAt": iso_seconds(end), "duration": iso_duration(j["seconds"]),
                              "bytesSynced": j["rows"] * 100, "rowsSynced": j["rows"], "_updated": end})
            self.next_job_id += 1
        return self

    def add_job(self, connection_id, start, seconds, ok):
        end = start + timedelta(seconds=seconds)
        self.jobs.append({
            "jobId": self.next_job_id, "status": "succeeded" if ok else "failed", "jobType": "sync",
            "startTime": iso_seconds(start), "connectionId": connection_id,
            "lastUpdatedAt": iso_seconds(end), "duration": iso_duration(seconds),
            "bytesSynced": seconds * 1000, "rowsSynced": seconds * 10,
            "_updated": end})
        self.next_job_id += 1

    def advance(self, now):
        """Every connection syncs once more, finishing now."""
        for c in self.connections.values():
            c["succeeded_at"] = iso(now)
        for c in self.ab_connections:
            self.add_job(c["connectionId"], now - timedelta(seconds=600), 600, True)


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        if args.generated:
            self.fleet = Fleet.generated(args.seed, args.generated, args.scenario)
        else:
            self.fleet = Fleet(args.seed, args.fivetran_groups, args.fivetran_connections,
                               args.airbyte_connections, args.jobs_per_connection)
        self.requests = []
        self.faults = []
        self.tokens = {}
        self.page_cap = args.page_cap
        # Fivetran's account-level limit: rate_limit requests in any rolling
        # window of rate_window seconds (20,000 an hour on paid plans); the
        # times of the requests in the window, and requests counted as spent
        # before them (/_mock/settings rate_limit_remaining).
        self.job_orders = {}
        self.rate_hits = collections.deque()
        self.rate_spent = 0
        self.rate_refused = 0
        self.rate_peak = 0
        self.token_lifetime = args.token_lifetime
        self.latency = 0.0

    def take_rate(self):
        """Count one Fivetran request against the rolling window: (headers, retry_after or None).

        Past the limit the request is refused, as Fivetran does, with a 429
        whose Retry-After is the seconds until the oldest request in the
        window leaves it.
        """
        limit, window = self.args.rate_limit, self.args.rate_window
        with self.lock:
            now = time.monotonic()
            while self.rate_hits and self.rate_hits[0] <= now - window:
                self.rate_hits.popleft()
            used = len(self.rate_hits) + self.rate_spent
            retry_after = None
            if used >= limit:
                self.rate_refused += 1
                retry_after = max(1, math.ceil(self.rate_hits[0] + window - now)) if self.rate_hits else int(window)
            else:
                self.rate_hits.append(now)
                used += 1
                self.rate_peak = max(self.rate_peak, used)
            headers = {"X-Rate-Limit": str(limit), "X-Rate-Limit-Remaining": str(max(0, limit - used))}
        return headers, retry_after

    def jobs_in_order(self, field, direction):
        """The fleet's jobs sorted by createdAt or updatedAt (then jobId), and their
        update times in that order; sorted once per fleet and job count, so that
        a 30,000-job workspace read in 300 pages is not sorted 300 times."""
        with self.lock:
            fleet = self.fleet
            version = (id(fleet), len(fleet.jobs))
            cached = self.job_orders.get((field, direction))
            if cached is None or cached[0] != version:
                key = (lambda j: j["_updated"]) if field == "updatedAt" else (lambda j: j["startTime"])
                jobs = sorted(fleet.jobs, key=lambda j: (key(j), j["jobId"]), reverse=direction == "DESC")
                cached = (version, jobs, [j["_updated"] for j in jobs])
                self.job_orders[(field, direction)] = cached
            return cached[1], cached[2]

    def take_fault(self, method, path):
        with self.lock:
            for f in self.faults:
                if f["times"] > 0 and re.search(f["match"], path) and f.get("method", method) == method:
                    if f.get("after", 0) > 0:
                        f["after"] -= 1
                        continue
                    f["times"] -= 1
                    return dict(f)
        return None


def cursor_encode(skip):
    return base64.urlsafe_b64encode(json.dumps({"skip": skip}).encode()).decode().rstrip("=")


def cursor_decode(cursor):
    pad = "=" * (-len(cursor) % 4)
    return int(json.loads(base64.urlsafe_b64decode(cursor + pad))["skip"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set by main

    def log_message(self, *args):
        pass

    # -- plumbing -------------------------------------------------------
    def send_json(self, status, body, headers=None, raw=None):
        data = raw if raw is not None else json.dumps(body).encode()
        for find, replace in getattr(self, "mangles", []):
            data = data.replace(find, replace)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def record(self, body):
        st = self.state
        auth = self.headers.get("Authorization", "")
        with st.lock:
            st.requests.append({"method": self.command, "path": self.path,
                                "accept": self.headers.get("Accept"), "auth_scheme": auth.split(" ")[0],
                                "user_agent": self.headers.get("User-Agent"), "body": body,
                                "content_type": self.headers.get("Content-Type"),
                                "at": time.time()})

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode() if n else ""

    def apply_fault(self, fault):
        kind = fault["kind"]
        if kind == "slow":
            time.sleep(fault.get("delay", 5))
            return False
        if kind == "status":
            headers = {}
            if fault.get("retry_after") is not None:
                headers["Retry-After"] = str(fault["retry_after"])
            status = fault.get("status", 500)
            body = ({"code": "TooManyRequests", "message": "Rate limit exceeded"} if status == 429
                    else {"code": "InternalError", "message": "Internal server error"})
            self.send_json(status, body, headers)
            return True
        if kind == "truncated":
            self.send_json(200, None, raw=b'{"code":"Success","data":{"items":[{"id":"conn_')
            return True
        if kind == "malformed":
            self.send_json(200, None, raw=b'<html>502 Bad Gateway</html>')
            return True
        if kind == "oversized":
            pad = "x" * int(fault.get("size", 2 * 1024 * 1024))
            self.send_json(200, None, raw=json.dumps({"code": "Success", "data": {"items": [], "pad": pad}}).encode())
            return True
        if kind == "unauthorized":
            self.send_json(401, {"code": "AuthFailed", "message": "Invalid API key or secret"})
            return True
        if kind == "echo_request":
            # A careless vendor: the error quotes the request, credentials included.
            echoed = {k: v for k, v in self.headers.items()}
            self.send_json(fault.get("status", 400), {
                "code": "BadRequest",
                "message": f"rejected request with Authorization: {echoed.get('Authorization', '')}",
                "request": {"headers": echoed, "body": self.last_body}})
            return True
        if kind in ("nul", "huge", "close_after_read"):
            return self.apply_executor_fault(fault)
        if self.apply_collector_fault(fault):
            return True
        if kind == "mangle":
            return False
        raise ValueError(kind)

    def apply_collector_fault(self, fault):
        """The collector's faults; "mangle" only arms the rewrite of the normal answer."""
        kind = fault["kind"]
        if kind == "hang":
            time.sleep(fault.get("delay", 3600))
            self.close_connection = True
            return True
        if kind == "raw":
            self.send_json(fault.get("status", 200), None, raw=bytes.fromhex(fault["body_hex"]))
            return True
        if kind == "mangle":
            self.mangles = getattr(self, "mangles", []) + [(fault["find"].encode(), bytes.fromhex(fault["replace_hex"]))]
        return False

    # -- executor faults (a misbehaving vendor under the executor) --------
    def apply_executor_fault(self, fault):
        kind = fault["kind"]
        if kind == "nul":
            raw = (b'{"code": "Success", "message": "accepted\x00 with a NUL byte"}' if fault.get("raw")
                   else b'{"code": "Success", "message": "accepted\\u0000 with an escaped NUL"}')
            self.send_json(200, None, raw=raw)
        elif kind == "huge":
            size = int(fault.get("size", 2 * 1024 * 1024))
            head, tail = b'{"code": "Success", "pad": "', b'"}'
            self.send_response(int(fault.get("status", 200)))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(head) + size + len(tail)))
            self.end_headers()
            try:
                self.wfile.write(head)
                chunk = b"x" * (1024 * 1024)
                left = size
                while left > 0:
                    self.wfile.write(chunk[:min(left, len(chunk))])
                    left -= len(chunk)
                self.wfile.write(tail)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
        elif kind == "close_after_read":
            self.close_connection = True
        return True

    # -- dispatch -------------------------------------------------------
    def handle_any(self):
        body = self.read_body()
        self.last_body = body
        url = urlparse(self.path)
        path, query = url.path, parse_qs(url.query)
        if path.startswith("/_mock/"):
            return self.control(path, body)
        self.record(body)
        if path.startswith("/hooks/"):
            return self.send_json(200, None, raw=b"ok")
        self.mangles = []
        fault = self.state.take_fault(self.command, path)
        if fault and self.apply_fault(fault):
            return
        tagged = re.fullmatch(r"/t/[^/]+(/.*)", path)
        if tagged:
            path = tagged.group(1)
        if self.state.latency:
            time.sleep(self.state.latency)
        if path.startswith("/fivetran/"):
            return self.fivetran(path[len("/fivetran"):], query)
        if path.startswith("/airbyte/v1/"):
            return self.airbyte(path[len("/airbyte/v1"):], query, body)
        self.send_json(404, {"code": "NotFound", "message": "no such endpoint"})

    do_GET = do_POST = do_PATCH = do_DELETE = handle_any

    def control(self, path, body):
        st = self.state
        data = json.loads(body) if body else {}
        with st.lock:
            if path == "/_mock/faults":
                for f in (data if isinstance(data, list) else [data]):
                    f.setdefault("times", 1)
                    st.faults.append(f)
            elif path == "/_mock/requests":
                return self.send_json(200, st.requests)
            elif path == "/_mock/clear_requests":
                st.requests.clear()
            elif path == "/_mock/reset":
                st.requests.clear()
                st.faults.clear()
            elif path == "/_mock/fleet":
                a = st.args
                st.fleet = Fleet(data.get("seed", a.seed), data.get("fivetran_groups", a.fivetran_groups),
                                 data.get("fivetran_connections", a.fivetran_connections),
                                 data.get("airbyte_connections", a.airbyte_connections),
                                 data.get("jobs_per_connection", a.jobs_per_connection))
                st.page_cap = data.get("page_cap", st.page_cap)
            elif path == "/_mock/advance":
                st.fleet.advance(datetime.now(timezone.utc))
            elif path == "/_mock/connection":
                # Change one Fivetran connection as the vendor would: e.g. a
                # failed_at and status.tasks [{code, message, details}] (FT-OAS).
                conn = st.fleet.connections.get(data.get("id"))
                if conn is None:
                    return self.send_json(404, {"error": "no such connection"})
                for key, value in data.items():
                    if key == "status":
                        conn["status"].update(value)
                    elif key != "id":
                        conn[key] = value
            elif path == "/_mock/expire_tokens":
                st.tokens.clear()
            elif path == "/_mock/rate":
                return self.send_json(200, {"limit": st.args.rate_limit, "window": st.args.rate_window,
                                            "in_window": len(st.rate_hits) + st.rate_spent,
                                            "peak": st.rate_peak, "refused": st.rate_refused})
            elif path == "/_mock/settings":
                if "rate_limit_remaining" in data:
                    # The window starts afresh with this much of it left.
                    st.rate_hits.clear()
                    st.rate_spent = max(0, st.args.rate_limit - int(data["rate_limit_remaining"]))
                    st.rate_refused = st.rate_peak = 0
                st.page_cap = data.get("page_cap", st.page_cap)
                st.token_lifetime = data.get("token_lifetime", st.token_lifetime)
                st.latency = float(data.get("latency", st.latency))
            else:
                return self.send_json(404, {"error": "unknown control endpoint"})
        self.send_json(200, {"ok": True})

    # -- Fivetran ------------------------------------------------------
    def fivetran_auth(self):
        expected = "Basic " + base64.b64encode(
            f"{self.state.args.fivetran_key}:{self.state.args.fivetran_secret}".encode()).decode()
        return self.headers.get("Authorization") == expected

    def fivetran_page(self, items, query, headers):
        limit = int(query.get("limit", ["100"])[0])
        if not 1 <= limit <= 1000:
            return self.send_json(400, {"code": "InvalidInput", "message": "limit must be in 1..1000"}, headers)
        if self.state.page_cap:
            limit = min(limit, self.state.page_cap)
        skip = cursor_decode(query["cursor"][0]) if "cursor" in query else 0
        page = items[skip:skip + limit]
        data = {"items": page}
        if skip + limit < len(items):
            data["next_cursor"] = cursor_encode(skip + limit)
        self.send_json(200, {"code": "Success", "data": data}, headers)

    def fivetran(self, path, query):
        st = self.state
        headers, retry_after = st.take_rate()
        if retry_after is not None:
            return self.send_json(429, {"code": "TooManyRequests", "message": "Rate limit exceeded"},
                                  dict(headers, **{"Retry-After": str(retry_after)}))
        if not self.fivetran_auth():
            return self.send_json(401, {"code": "AuthFailed", "message": "Invalid API key or secret"}, headers)
        fleet = st.fleet
        if self.command in ("POST", "PATCH"):
            return self.fivetran_write(path, headers)
        m = re.fullmatch(r"/v1/groups", path)
        if m:
            return self.fivetran_page(fleet.groups, query, headers)
        m = re.fullmatch(r"/v1/groups/([^/]+)/connections", path)
        if m:
            if not any(g["id"] == m.group(1) for g in fleet.groups):
                return self.send_json(404, {"code": "NotFound", "message": "Group not found"}, headers)
            items = [c for c in fleet.connections.values() if c["group_id"] == m.group(1)]
            return self.fivetran_page(items, query, headers)
        m = re.fullmatch(r"/v1/connections/([^/]+)", path)
        if m and m.group(1) in fleet.connections:
            return self.send_json(200, {"code": "Success", "data": fleet.connections[m.group(1)]}, headers)
        m = re.fullmatch(r"/v1/connections/([^/]+)/schemas", path)
        if m and m.group(1) in fleet.connections:
            return self.send_json(200, {"code": "Success", "data": {
                "enable_new_by_default": True, "schema_change_handling": "ALLOW_ALL",
                "schemas": fleet.schemas[m.group(1)]}}, headers)
        m = re.fullmatch(r"/v1/connections/([^/]+)/schemas/([^/]+)/tables/([^/]+)/columns", path)
        if m and m.group(1) in fleet.connections:
            return self.fivetran_columns(*(urllib.parse.unquote(g) for g in m.groups()), headers)
        self.send_json(404, {"code": "NotFound", "message": "Connection not found"}, headers)

    # -- Fivetran table columns (connection_column_config) ---------------
    # Every column of a source table, where the schema config lists only the
    # changed ones: the columns it lists, plus "name" and "updated_at", which
    # every mock table has and no schema config lists.
    def fivetran_columns(self, connection_id, schema, table, headers):
        tab = self.state.fleet.schemas.get(connection_id, {}).get(schema, {}).get("tables", {}).get(table)
        if tab is None:
            return self.send_json(404, {"code": "NotFound", "message": "Table not found"}, headers)
        columns = {name: {"name_in_destination": name, "enabled": True, "hashed": False,
                          "enabled_patch_settings": {"allowed": True}} for name in ("name", "updated_at")}
        columns.update(tab.get("columns", {}))
        self.send_json(200, {"code": "Success", "data": {"columns": columns}}, headers)

    def fivetran_write(self, path, headers):
        """The write actions of FT-OAS (sync, modify, resync, resync tables)."""
        fleet = self.state.fleet

        def invalid(message):
            return self.send_json(400, {"code": "InvalidInput", "message": message}, headers)

        m = re.fullmatch(r"/v1/connections/([^/]+)(/sync|/resync|/schemas/tables/resync)?", path)
        if not m or m.group(1) not in fleet.connections:
            return self.send_json(404, {"code": "NotFound", "message": "Connection not found"}, headers)
        conn = fleet.connections[m.group(1)]
        try:
            body = json.loads(self.last_body) if self.last_body else {}
        except ValueError:
            return invalid("request body is not JSON")
        if not isinstance(body, dict):
            return invalid("request body must be an object")
        what = (self.command, m.group(2))
        if what == ("POST", "/sync"):
            if set(body) - {"force"} or not isinstance(body.get("force", False), bool):
                return invalid("sync takes only a boolean force")
            with self.state.lock:
                conn["status"]["sync_state"] = "syncing"
            return self.send_json(200, {"code": "Success", "message":
                                        f"Sync has been successfully triggered for connection with id '{conn['id']}'"}, headers)
        if what == ("POST", "/resync"):
            scope = body.get("scope")
            if set(body) - {"scope"} or (scope is not None and not self.table_map(scope)):
                return invalid("scope must map each schema to a non-empty array of tables")
            return self.send_json(200, {"code": "Success", "message": "Re-sync has been triggered successfully"}, headers)
        if what == ("POST", "/schemas/tables/resync"):
            if not self.table_map(body):
                return invalid("the body must map each schema to a non-empty array of tables")
            return self.send_json(200, {"code": "Success", "message": "Re-sync has been triggered successfully"}, headers)
        if what == ("PATCH", None):
            known = {"paused", "sync_frequency", "schedule_type", "daily_sync_time", "config", "auth",
                     "trust_certificates", "trust_fingerprints", "run_setup_tests", "pause_after_trial",
                     "data_delay_threshold", "data_delay_sensitivity", "schema_status", "is_historical_sync"}
            if set(body) - known:
                return invalid(f"unknown fields: {sorted(set(body) - known)}")
            if not set(body) - {"trust_certificates", "trust_fingerprints", "run_setup_tests"}:
                return invalid("at least one persistent configuration parameter is required")
            if "paused" in body and not isinstance(body["paused"], bool):
                return invalid("paused must be a boolean")
            if "sync_frequency" in body and body["sync_frequency"] not in [1] + FIVETRAN_FREQUENCIES:
                return invalid("sync_frequency must be one of 1, 5, 15, 30, 60, 120, 180, 360, 480, 720, 1440")
            if "schedule_type" in body and body["schedule_type"] not in ("auto", "manual"):
                return invalid("schedule_type must be auto or manual")
            if "daily_sync_time" in body and not re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", str(body["daily_sync_time"])):
                return invalid("daily_sync_time must be HH:MM")
            with self.state.lock:
                for k in ("paused", "sync_frequency", "schedule_type", "daily_sync_time"):
                    if k in body:
                        conn[k] = body[k]
                if "paused" in body:
                    conn["status"]["sync_state"] = "paused" if body["paused"] else "scheduled"
            return self.send_json(200, {"code": "Success", "data": conn}, headers)
        return self.send_json(405, {"code": "MethodNotAllowed", "message": "method not allowed"}, headers)

    @staticmethod
    def table_map(value):
        return (isinstance(value, dict) and value and
                all(isinstance(t, list) and t and all(isinstance(x, str) and x for x in t) for t in value.values()))

    def airbyte_write(self, path, body):
        """POST /jobs, PATCH /connections/{id}, PATCH /sources/{id} of AB-OAS."""
        st = self.state
        try:
            req = json.loads(body) if body else None
        except ValueError:
            req = None
        if not isinstance(req, dict):
            return self.problem(400, "bad-request", "the body must be a JSON object")
        conns = {c["connectionId"]: c for c in st.fleet.ab_connections}
        if self.command == "POST" and path == "/jobs":
            if req.get("jobType") == "refresh":
                return self.problem(422, "unprocessable-entity", "Refreshes are not supported in the public API")
            if req.get("jobType") not in ("sync", "reset", "clear") or req.get("connectionId") not in conns:
                return self.problem(400, "bad-request", "connectionId and jobType (sync, reset, clear) are required")
            now = datetime.now(timezone.utc)
            with st.lock:
                job = {"jobId": st.fleet.next_job_id, "status": "running", "jobType": req["jobType"],
                       "startTime": iso_seconds(now), "connectionId": req["connectionId"],
                       "lastUpdatedAt": None, "duration": None, "bytesSynced": 0, "rowsSynced": 0,
                       "_updated": now}
                st.fleet.jobs.append(job)
                st.fleet.next_job_id += 1
            return self.send_json(200, {k: v for k, v in job.items() if not k.startswith("_")})
        m = re.fullmatch(r"/connections/([^/]+)", path)
        if self.command == "PATCH" and m:
            conn = conns.get(m.group(1))
            if conn is None:
                return self.problem(404, "resource-not-found", "connection not found")
            allowed = {"name", "configurations", "schedule", "namespaceDefinition", "namespaceFormat", "prefix",
                       "nonBreakingSchemaUpdatesBehavior", "status", "tags", "dataResidency"}
            if set(req) - allowed:
                return self.problem(400, "bad-request", f"unknown fields {sorted(set(req) - allowed)}")
            if "status" in req and req["status"] not in ("active", "inactive", "deprecated", "locked"):
                return self.problem(400, "bad-request", "invalid status")
            sched = req.get("schedule")
            if sched is not None:
                if not isinstance(sched, dict) or sched.get("scheduleType") not in ("manual", "cron"):
                    return self.problem(400, "bad-request", "scheduleType must be manual or cron")
                if sched["scheduleType"] == "cron" and len(str(sched.get("cronExpression", "")).split()) not in (6, 7):
                    return self.problem(400, "bad-request", "cronExpression must be a Quartz expression")
            with st.lock:
                if "status" in req:
                    conn["status"] = req["status"]
                if sched is not None:
                    conn["schedule"] = ({"scheduleType": "cron", "cronExpression": sched["cronExpression"] + " UTC"}
                                        if sched["scheduleType"] == "cron" else {"scheduleType": "manual"})
            return self.send_json(200, conn)
        m = re.fullmatch(r"/sources/([^/]+)", path)
        if self.command == "PATCH" and m:
            if not any(c["sourceId"] == m.group(1) for c in conns.values()):
                return self.problem(404, "resource-not-found", "source not found")
            if set(req) - {"name", "workspaceId", "configuration", "secretId", "resourceAllocation"}:
                return self.problem(400, "bad-request", "unknown fields")
            return self.send_json(200, {"sourceId": m.group(1), "name": "source", "sourceType": "postgres",
                                        "workspaceId": "bd9e0ec2-9a0d-4b2e-a3d1-000000000001",
                                        "configuration": req.get("configuration", {})})
        return self.problem(404, "resource-not-found", "no such endpoint")

    # -- Airbyte -------------------------------------------------------
    def problem(self, status, slug, detail):
        self.send_json(status, {"type": f"https://reference.airbyte.com/reference/errors#{slug}",
                                "title": slug, "status": status, "detail": detail})

    def airbyte(self, path, query, body):
        st = self.state
        if path == "/applications/token" and self.command == "POST":
            try:
                req = json.loads(body)
            except ValueError:
                return self.problem(400, "bad-request", "invalid JSON")
            if req.get("client_id") != st.args.airbyte_client_id or \
                    req.get("client_secret") != st.args.airbyte_client_secret:
                return self.problem(401, "invalid-api-key", "invalid client credentials")
            token = secrets.token_urlsafe(24)
            with st.lock:
                st.tokens[token] = time.time() + st.token_lifetime
            return self.send_json(200, {"access_token": token, "token_type": "Bearer",
                                        "expires_in": st.token_lifetime})
        auth = self.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        with st.lock:
            valid = token in st.tokens and st.tokens[token] > time.time()
        if not valid:
            return self.problem(401, "invalid-api-key", "missing, invalid or expired token")
        if self.command in ("POST", "PATCH"):
            return self.airbyte_write(path, body)
        m = re.fullmatch(r"/connections/([^/]+)", path)
        if m:
            conn = next((c for c in st.fleet.ab_connections if c["connectionId"] == m.group(1)), None)
            if conn is None:
                return self.problem(404, "resource-not-found", "connection not found")
            return self.send_json(200, conn)
        limit = int(query.get("limit", ["20"])[0])
        offset = int(query.get("offset", ["0"])[0])
        if not 1 <= limit <= 100 or offset < 0:
            return self.problem(400, "bad-request", "limit must be in 1..100, offset >= 0")
        if st.page_cap:
            limit = min(limit, st.page_cap)
        if path == "/connections":
            items = st.fleet.ab_connections
        elif path == "/jobs":
            order = query.get("orderBy", ["createdAt|ASC"])[0]
            if not re.fullmatch(r"(createdAt|updatedAt)\|(ASC|DESC)", order):
                return self.problem(400, "bad-request", "invalid orderBy")
            items, updated = st.jobs_in_order(*order.split("|"))
            if "updatedAtStart" in query:
                since = datetime.fromisoformat(query["updatedAtStart"][0].replace("Z", "+00:00"))
                items = (items[bisect.bisect_left(updated, since):] if order == "updatedAt|ASC"
                         else [j for j in items if j["_updated"] >= since])
            if "createdAtStart" in query:
                since = iso_seconds(datetime.fromisoformat(query["createdAtStart"][0].replace("Z", "+00:00")))
                items = [j for j in items if j["startTime"] >= since]
            for key in ("connectionId", "jobType", "status"):
                if key in query:
                    items = [j for j in items if j[key] == query[key][0]]
        else:
            return self.problem(404, "resource-not-found", "no such endpoint")
        # Private fields (_updated) dropped from the page only: a workspace's
        # whole job list copied per page made paging quadratic.
        page = [{k: v for k, v in j.items() if not k.startswith("_")} for j in items[offset:offset + limit]]
        base = f"http://{self.headers.get('Host')}/airbyte/v1{path}"
        out = {"data": page}
        if page:
            out["next"] = f"{base}?limit={limit}&offset={offset + limit}"
        if offset > 0:
            out["previous"] = f"{base}?limit={limit}&offset={max(0, offset - limit)}"
        self.send_json(200, out)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # Many concurrent clients (the executor sends up to 64 calls at once);
    # the default backlog of 5 would drop connection attempts.
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout under test) is not an error here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--fivetran-groups", type=int, default=3)
    p.add_argument("--fivetran-connections", type=int, default=12)
    p.add_argument("--airbyte-connections", type=int, default=10)
    p.add_argument("--jobs-per-connection", type=int, default=6)
    p.add_argument("--generated", type=int, default=0,
                   help="serve this many connectors of test/fleet/generator.py's fleet instead")
    p.add_argument("--scenario", default="loose", help="the generated fleet's scenario")
    p.add_argument("--page-cap", type=int, default=0, help="serve at most this many items per page")
    p.add_argument("--rate-limit", type=int, default=20000,
                   help="Fivetran requests allowed in any rolling --rate-window (20,000 an hour: paid plans)")
    p.add_argument("--rate-window", type=float, default=3600.0, help="seconds of the rolling rate-limit window")
    p.add_argument("--token-lifetime", type=int, default=900)
    p.add_argument("--fivetran-key", default="ft_key")
    p.add_argument("--fivetran-secret", default="ft_secret_s3cr3t")
    p.add_argument("--airbyte-client-id", default="ab_client")
    p.add_argument("--airbyte-client-secret", default="ab_secret_s3cr3t")
    args = p.parse_args()
    Handler.state = State(args)
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
