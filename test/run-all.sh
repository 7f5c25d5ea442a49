#!/usr/bin/env bash
# make test: install what is missing (Debian, as root), build with warnings
# as errors, install, and run every suite against a throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/install-deps.sh
export PATH="/usr/lib/postgresql/15/bin:$PATH"
exec python3 test/run_tests.py "$@"
