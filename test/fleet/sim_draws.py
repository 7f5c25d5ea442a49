"""simulate()'s random numbers recomputed outside the database.

An independent implementation of simulate.c's sim_draw (splitmix64 over
seed, connector, key and stream) and of what it decides for one connector:
whether its credentials expire in the horizon, how long its syncs take on a
UTC day, and whether a sync starting in a given minute fails.  Hand-checked
cases in sql/simulate.sql take their draws from here, so their expected
output does not come from the code under test.

    python3 test/fleet/sim_draws.py SEED CONNECTOR_ID DAY P50_S P90_S FAIL_P HH:MM[:SS] ...

prints the outage draw, the day's duration and, for each start time on
that UTC day (YYYY-MM-DD), its failure draw and whether it fails.
"""
import math
import sys
from datetime import datetime, timezone

MASK = (1 << 64) - 1
PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
Z90 = 1.2815515655446004        # the standard normal's 90th percentile


def draw(seed, connector, key, stream):
    """A uniform number in [0, 1) from its inputs, as sim_draw computes it."""
    z = ((seed * 0x9E3779B97F4A7C15) & MASK) ^ ((connector * 0xBF58476D1CE4E5B9) & MASK) \
        ^ (((key & MASK) * 0x94D049BB133111EB) & MASK) ^ stream
    for _ in range(2):
        z = (z + 0x9E3779B97F4A7C15) & MASK
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        z ^= z >> 31
    return (z >> 11) / float(1 << 53)


def seconds_since_epoch(t):
    return (t - PG_EPOCH).total_seconds()


def sync_seconds(seed, connector, day, p50_s, p90_s, noise=1.0):
    """A sync's duration on a UTC day: lognormal around P50, spread from P90."""
    sigma = noise * min(math.log(p90_s / p50_s) / Z90, 1.5) if p90_s > p50_s > 0 else 0.0
    index = int(seconds_since_epoch(day) // 86400)
    u1 = max(draw(seed, connector, index, 1), 1e-12)
    u2 = draw(seed, connector, index, 2)
    return max(1.0, p50_s * math.exp(sigma * math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)))


def fails(seed, connector, start, fail_p):
    """Failure draw of a sync starting at `start`, and whether it fails."""
    u = draw(seed, connector, int(seconds_since_epoch(start) // 60), 7)
    return u, u < fail_p


def main(argv):
    seed, connector = int(argv[1]), int(argv[2])
    day = datetime.fromisoformat(argv[3]).replace(tzinfo=timezone.utc)
    p50_s, p90_s, fail_p = float(argv[4]), float(argv[5]), float(argv[6])
    outage = draw(seed, connector, 0, 3)
    print(f"outage draw {outage:.4f}: {'outage' if outage < min(0.5, 2 * fail_p) else 'no outage'}")
    print(f"sync seconds that day {sync_seconds(seed, connector, day, p50_s, p90_s):.2f}")
    for hhmm in argv[7:]:
        parts = [float(x) for x in hhmm.split(":")]
        start = day.replace(hour=int(parts[0]), minute=int(parts[1]), second=int(parts[2]) if len(parts) > 2 else 0)
        u, failed = fails(seed, connector, start, fail_p)
        print(f"{hhmm}: draw {u:.4f} {'fails' if failed else 'succeeds'}")


if __name__ == "__main__":
    main(sys.argv)
