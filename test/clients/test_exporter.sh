#!/usr/bin/env bash
# test_exporter.sh -- monitoring/postgres_exporter.yaml with Debian's prometheus-postgres-exporter.
#
# Makes known aborts under throwaway roles, starts the exporter with the txguard custom
# queries, reads /metrics with curl and checks every txguard series it should carry: names,
# types, labels and values.
#
#   bash test/clients/test_exporter.sh          (or through test/clients/run.sh exporter)
#
# Environment (test/clients/run.sh sets the PG* ones):
#   PGHOST PGPORT PGUSER PGDATABASE  a superuser connection to a PostgreSQL server with txguard
#                                    in shared_preload_libraries (default 127.0.0.1:55441 postgres)
#   TXG_EXPORTER_PORT                where the exporter listens, on 127.0.0.1 (default 55443)
#   TXG_EXPORTER                     the exporter binary (default /usr/bin/prometheus-postgres-exporter)
#   TXG_RESULT_LINE=0                do not print the closing "ok - exporter" / "not ok - exporter"
#                                    line (run.sh prints its own)
# Needs: prometheus-postgres-exporter, curl, psql.  As root, the exporter runs as 'postgres'.
# The server gets (and loses again) roles txg_exp*_<pid>, a table and a database of the same
# suffix; txguard's statistics keep the counters of the dropped roles (label usename="oid N").
# shellcheck disable=SC2317  # functions run from traps
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
YAML=$HERE/../../monitoring/postgres_exporter.yaml
EXPORTER=${TXG_EXPORTER:-/usr/bin/prometheus-postgres-exporter}
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-55441} PGUSER=${PGUSER:-postgres}
export PGDATABASE=${PGDATABASE:-postgres}
EPORT=${TXG_EXPORTER_PORT:-55443}
SERVER="$PGHOST:$PGPORT"           # the exporter's "server" label
URL="http://127.0.0.1:$EPORT/metrics"

N=$$
APP=txg_exp_$N                     # role that makes the aborts
IDLE=txg_expidle_$N                # role with txguard.idle_in_aborted_transaction_timeout
MON=txg_expmon_$N                  # the exporter's role: plain LOGIN, no pg_monitor
DB2=txg_exp_$N                     # second database with txguard (for --auto-discover-databases)
TBL=txg_exp_t_$N

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "  ok: $1"; }
fail() { failed=$((failed + 1)); echo "  FAIL: $1"; [ $# -lt 2 ] || echo "        shows: $2"; }
check() {  # check LABEL ACTUAL EXPECTED
  if [ "$2" = "$3" ]; then ok "$1 = $3"; else fail "$1: expected '$3'" "'$2'"; fi
}
finish() {
  echo "exporter: $passed checks passed, $failed failed"
  local rc=0
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ] || rc=1
  if [ "${TXG_RESULT_LINE:-1}" != 0 ]; then
    if [ $rc = 0 ]; then echo "ok - exporter"; else echo "not ok - exporter"; fi
  fi
  exit $rc
}
bail() { fail "$1" "${2:-}"; finish; }

PSQL=(/usr/bin/psql -X -q -At -v ON_ERROR_STOP=1)
sql() { "${PSQL[@]}" "$@"; }                     # superuser, stops at the first error
sql_as() { local r=$1; shift; /usr/bin/psql -X -q -At -U "$r" "$@"; }   # errors expected

for tool in "$EXPORTER" /usr/bin/curl /usr/bin/psql; do
  [ -x "$tool" ] || bail "$tool not found (apt-get install prometheus-postgres-exporter curl postgresql-client-15)"
done
[ -r "$YAML" ] || bail "$YAML not found"
if (exec 3<>"/dev/tcp/127.0.0.1/$EPORT") 2>/dev/null; then
  bail "port $EPORT on 127.0.0.1 is already in use (set TXG_EXPORTER_PORT)"
fi
echo "# $("$EXPORTER" --version 2>&1 | head -n1), server $SERVER, exporter on 127.0.0.1:$EPORT"

SCRATCH=$(mktemp -d /tmp/txguard-exporter.XXXXXX)
chmod 0755 "$SCRATCH"
cp "$YAML" "$SCRATCH/queries.yaml" && chmod 0644 "$SCRATCH/queries.yaml"
EXP_PID=
declare -A FIFO_FD=()

close_session() {  # close_session NAME: end the psql reading fifo NAME, wait for it
  local fd=${FIFO_FD[$1]:-}
  [ -n "$fd" ] || return 0
  exec {fd}>&-
  unset "FIFO_FD[$1]"
  wait "$(cat "$SCRATCH/$1.pid")" 2>/dev/null || true
}
drop_objects() {  # errors ignored: some objects may be gone already
  local r
  /usr/bin/psql -X -q -c "DROP DATABASE IF EXISTS $DB2 WITH (FORCE)" -c "DROP TABLE IF EXISTS $TBL" >/dev/null 2>&1
  for r in "$APP" "$IDLE" "$MON"; do
    /usr/bin/psql -X -q -c "DROP OWNED BY $r" -c "DROP ROLE $r" >/dev/null 2>&1
  done
}
cleanup() {
  local s
  for s in "${!FIFO_FD[@]}"; do close_session "$s"; done
  if [ -n "$EXP_PID" ] && kill "$EXP_PID" 2>/dev/null; then
    for _ in $(seq 50); do kill -0 "$EXP_PID" 2>/dev/null || break; sleep 0.1; done
  fi
  drop_objects
  rm -rf "$SCRATCH"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# In a background child: close the write ends of the session fifos, or the child would keep
# those sessions open after close_session.
close_fifos() {
  local fd
  for fd in "${FIFO_FD[@]}"; do exec {fd}>&-; done
}

# open_session NAME ROLE SQL: a psql session as ROLE that runs SQL and then stays open
# (reading a fifo) until close_session NAME
open_session() {
  local name=$1 role=$2 fd
  mkfifo "$SCRATCH/$name.fifo"
  ( close_fifos; exec /usr/bin/psql -X -q -At -U "$role" <"$SCRATCH/$name.fifo" >"$SCRATCH/$name.out" 2>&1 ) &
  echo $! >"$SCRATCH/$name.pid"
  exec {fd}>"$SCRATCH/$name.fifo"
  FIFO_FD[$name]=$fd
  ( trap '' PIPE; printf '%s\n' "$3" >&"$fd" ) 2>/dev/null || true
}
# wait_for SQL EXPECTED: poll a superuser query until it prints EXPECTED (10 s)
wait_for() {
  local got
  for _ in $(seq 100); do
    got=$(sql -c "$1" 2>&1)
    [ "$got" = "$2" ] && return 0
    sleep 0.1
  done
  echo "        waited 10 s for [$1] = '$2', last: '$got'"
  return 1
}

# ---------------------------------------------------------------- known aborts
T0=$(date +%s)
sql >"$SCRATCH/setup.log" 2>&1 <<SQL || { cat "$SCRATCH/setup.log"; bail "setup SQL failed"; }
CREATE EXTENSION IF NOT EXISTS txguard;
CREATE TABLE $TBL (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO $TBL VALUES (1, 1);
CREATE ROLE $APP LOGIN;
CREATE ROLE $IDLE LOGIN;
CREATE ROLE $MON LOGIN;
ALTER ROLE $IDLE SET txguard.idle_in_aborted_transaction_timeout = '300ms';
GRANT SELECT, INSERT ON $TBL TO $APP, $IDLE;
CREATE DATABASE $DB2;
\c $DB2
CREATE EXTENSION txguard;
SQL
[ "$(sql -c "SELECT count(*) FROM txguard_info() WHERE errors_visible")" = 1 ] ||
  bail "txguard_info().errors_visible is false for this server: txguard captures nothing"

# APP: two 23505 blocks with one ignored command each, one 22012 block with two
sql_as "$APP" >"$SCRATCH/app.out" 2>&1 <<SQL
BEGIN; INSERT INTO $TBL VALUES (1, 1); SELECT 1; ROLLBACK;
BEGIN; INSERT INTO $TBL VALUES (1, 1); SELECT 2; ROLLBACK;
BEGIN; SELECT 1/0; SELECT 3; SELECT 4; ROLLBACK;
SQL
n25p02=$(grep -c 'current transaction is aborted' "$SCRATCH/app.out")
check "25P02 errors seen by $APP's psql" "$n25p02" 4

# IDLE: one 23505 block left idle until the timeout terminates the session
open_session idle "$IDLE" "BEGIN; INSERT INTO $TBL VALUES (1, 1);"
wait_for "SELECT sessions_terminated FROM txguard_stats WHERE usename = '$IDLE'" 1 ||
  fail "the idle-in-aborted-transaction timeout did not terminate $IDLE's session" "$(cat "$SCRATCH/idle.out")"
close_session idle

# APP: one 23502 block that stays open (aborted, one ignored command) during the first scrape
open_session open "$APP" "BEGIN; INSERT INTO $TBL VALUES (2, NULL); SELECT 5;"
wait_for "SELECT count(*) || '/' || sum(ignored_commands) FROM txguard_aborted_sessions WHERE usename = '$APP'" 1/1 ||
  fail "$APP's open session is not listed in txguard_aborted_sessions" "$(cat "$SCRATCH/open.out")"

# ---------------------------------------------------------------- exporter
DSN="postgresql://$MON@$PGHOST:$PGPORT/$PGDATABASE?sslmode=disable"
EXP_ARGS=(--web.listen-address="127.0.0.1:$EPORT" --extend.query-path="$SCRATCH/queries.yaml"
          --disable-default-metrics --auto-discover-databases --log.level=info)
AS=()
[ "$(id -u)" = 0 ] && AS=(runuser -u postgres --)    # the exporter does not need root
( close_fifos; export DATA_SOURCE_NAME=$DSN; exec "${AS[@]}" "$EXPORTER" "${EXP_ARGS[@]}" ) >"$SCRATCH/exporter.log" 2>&1 &
EXP_PID=$!
echo "# DATA_SOURCE_NAME=$DSN $EXPORTER ${EXP_ARGS[*]}"

S=0
scrape() {  # scrape -> $SCRATCH/metrics.$S, the current one in $M
  S=$((S + 1))
  M=$SCRATCH/metrics.$S
  curl -sS -f -m 10 -o "$M" "$URL" 2>"$SCRATCH/curl.err"
}
up=0
for _ in $(seq 150); do
  if scrape && grep -qx 'pg_up 1' "$M"; then up=1; break; fi
  kill -0 "$EXP_PID" 2>/dev/null || break
  sleep 0.1
done
if [ $up = 0 ]; then
  cat "$SCRATCH/curl.err" "$SCRATCH/exporter.log" 2>/dev/null | sed 's/^/#   /'
  bail "the exporter did not serve pg_up 1 on $URL"
fi
# the first answer may predate the first database round trip: take a fresh one
scrape || bail "scrape failed" "$(cat "$SCRATCH/curl.err")"

# value NAME [LABELS]: the value of the series NAME{LABELS}; "absent" / "duplicated"
value() {
  local series=$1
  [ -n "${2:-}" ] && series="$1{$2}"
  awk -v s="$series " 'index($0, s) == 1 { n++; v = substr($0, length(s) + 1) }
    END { if (n == 0) print "absent"; else if (n > 1) print "duplicated"; else print v }' "$M"
}
L() {  # L ROLE SQLSTATE: the label set of a per-(database, role, SQLSTATE) series
  printf 'datname="%s",server="%s",sqlstate="%s",usename="%s"' "$PGDATABASE" "$SERVER" "$2" "$1"
}
num() {  # num LABEL VALUE AWK-CONDITION-ON-x
  if awk -v x="$2" "BEGIN { x += 0; exit !($3) }" 2>/dev/null && [ "$2" != absent ] && [ "$2" != duplicated ]; then
    ok "$1 = $2 ($3)"
  else
    fail "$1: expected $3" "$2"
  fi
}

echo "# scrape 1: one session of $APP is in an aborted block"
check "pg_up" "$(value pg_up)" 1
check "pg_exporter_last_scrape_error" "$(value pg_exporter_last_scrape_error)" 0
qle=$(grep -E '^pg_exporter_user_queries_load_error\{' "$M" | awk '{ print $NF }')
check "pg_exporter_user_queries_load_error" "$qle" 0
for t in txguard_stats_aborts_total:counter txguard_stats_aborted_blocks_total:counter \
         txguard_stats_ignored_commands_total:counter txguard_stats_sessions_terminated_total:counter \
         txguard_stats_last_seen_timestamp_seconds:gauge \
         txguard_aborted_sessions:gauge txguard_aborted_max_aborted_seconds:gauge \
         txguard_aborted_max_idle_seconds:gauge txguard_aborted_ignored_commands:gauge \
         txguard_history_size:gauge txguard_history_written_total:counter \
         txguard_history_overwritten_total:counter txguard_history_dropped_total:counter \
         txguard_stats_entries:gauge txguard_stats_max_entries:gauge \
         txguard_stats_dropped_total:counter txguard_stats_reset_timestamp_seconds:gauge \
         txguard_errors_visible:gauge; do
  name=${t%%:*} type=${t##*:}
  if grep -qx "# TYPE $name $type" "$M"; then ok "# TYPE $name $type"; else
    fail "# TYPE $name $type" "$(grep -E "^# TYPE $name " "$M" || echo absent)"; fi
done

# txguard_stats, per (database, role, SQLSTATE of the cause)
for spec in \
    "$APP 23505 2 2 2 0" \
    "$APP 22012 1 1 2 0" \
    "$APP 23502 1 1 0 0" \
    "$IDLE 23505 1 1 0 1"; do
  read -r role st aborts blocks ignored term <<<"$spec"
  check "txguard_stats_aborts_total{$(L "$role" "$st")}" "$(value txguard_stats_aborts_total "$(L "$role" "$st")")" "$aborts"
  check "txguard_stats_aborted_blocks_total{$(L "$role" "$st")}" "$(value txguard_stats_aborted_blocks_total "$(L "$role" "$st")")" "$blocks"
  check "txguard_stats_ignored_commands_total{$(L "$role" "$st")}" "$(value txguard_stats_ignored_commands_total "$(L "$role" "$st")")" "$ignored"
  check "txguard_stats_sessions_terminated_total{$(L "$role" "$st")}" "$(value txguard_stats_sessions_terminated_total "$(L "$role" "$st")")" "$term"
done
T1=$(date +%s)
num "txguard_stats_last_seen_timestamp_seconds{$(L "$APP" 22012)}" \
  "$(value txguard_stats_last_seen_timestamp_seconds "$(L "$APP" 22012)")" "x >= $((T0 - 5)) && x <= $((T1 + 5))"
check "series of $APP" "$(grep -c "usename=\"$APP\"" "$M")" $((3 * 5 + 4))   # 3 stats keys x 5 + 1 aborted key x 4
check "series of $IDLE" "$(grep -c "usename=\"$IDLE\"" "$M")" 5

# txguard_aborted: only the open 23502 session
check "txguard_aborted_sessions{$(L "$APP" 23502)}" "$(value txguard_aborted_sessions "$(L "$APP" 23502)")" 1
check "txguard_aborted_sessions{$(L "$APP" 23505)}" "$(value txguard_aborted_sessions "$(L "$APP" 23505)")" absent
check "txguard_aborted_ignored_commands{$(L "$APP" 23502)}" "$(value txguard_aborted_ignored_commands "$(L "$APP" 23502)")" 1
ab=$(value txguard_aborted_max_aborted_seconds "$(L "$APP" 23502)")
idle=$(value txguard_aborted_max_idle_seconds "$(L "$APP" 23502)")
num "txguard_aborted_max_aborted_seconds{$(L "$APP" 23502)}" "$ab" "x > 0 && x < 120"
num "txguard_aborted_max_idle_seconds{$(L "$APP" 23502)}" "$idle" "x > 0 && x <= $ab"

# txguard (txguard_info())
check "txguard_history_size{server}" "$(value txguard_history_size "server=\"$SERVER\"")" "$(sql -c 'SHOW txguard.history_size')"
num "txguard_history_written_total" "$(value txguard_history_written_total "server=\"$SERVER\"")" "x >= 5"
num "txguard_history_overwritten_total" "$(value txguard_history_overwritten_total "server=\"$SERVER\"")" "x >= 0"
check "txguard_history_dropped_total" "$(value txguard_history_dropped_total "server=\"$SERVER\"")" 0
num "txguard_stats_entries" "$(value txguard_stats_entries "server=\"$SERVER\"")" "x >= 4"
check "txguard_stats_max_entries" "$(value txguard_stats_max_entries "server=\"$SERVER\"")" "$(sql -c 'SELECT stats_max FROM txguard_info()')"
check "txguard_stats_dropped_total" "$(value txguard_stats_dropped_total "server=\"$SERVER\"")" 0
num "txguard_stats_reset_timestamp_seconds" "$(value txguard_stats_reset_timestamp_seconds "server=\"$SERVER\"")" "x > 1e9 && x <= $T1 + 5"
check "txguard_errors_visible" "$(value txguard_errors_visible "server=\"$SERVER\"")" 1

# ---------------------------------------------------------------- the open block ends
close_session open
wait_for "SELECT count(*) FROM txguard_aborted_sessions WHERE usename = '$APP'" 0 ||
  fail "$APP's session is still listed in txguard_aborted_sessions after disconnecting"
scrape || bail "scrape 2 failed" "$(cat "$SCRATCH/curl.err")"
echo "# scrape 2: that session disconnected"
check "txguard_aborted_sessions{$(L "$APP" 23502)}" "$(value txguard_aborted_sessions "$(L "$APP" 23502)")" absent
check "txguard_stats_ignored_commands_total{$(L "$APP" 23502)} (added at the end of the block)" \
  "$(value txguard_stats_ignored_commands_total "$(L "$APP" 23502)")" 1
check "txguard_stats_aborts_total{$(L "$APP" 23505)}" "$(value txguard_stats_aborts_total "$(L "$APP" 23505)")" 2

# ---------------------------------------------------------------- dropped role
app_oid=$(sql -c "SELECT oid FROM pg_roles WHERE rolname = '$APP'")
sql -c "DROP OWNED BY $APP" -c "DROP ROLE $APP" || fail "DROP ROLE $APP failed"
scrape || bail "scrape 3 failed" "$(cat "$SCRATCH/curl.err")"
echo "# scrape 3: role $APP dropped"
check "txguard_stats_aborts_total{$(L "oid $app_oid" 23505)}" "$(value txguard_stats_aborts_total "$(L "oid $app_oid" 23505)")" 2
check "txguard_stats_aborts_total{$(L "$APP" 23505)}" "$(value txguard_stats_aborts_total "$(L "$APP" 23505)")" absent
check "pg_exporter_last_scrape_error" "$(value pg_exporter_last_scrape_error)" 0

errs=$(grep -E 'level=(error|warn)' "$SCRATCH/exporter.log")
if [ -z "$errs" ]; then ok "no error or warning in the exporter's log"; else fail "the exporter logged errors" "$errs"; fi
if [ "$failed" -gt 0 ]; then
  echo "# --- exporter log"; sed 's/^/#   /' "$SCRATCH/exporter.log"
  echo "# --- txguard lines of the last scrape"; grep -E '^txguard_' "$M" | sed 's/^/#   /'
fi
finish
