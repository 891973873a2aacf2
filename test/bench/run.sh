#!/usr/bin/env bash
# test/bench/run.sh: txguard overhead benchmarks (NOT part of the test suite).
#
#   bash test/bench/run.sh all              # as root: everything BENCHMARKS.md shows, ~20 min
#   bash test/bench/run.sh --concurrency    # the concurrency part alone, ~5 min
#   bash test/bench/run.sh PART...          # PART: callgrind netgrind concurrency memory shmem
#                                           #       pgbench reader
#
# Builds the txguard source tree this script belongs to (TXG_SRC to point
# elsewhere) into a private copy of PostgreSQL 15 under $OUT/pg (Debian's
# /usr/lib/postgresql/15 and /usr/share/postgresql/15 copied, txguard
# installed with DESTDIR), so it never touches the system install and a
# reinstall elsewhere cannot change a run half-way.  pg_stat_statements
# comes from the same copy.  Servers run as the `postgres` OS user in
# throwaway clusters under $OUT, on ports 56800-56899, and are stopped at
# the end.  Results (raw TSV, callgrind profiles, summary.md) go to
# $OUT/results; summary.md holds the tables BENCHMARKS.md quotes.
#
# Parts:
#   callgrind    instructions in a single-user backend (postgres --single)
#                under valgrind: SELECT 1, and the abort-path transaction
#                BEGIN; SELECT 1/0; SELECT 1 (25P02); ROLLBACK; per repetition
#                (I(CG_BIG) - I(CG_SMALL)) / (CG_BIG - CG_SMALL), each run on a
#                fresh copy of one data directory; vanilla, txguard (defaults,
#                own work only, log_aborts = all), pg_stat_statements side by
#                side; txguard's functions per repetition (cgfuncs.py)
#   netgrind     instructions of real client backends: the postmaster under
#                callgrind; pgbench -S -M prepared, and the abort-path
#                transaction over the socket (abort_driver)
#   concurrency  every transaction aborting (conc_driver), CONC_CLIENTS
#                clients, vanilla / txguard / pg_stat_statements interleaved
#                over CONC_ROUNDS rounds of CONC_SECONDS: tps, backend CPU per
#                transaction, wait events sampled every 10 ms
#   memory       one session, MEM_N aborted transactions (abort_driver),
#                its memory contexts and RSS sampled every MEM_EVERY
#   shmem        pg_shmem_allocations' "txguard" entry at the defaults and
#                for other max_connections and sizing settings
#   pgbench      pgbench -S and tpcb-like, 1 and 8 clients: tps and server
#                CPU per transaction, interleaved rounds (success path, timed)
#   reader       the cost of reading a full history (reader.py)
# "all" = callgrind netgrind concurrency memory shmem.
#
# Knobs (environment):
#   OUT=/tmp/txguard-bench  TXG_SRC=<this tree>  SCALE=10  KEEP=1 (keep data dirs)
#   CG_SMALL=200 CG_BIG=2200    NG_SMALL=100 NG_BIG=2100
#   CONC_CLIENTS="1 8 32 64 128"  CONC_ROUNDS=3  CONC_SECONDS=5  CONC_WARMUP=1
#   MEM_N=1000000  MEM_EVERY=100000  MEM_VANILLA_N=MEM_N/5
#   ROUNDS=3 DURATION=3 PGB_SCRIPTS="select tpcb" PGB_CLIENTS="1 8"
#   PGB_PROTOCOLS="simple prepared"  READER_SIZES="1000 100000"
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/../.." && pwd)
TXG_SRC=${TXG_SRC:-$REPO}
SYS_PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config

OUT=${OUT:-/tmp/txguard-bench}
SCALE=${SCALE:-10}
KEEP=${KEEP:-0}
CG_SMALL=${CG_SMALL:-200}
CG_BIG=${CG_BIG:-2200}
NG_SMALL=${NG_SMALL:-100}
NG_BIG=${NG_BIG:-2100}
CONC_CLIENTS=${CONC_CLIENTS:-1 8 32 64 128}
CONC_ROUNDS=${CONC_ROUNDS:-3}
CONC_SECONDS=${CONC_SECONDS:-5}
CONC_WARMUP=${CONC_WARMUP:-1}
MEM_N=${MEM_N:-1000000}
MEM_EVERY=${MEM_EVERY:-100000}
MEM_VANILLA_N=${MEM_VANILLA_N:-$((MEM_N / 5))}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
PGB_SCRIPTS=${PGB_SCRIPTS:-select tpcb}
PGB_CLIENTS=${PGB_CLIENTS:-1 8}
PGB_PROTOCOLS=${PGB_PROTOCOLS:-simple prepared}
READER_SIZES=${READER_SIZES:-1000 100000}

ALL_PARTS=(callgrind netgrind concurrency memory shmem pgbench reader)
PARTS=()
for a in "$@"; do
	case $a in
		all) PARTS+=(callgrind netgrind concurrency memory shmem) ;;
		--concurrency) PARTS+=(concurrency) ;;
		--*) PARTS+=("${a#--}") ;;
		*) PARTS+=("$a") ;;
	esac
done
if [ ${#PARTS[@]} = 0 ]; then
	sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
for p in "${PARTS[@]}"; do
	[[ " ${ALL_PARTS[*]} " == *" $p "* ]] || { echo "run.sh: unknown part $p" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (servers run as the postgres user)" >&2; exit 1; }

as_pg() { runuser -u postgres -- "$@"; }
log() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

PRIV=$OUT/pg
B=$PRIV/usr/lib/postgresql/15/bin
SOCK=$OUT/sock
RES=$OUT/results

STARTED=()
cleanup() {
	local d
	for d in "${STARTED[@]}"; do
		[ -f "$d/postmaster.pid" ] && as_pg "$B/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
	done
	if [ "$KEEP" != 1 ]; then
		rm -rf "$OUT/clusters" "$OUT/cg/data."* "$OUT/cg/template" "$OUT/mem/data" \
			"$OUT/shmem/data" "$OUT"/ng/*/data "$OUT/reader"
	fi
}
trap cleanup EXIT

# Stop the servers of an earlier run in $OUT, then start afresh.
if [ -x "$B/pg_ctl" ]; then
	for pid in "$OUT"/clusters/*/data/postmaster.pid "$OUT"/ng/*/data/postmaster.pid \
		"$OUT"/mem/data/postmaster.pid "$OUT"/shmem/data/postmaster.pid "$OUT"/reader/*/data/postmaster.pid; do
		[ -f "$pid" ] && as_pg "$B/pg_ctl" -D "$(dirname "$pid")" -m immediate -w stop >/dev/null 2>&1 || true
	done
fi
rm -rf "$OUT"
install -d -o postgres -g postgres "$OUT" "$OUT/clusters" "$OUT/cg" "$OUT/mem" "$OUT/ng" "$SOCK"
install -d "$RES"
cd "$OUT"

# ---- the private PostgreSQL copy with this tree's txguard -----------------
log "private PostgreSQL copy in $PRIV, txguard built from $TXG_SRC"
mkdir -p "$PRIV/usr/lib/postgresql" "$PRIV/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$PRIV/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$PRIV/usr/share/postgresql/"
mkdir -p "$OUT/build"
cp -a "$TXG_SRC/Makefile" "$TXG_SRC/txguard.control" "$TXG_SRC"/txguard--*.sql "$TXG_SRC/src" "$OUT/build/"
make -C "$OUT/build" -s PG_CONFIG="$SYS_PG_CONFIG" clean >/dev/null
make -C "$OUT/build" -s PG_CONFIG="$SYS_PG_CONFIG" >"$OUT/build/make.log" 2>&1 ||
	{ cat "$OUT/build/make.log" >&2; exit 1; }
make -C "$OUT/build" -s PG_CONFIG="$SYS_PG_CONFIG" install DESTDIR="$PRIV" >>"$OUT/build/make.log" 2>&1 ||
	{ cat "$OUT/build/make.log" >&2; exit 1; }
TXG_SO=$PRIV/usr/lib/postgresql/15/lib/txguard.so
[ "$("$B/pg_config" --pkglibdir)" = "$PRIV/usr/lib/postgresql/15/lib" ] ||
	{ echo "run.sh: the private copy does not find its own libdir" >&2; exit 1; }

# ---- facts about this run -------------------------------------------------
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command: run.sh ${PARTS[*]} (CG_SMALL=$CG_SMALL CG_BIG=$CG_BIG NG_SMALL=$NG_SMALL NG_BIG=$NG_BIG CONC_CLIENTS='$CONC_CLIENTS' CONC_ROUNDS=$CONC_ROUNDS CONC_SECONDS=$CONC_SECONDS CONC_WARMUP=$CONC_WARMUP MEM_N=$MEM_N MEM_EVERY=$MEM_EVERY)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GiB"
	echo "kernel: $(uname -r)"
	echo "postgres: $("$B/postgres" --version)"
	echo "valgrind: $(valgrind --version 2>/dev/null || echo none)"
	echo "txguard: $(git -C "$TXG_SRC" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$TXG_SRC" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)'), txguard.so md5 $(md5sum "$TXG_SO" | cut -c1-12)"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RES/machine.txt"
cat "$RES/machine.txt" >&2

# ---- helpers --------------------------------------------------------------
# Ports: 56800-56809 timed clusters, 56810 template, 56811 shmem, 56812
# memory, 56813 reader, 56820-56829 netgrind.
TEMPLATE_PORT=56810
SHMEM_PORT=56811
MEM_PORT=56812
READER_PORT=56813

# Settings shared by every cluster that runs a workload
common_conf() {
	cat <<-CONF
	listen_addresses = ''
	unix_socket_directories = '$SOCK'
	shared_buffers = 256MB
	fsync = off
	full_page_writes = off
	max_wal_size = 8GB
	checkpoint_timeout = 1h
	autovacuum = off
	huge_pages = off
	jit = off
	txguard.persist = off
	log_line_prefix = '%m [%p] '
	CONF
}

start_cluster() {	# data-dir logfile
	as_pg "$B/pg_ctl" -D "$1" -l "$2" -w -t 120 start >/dev/null
	STARTED+=("$1")
}

stop_cluster() {
	as_pg "$B/pg_ctl" -D "$1" -m fast -w -t 120 stop >/dev/null
}

psql_at() {		# port sql...
	local port=$1; shift
	"$B/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$port" -U postgres -d postgres -Atc "$@"
}

psql_hdr() {	# port sql: unaligned, with the column names
	"$B/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$1" -U postgres -d postgres -AF $'\t' --pset=footer=off -c "$2"
}

initdb_as_pg() {	# data-dir
	as_pg "$B/initdb" -D "$1" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
}

build_c() {		# name
	[ -x "$OUT/$1" ] && return
	gcc -O2 -Wall -I"$("$SYS_PG_CONFIG" --includedir)" -o "$OUT/$1" "$BENCH/$1.c" -lpq
}

# One data directory (pgbench -i -s SCALE, a table with a unique key holding
# 1) that every timed cluster copies.
TEMPLATE_UP=0
template_up() {
	[ "$TEMPLATE_UP" = 1 ] && return
	local t=$OUT/clusters/template
	log "creating the template cluster (pgbench -i -s $SCALE)"
	as_pg install -d "$t"
	initdb_as_pg "$t/data"
	{ common_conf; echo "port = $TEMPLATE_PORT"; } >> "$t/data/postgresql.conf"
	start_cluster "$t/data" "$t/server.log"
	"$B/pgbench" -h "$SOCK" -p "$TEMPLATE_PORT" -U postgres -i -q -s "$SCALE" postgres >"$t/init.log" 2>&1
	psql_at "$TEMPLATE_PORT" "CREATE TABLE bench_dup (id int PRIMARY KEY); INSERT INTO bench_dup VALUES (1)"
	psql_at "$TEMPLATE_PORT" "VACUUM ANALYZE"
	psql_at "$TEMPLATE_PORT" "CHECKPOINT"
	stop_cluster "$t/data"
	TEMPLATE_UP=1
}

# The configurations compared, and how each is preloaded
CONFIGS=(vanilla txguard pgss)
declare -A PRELOAD=([vanilla]="" [txguard]="txguard" [pgss]="pg_stat_statements")
declare -A PORT=([vanilla]=56800 [txguard]=56801 [pgss]=56802)

# Copies of the template, one per configuration, started.
CLUSTERS_UP=0
clusters_up() {
	[ "$CLUSTERS_UP" = 1 ] && return
	template_up
	local c d
	for c in "${CONFIGS[@]}"; do
		d=$OUT/clusters/$c
		as_pg install -d "$d"
		as_pg cp -a "$OUT/clusters/template/data" "$d/data"
		{
			echo "port = ${PORT[$c]}"
			echo "max_connections = 200"
			echo "shared_preload_libraries = '${PRELOAD[$c]}'"
		} >> "$d/data/postgresql.conf"
		start_cluster "$d/data" "$d/server.log"
		log "  $c: port ${PORT[$c]}, shared_preload_libraries = '$(psql_at "${PORT[$c]}" 'SHOW shared_preload_libraries')'"
	done
	CLUSTERS_UP=1
}

# The configurations in the order of round $1: A B C, then B C A, ...
rotated() {
	local r=$1 i n=${#CONFIGS[@]}
	for ((i = 0; i < n; i++)); do echo "${CONFIGS[$(((r - 1 + i) % n))]}"; done
}

# ---- part: callgrind ------------------------------------------------------
# Scripts for postgres --single: one statement per line.
cg_script() {	# workload count
	local w=$1 k=$2 i
	case $w in
		select) for ((i = 1; i <= k; i++)); do echo "SELECT 1;"; done ;;
		abort)
			for ((i = 1; i <= k; i++)); do
				echo "BEGIN;"
				echo "SELECT 1/0;"
				echo "SELECT 1;"
				echo "ROLLBACK;"
			done ;;
	esac
}

# The variants measured: name -> postgres options.  txguard.persist = off:
# a single-user backend would save the history at its exit, a one-time cost
# that grows with the number of records.
P="-c shared_preload_libraries=txguard -c txguard.persist=off"
declare -A CG_OPTS=(
	[vanilla]=""
	[vanilla2]=""
	[txguard]="$P"
	[txguard_own]="$P -c txguard.log_aborts=off -c txguard.annotate=off"
	[txguard_logall]="$P -c txguard.log_aborts=all"
	[pgss]="-c shared_preload_libraries=pg_stat_statements"
)

cg_run() {	# variant workload count
	local v=$1 w=$2 k=$3
	local name=$v.$w.$k
	local data=$OUT/cg/data.$name
	cg_script "$w" "$k" > "$OUT/cg/$w.$k.sql"
	as_pg cp -a "$OUT/cg/template" "$data"
	# shellcheck disable=SC2086
	as_pg valgrind --tool=callgrind --callgrind-out-file="$OUT/cg/$name.out" \
		"$B/postgres" --single -D "$data" ${CG_OPTS[$v]} postgres \
		< "$OUT/cg/$w.$k.sql" > "$OUT/cg/$name.stdout" 2> "$OUT/cg/$name.stderr"
	rm -rf "$data"
	local total
	total=$(grep -E '^(summary|totals):' "$OUT/cg/$name.out" | tail -1 | awk '{print $2}')
	printf '%s\t%s\t%s\t%s\n' "$v" "$w" "$k" "$total" >> "$RES/callgrind.tsv"
	log "  callgrind $name: $total instructions"
}

part_callgrind() {
	command -v valgrind >/dev/null || { log "callgrind: valgrind not installed, skipped"; return; }
	log "callgrind: single-user backends, $CG_SMALL and $CG_BIG repetitions"
	local t=$OUT/cg/template
	initdb_as_pg "$t"
	{ echo "huge_pages = off"; echo "fsync = off"; echo "log_line_prefix = '%m [%p] '"; } >> "$t/postgresql.conf"
	as_pg "$B/postgres" --single -D "$t" -c shared_preload_libraries=pg_stat_statements,txguard postgres \
		> "$OUT/cg/setup.out" 2>&1 <<-'SQL'
	CREATE EXTENSION txguard;
	CREATE EXTENSION pg_stat_statements;
	VACUUM ANALYZE;
	CHECKPOINT;
	SQL
	: > "$RES/callgrind.tsv"
	local v k
	for v in vanilla txguard pgss vanilla2; do
		for k in "$CG_SMALL" "$CG_BIG"; do cg_run "$v" select "$k"; done
	done
	for v in vanilla txguard txguard_own txguard_logall pgss vanilla2; do
		for k in "$CG_SMALL" "$CG_BIG"; do cg_run "$v" abort "$k"; done
	done
	# single-user sanity: txguard named the cause; the end-of-block lines
	# appear with log_aborts = all only (a ROLLBACK right away is no problem)
	{
		echo "annotated 25P02 (defaults): $(grep -c 'DETAIL:  The transaction was aborted by an earlier error in statement 1: ERROR 22012' "$OUT/cg/txguard.abort.$CG_BIG.stderr" || true) of $CG_BIG"
		echo "end-of-block lines (defaults): $(grep -c 'txguard: aborted transaction ended' "$OUT/cg/txguard.abort.$CG_BIG.stderr" || true) (0 expected)"
		echo "end-of-block lines (log_aborts = all): $(grep -c 'txguard: aborted transaction ended' "$OUT/cg/txguard_logall.abort.$CG_BIG.stderr" || true) of $CG_BIG"
		echo "annotated 25P02 (annotate = off): $(grep -c 'The transaction was aborted by an earlier error' "$OUT/cg/txguard_own.abort.$CG_BIG.stderr" || true) (0 expected)"
		echo "vanilla annotated: $(grep -c 'The transaction was aborted by an earlier error' "$OUT/cg/vanilla.abort.$CG_BIG.stderr" || true) (0 expected)"
	} > "$RES/callgrind_check.txt"
	cat "$RES/callgrind_check.txt" >&2
	# txguard's functions per repetition (difference of the two runs)
	local w
	for v in txguard txguard_own txguard_logall; do
		for w in select abort; do
			[ -f "$OUT/cg/$v.$w.$CG_BIG.out" ] || continue
			/usr/bin/python3 "$BENCH/cgfuncs.py" "$OUT/cg/$v.$w.$CG_SMALL.out" "$OUT/cg/$v.$w.$CG_BIG.out" \
				$((CG_BIG - CG_SMALL)) > "$RES/funcs.$v.$w.tsv"
		done
	done
	# the whole process's extra self cost on the abort path, by where it goes
	for v in txguard txguard_own; do
		/usr/bin/python3 "$BENCH/cgfuncs.py" --self-diff \
			"$OUT/cg/vanilla.abort.$CG_SMALL.out" "$OUT/cg/vanilla.abort.$CG_BIG.out" \
			"$OUT/cg/$v.abort.$CG_SMALL.out" "$OUT/cg/$v.abort.$CG_BIG.out" \
			$((CG_BIG - CG_SMALL)) "$B/postgres" > "$RES/selfdiff.$v.abort.tsv"
	done
	callgrind_annotate --inclusive=yes --threshold=100 "$OUT/cg/txguard.abort.$CG_BIG.out" \
		> "$RES/txguard.abort.$CG_BIG.incl.txt" 2>/dev/null || true
}

# ---- part: netgrind -------------------------------------------------------
# Instructions per transaction of real client backends: the postmaster runs
# under callgrind with --trace-children, so every backend writes its own
# profile; each workload runs once with NG_SMALL and once with NG_BIG
# transactions (one client), and the difference of the summed instruction
# counts of the backends each run created, divided by NG_BIG - NG_SMALL, is
# the cost of one transaction (connection start-up cancels out).  pgbench
# runs with a fixed --random-seed, so every configuration reads the same rows.
declare -A NG_PORT=([vanilla]=56820 [txguard]=56821 [pgss]=56822)

ng_sum_new() {		# dir marker-file: sum of the instructions of profiles newer than marker
	local f total=0 n
	while IFS= read -r f; do
		n=$(grep -E '^(summary|totals):' "$f" | tail -1 | awk '{print $2}')
		total=$((total + ${n:-0}))
	done < <(find "$1" -name 'cg.*.out' -newer "$2")
	echo "$total"
}

ng_count_new() {	# dir marker-file: number of complete profiles newer than marker
	find "$1" -name 'cg.*.out' -newer "$2" -exec grep -lE '^(summary|totals):' {} + 2>/dev/null | wc -l
}

# Wait until at least $3 backends started after the marker have exited and
# written their profiles, and no more appear.  No connection is made here:
# it would be a backend of its own.
ng_wait() {		# dir marker-file expected
	local i n prev=-1
	for ((i = 0; i < 120; i++)); do
		n=$(ng_count_new "$1" "$2")
		if [ "$n" -ge "$3" ] && [ "$n" = "$prev" ]; then return; fi
		prev=$n
		sleep 2
	done
	log "netgrind: only $n of $3 profiles appeared"
}

part_netgrind() {
	command -v valgrind >/dev/null || { log "netgrind: valgrind not installed, skipped"; return; }
	build_c abort_driver
	template_up
	log "netgrind: postmaster under callgrind, $NG_SMALL and $NG_BIG transactions per workload"
	: > "$RES/netgrind.tsv"
	local c d w k port total conn expect i pc
	# vanilla2: vanilla once more at the end, to show how deterministic the counts are
	for c in "${CONFIGS[@]}" vanilla2; do
		d=$OUT/ng/$c
		pc=${c%2}
		port=${NG_PORT[$pc]}
		as_pg install -d "$d" "$d/prof"
		as_pg cp -a "$OUT/clusters/template/data" "$d/data"
		{
			echo "port = $port"
			echo "shared_preload_libraries = '${PRELOAD[$pc]}'"
		} >> "$d/data/postgresql.conf"
		(cd "$d" && as_pg valgrind --tool=callgrind --trace-children=yes \
			--callgrind-out-file="$d/prof/cg.%p.out" "$B/postgres" -D "$d/data" > "$d/server.log" 2>&1 &)
		STARTED+=("$d/data")
		for ((i = 0; i < 300; i++)); do
			psql_at "$port" 'SELECT 1' >/dev/null 2>&1 && break
			sleep 1
		done
		conn="host=$SOCK port=$port user=postgres dbname=postgres"
		sleep 5		# the set-up connections' profiles are written
		for w in select-prepared abort; do
			for k in "$NG_SMALL" "$NG_BIG"; do
				as_pg touch "$d/prof/marker"
				sleep 1
				case $w in
					abort) "$OUT/abort_driver" -z -w 0 -n "$k" "$conn" > /dev/null; expect=1 ;;
					select-*) "$B/pgbench" -h "$SOCK" -p "$port" -U postgres -n -S -M "${w#select-}" -c 1 -t "$k" --random-seed=1 postgres > /dev/null 2>&1; expect=2 ;;
				esac
				ng_wait "$d/prof" "$d/prof/marker" "$expect"
				total=$(ng_sum_new "$d/prof" "$d/prof/marker")
				printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$w" "$k" "$total" "$(ng_count_new "$d/prof" "$d/prof/marker")" >> "$RES/netgrind.tsv"
				# the profile of the backend that ran the workload (the most
				# portals run; pgbench's first connection only looks around),
				# for cgfuncs.py
				cp "$(/usr/bin/python3 "$BENCH/cgfuncs.py" --most-calls PortalRun \
					$(find "$d/prof" -name 'cg.*.out' -newer "$d/prof/marker"))" "$OUT/ng/$c.$w.$k.out" || true
				log "  netgrind $c $w $k: $total instructions"
			done
		done
		as_pg "$B/pg_ctl" -D "$d/data" -m fast -w -t 300 stop >/dev/null
	done
	for w in select-prepared abort; do
		[ -f "$OUT/ng/txguard.$w.$NG_BIG.out" ] || continue
		/usr/bin/python3 "$BENCH/cgfuncs.py" "$OUT/ng/txguard.$w.$NG_SMALL.out" "$OUT/ng/txguard.$w.$NG_BIG.out" \
			$((NG_BIG - NG_SMALL)) > "$RES/funcs.txguard.net-$w.tsv"
	done
}

# ---- part: concurrency ----------------------------------------------------
# conc_driver against each configuration in turn: per round, per number of
# clients, the three configurations in rotated order.  The server logs are
# emptied after each run (they grow by ~100 MB a minute).
part_concurrency() {
	build_c conc_driver
	clusters_up
	local n=0 r cl c out line
	for cl in $CONC_CLIENTS; do n=$((n + 1)); done
	log "concurrency: $CONC_ROUNDS rounds x $n client counts x ${#CONFIGS[@]} configs x ($CONC_WARMUP + $CONC_SECONDS) s"
	printf 'round\tclients\tconfig\tseconds\txacts\ttps\tbackend_cpu_s\tcpu_us_per_xact\tannotated\tsamples\tactive\n' > "$RES/conc.tsv"
	printf 'round\tclients\tconfig\ttype\tevent\tcount\n' > "$RES/conc_waits.tsv"
	for ((r = 1; r <= CONC_ROUNDS; r++)); do
		for cl in $CONC_CLIENTS; do
			for c in $(rotated "$r"); do
				out=$("$OUT/conc_driver" -c "$cl" -T "$CONC_SECONDS" -W "$CONC_WARMUP" -i 10 \
					"host=$SOCK port=${PORT[$c]} user=postgres dbname=postgres")
				line=$(echo "$out" | grep '^RESULT')
				printf '%s\t%s\t%s\t%s\n' "$r" "$cl" "$c" \
					"$(echo "$line" | sed -E 's/^RESULT clients=[0-9]+ //; s/[a-z_]+=//g; s/ /\t/g')" >> "$RES/conc.tsv"
				echo "$out" | awk -v r="$r" -v cl="$cl" -v c="$c" '$1 == "WAIT" { printf "%s\t%s\t%s\t%s\t%s\t%s\n", r, cl, c, $2, $3, $4 }' >> "$RES/conc_waits.tsv"
				log "  round $r, $cl clients, $c: $(echo "$line" | sed -E 's/^RESULT //')"
				: > "$OUT/clusters/$c/server.log"
				# the driver's backends are gone before the next run starts
				for ((n = 0; n < 100; n++)); do
					[ "$(psql_at "${PORT[$c]}" "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'txguard_conc%'")" = 0 ] && break
					sleep 0.1
				done
			done
		done
	done
	psql_at "${PORT[txguard]}" "CREATE EXTENSION IF NOT EXISTS txguard"
	{
		echo "# txguard_info() after the concurrency runs"
		psql_hdr "${PORT[txguard]}" "SELECT * FROM txguard_info()"
		echo "# txguard_stats"
		psql_hdr "${PORT[txguard]}" "SELECT * FROM txguard_stats ORDER BY 1, 2, 3"
	} > "$RES/conc_txguard_state.txt" 2>&1 || true
}

# ---- part: memory ---------------------------------------------------------
# One session runs MEM_N aborted transactions (BEGIN; SELECT 1/0; SELECT 1;
# ROLLBACK) on a cluster with default settings and txguard preloaded,
# sampling its memory every MEM_EVERY; then MEM_VANILLA_N on the same
# cluster without txguard, for comparison.  The server log goes to /dev/null.
part_memory() {
	build_c abort_driver
	local d=$OUT/mem c n
	initdb_as_pg "$d/data"
	{
		echo "listen_addresses = ''"
		echo "port = $MEM_PORT"
		echo "unix_socket_directories = '$SOCK'"
		echo "fsync = off"
		echo "txguard.persist = off"
		echo "include_if_exists = 'preload.conf'"
	} >> "$d/data/postgresql.conf"
	: > "$RES/memory.txt"
	for c in txguard vanilla; do
		if [ "$c" = txguard ]; then n=$MEM_N; else n=$MEM_VANILLA_N; fi
		[ "$n" -gt 0 ] || continue
		log "memory: $c, $n aborted transactions in one session, sampled every $MEM_EVERY"
		echo "shared_preload_libraries = '${PRELOAD[$c]}'" | as_pg tee "$d/data/preload.conf" >/dev/null
		start_cluster "$d/data" /dev/null
		[ "$c" = txguard ] && psql_at "$MEM_PORT" "CREATE EXTENSION IF NOT EXISTS txguard"
		echo "CONFIG $c" >> "$RES/memory.txt"
		"$OUT/abort_driver" -z -n "$n" -s "$MEM_EVERY" -w 0 \
			"host=$SOCK port=$MEM_PORT user=postgres dbname=postgres application_name=txguard_bench" \
			| tee -a "$RES/memory.txt" >&2
		if [ "$c" = txguard ]; then
			psql_at "$MEM_PORT" "SELECT 'txguard_info: history_written=' || history_written || ' history_overwritten=' || history_overwritten || ' stats_entries=' || stats_entries FROM txguard_info()" \
				| tee -a "$RES/memory.txt" >&2
		fi
		stop_cluster "$d/data"
	done
}

# ---- part: shmem ----------------------------------------------------------
# One cluster restarted with each setting in turn: pg_shmem_allocations'
# txguard entry, and the total of pg_shmem_allocations.
SHMEM_CASES=(
	"vanilla|"
	"pg_stat_statements|shared_preload_libraries = 'pg_stat_statements'"
	"txguard defaults|shared_preload_libraries = 'txguard'"
	"max_connections = 50|shared_preload_libraries = 'txguard'
max_connections = 50"
	"max_connections = 200|shared_preload_libraries = 'txguard'
max_connections = 200"
	"max_connections = 400|shared_preload_libraries = 'txguard'
max_connections = 400"
	"history_size = 0|shared_preload_libraries = 'txguard'
txguard.history_size = 0"
	"history_size = 10000|shared_preload_libraries = 'txguard'
txguard.history_size = 10000"
	"history_size = 100000|shared_preload_libraries = 'txguard'
txguard.history_size = 100000"
	"max_statement_length = 64|shared_preload_libraries = 'txguard'
txguard.max_statement_length = 64"
	"max_statement_length = 4096|shared_preload_libraries = 'txguard'
txguard.max_statement_length = 4096"
	"max_statements = 0|shared_preload_libraries = 'txguard'
txguard.max_statements = 0"
	"max_statements = 10000|shared_preload_libraries = 'txguard'
txguard.max_statements = 10000"
	"max_statements = 100000|shared_preload_libraries = 'txguard'
txguard.max_statements = 100000"
)
part_shmem() {
	log "shmem: txguard's shared memory at the defaults and other sizes"
	local d=$OUT/shmem cs label conf
	as_pg install -d "$d"
	initdb_as_pg "$d/data"
	{
		echo "listen_addresses = ''"
		echo "port = $SHMEM_PORT"
		echo "unix_socket_directories = '$SOCK'"
		echo "txguard.persist = off"
		echo "include_if_exists = 'case.conf'"
	} >> "$d/data/postgresql.conf"
	printf 'case\ttxguard_size\ttxguard_allocated\ttotal_allocated\tbackend_slots\n' > "$RES/shmem.tsv"
	for cs in "${SHMEM_CASES[@]}"; do
		label=${cs%%|*}
		conf=${cs#*|}
		echo "$conf" | as_pg tee "$d/data/case.conf" >/dev/null
		start_cluster "$d/data" "$d/server.log"
		printf '%s\t%s\t%s\t%s\n' "$label" \
			"$(psql_at "$SHMEM_PORT" "SELECT coalesce(sum(size), 0) || E'\t' || coalesce(sum(allocated_size), 0) FROM pg_shmem_allocations WHERE name = 'txguard'")" \
			"$(psql_at "$SHMEM_PORT" "SELECT sum(allocated_size) FROM pg_shmem_allocations")" \
			"$(psql_at "$SHMEM_PORT" "SELECT current_setting('max_connections')::int + current_setting('autovacuum_max_workers')::int + 1 + current_setting('max_worker_processes')::int + current_setting('max_wal_senders')::int")" \
			>> "$RES/shmem.tsv"
		log "  $label: $(tail -1 "$RES/shmem.tsv" | cut -f2-)"
		stop_cluster "$d/data"
	done
}

# ---- part: pgbench --------------------------------------------------------
# CPU time of the cluster's backends, in clock ticks: the postmaster's own
# plus that of its exited children (cutime + cstime).
server_ticks() {	# config
	local pid
	pid=$(head -1 "$OUT/clusters/$1/data/postmaster.pid")
	awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat"
}

part_pgbench() {
	clusters_up
	local hz r s cl m c opts out tps xacts t0 t1
	hz=$(getconf CLK_TCK)
	log "pgbench: $ROUNDS rounds, $DURATION s per run"
	printf 'round\tworkload\tconfig\ttps\txacts\tserver_cpu_us_per_xact\n' > "$RES/pgbench.tsv"
	for ((r = 1; r <= ROUNDS; r++)); do
		for s in $PGB_SCRIPTS; do
			for cl in $PGB_CLIENTS; do
				for m in $PGB_PROTOCOLS; do
					opts=(-n -M "$m" -c "$cl" -j "$([ "$cl" -ge 2 ] && echo 2 || echo 1)" -T "$DURATION")
					[ "$s" = select ] && opts+=(-S)
					for c in $(rotated "$r"); do
						"$B/psql" -X -q -h "$SOCK" -p "${PORT[$c]}" -U postgres -d postgres \
							-c "VACUUM pgbench_branches" -c "VACUUM pgbench_tellers" -c "TRUNCATE pgbench_history"
						sleep 0.3
						t0=$(server_ticks "$c")
						out=$("$B/pgbench" -h "$SOCK" -p "${PORT[$c]}" -U postgres "${opts[@]}" postgres 2>&1) || {
							echo "$out" >&2; exit 1; }
						sleep 0.3
						t1=$(server_ticks "$c")
						psql_at "${PORT[$c]}" "CHECKPOINT"
						tps=$(echo "$out" | sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p')
						xacts=$(echo "$out" | sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p')
						printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s-c$cl-$m" "$c" "$tps" "$xacts" \
							"$(awk -v d=$((t1 - t0)) -v x="$xacts" -v hz="$hz" 'BEGIN { printf "%.2f", d * 1e6 / hz / x }')" \
							>> "$RES/pgbench.tsv"
						log "  round $r $s-c$cl-$m $c: $tps tps"
					done
				done
			done
		done
	done
}

# ---- part: reader ---------------------------------------------------------
part_reader() {
	build_c abort_driver
	local hs d
	printf 'history_size\tquery\trows\tseconds\trss_anon_before_kb\trss_anon_peak_kb\tvmhwm_before_kb\tvmhwm_after_kb\n' > "$RES/reader.tsv"
	for hs in $READER_SIZES; do
		d=$OUT/reader/$hs
		as_pg install -d "$d"
		initdb_as_pg "$d/data"
		{
			echo "port = $READER_PORT"; echo "unix_socket_directories = '$SOCK'"; echo "listen_addresses = ''"
			echo "fsync = off"; echo "synchronous_commit = off"
			echo "shared_preload_libraries = 'txguard'"
			echo "txguard.history_size = $hs"; echo "txguard.persist = off"; echo "txguard.log_aborts = off"
			echo "log_min_error_statement = panic"
		} >> "$d/data/postgresql.conf"
		start_cluster "$d/data" "$d/server.log"
		"$B/psql" -X -q -h "$SOCK" -p $READER_PORT -U postgres -d postgres \
			-c "CREATE EXTENSION txguard" -c "CREATE TABLE bench_dup (id int PRIMARY KEY)" -c "INSERT INTO bench_dup VALUES (1)"
		log "reader: filling a history of $hs"
		"$OUT/abort_driver" -n "$hs" -w 0 -t bench_dup "host=$SOCK port=$READER_PORT user=postgres dbname=postgres" | grep '^RESULT' >&2
		/usr/bin/python3 "$BENCH/reader.py" "host=$SOCK port=$READER_PORT user=postgres dbname=postgres" \
			"SELECT count(*) FROM txguard_aborts" \
			"SELECT count(*) FROM txguard_abort_history(1)" \
			"SELECT count(*) FROM txguard_aborts WHERE statement LIKE '%bench%'" |
		while read -r line; do
			log "  reader $hs: $line"
			printf '%s\t%s\n' "$hs" "$(echo "$line" | sed -E 's/^READ //; s/[a-z_]+=//g; s/ /\t/g')" >> "$RES/reader.tsv"
		done
		stop_cluster "$d/data"
		[ "$KEEP" = 1 ] || rm -rf "$d"
	done
}

for p in "${PARTS[@]}"; do
	t0=$SECONDS
	"part_$p"
	echo "part $p: $((SECONDS - t0)) s" >> "$RES/machine.txt"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/machine.txt"

/usr/bin/python3 "$BENCH/summarize.py" "$RES" > "$RES/summary.md"
cat "$RES/summary.md"
log "results in $RES (summary.md)"
