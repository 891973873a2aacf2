#!/usr/bin/env bash
# txguard: the project's test command.
#
#   bash test/run-all.sh            (as root on Debian 12; CI runs it through .ci/run)
#
# Installs the Debian packages that are missing, builds txguard in a
# postgres-owned copy of the tree (the checkout is never written to), installs
# it, then runs every suite and keeps going after a failing one:
#   regress    pg_regress, sql/ + expected/            (temporary instance)
#   isolation  pg_isolation_regress, test/isolation/   (temporary instance)
#   tap        prove test/t/*.pl                        (PostgreSQL::Test::Cluster)
#   clients    test/clients/run.sh   (psycopg, psycopg2, Django, SQLAlchemy, node-postgres, pgjdbc, PgBouncer)
#   stress     test/stress/run.sh --ci
#   model      test/model/run.sh     (random scripts against the reference model of
#              test/model/DEFINITION.md, ~60 s; a mismatch is printed with a shrunk script)
#   fuzz       test/fuzz/run.sh      (libFuzzer + ASan + UBSan on the statement splitter, the
#              text cut and the traceparent parser: the committed corpus, then 15 s per target)
#   monitoring test/monitoring/run.sh (postgres_exporter queries, Prometheus rules with
#              promtool check/test, pgBadger on the server log of aborted blocks)
#   docs       test/docs/run.sh      (every relative link and #anchor of the Markdown documentation)
#   pgindent   test/pgindent/run.sh  (src/ is pgindent-clean with PostgreSQL 15's pgindent and
#              Debian's pg_bsd_indent; typedefs.list is generated from src/)
#   coload     test/coload/run.sh    (regress + isolation with pg_stat_statements, auto_explain,
#              pgaudit, pg_cron, pg_stat_kcache, pg_wait_sampling, pg_qualstats preloaded,
#              txguard first and last; what each neighbour does on a failing transaction)
#   package    test/package/run.sh   (builds the Debian package, installs it, runs regress +
#              isolation against it, lintian, purges it and puts the make-install files back)
#   cassert    regress, isolation, tap, model and clients again, on PostgreSQL 15 built from
#              Debian's source package with --enable-cassert (freed memory is poisoned,
#              memory contexts are checked, Asserts are on): test/compat/run.sh 15.  The
#              build is cached in /var/cache/txguard-compat/pg-15 (a cold cache adds 4 to
#              10 minutes); results are counted as cassert-regress, cassert-isolation,
#              cassert-tap, cassert-model, cassert-clients (one cassert-build failure if
#              it cannot build); TXGUARD_CASSERT_DISCARD=1 adds cassert-discard (regress
#              with debug_discard_caches = 1, 2.5 to 5.5 minutes)
# and ends with the line "txguard: N passed, N failed"; exit status 0 only if
# something ran and nothing failed.
#
# Options:
#   --no-apt         do not call apt-get (everything is already installed)
#   --skip-clients   do not run test/clients/run.sh
#   --skip-stress    do not run test/stress/run.sh
#   --skip-model     do not run test/model/run.sh
#   --skip-fuzz      do not run test/fuzz/run.sh
#   --skip-monitoring do not run test/monitoring/run.sh
#   --skip-coload    do not run test/coload/run.sh
#   --skip-docs      do not run test/docs/run.sh
#   --skip-setup     do not run test/setup/run.sh (scripts/setup.sh on port 55449)
#   --skip-package   do not run test/package/run.sh (it installs and purges a system package)
#   --skip-cassert   do not build or test on the assert-enabled PostgreSQL 15 (--skip-model
#                    and --skip-clients also leave out cassert-model, cassert-clients)
#   --keep           keep the build/test copy (its path is printed)
#   --only=LIST      run only these suites (comma-separated:
#                    regress,isolation,tap,clients,stress,model,fuzz,docs,pgindent,monitoring,setup,
#                    coload,package,cassert)
# Environment: TXGUARD_SUITE_TIMEOUT (seconds per suite, default 420);
#   TXGUARD_CASSERT_TIMEOUT (seconds for the whole cassert phase, build included, default 3000:
#   a cold build took 19 min on a 2-core machine loaded by other work, 3.5 min when idle);
#   TXGUARD_COMPAT="13 17 18" also runs test/compat/run.sh for those majors.

set -uo pipefail
export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8 LANG=C.UTF-8

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    echo "run-all: must run as root (installs packages, runs the tests as 'postgres')" >&2
    exit 2
fi

DO_APT=1 DO_SETUP=1 DO_CLIENTS=1 DO_STRESS=1 DO_MODEL=1 DO_FUZZ=1 DO_DOCS=1 DO_MONITORING=1 DO_COLOAD=1 DO_PACKAGE=1 DO_CASSERT=1 KEEP=${TXGUARD_KEEP_WORK:-0} ONLY=
for arg in "$@"; do
    case $arg in
        --no-apt) DO_APT=0 ;;
        --skip-clients) DO_CLIENTS=0 ;;
        --skip-stress) DO_STRESS=0 ;;
        --skip-model) DO_MODEL=0 ;;
        --skip-fuzz) DO_FUZZ=0 ;;
        --skip-monitoring) DO_MONITORING=0 ;;
        --skip-coload) DO_COLOAD=0 ;;
        --skip-docs) DO_DOCS=0 ;;
        --skip-setup) DO_SETUP=0 ;;
        --skip-package) DO_PACKAGE=0 ;;
        --skip-cassert) DO_CASSERT=0 ;;
        --keep) KEEP=1 ;;
        --only=*) ONLY=",${arg#--only=}," ;;
        -h|--help) sed -n '2,60p' "$0"; exit 0 ;;
        *) echo "run-all: unknown option $arg" >&2; exit 2 ;;
    esac
done
SUITE_TIMEOUT=${TXGUARD_SUITE_TIMEOUT:-420}

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
SRC=$PWD
T0=$SECONDS
PASS=0 FAIL=0
FAILED_NAMES=()
say() { printf '\n==== %s  [%ds]\n' "$*" "$((SECONDS - T0))"; }
finish() {
    echo
    if [ "${#FAILED_NAMES[@]}" -gt 0 ]; then
        echo "failed: ${FAILED_NAMES[*]}"
    fi
    echo "run-all: finished after $((SECONDS - T0)) s"
    echo "txguard: $PASS passed, $FAIL failed"
    if [ "$FAIL" -eq 0 ] && [ "$PASS" -gt 0 ]; then exit 0; fi
    exit 1
}

# ---------------------------------------------------------------- packages
pkg_missing() {  # prints the packages of "$@" that are not installed
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
    done
}
if [ "$DO_APT" -eq 1 ]; then
    say "packages"
    want=(build-essential postgresql-15 postgresql-server-dev-15 postgresql-contrib
          libkrb5-dev libipc-run-perl
          python3-psycopg python3-psycopg2 python3-django python3-sqlalchemy pgbouncer
          libpostgresql-jdbc-java ca-certificates prometheus-postgres-exporter curl
          # test/monitoring/run.sh (promtool and prometheus are taken out of the prometheus
          # package there, never installed: the package would start a Prometheus service)
          pgbadger python3-yaml
          # test/pgindent/run.sh: pgindent's indent (the script comes with PostgreSQL 15's source)
          pg-bsd-indent
          # test/fuzz/run.sh: clang with libFuzzer and the sanitizers
          clang-14 libclang-rt-14-dev
          # test/coload/run.sh: the neighbours (pg_stat_statements, auto_explain: postgresql-15)
          postgresql-15-pgaudit postgresql-15-cron postgresql-15-pg-stat-kcache
          postgresql-15-pg-wait-sampling postgresql-15-pg-qualstats
          # test/package/run.sh: building and checking the Debian package
          debhelper fakeroot postgresql-all postgresql-server-dev-all lintian
          # the cassert phase: building PostgreSQL 15 from source (test/compat/run.sh)
          bison flex)
    # node/npm/java may come from elsewhere (nodesource, a JDK tarball): only add
    # the Debian packages for what is really absent from PATH
    command -v node >/dev/null 2>&1 || want+=(nodejs)
    command -v npm >/dev/null 2>&1 || want+=(npm)
    { command -v java >/dev/null 2>&1 && command -v javac >/dev/null 2>&1; } || want+=(default-jdk-headless)
    mapfile -t missing < <(pkg_missing "${want[@]}")
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all packages present"
    else
        echo "installing: ${missing[*]}"
        apt-get update -qq </dev/null || echo "run-all: apt-get update failed (continuing)"
        if ! apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends \
                "${missing[@]}" </dev/null >/tmp/txguard-apt.$$.log 2>&1; then
            tail -n 30 /tmp/txguard-apt.$$.log
            echo "run-all: apt-get install failed"
        fi
        rm -f /tmp/txguard-apt.$$.log
        mapfile -t still < <(pkg_missing "${missing[@]}")
        [ "${#still[@]}" -eq 0 ] || echo "run-all: still missing: ${still[*]}"
    fi
    echo "packages ready after $((SECONDS - T0)) s"
fi

# ---------------------------------------------------------------- work copy
# initdb/postgres refuse root, pg_regress writes into the build dir: work in a
# postgres-owned copy.  mktemp makes a 0700 root dir, so chown the dir itself.
WORK=$(mktemp -d /tmp/txguard-test.XXXXXX) || exit 2
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
    # stop any server a killed suite left behind in the copy (ours only)
    local pidf
    while IFS= read -r pidf; do
        as_pg /usr/lib/postgresql/15/bin/pg_ctl -D "$(dirname "$pidf")" -m immediate -w stop \
            </dev/null >/dev/null 2>&1 || true
    done < <(find "$WORK" -name postmaster.pid 2>/dev/null)
    if [ "$KEEP" = 1 ]; then echo "run-all: kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "run-all: interrupted"; exit 130' INT TERM

# Copy what a fresh clone would have: tracked + untracked-but-not-ignored files
# (no build outputs, node_modules, ...); a plain copy when this is not a git checkout.
copy_tree() {
    if git -C "$SRC" -c safe.directory='*' rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git -C "$SRC" -c safe.directory='*' ls-files -z -co --exclude-standard \
            | (cd "$SRC" && tar --null --ignore-failed-read -T - -cf -) | tar -C "$WORK" -xf -
    else
        tar -C "$SRC" --exclude=.git --exclude=node_modules -cf - . | tar -C "$WORK" -xf -
    fi
}
copy_tree || { echo "run-all: could not copy the tree"; FAIL=$((FAIL + 1)); FAILED_NAMES+=(copy); finish; }
chown -R postgres:postgres "$WORK"
# leftovers of an in-checkout build must not leak into the test copy
as_pg make -C "$WORK" -s clean </dev/null >/dev/null 2>&1 || true

# ---------------------------------------------------------------- build
say "build (make with_llvm=no PG_CFLAGS=-Werror, as postgres)"
pg_config --version 2>/dev/null
as_pg make -C "$WORK" --no-print-directory -j2 with_llvm=no PG_CFLAGS=-Werror </dev/null >"$WORK/build.log" 2>&1
BUILD_RC=$?
grep -E '(error|warning):' "$WORK/build.log"
if [ "$BUILD_RC" -ne 0 ]; then
    echo "---- build log (last 60 lines)"; tail -n 60 "$WORK/build.log"
    echo "run-all: BUILD FAILED"
    FAIL=$((FAIL + 1)); FAILED_NAMES+=(build)
    finish
fi
if ! make -C "$WORK" --no-print-directory -s with_llvm=no install </dev/null >"$WORK/install.log" 2>&1; then
    cat "$WORK/install.log"
    echo "run-all: INSTALL FAILED"
    FAIL=$((FAIL + 1)); FAILED_NAMES+=(install)
    finish
fi
echo "built and installed after $((SECONDS - T0)) s"

# ---------------------------------------------------------------- suites
# count <log> <pass-regex> <fail-regex> <name>: adds to PASS/FAIL; prints how many
count() {
    local log=$1 pre=$2 fre=$3 p f
    p=$(grep -cE "$pre" "$log" 2>/dev/null); p=${p:-0}
    f=$(grep -cE "$fre" "$log" 2>/dev/null); f=${f:-0}
    PASS=$((PASS + p)); FAIL=$((FAIL + f))
    if [ "$f" -gt 0 ]; then
        FAILED_NAMES+=($(grep -E "$fre" "$log" | sed -E 's|^diff command failed.* "[^"]*/([^"/]+)\.out" .*|\1|; s/^(not ok - |test )?[[:space:]]*//; s/[[:space:]].*//' | sed "s|^|$4:|"))
    fi
    echo "$4: $p passed, $f failed"
    LAST_P=$p LAST_F=$f
}
# a suite that failed without naming a failing test (crash, timeout, initdb...) is one failure
suite_level_failure() {  # <rc> <name>
    if [ "$1" -ne 0 ] && [ "$LAST_F" -eq 0 ]; then
        echo "$2: exited with status $1 without a failing test line -> counted as 1 failure"
        FAIL=$((FAIL + 1)); FAILED_NAMES+=("$2")
    fi
}
# A suite that reported fewer tests than it has (none at all, say, after an
# empty test list or a runner that stopped early) proves nothing: each missing
# result is a failure, whatever the exit status.  <expected count>:
# without a count, at least one test line is expected.
missing_tests() {  # <rc> <name> [expected]
    local rc=$1 name=$2 want=${3:-1} got=$((LAST_P + LAST_F))
    # a failed run without a failing test line was counted once already
    [ "$rc" -ne 0 ] && [ "$LAST_F" -eq 0 ] && return 0
    if [ "$got" -lt "$want" ]; then
        echo "$name: $got test result(s) reported, $want expected -> $((want - got)) counted as failed (a suite that runs no test fails)"
        FAIL=$((FAIL + want - got)); FAILED_NAMES+=("$name:missing-results")
    fi
}
# The tests a PGXS variable of the Makefile lists (REGRESS, ISOLATION): their count.
make_list_count() {  # <variable>
    printf 'txg-print-list:\n\t@echo $(%s)\n' "$1" >"$WORK/.txg-list.mk"
    as_pg make -C "$WORK" --no-print-directory -s -f Makefile -f .txg-list.mk txg-print-list \
        </dev/null 2>/dev/null | wc -w
}
# pg_regress 15: "test foo                          ... ok           12 ms"
#                "test foo                          ... FAILED       12 ms"
#                "     foo ... ok" (parallel groups)
# A missing expected file makes pg_regress stop with "diff command failed ...": a failure too.
RE_PGR_OK='^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. ok( |$)'
RE_PGR_FAIL='^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. FAILED|^diff command failed'
installcheck() {  # <name> <make vars...>
    local name=$1; shift
    local log="$WORK/$name.log" rc
    say "$name"
    timeout -k 15 "$SUITE_TIMEOUT" runuser -u postgres -- \
        make -C "$WORK" --no-print-directory installcheck "$@" </dev/null >"$log" 2>&1
    rc=$?
    cat "$log"
    [ "$rc" -eq 124 ] && echo "$name: TIMED OUT after $SUITE_TIMEOUT s"
    SUITE_RC=$rc
}
show_file() {  # <file> [lines]
    [ -s "$1" ] || return 0
    echo "---- ${1#"$WORK"/} (first ${2:-300} lines)"
    head -n "${2:-300}" "$1"
}
show_tail() {
    [ -s "$1" ] || return 0
    echo "---- ${1#"$WORK"/} (last ${2:-40} lines)"
    tail -n "${2:-40}" "$1"
}

have() { compgen -G "$WORK/$1" >/dev/null; }
want() { [ -z "$ONLY" ] || [[ $ONLY == *",$1,"* ]]; }

# regress
if ! want regress; then :
elif have 'sql/*.sql'; then
    installcheck regress ISOLATION= TAP_TESTS=
    count "$WORK/regress.log" "$RE_PGR_OK" "$RE_PGR_FAIL" regress
    missing_tests "$SUITE_RC" regress "$(make_list_count REGRESS)"
    if [ "$SUITE_RC" -ne 0 ]; then
        show_file "$WORK/regression.diffs"
        show_tail "$WORK/log/postmaster.log" 60
        grep -q 'running regression test queries' "$WORK/regress.log" || show_tail "$WORK/log/initdb.log" 30
    fi
    suite_level_failure "$SUITE_RC" regress
else
    echo "regress: no sql/*.sql, skipped"
fi

# isolation
if ! want isolation; then :
elif have 'test/isolation/specs/*.spec'; then
    installcheck isolation REGRESS= TAP_TESTS=
    count "$WORK/isolation.log" "$RE_PGR_OK" "$RE_PGR_FAIL" isolation
    missing_tests "$SUITE_RC" isolation "$(make_list_count ISOLATION)"
    if [ "$SUITE_RC" -ne 0 ]; then
        show_file "$WORK/output_iso/regression.diffs"
        show_tail "$WORK/output_iso/log/postmaster.log" 60
        grep -q 'running regression test queries' "$WORK/isolation.log" || show_tail "$WORK/output_iso/log/initdb.log" 30
    fi
    suite_level_failure "$SUITE_RC" isolation
else
    echo "isolation: no test/isolation/specs/*.spec, skipped"
fi

# TAP: "test/t/001_x.pl ....... ok"; a failing file may have its diagnostics
# interleaved before "Dubious"/"Failed", so failures are taken from prove's
# "Test Summary Report": "test/t/002_x.pl (Wstat: 256 (exited 1) Tests: 3 Failed: 1)"
if ! want tap; then :
elif have 'test/t/*.pl'; then
    installcheck tap REGRESS= ISOLATION=
    RE_TAP_FAIL='^[^[:space:]]+\.pl +\((Wstat|Tests)'
    count "$WORK/tap.log" '^[^[:space:]]+\.pl \.+ ok' "$RE_TAP_FAIL" tap
    # a file that skipped all its tests ("... skipped: why") ran none
    missing_tests "$SUITE_RC" tap "$(compgen -G "$WORK/test/t/*.pl" | wc -l)"
    if [ "$SUITE_RC" -ne 0 ]; then
        for t in $(grep -E "$RE_TAP_FAIL" "$WORK/tap.log" | sed -E 's/ .*//' | sort -u); do
            b=$(basename "$t" .pl)
            show_tail "$WORK/tmp_check/log/regress_log_$b" 120
            for f in "$WORK"/tmp_check/log/"${b}"_*.log; do show_tail "$f" 40; done
        done
    fi
    suite_level_failure "$SUITE_RC" tap
else
    echo "tap: no test/t/*.pl, skipped"
fi

# ---------------------------------------------------------------- clients / stress
# These scripts run as root from the copy and print "ok - NAME" / "not ok - NAME".
external() {  # <name> <script> [args]
    local name=$1 script=$2; shift 2
    local log="$WORK/$name.log" rc ts=$SECONDS
    say "$name ($script $*)"
    ( cd "$WORK" && timeout -k 15 "$SUITE_TIMEOUT" bash "$script" "$@" ) </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 124 ] && echo "$name: TIMED OUT after $SUITE_TIMEOUT s"
    echo "$name: $((SECONDS - ts)) s"
    count "$log" '^ok - ' '^not ok - ' "$name"
    suite_level_failure "$rc" "$name"
    # every suite prints one "ok - " line per test: none at all is a failure,
    # even with exit status 0
    missing_tests "$rc" "$name"
}
if ! want clients; then :
elif [ "$DO_CLIENTS" -eq 1 ] && [ -f "$WORK/test/clients/run.sh" ]; then
    external clients test/clients/run.sh
else
    echo "clients: test/clients/run.sh not present (or --skip-clients), skipped"
fi
if ! want stress; then :
elif [ "$DO_STRESS" -eq 1 ] && [ -f "$WORK/test/stress/run.sh" ]; then
    external stress test/stress/run.sh --ci
else
    echo "stress: test/stress/run.sh not present (or --skip-stress), skipped"
fi
if ! want model; then :
elif [ "$DO_MODEL" -eq 1 ] && [ -f "$WORK/test/model/run.sh" ]; then
    external model test/model/run.sh
else
    echo "model: test/model/run.sh not present (or --skip-model), skipped"
fi
if ! want fuzz; then :
elif [ "$DO_FUZZ" -eq 1 ] && [ -f "$WORK/test/fuzz/run.sh" ]; then
    external fuzz test/fuzz/run.sh
else
    echo "fuzz: test/fuzz/run.sh not present (or --skip-fuzz), skipped"
fi
if ! want docs; then :
elif [ "$DO_DOCS" -eq 1 ] && [ -f "$WORK/test/docs/run.sh" ]; then
    external docs test/docs/run.sh
else
    echo "docs: test/docs/run.sh not present (or --skip-docs), skipped"
fi
if ! want pgindent; then :
elif [ -f "$WORK/test/pgindent/run.sh" ]; then
    external pgindent test/pgindent/run.sh
else
    echo "pgindent: test/pgindent/run.sh not present, skipped"
fi
# the suites that install packages themselves are told when run-all may not
NO_APT=()
[ "$DO_APT" -eq 1 ] || NO_APT=(--no-apt)
if ! want monitoring; then :
elif [ "$DO_MONITORING" -eq 1 ] && [ -f "$WORK/test/monitoring/run.sh" ]; then
    external monitoring test/monitoring/run.sh "${NO_APT[@]}"
else
    echo "monitoring: test/monitoring/run.sh not present (or --skip-monitoring), skipped"
fi
if ! want setup; then :
elif [ "$DO_SETUP" -eq 1 ] && [ -f "$WORK/test/setup/run.sh" ]; then
    # the README's first command; it builds and installs the same tree again
    external setup test/setup/run.sh "${NO_APT[@]}"
else
    echo "setup: test/setup/run.sh not present (or --skip-setup), skipped"
fi
# coload uses the txguard installed above; package then installs its own .deb over it
# and, when done, purges it and puts these files back
if ! want coload; then :
elif [ "$DO_COLOAD" -eq 1 ] && [ -f "$WORK/test/coload/run.sh" ]; then
    external coload test/coload/run.sh
else
    echo "coload: test/coload/run.sh not present (or --skip-coload), skipped"
fi
if ! want package; then :
elif [ "$DO_PACKAGE" -eq 1 ] && [ -f "$WORK/test/package/run.sh" ]; then
    external package test/package/run.sh
else
    echo "package: test/package/run.sh not present (or --skip-package), skipped"
fi

# ---------------------------------------------------------------- assert-enabled PostgreSQL 15
# The same suites on a server that poisons freed memory (CLOBBER_FREED_MEMORY), checks
# memory contexts and runs its Asserts: test/compat/run.sh 15 builds it once into
# /var/cache/txguard-compat (under /var/cache/txguard-compat.lock), copies it, installs
# this tree's txguard into the copy and runs the suites there.  A build that fails is one
# failure, cassert-build; each suite's tests are counted as cassert-SUITE.
if ! want cassert; then :
elif [ "$DO_CASSERT" -eq 1 ] && [ -f "$WORK/test/compat/run.sh" ]; then
    cassert_suites=regress,isolation,tap
    [ "${TXGUARD_CASSERT_DISCARD:-0}" != 1 ] || cassert_suites=regress,discard,isolation,tap
    [ "$DO_MODEL" -eq 0 ] || cassert_suites+=,model
    [ "$DO_CLIENTS" -eq 0 ] || cassert_suites+=,clients
    res=$(mktemp -d /tmp/txguard-cassert.XXXXXX)
    ts=$SECONDS fail0=$FAIL
    say "cassert: $cassert_suites on an assert-enabled PostgreSQL 15 (test/compat/run.sh 15)"
    ( cd "$WORK" && timeout -k 15 "${TXGUARD_CASSERT_TIMEOUT:-3000}" bash test/compat/run.sh 15 \
        --suites="$cassert_suites" --results="$res" "${NO_APT[@]}" ) </dev/null 2>&1 | tee "$WORK/cassert.log"
    rc=${PIPESTATUS[0]}
    [ "$rc" -eq 124 ] && echo "cassert: TIMED OUT after ${TXGUARD_CASSERT_TIMEOUT:-3000} s"
    echo "cassert: $((SECONDS - ts)) s"
    if [ -s "$res/build.tap" ]; then
        echo "cassert-build: $(sed -E 's/^not ok - //' "$res/build.tap" | head -n 1)"
        FAIL=$((FAIL + 1)); FAILED_NAMES+=(cassert-build)
    else
        for s in ${cassert_suites//,/ }; do
            if [ -f "$res/$s.tap" ]; then
                count "$res/$s.tap" '^ok - ' '^not ok - ' "cassert-$s"
            else
                echo "cassert-$s: no result (the run stopped before it)"
                FAIL=$((FAIL + 1)); FAILED_NAMES+=("cassert-$s")
            fi
        done
    fi
    if [ "$rc" -ne 0 ] && [ "$FAIL" -eq "$fail0" ]; then
        echo "cassert: exited with status $rc without a failing test line -> counted as 1 failure"
        FAIL=$((FAIL + 1)); FAILED_NAMES+=(cassert)
    fi
    rm -rf "$res"
else
    echo "cassert: test/compat/run.sh not present (or --skip-cassert), skipped"
fi

# ---------------------------------------------------------------- other majors
# TXGUARD_COMPAT="13 17 18": also build those PostgreSQL majors from Debian's
# source packages (cached in /var/cache/txguard-compat) and run the regress,
# isolation and TAP suites against each.  Off by default: a cold cache costs
# 5 to 10 minutes per major.
for major in ${TXGUARD_COMPAT:-}; do
    log="$WORK/compat-$major.log"
    say "compat $major (test/compat/run.sh $major)"
    ( cd "$WORK" && timeout -k 15 "${TXGUARD_COMPAT_TIMEOUT:-1800}" bash test/compat/run.sh "$major" ) \
        </dev/null 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    count "$log" '^ok: ' '^FAILED: ' "compat$major"
    suite_level_failure "$rc" "compat$major"
    missing_tests "$rc" "compat$major"
done

finish
