#!/usr/bin/env bash
# PostgreSQL 18 for make test's second leg, built once from Debian's own
# source packages of the unstable suite (postgresql-18, and pg-cron when the
# archive serves it) into a cache outside the checkout, then reused.
#
# Prints the path of that build's pg_config on stdout and exits 0 when it is
# ready.  Exits 3, with the reason on stderr, when the source cannot be had
# (no route to Debian's archive, the suite no longer carries the package):
# the caller skips the leg for that reason alone.  Any other non-zero exit is
# a real failure (a build that broke), with the log's tail on stderr.
#
# apt runs on a private configuration (its own sources list, lists and
# caches under the cache directory), so the machine's apt sources and state
# are left alone.  Only the few build dependencies configure needs are
# installed from the machine's own Debian release.
#
#   SYNCOPT_PG18_CACHE   cache directory (default /var/cache/syncopt-pg18)
set -euo pipefail

CACHE="${SYNCOPT_PG18_CACHE:-/var/cache/syncopt-pg18}"
# The prefix names postgresql so that PostgreSQL's own rule installs libraries
# and data directly under it (Debian's per-version-dirs patch would otherwise
# put the libraries in /usr/lib/postgresql/18, outside the cache).
PREFIX="$CACHE/postgresql-18"
PGC="$PREFIX/bin/pg_config"
LOG="$CACHE/build.log"
MIRROR="http://deb.debian.org/debian"
SUITE="unstable"
KEYRING="/usr/share/keyrings/debian-archive-keyring.gpg"
UNAVAILABLE=3

if [ "$(id -u)" -ne 0 ]; then
    echo "test/pg18.sh needs root: it installs build dependencies and writes $CACHE" >&2
    exit "$UNAVAILABLE"
fi

mkdir -p "$CACHE"
# Two runs at once would build into the same prefix: the second waits.
exec 9>"$CACHE/.lock"
flock 9
: >"$LOG"

# Report a failed step with the tail of the build log, then stop.
fail() {
    echo "PostgreSQL 18 leg: $1 failed; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
}

build_deps=(bison flex gcc make perl pkg-config libreadline-dev zlib1g-dev libssl-dev
            libicu-dev libcurl4-openssl-dev dpkg-dev postgresql-15-pgtap)
missing=()
for p in "${build_deps[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "PostgreSQL 18 leg: installing build dependencies: ${missing[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
        >>"$LOG" 2>&1 || fail "installing build dependencies"
fi

# The private apt configuration: one deb-src line for Debian's unstable
# suite, and lists and caches of its own.
apt_dir="$CACHE/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/sources.list.d"
echo "deb-src [signed-by=$KEYRING] $MIRROR $SUITE main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list"
          -o "Dir::Etc::sourceparts=$apt_dir/sources.list.d"
          -o "Dir::State::Lists=$apt_dir/lists"
          -o "Dir::Cache=$apt_dir/cache"
          -o "APT::Sandbox::User=root"
          -o "Acquire::Retries=2")

src="$CACHE/src"
mkdir -p "$src"
# Refresh the private lists and download one source package into
# $src/<package>; exit UNAVAILABLE-style status 3 when it cannot be had.
fetch_source() {
    rm -rf "${src:?}/$1"
    mkdir -p "$src/$1"
    if ! apt-get "${apt_opts[@]}" -qq update >>"$LOG" 2>&1; then
        echo "Debian's $SUITE suite cannot be reached at $MIRROR (see $LOG)" >&2
        return "$UNAVAILABLE"
    fi
    local out
    if ! out="$(cd "$src/$1" && apt-get "${apt_opts[@]}" -qq source "$1" 2>&1)"; then
        echo "$out" >>"$LOG"
        echo "Debian's $SUITE suite does not provide the source of $1 ($(grep -m 1 '^E:' <<<"$out"); see $LOG)" >&2
        return "$UNAVAILABLE"
    fi
    echo "$out" >>"$LOG"
}

# The server, and pgcrypto which the regress suites use as an independent
# HMAC (auto_explain below).  Debian's patches are applied, as in Debian's own build.
if [ ! -f "$PREFIX/.server-ready" ]; then
    fetch_source postgresql-18 || exit $?
    pg_src="$(find "$src/postgresql-18" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
    rm -rf "$PREFIX"
    (
        cd "$pg_src"
        ./configure --prefix="$PREFIX" --with-openssl --with-icu --with-readline --with-zlib \
            --without-llvm --disable-nls
        make -j2 -s
        make -s install
        make -s -C contrib/pgcrypto install
    ) >>"$LOG" 2>&1 || fail "building PostgreSQL 18 from $pg_src"
    basename "$(ls "$src"/postgresql-18/*.dsc)" >"$PREFIX/.server-ready"
fi

# pgTAP is SQL only: the files of the postgresql-15-pgtap package that the
# first leg installs serve any server from 11 on.
sharedir="$("$PGC" --sharedir)/extension"
cp /usr/share/postgresql/15/extension/pgtap* "$sharedir/"

# auto_explain, which test_kept_plans loads (the server's build above is
# the core only, no contrib), built with that server's PGXS from the
# server's source tree; a cache built before this step gets it added here,
# from its kept source tree, else from a fresh download (the same major
# version, so the same module ABI).  When the source cannot be had the
# server is still used, and that test is skipped.
if [ ! -f "$("$PGC" --pkglibdir)/auto_explain.so" ]; then
    pg_src="$(find "$src/postgresql-18" -mindepth 1 -maxdepth 1 -type d 2>/dev/null | head -n 1 || true)"
    if [ -z "$pg_src" ] || [ ! -d "$pg_src/contrib/auto_explain" ]; then
        if fetch_source postgresql-18; then
            pg_src="$(find "$src/postgresql-18" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
        else
            pg_src=""
            echo "PostgreSQL 18 leg: without auto_explain, so test_kept_plans is skipped" >&2
        fi
    fi
    if [ -n "$pg_src" ]; then
        (
            make -s -C "$pg_src/contrib/auto_explain" USE_PGXS=1 PG_CONFIG="$PGC"
            make -s -C "$pg_src/contrib/auto_explain" USE_PGXS=1 PG_CONFIG="$PGC" install
        ) >>"$LOG" 2>&1 || fail "building auto_explain from $pg_src against PostgreSQL 18"
    fi
fi

# pg_cron, built with that server's PGXS.  When its source cannot be had the
# server is still used, and the suites skip what needs pg_cron; the fetch is
# tried again on the next run.
if [ ! -f "$("$PGC" --pkglibdir)/pg_cron.so" ]; then
    if fetch_source pg-cron; then
        dir="$(find "$src/pg-cron" -mindepth 1 -maxdepth 1 -type d | head -n 1)"
        (
            cd "$dir"
            make -s PG_CONFIG="$PGC"
            make -s PG_CONFIG="$PGC" install
        ) >>"$LOG" 2>&1 || fail "building pg_cron from $dir against PostgreSQL 18"
    else
        echo "PostgreSQL 18 leg: without pg_cron, so the tests that need it are skipped (pg_cron's planner schedule, make demo's tour)" >&2
    fi
fi
echo "$PGC"
