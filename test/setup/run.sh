#!/usr/bin/env bash
# test/setup/run.sh: the README's first command, scripts/setup.sh, as a user runs it.
#
#   bash test/setup/run.sh [--no-apt]      (as root; run-all runs it as the suite "setup")
#
# Runs scripts/setup.sh from this tree on a port and directory of its own
# (PORT=55449, DIR=/tmp/txguard-setup-check), so that a demo cluster a user
# started is left alone, and checks what the demo promises: the plain 25P02,
# the annotated one, the history and statistics, the session ended by the
# idle-in-aborted-transaction timeout, the end-of-block line of the server
# log, the statements that abort most with their pg_stat_statements calls.
# Then it runs the README's examples on that demo server, taken from the
# README itself (readme_examples.py: the fenced blocks after a "<!-- demo -->"
# marker), so that the README and what the demo does cannot drift apart:
#   - each "<!-- demo: transcript -->" block is played with psql and its output
#     must be the block, character for character;
#   - each "<!-- demo -->" SQL block must run without error;
#   - the "<!-- demo: pgbadger -->" command is run as printed, in a directory
#     where the demo's server log is "postgresql.log", and its report must
#     count every ERROR and every txguard end-of-block WARNING of that log.
# Then `--stop` must stop the server and remove the directory.
# Prints "ok - NAME" / "not ok - NAME" per check.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PORT=${TXG_SETUP_PORT:-55449}
export DIR=${TXG_SETUP_DIR:-/tmp/txguard-setup-check}
APT=()
[ "${1:-}" = --no-apt ] && APT=(--no-apt)
OUT=$(mktemp /tmp/txguard-setup-out.XXXXXX)
EX=$(mktemp -d /tmp/txguard-setup-examples.XXXXXX)
chmod 0755 "$EX"    # psql runs as postgres and reads the examples from here
trap 'rm -f "$OUT"; rm -rf "$EX"; [ -d "$DIR" ] && bash "$HERE/scripts/setup.sh" --stop >/dev/null 2>&1' EXIT

PASSN=0 FAILN=0
check() {  # <name> <command...>
    local name=$1; shift
    if "$@"; then echo "ok - $name"; PASSN=$((PASSN + 1))
    else echo "not ok - $name"; FAILN=$((FAILN + 1)); fi
}
has() { grep -qF -- "$1" "$OUT"; }
has_re() { grep -qE -- "$1" "$OUT"; }

# fd 9 stands for whatever the caller holds open (a lock taken with flock(1))
MARK=$EX/caller-open-file
bash "$HERE/scripts/setup.sh" "${APT[@]}" >"$OUT" 2>&1 9>"$MARK"
rc=$?
check "setup.sh exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || { echo "---- setup.sh output (last 40 lines)"; tail -n 40 "$OUT"; }

check "txguard and pg_stat_statements are preloaded, extension txguard 1.2" \
    has 'shared_preload_libraries = txguard,pg_stat_statements, extension txguard 1.2'
# 1a: with annotate = off, the 25P02 has no DETAIL (the next line is the
# demo's own SQLSTATE marker)
check "plain 25P02 without txguard's annotation" \
    bash -c 'grep -A1 -F "ERROR:  current transaction is aborted, commands ignored until end of transaction block" "$1" | head -n 2 | tail -n 1 | grep -qF -- "-> SQLSTATE 25P02"' _ "$OUT"
check "annotated 25P02 names statement 2 and its cause" \
    has 'DETAIL:  The transaction was aborted by an earlier error in statement 2: ERROR 23505: duplicate key value violates unique constraint "accounts_pkey" (Key (id)=(1) already exists.) Statement: INSERT INTO accounts VALUES (1, '"'"'bob'"'"')'
check "txguard_aborted_sessions shows the stuck session" \
    has_re '^ +[0-9]+ \| stuck-worker +\| 23505 +\| +1 \| INSERT INTO accounts VALUES \(1, '"'"'carol'"'"'\)'
check "the stuck client is ended by the timeout, with the cause" \
    bash -c 'grep -A1 -F "FATAL:  terminating connection due to idle-in-aborted-transaction timeout" "$1" | grep -qF "Statement: INSERT INTO accounts VALUES (1, '"'"'carol'"'"') The session was idle for"' _ "$OUT"
check "the history records ended_by = timeout" \
    has_re '\| stuck-worker +\| 23505 +\| INSERT INTO accounts VALUES \(1, '"'"'carol'"'"'\) \| timeout +\|'
check "txguard_stats counts the termination" \
    has_re '^ 23505 +\| +4 \| +4 \| +4 \| +1$'
check "the server log's end-of-block line for the timeout is shown, with the query id" \
    has_re 'WARNING:  txguard: aborted transaction ended by timeout; cause unique_violation SQLSTATE 23505 \(0 ignored commands, 2\.[0-9]{3} s aborted, statement 1, query id -?[0-9]+;'
check "the demo server answers afterwards" \
    runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atc 'SELECT 1' -o /dev/null
server_keeps_no_caller_file() {
    local pid f
    pid=$(head -n 1 "$DIR/data/postmaster.pid") || return 1
    for f in /proc/"$pid"/fd/*; do
        [ "$(readlink "$f")" = "$MARK" ] && return 1
    done
    return 0
}
check "the demo server keeps none of the caller's open files" server_keeps_no_caller_file
# query ids (compute_query_id = on) and pg_stat_statements: the demo's four
# duplicate INSERTs are one statement, with its one successful run as calls
check "the statements that abort most: one query id, 4 aborts, 1 call (pg_stat_statements)" \
    has_re '^ +-?[0-9]+ \| unique_violation \| +4 \| +1 \| INSERT INTO accounts VALUES \(1, '"'"'bob'"'"'\) *$'

# ---------------------------------------------------------------- the README's examples
PSQL=(runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
(cd "$EX" && /usr/bin/python3 "$HERE/test/setup/readme_examples.py" "$HERE/README.md" "$EX") >"$EX/list" 2>&1
rc=$?
cat "$EX/list" | sed 's/^/# /'
ntr=$(grep -c '^transcript ' "$EX/list") nsql=$(grep -c '^sql ' "$EX/list") nbadger=$(grep -c '^pgbadger ' "$EX/list")
# the README's examples are marked: losing the markers must not make this pass
check "README: the demo examples are found (2 transcripts, 6 or more SQL blocks, 1 pgBadger command; found $ntr, $nsql, $nbadger)" \
    test "$rc" -eq 0 -a "$ntr" -ge 2 -a "$nsql" -ge 6 -a "$nbadger" -eq 1

# the pgBadger command first, on the log of the demo as setup.sh left it
LOG=$DIR/server.log
nerr=$(grep -c ' ERROR:  ' "$LOG") nend=$(grep -c ' WARNING:  txguard: aborted transaction ended by ' "$LOG")
cmd=$(cat "$EX/pgbadger.sh" 2>/dev/null)
prefix=$(sed -nE "s/.*--prefix '([^']*)'.*/\1/p" <<<"$cmd")
check "the demo's log_line_prefix is the README's pgBadger --prefix ('$prefix')" \
    test "$("${PSQL[@]}" -Atc 'SHOW log_line_prefix')" = "$prefix"
mkdir "$EX/pgbadger" && ln -s "$LOG" "$EX/pgbadger/postgresql.log"
(cd "$EX/pgbadger" && bash -c "$cmd") </dev/null >"$EX/pgbadger.out" 2>&1
rc=$?
/usr/bin/python3 "$HERE/test/setup/pgbadger_events.py" "$EX/pgbadger/report.html" >"$EX/events" 2>&1
sed 's/^/# pgbadger: /' "$EX/events"
berr=$(awk -F'\t' '$2 ~ /^ERROR:  / {n += $1} END {print n + 0}' "$EX/events")
bend=$(awk -F'\t' '$2 ~ /^WARNING:  txguard: aborted transaction ended by / {n += $1} END {print n + 0}' "$EX/events")
check "README's pgBadger command: exit 0, every ERROR of the demo's log counted ($berr of $nerr)" \
    test "$rc" -eq 0 -a "$nerr" -gt 0 -a "$berr" -eq "$nerr"
check "README's pgBadger command: every txguard end-of-block WARNING counted ($bend of $nend)" \
    test "$rc" -eq 0 -a "$nend" -gt 0 -a "$bend" -eq "$nend"
[ "$rc" -eq 0 ] || tail -n 20 "$EX/pgbadger.out"

# the transcripts: psql's output is the block
transcript() {  # <file>
    grep -vE '^[A-Z]+:  ' "$1" >"$1.in"
    # from stdin: with -f, psql would put the file name before each error
    "${PSQL[@]}" -q -e -v ON_ERROR_STOP=0 <"$1.in" >"$1.out" 2>&1
    diff -u "$1" "$1.out" >"$1.diff" || { sed 's/^/#   /' "$1.diff"; return 1; }
}
for f in "$EX"/transcript-*.txt; do
    [ -e "$f" ] || continue
    b=$(basename "$f")
    check "README transcript ${b%.txt} (line $(awk -v f="$b" '$2 == f {print $3}' "$EX/list")) is what the demo server prints" \
        transcript "$f"
done
# the SQL blocks run without error
for f in "$EX"/sql-*.sql; do
    [ -e "$f" ] || continue
    b=$(basename "$f")
    check "README example ${b%.sql} (line $(awk -v f="$b" '$2 == f {print $3}' "$EX/list")) runs on the demo server" \
        "${PSQL[@]}" -q -v ON_ERROR_STOP=1 -f "$f" -o /dev/null
done
# "which statements abort most" is the one that joins pg_stat_statements: it
# must find the statement there (a query id, and its calls)
pss=$(grep -l 'JOIN pg_stat_statements' "$EX"/sql-*.sql 2>/dev/null | head -n 1)
joined() {
    local q n
    q=$(sed -e 's/;[[:space:]]*$//' "$pss")
    n=$("${PSQL[@]}" -Atc "SELECT count(*) FROM ($q) q WHERE queryid IS NOT NULL AND calls IS NOT NULL")
    [ "${n:-0}" -gt 0 ]
}
check "README's \"which statements abort most\" finds its statements in pg_stat_statements" \
    test -n "$pss" -a -n "$(joined && echo y)"

bash "$HERE/scripts/setup.sh" --stop >/dev/null 2>&1
check "setup.sh --stop stops the server and removes its directory" \
    bash -c '! [ -e "$1" ] && ! runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -p "$2"' _ "$DIR" "$PORT"

echo "setup: $PASSN passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
