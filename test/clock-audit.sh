#!/usr/bin/env bash
# The clock audit: run the regress and pgTAP suites with the clock of the
# runner and of the server it starts set to chosen instants (libfaketime,
# through the faketime command, whose clock every child process shares), to
# find tests whose result depends on the hour, weekday or date they run at.
# Not part of make test (each instant is a whole run of the two suites, about
# two minutes); run it after writing a test that lays out history relative
# to now().
#
#   PG_CONFIG=... bash test/clock-audit.sh ["YYYY-MM-DD HH:MM:SS" ...]
#
# Instants are UTC.  syncopt must already be installed for that server
# (test/run-all.sh installs it).  Needs Debian's faketime package.  The last
# line is "N instants passed, N failed"; the exit status is non-zero when
# any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
if ! command -v faketime >/dev/null; then
    echo "clock audit: the faketime command is missing (Debian: apt-get install faketime)" >&2
    exit 1
fi

instants=("$@")
if [ ${#instants[@]} -eq 0 ]; then
    # A Wednesday and a Sunday at 00:30, 03:05, 11:59 and 23:59; 01:03, inside
    # the window of the dashboards dependence fixed in 0bf1a93 (the audit
    # fails that commit's parent there); the US and EU daylight-saving
    # changes, a year's end, and a leap day well after today.
    instants=("2026-12-09 00:30:00" "2026-12-09 03:05:00" "2026-12-09 11:59:00"
              "2026-12-09 23:59:00" "2026-12-13 00:30:00" "2026-12-13 03:05:00"
              "2026-12-13 11:59:00" "2026-12-13 23:59:00" "2026-12-09 01:03:00"
              "2027-03-14 06:30:00" "2027-03-28 01:30:00" "2026-12-31 23:59:00"
              "2028-02-29 12:00:00")
fi

passed=0
failed=0
for ts in "${instants[@]}"; do
    out="$(TZ=UTC PATH="$("$PG_CONFIG" --bindir):$PATH" timeout 1200 \
        faketime -m "$ts" python3 test/run_tests.py --suite regress --suite pgtap 2>&1)"
    last="$(tail -n 1 <<<"$out")"
    echo "$ts UTC: $last"
    if [[ $last =~ ^[0-9]+\ passed,\ 0\ failed ]]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        # The failing tests and pg_regress's differing lines.
        grep -E '^FAIL|^[-+] ' <<<"$out" | head -n 60
    fi
done
echo "$passed instants passed, $failed failed"
[ $failed -eq 0 ]
