#!/usr/bin/env bash
# test/fuzz/run.sh: build the libFuzzer targets of test/fuzz/ (clang, ASan,
# UBSan) and run each on its committed corpus, then for a fixed time.
#
#   bash test/fuzz/run.sh [--time=SECONDS] [--seed=N] [--jobs=N] [--merge] [TARGET...]
#   bash test/fuzz/run.sh --replay TARGET FILE...
#
# A target is test/fuzz/<name>_fuzz.c (its header comment names the sources
# it needs on a "FUZZ_SOURCES:" line, and may set its own longest input on a
# "FUZZ_MAX_LEN:" line); its corpus is test/fuzz/corpus/<name>/,
# its dictionary test/fuzz/<name>.dict, or sql.dict.  For each target this
# prints
#   ok - fuzz <name>: build
#   ok - fuzz <name>: corpus replayed (N inputs)
#   ok - fuzz <name>: N executions in S s (seed, coverage)
# or "not ok - ..." with the broken rule, and then keeps the failing input in
# $TXGUARD_FUZZ_ARTIFACTS (default /tmp/txguard-fuzz-artifacts), prints it in
# base64 and says how to replay it.  Exit status 0 only if every line is ok.
#
# Options:
#   --time=S     fuzzing time per target (default 15: with three targets the
#                suite takes about 40 s on 2 cores)
#   --seed=N     libFuzzer's seed (default: a random one, printed)
#   --jobs=N     targets fuzzed at once (default: the number of cores)
#   --max-len=N  longest input in bytes (default 4096; a target may set its own)
#   --merge      add the new inputs that cover something new to the
#                committed corpus (libFuzzer -merge=1), to commit them
#   --replay T F...  run target T on the files F (no fuzzing)
#   --keep       keep the build directory (its path is printed)
# Environment: PG_CONFIG (default PostgreSQL 15's), TXGUARD_FUZZ_CC (default
#   clang-14, else clang), TXGUARD_FUZZ_FLAGS (more libFuzzer flags, for
#   example -use_value_profile=1), TXGUARD_FUZZ_ARTIFACTS.
# Needs clang with libFuzzer (Debian: clang-14 libclang-rt-14-dev) and
# postgresql-server-dev-15 (server headers, libpgcommon.a).

set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TIME=15 SEED= JOBS= MAXLEN=4096 MERGE=0 KEEP=0 REPLAY=
TARGETS=()
while [ $# -gt 0 ]; do
    case $1 in
        --time=*) TIME=${1#--time=} ;;
        --seed=*) SEED=${1#--seed=} ;;
        --jobs=*) JOBS=${1#--jobs=} ;;
        --max-len=*) MAXLEN=${1#--max-len=} ;;
        --merge) MERGE=1 ;;
        --keep) KEEP=1 ;;
        --replay) REPLAY=1 ;;
        -h|--help) sed -n '2,34p' "$0"; exit 0 ;;
        -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
        *) TARGETS+=("$1") ;;
    esac
    shift
done
[ -n "$JOBS" ] || JOBS=$(nproc 2>/dev/null || echo 1)
ARTIFACTS=${TXGUARD_FUZZ_ARTIFACTS:-/tmp/txguard-fuzz-artifacts}
FLAGS=(${TXGUARD_FUZZ_FLAGS:-})

if [ -n "$REPLAY" ]; then
    [ "${#TARGETS[@]}" -ge 2 ] || { echo "fuzz: --replay TARGET FILE..." >&2; exit 2; }
    REPLAY_FILES=()
    for f in "${TARGETS[@]:1}"; do REPLAY_FILES+=("$(realpath "$f")"); done
    TARGETS=("${TARGETS[0]}")
elif [ "${#TARGETS[@]}" -eq 0 ]; then
    for f in "$HERE"/*_fuzz.c; do
        f=${f##*/}; TARGETS+=("${f%_fuzz.c}")
    done
fi

# ---------------------------------------------------------------- tools
PG_CONFIG=${PG_CONFIG:-}
if [ -z "$PG_CONFIG" ]; then
    if [ -x /usr/lib/postgresql/15/bin/pg_config ]; then PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
    else PG_CONFIG=pg_config; fi
fi
CC=${TXGUARD_FUZZ_CC:-}
if [ -z "$CC" ]; then
    if command -v clang-14 >/dev/null 2>&1; then CC=clang-14; else CC=clang; fi
fi
if ! command -v "$CC" >/dev/null 2>&1; then
    echo "not ok - fuzz: no $CC (Debian: apt-get install clang-14 libclang-rt-14-dev)"
    exit 1
fi
INCDIR=$("$PG_CONFIG" --includedir-server 2>/dev/null)
LIBDIR=$("$PG_CONFIG" --pkglibdir 2>/dev/null)
if [ ! -f "$INCDIR/postgres.h" ] || [ ! -f "$LIBDIR/libpgcommon.a" ]; then
    echo "not ok - fuzz: no server headers or libpgcommon.a from $PG_CONFIG (Debian: postgresql-server-dev-15)"
    exit 1
fi

BUILD=$(mktemp -d /tmp/txguard-fuzz.XXXXXX) || exit 2
cleanup() {
    if [ "$KEEP" = 1 ]; then echo "# fuzz: kept $BUILD"; else rm -rf "$BUILD"; fi
}
trap cleanup EXIT
trap 'echo "fuzz: interrupted"; exit 130' INT TERM

CFLAGS=(-g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare
        -Wno-missing-field-initializers
        -Wno-ignored-attributes)   # PostgreSQL's gnu_printf, unknown to clang
# ASan's leak check at exit too; UBSan: a stack trace, and stop at the first
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

FAILED=0
TOTAL_EXECS=0

# build <target>: $BUILD/<target>, or a "not ok" line
build() {
    local t=$1 src=$HERE/$1_fuzz.c sources=() s
    if [ ! -f "$src" ]; then
        echo "not ok - fuzz $t: no $src"
        return 1
    fi
    for s in $(sed -n 's/^ \* FUZZ_SOURCES: //p' "$src"); do sources+=("$ROOT/$s"); done
    # the include directories of the Makefile's PG_CPPFLAGS
    if ! "$CC" "${CFLAGS[@]}" -I"$INCDIR" -I"$ROOT/src" -I"$ROOT/src/common" \
            -I"$ROOT/src/store" -I"$ROOT/src/capture" -I"$HERE" \
            "$HERE/fuzz_main.c" "$HERE/fuzz_backend.c" "$src" "${sources[@]}" \
            "$LIBDIR/libpgcommon.a" "$LIBDIR/libpgport.a" \
            -o "$BUILD/$t" >"$BUILD/$t.build.log" 2>&1; then
        echo "not ok - fuzz $t: build"
        sed 's/^/# /' "$BUILD/$t.build.log" | head -n 40
        grep -q 'libclang_rt.fuzzer' "$BUILD/$t.build.log" &&
            echo "# (no libFuzzer runtime: Debian: apt-get install libclang-rt-14-dev)"
        return 1
    fi
    echo "ok - fuzz $t: build"
}

# report_failure <target> <log> <what>: the "not ok" line, the input kept
report_failure() {
    local t=$1 log=$2 what=$3 unit rule kept
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    rule=$(grep -a -m1 -E '^fuzz: RULE BROKEN|^SUMMARY: ' "$log")
    echo "not ok - fuzz $t: $what: ${rule:-see the log below}"
    grep -a '^fuzz: ' "$log" | sed 's/^/# /'
    if [ -n "$unit" ] && [ -f "$unit" ]; then
        mkdir -p "$ARTIFACTS"
        kept=$ARTIFACTS/$(basename "$unit")
        cp "$unit" "$kept"
        echo "# the failing input is kept in $kept; replay it with"
        echo "#   bash test/fuzz/run.sh --replay $t $kept"
        echo "# (from a CI log: base64 -d > input <<< '<the line below>'), and once fixed"
        echo "# add it to test/fuzz/corpus/$t/ (or as a readable regress-* input in seeds.py)"
        echo "# base64: $(base64 -w0 "$unit")"
    else
        unit=$(sed -n 's/^Running: //p' "$log" | tail -n 1)
        [ -n "$unit" ] && echo "# replay it with: bash test/fuzz/run.sh --replay $t $unit"
    fi
    echo "# ---- last lines of the $t log"
    grep -av '^fuzz: ' "$log" | tail -n 30 | sed 's/^/# /'
}

# replay <target> <what> <file>...: run the target on each file, no fuzzing
replay() {
    local t=$1 what=$2 log=$BUILD/$1.replay.log n rc; shift 2
    ( cd "$BUILD" && timeout -k 10 600 "$BUILD/$t" -timeout=10 \
        -artifact_prefix="$BUILD/$t-replay-" "$@" ) >"$log" 2>&1
    rc=$?
    n=$(grep -ac '^Executed ' "$log")
    if [ "$rc" -ne 0 ]; then
        report_failure "$t" "$log" "replay of $(grep -a '^Running: ' "$log" | tail -n 1 | sed 's/^Running: //')"
        return 1
    fi
    echo "ok - fuzz $t: $what replayed ($n inputs)"
}

# fuzz <target>: fuzz for $TIME s; new inputs go to a scratch directory
fuzz() {
    local t=$1 log=$BUILD/$1.fuzz.log corpus=$HERE/corpus/$1 new=$BUILD/$1.new
    local dict=$HERE/$1.dict rc execs cov seed args=() maxlen
    maxlen=$(sed -n 's/^ \* FUZZ_MAX_LEN: \([0-9]*\).*/\1/p' "$HERE/$1_fuzz.c")
    maxlen=${maxlen:-$MAXLEN}
    [ -f "$dict" ] || dict=$HERE/sql.dict
    [ -f "$dict" ] && args+=(-dict="$dict")
    [ -n "$SEED" ] && args+=(-seed="$SEED")
    mkdir -p "$new" "$corpus"
    ( cd "$BUILD" && timeout -k 10 $((TIME + 120)) "$BUILD/$t" \
        -max_total_time="$TIME" -max_len="$maxlen" -timeout=10 \
        -print_final_stats=1 -artifact_prefix="$BUILD/$t-" \
        "${args[@]}" "${FLAGS[@]}" "$new" "$corpus" ) >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    seed=$(sed -n 's/^INFO: Seed: *//p' "$log" | head -n 1)
    cov=$(grep -a -E '^#[0-9]+' "$log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/cov \1, ft \2, corpus \3/p')
    echo "${execs:-0}" >"$BUILD/$t.execs"
    if [ "$rc" -ne 0 ]; then
        report_failure "$t" "$log" "fuzzing (seed $seed, after ${execs:-?} executions)"
        return 1
    fi
    echo "ok - fuzz $t: ${execs:-?} executions in $TIME s (seed $seed, $cov)"
    if [ "$MERGE" = 1 ]; then
        ( cd "$BUILD" && "$BUILD/$t" -merge=1 -max_len="$maxlen" "$corpus" "$new" ) \
            >"$BUILD/$t.merge.log" 2>&1
        echo "# fuzz $t: merged: $(grep -a 'MERGE-OUTER: .* new files' "$BUILD/$t.merge.log" | tail -n 1 | sed 's/.*MERGE-OUTER: //')"
    fi
}

# ---------------------------------------------------------------- run
T0=$SECONDS
BUILT=()
for t in "${TARGETS[@]}"; do
    if build "$t"; then BUILT+=("$t"); else FAILED=$((FAILED + 1)); fi
done

if [ -n "$REPLAY" ]; then
    [ "${#BUILT[@]}" -eq 1 ] || exit 1
    replay "${BUILT[0]}" "input" "${REPLAY_FILES[@]}" || exit 1
    exit 0
fi

FUZZ=()
for t in "${BUILT[@]}"; do
    mapfile -t inputs < <(find "$HERE/corpus/$t" -type f 2>/dev/null | sort)
    if [ "${#inputs[@]}" -eq 0 ]; then
        echo "not ok - fuzz $t: no corpus in test/fuzz/corpus/$t/"
        FAILED=$((FAILED + 1))
    elif replay "$t" corpus "${inputs[@]}"; then
        FUZZ+=("$t")
    else
        FAILED=$((FAILED + 1))
    fi
done

# fuzz up to $JOBS targets at once; each prints its lines when done
running=0
for t in "${FUZZ[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then wait -n; running=$((running - 1)); fi
    fuzz "$t" >"$BUILD/$t.out" 2>&1 &
    running=$((running + 1))
done
wait
for t in "${FUZZ[@]}"; do
    cat "$BUILD/$t.out"
    grep -q '^not ok - ' "$BUILD/$t.out" && FAILED=$((FAILED + 1))
    [ -f "$BUILD/$t.execs" ] && TOTAL_EXECS=$((TOTAL_EXECS + $(cat "$BUILD/$t.execs")))
done

echo "# fuzz: $TOTAL_EXECS executions in all, $((SECONDS - T0)) s, $FAILED failed"
[ "$FAILED" -eq 0 ]
