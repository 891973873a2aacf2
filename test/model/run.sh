#!/usr/bin/env bash
# txguard randomized reference-model test: CI entry (see test/model/README.md).
#
#   bash test/model/run.sh [--duration SECONDS] [--seed N] [--scripts N] [--config A|B|AB]
#                          [--bindir DIR] [--keep] [-- run.py options]
#
#   --duration S   seconds of random scripts in all (default 50: about 65 s with
#                  shrinking and the restart between the configurations)
#   --seed N       seed of the first script (default 20261203, or $TXM_SEED); the
#                  second configuration starts at seed N + 5000000
#   --scripts N    a fixed number of scripts (per configuration) instead of a duration
#   --config C     A, B, or AB (default: both, one after the other, half the time each):
#                    A  shared_preload_libraries = 'pg_stat_statements,txguard',
#                       max_prepared_transactions = 20, txguard.log_aborts = all
#                    B  shared_preload_libraries = 'txguard,pg_stat_statements',
#                       max_prepared_transactions = 0 (PREPARE TRANSACTION fails at
#                       commit), txguard.log_aborts = problems with
#                       txguard.log_aborts_min_duration = 150,
#                       txguard.max_statement_length = 200
#   --bindir DIR   the PostgreSQL 15 binaries whose lib holds txguard (default
#                  $TXM_BINDIR, else the bindir of $TXG_PG_CONFIG, else
#                  /usr/lib/postgresql/15/bin): a private install or an
#                  assert-enabled build works the same
#   --valgrind     start the server under valgrind memcheck (--trace-children=yes,
#                  PostgreSQL's suppressions from $TXM_VALGRIND_SUPP, no
#                  MALLOC_PERTURB_); the time scale of generated timeouts grows
#                  to 20; at the end, vgreport.py counts the errors with a
#                  txguard frame ("not ok - model valgrind" if any)
#   --keep         keep the scratch dir (cluster, server log, mismatching scripts)
#
# $TXM_STATS_RULE (default all): which aborts txguard_stats counts, run.py
# --stats-rule: 'all' (1.2, issue 22: every failing top-level statement unless
# txguard.track = none) or 'track' (1.1: what the history keeps).
#
# Runs as root: creates a throwaway cluster as the 'postgres' OS user (port
# $TXM_PORT, default 55460), runs test/model/run.py against it in each
# configuration, stops it.  The server runs with MALLOC_PERTURB_ set, so that
# glibc fills freed memory (a release build then shows a text read after it was
# freed as garbage; an assert-enabled build poisons its own freed memory).
# Output: one "ok - model ..." or "not ok - model ..." line per configuration
# (and "not ok - model setup" if the cluster could not be made); exit status 0
# only without a mismatch.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# which PostgreSQL installation: --bindir, else $TXM_BINDIR, else the bindir of
# the pg_config $TXG_PG_CONFIG names (test/compat/run.sh uses that for an
# assert-enabled build), else the system's 15
if [ -n "${TXM_BINDIR:-}" ]; then
  BIN=$TXM_BINDIR
elif [ -n "${TXG_PG_CONFIG:-}" ]; then
  [ -x "$TXG_PG_CONFIG" ] || { echo "run.sh: $TXG_PG_CONFIG not found"; echo "not ok - model setup ($TXG_PG_CONFIG not found)"; exit 1; }
  BIN=$("$TXG_PG_CONFIG" --bindir)
else
  BIN=/usr/lib/postgresql/15/bin
fi
PY=/usr/bin/python3
PORT=${TXM_PORT:-55460}
DURATION=50 SEED=${TXM_SEED:-20261203} SCRIPTS="" KEEP=${KEEP:-0} CONFIGS=AB VALGRIND=0
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --duration) DURATION=${2:?}; shift ;;
    --duration=*) DURATION=${1#*=} ;;
    --seed) SEED=${2:?}; shift ;;
    --seed=*) SEED=${1#*=} ;;
    --scripts) SCRIPTS=${2:?}; shift ;;
    --scripts=*) SCRIPTS=${1#*=} ;;
    --config) CONFIGS=${2:?}; shift ;;
    --config=*) CONFIGS=${1#*=} ;;
    --bindir) BIN=${2:?}; shift ;;
    --bindir=*) BIN=${1#*=} ;;
    --valgrind) VALGRIND=1 ;;
    --keep) KEEP=1 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

for v in $(compgen -e | grep -E '^(PG|PYTHON)' || true); do unset "$v"; done

die() { echo "run.sh: $*" >&2; echo "not ok - model setup ($*)"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (the cluster runs as the postgres OS user)"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user"
for tool in "$BIN/initdb" "$BIN/pg_ctl" "$BIN/postgres" "$BIN/pg_config" "$PY"; do
  [ -x "$tool" ] || die "$tool not found"
done
PKGLIB=$("$BIN/pg_config" --pkglibdir)
SHARE=$("$BIN/pg_config" --sharedir)
[ -f "$PKGLIB/txguard.so" ] || die "$PKGLIB/txguard.so is missing: install txguard first"
[ -f "$SHARE/extension/txguard.control" ] || die "$SHARE/extension/txguard.control is missing"
[ -f "$PKGLIB/pg_stat_statements.so" ] || die "$PKGLIB/pg_stat_statements.so is missing"
case $CONFIGS in A|B|AB|BA) ;; *) die "--config must be A, B or AB" ;; esac
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
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 120 stop >/dev/null 2>&1 ||
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
cp "$DATA/postgresql.conf" "$SCRATCH/postgresql.conf.base"

# configure <A|B>: the base settings and the configuration's own
configure() {
  cp "$SCRATCH/postgresql.conf.base" "$DATA/postgresql.conf"
  cat >>"$DATA/postgresql.conf" <<EOF

# txguard reference-model test, configuration $1
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$SCRATCH/sock'
fsync = off
synchronous_commit = off
full_page_writes = off
autovacuum = off
log_min_messages = warning
log_min_error_statement = panic
log_line_prefix = '%m [%p] '
EOF
  if [ "$1" = A ]; then
    cat >>"$DATA/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_stat_statements,txguard'
max_prepared_transactions = 20
txguard.log_aborts = all
EOF
  else
    cat >>"$DATA/postgresql.conf" <<EOF
shared_preload_libraries = 'txguard,pg_stat_statements'
max_prepared_transactions = 0
txguard.log_aborts = problems
txguard.log_aborts_min_duration = 150
txguard.max_statement_length = 200
EOF
  fi
}

start_cluster() {
  local pre=()
  if [ "$VALGRIND" = 1 ]; then
    # pg_ctl starts "postgres" from its own directory: a wrapper there is not
    # possible without touching the install, so the postmaster is started by hand
    as_pg valgrind --quiet --trace-children=yes --track-origins=yes --fullpath-after= \
      --read-var-info=yes --num-callers=30 --error-exitcode=0 \
      ${TXM_VALGRIND_SUPP:+--suppressions=$TXM_VALGRIND_SUPP} --log-file="$SCRATCH/valgrind.%p.log" \
      "$BIN/postgres" -D "$DATA" >>"$LOG" 2>&1 &
    for _ in $(seq 600); do
      as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1 &&
        [ -S "$SCRATCH/sock/.s.PGSQL.$PORT" ] && "$PY" -c "
import sys; sys.path.insert(0, '$HERE'); import pgproto
pgproto.Conn(port=$PORT, unix_socket_dir='$SCRATCH/sock').close()" 2>/dev/null && return 0
      sleep 0.5
    done
    return 1
  fi
  as_pg env MALLOC_PERTURB_=165 "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 120 start >/dev/null 2>&1
}

rc=0
n=0
NCONF=${#CONFIGS}
for conf in $(echo "$CONFIGS" | fold -w1); do
  n=$((n + 1))
  stop_cluster
  configure "$conf"
  start_cluster || { tail -n 30 "$LOG"; die "PostgreSQL did not start (configuration $conf)"; }
  echo "# configuration $conf: cluster $DATA on 127.0.0.1:$PORT (socket $SCRATCH/sock), log $LOG; server $BIN/postgres ($("$BIN/postgres" --version))"
  cseed=$SEED
  [ "$conf" = B ] && cseed=$((SEED + 5000000))
  ARGS=(--port "$PORT" --socket-dir "$SCRATCH/sock" --seed "$cseed" --out "$SCRATCH/mismatches-$conf"
        --tap --tap-name "model $conf" --shrink-max 6 --shrink-budget 6 --server-log "$LOG"
        --stats-rule "${TXM_STATS_RULE:-all}"
        --errcodes "$SHARE/errcodes.txt")
  [ "$VALGRIND" = 1 ] && ARGS+=(--time-scale 20 --timeout 300)
  if [ -n "$SCRIPTS" ]; then
    ARGS+=(--scripts "$SCRIPTS")
  else
    # shrinking (after the run) stops when it has taken about the share + 6 s
    share=$((DURATION / NCONF))
    ARGS+=(--duration "$share" --shrink-deadline "$((share + 6))")
  fi
  echo "# $PY $HERE/run.py ${ARGS[*]} ${EXTRA[*]}"
  "$PY" "$HERE/run.py" "${ARGS[@]}" "${EXTRA[@]}"
  r=$?
  if [ "$r" -ne 0 ] && [ "$r" -ne 1 ]; then
    echo "not ok - model $conf: run.py exited with status $r"
  fi
  [ "$r" -ne 0 ] && rc=1
  if grep -q 'terminated by signal' "$LOG"; then
    echo "# the server log reports a crashed backend:"
    grep -a 'terminated by signal' "$LOG" | cut -c1-200 | head -5
  fi
done
stop_cluster
if [ "$VALGRIND" = 1 ]; then
  "$PY" "$HERE/vgreport.py" "$SCRATCH" --show 5 || {
    echo "not ok - model valgrind: errors in txguard frames (logs in $SCRATCH)"; rc=1; }
fi
exit "$rc"
