#!/usr/bin/env bash
# txguard end-to-end client tests: real client libraries against a throwaway PostgreSQL 15
# cluster with txguard preloaded, plus PgBouncer 1.18 in transaction pooling mode.
#
#   bash test/clients/run.sh [TEST ...]      (as root; TEST: psycopg2 django psycopg3
#                                             sqlalchemy node jdbc pgbouncer exporter ordinals
#                                             jdbc-ordinals memory portals savepoints
#                                             jdbc-autosave roles queryid pipeline-timeout;
#                                             default all)
#   KEEP=1    keep the scratch dir (cluster data, logs) after the run
#   VERBOSE=1 print every test's output, not only the failing ones
#   TXG_PG_CONFIG=PATH  the pg_config of the PostgreSQL to run (default: the system's 15):
#             another install with txguard installed into it, e.g. an older txguard build in a
#             copy of /usr/lib/postgresql/15 and /usr/share/postgresql/15 under DIR ("make
#             install DESTDIR=DIR"; DIR/usr/lib/postgresql/15/bin/pg_config then names DIR's
#             directories), or an assert-enabled build (--prefix); readable by postgres
#   TXG_CLIENTS_PORT=N  first of the 4 ports used (default 55441)
#
# Needs txguard built and installed into the system PostgreSQL 15 ("make install") and the
# Debian packages postgresql-15 pgbouncer python3-psycopg python3-psycopg2 python3-django
# python3-sqlalchemy libpostgresql-jdbc-java default-jdk-headless nodejs npm
# prometheus-postgres-exporter curl postgresql-15-pgaudit.
# Ports: PostgreSQL 127.0.0.1:55441, PgBouncer 127.0.0.1:55442, postgres_exporter 127.0.0.1:55443,
# 55444 for the clusters of their own that some tests start (txg_cluster.py), one at a time.
# Output: one "ok - NAME" / "not ok - NAME" line per test (failure output before it);
# exit status is non-zero if any test failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=/usr/lib/postgresql/15/bin
SO=/usr/lib/postgresql/15/lib/txguard.so
CONTROL=/usr/share/postgresql/15/extension/txguard.control
if [ -n "${TXG_PG_CONFIG:-}" ]; then
  BIN=$("$TXG_PG_CONFIG" --bindir) && SO=$("$TXG_PG_CONFIG" --pkglibdir)/txguard.so &&
    CONTROL=$("$TXG_PG_CONFIG" --sharedir)/extension/txguard.control ||
    { echo "run.sh: $TXG_PG_CONFIG does not answer"; echo "not ok - setup"; exit 1; }
fi
PY=/usr/bin/python3
JDBC_JAR=/usr/share/java/postgresql.jar
PORT=${TXG_CLIENTS_PORT:-55441}
BPORT=$((PORT + 1))
EPORT=$((PORT + 2))
SPARE_PORT=$((PORT + 3))
EXPORTER=/usr/bin/prometheus-postgres-exporter
IDLE_ROLE=txguard_idle
IDLE_DB=txgidle
OFF_DB=txgoff
ALL_TESTS=(psycopg2 django psycopg3 sqlalchemy node jdbc pgbouncer exporter ordinals jdbc-ordinals
           memory portals savepoints jdbc-autosave roles queryid pipeline-timeout)

# Don't let the caller's libpq/python environment leak into the clients.
for v in $(compgen -e | grep -E '^(PG|PYTHON)' || true); do unset "$v"; done

die() { echo "run.sh: $*" >&2; echo "not ok - setup"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (servers are started as the postgres OS user)"
[ -f "$SO" ] || die "$SO is missing: build and install txguard first (make && make install)"
[ -f "$CONTROL" ] || die "$CONTROL is missing: run 'make install' for txguard"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user"
for tool in "$BIN/initdb" "$BIN/pg_ctl" /usr/bin/psql /usr/sbin/pgbouncer "$PY"; do
  [ -x "$tool" ] || die "$tool not found"
done

if [ $# -gt 0 ]; then
  TESTS=("$@")
  for t in "${TESTS[@]}"; do
    [[ " ${ALL_TESTS[*]} " == *" $t "* ]] || die "unknown test '$t' (known: ${ALL_TESTS[*]})"
  done
else
  TESTS=("${ALL_TESTS[@]}")
fi

for p in $PORT $BPORT $EPORT $SPARE_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p on 127.0.0.1 is already in use"
  fi
done

SCRATCH=$(mktemp -d /tmp/txguard-clients.XXXXXX)
chmod 0755 "$SCRATCH"
chown postgres:postgres "$SCRATCH"
install -d -o postgres -g postgres "$SCRATCH/sock" "$SCRATCH/pgb"
install -d "$SCRATCH/out" "$SCRATCH/java"
DATA=$SCRATCH/data
SERVER_LOG=$SCRATCH/server.log
PGB_INI=$SCRATCH/pgb/pgbouncer.ini
PGB_LOG=$SCRATCH/pgb/pgbouncer.log
PGB_PID=$SCRATCH/pgb/pgbouncer.pid

as_pg() { (cd "$SCRATCH" && runuser -u postgres -- "$@"); }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -f "$PGB_PID" ]; then
    local pid
    pid=$(cat "$PGB_PID" 2>/dev/null || true)
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  fi
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    echo "# kept $SCRATCH"
  else
    rm -rf "$SCRATCH"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
  echo "# --- last lines of the server log ($SERVER_LOG)"
  tail -n "${1:-60}" "$SERVER_LOG" 2>/dev/null | sed 's/^/#   /'
  if [ -f "$PGB_LOG" ]; then
    echo "# --- last lines of the PgBouncer log"
    tail -n 20 "$PGB_LOG" | sed 's/^/#   /'
  fi
}

setup_fail() { echo "run.sh: $*" >&2; show_logs 40; echo "not ok - setup"; exit 1; }

# ---------------------------------------------------------------- PostgreSQL 15 + txguard
as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$SCRATCH/initdb.log" 2>&1 || { cat "$SCRATCH/initdb.log"; setup_fail "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF

# txguard client tests
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SCRATCH/sock'
shared_preload_libraries = 'txguard'
max_prepared_transactions = 4
fsync = off
log_line_prefix = '%m [%p] %q%u@%d/%a '
EOF
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$SERVER_LOG" -w -t 60 start >/dev/null 2>&1 ||
  setup_fail "PostgreSQL did not start"

PSQL=(/usr/bin/psql -X -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -qAt)
"${PSQL[@]}" >"$SCRATCH/setup.log" 2>&1 <<SQL || { cat "$SCRATCH/setup.log"; setup_fail "cluster setup SQL failed"; }
CREATE EXTENSION txguard;
CREATE ROLE $IDLE_ROLE LOGIN;
-- txguard.idle_in_aborted_transaction_timeout is superuser-only: set it per role
ALTER ROLE $IDLE_ROLE SET txguard.idle_in_aborted_transaction_timeout = '500ms';
SQL
echo "# PostgreSQL $("${PSQL[@]}" -c 'SHOW server_version'), shared_preload_libraries=$("${PSQL[@]}" -c 'SHOW shared_preload_libraries'), txguard $("${PSQL[@]}" -c "SELECT extversion FROM pg_extension WHERE extname = 'txguard'") on 127.0.0.1:$PORT"

# ---------------------------------------------------------------- PgBouncer (transaction pooling)
cat >"$PGB_INI" <<EOF
[databases]
; dedicated pool with a single server connection for the idle-in-aborted timeout test
$IDLE_DB = host=127.0.0.1 port=$PORT dbname=postgres pool_size=1
; server connections of this pool run with txguard.annotate = off (control case; a SET inside
; the failing transaction would not do: core reverts it when the transaction aborts)
$OFF_DB = host=127.0.0.1 port=$PORT dbname=postgres connect_query='SET txguard.annotate = off'
* = host=127.0.0.1 port=$PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BPORT
unix_socket_dir = $SCRATCH/pgb
auth_type = trust
auth_file = $SCRATCH/pgb/userlist.txt
pool_mode = transaction
max_client_conn = 100
default_pool_size = 5
query_wait_timeout = 10
admin_users = postgres
logfile = $PGB_LOG
pidfile = $PGB_PID
EOF
printf '"postgres" ""\n"%s" ""\n' "$IDLE_ROLE" >"$SCRATCH/pgb/userlist.txt"
chown postgres:postgres "$PGB_INI" "$SCRATCH/pgb/userlist.txt"
as_pg /usr/sbin/pgbouncer -d "$PGB_INI" >"$SCRATCH/pgbouncer.start" 2>&1 ||
  { cat "$SCRATCH/pgbouncer.start"; setup_fail "PgBouncer did not start"; }
ok=0
for _ in $(seq 50); do
  if /usr/bin/psql -X -h 127.0.0.1 -p "$BPORT" -U postgres -d postgres -qAtc 'SELECT 1' >/dev/null 2>&1; then
    ok=1; break
  fi
  sleep 0.1
done
[ $ok = 1 ] || setup_fail "PgBouncer on 127.0.0.1:$BPORT does not answer"
echo "# $(/usr/sbin/pgbouncer --version | head -n1) on 127.0.0.1:$BPORT (pool_mode = transaction)"

# ---------------------------------------------------------------- tests
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
export TXG_BOUNCER_PORT=$BPORT TXG_IDLE_ROLE=$IDLE_ROLE TXG_IDLE_DB=$IDLE_DB TXG_OFF_DB=$OFF_DB
export TXG_EXPORTER_PORT=$EPORT TXG_EXPORTER=$EXPORTER
export TXG_PG_BIN=$BIN TXG_SCRATCH=$SCRATCH TXG_SPARE_PORT=$SPARE_PORT TXG_SERVER_LOG=$SERVER_LOG
export PYTHONDONTWRITEBYTECODE=1

prepare_node() {
  command -v node >/dev/null && command -v npm >/dev/null || { echo "node/npm not installed"; return 1; }
  (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error) || { echo "npm install pg failed"; return 1; }
}
prepare_jdbc() {   # $1: the test class (default TxguardJdbcTest)
  [ -f "$JDBC_JAR" ] || { echo "$JDBC_JAR missing (apt-get install libpostgresql-jdbc-java)"; return 1; }
  command -v javac >/dev/null || { echo "javac not installed"; return 1; }
  javac -d "$SCRATCH/java" -cp "$JDBC_JAR" -sourcepath "$HERE" "$HERE/${1:-TxguardJdbcTest}.java"
}
prepare_exporter() {
  [ -x "$EXPORTER" ] || { echo "$EXPORTER missing (apt-get install prometheus-postgres-exporter)"; return 1; }
  [ -x /usr/bin/curl ] || { echo "curl missing (apt-get install curl)"; return 1; }
}

command_for() {
  case $1 in
    psycopg2)   echo "$PY $HERE/test_psycopg2.py" ;;
    django)     echo "$PY $HERE/test_django.py" ;;
    psycopg3)   echo "$PY $HERE/test_psycopg3.py" ;;
    sqlalchemy) echo "$PY $HERE/test_sqlalchemy.py" ;;
    node)       echo "node $HERE/test_node.js" ;;
    jdbc)       echo "java -cp $SCRATCH/java:$JDBC_JAR TxguardJdbcTest" ;;
    pgbouncer)  echo "$PY $HERE/test_pgbouncer.py" ;;
    exporter)   echo "env TXG_RESULT_LINE=0 bash $HERE/test_exporter.sh" ;;
    ordinals)   echo "$PY $HERE/test_ordinals.py" ;;
    jdbc-ordinals) echo "java -cp $SCRATCH/java:$JDBC_JAR TxguardJdbcOrdinalsTest" ;;
    memory)     echo "$PY $HERE/test_memory.py" ;;
    portals)    echo "$PY $HERE/test_portals.py" ;;
    savepoints) echo "$PY $HERE/test_savepoints.py" ;;
    jdbc-autosave) echo "java -cp $SCRATCH/java:$JDBC_JAR TxguardJdbcAutosaveTest" ;;
    roles)      echo "$PY $HERE/test_roles.py" ;;
    queryid)    echo "$PY $HERE/test_queryid.py" ;;
    pipeline-timeout) echo "$PY $HERE/test_pipeline_timeout.py" ;;
  esac
}

passed=0
failed=0
for t in "${TESTS[@]}"; do
  out=$SCRATCH/out/$t.log
  rc=0
  {
    case $t in
      node) prepare_node ;;
      jdbc) prepare_jdbc ;;
      jdbc-ordinals) prepare_jdbc TxguardJdbcOrdinalsTest ;;
      jdbc-autosave) prepare_jdbc TxguardJdbcAutosaveTest ;;
      exporter) prepare_exporter ;;
    esac
  } >"$out" 2>&1 || rc=$?
  if [ $rc = 0 ]; then
    # shellcheck disable=SC2046
    (cd "$HERE" && timeout -k 5 180 $(command_for "$t")) >>"$out" 2>&1 || rc=$?
    [ $rc = 124 ] && echo "TIMEOUT: $t did not finish within 180 s" >>"$out"
  fi
  if [ $rc = 0 ]; then
    passed=$((passed + 1))
    [ "${VERBOSE:-0}" = 1 ] && cat "$out"
    echo "ok - $t"
  else
    failed=$((failed + 1))
    cat "$out"
    echo "not ok - $t"
  fi
done

[ $failed -gt 0 ] && show_logs 60
echo "# clients: $passed passed, $failed failed"
[ $failed = 0 ]
