#!/usr/bin/env bash
# test/compat/run.sh MAJOR [--fetch|--prepare]
#
# Build txguard against an upstream PostgreSQL MAJOR (13, 14, 15, 17 or 18) compiled from
# source and run its installcheck suites (regress, isolation, TAP) there.
#
# Runs as root on Debian 12 with only the Debian mirror reachable:
#  1. fetches the upstream tarball (the Debian source package's orig.tar.bz2) with
#     `apt-get source --download-only` from the Debian suite carrying that major, using a
#     PRIVATE apt configuration (own sources file, lists, cache under the cache dir): the
#     system's sources, lists and pkgcache are never touched, so no cleanup is needed.
#     A mirror's index can name a version its pool does not hold yet (seen: trixie's
#     Sources said postgresql-17 17.12 while the pool had only 17.11 and older).  Then
#     the next suite that carries the major is tried (FALLBACK_SUITES below), and last
#     the pool itself: its directory listing if the mirror serves one, else HEAD probes
#     for older minor releases; the newest orig.tar.bz2 found is verified against the
#     SHA256 in its .dsc when a .dsc is found next to it.  The version and where it came
#     from are printed and kept in src-MAJOR/.txguard-compat-source;
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
# SUITE: where the major's source is looked up first; FALLBACK_SUITES: the other suites
# that carry (or may carry) it, tried in turn when SUITE's version cannot be downloaded
# ("-security" suites live on the security mirror)
case "$MAJOR" in
  13) SUITE=bullseye; FALLBACK_SUITES="bullseye-security bullseye-updates bullseye-proposed-updates" ;;
  15) SUITE=bookworm; FALLBACK_SUITES="bookworm-security bookworm-updates bookworm-proposed-updates" ;;
  # 14: no suite carried it on 2026-12-04 (the pool has no postgresql-14); the fetch says so.
  # An upstream source tree unpacked in $CACHE/src-14 (its ./configure executable) is used as is.
  14) SUITE=sid;      FALLBACK_SUITES="experimental" ;;
  17) SUITE=trixie;   FALLBACK_SUITES="trixie-security trixie-updates trixie-proposed-updates trixie-backports testing sid bookworm-backports" ;;
  18) SUITE=sid;      FALLBACK_SUITES="testing experimental trixie-backports" ;;
  *) echo "usage: $0 {13|14|15|17|18} [--fetch|--prepare]" >&2; exit 2 ;;
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
security_mirror() {  # the security mirror of the system, else the main mirror's host
  local m
  m=$(grep -hsE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
      awk '{for (i=2;i<=NF;i++) print $i}' | grep -E '/debian-security/?$' | head -n1 || true)
  [ -n "$m" ] || m=$(grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -E 's/\[[^]]*\]//' | awk '{print $2}' | grep -E '/debian-security/?$' | head -n1 || true)
  [ -n "$m" ] || m="$(mirror | sed -E 's|/debian/?$||')/debian-security"
  echo "${m%/}"
}
suite_url() { case $1 in *-security) security_mirror ;; *) mirror | sed -E 's|/$||' ;; esac; }

PKG=postgresql-$MAJOR
DL=$CACHE/dl-$MAJOR
SEEN=()          # "url|directory|version" of every index entry whose download failed
FETCHED=         # what was used: printed and kept in $SRC/.txguard-compat-source

# try_suite SUITE: apt-get source --download-only from that suite alone (private apt).
# 0: the orig tarball is in $DL; 1: not there or not downloadable (recorded in SEEN).
try_suite() {
  local suite=$1 apt url ver dir opts dscline uri file
  apt=$CACHE/apt-$suite
  url=$(suite_url "$suite")
  rm -rf "$apt"
  mkdir -p "$apt/sources.list.d" "$apt/lists/partial" "$apt/cache/archives/partial"
  cat > "$apt/sources.list.d/txguard-compat.sources" <<EOF
Types: deb-src
URIs: $url
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # private apt: only this deb-src entry, own lists + cache; system state untouched
  opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/sources.list.d"
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
        -o Acquire::Languages=none -o APT::Sandbox::User=root)
  if ! apt-get "${opts[@]}" update -qq >"$apt.log" 2>&1; then
    log "$suite: no index on $url ($(grep -m1 -oE '(404|does not have a Release file|not signed|NO_PUBKEY)[^.]*' "$apt.log" || echo 'apt-get update failed'))"
    rm -rf "$apt" "$apt.log"; return 1
  fi
  # "'<url-encoded uri>' <file name> <size> SHA256:<sum>" per file
  dscline=$(apt-get "${opts[@]}" source --print-uris -qq "$PKG" 2>/dev/null | awk '$2 ~ /\.dsc$/ {print; exit}' || true)
  if [ -z "$dscline" ]; then
    log "$suite: no $PKG in its index"
    rm -rf "$apt" "$apt.log"; return 1
  fi
  read -r uri file _ <<<"$dscline"
  ver=${file#"${PKG}"_}; ver=${ver%.dsc}
  uri=${uri//\'/}
  dir=${uri#"$url"/}; dir=${dir%/*}
  log "$suite: index names $PKG $ver; apt-get source --download-only"
  rm -rf "$DL"; mkdir -p "$DL"
  if (cd "$DL" && apt-get "${opts[@]}" source --download-only -qq "$PKG" >"$apt.dl.log" 2>&1); then
    rm -rf "$apt" "$apt.log" "$apt.dl.log"
    FETCHED="$PKG $ver from $suite ($url), verified by apt"
    return 0
  fi
  log "$suite: download of $PKG $ver FAILED: $(grep -m1 -oE '(404|Failed to fetch|Hash Sum mismatch).*' "$apt.dl.log" | sed -E 's/ *\[IP:.*//' | cut -c1-200)"
  SEEN+=("$url|$dir|$ver")
  rm -rf "$apt" "$apt.log" "$apt.dl.log"
  return 1
}

http_ok() { curl -sfI --max-time 30 -o /dev/null "$1"; }

# try_pool: the newest orig tarball that the pool of an index entry really holds.
try_pool() {
  local entry url dir ver up rev minor m cand found='' listing dsc sum want r revs
  command -v curl >/dev/null || { log "pool probe needs curl"; return 1; }
  for entry in "${SEEN[@]}"; do
    IFS='|' read -r url dir ver <<<"$entry"
    found=''
    up=${ver%-*}; rev=${ver##*-}
    [ -n "$dir" ] || dir=pool/main/p/$PKG
    # 1. the directory listing, where the mirror serves one
    listing=$(curl -sf --max-time 60 "$url/$dir/" 2>/dev/null |
              grep -oE "${PKG}_[0-9][0-9.]*\.orig\.tar\.bz2" | sort -u | sort -t_ -k2 -V -r || true)
    if [ -n "$listing" ]; then
      cand=$(head -n1 <<<"$listing" | sed -E "s/^${PKG}_(.*)\.orig\.tar\.bz2$/\1/")
      log "pool listing of $url/$dir: newest orig tarball $cand"
      found=$cand
    else
      # 2. no listing: HEAD probes for the minor releases below the index's
      log "no directory listing at $url/$dir/: probing older minor releases of $up"
      minor=${up##*.}
      if [[ $minor =~ ^[0-9]+$ ]]; then
        for ((m = minor - 1; m >= 0 && m >= minor - 12; m--)); do
          cand=$MAJOR.$m
          if http_ok "$url/$dir/${PKG}_$cand.orig.tar.bz2"; then found=$cand; break; fi
        done
      fi
    fi
    [ -n "$found" ] || continue
    rm -rf "$DL"; mkdir -p "$DL"
    curl -sf --max-time 600 -o "$DL/${PKG}_$found.orig.tar.bz2" "$url/$dir/${PKG}_$found.orig.tar.bz2" ||
      { log "download of ${PKG}_$found.orig.tar.bz2 failed"; continue; }
    # the .dsc next to it (its Debian revision is not known: try the index's and usual ones)
    revs="$rev"
    for r in 1 2 3 4 0+deb13u1 0+deb12u1 0+deb11u1 0+deb13u2 0+deb12u2 0+deb11u2; do
      [[ " $revs " == *" $r "* ]] || revs="$revs $r"
    done
    dsc=
    for r in $revs; do
      if curl -sf --max-time 60 -o "$DL/${PKG}_$found-$r.dsc" "$url/$dir/${PKG}_$found-$r.dsc"; then
        dsc=${PKG}_$found-$r.dsc; break
      fi
      rm -f "$DL/${PKG}_$found-$r.dsc"
    done
    if [ -n "$dsc" ]; then
      want=$(awk -v f="${PKG}_$found.orig.tar.bz2" '/^Checksums-Sha256:/ {s = 1; next} /^[^ ]/ {s = 0} s && $3 == f {print $1}' "$DL/$dsc")
      sum=$(sha256sum "$DL/${PKG}_$found.orig.tar.bz2" | cut -d' ' -f1)
      if [ -z "$want" ] || [ "$want" != "$sum" ]; then
        log "SHA256 of ${PKG}_$found.orig.tar.bz2 ($sum) does not match $dsc (${want:-no entry})"
        rm -rf "$DL"; continue
      fi
      FETCHED="$PKG $found (orig tarball from the pool $url/$dir; the index named $ver, which the pool does not hold), SHA256 verified against $dsc"
    else
      FETCHED="$PKG $found (orig tarball from the pool $url/$dir; the index named $ver, which the pool does not hold), NOT verified: no .dsc found next to it"
    fi
    return 0
  done
  return 1
}

fetch_source() {
  local s tarball tars
  log "fetching the $PKG source: $SUITE first, then ${FALLBACK_SUITES// /, }, then the pool"
  FETCHED=
  for s in $SUITE $FALLBACK_SUITES; do
    try_suite "$s" && break
  done
  if [ -z "$FETCHED" ] && [ ${#SEEN[@]} -gt 0 ]; then try_pool || true; fi
  if [ -z "$FETCHED" ]; then
    log "could not fetch $PKG from $SUITE, ${FALLBACK_SUITES// /, } or the pool"; exit 1
  fi
  tars=("$DL/${PKG}_"*.orig.tar.*)
  tarball=${tars[0]}
  [ -f "$tarball" ] || { log "no orig tarball in $DL"; exit 1; }
  log "using $FETCHED"
  log "unpacking $(basename "$tarball")"
  rm -rf "$SRC.tmp"; mkdir -p "$SRC.tmp"
  tar -C "$SRC.tmp" --strip-components=1 -xf "$tarball"
  echo "$FETCHED" > "$SRC.tmp/.txguard-compat-source"
  rm -rf "$SRC"; mv "$SRC.tmp" "$SRC"
  chown -R postgres:postgres "$SRC"
}
source_info() { cat "$SRC/.txguard-compat-source" 2>/dev/null || echo "(fetched before the source was recorded)"; }

# ---------------------------------------------------------------- 2. build PostgreSQL
if [ "$MODE" = --fetch ]; then
  if [ -x "$SRC/configure" ]; then log "source already in $SRC: $(source_info)"; else fetch_source; fi
  exit 0
fi
STAMP=$PREFIX/.txguard-compat-complete   # written only after the whole build + install succeeded
if [ -f "$STAMP" ] && [ -x "$PGC" ]; then
  log "reusing $PREFIX ($("$PGC" --version); source: $(source_info))"
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
tar -C "$REPO" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./src/errcodes_table.h \
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
