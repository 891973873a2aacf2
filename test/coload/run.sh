#!/usr/bin/env bash
# txguard next to the usual extensions: co-loading tests.
#
#   bash test/coload/run.sh [first|last ...]     (as root; default: both orders)
#   KEEP=1     keep the scratch dir (copies, server logs, pg_regress results)
#   VERBOSE=1  print the pg_regress/isolation output and the checked log lines
#
# shared_preload_libraries holds txguard plus pg_stat_statements, auto_explain,
# pgaudit, pg_cron, pg_stat_kcache, pg_wait_sampling and pg_qualstats, once with
# txguard first ("first": its hooks are installed first, so they run innermost,
# after the others') and once with txguard last ("last": its hooks run outermost,
# first).  For each order:
#   1. txguard's own regression suite (REGRESS) and isolation suite (ISOLATION),
#      unchanged, through "make installcheck" in a postgres-owned copy of the tree;
#      test/txguard.conf still applies, our conf is appended after it: REGRESS_OPTS
#      and ISOLATION_OPTS are the Makefile's own values (read from it) plus
#      --temp-config=<ours> (pg_regress appends several in order), and the
#      neighbours are switched fully on (pgaudit.log = all, auto_explain of every
#      statement with ANALYZE, pg_stat_statements.track = all, pg_qualstats
#      sampling everything) but stay quiet toward clients (they only LOG).
#      One output line differs inevitably: preload.sql's "SHOW
#      shared_preload_libraries".  The copy gets an alternative expected file
#      (expected/preload_9.out, never in the checkout) that differs from
#      expected/preload.out in exactly that value; the test also checks that the
#      value really was the eight-library list.
#   2. a failing transaction on a cluster of our own, and what each neighbour did:
#        SELECT pg_sleep(0.3);                                 -- autocommit
#        BEGIN;
#        SELECT count(*) AS coload_probe FROM t WHERE id = 1;  -- statement 1, succeeds
#        INSERT INTO t VALUES (1);                             -- statement 2, 23505
#        SELECT 1;                                             -- 25P02
#        ROLLBACK;
#      pgaudit's AUDIT lines, auto_explain's plan (none for the failing INSERT),
#      pg_stat_statements' counts, pg_qualstats' qual, pg_stat_kcache's row,
#      pg_wait_sampling's samples, pg_cron's launcher, txguard's DETAIL and end-of-block record,
#      and the client output, which must be the same in both orders.
#
# Needs txguard installed into the system PostgreSQL 15 ("make install" or the
# Debian package) and the Debian packages postgresql-15-pgaudit postgresql-15-cron
# postgresql-15-pg-stat-kcache postgresql-15-pg-wait-sampling postgresql-15-pg-qualstats.
# Output: one "ok - NAME" / "not ok - NAME" line per check (failure output before
# it); exit status is non-zero if any check failed.  Port: unix socket only, 55471.
set -uo pipefail
export LC_ALL=C.UTF-8 LANG=C.UTF-8

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PGV=15
BIN=/usr/lib/postgresql/$PGV/bin
LIB=/usr/lib/postgresql/$PGV/lib
PORT=55471
NEIGHBOURS=(pg_stat_statements auto_explain pgaudit pg_cron pg_stat_kcache pg_wait_sampling pg_qualstats)
SUITE_TIMEOUT=${TXG_COLOAD_TIMEOUT:-300}

for v in $(compgen -e | grep -E '^PG' || true); do unset "$v"; done

die() { echo "coload: $*" >&2; echo "not ok - coload:setup"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (servers are started as the postgres OS user)"
id postgres >/dev/null 2>&1 || die "no 'postgres' OS user"
[ -f "$LIB/txguard.so" ] || die "$LIB/txguard.so is missing: install txguard first (make install)"
for n in "${NEIGHBOURS[@]}"; do
  [ -f "$LIB/$n.so" ] || die "$LIB/$n.so is missing (apt-get install postgresql-15-pgaudit postgresql-15-cron postgresql-15-pg-stat-kcache postgresql-15-pg-wait-sampling postgresql-15-pg-qualstats)"
done

ORDERS=("$@")
[ ${#ORDERS[@]} -gt 0 ] || ORDERS=(first last)
for o in "${ORDERS[@]}"; do
  case $o in first|last) ;; *) die "unknown order '$o' (first, last)" ;; esac
done

SCRATCH=$(mktemp -d /tmp/txguard-coload.XXXXXX) || exit 2
chmod 0755 "$SCRATCH"
chown postgres:postgres "$SCRATCH"
DATA=$SCRATCH/data
TREE=$SCRATCH/tree
as_pg() { (cd "$SCRATCH" && runuser -u postgres -- "$@"); }

stop_server() {
  if [ -f "$DATA/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  # a temp instance pg_regress left behind (killed by the timeout)
  local pidf
  while IFS= read -r pidf; do
    as_pg "$BIN/pg_ctl" -D "$(dirname "$pidf")" -m immediate -w stop >/dev/null 2>&1 || true
  done < <(find "$TREE" -name postmaster.pid 2>/dev/null)
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $SCRATCH"; else rm -rf "$SCRATCH"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }
# check NAME COMMAND...: ok if the command succeeds
check() {
  local name=$1; shift
  if "$@"; then ok "$name"; else notok "$name"; fi
}
note() { echo "# $*"; }
t0=$SECONDS

# the library list for an order, as shared_preload_libraries shows it
libs_for() {
  local IFS=,
  if [ "$1" = first ]; then echo "txguard,${NEIGHBOURS[*]}" | sed 's/,/, /g'
  else echo "${NEIGHBOURS[*]},txguard" | sed 's/,/, /g'; fi
}
# settings that switch every neighbour on; none of them writes to the client
write_conf() {  # <order> <file>
  cat >"$2" <<EOF
# test/coload/run.sh, order "$1" (appended after test/txguard.conf)
shared_preload_libraries = '$(libs_for "$1")'
cron.database_name = 'postgres'
pgaudit.log = 'all'
pgaudit.log_client = off
pgaudit.log_relation = on
auto_explain.log_min_duration = 0
auto_explain.log_analyze = on
auto_explain.log_nested_statements = on
pg_stat_statements.track = all
pg_qualstats.sample_rate = 1
EOF
  chown postgres:postgres "$2"
}

# ---------------------------------------------------------------- copy of the tree
# what a fresh clone has, without build outputs; pg_regress writes into it
install -d -o postgres -g postgres "$TREE"
tar -C "$REPO" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
    --exclude='./tmp_check*' --exclude=./results --exclude=./output_iso --exclude=./log \
    --exclude=./tap_logs --exclude=node_modules --exclude='./*.log' --exclude='./regression.*' -cf - . | tar -C "$TREE" -xf - ||
  die "could not copy $REPO"
chown -R postgres:postgres "$TREE"

# psql's aligned output of "SHOW shared_preload_libraries" for value $1
show_block() {
  local h=shared_preload_libraries v=$1 w l r
  w=${#v}; [ "$w" -lt ${#h} ] && w=${#h}
  l=$(( (w - ${#h}) / 2 )); r=$(( w - ${#h} - l ))
  printf ' %*s%s%*s \n' "$l" '' "$h" "$r" ''
  printf -- '-%s-\n' "$(printf '%*s' "$w" '' | tr ' ' -)"
  printf ' %s\n' "$v"
}
# expected/preload_9.out (and _8 from preload_1.out, the PG 13 variant): the same
# as the original except for the value of SHOW shared_preload_libraries
make_preload_alternatives() {  # <order>
  local libs src alt n=9
  libs=$(libs_for "$1")
  for src in "$TREE/expected/preload.out" "$TREE/expected/preload_1.out"; do
    [ -f "$src" ] || continue
    alt=$TREE/expected/preload_$n.out
    awk -v block="$(show_block "$libs")" '
      skip > 0 { skip--; next }
      { print }
      $0 == "SHOW shared_preload_libraries;" { print block; skip = 3; found = 1 }
      END { exit !found }' "$src" >"$alt" || { rm -f "$alt"; return 1; }
    chown postgres:postgres "$alt"
    n=$((n - 1))
  done
}

# make_var NAME: the value of a variable of the Makefile (as PGXS sees it)
make_var() {
  local mk
  mk=$(mktemp "$SCRATCH/print.XXXXXX.mk")
  # shellcheck disable=SC2016
  printf 'txg-print-var:\n\t@echo $(%s)\n' "$1" >"$mk"
  make -C "$TREE" --no-print-directory -s -f Makefile -f "$mk" txg-print-var 2>/dev/null
  rm -f "$mk"
}

# pg_regress lines: "test foo ... ok   12 ms" / "test foo ... FAILED   12 ms"
RE_OK='^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. ok( |$)'
RE_FAIL='^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. FAILED'
test_name() { sed -E 's/^(test )?[[:space:]]*([^[:space:]]+).*/\2/'; }

# installcheck <order> <suite: regress|isolation> <conf>
installcheck() {
  local order=$1 suite=$2 conf=$3 log out rc ts n logdir diffs resdir
  local vars
  # the Makefile's own options (--temp-instance, --temp-config=test/txguard.conf, ...),
  # then our conf: pg_regress appends the --temp-config files in order, so ours wins
  if [ "$suite" = regress ]; then
    vars=(ISOLATION= TAP_TESTS= "REGRESS_OPTS=$(make_var REGRESS_OPTS) --temp-config=$conf")
    logdir=$TREE/log; diffs=$TREE/regression.diffs; resdir=$TREE/results
  else
    vars=(REGRESS= TAP_TESTS= "ISOLATION_OPTS=$(make_var ISOLATION_OPTS) --temp-config=$conf")
    logdir=$TREE/output_iso/log; diffs=$TREE/output_iso/regression.diffs; resdir=$TREE/output_iso/results
  fi
  log=$SCRATCH/$order-$suite.log
  out=$SCRATCH/$order-$suite
  rm -rf "$logdir" "$diffs" "$resdir"
  ts=$SECONDS
  timeout -k 10 "$SUITE_TIMEOUT" runuser -u postgres -- make -C "$TREE" --no-print-directory \
    installcheck "${vars[@]}" </dev/null >"$log" 2>&1
  rc=$?
  [ "${VERBOSE:-0}" = 1 ] && cat "$log"
  note "$order: $suite: make installcheck exited $rc after $((SECONDS - ts)) s"
  mkdir -p "$out"; cp -r "$logdir" "$resdir" "$out/" 2>/dev/null; cp "$diffs" "$out/" 2>/dev/null
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    if [[ $line =~ $RE_OK ]]; then
      ok "txguard-$order:$suite:$(test_name <<<"$line")"
    else
      # the diff of this test only
      local t; t=$(test_name <<<"$line")
      awk -v t="/$t.out" 'index($0, "diff ") == 1 { show = index($0, t) > 0 } show' "$diffs" 2>/dev/null | head -n 80
      notok "txguard-$order:$suite:$t"
    fi
  done < <(grep -E "$RE_OK|$RE_FAIL" "$log")
  if [ "$n" = 0 ] || { [ "$rc" != 0 ] && ! grep -qE "$RE_FAIL" "$log"; }; then
    tail -n 40 "$log"; tail -n 40 "$logdir/postmaster.log" 2>/dev/null
    notok "txguard-$order:$suite: make installcheck exited $rc without a failing test line"
  fi
  # the server log of the temp instance: nothing crashed, the neighbours worked
  local pm=$out/log/postmaster.log crashes audits plans
  crashes=$(grep -cE 'terminated by signal|was terminated by exception|PANIC:|TRAP:|server process .* exited with exit code [^01]' "$pm" 2>/dev/null)
  audits=$(grep -c 'LOG:  AUDIT: SESSION,' "$pm" 2>/dev/null)
  plans=$(grep -c 'LOG:  duration: .* plan:' "$pm" 2>/dev/null)
  note "$order: $suite server log: ${audits:-0} pgaudit AUDIT lines, ${plans:-0} auto_explain plans, ${crashes:-0} crash lines"
  if [ "${crashes:-0}" = 0 ] && [ "${audits:-0}" -gt 0 ] && [ "${plans:-0}" -gt 0 ]; then
    ok "txguard-$order:$suite:server-log (no crash; pgaudit and auto_explain logged)"
  else
    grep -E -B2 -A5 'terminated by signal|PANIC:|TRAP:' "$pm" 2>/dev/null | head -n 60
    notok "txguard-$order:$suite:server-log (crashes ${crashes:-?}, AUDIT lines ${audits:-0}, plans ${plans:-0})"
  fi
}

# ---------------------------------------------------------------- part 1: txguard's suites
have_iso=0; compgen -G "$TREE/test/isolation/specs/*.spec" >/dev/null && have_iso=1
for order in "${ORDERS[@]}"; do
  conf=$SCRATCH/coload-$order.conf
  write_conf "$order" "$conf"
  rm -f "$TREE"/expected/preload_[89].out
  make_preload_alternatives "$order" || notok "txguard-$order:setup: no SHOW shared_preload_libraries in expected/preload.out"
  installcheck "$order" regress "$conf"
  want=$(libs_for "$order")
  if grep -qxF " $want" "$SCRATCH/$order-regress/results/preload.out" 2>/dev/null; then
    ok "txguard-$order:regress:preloaded ($want)"
  else
    grep -A3 'SHOW shared_preload_libraries' "$SCRATCH/$order-regress/results/preload.out" 2>/dev/null
    notok "txguard-$order:regress:preloaded (the temp instance did not run with: $want)"
  fi
  if [ "$have_iso" = 1 ]; then
    installcheck "$order" isolation "$conf"
  fi
done

# ---------------------------------------------------------------- part 2: a failing transaction
as_pg "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C --no-sync \
  >"$SCRATCH/initdb.log" 2>&1 || { cat "$SCRATCH/initdb.log"; die "initdb failed"; }
install -d -o postgres -g postgres "$SCRATCH/sock"
cat >>"$DATA/postgresql.conf" <<EOF

# test/coload/run.sh
listen_addresses = ''
port = $PORT
unix_socket_directories = '$SCRATCH/sock'
fsync = off
log_line_prefix = '%m [%p] %a: '
include = 'coload.conf'
EOF
PSQL=(/usr/bin/psql -X -h "$SCRATCH/sock" -p "$PORT" -U postgres -d postgres)
q() { "${PSQL[@]}" -qAt -v ON_ERROR_STOP=1 -c "$1"; }

TX_SQL="\\set VERBOSITY verbose
SELECT pg_backend_pid() AS pid \\gset
\\echo probe-pid :pid
SELECT pg_sleep(0.3) AS coload_wait;
SET txguard.log_aborts = 'all';
BEGIN;
SELECT count(*) AS coload_probe FROM t WHERE id = 1;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;"

first_start=1
for order in "${ORDERS[@]}"; do
  slog=$SCRATCH/server-$order.log
  write_conf "$order" "$DATA/coload.conf"
  if ! as_pg "$BIN/pg_ctl" -D "$DATA" -l "$slog" -w -t 60 start >/dev/null 2>&1; then
    tail -n 30 "$slog"; notok "txguard-$order:neighbours:server starts"; continue
  fi
  if [ $first_start = 1 ]; then
    first_start=0
    q "CREATE EXTENSION txguard; CREATE EXTENSION pg_stat_statements; CREATE EXTENSION pg_stat_kcache;
       CREATE EXTENSION pg_qualstats; CREATE EXTENSION pg_wait_sampling; CREATE EXTENSION pg_cron;
       CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1);" >"$SCRATCH/setup.log" 2>&1 ||
      { cat "$SCRATCH/setup.log"; notok "txguard-$order:neighbours:setup"; }
  fi
  want=$(libs_for "$order")
  got=$(q 'SHOW shared_preload_libraries' 2>&1)
  check "txguard-$order:neighbours:preloaded ($want)" [ "$got" = "$want" ]
  q "SELECT pg_stat_statements_reset(); SELECT pg_qualstats_reset(); SELECT pg_stat_kcache_reset();
     SELECT pg_wait_sampling_reset_profile(); SELECT txguard_reset()" >/dev/null 2>&1
  offset=$(stat -c %s "$slog")

  # the failing transaction; stdout and stderr together, as a person sees them
  client=$SCRATCH/client-$order.out
  PGAPPNAME=coload_$order "${PSQL[@]}" -f - <<<"$TX_SQL" >"$client" 2>&1
  pid=$(sed -n 's/^probe-pid //p' "$client")
  sed -i '/^probe-pid /d' "$client"
  # the server log of this transaction; wait for txguard's end-of-block record (written at ROLLBACK)
  for _ in $(seq 100); do
    tail -c +"$((offset + 1))" "$slog" | grep -q "\[$pid\] coload_$order: WARNING:  txguard:" && break
    sleep 0.1
  done
  tail -c +"$((offset + 1))" "$slog" >"$SCRATCH/tx-$order.log"
  txlog=$SCRATCH/tx-$order.log
  # this session's lines, with continuation lines (plans) kept
  awk -v p="[$pid] " '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / { mine = index($0, p) > 0 } mine' "$txlog" >"$txlog.mine"
  [ "${VERBOSE:-0}" = 1 ] && { echo "# --- client ($order)"; sed 's/^/#   /' "$client"; echo "# --- server log ($order)"; sed 's/^/#   /' "$txlog.mine"; }

  # client: 23505, then the annotated 25P02; nothing from the neighbours
  cause='The transaction was aborted by an earlier error in statement 2: ERROR 23505: duplicate key value violates unique constraint "t_pkey" (Key (id)=(1) already exists.) Statement: INSERT INTO t VALUES (1)'
  if grep -qF 'ERROR:  23505: duplicate key value violates unique constraint "t_pkey"' "$client" &&
     grep -A1 -F 'ERROR:  25P02: current transaction is aborted, commands ignored until end of transaction block' "$client" |
       grep -qxF "DETAIL:  $cause"; then
    ok "txguard-$order:neighbours:txguard names the cause in the 25P02 DETAIL (client)"
  else
    cat "$client"; notok "txguard-$order:neighbours:txguard names the cause in the 25P02 DETAIL (client)"
  fi
  if grep -qE 'AUDIT|LOG:|duration:|plan:|WARNING|NOTICE' "$client"; then
    cat "$client"; notok "txguard-$order:neighbours:quiet toward the client"
  else
    ok "txguard-$order:neighbours:quiet toward the client"
  fi
  # server log: the same DETAIL on the 25P02; txguard's end-of-block record with the cause
  if grep -A1 -F 'ERROR:  current transaction is aborted' "$txlog.mine" | grep -qF "DETAIL:  $cause"; then
    ok "txguard-$order:neighbours:txguard names the cause in the 25P02 DETAIL (server log)"
  else
    sed 's/^/#   /' "$txlog.mine"; notok "txguard-$order:neighbours:txguard names the cause in the 25P02 DETAIL (server log)"
  fi
  # the cause's condition and SQLSTATE on the record's message line
  if grep -qE 'WARNING:  txguard: aborted transaction ended by rollback; cause unique_violation SQLSTATE 23505 \(' "$txlog.mine"; then
    ok "txguard-$order:neighbours:txguard's end-of-block record at ROLLBACK names 23505"
  else
    sed 's/^/#   /' "$txlog.mine"; notok "txguard-$order:neighbours:txguard's end-of-block record at ROLLBACK names 23505"
  fi
  hist=$(q "SELECT sqlstate || ' ' || ended_by || ' ' || ignored_commands FROM txguard_aborts WHERE pid = $pid" 2>&1)
  check "txguard-$order:neighbours:txguard_aborts row (23505 rollback 1 = '$hist')" [ "$hist" = '23505 rollback 1' ]

  # pgaudit: AUDIT lines for the successful SELECT and for the INSERT that then failed
  # (pgaudit logs a DML statement when its permissions are checked, before it runs)
  if grep -qE 'LOG:  AUDIT: SESSION,[0-9]+,[0-9]+,READ,SELECT,TABLE,public\.t,SELECT count\(\*\) AS coload_probe' "$txlog.mine" &&
     grep -qE 'LOG:  AUDIT: SESSION,[0-9]+,[0-9]+,WRITE,INSERT,TABLE,public\.t,INSERT INTO t VALUES \(1\)' "$txlog.mine"; then
    ok "txguard-$order:neighbours:pgaudit AUDIT lines (READ SELECT, WRITE INSERT)"
  else
    grep -F AUDIT "$txlog.mine"; notok "txguard-$order:neighbours:pgaudit AUDIT lines (READ SELECT, WRITE INSERT)"
  fi
  # auto_explain: the probe's plan with ANALYZE figures; no plan for the failing INSERT
  # (auto_explain logs at ExecutorEnd, which a statement that fails never reaches)
  if grep -A3 -E 'LOG:  duration: [0-9.]+ ms  plan:' "$txlog.mine" | grep -qF 'Query Text: SELECT count(*) AS coload_probe' &&
     grep -qE 'actual time=[0-9.]+\.\.[0-9.]+ rows=1 loops=1' "$txlog.mine"; then
    ok "txguard-$order:neighbours:auto_explain logged the probe's plan with ANALYZE"
  else
    sed 's/^/#   /' "$txlog.mine"; notok "txguard-$order:neighbours:auto_explain logged the probe's plan with ANALYZE"
  fi
  check "txguard-$order:neighbours:auto_explain logged no plan for the failing INSERT" \
    bash -c '! grep -qF "Query Text: INSERT INTO t VALUES (1)" "$1"' _ "$txlog.mine"
  # pg_stat_statements: the successful statements, not the failing INSERT nor the rejected SELECT 1
  pgss=$(q "SELECT string_agg(query || '=' || calls, '; ' ORDER BY query) FROM pg_stat_statements
            WHERE query IN ('BEGIN', 'ROLLBACK', 'SELECT count(*) AS coload_probe FROM t WHERE id = \$1',
                            'SELECT pg_sleep(\$1) AS coload_wait', 'INSERT INTO t VALUES (\$1)', 'SELECT \$1')" 2>&1)
  check "txguard-$order:neighbours:pg_stat_statements counted the successful statements ($pgss)" \
    [ "$pgss" = 'BEGIN=1; ROLLBACK=1; SELECT count(*) AS coload_probe FROM t WHERE id = $1=1; SELECT pg_sleep($1) AS coload_wait=1' ]
  # pg_qualstats: the qual of the probe (t.id = 1)
  qual=$(q "SELECT count(*) FROM pg_qualstats() WHERE lrelid = 't'::regclass" 2>&1)
  check "txguard-$order:neighbours:pg_qualstats recorded the probe's qual on t.id ($qual)" [ "${qual:-0}" -gt 0 ] 2>/dev/null
  # pg_stat_kcache: a row for the probe's query
  kc=$(q "SELECT count(*) FROM pg_stat_kcache_detail WHERE query LIKE 'SELECT count(*) AS coload_probe%'" 2>&1)
  check "txguard-$order:neighbours:pg_stat_kcache has the probe's query ($kc)" [ "$kc" = 1 ]
  # pg_wait_sampling: the collector sampled the session's pg_sleep (every 10 ms)
  ws=$(q "SELECT coalesce(sum(count), 0) FROM pg_wait_sampling_profile WHERE pid = $pid AND event = 'PgSleep'" 2>&1)
  check "txguard-$order:neighbours:pg_wait_sampling sampled the session's PgSleep ($ws samples)" [ "${ws:-0}" -gt 0 ] 2>/dev/null
  # pg_cron: its launcher runs, a job can be scheduled and unscheduled
  cron=$(q "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_cron launcher'" 2>&1)
  job=$(q "SELECT cron.unschedule(cron.schedule('coload_$order', '0 0 1 1 *', 'SELECT 1'))" 2>&1)
  check "txguard-$order:neighbours:pg_cron launcher runs ($cron), schedule/unschedule ($job)" [ "$cron" = 1 ] && [ "$job" = t ]

  stop_server
done

# ---------------------------------------------------------------- both orders
if [ ${#ORDERS[@]} = 2 ]; then
  if cmp -s "$SCRATCH/client-first.out" "$SCRATCH/client-last.out"; then
    ok "coload:orders: the client sees the same output with txguard first and last"
  else
    diff "$SCRATCH/client-first.out" "$SCRATCH/client-last.out"
    notok "coload:orders: the client sees the same output with txguard first and last"
  fi
  # txguard's and pgaudit's log lines without timestamps, pids and application names
  norm() { grep -E 'ERROR:|DETAIL:|HINT:|WARNING:  txguard|LOG:  AUDIT' "$1" | sed -E 's/^[^]]*\] [^:]*: //; s/[0-9]+\.[0-9]+ s aborted/N s aborted/'; }
  if diff <(norm "$SCRATCH/tx-first.log.mine") <(norm "$SCRATCH/tx-last.log.mine") >"$SCRATCH/orders.diff"; then
    ok "coload:orders: the same txguard and pgaudit server log lines in both orders"
  else
    cat "$SCRATCH/orders.diff"; notok "coload:orders: the same txguard and pgaudit server log lines in both orders"
  fi
fi

# emit_log_hook: which loaded module installs one (the hook order decides what a
# later hook sees of txguard's annotation)
users=()
for n in txguard "${NEIGHBOURS[@]}"; do
  syms=$(nm -D "$LIB/$n.so" 2>/dev/null)
  grep -qw emit_log_hook <<<"$syms" && users+=("$n")
done
note "modules that reference emit_log_hook: ${users[*]:-none}"
note "coload: finished after $((SECONDS - t0)) s"
echo "# coload: $passed passed, $failed failed"
[ "$failed" = 0 ]
