#!/usr/bin/env bash
# txguard seeded chaos test (issue 8): many concurrent clients causing aborts of every kind,
# with terminations, idle-in-aborted timeouts, disconnects, txguard_reset() and at least one
# SIGKILL of a backend (crash restart), checking txguard's statistics and history against an
# exact client-side ledger at every phase boundary.
#
#   bash test/stress/run.sh [--ci] [--duration SECONDS] [--seed N] [--clients N] [--keep]
#
#   --ci            a CI-length run (about 60 s of chaos)
#   --duration S    seconds of chaos (default 120; --ci sets 60)
#   --seed N        seed of every client's operation sequence (default: chosen and printed)
#   --clients N     client threads (default 16)
#   --keep          keep the scratch dir (cluster, server log, ledger dump)
#   --skip-known-bugs  leave out the scenarios of two fixed txguard bugs (see chaos.py --help)
#
# Runs as root: a throwaway cluster is created and run as the 'postgres' OS user on
# 127.0.0.1:55520 (txguard preloaded, txguard.track = all). Needs txguard built and installed
# ("make install") and /usr/bin/python3 with Debian's python3-psycopg.
# Environment: TXG_STRESS_PORT (default 55520), TXG_STRESS_HISTORY_SIZE (txguard.history_size,
# default 30000; a small value exercises the overwritten-history path of the checks).
# Output: one "ok - ..." / "not ok - ..." line per check, then the summary, then
# "stress: N passed, M failed". Exit status 0 only if every check passed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=/usr/lib/postgresql/15/bin
SO=/usr/lib/postgresql/15/lib/txguard.so
CONTROL=/usr/share/postgresql/15/extension/txguard.control
PY=/usr/bin/python3
PORT=${TXG_STRESS_PORT:-55520}

DURATION="" SEED="" CLIENTS=16 KEEP=${KEEP:-0} EXTRA=() CI=0
while [ $# -gt 0 ]; do
  case $1 in
    --ci) CI=1 ;;
    --duration) DURATION=${2:?}; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    --seed) SEED=${2:?}; shift ;;
    --seed=*) SEED=${1#*=} ;;
    --clients) CLIENTS=${2:?}; shift ;;
    --clients=*) CLIENTS=${1#*=} ;;
    --keep) KEEP=1 ;;
    --skip-known-bugs) EXTRA+=(--skip-known-bugs) ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$DURATION" ] || { [ "$CI" = 1 ] && DURATION=60 || DURATION=120; }
[ -n "$SEED" ] || SEED=$(( $(date +%s) % 1000000 ))

# Don't let the caller's libpq/python environment leak in.
for v in $(compgen -e | grep -E '^(PG|PYTHON)' || true); do unset "$v"; done

die() { echo "run.sh: $*" >&2; echo "not ok - stress setup"; echo "stress: 0 passed, 1 failed"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user, backends are SIGKILLed)"
[ -f "$SO" ] || die "$SO is missing: build and install txguard first (make && make install)"
[ -f "$CONTROL" ] || die "$CONTROL is missing: run 'make install' for txguard"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user"
for tool in "$BIN/initdb" "$BIN/pg_ctl" "$PY"; do [ -x "$tool" ] || die "$tool not found"; done
"$PY" -c 'import psycopg' 2>/dev/null || die "$PY cannot import psycopg (apt-get install python3-psycopg)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "port $PORT on 127.0.0.1 is already in use"; fi

SCRATCH=$(mktemp -d /tmp/txguard-stress.XXXXXX)
chmod 0755 "$SCRATCH"
chown postgres:postgres "$SCRATCH"
install -d -o postgres -g postgres "$SCRATCH/sock"
DATA=$SCRATCH/data
LOG=$SCRATCH/server.log

as_pg() { (cd "$SCRATCH" && runuser -u postgres -- "$@"); }

stop_cluster() {
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 ||
      as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_cluster
  if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then
    echo "# scratch dir kept: $SCRATCH (server.log, ledger.json)"
  else
    rm -rf "$SCRATCH"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$SCRATCH/initdb.log" 2>&1 || { cat "$SCRATCH/initdb.log"; die "initdb failed"; }
cat >>"$DATA/postgresql.conf" <<EOF

# txguard stress test
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SCRATCH/sock'
max_connections = 120
shared_preload_libraries = 'txguard'
txguard.track = all
txguard.history_size = ${TXG_STRESS_HISTORY_SIZE:-30000}
txguard.max_statement_length = 256
max_prepared_transactions = 40
deadlock_timeout = '50ms'
restart_after_crash = on
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = '64MB'
autovacuum_naptime = '5s'
log_line_prefix = '%m [%p] %q%u@%d/%a '
log_min_messages = warning
log_min_error_statement = panic
EOF
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1 ||
  { tail -n 30 "$LOG"; die "PostgreSQL did not start"; }
echo "# cluster: $DATA on 127.0.0.1:$PORT, log $LOG; seed $SEED, $DURATION s, $CLIENTS clients"

"$PY" "$HERE/chaos.py" --port "$PORT" --seed "$SEED" --duration "$DURATION" --clients "$CLIENTS" \
  --log "$LOG" --data "$DATA" --summary "$SCRATCH/summary.txt" --counts "$SCRATCH/counts.txt" \
  --dump "$SCRATCH/ledger.json" "${EXTRA[@]}"
chaos_rc=$?

stop_cluster
P=0 F=0
[ -f "$SCRATCH/counts.txt" ] && read -r P F <"$SCRATCH/counts.txt"
# The shutdown must be clean too: no PANIC, no crash after the last phase's check.
if grep -q 'database system is shut down' "$LOG" &&
   ! sed -n '/txguard-stress: final check done/,$p' "$LOG" | grep -qE 'PANIC|terminated by signal|was terminated by exception'; then
  echo "ok - clean shutdown (no PANIC or crash after the last check)"; P=$((P + 1))
else
  echo "not ok - clean shutdown (no PANIC or crash after the last check)"; F=$((F + 1))
  tail -n 30 "$LOG" | sed 's/^/#   /'
fi
[ "$chaos_rc" -ne 0 ] && [ "$F" -eq 0 ] && { echo "not ok - chaos.py exited with status $chaos_rc"; F=$((F + 1)); }

echo
[ -f "$SCRATCH/summary.txt" ] && cat "$SCRATCH/summary.txt"
echo "stress: $P passed, $F failed"
[ "$F" -eq 0 ] && [ "$P" -gt 0 ]
