#!/usr/bin/env bash
# txguard: set up and try it in one command (as root on Debian 12; use sudo elsewhere).
#
#   bash scripts/setup.sh            install packages, build + install txguard, start a
#                                    throwaway PostgreSQL 15 on 127.0.0.1:55432 with txguard
#                                    and pg_stat_statements preloaded (compute_query_id = on),
#                                    and run a one-minute demo
#   bash scripts/setup.sh --no-demo  same without the demo
#   bash scripts/setup.sh --stop     stop and delete the demo cluster
#
# Re-runnable: an existing demo cluster is stopped and wiped first.
# The build happens in a postgres-owned copy of the tree; the checkout is not written to.
# Environment: PORT (default 55432), DIR (default /tmp/txguard-demo).

set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then exec sudo -E bash "$0" "$@"; fi
    echo "setup: run as root (installs packages and txguard into the system PostgreSQL 15)" >&2
    exit 2
fi

DEMO=1 APT=1 STOP_ONLY=0
for arg in "$@"; do
    case $arg in
        --no-demo) DEMO=0 ;;
        --no-apt) APT=0 ;;
        --stop) STOP_ONLY=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "setup: unknown option $arg" >&2; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
SRC=$PWD
PORT=${PORT:-55432}
DIR=${DIR:-/tmp/txguard-demo}
B=/usr/lib/postgresql/15/bin
as_pg() { runuser -u postgres -- "$@"; }
header() { printf '\n\033[1m=== %s\033[0m\n' "$*"; }
[ -t 1 ] || header() { printf '\n=== %s\n' "$*"; }

stop_demo() {
    if [ -f "$DIR/data/postmaster.pid" ]; then
        echo "stopping the old demo cluster in $DIR"
        ( cd / && as_pg "$B/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null ) || true
    fi
    rm -rf "$DIR"
}
if [ "$STOP_ONLY" = 1 ]; then stop_demo; echo "demo cluster stopped and removed"; exit 0; fi

# ------------------------------------------------------------------ 1. packages
header "1/4  Debian packages"
if [ "$APT" = 1 ]; then
    want=(build-essential postgresql-15 postgresql-server-dev-15 postgresql-contrib libkrb5-dev)
    missing=()
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "already installed: ${want[*]}"
    else
        echo "installing: ${missing[*]}"
        apt-get update -qq
        if ! apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" \
                >/tmp/txguard-setup-apt.log 2>&1; then
            tail -n 30 /tmp/txguard-setup-apt.log >&2
            echo "setup: apt-get install failed (full log: /tmp/txguard-setup-apt.log)" >&2
            exit 1
        fi
        rm -f /tmp/txguard-setup-apt.log
    fi
fi
"$B/pg_config" --version

# ------------------------------------------------------------------ 2. build
header "2/4  build and install txguard"
WORK=$(mktemp -d /tmp/txguard-build.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# copy what a fresh clone would have (tracked + untracked-but-not-ignored files)
if git -C "$SRC" -c safe.directory='*' rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$SRC" -c safe.directory='*' ls-files -z -co --exclude-standard \
        | (cd "$SRC" && tar --null --ignore-failed-read -T - -cf -) | tar -C "$WORK" -xf -
else
    tar -C "$SRC" --exclude=.git --exclude=node_modules -cf - . | tar -C "$WORK" -xf -
fi
chown -R postgres:postgres "$WORK"
as_pg make -C "$WORK" -s clean >/dev/null 2>&1 || true
as_pg make -C "$WORK" -s -j2 with_llvm=no
make -C "$WORK" -s with_llvm=no install
echo "installed $("$B/pg_config" --pkglibdir)/txguard.so and the extension files in $("$B/pg_config" --sharedir)/extension"

# ------------------------------------------------------------------ 3. cluster
header "3/4  throwaway PostgreSQL 15 cluster in $DIR (127.0.0.1:$PORT)"
stop_demo
if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$PORT" | grep -q .; then
    echo "setup: port $PORT is already in use by another server; set PORT=... and re-run" >&2
    exit 1
fi
install -d -o postgres -g postgres -m 0700 "$DIR"
cd /    # postgres may not be able to read the caller's cwd
as_pg "$B/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
cat >>"$DIR/data/postgresql.conf" <<CONF

# --- txguard demo ---
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
# pg_stat_statements and query ids: txguard_statement_stats joins pg_stat_statements
shared_preload_libraries = 'txguard,pg_stat_statements'
compute_query_id = on
lc_messages = 'C'
# the prefix the README's pgBadger command is given
log_line_prefix = '%t [%p]: user=%u,db=%d,app=%a,client=%h '
CONF
chmod 0755 "$DIR"    # let any local user reach the socket
# The server outlives this script: it must not inherit the caller's open files
# (a lock taken with flock(1) around this script would be held until the demo
# server stops), so every descriptor above 2 is closed before pg_ctl runs.
start_server() {
    local fd
    for fd in /proc/self/fd/*; do
        fd=${fd##*/}
        [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done 2>/dev/null
    as_pg "$B/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w start >/dev/null
}
if ! ( start_server ); then
    echo "setup: the server did not start; end of $DIR/server.log:" >&2
    tail -n 20 "$DIR/server.log" >&2
    exit 1
fi
PSQL=("$B/psql" -X -h 127.0.0.1 -p "$PORT" -U postgres -d postgres)
"${PSQL[@]}" -qc 'CREATE EXTENSION IF NOT EXISTS txguard' -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
"${PSQL[@]}" -Atc "SELECT 'server: ' || version()"
"${PSQL[@]}" -Atc "SELECT 'shared_preload_libraries = ' || current_setting('shared_preload_libraries') || ', extension txguard ' || extversion FROM pg_extension WHERE extname = 'txguard'"

# ------------------------------------------------------------------ 4. demo
if [ "$DEMO" = 1 ]; then
    header "4/4  demo (scripts/demo.sql, then a session killed by the idle-in-aborted-transaction timeout)"
    # --- (a) + (b): annotation, history, stats
    PGAPPNAME=txguard-demo "${PSQL[@]}" -e -v ON_ERROR_STOP=0 <"$SRC/scripts/demo.sql" 2>&1

    # --- (c) the timeout
    cat <<'TXT'

---- 3. txguard.idle_in_aborted_transaction_timeout --------------------------------
A client ("stuck-worker") hits an error inside a transaction and then goes idle
without ROLLBACK, holding its connection (and its locks/snapshot).  With the
timeout set to 2s txguard ends that session.  The client's script is:

    SET txguard.idle_in_aborted_transaction_timeout = '2s';
    BEGIN;
    INSERT INTO accounts VALUES (1, 'carol');     -- 23505, transaction now aborted
    ...client is idle for 4 seconds...
    SELECT 1;
TXT
    CLIENT_OUT=$(mktemp /tmp/txguard-demo-client.XXXXXX)
    { echo "SET txguard.idle_in_aborted_transaction_timeout = '2s';"
      echo "BEGIN;"
      echo "INSERT INTO accounts VALUES (1, 'carol');"
      sleep 4
      echo "SELECT 1;"
    } | PGAPPNAME=stuck-worker "${PSQL[@]}" >"$CLIENT_OUT" 2>&1 &
    CLIENT_PID=$!
    sleep 1
    echo
    echo "After 1 s, from another session, txguard_aborted_sessions shows the stuck one:"
    PGAPPNAME=txguard-demo "${PSQL[@]}" -e -c "SELECT pid, application_name, sqlstate, statement_ordinal AS stmt_no, statement,
       round(extract(epoch FROM now() - idle_since)::numeric, 1) AS idle_s
  FROM txguard_aborted_sessions;"
    wait "$CLIENT_PID" || true
    echo "What the stuck client saw when it finally sent SELECT 1:"
    sed 's/^/    /' "$CLIENT_OUT"
    rm -f "$CLIENT_OUT"
    echo
    echo "The history records how the aborted transaction ended, and txguard_stats counts the termination:"
    PGAPPNAME=txguard-demo "${PSQL[@]}" -e -c "SELECT seq, application_name, sqlstate, statement, ended_by, round(aborted_seconds::numeric, 1) AS aborted_s
  FROM txguard_aborts WHERE application_name = 'stuck-worker';" \
        -c "SELECT sqlstate, aborts, aborted_blocks, ignored_commands, sessions_terminated FROM txguard_stats ORDER BY sqlstate;"
    echo "The server log gets one line per aborted transaction block, a WARNING that the client"
    echo "never receives (txguard.log_aborts; the last two, from $DIR/server.log):"
    if ! END_LINES=$(grep -E '(WARNING|LOG):  txguard: aborted transaction ended' "$DIR/server.log"); then
        echo "setup: no end-of-block line in $DIR/server.log" >&2
        exit 1
    fi
    tail -n 2 <<<"$END_LINES" | sed 's/^/    /'
    echo
    echo "Which statements abort most: txguard_statement_stats joined with pg_stat_statements by"
    echo "query id (compute_query_id = on); calls counts the statement's successful runs:"
    PGAPPNAME=txguard-demo "${PSQL[@]}" -e -c "SELECT s.queryid, s.condition_name, s.aborts, p.calls, s.statement
  FROM txguard_statement_stats s
  LEFT JOIN pg_stat_statements p
    ON p.userid = s.userid AND p.dbid = s.datid AND p.queryid = s.queryid
 ORDER BY s.aborts DESC;"
fi

# ------------------------------------------------------------------ done
cat <<TXT

=== txguard is running
  connect:  psql -h 127.0.0.1 -p $PORT -U postgres
            (the socket is in $DIR: psql -h $DIR -p $PORT -U postgres)
  log:      $DIR/server.log
  report:   pgbadger --prefix '%t [%p]: user=%u,db=%d,app=%a,client=%h ' -o report.html $DIR/server.log
  replay:   psql -h 127.0.0.1 -p $PORT -U postgres < $SRC/scripts/demo.sql
  stop:     runuser -u postgres -- $B/pg_ctl -D $DIR/data stop
  remove:   bash scripts/setup.sh --stop      (stops the server and deletes $DIR)
TXT
