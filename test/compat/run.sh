#!/usr/bin/env bash
# test/compat/run.sh MAJOR [--fetch|--prepare]
#
# Build txguard against an upstream PostgreSQL MAJOR (13, 15, 17 or 18) compiled from
# source and run its installcheck suites (regress, isolation, TAP) there.
#
# Runs as root on Debian 12 with only the Debian mirror reachable:
#  1. fetches the upstream tarball (the Debian source package's orig.tar.bz2) with
#     `apt-get source --download-only` from the Debian suite carrying that major, using a
#     PRIVATE apt configuration (own sources file, lists, cache under the cache dir): the
#     system's sources, lists and pkgcache are never touched, so no cleanup is needed;
#  2. builds it as `postgres` (nice -n 19, make -j2, --enable-cassert --enable-debug
#     --enable-tap-tests) into /var/cache/txguard-compat/pg-MAJOR; reused when pg_config exists;
#  3. copies this repo to a postgres-owned temp dir, builds txguard with -Werror, installs it
#     into that prefix and runs each installcheck suite separately.
# --fetch: step 1 only; --prepare: steps 1-2 only.
# Env: TXG_COMPAT_CACHE (default /var/cache/txguard-compat), TXG_COMPAT_JOBS (default 2),
#      TXG_COMPAT_KEEP=1 keeps the temp copy.
set -euo pipefail
{ # the whole script is one compound command: bash parses it fully before running, so
  # editing this file while a long build runs cannot derail the running copy
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

MAJOR=${1:-}
MODE=${2:-}
case "$MAJOR" in
  13) SUITE=bullseye ;;
  15) SUITE=bookworm ;;
  17) SUITE=trixie ;;
  18) SUITE=sid ;;
  *) echo "usage: $0 {13|15|17|18} [--fetch|--prepare]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "compat: must run as root (apt, runuser)" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${TXG_COMPAT_CACHE:-/var/cache/txguard-compat}
JOBS=${TXG_COMPAT_JOBS:-2}
SRC=$CACHE/src-$MAJOR
PREFIX=$CACHE/pg-$MAJOR
PGC=$PREFIX/bin/pg_config
t0=$SECONDS
log() { echo "compat $MAJOR: $* [$((SECONDS - t0)) s]"; }
as_pg() { runuser -u postgres -- "$@"; }

install -d -o postgres -g postgres "$CACHE"

# ---------------------------------------------------------------- 0. build tools
need=()
for p in bison flex build-essential libipc-run-perl; do   # readline/zlib/icu are configured out
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]}"
  apt_install() { apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null 2>&1; }
  apt_install || { apt-get update -qq -o DPkg::Lock::Timeout=300; apt_install; }
fi

# ---------------------------------------------------------------- 1. upstream source
mirror() {  # the Debian mirror the system already uses (deb822 or one-line format)
  local m
  m=$(grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '{for (i=2;i<=NF;i++) print $i}' | grep -E '/debian/?$' | head -n1 || true)
  [ -n "$m" ] || m=$(grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

fetch_source() {
  local apt=$CACHE/apt-$SUITE dl=$CACHE/dl-$MAJOR url tarball
  url=$(mirror)
  rm -rf "$apt"
  mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial"
  cat > "$apt/sources.list.d/txguard-compat.sources" <<EOF
Types: deb-src
URIs: $url
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # private apt: only this deb-src entry, own lists + cache; system state untouched
  local opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/sources.list.d"
              -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
              -o Acquire::Languages=none -o APT::Sandbox::User=root)
  log "apt-get update ($SUITE deb-src from $url, private lists)"
  apt-get "${opts[@]}" update -qq
  rm -rf "$dl"; mkdir -p "$dl"
  log "apt-get source --download-only postgresql-$MAJOR"
  (cd "$dl" && apt-get "${opts[@]}" source --download-only -qq "postgresql-$MAJOR" >/dev/null)
  rm -rf "$apt"
  local tars=("$dl/postgresql-${MAJOR}_"*.orig.tar.*)
  tarball=${tars[0]}
  log "unpacking $(basename "$tarball")"
  rm -rf "$SRC.tmp"; mkdir -p "$SRC.tmp"
  tar -C "$SRC.tmp" --strip-components=1 -xf "$tarball"
  rm -rf "$SRC"; mv "$SRC.tmp" "$SRC"
  chown -R postgres:postgres "$SRC"
}

# ---------------------------------------------------------------- 2. build PostgreSQL
if [ "$MODE" = --fetch ]; then
  if [ -x "$SRC/configure" ]; then log "source already in $SRC"; else fetch_source; fi
  exit 0
fi
STAMP=$PREFIX/.txguard-compat-complete   # written only after the whole build + install succeeded
if [ -f "$STAMP" ] && [ -x "$PGC" ]; then
  log "reusing $PREFIX ($("$PGC" --version))"
else
  if [ ! -x "$SRC/configure" ]; then
    ts=$SECONDS; fetch_source; log "source ready in $((SECONDS - ts)) s"
  fi
  ts=$SECONDS
  install -d -o postgres -g postgres "$PREFIX"
  log "configure + make -j$JOBS + install (nice 19) -> $PREFIX; log: $CACHE/build-$MAJOR.log"
  # shellcheck disable=SC2016
  if ! as_pg nice -n 19 bash -c '
      set -e; cd "$1"
      ./configure --prefix="$2" --enable-tap-tests --enable-debug --enable-cassert \
          --without-icu --without-llvm --without-readline --without-zlib
      make -j"$3"
      make install
      # pg_isolation_regress/isolationtester + TAP perl modules for PGXS
      make -C src/test/isolation install
      make -C src/test/perl install
      make -C contrib/pg_stat_statements install   # for tests that combine with it
      ' _ "$SRC" "$PREFIX" "$JOBS" > "$CACHE/build-$MAJOR.log" 2>&1; then
    tail -n 40 "$CACHE/build-$MAJOR.log"
    log "PostgreSQL build FAILED"; exit 1
  fi
  as_pg touch "$STAMP"
  log "$("$PGC" --version) built in $((SECONDS - ts)) s"
fi
# PG 13 does not install the isolation tester into pgxs (14+ do): copy it there
ISO=$PREFIX/lib/postgresql/pgxs/src/test/isolation
if [ ! -x "$ISO/pg_isolation_regress" ] && [ -x "$SRC/src/test/isolation/pg_isolation_regress" ]; then
  as_pg install -d "$ISO"
  as_pg install -m 755 "$SRC/src/test/isolation/pg_isolation_regress" "$SRC/src/test/isolation/isolationtester" "$ISO/"
  log "copied pg_isolation_regress + isolationtester into $ISO"
fi
[ "$MODE" = --prepare ] && exit 0

# ---------------------------------------------------------------- 3. txguard
WORK=$(mktemp -d /tmp/txcompat-"$MAJOR".XXXXXX)
[ "${TXG_COMPAT_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
tar -C "$REPO" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
    --exclude='./tmp_check*' --exclude=./results --exclude=./output_iso --exclude=./log --exclude=./tap_logs -cf - . |
  tar -C "$WORK" -xf -
chown -R postgres:postgres "$WORK"
export PATH="$PREFIX/bin:$PATH"
MK=(make -C "$WORK" --no-print-directory PG_CONFIG="$PGC" with_llvm=no)

log "building txguard against $("$PGC" --version)"
if ! as_pg "${MK[@]}" -s -k PG_CFLAGS=-Werror 2>&1 | tee "$WORK/build.log"; then
  log "txguard build FAILED"
  echo "compat $MAJOR: 0 passed, 1 failed"
  exit 1
fi
# the prefix is owned by postgres, so installing needs no root
as_pg "${MK[@]}" -s install >/dev/null

rc=0 pass=0 fail=0
# pg_regress: "ok 1  - name  12 ms" (>=16) or "test name ... ok" (13-15); prove: "t/x.pl .. ok"
OK_RE='^(ok [0-9]+ |.*\.\.\. ok( |$)|.*\.pl \.+ ok$)'
BAD_RE='^(not ok [0-9]+ |.*\.\.\. FAILED|.*\.pl \.+ (Dubious|Failed))'
suite() {  # PGXS installcheck stops at the first failing suite: run them one by one
  local label=$1 out=$2 logs=$3 p f st=0; shift 3
  echo "=== $label"
  rm -f "$WORK/$out"
  # temp instances listen on a unix socket only; still pin their port to 5545x (13->55451 ...)
  as_pg env PATH="$PATH" "${MK[@]}" installcheck EXTRA_REGRESS_OPTS="--port=$((55438 + MAJOR))" "$@" \
    > "$WORK/check-$label.log" 2>&1 || st=$?
  cat "$WORK/check-$label.log"
  p=$(grep -cE "$OK_RE" "$WORK/check-$label.log" || true)
  f=$(grep -cE "$BAD_RE" "$WORK/check-$label.log" || true)
  if [ "$st" != 0 ] && [ "$f" = 0 ]; then f=1; fi   # suite broke without a failing test line
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$f" != 0 ]; then
    rc=1
    echo "FAILED: $label ($p ok, $f failed)"
    if [ -f "$WORK/$out" ]; then echo "--- $out"; head -n 200 "$WORK/$out"; fi
    # server / TAP logs of the kept temp instances ($logs is globbed only now)
    for l in $logs; do
      if [ -f "$l" ]; then echo "--- ${l#"$WORK"/} (tail)"; tail -n 40 "$l"; fi
    done
  else
    echo "ok: $label ($p ok)"
  fi
}
shopt -s nullglob
suite regress   regression.diffs          "$WORK/log/postmaster.log"          ISOLATION= TAP_TESTS=
suite isolation output_iso/regression.diffs "$WORK/output_iso/log/postmaster.log" REGRESS= TAP_TESTS=
# TAP: one prove run per file, so that a bail-out in one file does not hide the others
mk_print=$(mktemp /tmp/txcompat-print.XXXXXX)
# shellcheck disable=SC2016
printf 'txg-print-prove-tests:\n\t@echo $(PROVE_TESTS)\n' > "$mk_print"
prove_tests=$(make -C "$WORK" --no-print-directory -s PG_CONFIG="$PGC" -f Makefile -f "$mk_print" \
                txg-print-prove-tests 2>/dev/null) || prove_tests=
rm -f "$mk_print"
tap_files=()
for pat in $prove_tests; do for f in "$WORK"/$pat; do tap_files+=("${f#"$WORK"/}"); done; done
if [ ${#tap_files[@]} -gt 0 ]; then
  for f in "${tap_files[@]}"; do
    suite "tap:$(basename "$f")" none "$WORK/tmp_check/log/*" REGRESS= ISOLATION= PROVE_TESTS="$f"
    # the next prove run wipes tmp_check: keep this file's logs (see TXG_COMPAT_KEEP)
    as_pg mkdir -p "$WORK/tap_logs"
    as_pg cp -r "$WORK/tmp_check/log" "$WORK/tap_logs/$(basename "$f" .pl)" 2>/dev/null || true
  done
else
  suite tap none "$WORK/tmp_check/log/*" REGRESS= ISOLATION=
fi

[ "${TXG_COMPAT_KEEP:-0}" = 1 ] && log "kept $WORK"
log "finished"
echo "compat $MAJOR: $pass passed, $fail failed"
exit "$rc"
}
