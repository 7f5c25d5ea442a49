#!/usr/bin/env bash
# make test: install what is missing (Debian, as root), build with warnings
# as errors, install, and run every suite against a throwaway cluster.
#
# PG_CONFIG picks the PostgreSQL to build and test against (default: Debian
# 12's 15).  The full run (make test and CI: no PG_CONFIG, no test names)
# then runs the same suites against PostgreSQL 18 built from Debian's source
# package into a cache outside the checkout (test/pg18.sh); where that
# source cannot be had the leg says so and is skipped.  SYNCOPT_PG18=1 adds
# the 18 leg to any run, SYNCOPT_PG18=0 leaves it out.  The last line counts
# every leg: "N passed, N failed" (", N skipped"); the exit status is
# non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ -z "${SYNCOPT_PG18:-}" ]; then
    if [ -z "${PG_CONFIG:-}" ] && [ $# -eq 0 ]; then
        SYNCOPT_PG18=1
    else
        SYNCOPT_PG18=0
    fi
fi

passed=0
failed=0
skipped=0

# Build, install and run the suites against one server, then add the leg's
# closing line to the totals; a leg that ends without one counts a failure.
run_leg() {
    local pg_config="$1" label out rc last
    shift
    label="$("$pg_config" --version)"
    out="$(mktemp)"
    echo "== $label ($pg_config)"
    (
        export PG_CONFIG="$pg_config"
        bash test/install-deps.sh || exit
        PATH="$("$pg_config" --bindir):$PATH" exec python3 test/run_tests.py "$@"
    ) 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    last="$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)"
    rm -f "$out"
    if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]]; then
        passed=$((passed + BASH_REMATCH[1]))
        failed=$((failed + BASH_REMATCH[2]))
        skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
        if [ "$rc" -ne 0 ] && [ "${BASH_REMATCH[2]}" -eq 0 ]; then
            failed=$((failed + 1))
        fi
    else
        echo "$label: the suites ended without a result line (exit $rc)"
        failed=$((failed + 1))
    fi
}

run_leg "${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" "$@"

if [ "$SYNCOPT_PG18" = 1 ]; then
    leg_start=$(date +%s)
    # test/pg18.sh's notes (why the leg or its pg_cron tests are skipped)
    # show before the leg and again at its end, where they are read.
    notes="$(mktemp)"
    pg18="$(bash test/pg18.sh 2>"$notes")"
    status=$?
    cat "$notes" >&2
    if [ $status -eq 0 ]; then
        # Two runs on one machine share the cached server's install: one at a time.
        exec 8>"$(dirname "$(dirname "$pg18")")/.leg-lock"
        flock 8
        run_leg "$pg18" "$@"
        exec 8>&-
        if [ -s "$notes" ]; then
            echo "== PostgreSQL 18 leg notes:"
            cat "$notes"
        fi
    elif [ $status -eq 3 ]; then
        echo "== PostgreSQL 18: skipped, its source cannot be had: $(tail -n 1 "$notes")"
    else
        echo "== PostgreSQL 18: building it failed (exit $status)"
        failed=$((failed + 1))
    fi
    rm -f "$notes"
    echo "== PostgreSQL 18 leg: $(($(date +%s) - leg_start)) s"
fi

summary="$passed passed, $failed failed"
if [ $skipped -gt 0 ]; then
    summary="$summary, $skipped skipped"
fi
echo "$summary"
[ $failed -eq 0 ]
