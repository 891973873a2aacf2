#!/usr/bin/env bash
# txguard randomized reference-model test: CI entry (see test/model/README.md).
#
#   bash test/model/run.sh [--duration SECONDS] [--seed N] [--scripts N] [--keep] [-- run.py options]
#
#   --duration S   seconds of random scripts (default 50: about 65 s in all, shrinking included)
#   --seed N       seed of the first script (default 20261203, or $TXM_SEED)
#   --scripts N    a fixed number of scripts instead of a duration
#   --keep         keep the scratch dir (cluster, server log, mismatching scripts)
#
# Runs as root, with txguard already installed into the PostgreSQL under test
# (it does not build or install anything): the system's PostgreSQL 15, or the
# installation whose pg_config $TXG_PG_CONFIG names (test/compat/run.sh uses
# that for an assert-enabled build).  Creates a throwaway cluster as the
# 'postgres' OS user (port $TXM_PORT, default 55460; txguard preloaded,
# max_prepared_transactions = 10), runs test/model/run.py against it, stops it.
# Output: "ok - model: ..." or "not ok - model: ..." (and "not ok - model setup"
# if the cluster could not be made); exit status 0 only without a mismatch.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# which PostgreSQL installation: its pg_config (default: the system's 15)
PGC=${TXG_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PGC" ] || { echo "run.sh: $PGC not found"; echo "not ok - model setup ($PGC not found)"; exit 1; }
BIN=$("$PGC" --bindir)
SO=$("$PGC" --pkglibdir)/txguard.so
CONTROL=$("$PGC" --sharedir)/extension/txguard.control
PY=/usr/bin/python3
PORT=${TXM_PORT:-55460}
DURATION=50 SEED=${TXM_SEED:-20261203} SCRIPTS="" KEEP=${KEEP:-0}
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=${2:?}; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    --seed) SEED=${2:?}; shift ;;
    --seed=*) SEED=${1#*=} ;;
    --scripts) SCRIPTS=${2:?}; shift ;;
    --scripts=*) SCRIPTS=${1#*=} ;;
    --keep) KEEP=1 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

for v in $(compgen -e | grep -E '^(PG|PYTHON)' || true); do unset "$v"; done

die() { echo "run.sh: $*" >&2; echo "not ok - model setup ($*)"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user)"
[ -f "$SO" ] || die "$SO is missing: install txguard first"
[ -f "$CONTROL" ] || die "$CONTROL is missing: install txguard first"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user"
for tool in "$BIN/initdb" "$BIN/pg_ctl" "$PY"; do [ -x "$tool" ] || die "$tool not found"; done
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "port $PORT on 127.0.0.1 is already in use"; fi

SCRATCH=$(mktemp -d /tmp/txguard-model.XXXXXX)
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
    echo "# scratch dir kept: $SCRATCH (server.log, mismatches/)"
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

# txguard reference-model test
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SCRATCH/sock'
shared_preload_libraries = 'txguard'
max_prepared_transactions = 10
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
log_min_messages = warning
log_min_error_statement = panic
log_line_prefix = '%m [%p] '
EOF
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null 2>&1 ||
  { tail -n 30 "$LOG"; die "PostgreSQL did not start"; }
echo "# cluster: $DATA on 127.0.0.1:$PORT (socket $SCRATCH/sock), log $LOG; server $BIN/postgres ($("$BIN/postgres" --version))"

ARGS=(--port "$PORT" --socket-dir "$SCRATCH/sock" --seed "$SEED" --out "$SCRATCH/mismatches"
      --tap --shrink-max 6 --shrink-budget 6)
if [ -n "$SCRIPTS" ]; then
  ARGS+=(--scripts "$SCRIPTS")
else
  # shrinking (after the run) stops when it has taken about DURATION + 12 s
  ARGS+=(--duration "$DURATION" --shrink-deadline "$((DURATION + 12))")
fi
echo "# $PY $HERE/run.py ${ARGS[*]} ${EXTRA[*]}"
"$PY" "$HERE/run.py" "${ARGS[@]}" "${EXTRA[@]}"
rc=$?
stop_cluster
if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
  echo "not ok - model: run.py exited with status $rc"
fi
exit "$rc"
