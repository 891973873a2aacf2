#!/usr/bin/env bash
# test/compat/run.sh MAJOR [--fetch|--prepare] [--suites=LIST] [--results=DIR] [--no-apt]
#
# Build txguard against an upstream PostgreSQL MAJOR (13, 14, 15, 17 or 18) compiled from
# source with assertions on, and run txguard's suites there.
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
#     from are printed and kept in src-MAJOR/.txguard-compat-source.
#     A source tree placed by hand is used as is: an upstream release unpacked into
#     $CACHE/src-MAJOR (so that $CACHE/src-MAJOR/configure exists); it is handed to the
#     build user first.  14 needs one: no Debian suite carries postgresql-14 any more;
#  2. builds it as `postgres` (nice -n 19, make -j2, --enable-cassert --enable-debug
#     --enable-tap-tests; no readline, zlib, ICU, LLVM or docs) into
#     /var/cache/txguard-compat/pg-MAJOR; reused when complete.  Steps 1-2 hold
#     /var/cache/txguard-compat.lock (flock) when they write into the cache, so that two
#     runs never build it at once; a caller that already holds that lock is recognised;
#  3. copies this repo and the built PostgreSQL into a temp dir owned by postgres (the
#     cache itself never gets txguard installed, so runs do not disturb each other),
#     builds txguard with -Werror, installs it into the copy and runs each suite
#     separately.  Suites (--suites, comma-separated; default regress,isolation,tap):
#       regress, isolation   make installcheck (temporary instances)
#       discard              regress again with debug_discard_caches = 1 on the server
#                            (14+): catalog cache entries are thrown away at every chance,
#                            so a pointer kept into one is caught (a few minutes)
#       tap                  make installcheck, one prove run per file
#       model                test/model/run.sh (CI length)  \  with TXG_PG_CONFIG naming the
#       clients              test/clients/run.sh            /  copy; they use fixed ports, so
#                            they hold /tmp/txguard-system.lock as the system suites do
# --fetch: step 1 only; --prepare: steps 1-2 only.
# --results=DIR: also write DIR/SUITE.tap for every suite run, one "ok - TEST" or
#   "not ok - TEST" line per test (test/run-all.sh counts them), and DIR/build.tap with
#   one "not ok - ..." line if PostgreSQL or txguard could not be built.
# --no-apt: never install packages (bison, flex, build-essential, libipc-run-perl must be
#   there); fetching the source still uses apt-get with its private configuration.
# Output: per suite "ok: SUITE (N ok)" or "FAILED: SUITE (...)" with diffs and log tails;
#   last line "compat MAJOR: N passed, N failed"; exit status 0 only if nothing failed.
# Env: TXG_COMPAT_CACHE (default /var/cache/txguard-compat), TXG_COMPAT_JOBS (default 2),
#      TXG_COMPAT_KEEP=1 keeps the temp copy, TXG_COMPAT_SUITE_TIMEOUT (seconds per suite,
#      default 600).
set -euo pipefail
{ # the whole script is one compound command: bash parses it fully before running, so
  # editing this file while a long build runs cannot derail the running copy
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

MAJOR=${1:-}
[ $# -gt 0 ] && shift
MODE='' SUITES=regress,isolation,tap RESULTS='' DO_APT=1
for arg in "$@"; do
  case $arg in
    --fetch|--prepare) MODE=$arg ;;
    --suites=*) SUITES=${arg#--suites=} ;;
    --results=*) RESULTS=${arg#--results=} ;;
    --no-apt) DO_APT=0 ;;
    *) MAJOR=usage ;;
  esac
done
# SUITE: where the major's source is looked up first; FALLBACK_SUITES: the other suites
# that carry (or may carry) it, tried in turn when SUITE's version cannot be downloaded
# ("-security" suites live on the security mirror)
case "$MAJOR" in
  13) SUITE=bullseye; FALLBACK_SUITES="bullseye-security bullseye-updates bullseye-proposed-updates" ;;
  15) SUITE=bookworm; FALLBACK_SUITES="bookworm-security bookworm-updates bookworm-proposed-updates" ;;
  # 14: no suite carried it on 2026-12-06 (every suite's Sources on the mirror and the
  # pool were checked); the fetch tries sid and experimental, then says where to put an
  # upstream tree.
  14) SUITE=sid;      FALLBACK_SUITES="experimental" ;;
  17) SUITE=trixie;   FALLBACK_SUITES="trixie-security trixie-updates trixie-proposed-updates trixie-backports testing sid bookworm-backports" ;;
  18) SUITE=sid;      FALLBACK_SUITES="testing experimental trixie-backports" ;;
  *) echo "usage: $0 {13|14|15|17|18} [--fetch|--prepare] [--suites=regress,discard,isolation,tap,model,clients] [--results=DIR] [--no-apt]" >&2; exit 2 ;;
esac
for s in ${SUITES//,/ }; do
  case $s in regress|discard|isolation|tap|model|clients) ;; *) echo "compat: unknown suite $s" >&2; exit 2 ;; esac
done
[ "$(id -u)" = 0 ] || { echo "compat: must run as root (apt, runuser)" >&2; exit 2; }

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${TXG_COMPAT_CACHE:-/var/cache/txguard-compat}
JOBS=${TXG_COMPAT_JOBS:-2}
SUITE_TIMEOUT=${TXG_COMPAT_SUITE_TIMEOUT:-600}
SRC=$CACHE/src-$MAJOR
PREFIX=$CACHE/pg-$MAJOR
PGC=$PREFIX/bin/pg_config
t0=$SECONDS
log() { echo "compat $MAJOR: $* [$((SECONDS - t0)) s]"; }
as_pg() { runuser -u postgres -- "$@"; }
# result lines for --results: result SUITE ok|not-ok TEXT
result() {
  [ -n "$RESULTS" ] || return 0
  if [ "$2" = ok ]; then echo "ok - $3"; else echo "not ok - $3"; fi >> "$RESULTS/$1.tap"
}
# the one line a failed build leaves: printed, kept for --results, then exit 1
build_failed() {
  log "$1"
  result build not-ok "$1"
  echo "compat $MAJOR: 0 passed, 1 failed"
  exit 1
}
if [ -n "$RESULTS" ]; then
  mkdir -p "$RESULTS"; RESULTS=$(cd "$RESULTS" && pwd)
  for s in build ${SUITES//,/ }; do rm -f "$RESULTS/$s.tap"; done
fi

# hold_lock FD FILE: take an exclusive flock on FILE through FD, waiting for another
# holder, unless a process that started us holds it already (the caller wrapped us in
# `flock FILE ...`): waiting for our own ancestor would never end.
hold_lock() {
  local fd=$1 file=$2 ino holder p
  eval "exec $fd>>\"\$file\""
  flock -n "$fd" && return 0
  ino=$(stat -c %i "$file")
  # /proc/locks: "1: FLOCK  ADVISORY  WRITE 1234 fe:01:5678 0 EOF" (pid, dev:inode)
  for holder in $(awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) print $5 }' /proc/locks); do
    p=$$
    while [ -n "$p" ] && [ "$p" -gt 1 ]; do
      if [ "$p" = "$holder" ]; then
        log "$file is held by the process that started this run (pid $holder)"
        eval "exec $fd>&-"
        return 0
      fi
      p=$(ps -o ppid= -p "$p" 2>/dev/null | tr -d ' ')
    done
  done
  log "waiting for $file (held by another run)"
  flock "$fd"
}
release_lock() { eval "exec $1>&-"; }

# contrib modules the suites use: pg_stat_statements (tests that combine with it), dblink
# (the isolation specs drive a session through it; TAP 150_remote) and postgres_fdw
# (150_remote: errors relayed from a remote server) and auto_explain (clients: queryid)
CONTRIB="pg_stat_statements dblink postgres_fdw auto_explain"
STAMP=$PREFIX/.txguard-compat-complete   # written only after the whole build + install succeeded
ISO=$PREFIX/lib/postgresql/pgxs/src/test/isolation
# a complete build with everything the suites use: nothing will be written into the cache
cache_ready() {
  local m
  [ -f "$STAMP" ] && [ -x "$PGC" ] && [ -x "$ISO/pg_isolation_regress" ] || return 1
  for m in $CONTRIB; do [ -f "$("$PGC" --sharedir)/extension/$m.control" ] || return 1; done
}

install -d -o postgres -g postgres "$CACHE"
# fetching, building or completing the cache holds the lock; a ready cache is only read
LOCK=${TXG_COMPAT_LOCK:-/var/cache/txguard-compat.lock}
if [ "$MODE" = --fetch ] || ! cache_ready; then hold_lock 8 "$LOCK"; fi

# ---------------------------------------------------------------- 0. build tools
need=()
for p in bison flex build-essential libipc-run-perl; do   # readline/zlib/icu are configured out
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$DO_APT" = 1 ] || build_failed "missing packages ${need[*]} (--no-apt: not installed)"
  log "installing ${need[*]}"
  apt_install() { apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null 2>&1; }
  apt_install || { apt-get update -qq -o DPkg::Lock::Timeout=300; apt_install; } ||
    build_failed "could not install ${need[*]}"
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
    log "could not fetch $PKG from $SUITE, ${FALLBACK_SUITES// /, } or the pool"
    log "to use a source tree of your own, as root: unpack an upstream release (postgresql-$MAJOR.N.tar.bz2 from ftp.postgresql.org/pub/source/v$MAJOR.N/) with"
    log "    mkdir -p $SRC && tar -C $SRC --strip-components=1 -xjf postgresql-$MAJOR.N.tar.bz2"
    log "so that $SRC/configure exists, then run this again (the tree is handed to the postgres user and used as is)"
    build_failed "no PostgreSQL $MAJOR source: fetch failed and nothing placed in $SRC"
  fi
  tars=("$DL/${PKG}_"*.orig.tar.*)
  tarball=${tars[0]}
  [ -f "$tarball" ] || build_failed "no orig tarball in $DL"
  log "using $FETCHED"
  log "unpacking $(basename "$tarball")"
  rm -rf "$SRC.tmp"; mkdir -p "$SRC.tmp"
  tar -C "$SRC.tmp" --strip-components=1 -xf "$tarball"
  echo "$FETCHED" > "$SRC.tmp/.txguard-compat-source"
  rm -rf "$SRC"; mv "$SRC.tmp" "$SRC"
  chown -R postgres:postgres "$SRC"
}
source_info() { cat "$SRC/.txguard-compat-source" 2>/dev/null || echo "a tree placed in $SRC by hand"; }

# A tree placed by hand: check its shape, then hand it to the build user (root unpacked it;
# configure and make run as postgres and write into it).
check_placed_tree() {
  local inner
  if [ ! -e "$SRC/configure" ]; then
    inner=$(find "$SRC" -mindepth 2 -maxdepth 2 -name configure -print -quit 2>/dev/null || true)
    if [ -n "$inner" ]; then
      build_failed "$SRC holds a tree one level down ($inner): unpack with --strip-components=1, or mv $(dirname "$inner")/* $SRC/"
    fi
    return 0
  fi
  if [ -n "$(find "$SRC" ! -user postgres -print -quit)" ]; then
    log "handing $SRC to the postgres user (chown -R)"
    chown -R postgres:postgres "$SRC"
  fi
  [ -x "$SRC/configure" ] || build_failed "$SRC/configure is not executable"
}

# ---------------------------------------------------------------- 2. build PostgreSQL
[ -d "$SRC" ] && check_placed_tree
if [ "$MODE" = --fetch ]; then
  if [ -x "$SRC/configure" ]; then log "source already in $SRC: $(source_info)"; else fetch_source; fi
  exit 0
fi
if [ -f "$STAMP" ] && [ -x "$PGC" ]; then
  log "reusing $PREFIX ($("$PGC" --version); source: $(source_info))"
else
  if [ ! -x "$SRC/configure" ]; then
    ts=$SECONDS; fetch_source; log "source ready in $((SECONDS - ts)) s"
  fi
  ts=$SECONDS
  rm -rf "$PREFIX"
  install -d -o postgres -g postgres "$PREFIX"
  log "configure + make -j$JOBS + install (nice 19) -> $PREFIX; log: $CACHE/build-$MAJOR.log"
  # shellcheck disable=SC2016
  if ! as_pg nice -n 19 bash -c '
      set -e; cd "$1"
      # a tree built before (an interrupted run) is cleaned first
      [ ! -f GNUmakefile ] || make -s distclean >/dev/null 2>&1 || true
      ./configure --prefix="$2" --enable-tap-tests --enable-debug --enable-cassert \
          --without-icu --without-llvm --without-readline --without-zlib
      make -j"$3"      # src + config only: the docs are not built
      make install
      # pg_isolation_regress/isolationtester + TAP perl modules for PGXS
      make -C src/test/isolation install
      make -C src/test/perl install
      for m in $4; do make -C contrib/$m install; done
      ' _ "$SRC" "$PREFIX" "$JOBS" "$CONTRIB" </dev/null > "$CACHE/build-$MAJOR.log" 2>&1 8>&-; then
    tail -n 40 "$CACHE/build-$MAJOR.log"
    build_failed "PostgreSQL $MAJOR build FAILED (configure/make as postgres in $SRC; log: $CACHE/build-$MAJOR.log)"
  fi
  as_pg touch "$STAMP"
  log "$("$PGC" --version) built in $((SECONDS - ts)) s"
fi
# a cache built before a contrib module joined the list gets it from its tree
for m in $CONTRIB; do
  if [ ! -f "$("$PGC" --sharedir)/extension/$m.control" ]; then
    [ -d "$SRC/contrib/$m" ] || build_failed "$PREFIX lacks $m and $SRC is gone: rm -rf $PREFIX to rebuild"
    log "installing contrib/$m into $PREFIX"
    as_pg make -s -C "$SRC/contrib/$m" install </dev/null >> "$CACHE/build-$MAJOR.log" 2>&1 8>&- ||
      build_failed "installing contrib/$m FAILED (log: $CACHE/build-$MAJOR.log)"
  fi
done
# PG 13 does not install the isolation tester into pgxs (14+ do): copy it there
if [ ! -x "$ISO/pg_isolation_regress" ] && [ -x "$SRC/src/test/isolation/pg_isolation_regress" ]; then
  as_pg install -d "$ISO"
  as_pg install -m 755 "$SRC/src/test/isolation/pg_isolation_regress" "$SRC/src/test/isolation/isolationtester" "$ISO/"
  log "copied pg_isolation_regress + isolationtester into $ISO"
fi
if [ "$MODE" = --prepare ]; then release_lock 8; exit 0; fi

# ---------------------------------------------------------------- 3. txguard
# The tree and the PostgreSQL installation are copied (PostgreSQL finds its files relative
# to its binaries): txguard is installed into the copy, never into the shared cache.  The
# tree's top-level *.log files are left out: test/run-all.sh is still writing its own.
WORK=$(mktemp -d /tmp/txcompat-"$MAJOR".XXXXXX)
[ "${TXG_COMPAT_KEEP:-0}" = 1 ] || trap 'rm -rf "$WORK"' EXIT
cp -a "$PREFIX" "$WORK/pg"
release_lock 8
TREE=$WORK/tree
mkdir "$TREE"
tar -C "$REPO" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./src/errcodes_table.h \
    --exclude='./tmp_check*' --exclude=./results --exclude=./output_iso --exclude=./log --exclude=./tap_logs \
    --no-wildcards-match-slash --exclude='./*.log' -cf - . |
  tar -C "$TREE" -xf -
chown -R postgres:postgres "$WORK"
PGC=$WORK/pg/bin/pg_config
export PATH="$WORK/pg/bin:$PATH"
MK=(make -C "$TREE" --no-print-directory PG_CONFIG="$PGC" with_llvm=no)

log "building txguard against $("$PGC" --version) (copy in $WORK/pg)"
if ! as_pg "${MK[@]}" -s -k PG_CFLAGS=-Werror </dev/null 2>&1 | tee "$WORK/build.log"; then
  build_failed "txguard build against PostgreSQL $MAJOR FAILED"
fi
as_pg "${MK[@]}" -s install </dev/null >/dev/null || build_failed "txguard install into $WORK/pg FAILED"

rc=0 pass=0 fail=0
# pg_regress: "ok 1  - name  12 ms" (>=16) or "test name ... ok" (13-15); prove: "t/x.pl .. ok"
OK_RE='^(ok [0-9]+ |.*\.\.\. ok( |$)|.*\.pl \.+ ok$)'
BAD_RE='^(not ok [0-9]+ |.*\.\.\. FAILED|.*\.pl \.+ (Dubious|Failed))'
# the test names of a pg_regress/prove log's OK_RE or BAD_RE lines
test_names() {
  grep -E "$1" "$2" | sed -E 's/^(not )?ok [0-9]+ +([-+] +)?//; s/^test +//; s/^ +//; s/ .*//' || true
}
# tally SUITE LABEL LOG ST: count, print "ok:"/"FAILED:", write result lines
tally() {
  local sname=$1 label=$2 lg=$3 st=$4 p f t
  p=$(grep -cE "$OK_RE" "$lg" || true)
  f=$(grep -cE "$BAD_RE" "$lg" || true)
  for t in $(test_names "$OK_RE" "$lg"); do result "$sname" ok "$t"; done
  for t in $(test_names "$BAD_RE" "$lg"); do result "$sname" not-ok "$t"; done
  if [ "$st" != 0 ] && [ "$f" = 0 ]; then   # suite broke without a failing test line
    f=1
    result "$sname" not-ok "$label (exit status $st without a failing test line)"
  fi
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$f" != 0 ]; then
    rc=1
    echo "FAILED: $label ($p ok, $f failed)"
    return 1
  fi
  echo "ok: $label ($p ok)"
}
suite() {  # PGXS installcheck stops at the first failing suite: run them one by one
  local sname=$1 label=$2 out=$3 logs=$4 st=0 l; shift 4
  echo "=== $label"
  rm -f "$TREE/$out"
  # temp instances listen on a unix socket only; still pin their port to 5545x (13->55451 ...)
  as_pg timeout -k 15 "$SUITE_TIMEOUT" env PATH="$PATH" "${MK[@]}" installcheck \
    EXTRA_REGRESS_OPTS="--port=$((55438 + MAJOR))${SUITE_CONF:+ --temp-config=$SUITE_CONF}" "$@" \
    </dev/null > "$WORK/check-$label.log" 2>&1 || st=$?
  cat "$WORK/check-$label.log"
  [ "$st" != 124 ] || echo "$label: TIMED OUT after $SUITE_TIMEOUT s"
  if ! tally "$sname" "$label" "$WORK/check-$label.log" "$st"; then
    if [ -f "$TREE/$out" ]; then echo "--- $out"; head -n 200 "$TREE/$out"; fi
    # server / TAP logs of the kept temp instances ($logs is globbed only now)
    for l in $logs; do
      if [ -f "$l" ]; then echo "--- ${l#"$TREE"/} (tail)"; tail -n 40 "$l"; fi
    done
  fi
}
# external SUITE SCRIPT: test/model/run.sh or test/clients/run.sh on the copy; their
# "ok - NAME" / "not ok - NAME" lines are the results
external() {
  local sname=$1 script=$2 st=0 p f lg=$WORK/check-$1.log args=() t
  echo "=== $sname ($script, TXG_PG_CONFIG=$PGC)"
  # clients' queryid test loads pgaudit, a Debian package built for the system's server
  # only: without it in this installation that one test is left out (and said so)
  if [ "$sname" = clients ] && [ ! -f "$("$PGC" --sharedir)/extension/pgaudit.control" ]; then
    for t in $(awk '/^ALL_TESTS=\(/ { f = 1 } f { print } f && /\)/ { exit }' "$TREE/$script" |
               sed 's/^ALL_TESTS=//' | tr -d '()'); do
      [ "$t" = queryid ] || args+=("$t")
    done
    echo "# clients: queryid left out: pgaudit is not in $WORK/pg (it is checked on the system's PostgreSQL)"
  fi
  # they use fixed ports (model 55460, clients 55441-55443), as the system-installed
  # suites do: hold the same lock as those
  hold_lock 9 /tmp/txguard-system.lock
  (cd "$TREE" && TXG_PG_CONFIG=$PGC timeout -k 15 "$SUITE_TIMEOUT" bash "$script" "${args[@]}") \
    </dev/null > "$lg" 2>&1 9>&- || st=$?
  release_lock 9
  cat "$lg"
  [ "$st" != 124 ] || echo "$sname: TIMED OUT after $SUITE_TIMEOUT s"
  p=$(grep -c '^ok - ' "$lg" || true)
  f=$(grep -c '^not ok - ' "$lg" || true)
  if [ -n "$RESULTS" ]; then grep -E '^(not )?ok - ' "$lg" >> "$RESULTS/$sname.tap" || true; fi
  if [ "$st" != 0 ] && [ "$f" = 0 ]; then
    f=1; result "$sname" not-ok "$sname (exit status $st without a failing test line)"
  elif [ "$st" = 0 ] && [ "$p" = 0 ] && [ "$f" = 0 ]; then
    p=1; result "$sname" ok "$sname (exit status 0)"
  fi
  pass=$((pass + p)); fail=$((fail + f))
  if [ "$f" != 0 ]; then rc=1; echo "FAILED: $sname ($p ok, $f failed)"; else echo "ok: $sname ($p ok)"; fi
}
shopt -s nullglob
want() { [[ ",$SUITES," == *",$1,"* ]]; }
if want regress; then
  suite regress regress regression.diffs "$TREE/log/postmaster.log" ISOLATION= TAP_TESTS=
fi
if want discard; then
  if [ "$MAJOR" -ge 14 ]; then
    # in the server's configuration, not PGOPTIONS: it is a superuser setting, and the
    # tests also connect as ordinary roles
    echo "debug_discard_caches = 1" > "$WORK/discard.conf"
    SUITE_CONF=$WORK/discard.conf \
      suite discard discard regression.diffs "$TREE/log/postmaster.log" ISOLATION= TAP_TESTS=
  else
    echo "=== discard: skipped (debug_discard_caches arrived in 14)"
  fi
fi
if want isolation; then
  suite isolation isolation output_iso/regression.diffs "$TREE/output_iso/log/postmaster.log" REGRESS= TAP_TESTS=
fi
if want tap; then
  # one prove run per file, so that a bail-out in one file does not hide the others
  mk_print=$(mktemp /tmp/txcompat-print.XXXXXX)
  # shellcheck disable=SC2016
  printf 'txg-print-prove-tests:\n\t@echo $(PROVE_TESTS)\n' > "$mk_print"
  prove_tests=$(make -C "$TREE" --no-print-directory -s PG_CONFIG="$PGC" -f Makefile -f "$mk_print" \
                  txg-print-prove-tests 2>/dev/null) || prove_tests=
  rm -f "$mk_print"
  tap_files=()
  for pat in $prove_tests; do for f in "$TREE"/$pat; do tap_files+=("${f#"$TREE"/}"); done; done
  if [ ${#tap_files[@]} -gt 0 ]; then
    for f in "${tap_files[@]}"; do
      suite tap "tap:$(basename "$f")" none "$TREE/tmp_check/log/*" REGRESS= ISOLATION= PROVE_TESTS="$f"
      # the next prove run wipes tmp_check: keep this file's logs (see TXG_COMPAT_KEEP)
      as_pg mkdir -p "$TREE/tap_logs"
      as_pg cp -r "$TREE/tmp_check/log" "$TREE/tap_logs/$(basename "$f" .pl)" 2>/dev/null || true
    done
  else
    suite tap tap none "$TREE/tmp_check/log/*" REGRESS= ISOLATION=
  fi
fi
if want model; then external model test/model/run.sh; fi
if want clients; then external clients test/clients/run.sh; fi

[ "${TXG_COMPAT_KEEP:-0}" = 1 ] && log "kept $WORK"
log "finished"
echo "compat $MAJOR: $pass passed, $fail failed"
exit "$rc"
}
