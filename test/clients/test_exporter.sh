#!/usr/bin/env bash
# test_exporter.sh -- monitoring/postgres_exporter.yaml with Debian's prometheus-postgres-exporter.
#
# Makes known aborts under throwaway roles and databases, starts the exporter with the txguard
# custom queries (and its default metrics, for pg_stat_database), reads /metrics with curl and
# checks every txguard series it should carry: names, types, labels and values, each value
# following from what the test did: per (database, role, SQLSTATE), per condition, the top 20
# statements (query ids from EXPLAIN VERBOSE), per database next to pg_stat_database's
# transactions (the error-abort rate), and the sessions now in an aborted block.
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
# The server gets (and loses again) roles txg_exp*_<pid>, a table and two databases of the same
# suffix; txguard's statistics keep the counters of the dropped roles and databases (labels
# usename="oid N", datname="oid N").  Other data already on the server does not disturb the
# checks: the per-condition, per-statement and per-database ones look at the test's own databases.
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
MON=txg_expmon_$N                  # the exporter's role: LOGIN with pg_monitor (query ids of
                                   # other roles' rows need pg_read_all_stats)
DB2=txg_exp_$N                     # second database with txguard (for --auto-discover-databases);
                                   # its aborts are this test's only: conditions, statements
RATE=txg_exprate_$N                # database for the error-abort rate; the exporter never connects
                                   # to it (--exclude-databases), so its transactions are the test's
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
  /usr/bin/psql -X -q -c "DROP DATABASE IF EXISTS $DB2 WITH (FORCE)" -c "DROP DATABASE IF EXISTS $RATE WITH (FORCE)" \
    -c "DROP TABLE IF EXISTS $TBL" >/dev/null 2>&1
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

# open_session NAME ROLE SQL [DATABASE]: a psql session as ROLE that runs SQL and then stays
# open (reading a fifo) until close_session NAME
open_session() {
  local name=$1 role=$2 db=${4:-$PGDATABASE} fd
  mkfifo "$SCRATCH/$name.fifo"
  ( close_fifos; exec /usr/bin/psql -X -q -At -U "$role" -d "$db" <"$SCRATCH/$name.fifo" >"$SCRATCH/$name.out" 2>&1 ) &
  echo $! >"$SCRATCH/$name.pid"
  exec {fd}>"$SCRATCH/$name.fifo"
  FIFO_FD[$name]=$fd
  ( trap '' PIPE; printf '%s\n' "$3" >&"$fd" ) 2>/dev/null || true
}
# wait_for SQL EXPECTED: poll a superuser query until it prints EXPECTED; the 60 s
# deadline only says "it happens" (a 300 ms timer), however loaded the machine
wait_for() {
  local got end=$((SECONDS + 60))
  while :; do
    got=$(sql -c "$1" 2>&1)
    [ "$got" = "$2" ] && return 0
    [ "$SECONDS" -lt "$end" ] || break
    sleep 0.1
  done
  echo "        waited 60 s for [$1] = '$2', last: '$got'"
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
GRANT pg_monitor TO $MON;
ALTER ROLE $IDLE SET txguard.idle_in_aborted_transaction_timeout = '300ms';
-- query ids, as pg_stat_statements would have them computed (txguard_statement_stats)
ALTER ROLE $APP SET compute_query_id = on;
ALTER ROLE $IDLE SET compute_query_id = on;
GRANT SELECT, INSERT ON $TBL TO $APP, $IDLE;
CREATE DATABASE $RATE;
CREATE DATABASE $DB2;
\c $DB2
CREATE EXTENSION txguard;
CREATE TABLE $TBL (id int PRIMARY KEY, v int NOT NULL);
INSERT INTO $TBL VALUES (1, 1);
GRANT SELECT, INSERT ON $TBL TO $APP, $IDLE;
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

# DB2, the test's own database: aborts per condition and per statement.
#   unique_violation       25 blocks of one INSERT (1 ignored command each) + IDLE's below
#   division_by_zero       22 blocks, each of a different statement (22 query ids), none ignored
#   serialization_failure  2 blocks (retryable), 1 ignored command each
#   ZX001                  1 block: a SQLSTATE the server does not know (condition = the code)
#   not_null_violation     1 block left open below (1 ignored command, added when it ends)
# With the 23505 INSERT, DB2 has 26 statement keys: more than the 20 the exporter exports.
DIV0='SELECT 1/(random()*0)::int'   # fails when executed, not when planned
{
  for _ in $(seq 25); do echo "BEGIN; INSERT INTO $TBL VALUES (1, 1); SELECT 1; ROLLBACK;"; done
  plus=
  for _ in $(seq 22); do echo "BEGIN; $DIV0$plus; ROLLBACK;"; plus="$plus + 1"; done
  for _ in 1 2; do
    echo "BEGIN; DO \$\$BEGIN RAISE EXCEPTION 'retry me' USING ERRCODE = 'serialization_failure'; END\$\$; SELECT 1; ROLLBACK;"
  done
  echo "BEGIN; DO \$\$BEGIN RAISE EXCEPTION 'custom' USING ERRCODE = 'ZX001'; END\$\$; ROLLBACK;"
} | sql_as "$APP" -d "$DB2" >"$SCRATCH/db2.out" 2>&1
check "unique violations seen by $APP's psql in $DB2" "$(grep -c 'ERROR:  duplicate key value' "$SCRATCH/db2.out")" 25
check "divisions by zero seen by $APP's psql in $DB2" "$(grep -c 'ERROR:  division by zero' "$SCRATCH/db2.out")" 22
check "25P02 errors seen by $APP's psql in $DB2" "$(grep -c 'current transaction is aborted' "$SCRATCH/db2.out")" 27

# IDLE in DB2: the same INSERT, left idle until the timeout terminates the session
open_session idle2 "$IDLE" "BEGIN; INSERT INTO $TBL VALUES (1, 1);" "$DB2"
wait_for "SELECT sessions_terminated FROM txguard_database_stats WHERE datname = '$DB2'" 1 ||
  fail "the idle-in-aborted-transaction timeout did not terminate $IDLE's session in $DB2" "$(cat "$SCRATCH/idle2.out")"
close_session idle2

# RATE: one session (1 start-up transaction) with C=7 commits, V=3 voluntary rollbacks,
# K1=2 blocks aborted by an error (1 ignored command each), K2=1 failed autocommit statement,
# S=2 savepoints aborted by an error and rolled back to, their transactions committed:
#   txguard error_aborts = K1+K2 = 3, savepoint_error_aborts = S = 2, aborted_blocks = K1+S = 4
#   pg_stat_database xact_rollback = V+K1+K2 = 6, xact_commit = 1+C+S = 10
{
  for _ in $(seq 7); do echo "SELECT 1;"; done
  for _ in $(seq 3); do echo "BEGIN; SELECT 1; ROLLBACK;"; done
  for _ in $(seq 2); do echo "BEGIN; $DIV0; SELECT 1; ROLLBACK;"; done
  echo "$DIV0;"
  for _ in $(seq 2); do echo "BEGIN; SAVEPOINT s; $DIV0; ROLLBACK TO SAVEPOINT s; COMMIT;"; done
} | sql_as "$APP" -d "$RATE" >"$SCRATCH/rate.out" 2>&1
check "divisions by zero seen by $APP's psql in $RATE" "$(grep -c 'ERROR:  division by zero' "$SCRATCH/rate.out")" 5
# the session's statistics reach pg_stat_database when its backend exits
wait_for "SELECT xact_rollback FROM pg_stat_database WHERE datname = '$RATE'" 6 ||
  fail "pg_stat_database.xact_rollback of $RATE did not reach 6"

# APP: one 23502 block that stays open (aborted, one ignored command) during the first scrape
open_session open "$APP" "BEGIN; INSERT INTO $TBL VALUES (2, NULL); SELECT 5;"
wait_for "SELECT count(*) || '/' || sum(ignored_commands) FROM txguard_aborted_sessions WHERE usename = '$APP'" 1/1 ||
  fail "$APP's open session is not listed in txguard_aborted_sessions" "$(cat "$SCRATCH/open.out")"
# ... and one in DB2 (the per-database gauge of sessions in an aborted block)
open_session open2 "$APP" "BEGIN; INSERT INTO $TBL VALUES (2, NULL); SELECT 6;" "$DB2"
wait_for "SELECT count(*) || '/' || sum(ignored_commands) FROM txguard_aborted_sessions WHERE datname = '$DB2'" 1/1 ||
  fail "$APP's open session in $DB2 is not listed in txguard_aborted_sessions" "$(cat "$SCRATCH/open2.out")"

# ---------------------------------------------------------------- exporter
DSN="postgresql://$MON@$PGHOST:$PGPORT/$PGDATABASE?sslmode=disable"
# default metrics on: pg_stat_database_xact_commit/_rollback are the error-abort rate's denominator
EXP_ARGS=(--web.listen-address="127.0.0.1:$EPORT" --extend.query-path="$SCRATCH/queries.yaml"
          --auto-discover-databases --exclude-databases="$RATE" --log.level=info)
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
         txguard_errors_visible:gauge \
         txguard_statements_entries:gauge txguard_statements_max_entries:gauge \
         txguard_statements_evicted_total:counter txguard_databases_dropped_total:counter \
         txguard_restored_timestamp_seconds:gauge \
         txguard_condition_aborts_total:counter txguard_condition_aborted_blocks_total:counter \
         txguard_condition_ignored_commands_total:counter txguard_condition_sessions_terminated_total:counter \
         txguard_statement_aborts_total:counter txguard_statement_aborted_blocks_total:counter \
         txguard_statement_ignored_commands_total:counter txguard_statement_sessions_terminated_total:counter \
         txguard_statement_last_seen_timestamp_seconds:gauge \
         txguard_database_error_aborts_total:counter txguard_database_savepoint_error_aborts_total:counter \
         txguard_database_aborted_blocks_total:counter txguard_database_ignored_commands_total:counter \
         txguard_database_sessions_terminated_total:counter txguard_database_last_error_timestamp_seconds:gauge \
         txguard_stuck_sessions:gauge txguard_stuck_max_idle_seconds:gauge txguard_stuck_max_aborted_seconds:gauge \
         pg_stat_database_xact_commit:counter pg_stat_database_xact_rollback:counter; do
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
# (in $PGDATABASE: both roles also aborted in $DB2)
check "series of $APP in $PGDATABASE" "$(grep "usename=\"$APP\"" "$M" | grep -c "datname=\"$PGDATABASE\"")" $((3 * 5 + 4))   # 3 stats keys x 5 + 1 aborted key x 4
check "series of $IDLE in $PGDATABASE" "$(grep "usename=\"$IDLE\"" "$M" | grep -c "datname=\"$PGDATABASE\"")" 5

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
check "txguard_statements_max_entries" "$(value txguard_statements_max_entries "server=\"$SERVER\"")" "$(sql -c 'SELECT statements_max FROM txguard_info()')"
num "txguard_statements_entries" "$(value txguard_statements_entries "server=\"$SERVER\"")" "x >= 26"
check "txguard_databases_dropped_total" "$(value txguard_databases_dropped_total "server=\"$SERVER\"")" 0

# txguard_condition, per (database, condition), in DB2: every abort there is this test's
LC() {  # LC CONDITION SQLSTATE CLASS RETRYABLE: the label set of a DB2 condition series
  printf 'condition="%s",datname="%s",error_class="%s",retryable="%s",server="%s",sqlstate="%s"' \
    "$1" "$DB2" "$3" "$4" "$SERVER" "$2"
}
# condition sqlstate class retryable aborts blocks ignored terminated
# (unique_violation: 25 blocks of APP + IDLE's terminated one, summed over the roles)
for spec in \
    "unique_violation 23505 23 false 26 26 25 1" \
    "division_by_zero 22012 22 false 22 22 0 0" \
    "serialization_failure 40001 40 true 2 2 2 0" \
    "ZX001 ZX001 ZX false 1 1 0 0" \
    "not_null_violation 23502 23 false 1 1 0 0"; do
  read -r cond st cls retry aborts blocks ignored term <<<"$spec"
  lc=$(LC "$cond" "$st" "$cls" "$retry")
  check "txguard_condition_aborts_total{$lc}" "$(value txguard_condition_aborts_total "$lc")" "$aborts"
  check "txguard_condition_aborted_blocks_total{$lc}" "$(value txguard_condition_aborted_blocks_total "$lc")" "$blocks"
  check "txguard_condition_ignored_commands_total{$lc}" "$(value txguard_condition_ignored_commands_total "$lc")" "$ignored"
  check "txguard_condition_sessions_terminated_total{$lc}" "$(value txguard_condition_sessions_terminated_total "$lc")" "$term"
done
check "txguard_condition series of $DB2 (5 conditions x 4)" "$(grep -c "^txguard_condition_.*datname=\"$DB2\"" "$M")" 20

# txguard_database next to pg_stat_database (error-abort rate = error_aborts / (commit + rollback))
LD() { printf 'datname="%s",server="%s"' "$1" "$SERVER"; }
# database error_aborts savepoint_error_aborts aborted_blocks ignored terminated
#   DB2: 26 + 22 + 2 + 1 + 1 error aborts, all in blocks; the open 23502 block's ignored command
#   is added when it ends; RATE: see above; template1: no error ever, its series is there at 0
for spec in "$DB2 52 0 52 27 1" "$RATE 3 2 4 2 0" "template1 0 0 0 0 0"; do
  read -r db err sperr blocks ignored term <<<"$spec"
  check "txguard_database_error_aborts_total{$(LD "$db")}" "$(value txguard_database_error_aborts_total "$(LD "$db")")" "$err"
  check "txguard_database_savepoint_error_aborts_total{$(LD "$db")}" "$(value txguard_database_savepoint_error_aborts_total "$(LD "$db")")" "$sperr"
  check "txguard_database_aborted_blocks_total{$(LD "$db")}" "$(value txguard_database_aborted_blocks_total "$(LD "$db")")" "$blocks"
  check "txguard_database_ignored_commands_total{$(LD "$db")}" "$(value txguard_database_ignored_commands_total "$(LD "$db")")" "$ignored"
  check "txguard_database_sessions_terminated_total{$(LD "$db")}" "$(value txguard_database_sessions_terminated_total "$(LD "$db")")" "$term"
done
check "txguard_database_last_error_timestamp_seconds{$(LD template1)}" "$(value txguard_database_last_error_timestamp_seconds "$(LD template1)")" 0
num "txguard_database_last_error_timestamp_seconds{$(LD "$RATE")}" \
  "$(value txguard_database_last_error_timestamp_seconds "$(LD "$RATE")")" "x >= $((T0 - 5)) && x <= $((T1 + 5))"
rate_oid=$(sql -c "SELECT oid FROM pg_database WHERE datname = '$RATE'")
LP() { printf 'datid="%s",datname="%s",server="%s"' "$1" "$2" "$SERVER"; }
check "$RATE has no exporter connection (--exclude-databases)" \
  "$(sql -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$RATE'")" 0
check "pg_stat_database_xact_rollback{$(LP "$rate_oid" "$RATE")} (3 ROLLBACKs + 3 error aborts)" \
  "$(value pg_stat_database_xact_rollback "$(LP "$rate_oid" "$RATE")")" 6
# 10 = 1 start-up + 7 + 2; an autovacuum worker visiting the new database may add a few
commits=$(value pg_stat_database_xact_commit "$(LP "$rate_oid" "$RATE")")
num "pg_stat_database_xact_commit{$(LP "$rate_oid" "$RATE")} (1 start-up + 7 + 2 commits)" "$commits" "x >= 10 && x <= 13"
# every (existing) database of txguard_database has its pg_stat_database series: the two divide
# label to label (a dropped database, "oid N", is left in txguard's table only)
missing=$(grep -E '^txguard_database_error_aborts_total\{' "$M" | sed -E 's/.*datname="([^"]*)".*/\1/' | grep -v '^oid ' |
  while read -r db; do
  grep -q "^pg_stat_database_xact_commit{datid=\"[0-9]*\",datname=\"$db\",server=\"$SERVER\"}" "$M" || echo "$db"; done)
check "databases of txguard_database without pg_stat_database_xact_commit" "$missing" ""

# txguard_stuck: every connectable database, 0 when no session is in an aborted block
check "txguard_stuck_sessions{$(LD "$DB2")}" "$(value txguard_stuck_sessions "$(LD "$DB2")")" 1
check "txguard_stuck_sessions{$(LD "$RATE")}" "$(value txguard_stuck_sessions "$(LD "$RATE")")" 0
check "txguard_stuck_max_idle_seconds{$(LD "$RATE")}" "$(value txguard_stuck_max_idle_seconds "$(LD "$RATE")")" 0
ab2=$(value txguard_stuck_max_aborted_seconds "$(LD "$DB2")")
num "txguard_stuck_max_aborted_seconds{$(LD "$DB2")}" "$ab2" "x > 0 && x < 120"
num "txguard_stuck_max_idle_seconds{$(LD "$DB2")}" "$(value txguard_stuck_max_idle_seconds "$(LD "$DB2")")" "x > 0 && x <= $ab2"
check "txguard_stuck_sessions{$(LD "$PGDATABASE")} (= txguard_aborted_sessions there)" \
  "$(value txguard_stuck_sessions "$(LD "$PGDATABASE")")" "$(sql -c "SELECT count(*) FROM txguard_aborted_sessions WHERE datname = '$PGDATABASE'")"

# txguard_statement: the 20 statements with the most aborts, over the whole server
LS() {  # LS DATABASE QUERYID SQLSTATE CONDITION
  printf 'condition="%s",datname="%s",queryid="%s",server="%s",sqlstate="%s"' "$4" "$1" "$2" "$SERVER" "$3"
}
qid=$(sql -d "$DB2" -c "SET compute_query_id = on" -c "EXPLAIN (VERBOSE, COSTS OFF) INSERT INTO $TBL VALUES (1, 1)" |
  sed -n 's/^Query Identifier: //p')
num "query id of the INSERT (EXPLAIN VERBOSE)" "$qid" "x != 0"
ls1=$(LS "$DB2" "$qid" 23505 unique_violation)
# APP's 25 blocks and IDLE's terminated one, summed over the two roles
check "txguard_statement_aborts_total{$ls1}" "$(value txguard_statement_aborts_total "$ls1")" 26
check "txguard_statement_aborted_blocks_total{$ls1}" "$(value txguard_statement_aborted_blocks_total "$ls1")" 26
check "txguard_statement_ignored_commands_total{$ls1}" "$(value txguard_statement_ignored_commands_total "$ls1")" 25
check "txguard_statement_sessions_terminated_total{$ls1}" "$(value txguard_statement_sessions_terminated_total "$ls1")" 1
num "txguard_statement_last_seen_timestamp_seconds{$ls1}" "$(value txguard_statement_last_seen_timestamp_seconds "$ls1")" \
  "x >= $((T0 - 5)) && x <= $((T1 + 5))"
# The top 20, ranked here from the view's rows (per role) summed per (database, query id,
# SQLSTATE): a statement with more aborts than the 20th must be exported with its sum, one with
# fewer must not, and ties at the 20th fill the 20 places (tie order is the exporter's).
sql -F '|' -c "SELECT coalesce(datname::text, 'oid ' || datid), coalesce(queryid, 0), sqlstate, aborts FROM txguard_statement_stats" \
  >"$SCRATCH/stmt.rows"
awk -F'|' '{ s[$1 "|" $2 "|" $3] += $4 } END { for (k in s) print s[k] "|" k }' "$SCRATCH/stmt.rows" |
  sort -t'|' -k1,1nr >"$SCRATCH/stmt.ranked"
keys=$(wc -l <"$SCRATCH/stmt.ranked")
num "statement keys on the server" "$keys" "x >= 26"
check "txguard_statement_aborts_total series (top 20 of $keys)" "$(grep -c '^txguard_statement_aborts_total{' "$M")" 20
t20=$(sed -n 20p "$SCRATCH/stmt.ranked" | cut -d'|' -f1)
above=0 bad=
while IFS='|' read -r n db q st; do
  got=$(grep -E "^txguard_statement_aborts_total\{condition=\"[^\"]*\",datname=\"$db\",queryid=\"$q\",server=\"$SERVER\",sqlstate=\"$st\"\} " "$M" | awk '{ print $NF }')
  if [ "$n" -gt "$t20" ]; then above=$((above + 1)); [ "$got" = "$n" ] || bad="$bad [$db $q $st: $n, exported '${got:-absent}']"
  elif [ "$n" -lt "$t20" ]; then [ -z "$got" ] || bad="$bad [$db $q $st: $n < $t20, exported $got]"
  fi
done <"$SCRATCH/stmt.ranked"
check "statements above the 20th ($t20 aborts) exported with their sums, those below not" "$bad" ""
check "statements at the 20th's count exported" \
  "$(grep '^txguard_statement_aborts_total{' "$M" | awk -v t="$t20" '$NF == t' | wc -l)" $((20 - above))

# ---------------------------------------------------------------- the open block ends
close_session open
close_session open2
wait_for "SELECT count(*) FROM txguard_aborted_sessions WHERE usename = '$APP'" 0 ||
  fail "$APP's sessions are still listed in txguard_aborted_sessions after disconnecting"
scrape || bail "scrape 2 failed" "$(cat "$SCRATCH/curl.err")"
echo "# scrape 2: those sessions disconnected"
check "txguard_stuck_sessions{$(LD "$DB2")}" "$(value txguard_stuck_sessions "$(LD "$DB2")")" 0
check "txguard_stuck_max_idle_seconds{$(LD "$DB2")}" "$(value txguard_stuck_max_idle_seconds "$(LD "$DB2")")" 0
lc=$(LC not_null_violation 23502 23 false)
check "txguard_condition_ignored_commands_total{$lc} (added at the end of the block)" \
  "$(value txguard_condition_ignored_commands_total "$lc")" 1
check "txguard_database_ignored_commands_total{$(LD "$DB2")}" "$(value txguard_database_ignored_commands_total "$(LD "$DB2")")" 28
check "txguard_aborted_sessions{$(L "$APP" 23502)}" "$(value txguard_aborted_sessions "$(L "$APP" 23502)")" absent
check "txguard_stats_ignored_commands_total{$(L "$APP" 23502)} (added at the end of the block)" \
  "$(value txguard_stats_ignored_commands_total "$(L "$APP" 23502)")" 1
check "txguard_stats_aborts_total{$(L "$APP" 23505)}" "$(value txguard_stats_aborts_total "$(L "$APP" 23505)")" 2

# ---------------------------------------------------------------- dropped role
app_oid=$(sql -c "SELECT oid FROM pg_roles WHERE rolname = '$APP'")
sql -d "$DB2" -c "DROP OWNED BY $APP" || fail "DROP OWNED BY $APP in $DB2 failed"
sql -c "DROP OWNED BY $APP" -c "DROP ROLE $APP" || fail "DROP ROLE $APP failed"
sql -c "DROP DATABASE $RATE" || fail "DROP DATABASE $RATE failed"
scrape || bail "scrape 3 failed" "$(cat "$SCRATCH/curl.err")"
echo "# scrape 3: role $APP and database $RATE dropped"
check "txguard_database_error_aborts_total{$(LD "oid $rate_oid")}" "$(value txguard_database_error_aborts_total "$(LD "oid $rate_oid")")" 3
check "txguard_database_error_aborts_total{$(LD "$RATE")}" "$(value txguard_database_error_aborts_total "$(LD "$RATE")")" absent
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
