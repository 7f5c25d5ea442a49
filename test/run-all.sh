#!/usr/bin/env bash
# make test: install what is missing (Debian, as root), build with warnings
# as errors, install, and run every suite against a throwaway cluster.
# PG_CONFIG picks the PostgreSQL to build and test against (default: 15).
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG="${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}"
bash test/install-deps.sh
export PATH="$("$PG_CONFIG" --bindir):$PATH"
exec python3 test/run_tests.py "$@"
