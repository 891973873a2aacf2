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
# log; then that `--stop` stops the server and removes the directory.
# Prints "ok - NAME" / "not ok - NAME" per check.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export PORT=${TXG_SETUP_PORT:-55449}
export DIR=${TXG_SETUP_DIR:-/tmp/txguard-setup-check}
APT=()
[ "${1:-}" = --no-apt ] && APT=(--no-apt)
OUT=$(mktemp /tmp/txguard-setup-out.XXXXXX)
trap 'rm -f "$OUT"; [ -d "$DIR" ] && bash "$HERE/scripts/setup.sh" --stop >/dev/null 2>&1' EXIT

PASSN=0 FAILN=0
check() {  # <name> <command...>
    local name=$1; shift
    if "$@"; then echo "ok - $name"; PASSN=$((PASSN + 1))
    else echo "not ok - $name"; FAILN=$((FAILN + 1)); fi
}
has() { grep -qF -- "$1" "$OUT"; }
has_re() { grep -qE -- "$1" "$OUT"; }

bash "$HERE/scripts/setup.sh" "${APT[@]}" >"$OUT" 2>&1
rc=$?
check "setup.sh exits 0" test "$rc" -eq 0
[ "$rc" -eq 0 ] || { echo "---- setup.sh output (last 40 lines)"; tail -n 40 "$OUT"; }

check "the extension is created, version 1.1" \
    has 'shared_preload_libraries = txguard, extension txguard 1.1'
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
check "the server log's end-of-block line for the timeout is shown" \
    has_re 'WARNING:  txguard: aborted transaction ended by timeout; cause unique_violation SQLSTATE 23505 \(0 ignored commands, 2\.[0-9]{3} s aborted, statement 1;'
check "the demo server answers afterwards" \
    runuser -u postgres -- /usr/lib/postgresql/15/bin/psql -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -Atc 'SELECT 1' -o /dev/null

bash "$HERE/scripts/setup.sh" --stop >/dev/null 2>&1
check "setup.sh --stop stops the server and removes its directory" \
    bash -c '! [ -e "$1" ] && ! runuser -u postgres -- /usr/lib/postgresql/15/bin/pg_isready -q -h 127.0.0.1 -p "$2"' _ "$DIR" "$PORT"

echo "setup: $PASSN passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
