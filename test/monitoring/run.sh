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
#   pgbadger-default-prefix   Debian's pgbadger on the server log of aborted blocks, with
#                             PostgreSQL 15's default log_line_prefix '%m [%p] '
#   pgbadger-user-db-prefix   the same with '%t [%p]: user=%u,db=%d,app=%a,client=%h '
#
# Installs what is missing (postgresql-15 aside): prometheus-postgres-exporter pgbadger curl
# python3-yaml, and promtool alone: Debian's "prometheus" package would also install and start
# a Prometheus server (on *:9090, enabled at boot) unless a policy-rc.d forbids it, so promtool is
# taken out of the package (apt-get download + dpkg-deb) into /var/cache/txguard-monitoring.
# A promtool already on PATH, or PROMTOOL=/path/to/promtool, is used instead.
# Uses the txguard installed in /usr/lib/postgresql/15/lib (make install or the Debian package).
# Ports: PostgreSQL 127.0.0.1:55470, exporters 127.0.0.1:55472 (exporter) and 55473 (rules-live).
# KEEP=1 keeps the scratch directory (logs, reports, scrapes); VERBOSE=1 prints every test's output.
# Output: one "ok - NAME" / "not ok - NAME" line per test (failure output before it), then
# "monitoring: N passed, N failed"; the exit status is non-zero if a test failed.
set -uo pipefail
export LC_ALL=C.UTF-8

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BIN=/usr/lib/postgresql/15/bin
SO=/usr/lib/postgresql/15/lib/txguard.so
CONTROL=/usr/share/postgresql/15/extension/txguard.control
PY=/usr/bin/python3
EXPORTER=/usr/bin/prometheus-postgres-exporter
RULES=$REPO/monitoring/txguard-alerts.yml
RULE_TESTS=$REPO/monitoring/txguard-alerts.test.yml
PORT=55470
EPORT=55472
LPORT=55473
CACHE=/var/cache/txguard-monitoring
ALL_TESTS=(exporter rules-check rules-unit rules-discriminate rules-live
           pgbadger-default-prefix pgbadger-user-db-prefix)
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
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) [[ " ${ALL_TESTS[*]} " == *" $a "* ]] || die "unknown test '$a' (known: ${ALL_TESTS[*]})"
       TESTS+=("$a") ;;
  esac
done
[ ${#TESTS[@]} -gt 0 ] || TESTS=("${ALL_TESTS[@]}")

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user)"
[ -f "$SO" ] || die "$SO is missing: build and install txguard first (make && make install)"
[ -f "$CONTROL" ] || die "$CONTROL is missing: install txguard first"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user (apt-get install postgresql-15)"
for p in $PORT $EPORT $LPORT; do
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
PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
if [ -z "$PROMTOOL" ]; then
  PROMTOOL=$(ls -1d "$CACHE"/promtool-*/promtool 2>/dev/null | sort -V | tail -n 1)
fi
if [ "${#missing[@]}" -gt 0 ] || [ -z "$PROMTOOL" ]; then
  [ "$DO_APT" = 1 ] || die "missing: ${missing[*]} ${PROMTOOL:-promtool} (run without --no-apt)"
  "${APT[@]}" update </dev/null >/dev/null 2>&1 || echo "# apt-get update failed, trying anyway"
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "# installing ${missing[*]}"
    "${APT[@]}" install --no-install-recommends "${missing[@]}" </dev/null >/tmp/txguard-monitoring-apt.$$ 2>&1 ||
      { tail -n 20 /tmp/txguard-monitoring-apt.$$; rm -f /tmp/txguard-monitoring-apt.$$; die "apt-get install failed"; }
    rm -f /tmp/txguard-monitoring-apt.$$
  fi
  if [ -z "$PROMTOOL" ]; then
    ver=$(apt-cache policy prometheus 2>/dev/null | sed -n 's/^ *Candidate: //p')
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate for the Debian package prometheus (apt-get update?)"
    dl=$(mktemp -d /tmp/txguard-promtool.XXXXXX)
    chmod 0755 "$dl"; chown _apt "$dl" 2>/dev/null || true     # apt downloads as _apt
    (cd "$dl" && apt-get download -qq "prometheus=$ver" </dev/null >/dev/null 2>&1) ||
      { rm -rf "$dl"; die "apt-get download prometheus=$ver failed"; }
    install -d "$CACHE/promtool-$ver"
    dpkg-deb --fsys-tarfile "$dl"/prometheus_*.deb | tar -xO ./usr/bin/promtool >"$CACHE/promtool-$ver/promtool.tmp" &&
      chmod 0755 "$CACHE/promtool-$ver/promtool.tmp" && mv "$CACHE/promtool-$ver/promtool.tmp" "$CACHE/promtool-$ver/promtool" ||
      { rm -rf "$dl"; die "could not extract promtool from the prometheus package"; }
    rm -rf "$dl"
    PROMTOOL=$CACHE/promtool-$ver/promtool
    echo "# promtool taken out of Debian's prometheus $ver (the package itself is not installed)"
  fi
fi
"$PROMTOOL" --version >/dev/null 2>&1 || die "$PROMTOOL does not run"
for tool in "$BIN/initdb" "$BIN/pg_ctl" /usr/bin/psql /usr/bin/pgbadger "$EXPORTER" /usr/bin/curl "$PY"; do
  [ -x "$tool" ] || die "$tool not found"
done
echo "# $("$PROMTOOL" --version 2>&1 | head -n1) ($PROMTOOL); $(/usr/bin/pgbadger --version 2>&1 | head -n1);" \
  "$("$EXPORTER" --version 2>&1 | head -n1)"
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
shared_preload_libraries = 'txguard'
fsync = off
autovacuum = off            # exact transaction counts in pg_stat_database
log_checkpoints = off       # the server log holds the tests' lines only
compute_query_id = on       # query ids, as pg_stat_statements would have them
log_line_prefix = '$PREFIX_DEFAULT'
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
passed=0
failed=0
for t in "${TESTS[@]}"; do
  out=$SCRATCH/out/$t.log
  ts=$SECONDS
  rc=0
  "t_${t//-/_}" >"$out" 2>&1 </dev/null || rc=$?
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    [ "${VERBOSE:-0}" = 1 ] && cat "$out"
    echo "ok - $t ($((SECONDS - ts)) s)"
  else
    failed=$((failed + 1))
    cat "$out"
    echo "not ok - $t ($((SECONDS - ts)) s)"
  fi
done
if [ $failed -gt 0 ]; then
  echo "# --- last lines of the server log ($SERVER_LOG)"
  tail -n 40 "$SERVER_LOG" | sed 's/^/#   /'
fi
echo "# finished after $((SECONDS - T_START)) s"
echo "monitoring: $passed passed, $failed failed"
[ $failed = 0 ]
