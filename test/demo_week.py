#!/usr/bin/env python3
"""The demo's story at every hour of a week, under a faked clock.

Runs `demo/demo.py start` under Debian's faketime (libfaketime: the demo,
its mock vendor API and its PostgreSQL cluster all start at the faked
instant) once per instant and checks its output with the same assertions
as test/integration/test_demo.py.  Not part of `make test` (one demo takes
a minute or two); run it after changing the demo, the fleet generator or
the planner:

    PATH=$(pg_config --bindir):$PATH python3 test/demo_week.py            # every hour of a week
    python3 test/demo_week.py --hours 0,7,13,20 --days 0-6            # a sample
    python3 test/demo_week.py --stride 4     # every 4th hour, shifted a day at a time (all 24 hours in 7 days)
    python3 test/demo_week.py --stride 7     # every 7th hour so: each hour of the day once, 24 instants

Days count from Monday 2026-12-07; the instant is HH:25 UTC of each day.
Prints one line per instant and "N told, N did not"; exits non-zero when
any did not.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import unittest
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from integration.test_demo import DEMO, check_story  # noqa: E402

MONDAY = datetime(2026, 12, 7, tzinfo=timezone.utc)


def span(text, top):
    """'0-6' or '1,3,5' as a list of ints."""
    if "-" in text:
        lo, hi = text.split("-")
        return list(range(int(lo), int(hi) + 1))
    return [int(x) for x in text.split(",")] if text else list(range(top))


def one(instant, keep):
    """Run the demo at instant; None when it told its story, else why not
    (and its output saved in the directory keep, when given)."""
    parent = tempfile.mkdtemp(prefix="syncopt-demo-week-")
    os.chmod(parent, 0o755)
    root = os.path.join(parent, "demo")
    env = dict(os.environ, SYNCOPT_DEMO_ROOT=root)
    try:
        proc = subprocess.run(["faketime", "-f", "@" + instant.strftime("%Y-%m-%d %H:%M:%S"),
                               sys.executable, DEMO, "start"], env=env, capture_output=True, text=True,
                              timeout=900, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            return f"exit {proc.returncode}: {(proc.stdout + proc.stderr)[-400:]}"
        check_story(unittest.TestCase(), proc.stdout)
        return None
    except AssertionError as e:
        if keep:
            with open(os.path.join(keep, instant.strftime("demo-%a-%H%M.out")), "w") as f:
                f.write(proc.stdout)
        return str(e)[-400:]
    finally:
        subprocess.run([sys.executable, DEMO, "stop"], env=env, capture_output=True, text=True, timeout=120)
        os.rmdir(parent)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", default="0-6", help="days after Monday 2026-12-07 (default 0-6)")
    parser.add_argument("--hours", default="", help="UTC hours (default: all 24)")
    parser.add_argument("--stride", type=int, default=1,
                        help="only every STRIDE-th hour, starting at hour DAY mod STRIDE (default 1)")
    parser.add_argument("--keep", help="save the output of each demo that did not tell its story here")
    args = parser.parse_args()
    told = failed = 0
    for day in span(args.days, 7):
        for hour in [h for h in span(args.hours, 24) if (h - day) % args.stride == 0]:
            instant = MONDAY + timedelta(days=day, hours=hour, minutes=25)
            why = one(instant, args.keep)
            print(f"{'ok  ' if why is None else 'FAIL'} {instant:%a %Y-%m-%d %H:%M} UTC"
                  + ("" if why is None else f": {why}"), flush=True)
            told, failed = told + (why is None), failed + (why is not None)
    print(f"{told} told, {failed} did not")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
