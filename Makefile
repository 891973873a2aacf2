# txguard/Makefile
#
# PGXS build.  The tests need txguard in shared_preload_libraries, so every
# suite runs in a temporary instance started with test/txguard.conf
# (the pg_stat_statements way); "make installcheck" therefore does not touch
# a running server.  Run the whole suite as a non-root user, or as root with
# "bash test/run-all.sh".

MODULE_big = txguard
OBJS = \
	$(WIN32RES) \
	src/txguard.o \
	src/hooks.o \
	src/sql/funcs.o \
	src/capture/episode.o \
	src/capture/stmt.o \
	src/capture/stmtsplit.o \
	src/capture/capture.o \
	src/capture/traceparent.o \
	src/capture/blocker.o \
	src/capture/annotate.o \
	src/capture/endline.o \
	src/capture/idle_timeout.o \
	src/store/store.o \
	src/store/persist.o \
	src/store/ring.o \
	src/store/slots.o \
	src/store/stats.o \
	src/store/table.o \
	src/store/shmem.o \
	src/common/guc.o \
	src/common/record.o \
	src/common/errcodes.o

EXTENSION = txguard
DATA = txguard--1.0.sql txguard--1.0--1.1.sql txguard--1.1--1.2.sql
PGFILEDESC = "txguard - explain and contain aborted transactions"

# Only what the server looks up is exported (PGDLLEXPORT, src/common/
# compat.h), as PostgreSQL 16 and later build every extension; link-time
# optimisation lets the hooks inline what they call in other files (the
# success path is a few dozen instructions: BENCHMARKS.md).
override PG_CFLAGS += -fvisibility=hidden -flto=auto

PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/common -I$(srcdir)/src/store \
	-I$(srcdir)/src/capture

TEST_CONF = $(CURDIR)/test/txguard.conf
NO_LOCALE = 1
ENCODING = UTF8

REGRESS = preload capture annotate savepoints ordinals plpgsql implicit exits \
	history stats privileges timeout_guc badinput schema withhold attribution \
	failures policy search_path
REGRESS_OPTS = --temp-instance=$(CURDIR)/tmp_check_regress \
	--temp-config=$(TEST_CONF)

ISOLATION = cross_session causes timeout_fires timeout_not_fired terminate \
	reset_open blocker
ISOLATION_OPTS = --inputdir=test/isolation \
	--temp-instance=$(CURDIR)/tmp_check_iso \
	--temp-config=$(TEST_CONF) --load-extension=txguard

TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

# "make installcheck TXGUARD_RUNNING=1" runs the regression tests that do not
# depend on test/txguard.conf against a running server that preloads txguard
# (PGHOST, PGPORT, PGUSER as usual; a superuser).  They reset txguard's
# history and statistics.
ifdef TXGUARD_RUNNING
REGRESS = setup capture savepoints ordinals plpgsql implicit exits stats privileges \
	timeout_guc schema withhold attribution failures policy
REGRESS_OPTS =
ISOLATION =
TAP_TESTS =
endif

EXTRA_CLEAN = tmp_check_regress tmp_check_iso output_iso src/common/errcodes_table.h

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Condition names and classes come from the server's own errcodes.txt.
ERRCODES_TXT = $(shell $(PG_CONFIG) --sharedir)/errcodes.txt

# A table generated from another server's errcodes.txt (a tree built first
# against another PostgreSQL) is made again.
ifeq ($(shell grep -sF 'from $(ERRCODES_TXT):' src/common/errcodes_table.h),)
.PHONY: src/common/errcodes_table.h
endif
src/common/errcodes_table.h: $(ERRCODES_TXT) $(srcdir)/src/common/gen_errcodes.pl
	$(PERL) $(srcdir)/src/common/gen_errcodes.pl $(ERRCODES_TXT) > $@.tmp && mv $@.tmp $@

src/common/errcodes.o src/common/errcodes.bc: src/common/errcodes_table.h
