#!/usr/bin/env bash
# txguard monitoring tests: the postgres_exporter queries, the Prometheus rules and pgBadger,
# against a throwaway PostgreSQL 15 cluster with txguard preloaded.
#
#   bash test/monitoring/run.sh [--no-apt] [TEST ...]     (as root, from anywhere)
#
# TEST (default all):
#   exporter                  test/clients/test_exporter.sh against this cluster (Debian's
#                             prometheus-postgres-exporter, monitoring/postgres_exporter.yaml)
#   rules-check               promtool check rules monitoring/txguard-alerts.yml
#   rules-unit                promtool test rules monitoring/txguard-alerts.test.yml
#   rules-discriminate        every alert has a firing and a non-firing case, and the tests fail
#                             when the alert is broken to never / always fire
#   rules-live                two real scrapes of the exporter around a known workload, replayed
#                             with promtool: error-abort ratio, condition rates, firing alerts
#   dashboard-lint            monitoring/txguard-dashboard.json is a Grafana 9+ dashboard that
#                             imports anywhere (datasource variable, grid, variables, bounded labels)
#   dashboard-live            a real Prometheus (Debian's) scrapes the real exporter while aborts
#                             happen; every panel's query, run through Prometheus' HTTP API, must
#                             return data: one "ok - dashboard-panel-N" line per panel
#   insight-live              the same exporter (its queries file with the optional
#                             pg_stat_statements one appended, as monitoring/README.md says):
#                             the 1.2 series (per application, failed alone, background workers'
#                             failures of a real failing subscription, the failure ratio) are
#                             consistent in one scrape; in Prometheus every metric the rules read
#                             has series, and TxguardSubscriptionApplyFailing and
#                             TxguardStatementFailureRatioHigh are pending or firing for txg_dash
#   exporter-load-error       exporters started with a missing and a broken queries file, and one on
#                             a database without the extension: what they log and export
#                             (pg_exporter_user_queries_load_error), and the alerts
#                             TxguardExporterQueriesNotLoaded / TxguardExporterMetricsMissing in the
#                             same real Prometheus, which loads monitoring/txguard-alerts.yml
#   pgbadger-default-prefix   Debian's pgbadger on the server log of aborted blocks, with
#                             PostgreSQL 15's default log_line_prefix '%m [%p] '
#   pgbadger-user-db-prefix   the same with '%t [%p]: user=%u,db=%d,app=%a,client=%h '
#
# Installs what is missing (postgresql-15 aside): prometheus-postgres-exporter pgbadger curl
# python3-yaml, and the binaries promtool and prometheus alone: Debian's "prometheus" package would
# also install and start a Prometheus server (on *:9090, enabled at boot) unless a policy-rc.d
# forbids it, so both are taken out of the package (apt-get download + dpkg-deb; they need only
# libc) into /var/cache/txguard-monitoring/prometheus-VERSION.  A promtool / prometheus already
# on PATH, or PROMTOOL=/path/to/promtool PROMETHEUS=/path/to/prometheus, is used instead.  The
# Prometheus server runs as the exporter package's "prometheus" user with a private config and
# storage directory in the scratch directory.
# Uses the txguard installed in /usr/lib/postgresql/15/lib (make install or the Debian package), or
# with TXGUARD_BINDIR=/path/bin the PostgreSQL binaries there and the txguard installed next to
# them (a private install: make install DESTDIR=... of a copy of /usr/lib/postgresql/15 and
# /usr/share/postgresql/15).
# Ports: PostgreSQL 127.0.0.1:55470, exporters 127.0.0.1:55472 (exporter) and 55473 (rules-live),
# Prometheus 127.0.0.1:55474 and its exporters 55475 (good), 55476 (missing queries file),
# 55477 (broken queries file), 55478 (database without the extension).  TXGUARD_MONITORING_PORT=N moves
# them all to N .. N + 8.
# KEEP=1 keeps the scratch directory (logs, reports, scrapes); VERBOSE=1 prints every test's output.
# Output: one "ok - NAME" / "not ok - NAME" line per test (failure output before it; dashboard-live
# also one "ok - dashboard-panel-N (title)" line per panel, counted as a test), then
# "monitoring: N passed, N failed"; the exit status is non-zero if a test failed.
set -uo pipefail
export LC_ALL=C.UTF-8

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=${TXGUARD_BINDIR:-/usr/lib/postgresql/15/bin}
SO=$BIN/../lib/txguard.so
CONTROL=$("$BIN/pg_config" --sharedir 2>/dev/null)/extension/txguard.control
PY=/usr/bin/python3
EXPORTER=/usr/bin/prometheus-postgres-exporter
RULES=$REPO/monitoring/txguard-alerts.yml
RULE_TESTS=$REPO/monitoring/txguard-alerts.test.yml
BASE=${TXGUARD_MONITORING_PORT:-55470}   # the first of 9 ports
PORT=$BASE
EPORT=$((BASE + 2))
LPORT=$((BASE + 3))
CACHE=/var/cache/txguard-monitoring
PPORT=$((BASE + 4))
PEPORTS=($((BASE + 5)) $((BASE + 6)) $((BASE + 7)) $((BASE + 8)))       # exporters scraped by Prometheus: good missing broken noext
DASHBOARD=$REPO/monitoring/txguard-dashboard.json
ALL_TESTS=(exporter rules-check rules-unit rules-discriminate rules-live
           dashboard-lint dashboard-live insight-live exporter-load-error
           pgbadger-default-prefix pgbadger-user-db-prefix)
PROM_TESTS=" dashboard-live insight-live exporter-load-error "
PREFIX_DEFAULT='%m [%p] '
PREFIX_USERDB='%t [%p]: user=%u,db=%d,app=%a,client=%h '
T_START=$SECONDS

for v in $(compgen -e | grep -E '^(PG|PYTHON)' || true); do unset "$v"; done
die() { echo "run.sh: $*" >&2; echo "not ok - setup"; echo "monitoring: 0 passed, 1 failed"; exit 1; }

DO_APT=1
TESTS=()
for a in "$@"; do
  case $a in
    --no-apt) DO_APT=0 ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    *) [[ " ${ALL_TESTS[*]} " == *" $a "* ]] || die "unknown test '$a' (known: ${ALL_TESTS[*]})"
       TESTS+=("$a") ;;
  esac
done
[ ${#TESTS[@]} -gt 0 ] || TESTS=("${ALL_TESTS[@]}")

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user)"
[ -f "$SO" ] || die "$SO is missing: build and install txguard first (make && make install)"
[ -f "$CONTROL" ] || die "$CONTROL is missing: install txguard first"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (apt-get install postgresql-15)"
for p in $PORT $EPORT $LPORT $PPORT "${PEPORTS[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p on 127.0.0.1 is already in use"; fi
done

# ---------------------------------------------------------------- packages, promtool
export DEBIAN_FRONTEND=noninteractive
APT=(apt-get -y -qq -o DPkg::Lock::Timeout=300)
pkg_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}
mapfile -t missing < <(pkg_missing prometheus-postgres-exporter pgbadger curl python3-yaml postgresql-client-15)
cached() {  # cached NAME: the newest NAME taken out of a prometheus package earlier
  ls -1d "$CACHE"/prometheus-*/"$1" 2>/dev/null | sort -V | tail -n 1
}
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || true)}
[ -n "$PROMTOOL" ] || PROMTOOL=$(cached promtool)
[ -n "$PROMETHEUS" ] || PROMETHEUS=$(cached prometheus)
if [ "${#missing[@]}" -gt 0 ] || [ -z "$PROMTOOL" ] || [ -z "$PROMETHEUS" ]; then
  [ "$DO_APT" = 1 ] || die "missing: ${missing[*]} ${PROMTOOL:-promtool} ${PROMETHEUS:-prometheus} (run without --no-apt)"
  "${APT[@]}" update </dev/null >/dev/null 2>&1 || echo "# apt-get update failed, trying anyway"
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "# installing ${missing[*]}"
    "${APT[@]}" install --no-install-recommends "${missing[@]}" </dev/null >/tmp/txguard-monitoring-apt.$$ 2>&1 ||
      { tail -n 20 /tmp/txguard-monitoring-apt.$$; rm -f /tmp/txguard-monitoring-apt.$$; die "apt-get install failed"; }
    rm -f /tmp/txguard-monitoring-apt.$$
  fi
  if [ -z "$PROMTOOL" ] || [ -z "$PROMETHEUS" ]; then
    # promtool and prometheus out of the package, never the package itself (it would start a
    # server): same version for both, one download
    ver=$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate for the Debian package prometheus (apt-get update?)"
    dl=$(mktemp -d /tmp/txguard-promtool.XXXXXX)
    chmod 0755 "$dl"; chown _apt "$dl" 2>/dev/null || true     # apt downloads as _apt
    (cd "$dl" && apt-get download -qq "prometheus=$ver" </dev/null >/dev/null 2>&1) ||
      { rm -rf "$dl"; die "apt-get download prometheus=$ver failed"; }
    dest=$CACHE/prometheus-$ver
    install -d "$dest"
    for b in promtool prometheus; do
      dpkg-deb --fsys-tarfile "$dl"/prometheus_*.deb | tar -xO "./usr/bin/$b" >"$dest/$b.tmp" &&
        chmod 0755 "$dest/$b.tmp" && mv "$dest/$b.tmp" "$dest/$b" ||
        { rm -rf "$dl" "$dest/$b.tmp"; die "could not extract $b from the prometheus package"; }
    done
    rm -rf "$dl"
    [ -n "$PROMTOOL" ] || PROMTOOL=$dest/promtool
    [ -n "$PROMETHEUS" ] || PROMETHEUS=$dest/prometheus
    echo "# promtool and prometheus taken out of Debian's prometheus $ver (the package itself is not installed)"
  fi
fi
"$PROMTOOL" --version >/dev/null 2>&1 || die "$PROMTOOL does not run"
"$PROMETHEUS" --version >/dev/null 2>&1 || die "$PROMETHEUS does not run"
id prometheus >/dev/null 2>&1 || die "no 'prometheus' OS user (made by the prometheus-postgres-exporter package)"
for tool in "$BIN/initdb" "$BIN/pg_ctl" /usr/bin/psql /usr/bin/pgbadger "$EXPORTER" /usr/bin/curl "$PY"; do
  [ -x "$tool" ] || die "$tool not found"
done
echo "# $("$PROMTOOL" --version 2>&1 | head -n1) ($PROMTOOL); $("$PROMETHEUS" --version 2>&1 | head -n1)" \
  "($PROMETHEUS); $(/usr/bin/pgbadger --version 2>&1 | head -n1); $("$EXPORTER" --version 2>&1 | head -n1)"
echo "# setup (packages) after $((SECONDS - T_START)) s"

# ---------------------------------------------------------------- the cluster
SCRATCH=$(mktemp -d /tmp/txguard-monitoring.XXXXXX)
chmod 0755 "$SCRATCH"
chown postgres:postgres "$SCRATCH"
install -d -o postgres -g postgres "$SCRATCH/sock"
install -d "$SCRATCH/out" "$SCRATCH/badger" "$SCRATCH/live"
DATA=$SCRATCH/data
SERVER_LOG=$SCRATCH/server.log
LIVE_PID=

as_pg() { (cd "$SCRATCH" && runuser -u postgres -- "$@"); }
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$LIVE_PID" ] && kill "$LIVE_PID" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$LIVE_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  declare -F prom_stop >/dev/null && prom_stop
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $SCRATCH"; else rm -rf "$SCRATCH"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

setup_fail() {
  echo "run.sh: $*" >&2
  tail -n 30 "$SERVER_LOG" 2>/dev/null | sed 's/^/#   /'
  echo "not ok - setup"; echo "monitoring: 0 passed, 1 failed"; exit 1
}
as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >"$SCRATCH/initdb.log" 2>&1 ||
  { cat "$SCRATCH/initdb.log"; setup_fail "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF

# txguard monitoring tests
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SCRATCH/sock'
shared_preload_libraries = 'txguard, pg_stat_statements'
fsync = off
wal_level = logical         # a subscription (in the same cluster) whose apply worker fails
wal_retrieve_retry_interval = '1s'   # ... and is restarted every second
autovacuum = off            # exact transaction counts in pg_stat_database
log_checkpoints = off       # the server log holds the tests' lines only
compute_query_id = on       # query ids, as pg_stat_statements would have them
log_line_prefix = '$PREFIX_DEFAULT'
txguard.log_aborts = all    # an end-of-block line for every block: pgBadger reads them
EOF
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -w -t 60 start >/dev/null 2>&1 || setup_fail "PostgreSQL did not start"
PSQL=(/usr/bin/psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
"${PSQL[@]}" -c "CREATE EXTENSION txguard" >/dev/null 2>&1 || setup_fail "CREATE EXTENSION txguard failed"
echo "# PostgreSQL $("${PSQL[@]}" -c 'SHOW server_version') on 127.0.0.1:$PORT," \
  "txguard $("${PSQL[@]}" -c "SELECT extversion FROM pg_extension WHERE extname = 'txguard'")," \
  "txguard.log_ignored_commands = $("${PSQL[@]}" -c 'SHOW txguard.log_ignored_commands')"

# ---------------------------------------------------------------- tests
t_exporter() {
  PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres TXG_EXPORTER_PORT=$EPORT \
    TXG_EXPORTER=$EXPORTER TXG_RESULT_LINE=0 bash "$REPO/test/clients/test_exporter.sh"
}

t_rules_check() {
  local out n
  out=$("$PROMTOOL" check rules "$RULES" 2>&1); local rc=$?
  echo "$out"
  n=$("$PY" "$HERE/rules_check.py" count "$RULES") || return 1
  [ $rc = 0 ] && grep -qx "  SUCCESS: $n rules found" <<<"$out" ||
    { echo "  FAIL: expected '  SUCCESS: $n rules found'"; return 1; }
}

t_rules_unit() {
  local out
  out=$(cd "$REPO/monitoring" && "$PROMTOOL" test rules "$(basename "$RULE_TESTS")" 2>&1); local rc=$?
  echo "$out"
  [ $rc = 0 ] && grep -qx '  SUCCESS' <<<"$out"
}

t_rules_discriminate() {
  "$PY" "$HERE/rules_check.py" discriminate "$RULES" "$RULE_TESTS" "$PROMTOOL"
}

# rules-live: an exporter on the "postgres" database (it never connects to txg_live), a scrape,
# then in txg_live one session of 30 commits, 10 voluntary ROLLBACKs, 6 blocks aborted by a
# unique violation and 4 by a division by zero, a second scrape.  pg_stat_database: 31 commits
# (with the session's start-up transaction) + 20 rollbacks = 51 transactions, 10 error aborts.
t_rules_live() {
  local dsn url a b
  "${PSQL[@]}" >/dev/null <<'SQL' || { echo "setup SQL failed"; return 1; }
CREATE ROLE txg_livemon LOGIN;
CREATE DATABASE txg_live;
\c txg_live
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
SQL
  # the setup session's statistics must be in pg_stat_database before the first scrape
  wait_pg "SELECT xact_commit > 0 FROM pg_stat_database WHERE datname = 'txg_live'" t || return 1
  dsn="postgresql://txg_livemon@127.0.0.1:$PORT/postgres?sslmode=disable"
  url="http://127.0.0.1:$LPORT/metrics"
  ( export DATA_SOURCE_NAME=$dsn
    exec runuser -u postgres -- "$EXPORTER" --web.listen-address="127.0.0.1:$LPORT" \
      --extend.query-path="$REPO/monitoring/postgres_exporter.yaml" --log.level=warn ) >"$SCRATCH/live/exporter.log" 2>&1 &
  LIVE_PID=$!
  a=$SCRATCH/live/scrape.a b=$SCRATCH/live/scrape.b
  for _ in $(seq 150); do
    curl -sSf -m 10 -o "$a" "$url" 2>/dev/null && grep -qx 'pg_up 1' "$a" && break
    sleep 0.1
  done
  curl -sSf -m 10 -o "$a" "$url" || { echo "no scrape from $url"; cat "$SCRATCH/live/exporter.log"; return 1; }
  local before
  before=$("${PSQL[@]}" -c "SELECT xact_commit || ' ' || xact_rollback FROM pg_stat_database WHERE datname = 'txg_live'")
  {
    for _ in $(seq 30); do echo "SELECT 1;"; done
    for _ in $(seq 10); do echo "BEGIN; SELECT 1; ROLLBACK;"; done
    for _ in $(seq 6); do echo "BEGIN; INSERT INTO t VALUES (1); ROLLBACK;"; done
    for _ in $(seq 4); do echo "BEGIN; SELECT 1/(random()*0)::int; ROLLBACK;"; done
  } | /usr/bin/psql -X -q -At -h 127.0.0.1 -p "$PORT" -U postgres -d txg_live >"$SCRATCH/live/workload.out" 2>&1
  read -r c0 r0 <<<"$before"
  wait_pg "SELECT xact_commit - $c0 || ' ' || xact_rollback - $r0 FROM pg_stat_database WHERE datname = 'txg_live'" "31 20" ||
    return 1
  curl -sSf -m 10 -o "$b" "$url" || { echo "no second scrape"; return 1; }
  kill "$LIVE_PID" 2>/dev/null; wait "$LIVE_PID" 2>/dev/null; LIVE_PID=
  grep -E 'level=(error|warn)' "$SCRATCH/live/exporter.log" && { echo "  FAIL: the exporter logged errors"; return 1; }
  "$PY" "$HERE/rules_check.py" live "$a" "$b" "$RULES" "$PROMTOOL" "$SCRATCH/live" txg_live 10 51 \
    unique_violation=6 division_by_zero=4
}

wait_pg() {  # wait_pg SQL EXPECTED: poll (10 s)
  local got
  for _ in $(seq 100); do
    got=$("${PSQL[@]}" -c "$1" 2>&1)
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  echo "  FAIL: waited 10 s for [$1] = '$2', last: '$got'"
  return 1
}

# pgBadger: the scenario of pgbadger_check.py (aborted blocks with different causes, a flood of
# 50 refused commands, a commit, a savepoint, a disconnect, a timeout) run once per
# log_line_prefix; the server log of each run goes to pgBadger (JSON and text reports).
BADGER_READY=
badger_setup() {
  "$PY" "$HERE/pgbadger_check.py" sql "$SCRATCH/badger" || return 1
  chmod 0644 "$SCRATCH/badger"/*.sql
  "${PSQL[@]}" >/dev/null <<'SQL' || return 1
CREATE ROLE txg_badger_app LOGIN;
CREATE ROLE txg_badger_idle LOGIN;
ALTER ROLE txg_badger_idle SET txguard.idle_in_aborted_transaction_timeout = '300ms';
CREATE DATABASE txg_badger;
\c txg_badger
CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL CHECK (v > 0));
INSERT INTO t VALUES (1, 1);
GRANT SELECT, INSERT ON t TO txg_badger_app, txg_badger_idle;
SQL
}
badger_scenario() {  # badger_scenario NAME PREFIX: runs the scenario, cuts its part of the log
  local name=$1 prefix=$2 off seg=$SCRATCH/badger/$1.log n
  "${PSQL[@]}" -c "ALTER SYSTEM SET log_line_prefix = '$prefix'" -c "SELECT pg_reload_conf()" >/dev/null || return 1
  wait_pg "SHOW log_line_prefix" "$prefix" || return 1
  sleep 0.2
  off=$(stat -c %s "$SERVER_LOG")
  local c=(/usr/bin/psql -X -q -h 127.0.0.1 -p "$PORT" -d txg_badger)
  PGAPPNAME=badger-idle "${c[@]}" -U txg_badger_idle -f "$SCRATCH/badger/timeout.sql" >"$SCRATCH/badger/$name.timeout.out" 2>&1 &
  local tpid=$!
  PGAPPNAME=badger-app "${c[@]}" -U txg_badger_app -f "$SCRATCH/badger/app.sql" >"$SCRATCH/badger/$name.app.out" 2>&1
  PGAPPNAME=badger-app "${c[@]}" -U txg_badger_app -f "$SCRATCH/badger/disconnect.sql" >"$SCRATCH/badger/$name.disconnect.out" 2>&1
  wait "$tpid"
  for _ in $(seq 100); do
    n=$(tail -c +$((off + 1)) "$SERVER_LOG" | grep -c 'txguard: aborted transaction ended by')
    [ "$n" -ge 9 ] && break
    sleep 0.1
  done
  sleep 0.2
  tail -c +$((off + 1)) "$SERVER_LOG" >"$seg"
}
badger_reports() {  # the two pgBadger runs, in parallel (each with its own pid file)
  local name prefix pids=()
  for name in default userdb; do
    if [ $name = default ]; then prefix=$PREFIX_DEFAULT; else prefix=$PREFIX_USERDB; fi
    install -d "$SCRATCH/badger/pid$name"
    /usr/bin/pgbadger -q --pid-dir "$SCRATCH/badger/pid$name" -f stderr --prefix "$prefix" -s 10 \
      -x json -o "$SCRATCH/badger/$name.json" -o "$SCRATCH/badger/$name.txt" \
      "$SCRATCH/badger/$name.log" >"$SCRATCH/badger/$name.pgbadger.out" 2>&1 &
    pids+=($!)
  done
  local rc=0 p
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return $rc
}
badger_prepare() {
  [ -n "$BADGER_READY" ] && return "$BADGER_READY"
  BADGER_READY=1
  {
    badger_setup &&
    badger_scenario default "$PREFIX_DEFAULT" &&
    badger_scenario userdb "$PREFIX_USERDB" &&
    badger_reports
  } >"$SCRATCH/badger/prepare.out" 2>&1 || { cat "$SCRATCH/badger/prepare.out" "$SCRATCH/badger"/*.pgbadger.out; return 1; }
  BADGER_READY=0
}
show_events() {  # the event groups of a pgBadger JSON report, for the record
  "$PY" - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
ev = {}
for db in d.get("error_info", {}).values():
    for k, v in db.items():
        ev[k] = ev.get(k, 0) + v["count"]
print("# pgBadger's events (%s):" % sys.argv[1].rsplit("/", 1)[-1])
for k, n in sorted(ev.items(), key=lambda kv: (-kv[1], kv[0])):
    print("#   %3d  %s" % (n, k))
EOF
}
t_pgbadger_default_prefix() {
  badger_prepare || return 1
  show_events "$SCRATCH/badger/default.json"
  "$PY" "$HERE/pgbadger_check.py" real "$SCRATCH/badger/default.log" "$SCRATCH/badger/default.json"
}
t_pgbadger_user_db_prefix() {
  badger_prepare || return 1
  show_events "$SCRATCH/badger/userdb.json"
  "$PY" "$HERE/pgbadger_check.py" real "$SCRATCH/badger/userdb.log" "$SCRATCH/badger/userdb.json" \
    --db txg_badger --user txg_badger_app
}
# ---------------------------------------------------------------- a real Prometheus
# dashboard-live and exporter-load-error share one setup (prom_prepare, once): in database
# txg_dash a table t and roles for the workload; four exporters: the good one (job "postgres"),
# run the way Debian's unit runs it (user prometheus, the variables of a defaults file as its
# environment, $ARGS), and three misconfigured ones (job "postgres-misconfigured"): a queries
# file that does not exist, one that is not valid YAML, and the good file on a database without
# the extension; Debian's Prometheus as user prometheus (private config, storage and port,
# scrape and rule evaluation every second) with monitoring/txguard-alerts.yml loaded.  The good
# exporter's queries file is postgres_exporter.yaml with postgres_exporter-pg_stat_statements.yaml
# appended (its role has pg_monitor, as monitoring/README.md says).  Then, while Prometheus
# scrapes: a workload session of application "checkout" (bounded: 200 rounds 0.2 s apart of a
# commit, a voluntary ROLLBACK, a block aborted by a unique violation with 2 refused commands
# ended by ROLLBACK, one aborted by a division by zero ended by COMMIT, a failed autocommit
# INSERT), one of application "payments" (same role; 200 rounds 0.2 s apart of a failed
# autocommit INSERT), a session terminated by txguard.idle_in_aborted_transaction_timeout
# (500 ms), a session left idle in an aborted block until prom_stop, and a subscription of
# txg_dash to a publication of txg_dash_pub in the same cluster whose apply worker fails on a
# conflicting row every second (wal_retrieve_retry_interval) until prom_end drops it.
PROM=$SCRATCH/prom
PROM_URL=http://127.0.0.1:$PPORT
PROM_READY=
PROM_PIDS=()            # exporters, Prometheus, the workload, the stuck session: ended by prom_stop
STUCK_FD=
EXP_NAMES=(good missing broken noext)
prom_start_bg() {  # prom_start_bg LOG CMD...: runs CMD in the background, remembers its pid
  local log=$1; shift
  "$@" >"$log" 2>&1 </dev/null &
  PROM_PIDS+=($!)
}
prom_wait() {  # prom_wait EXPR SECONDS: until Prometheus answers EXPR with at least one series
  "$PY" - "$PROM_URL" "$1" "$2" <<'PYEOF'
import json, sys, time, urllib.parse, urllib.request
url, expr, end = sys.argv[1], sys.argv[2], time.time() + float(sys.argv[3])
while True:
    try:
        q = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url + "/api/v1/query?" + q, timeout=5) as r:
            if json.load(r)["data"]["result"]:
                sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
    if time.time() > end:
        print("  FAIL: waited %s s for Prometheus to return data for %s" % (sys.argv[3], expr))
        sys.exit(1)
    time.sleep(0.2)
PYEOF
}
prom_setup() {
  local i dsn
  "${PSQL[@]}" >/dev/null <<'SQL' || { echo "setup SQL failed"; return 1; }
CREATE EXTENSION pg_stat_statements;
CREATE ROLE txg_dash_mon LOGIN;
GRANT pg_monitor TO txg_dash_mon;
CREATE ROLE txg_dash_app LOGIN;
CREATE ROLE txg_dash_stuck LOGIN;
CREATE ROLE txg_dash_idle LOGIN;
ALTER ROLE txg_dash_idle SET txguard.idle_in_aborted_transaction_timeout = '500ms';
CREATE DATABASE txg_dash;
CREATE DATABASE txg_noext;
\c txg_dash
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
GRANT SELECT, INSERT ON t TO txg_dash_app, txg_dash_stuck, txg_dash_idle;
SQL
  install -d -m 0755 "$PROM" "$PROM/etc" "$PROM/etc/prometheus"
  install -d -m 0755 -o prometheus -g prometheus "$PROM/data"
  # as the README says: the queries file in .../prometheus/, readable by the prometheus user,
  # with the pg_stat_statements queries appended
  cat "$REPO/monitoring/postgres_exporter.yaml" "$REPO/monitoring/postgres_exporter-pg_stat_statements.yaml" \
    >"$PROM/etc/prometheus/txguard.yaml"
  chmod 0644 "$PROM/etc/prometheus/txguard.yaml"
  # a tab in an indentation: not YAML
  sed '0,/^  master: true$/s//\tmaster: true/' "$REPO/monitoring/postgres_exporter.yaml" \
    >"$PROM/etc/prometheus/broken.yaml"
  chmod 0644 "$PROM/etc/prometheus/broken.yaml"
  install -m 0644 "$RULES" "$PROM/etc/txguard-alerts.yml"
  dsn="postgresql://txg_dash_mon@127.0.0.1:$PORT"
  # the good exporter's defaults file, as monitoring/README.md writes
  # /etc/default/prometheus-postgres-exporter (Unix socket, key=value DSN)
  cat >"$PROM/etc/default-good" <<EOF
DATA_SOURCE_NAME='user=txg_dash_mon host=$SCRATCH/sock port=$PORT dbname=postgres'
ARGS="--web.listen-address=127.0.0.1:${PEPORTS[0]} --extend.query-path=$PROM/etc/prometheus/txguard.yaml"
EOF
  # shellcheck disable=SC2016
  prom_start_bg "$PROM/exporter-good.log" bash -c \
    'set -a; . "$1"; set +a; exec runuser -u prometheus -- "$2" $ARGS' _ "$PROM/etc/default-good" "$EXPORTER"
  prom_start_bg "$PROM/exporter-missing.log" env DATA_SOURCE_NAME="$dsn/postgres?sslmode=disable" \
    runuser -u prometheus -- "$EXPORTER" --web.listen-address="127.0.0.1:${PEPORTS[1]}" \
    --extend.query-path="$PROM/etc/prometheus/missing.yaml"
  prom_start_bg "$PROM/exporter-broken.log" env DATA_SOURCE_NAME="$dsn/postgres?sslmode=disable" \
    runuser -u prometheus -- "$EXPORTER" --web.listen-address="127.0.0.1:${PEPORTS[2]}" \
    --extend.query-path="$PROM/etc/prometheus/broken.yaml"
  prom_start_bg "$PROM/exporter-noext.log" env DATA_SOURCE_NAME="$dsn/txg_noext?sslmode=disable" \
    runuser -u prometheus -- "$EXPORTER" --web.listen-address="127.0.0.1:${PEPORTS[3]}" \
    --extend.query-path="$PROM/etc/prometheus/txguard.yaml"
  cat >"$PROM/etc/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $PROM/etc/txguard-alerts.yml
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:${PEPORTS[0]}']
  - job_name: postgres-misconfigured
    static_configs:
      - targets: ['127.0.0.1:${PEPORTS[1]}', '127.0.0.1:${PEPORTS[2]}', '127.0.0.1:${PEPORTS[3]}']
EOF
  chmod 0644 "$PROM/etc/prometheus.yml"
  prom_start_bg "$PROM/prometheus.log" runuser -u prometheus -- "$PROMETHEUS" \
    --config.file="$PROM/etc/prometheus.yml" --storage.tsdb.path="$PROM/data" \
    --web.listen-address="127.0.0.1:$PPORT"
  # Prometheus scrapes a few seconds after it is up (it applies its targets every 5 s)
  prom_wait 'txguard_database_error_aborts_total{job="postgres",datname="txg_dash"}' 30 || {
    tail -n 20 "$PROM/prometheus.log" "$PROM"/exporter-*.log; return 1; }
  echo "# Prometheus scrapes the exporters, after $((SECONDS - T_START)) s"

  # the workload: bounded (200 rounds, 0.2 s apart), ended earlier by prom_stop
  for i in $(seq 200); do
    echo "SELECT 1;"
    echo "BEGIN; SELECT 1; ROLLBACK;"
    echo "BEGIN; INSERT INTO t VALUES (1); SELECT 1; SELECT 2; ROLLBACK;"
    echo "BEGIN; SELECT 1 / (random() * 0)::int; SELECT 1; COMMIT;"
    echo "INSERT INTO t VALUES (1);"
    echo "SELECT pg_sleep(0.2);"
  done >"$PROM/workload.sql"
  prom_start_bg "$PROM/workload.out" env PGAPPNAME=checkout \
    /usr/bin/psql -X -q -h 127.0.0.1 -p "$PORT" -U txg_dash_app -d txg_dash -f "$PROM/workload.sql"
  for i in $(seq 200); do
    echo "INSERT INTO t VALUES (1);"
    echo "SELECT pg_sleep(0.2);"
  done >"$PROM/workload2.sql"
  prom_start_bg "$PROM/workload2.out" env PGAPPNAME=payments \
    /usr/bin/psql -X -q -h 127.0.0.1 -p "$PORT" -U txg_dash_app -d txg_dash -f "$PROM/workload2.sql"
  # the failing subscription: a subscription to the same cluster must not create its slot
  "${PSQL[@]}" >/dev/null <<SQL || { echo "subscription setup failed"; return 1; }
CREATE DATABASE txg_dash_pub;
\c txg_dash_pub
CREATE TABLE items (id int PRIMARY KEY);
CREATE PUBLICATION txg_dash_pub FOR TABLE items;
SELECT pg_create_logical_replication_slot('txg_dash_sub', 'pgoutput');
\c txg_dash
CREATE TABLE items (id int PRIMARY KEY);
INSERT INTO items VALUES (1);
CREATE SUBSCRIPTION txg_dash_sub
  CONNECTION 'host=$SCRATCH/sock port=$PORT dbname=txg_dash_pub user=postgres'
  PUBLICATION txg_dash_pub WITH (create_slot = false, slot_name = 'txg_dash_sub', copy_data = false);
\c txg_dash_pub
INSERT INTO items VALUES (1);
SQL
  # idle in an aborted block for 5 s, 10 times its role's 500 ms: terminated (the termination
  # is polled for below; psql's sleep only has to outlast it)
  printf 'BEGIN;\nINSERT INTO t VALUES (1);\n\\! sleep 5\n' >"$PROM/timeout.sql"
  prom_start_bg "$PROM/timeout.out" /usr/bin/psql -X -q -h 127.0.0.1 -p "$PORT" -U txg_dash_idle -d txg_dash \
    -f "$PROM/timeout.sql"
  # idle in an aborted block until prom_stop closes its input
  mkfifo "$PROM/stuck.fifo"
  # shellcheck disable=SC2016
  prom_start_bg "$PROM/stuck.out" bash -c \
    'exec /usr/bin/psql -X -q -h 127.0.0.1 -p "$1" -U txg_dash_stuck -d txg_dash <"$2"' _ "$PORT" "$PROM/stuck.fifo"
  exec {STUCK_FD}>"$PROM/stuck.fifo"
  printf 'BEGIN;\nINSERT INTO t VALUES (1);\nSELECT 1;\n' >&"$STUCK_FD"
  wait_pg "SELECT sessions_terminated > 0 FROM txguard_database_stats WHERE datname = 'txg_dash'" t ||
    { cat "$PROM/timeout.out"; return 1; }
  wait_pg "SELECT count(*) FROM txguard_aborted_sessions WHERE usename = 'txg_dash_stuck'" 1 ||
    { cat "$PROM/stuck.out"; return 1; }
  wait_pg "SELECT sum(repeats) >= 1 FROM txguard_aborts
            WHERE datname = 'txg_dash' AND backend_type <> 'client backend'" t ||
    { tail -n 20 "$SERVER_LOG"; return 1; }
  echo "# workload running, one session terminated by the timeout, one stuck, an apply worker" \
    "failing, after $((SECONDS - T_START)) s"
}
prom_prepare() {
  [ -n "$PROM_READY" ] && return "$PROM_READY"
  PROM_READY=1
  prom_setup >"$SCRATCH/prom-prepare.out" 2>&1 || { cat "$SCRATCH/prom-prepare.out"; return 1; }
  cat "$SCRATCH/prom-prepare.out"
  PROM_READY=0
}
prom_stop() {
  local p
  if [ -n "$STUCK_FD" ]; then exec {STUCK_FD}>&-; STUCK_FD=; fi
  for p in "${PROM_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PROM_PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  PROM_PIDS=()
}
prom_end() {  # prom_stop, the subscription dropped, then until their sessions are gone (their
              # last log lines written)
  prom_stop
  if [ "$("${PSQL[@]}" -d txg_dash -c "SELECT count(*) FROM pg_subscription WHERE subname = 'txg_dash_sub'" 2>/dev/null)" = 1 ]; then
    "${PSQL[@]}" -d txg_dash -c "ALTER SUBSCRIPTION txg_dash_sub DISABLE" >/dev/null
    wait_pg "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'logical replication%worker'" 0 >/dev/null
    "${PSQL[@]}" -d txg_dash -c "ALTER SUBSCRIPTION txg_dash_sub SET (slot_name = NONE)" \
      -c "DROP SUBSCRIPTION txg_dash_sub" >/dev/null
    "${PSQL[@]}" -c "SELECT pg_drop_replication_slot('txg_dash_sub')" >/dev/null
  fi
  wait_pg "SELECT count(*) FROM pg_stat_activity
            WHERE datname IN ('txg_dash', 'txg_noext', 'txg_dash_pub') OR usename = 'txg_dash_mon'" 0 >/dev/null
}
t_dashboard_lint() {
  "$PY" "$HERE/dashboard_check.py" lint "$DASHBOARD"
}
t_dashboard_live() {
  prom_prepare || return 1
  "$PY" "$HERE/dashboard_check.py" live "$DASHBOARD" "$PROM_URL" "$SCRATCH/out/dashboard-live.tap" 45 \
    job=postgres instance="127.0.0.1:${PEPORTS[0]}" datname=txg_dash
}
# the 1.2 series in one scrape of the good exporter, then the new rules in Prometheus
t_insight_live() {
  prom_prepare || return 1
  local qid calls
  curl -sSf -m 10 -o "$PROM/scrape-insight" "http://127.0.0.1:${PEPORTS[0]}/metrics" ||
    { echo "  FAIL: no scrape of the good exporter"; return 1; }
  # the workload's INSERT never succeeds: its calls are the set-up's
  qid=$("${PSQL[@]}" -c "SELECT DISTINCT s.queryid FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                         WHERE d.datname = 'txg_dash' AND s.query = 'INSERT INTO t VALUES (\$1)'")
  calls=$("${PSQL[@]}" -c "SELECT sum(calls) FROM pg_stat_statements WHERE queryid = '$qid' AND toplevel")
  "$PY" "$HERE/insight_check.py" "$PROM/scrape-insight" "$RULES" "$PROM_URL" 45 txg_dash "$qid" "$calls"
}
# what each exporter logs and exports (one scrape each), then the alerts in Prometheus
t_exporter_load_error() {
  prom_prepare || return 1
  local i name rc=0
  for i in 0 1 2 3; do
    name=${EXP_NAMES[$i]}
    curl -sSf -m 10 -o "$PROM/scrape-$name" "http://127.0.0.1:${PEPORTS[$i]}/metrics" ||
      { echo "  FAIL: no scrape of the $name exporter"; rc=1; continue; }
    "$PY" - "$name" "$PROM/scrape-$name" "$PROM/exporter-$name.log" "$PROM/etc/prometheus" <<'PYEOF' || rc=1
import re, sys
name, scrape, log, etc = sys.argv[1:]
text, logt = open(scrape).read(), open(log).read()
def val(pat):
    m = re.search(r"^" + pat + r" (\S+)$", text, re.M)
    return m.group(1) if m else None
bad = False
def check(cond, msg):
    global bad
    print(("  ok: " if cond else "  FAIL: ") + "%s exporter: %s" % (name, msg))
    bad |= not cond
path = {"good": "txguard.yaml", "missing": "missing.yaml", "broken": "broken.yaml", "noext": "txguard.yaml"}[name]
load_err = val(r'pg_exporter_user_queries_load_error\{filename="%s/%s",hashsum="[0-9a-f]*"\}' % (re.escape(etc), path))
scrape_err = val("pg_exporter_last_scrape_error")
txg = len(re.findall(r"^txguard_", text, re.M))
m = re.search(r'msg="Failed to reload user queries".*? err="((?:[^"\\]|\\.)*)"', logt)
check(val("pg_up") == "1", "pg_up %s" % val("pg_up"))
if name in ("missing", "broken"):
    check(load_err == "1", "pg_exporter_user_queries_load_error{filename=\".../%s\"} %s" % (path, load_err))
    check(scrape_err == "0", "pg_exporter_last_scrape_error %s: the scrape reports no error" % scrape_err)
    check(m is not None, "logs 'Failed to reload user queries'" + (" (%s)" % m.group(1) if m else ""))
    check(txg == 0, "%d txguard_ samples" % txg)
elif name == "noext":
    check(load_err == "0", "pg_exporter_user_queries_load_error %s: the file loaded" % load_err)
    check(scrape_err == "1", "pg_exporter_last_scrape_error %s: its txguard queries fail" % scrape_err)
    check(txg == 0, "%d txguard_ samples" % txg)
else:
    check(load_err == "0", "pg_exporter_user_queries_load_error %s" % load_err)
    check(scrape_err == "0", "pg_exporter_last_scrape_error %s" % scrape_err)
    check(m is None and not re.search(r"level=(error|warn)", logt), "logs no error")
    check(txg > 0, "%d txguard_ samples" % txg)
check(re.search(r"^pg_settings_txguard_enabled\{", text, re.M) is not None,
      "pg_settings_txguard_enabled exported (txguard is loaded in the server)")
sys.exit(1 if bad else 0)
PYEOF
  done
  "$PY" "$HERE/dashboard_check.py" misconfigured "$PROM_URL" "$RULES" 30 \
    good="127.0.0.1:${PEPORTS[0]}" missing="127.0.0.1:${PEPORTS[1]}" broken="127.0.0.1:${PEPORTS[2]}" \
    noext="127.0.0.1:${PEPORTS[3]}" || rc=1
  return $rc
}
passed=0
failed=0
i=0
for t in "${TESTS[@]}"; do
  out=$SCRATCH/out/$t.log
  ts=$SECONDS
  rc=0
  "t_${t//-/_}" >"$out" 2>&1 </dev/null || rc=$?
  # a test may report parts of itself (the dashboard's panels) on their own ok / not ok lines
  if [ -f "$SCRATCH/out/$t.tap" ]; then
    cat "$SCRATCH/out/$t.tap"
    passed=$((passed + $(grep -c '^ok - ' "$SCRATCH/out/$t.tap")))
    failed=$((failed + $(grep -c '^not ok - ' "$SCRATCH/out/$t.tap")))
  fi
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    [ "${VERBOSE:-0}" = 1 ] && cat "$out"
    echo "ok - $t ($((SECONDS - ts)) s)"
  else
    failed=$((failed + 1))
    cat "$out"
    echo "not ok - $t ($((SECONDS - ts)) s)"
  fi
  # the Prometheus setup (workload, stuck session) ends before the tests that read the server log
  i=$((i + 1))
  if [ -n "$PROM_READY" ]; then
    rest=0
    for u in "${TESTS[@]:$i}"; do [[ $PROM_TESTS == *" $u "* ]] && rest=1; done
    [ $rest = 1 ] || prom_end
  fi
done
if [ $failed -gt 0 ]; then
  echo "# --- last lines of the server log ($SERVER_LOG)"
  tail -n 40 "$SERVER_LOG" | sed 's/^/#   /'
fi
echo "# finished after $((SECONDS - T_START)) s"
echo "monitoring: $passed passed, $failed failed"
[ $failed = 0 ]
