#!/usr/bin/env python3
"""make bench: the lineage cycle check, old against new, in docs/benchmarks.md.

The old check (a BEFORE ROW trigger whose recursive query followed every
path downstream of the new edge) is installed beside the new one (a
statement trigger that visits each asset once and searches the reached
edges in one pass), and the same insert is timed under each, in
interleaved rounds:

1. layered DAGs 3 assets wide (each feeding the 3 of the next layer) of
   growing depth, one edge into the top layer: the old check follows 3^depth
   paths, so it is run only while it finishes in seconds;
2. a 50,000-edge DAG (104 layers of 22 assets): one insert at the top (the
   walk reaches every edge), one at the bottom (reaches nothing), one edge
   that closes a cycle through all layers, and the bulk import of the whole
   graph in one INSERT against the same INSERT with the check disabled.
"""

import os
import statistics
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "test"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.cluster import Cluster, QueryError  # noqa: E402
from report import replace_section  # noqa: E402

DB = "syncopt_bench"
SETTINGS = {"shared_preload_libraries": "'syncopt'", "syncopt.database_name": f"'{DB}'",
            "syncopt.enable_workers": "off"}
ROUNDS = 3
DEPTHS = [6, 8, 10, 12]
NEW_ONLY_DEPTHS = [30]
BIG_LAYERS, BIG_WIDTH = 104, 22

# The check as it was before (commit 811d0a3), under another name.
OLD_CHECK = """
CREATE FUNCTION bench_old_lineage_reject_cycle() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    cycle_path text;
BEGIN
    IF NEW.upstream_asset_id IS NULL THEN
        RETURN NEW;
    END IF;
    LOCK TABLE syncopt.lineage IN SHARE ROW EXCLUSIVE MODE;
    IF NEW.upstream_asset_id = NEW.asset_id THEN
        cycle_path := (SELECT name FROM syncopt.asset WHERE asset_id = NEW.asset_id);
        cycle_path := cycle_path || ' -> ' || cycle_path;
    ELSE
        WITH RECURSIVE downstream(asset_id, path) AS (
            SELECT NEW.asset_id, ARRAY[NEW.asset_id]
            UNION ALL
            SELECT l.asset_id, d.path || l.asset_id
              FROM downstream d
              JOIN syncopt.lineage l ON l.upstream_asset_id = d.asset_id
             WHERE l.asset_id <> ALL (d.path)
               AND l.lineage_id IS DISTINCT FROM NEW.lineage_id
        )
        SELECT string_agg(a.name, ' -> ' ORDER BY p.ord)
          INTO cycle_path
          FROM (SELECT ARRAY[NEW.upstream_asset_id] || path AS path
                  FROM downstream
                 WHERE asset_id = NEW.upstream_asset_id
                 LIMIT 1) c,
               unnest(c.path) WITH ORDINALITY p(asset_id, ord)
          JOIN syncopt.asset a ON a.asset_id = p.asset_id;
    END IF;
    IF cycle_path IS NOT NULL THEN
        RAISE EXCEPTION 'lineage edge would create a cycle'
            USING ERRCODE = 'integrity_constraint_violation', DETAIL = 'Cycle: ' || cycle_path || '.';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER bench_old_lineage_reject_cycle BEFORE INSERT OR UPDATE ON syncopt.lineage
    FOR EACH ROW EXECUTE FUNCTION bench_old_lineage_reject_cycle();
"""
NEW_TRIGGERS = ["lineage_reject_cycle_insert", "lineage_reject_cycle_update"]
OLD_TRIGGERS = ["bench_old_lineage_reject_cycle"]


def use_check(which):
    """SQL that leaves only the old or only the new check enabled (or none)."""
    on = {"old": OLD_TRIGGERS, "new": NEW_TRIGGERS, "none": []}[which]
    return "\n".join(f"ALTER TABLE syncopt.lineage {'ENABLE' if t in on else 'DISABLE'} TRIGGER {t};"
                     for t in OLD_TRIGGERS + NEW_TRIGGERS)


def layered(layers, width):
    """A fresh DAG: layers x width assets, each feeding every asset of the next layer,
    one connector per top asset, and two spare assets (1: above, 2: below)."""
    return f"""
{use_check('none')}
TRUNCATE syncopt.lineage;
DELETE FROM syncopt.asset;
INSERT INTO syncopt.asset (asset_id, name) VALUES (1, 'above'), (2, 'below');
INSERT INTO syncopt.asset (asset_id, name)
SELECT 1000 * l + w, format('layer%s_%s', l, w) FROM generate_series(1, {layers}) l, generate_series(1, {width}) w;
INSERT INTO syncopt.lineage (upstream_asset_id, asset_id)
SELECT 1000 * l + w, 1000 * (l + 1) + v
  FROM generate_series(1, {layers - 1}) l, generate_series(1, {width}) w, generate_series(1, {width}) v;
INSERT INTO syncopt.lineage (upstream_connector_id, asset_id)
SELECT 1, 1000 + w FROM generate_series(1, {width}) w;
ANALYZE syncopt.lineage;
"""


def timed(cluster, check, statement, expect_error=False):
    """Server seconds of one statement under the given check in a new session
    and run again in it (the first run also plans the trigger's queries and
    fills the caches); both runs are rolled back."""
    sql = f"""{use_check(check)}
DO $$
DECLARE
    t0      timestamptz;
    seconds double precision[];
    refused boolean;
BEGIN
    FOR round IN 1 .. 2 LOOP
        refused := false;
        t0 := clock_timestamp();
        BEGIN
            {statement};
            seconds := seconds || extract(epoch FROM clock_timestamp() - t0)::double precision;
            RAISE EXCEPTION 'undo';
        EXCEPTION
            WHEN integrity_constraint_violation THEN
                seconds := seconds || extract(epoch FROM clock_timestamp() - t0)::double precision;
                refused := true;
            WHEN raise_exception THEN
                NULL;
        END;
    END LOOP;
    RAISE NOTICE 'seconds=% refused=%', array_to_string(seconds, ' '), refused;
END $$;"""
    err = cluster.psql(sql, DB)[2]
    for line in err.splitlines():
        if "seconds=" in line:
            seconds, refused = line.split("seconds=")[1].split(" refused=")
            if (refused.strip() == "t") != expect_error:
                raise RuntimeError(f"{check}: {statement}: {'not refused' if expect_error else 'refused'}")
            first, again = (float(x) for x in seconds.split())
            return first, again
    raise RuntimeError(err)


def median_of(cluster, check, statement, rounds=ROUNDS, expect_error=False):
    """Medians of the first and the repeated run in a session."""
    runs = [timed(cluster, check, statement, expect_error) for _ in range(rounds)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def bulk_seconds(cluster, check):
    """Seconds to import the whole big DAG in one INSERT under the check."""
    cluster.psql(f"{use_check('none')}\nTRUNCATE syncopt.lineage;", DB)
    out = cluster.psql(f"""{use_check(check)}
DO $$
DECLARE t0 timestamptz := clock_timestamp();
BEGIN
    INSERT INTO syncopt.lineage (upstream_asset_id, asset_id)
    SELECT 1000 * l + w, 1000 * (l + 1) + v
      FROM generate_series(1, {BIG_LAYERS - 1}) l, generate_series(1, {BIG_WIDTH}) w, generate_series(1, {BIG_WIDTH}) v;
    RAISE NOTICE 'seconds=%', extract(epoch FROM clock_timestamp() - t0);
END $$;""", DB)[2]
    for line in out.splitlines():
        if "seconds=" in line:
            return float(line.split("seconds=")[1])
    raise RuntimeError(out)


def main():
    cluster = Cluster(SETTINGS, databases=[DB])
    try:
        cluster.start()
        cluster.psql("CREATE EXTENSION syncopt;"
                     "INSERT INTO syncopt.account (vendor, name, base_url) VALUES ('fivetran', 'b', 'https://api.fivetran.com');"
                     "INSERT INTO syncopt.connector (account_id, external_id) VALUES (1, 'c1');"
                     # An autovacuum ANALYZE after each bulk load would hold up the checks'
                     # table lock at random; the script analyzes itself instead.
                     "ALTER TABLE syncopt.lineage SET (autovacuum_enabled = off);" + OLD_CHECK, DB)
        top = "INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES (1, 1001)"
        deep = []
        for depth in DEPTHS + NEW_ONLY_DEPTHS:
            cluster.psql(layered(depth, 3), DB)
            new, old = [], []
            for _ in range(ROUNDS):
                new.append(timed(cluster, "new", top)[1])
                if depth in DEPTHS:
                    old.append(timed(cluster, "old", top)[1])
            deep.append((depth, statistics.median(new), statistics.median(old) if old else None))

        cluster.psql(layered(BIG_LAYERS, BIG_WIDTH), DB)
        edges = int(cluster.value("SELECT count(*) FROM syncopt.lineage", DB))
        bottom = f"INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES ({1000 * BIG_LAYERS + 1}, 2)"
        closing = f"INSERT INTO syncopt.lineage (upstream_asset_id, asset_id) VALUES ({1000 * BIG_LAYERS + 1}, 1001)"
        big = {
            "top": median_of(cluster, "new", top, 5),
            "bottom": median_of(cluster, "new", bottom, 5),
            "closing": median_of(cluster, "new", closing, 5, expect_error=True),
        }
        bulk_new, bulk_none = [], []
        for _ in range(ROUNDS):
            bulk_new.append(bulk_seconds(cluster, "new"))
            bulk_none.append(bulk_seconds(cluster, "none"))
        version = cluster.value("SHOW server_version", DB)
        load = os.getloadavg()[1]
    except QueryError as e:
        print(e, file=sys.stderr)
        raise
    finally:
        cluster.destroy()

    rows = "\n".join(
        f"| {d} | {3 ** (d - 1):,} | {o * 1000:,.1f} ms | {n * 1000:.1f} ms | **{o / n:,.0f}x** |" if o is not None else
        f"| {d} | {3 ** (d - 1):,} | not run (about {3 ** (d - DEPTHS[-1]):,} times the row above) | {n * 1000:.1f} ms | |"
        for d, n, o in deep)
    ratio_bulk = statistics.median(b / a for b, a in zip(bulk_new, bulk_none))
    text = f"""## Lineage cycle check

Written by `make bench` ({os.path.relpath(__file__, TOP)}), PostgreSQL {version}, {os.cpu_count()} cores
(load average {load:.1f} during the run: absolute times are those of a busy machine).
The check before this change (a row trigger whose recursive query followed
every path downstream of the new edge) and the current one (a statement
trigger that visits each reached asset once and searches the reached edges
in one linear pass, `syncopt.find_cycle`) are installed side by side and
the same statement is timed under each, server-side, median of {ROUNDS}
interleaved rounds, each the second run of the statement in a session (the
first also plans the trigger's queries; the 50,000-edge table shows both).

Layered DAGs 3 assets wide, each asset feeding the 3 of the next layer; one
edge inserted into the top layer, so the check walks the whole DAG:

| layers | paths from the top | old check | new check | old / new |
| --- | --- | --- | --- | --- |
{rows}

A DAG of {edges:,} edges ({BIG_LAYERS} layers of {BIG_WIDTH} assets, each feeding
the next layer; the old check cannot finish on it, so it was not run):

| statement (new check), median of 5 | run again in a session | first in a session |
| --- | --- | --- |
| insert an edge into the top layer (the walk reaches all {edges:,} edges) | **{big['top'][1] * 1000:.1f} ms** | {big['top'][0] * 1000:.1f} ms |
| insert an edge below the bottom layer (reaches nothing) | {big['bottom'][1] * 1000:.2f} ms | {big['bottom'][0] * 1000:.1f} ms |
| insert an edge that closes a cycle through all {BIG_LAYERS} layers (refused, path searched and named) | {big['closing'][1] * 1000:.1f} ms | {big['closing'][0] * 1000:.1f} ms |

Importing all {edges - BIG_WIDTH:,} asset-to-asset edges in one INSERT takes
**{ratio_bulk:.2f}x** the time of the same INSERT with the check disabled
(median {statistics.median(bulk_new):.2f} s against {statistics.median(bulk_none):.2f} s): the check
runs once per statement, not once per row.
"""
    replace_section("Lineage cycle check", text)
    print(text)


if __name__ == "__main__":
    main()
