# syncopt: PGXS build.
#
#   make              build the shared library and the install script
#   make install      install into the PostgreSQL found by pg_config
#   make test         (as root on Debian) install what is missing, build, and
#                     run every suite against a throwaway preloaded cluster
#   make demo         a throwaway cluster and a guided tour; make demo-stop
#   make installcheck pg_regress suites against a server you already run
#   make dist         dist/syncopt-VERSION.zip and .tar.gz of the committed tree

EXTENSION  = syncopt
EXTVERSION = 0.2.0

MODULE_big = syncopt
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from src/sql/NN_*.sql in name order, so
# each part stays small and owns one responsibility.
SQL_PARTS  = $(sort $(wildcard src/sql/*.sql))
# The upgrade scripts (ALTER EXTENSION syncopt UPDATE) are built from
# src/upgrade/*.sql.in: each changed function is taken from src/sql/ by
# name (src/upgrade/expand.pl); test_upgrade checks that an upgraded
# install has exactly the schema of a fresh one.
UPGRADES   = $(patsubst src/upgrade/%.in,%,$(sort $(wildcard src/upgrade/$(EXTENSION)--*--*.sql.in)))
DATA_built = $(EXTENSION)--$(EXTVERSION).sql $(UPGRADES)
# Released versions' install scripts, frozen.
DATA       = $(sort $(wildcard src/upgrade/$(EXTENSION)--*.sql))

PG_CPPFLAGS = -Isrc -DSYNCOPT_VERSION=\"$(EXTVERSION)\"
SHLIB_LINK  = -lcurl

REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=plpgsql

EXTRA_CLEAN = results regression.diffs regression.out

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

$(EXTENSION)--$(EXTVERSION).sql: $(SQL_PARTS)
	cat $^ > $@

$(UPGRADES): %: src/upgrade/%.in src/upgrade/expand.pl $(SQL_PARTS)
	perl src/upgrade/expand.pl $< $(SQL_PARTS) > $@.tmp && mv $@.tmp $@

# PGXS tracks no header dependencies without --enable-depend: an object
# built against an older struct layout would be linked silently.
$(OBJS): $(wildcard src/*.h)

.PHONY: test demo demo-stop bench dist
test:
	bash test/run-all.sh

# The demo's cluster runs the PostgreSQL that install-deps.sh installed
# into (PG_CONFIG's), not whichever pg_config is first on PATH.
demo:
	bash test/install-deps.sh
	PATH="$$($(PG_CONFIG) --bindir):$$PATH" python3 demo/demo.py start

demo-stop:
	PATH="$$($(PG_CONFIG) --bindir):$$PATH" python3 demo/demo.py stop

bench:
	bash test/install-deps.sh
	python3 test/bench/bench_foundation.py
	python3 test/bench/bench_lineage.py
	python3 test/bench/bench_collect.py
	python3 test/bench/bench_analytics.py
	python3 test/bench/bench_execute.py
	python3 test/bench/bench_decisions.py
	python3 test/bench/bench_views.py
	python3 test/bench/bench_dbt.py
	python3 test/bench/bench_triage.py
	python3 test/bench/bench_history.py
	python3 test/bench/bench_scale.py
	python3 test/bench/bench_analytics_scale.py
	# h-simcost, issue 31: simulate() CPU by fleet size (SIMCOST_BEFORE_PG_CONFIG: a build to compare with).
	python3 test/bench/bench_simcost.py
	# h-big, issue 34: 100,000 connectors x 90 days of history, about an hour: only with BENCH_100K=1.
	if [ -n "$$BENCH_100K" ]; then python3 test/bench/bench_100k.py; fi
	# h-backoff, issue 30: the retry back-off side by side with a build before it (its pg_config).
	if [ -n "$$BACKOFF_BEFORE_PG_CONFIG" ]; then python3 test/bench/bench_backoff.py; fi

# The release archives (PGXN takes the zip) are made from the committed tree
# by git archive, so nothing built or untracked slips in; the control file
# and META.json must name the version being released.
dist:
	@grep -q "^default_version = '$(EXTVERSION)'$$" $(EXTENSION).control || \
		{ echo "$(EXTENSION).control: default_version is not $(EXTVERSION)" >&2; exit 1; }
	@python3 -c 'import json, sys; m = json.load(open("META.json")); \
		sys.exit(0 if m["version"] == m["provides"]["$(EXTENSION)"]["version"] == "$(EXTVERSION)" \
		else "META.json: version is not $(EXTVERSION)")'
	mkdir -p dist
	git archive --format=zip --prefix=$(EXTENSION)-$(EXTVERSION)/ \
		-o dist/$(EXTENSION)-$(EXTVERSION).zip HEAD
	git archive --format=tar.gz --prefix=$(EXTENSION)-$(EXTVERSION)/ \
		-o dist/$(EXTENSION)-$(EXTVERSION).tar.gz HEAD
