#!/usr/bin/env bash
# test/bench/run.sh: txguard overhead benchmarks (NOT part of the test suite).
#
#   bash test/bench/run.sh                 # as root: quick pgbench + abort-heavy timing, ~10 min
#   FULL=1 bash test/bench/run.sh all      # everything, as in BENCHMARKS.md, ~1 h
#   bash test/bench/run.sh PART...         # PART: shmem memory callgrind netgrind aborts pgbench reader
#
# Benchmarks the txguard installed in PostgreSQL 15's libdir (build and
# install the tree first; a copy taken at the start is what runs).  Servers
# run as the `postgres` OS user in throwaway clusters under $OUT, on ports
# 55500-55519, and are stopped at the end.  Results (raw TSV, logs,
# callgrind profiles, summary.md) go to $OUT/results; summary.md holds the
# tables BENCHMARKS.md quotes.
#
# Parts:
#   shmem      pg_shmem_allocations of txguard in a cluster with default
#              settings; total shared memory with each preload
#   memory     one session, MEM_N aborted transactions (abort_driver), its
#              memory contexts and RSS sampled every MEM_EVERY
#   callgrind  instructions per statement / per aborted transaction in a
#              single-user backend (postgres --single) under valgrind
#   netgrind   instructions per transaction of real client backends: the
#              postmaster under callgrind, pgbench and abort_driver as clients
#   aborts     abort-heavy throughput and backend CPU: abort_driver,
#              interleaved rounds over the four configurations
#   reader     the cost of reading the history: a cluster with
#              txguard.history_size = READER_SIZES (1000 and 100000), the ring
#              filled by abort_driver, then SELECT count(*) FROM txguard_aborts
#              and txguard_abort_history(<a pid with no rows>): wall time and
#              the reading backend's private memory (RssAnon) peak
#   pgbench    pgbench -S and tpcb-like, 1 and 8 clients, simple and
#              prepared protocol: tps and server CPU per transaction,
#              interleaved rounds over the four configurations
# The four configurations: vanilla, txguard, pg_stat_statements, both; the
# clusters have the same data (one pgbench -i, copied) and settings.
#
# Knobs (environment); quick defaults, FULL=1 values in brackets:
#   OUT=/tmp/txguard-bench  ROUNDS=3 [5]  DURATION=3 [10] (s)  SCALE=10
#   PGB_SCRIPTS="select tpcb"  PGB_CLIENTS="1 8"  PGB_PROTOCOLS="simple prepared"
#   ABORT_N=10000 [20000]  ABORT_ROUNDS=3 [5]
#   CG_SMALL=200  CG_BIG=2200            (callgrind: per-unit cost = difference / 2000)
#   NG_SMALL=100  NG_BIG=2100            (netgrind: likewise / 2000)
#   MEM_N=1000000  MEM_EVERY=100000  MEM_VANILLA_N=MEM_N/5
#   KEEP=1                               keep the clusters' data directories
# Rough times on 2 busy cores: shmem 10 s, memory 4 min, callgrind 10 min,
# netgrind 12 min, aborts 1-2 min, pgbench ROUNDS x 32 x (DURATION + 1.7) s.
# Profiles are kept in $OUT/cg and $OUT/ng/*/prof.
set -euo pipefail

BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$BENCH/../.." && pwd)
B=/usr/lib/postgresql/15/bin
LIBDIR=$("$B/pg_config" --pkglibdir)

OUT=${OUT:-/tmp/txguard-bench}
FULL=${FULL:-0}
if [ "$FULL" = 1 ]; then
	ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-10} ABORT_N=${ABORT_N:-20000} ABORT_ROUNDS=${ABORT_ROUNDS:-5}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3}
SCALE=${SCALE:-10}
PGB_SCRIPTS=${PGB_SCRIPTS:-select tpcb}
PGB_CLIENTS=${PGB_CLIENTS:-1 8}
PGB_PROTOCOLS=${PGB_PROTOCOLS:-simple prepared}
ABORT_N=${ABORT_N:-10000}
ABORT_ROUNDS=${ABORT_ROUNDS:-3}
CG_SMALL=${CG_SMALL:-200}
CG_BIG=${CG_BIG:-2200}
MEM_N=${MEM_N:-1000000}
MEM_EVERY=${MEM_EVERY:-100000}
KEEP=${KEEP:-0}

PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(aborts pgbench)
[ "${PARTS[*]}" = all ] && PARTS=(shmem memory callgrind netgrind aborts pgbench reader)

[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (servers run as the postgres user)" >&2; exit 1; }
[ -f "$LIBDIR/txguard.so" ] || { echo "run.sh: $LIBDIR/txguard.so is not installed" >&2; exit 1; }
for p in "${PARTS[@]}"; do
	case $p in shmem|memory|callgrind|netgrind|aborts|pgbench|reader) ;; *) echo "run.sh: unknown part $p" >&2; exit 2 ;; esac
done

# txguard is measured from a copy of the installed library taken at the
# start, loaded by its path, so that a reinstall during a long run cannot mix
# two builds; the timed clusters therefore run no CREATE EXTENSION (the hooks
# do not need it; the SQL functions would load $libdir/txguard).
TXG_LIB=$OUT/lib/txguard.so

# The four configurations, in the order they are interleaved
CONFIGS=(vanilla txguard pgss both)
declare -A PRELOAD=([vanilla]="" [txguard]="$TXG_LIB" [pgss]="pg_stat_statements"
					[both]="pg_stat_statements, $TXG_LIB")
declare -A PORT=([vanilla]=55500 [txguard]=55501 [pgss]=55502 [both]=55503)
TEMPLATE_PORT=55510
SHMEM_PORT=55511

as_pg() { runuser -u postgres -- "$@"; }

# The configurations in the order of round $1: A B C D, then B C D A, ...
# so that no configuration always runs right after the same other one
# (a write-heavy run leaves work to the previous cluster's background
# processes, and the first run of a group follows a read-only one).
rotated() {
	local r=$1 i n=${#CONFIGS[@]}
	for ((i = 0; i < n; i++)); do echo "${CONFIGS[$(((r - 1 + i) % n))]}"; done
}
log() { printf '%s  %s\n' "$(date +%T)" "$*" >&2; }

RES=$OUT/results
STARTED=()
cleanup() {
	for d in "${STARTED[@]}"; do
		[ -f "$d/postmaster.pid" ] && as_pg "$B/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
	done
	if [ "$KEEP" != 1 ]; then
		rm -rf "$OUT/clusters" "$OUT/cg/data."* "$OUT/cg/template" "$OUT/mem/data" "$OUT/shmem/data"
	fi
}
trap cleanup EXIT

# Stop leftovers of an earlier run in $OUT, then start afresh.
for pid in "$OUT"/clusters/*/data/postmaster.pid "$OUT"/ng/*/data/postmaster.pid \
	"$OUT"/mem/data/postmaster.pid "$OUT"/shmem/data/postmaster.pid; do
	[ -f "$pid" ] && as_pg "$B/pg_ctl" -D "$(dirname "$pid")" -m immediate -w stop >/dev/null 2>&1 || true
done
rm -rf "$OUT"
install -d -o postgres -g postgres "$OUT" "$OUT/clusters" "$OUT/cg" "$OUT/mem"
install -d "$RES"
install -d -o postgres -g postgres "$OUT/lib"
install -m 0755 "$LIBDIR/txguard.so" "$TXG_LIB"
cd "$OUT"

# ---- facts about this run -------------------------------------------------
{
	echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "command: ${0} ${PARTS[*]} (FULL=$FULL ROUNDS=$ROUNDS DURATION=$DURATION SCALE=$SCALE ABORT_N=$ABORT_N ABORT_ROUNDS=$ABORT_ROUNDS CG_SMALL=$CG_SMALL CG_BIG=$CG_BIG NG_SMALL=${NG_SMALL:-100} NG_BIG=${NG_BIG:-2100} MEM_N=$MEM_N MEM_EVERY=$MEM_EVERY)"
	echo "nproc: $(nproc)"
	echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "ram: $(free -g | awk '/^Mem:/ {print $2}') GiB"
	echo "kernel: $(uname -r)"
	echo "postgres: $("$B/postgres" --version)"
	echo "valgrind: $(valgrind --version 2>/dev/null || echo none)"
	echo "txguard.so: md5 $(md5sum "$TXG_LIB" | cut -c1-12), installed $(stat -c '%y' "$LIBDIR/txguard.so" | cut -c1-19), copied to $TXG_LIB at start"
	echo "repo: $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' (src modified)')"
	echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RES/machine.txt"
cat "$RES/machine.txt" >&2

# ---- helpers --------------------------------------------------------------

# Settings shared by every benchmark cluster
common_conf() {
	cat <<-CONF
	listen_addresses = ''
	max_connections = 100
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
	psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$port" -U postgres -d postgres -Atc "$@"
}

psql_hdr() {	# port sql: unaligned, with the column names
	psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$1" -U postgres -d postgres -AF $'\t' --pset=footer=off -c "$2"
}

SOCK=$OUT/sock
install -d -o postgres -g postgres "$SOCK"

DRIVER=$OUT/abort_driver
build_driver() {
	[ -x "$DRIVER" ] && return
	gcc -O2 -Wall -I"$(pg_config --includedir)" -o "$DRIVER" "$BENCH/abort_driver.c" -lpq
}

# Four clusters with identical data (one pgbench -i, copied) and settings,
# differing only in shared_preload_libraries.
CLUSTERS_UP=0
clusters_up() {
	[ "$CLUSTERS_UP" = 1 ] && return
	local t=$OUT/clusters/template
	log "creating the template cluster (pgbench -i -s $SCALE)"
	as_pg install -d "$t"
	as_pg "$B/initdb" -D "$t/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
	{ common_conf; echo "port = $TEMPLATE_PORT"; echo "unix_socket_directories = '$SOCK'"; } >> "$t/data/postgresql.conf"
	start_cluster "$t/data" "$t/server.log"
	pgbench -h "$SOCK" -p "$TEMPLATE_PORT" -U postgres -i -q -s "$SCALE" postgres >"$t/init.log" 2>&1
	psql_at "$TEMPLATE_PORT" "CREATE TABLE bench_dup (id int PRIMARY KEY); INSERT INTO bench_dup VALUES (1)"
	psql_at "$TEMPLATE_PORT" "VACUUM ANALYZE"
	psql_at "$TEMPLATE_PORT" "CHECKPOINT"
	stop_cluster "$t/data"
	for c in "${CONFIGS[@]}"; do
		local d=$OUT/clusters/$c
		as_pg install -d "$d"
		as_pg cp -a "$t/data" "$d/data"
		{
			echo "port = ${PORT[$c]}"
			echo "unix_socket_directories = '$SOCK'"
			echo "shared_preload_libraries = '${PRELOAD[$c]}'"
		} >> "$d/data/postgresql.conf"
		start_cluster "$d/data" "$d/server.log"
		log "  $c: port ${PORT[$c]}, shared_preload_libraries = '$(psql_at "${PORT[$c]}" 'SHOW shared_preload_libraries')'"
	done
	CLUSTERS_UP=1
}

# ---- part: shmem ----------------------------------------------------------
# One cluster with default settings, restarted with each preload in turn.
part_shmem() {
	log "shmem: default settings; total shared memory with each preload"
	local d=$OUT/shmem c
	as_pg install -d "$d"
	as_pg "$B/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
	{
		echo "listen_addresses = ''"
		echo "port = $SHMEM_PORT"
		echo "unix_socket_directories = '$SOCK'"
		echo "include_if_exists = 'preload.conf'"
	} >> "$d/data/postgresql.conf"
	: > "$RES/shmem.txt"
	# by name here: CREATE EXTENSION and txguard_info() use the installed library
	declare -A names=([vanilla]="" [txguard]="txguard" [pgss]="pg_stat_statements"
					  [both]="pg_stat_statements, txguard")
	for c in "${CONFIGS[@]}"; do
		echo "shared_preload_libraries = '${names[$c]}'" | as_pg tee "$d/data/preload.conf" >/dev/null
		start_cluster "$d/data" "$d/server.log"
		printf '%s\ttotal of pg_shmem_allocations\t%s\n' "$c" \
			"$(psql_at "$SHMEM_PORT" "SELECT sum(allocated_size) FROM pg_shmem_allocations")" >> "$RES/shmem.txt"
		if [ "$c" = txguard ]; then
			psql_at "$SHMEM_PORT" "CREATE EXTENSION txguard"
			{
				echo "# SELECT * FROM pg_shmem_allocations WHERE name = 'txguard'"
				psql_hdr "$SHMEM_PORT" "SELECT * FROM pg_shmem_allocations WHERE name = 'txguard'"
				echo "# SELECT * FROM txguard_info()"
				psql_hdr "$SHMEM_PORT" "SELECT * FROM txguard_info()"
				echo "# settings that size it"
				psql_hdr "$SHMEM_PORT" "SELECT name, setting FROM pg_settings WHERE name IN ('max_connections', 'autovacuum_max_workers', 'max_worker_processes', 'max_wal_senders', 'txguard.history_size', 'txguard.max_statement_length') ORDER BY name"
			} > "$RES/shmem_txguard.txt"
		fi
		stop_cluster "$d/data"
	done
	cat "$RES/shmem_txguard.txt" >> "$RES/shmem.txt"
	cat "$RES/shmem.txt" >&2
}

# ---- part: memory ---------------------------------------------------------
# One session runs MEM_N aborted transactions on a cluster with default
# settings and txguard preloaded, sampling its memory every MEM_EVERY; then,
# for comparison, MEM_VANILLA_N on the same cluster without txguard (the
# shared part of the RSS grows the same way there: WAL buffers and the dead
# tuples of the failed INSERTs in shared buffers).  The server log of a
# million aborts (~1.5 GB) goes to /dev/null.
MEM_VANILLA_N=${MEM_VANILLA_N:-$((MEM_N / 5))}
part_memory() {
	build_driver
	local d=$OUT/mem port=$((SHMEM_PORT + 1)) c n
	as_pg "$B/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
	{
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$SOCK'"
		echo "fsync = off"
		echo "include_if_exists = 'preload.conf'"
	} >> "$d/data/postgresql.conf"
	: > "$RES/memory.txt"
	for c in txguard vanilla; do
		if [ "$c" = txguard ]; then n=$MEM_N; else n=$MEM_VANILLA_N; fi
		[ "$n" -gt 0 ] || continue
		log "memory: $c, $n aborted transactions in one session, sampled every $MEM_EVERY"
		echo "shared_preload_libraries = '$([ "$c" = txguard ] && echo txguard)'" | as_pg tee "$d/data/preload.conf" >/dev/null
		start_cluster "$d/data" /dev/null
		psql_at "$port" "DROP TABLE IF EXISTS bench_dup; CREATE TABLE bench_dup (id int PRIMARY KEY); INSERT INTO bench_dup VALUES (1)"
		[ "$c" = txguard ] && psql_at "$port" "CREATE EXTENSION IF NOT EXISTS txguard"
		echo "CONFIG $c" >> "$RES/memory.txt"
		"$DRIVER" -n "$n" -s "$MEM_EVERY" -w 0 \
			"host=$SOCK port=$port user=postgres dbname=postgres application_name=txguard_bench" \
			| tee -a "$RES/memory.txt" >&2
		if [ "$c" = txguard ]; then
			psql_at "$port" "SELECT 'txguard_info: history_written=' || history_written || ' history_overwritten=' || history_overwritten || ' stats_entries=' || stats_entries FROM txguard_info()" \
				| tee -a "$RES/memory.txt" >&2
		fi
		stop_cluster "$d/data"
	done
}

# ---- part: callgrind ------------------------------------------------------
# Scripts for postgres --single: one statement per line.
cg_script() {	# workload count
	local w=$1 k=$2 i
	case $w in
		select) for ((i = 1; i <= k; i++)); do echo "SELECT 1;"; done ;;
		insert) for ((i = 1; i <= k; i++)); do echo "INSERT INTO s VALUES ($i);"; done ;;
		txn)
			for ((i = 1; i <= k; i++)); do
				echo "BEGIN;"
				echo "UPDATE acc SET bal = bal + 1 WHERE id = $((i % 1000 + 1));"
				echo "SELECT bal FROM acc WHERE id = $((i % 1000 + 1));"
				echo "COMMIT;"
			done ;;
		abort)
			for ((i = 1; i <= k; i++)); do
				echo "BEGIN;"
				echo "INSERT INTO t VALUES (1);"
				echo "SELECT 1;"
				echo "ROLLBACK;"
			done ;;
	esac
}

# The variants measured: name -> postgres options.  txguard.persist = off:
# a single-user backend saves the history at its exit, and that one-time
# cost grows with the number of records, which would be counted as a cost
# per statement here.
P="-c txguard.persist=off"
declare -A CG_OPTS=(
	[vanilla]=""
	[vanilla2]=""
	[txguard]="-c shared_preload_libraries=$TXG_LIB $P"
	[pgss]="-c shared_preload_libraries=pg_stat_statements"
	[both]="-c shared_preload_libraries=pg_stat_statements,$TXG_LIB $P"
	[txguard_nolog]="-c shared_preload_libraries=$TXG_LIB $P -c txguard.log_aborts=off"
	[txguard_noannot]="-c shared_preload_libraries=$TXG_LIB $P -c txguard.annotate=off"
	[txguard_nolog_noannot]="-c shared_preload_libraries=$TXG_LIB $P -c txguard.log_aborts=off -c txguard.annotate=off"
	[txguard_disabled]="-c shared_preload_libraries=$TXG_LIB $P -c txguard.enabled=off"
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
	as_pg "$B/initdb" -D "$t" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
	{ echo "huge_pages = off"; echo "fsync = off"; echo "log_line_prefix = '%m [%p] '"; } >> "$t/postgresql.conf"
	as_pg "$B/postgres" --single -D "$t" -c shared_preload_libraries=pg_stat_statements,txguard postgres \
		> "$OUT/cg/setup.out" 2>&1 <<-'SQL'
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t VALUES (1);
	CREATE TABLE s (id int PRIMARY KEY);
	CREATE TABLE acc (id int PRIMARY KEY, bal int NOT NULL);
	INSERT INTO acc SELECT g, 0 FROM generate_series(1, 1000) g;
	CREATE EXTENSION txguard;
	CREATE EXTENSION pg_stat_statements;
	VACUUM ANALYZE;
	CHECKPOINT;
	SQL
	: > "$RES/callgrind.tsv"
	local v w k
	for w in select insert txn abort; do
		for v in vanilla txguard pgss both; do
			for k in "$CG_SMALL" "$CG_BIG"; do cg_run "$v" "$w" "$k"; done
		done
	done
	for v in txguard_nolog txguard_noannot txguard_nolog_noannot txguard_disabled; do
		for k in "$CG_SMALL" "$CG_BIG"; do cg_run "$v" abort "$k"; done
	done
	# vanilla once more, workload by workload: how deterministic the counts are
	for w in select insert txn abort; do
		for k in "$CG_SMALL" "$CG_BIG"; do cg_run vanilla2 "$w" "$k"; done
	done
	# single-user sanity: txguard named the cause and logged the episode end
	local err=$OUT/cg/txguard.abort.$CG_BIG.stderr
	{
		echo "annotated 25P02 errors: $(grep -c 'DETAIL:  The transaction was aborted by an earlier error in statement 1: ERROR 23505' "$err" || true) (of $CG_BIG expected)"
		echo "txguard end-of-block lines: $(grep -c 'WARNING:  txguard: aborted transaction ended by rollback; cause unique_violation SQLSTATE 23505' "$err" || true) (of $CG_BIG expected)"
		echo "vanilla annotated: $(grep -c 'The transaction was aborted by an earlier error' "$OUT/cg/vanilla.abort.$CG_BIG.stderr" || true) (0 expected)"
	} > "$RES/callgrind_singleuser_check.txt"
	cat "$RES/callgrind_singleuser_check.txt" >&2
	# profiles of the txguard runs: where txguard's own instructions go
	for w in abort select txn; do
		for k in "$CG_SMALL" "$CG_BIG"; do
			callgrind_annotate --inclusive=yes --threshold=100 "$OUT/cg/txguard.$w.$k.out" \
				> "$OUT/cg/txguard.$w.$k.incl.txt" 2>/dev/null || true
			callgrind_annotate --inclusive=no --threshold=100 "$OUT/cg/txguard.$w.$k.out" \
				> "$OUT/cg/txguard.$w.$k.self.txt" 2>/dev/null || true
		done
	done
	cp "$OUT"/cg/txguard.*.incl.txt "$OUT"/cg/txguard.*.self.txt "$RES/" 2>/dev/null || true
}

# ---- part: aborts ---------------------------------------------------------
part_aborts() {
	build_driver
	clusters_up
	log "aborts: $ABORT_ROUNDS rounds x $ABORT_N aborted transactions per config"
	printf 'round\tconfig\titerations\tseconds\tper_iter_us\ttps\tannotated\tbackend_cpu_us\n' > "$RES/aborts.tsv"
	local r c line
	for ((r = 1; r <= ABORT_ROUNDS; r++)); do
		for c in $(rotated "$r"); do
			line=$("$DRIVER" -n "$ABORT_N" -w 500 \
				"host=$SOCK port=${PORT[$c]} user=postgres dbname=postgres application_name=txguard_bench" | grep '^RESULT')
			# RESULT iterations=N seconds=S per_iter_us=U tps=T annotated=A
			printf '%s\t%s\t%s\n' "$r" "$c" "$(echo "$line" | sed -E 's/^RESULT //; s/[a-z_]+=//g; s/ /\t/g')" >> "$RES/aborts.tsv"
			psql -X -q -h "$SOCK" -p "${PORT[$c]}" -U postgres -d postgres -c "CHECKPOINT"
			log "  round $r $c: $line"
		done
	done
	for c in "${CONFIGS[@]}"; do
		echo "$c server log: $(du -h "$OUT/clusters/$c/server.log" | cut -f1)"
	done > "$RES/aborts_logsize.txt"
}

# ---- part: reader ---------------------------------------------------------
READER_SIZES=${READER_SIZES:-1000 100000}
part_reader() {
	build_driver
	local hs d port=55519
	printf 'history_size\tquery\trows\tseconds\trss_anon_before_kb\trss_anon_peak_kb\tvmhwm_before_kb\tvmhwm_after_kb\n' > "$RES/reader.tsv"
	for hs in $READER_SIZES; do
		d=$OUT/reader/$hs
		as_pg install -d "$d"
		as_pg "$B/initdb" -D "$d/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
		{
			echo "port = $port"; echo "unix_socket_directories = '$SOCK'"; echo "listen_addresses = ''"
			echo "fsync = off"; echo "synchronous_commit = off"
			# the installed library: CREATE EXTENSION loads it by name
			echo "shared_preload_libraries = 'txguard'"
			echo "txguard.history_size = $hs"; echo "txguard.persist = off"; echo "txguard.log_aborts = off"
			echo "log_min_error_statement = panic"
		} >> "$d/data/postgresql.conf"
		start_cluster "$d/data" "$d/server.log"
		psql -X -q -h "$SOCK" -p $port -U postgres -d postgres \
			-c "CREATE EXTENSION txguard" -c "CREATE TABLE bench_dup (id int PRIMARY KEY)" -c "INSERT INTO bench_dup VALUES (1)"
		log "reader: filling a history of $hs"
		"$DRIVER" -n "$hs" -w 0 -t bench_dup "host=$SOCK port=$port user=postgres dbname=postgres" | grep '^RESULT' >&2
		psql -X -q -At -h "$SOCK" -p $port -U postgres -d postgres -c "SELECT 'history_written=' || history_written FROM txguard_info()" >&2
		/usr/bin/python3 "$BENCH/reader.py" "host=$SOCK port=$port user=postgres dbname=postgres" \
			"SELECT count(*) FROM txguard_aborts" \
			"SELECT count(*) FROM txguard_abort_history(1)" \
			"SELECT count(*) FROM txguard_aborts WHERE statement LIKE '%bench%'" |
		while read -r line; do
			log "  reader $hs: $line"
			printf '%s\t%s\n' "$hs" "$(echo "$line" | sed -E 's/^READ //; s/[a-z_]+=//g; s/ /\t/g')" >> "$RES/reader.tsv"
		done
		as_pg "$B/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null
		[ "$KEEP" = 1 ] || rm -rf "$d"
	done
}

# ---- part: pgbench --------------------------------------------------------
# CPU time of the cluster's backends, in clock ticks: the postmaster's own
# plus that of its exited children (cutime + cstime).  pgbench's backends
# have exited and been reaped when it is read after a run.
server_ticks() {	# config
	local pid
	pid=$(head -1 "$OUT/clusters/$1/data/postmaster.pid")
	awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pid/stat"
}

part_pgbench() {
	clusters_up
	local n=0 hz
	hz=$(getconf CLK_TCK)
	for s in $PGB_SCRIPTS; do for cl in $PGB_CLIENTS; do for m in $PGB_PROTOCOLS; do n=$((n + 1)); done; done; done
	log "pgbench: $ROUNDS rounds x $n workloads x ${#CONFIGS[@]} configs x $DURATION s (~$((ROUNDS * n * ${#CONFIGS[@]} * (DURATION + 2) / 60)) min)"
	printf 'round\tworkload\tconfig\ttps\txacts\tserver_cpu_us_per_xact\n' > "$RES/pgbench.tsv"
	local r s cl m c opts out tps xacts t0 t1
	for ((r = 1; r <= ROUNDS; r++)); do
		for s in $PGB_SCRIPTS; do
			for cl in $PGB_CLIENTS; do
				for m in $PGB_PROTOCOLS; do
					opts=(-n -M "$m" -c "$cl" -j "$([ "$cl" -ge 2 ] && echo 2 || echo 1)" -T "$DURATION")
					[ "$s" = select ] && opts+=(-S)
					for c in $(rotated "$r"); do
						# what pgbench's own pre-run vacuum does, outside the measurement
						psql -X -q -h "$SOCK" -p "${PORT[$c]}" -U postgres -d postgres \
							-c "VACUUM pgbench_branches" -c "VACUUM pgbench_tellers" -c "TRUNCATE pgbench_history"
						sleep 0.3
						t0=$(server_ticks "$c")
						out=$(pgbench -h "$SOCK" -p "${PORT[$c]}" -U postgres "${opts[@]}" postgres 2>&1) || {
							echo "$out" >&2; exit 1; }
						sleep 0.3
						t1=$(server_ticks "$c")
						# leave no dirty buffers behind for the next run's neighbour
						psql -X -q -h "$SOCK" -p "${PORT[$c]}" -U postgres -d postgres -c "CHECKPOINT"
						tps=$(echo "$out" | sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)/\1/p')
						xacts=$(echo "$out" | sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p')
						printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$s-c$cl-$m" "$c" "$tps" "$xacts" \
							"$(awk -v d=$((t1 - t0)) -v x="$xacts" -v hz="$hz" 'BEGIN { printf "%.2f", d * 1e6 / hz / x }')" \
							>> "$RES/pgbench.tsv"
						log "  round $r $s-c$cl-$m $c: $tps tps, $(tail -1 "$RES/pgbench.tsv" | cut -f6) us server CPU per xact"
					done
				done
			done
		done
	done
}

# ---- part: netgrind -------------------------------------------------------
# Instructions per transaction of real client backends: the postmaster runs
# under callgrind with --trace-children, so every backend writes its own
# profile; each workload runs once with NG_SMALL and once with NG_BIG
# transactions (one client), and the difference of the summed instruction
# counts of the backends each run created, divided by NG_BIG - NG_SMALL, is
# the cost of one transaction (connection start-up cancels out).  pgbench
# runs with a fixed --random-seed, so every configuration reads the same rows.
NG_SMALL=${NG_SMALL:-100}
NG_BIG=${NG_BIG:-2100}
declare -A NG_PORT=([vanilla]=55504 [txguard]=55505 [pgss]=55506 [both]=55507)

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
	build_driver
	clusters_up
	log "netgrind: postmaster under callgrind, $NG_SMALL and $NG_BIG transactions per workload"
	: > "$RES/netgrind.tsv"
	local c d w k port total conn expect i pc
	# vanilla2: vanilla once more at the end, to show how deterministic the counts are
	for c in "${CONFIGS[@]}" vanilla2; do
		d=$OUT/ng/$c
		pc=${c%2}
		port=${NG_PORT[$pc]}
		as_pg install -d "$OUT/ng" "$d" "$d/prof"
		as_pg cp -a "$OUT/clusters/template/data" "$d/data"
		{
			echo "port = $port"
			echo "unix_socket_directories = '$SOCK'"
			echo "shared_preload_libraries = '${PRELOAD[$pc]}'"
		} >> "$d/data/postgresql.conf"
		(cd "$d" && as_pg valgrind --tool=callgrind --trace-children=yes \
			--callgrind-out-file="$d/prof/cg.%p.out" "$B/postgres" -D "$d/data" > "$d/server.log" 2>&1 &)
		STARTED+=("$d/data")
		for ((i = 0; i < 300; i++)); do
			psql -X -h "$SOCK" -p "$port" -U postgres -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && break
			sleep 1
		done
		conn="host=$SOCK port=$port user=postgres dbname=postgres"
		sleep 5		# the set-up connections' profiles are written
		for w in abort select-simple select-prepared tpcb-simple tpcb-prepared; do
			for k in "$NG_SMALL" "$NG_BIG"; do
				as_pg touch "$d/prof/marker"
				sleep 1
				case $w in
					abort) "$DRIVER" -w 0 -n "$k" "$conn" > /dev/null; expect=1 ;;
					select-*) pgbench -h "$SOCK" -p "$port" -U postgres -n -S -M "${w#select-}" -c 1 -t "$k" --random-seed=1 postgres > /dev/null 2>&1; expect=2 ;;
					tpcb-*) pgbench -h "$SOCK" -p "$port" -U postgres -n -M "${w#tpcb-}" -c 1 -t "$k" --random-seed=1 postgres > /dev/null 2>&1; expect=2 ;;
				esac
				ng_wait "$d/prof" "$d/prof/marker" "$expect"
				total=$(ng_sum_new "$d/prof" "$d/prof/marker")
				printf '%s\t%s\t%s\t%s\t%s\n' "$c" "$w" "$k" "$total" "$(ng_count_new "$d/prof" "$d/prof/marker")" >> "$RES/netgrind.tsv"
				log "  netgrind $c $w $k: $total instructions"
			done
		done
		as_pg "$B/pg_ctl" -D "$d/data" -m fast -w -t 300 stop >/dev/null
		if [ "$KEEP" != 1 ]; then rm -rf "$d/data"; fi
	done
}

for p in "${PARTS[@]}"; do
	"part_$p"
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/machine.txt"
if ! cmp -s "$TXG_LIB" "$LIBDIR/txguard.so"; then
	echo "note: $LIBDIR/txguard.so was reinstalled during the run (md5 now $(md5sum "$LIBDIR/txguard.so" | cut -c1-12)); the benchmarks used the copy taken at the start" >> "$RES/machine.txt"
fi

/usr/bin/python3 "$BENCH/summarize.py" "$RES" > "$RES/summary.md"
cat "$RES/summary.md"
log "results in $RES (summary.md)"
