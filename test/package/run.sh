#!/usr/bin/env bash
# txguard's Debian package: build it, install it, test the installed package,
# check it with lintian, remove it.
#
#   bash test/package/run.sh          (as root on Debian 12)
#   KEEP=1     keep the scratch dir (build tree, .deb files, logs)
#   NO_APT=1   do not call apt-get install for the build tools
#   TXG_PACKAGE_TAP=1  also run the TAP tests against the package (debian/tests/tap; ~1.5 min)
#
# 1. installs what building needs (debhelper, postgresql-all, postgresql-server-dev-all,
#    libkrb5-dev, lintian) when missing;
# 2. builds from a copy of the tree with "dpkg-buildpackage -us -uc -b" (debian/rules:
#    pg_buildext, one postgresql-NN-txguard per supported major; the build runs the
#    regression tests that need only a running server in a pg_virtualenv cluster).
#    The copy is placed in a fresh 0700 directory under /root, as a checkout of
#    someone working as root is, that the "postgres" user running the build-time test
#    server cannot read: the build and its tests must not depend on where the checkout is;
# 3. saves the txguard files that are on the system without belonging to a package
#    (what "make install" put there), then installs the .deb with apt-get;
# 4. checks that txguard.so, the control and the SQL files belong to the package and are
#    unmodified (dpkg -S, dpkg --verify), then runs txguard's regression and isolation
#    suites against the installed package: debian/tests/suites ("make installcheck" in a
#    postgres-owned copy of the tree that is never built), and debian/tests/installcheck
#    (the autopkgtest with pg_buildext/pg_virtualenv); dpkg --verify again afterwards;
# 5. runs lintian on the .changes (with debian/lintian-overrides.in) and prints its findings;
# 6. purges the package (apt-get purge) and puts the saved files back, so that the system is as before
#    and a later "make install" can overwrite the files again.
# Output: one "ok - NAME" / "not ok - NAME" line per check; exit status non-zero if any failed.
set -uo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 LANG=C.UTF-8

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
for v in $(compgen -e | grep -E '^PG' || true); do unset "$v"; done
unset DEB_BUILD_OPTIONS

die() { echo "package: $*" >&2; echo "not ok - package:setup"; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (installs packages; the tests run as 'postgres')"
[ -f "$REPO/debian/control.in" ] || die "$REPO/debian/control.in is missing"

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
notok() { failed=$((failed + 1)); echo "not ok - $*"; }
note() { echo "# $*"; }
t0=$SECONDS
step() { note "--- $* [$((SECONDS - t0)) s]"; }

SCRATCH=$(mktemp -d /tmp/txguard-package.XXXXXX) || exit 2
chmod 0755 "$SCRATCH"
# the build tree: a fresh 0700 directory (mktemp -d), under /root when there is one
PRIVATE_PARENT=/root
[ -d "$PRIVATE_PARENT" ] || PRIVATE_PARENT=/tmp
PRIVATE=$(mktemp -d "$PRIVATE_PARENT/txguard-package-build.XXXXXX") || exit 2
INSTALLED_PKGS=()   # packages this run installed (purged at the end)
SAVED=$SCRATCH/saved
SAVED_LIST=$SCRATCH/saved.list
: >"$SAVED_LIST"

FOREIGN=$SCRATCH/foreign
RESTORED=0
restore_system() {
  local p f
  [ "$RESTORED" = 0 ] || return 0
  RESTORED=1
  for p in "${INSTALLED_PKGS[@]}"; do
    # files of the package that someone else rewrote meanwhile (a "make install" running
    # alongside): dpkg --purge would delete them, so keep them and put them back last
    while IFS= read -r f; do
      [ -f "$f" ] || continue
      mkdir -p "$FOREIGN$(dirname "$f")" && cp -a "$f" "$FOREIGN$f" && echo "$f" >>"$SCRATCH/foreign.list"
      echo "package: $f was rewritten while the package was installed: kept"
    done < <(dpkg --verify "$p" 2>/dev/null | awk '$1 ~ /5/ {print $NF}')
    # apt-get waits for the dpkg lock (another apt/dpkg run) instead of failing at once
    apt-get purge -y -qq -o DPkg::Lock::Timeout=300 "$p" </dev/null >"$SCRATCH/purge.log" 2>&1 ||
      { cat "$SCRATCH/purge.log"; echo "package: apt-get purge $p failed"; }
  done
  INSTALLED_PKGS=()
  while IFS= read -r f; do
    cp -a "$SAVED$f" "$f" 2>/dev/null || echo "package: could not restore $f"
  done <"$SAVED_LIST"
  while IFS= read -r f; do
    cp -a "$FOREIGN$f" "$f" 2>/dev/null || echo "package: could not put back $f"
  done < <(cat "$SCRATCH/foreign.list" 2>/dev/null)
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  restore_system
  if [ "${KEEP:-0}" = 1 ]; then echo "# kept $SCRATCH and $PRIVATE"; else rm -rf "$SCRATCH" "$PRIVATE"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- 1. tools
step "build tools"
pkg_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}
need=(build-essential debhelper fakeroot libkrb5-dev postgresql-all postgresql-server-dev-all lintian)
mapfile -t missing < <(pkg_missing "${need[@]}")
if [ ${#missing[@]} -gt 0 ] && [ "${NO_APT:-0}" != 1 ]; then
  ts=$SECONDS
  note "installing ${missing[*]}"
  if ! apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" \
        </dev/null >"$SCRATCH/apt.log" 2>&1; then
    apt-get update -qq -o DPkg::Lock::Timeout=300 </dev/null >/dev/null 2>&1
    apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${missing[@]}" \
      </dev/null >"$SCRATCH/apt.log" 2>&1 || tail -n 20 "$SCRATCH/apt.log"
  fi
  note "apt-get install took $((SECONDS - ts)) s"
fi
mapfile -t missing < <(pkg_missing "${need[@]}")
[ ${#missing[@]} -eq 0 ] || die "still missing: ${missing[*]}"

# ---------------------------------------------------------------- 2. build
VERSION=$(dpkg-parsechangelog -l "$REPO/debian/changelog" -S Version) || die "cannot read debian/changelog"
UPSTREAM=${VERSION%-*}
BUILD=$SCRATCH/build            # the .deb, .changes and .buildinfo files, readable by all
PBUILD=$PRIVATE/build           # dpkg-buildpackage writes them next to the tree
SRC=$PBUILD/txguard-$UPSTREAM
# what a fresh clone has, without build outputs
copy_tree() {
  mkdir -p "$1"
  tar -C "$REPO" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
      --exclude='./tmp_check*' --exclude=./results --exclude=./output_iso --exclude=./log \
      --exclude=./tap_logs --exclude=node_modules --exclude='./*.log' --exclude='./regression.*' -cf - . | tar -C "$1" -xf -
}
copy_tree "$SRC" || die "could not copy $REPO"
# the point of building there: the postgres user cannot read the tree
if [ "$(stat -c %a "$PRIVATE")" = 700 ] && ! runuser -u postgres -- test -r "$SRC/Makefile" 2>/dev/null; then
  ok "package:private-tree (the build tree $SRC is in a 0700 directory that postgres cannot read)"
else
  notok "package:private-tree ($PRIVATE is mode $(stat -c %a "$PRIVATE"), or postgres can read $SRC)"
fi
step "dpkg-buildpackage -us -uc -b -J$(nproc) (txguard $VERSION)"
ts=$SECONDS
# PG_UPDATECONTROL: regenerate debian/control (in the copy) if this machine supports
# other majors than the committed file lists
(cd "$SRC" && PG_UPDATECONTROL=yes dpkg-buildpackage -us -uc -b -J"$(nproc)") </dev/null >"$SCRATCH/build.log" 2>&1
rc=$?
BUILD_S=$((SECONDS - ts))
mkdir -p "$BUILD"
find "$PBUILD" -maxdepth 1 -type f -name "*_${VERSION}_*" -exec mv -t "$BUILD" {} +
mapfile -t DEBS < <(find "$BUILD" -maxdepth 1 -name "postgresql-*-txguard_${VERSION}_*.deb" | sort)
CHANGES=$(find "$BUILD" -maxdepth 1 -name "txguard_${VERSION}_*.changes" | head -n1)
if [ $rc = 0 ] && [ ${#DEBS[@]} -gt 0 ]; then
  ok "package:build ($(cd "$BUILD" && ls postgresql-*-txguard_*.deb | tr '\n' ' ')in $BUILD_S s)"
else
  tail -n 60 "$SCRATCH/build.log"
  notok "package:build (dpkg-buildpackage exited $rc)"
  exit 1
fi
# the build-time tests (pg_buildext installcheck in a pg_virtualenv cluster)
bt_ok=$(grep -cE '^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. ok( |$)' "$SCRATCH/build.log")
bt_fail=$(grep -cE '\.\.\. FAILED' "$SCRATCH/build.log")
if [ "$bt_ok" -gt 0 ] && [ "$bt_fail" = 0 ]; then
  ok "package:build-time-tests ($bt_ok regression tests against a pg_virtualenv cluster preloading the built txguard, from a tree postgres cannot read)"
else
  grep -E '\.\.\. (ok|FAILED)' "$SCRATCH/build.log"
  notok "package:build-time-tests ($bt_ok ok, $bt_fail failed)"
fi
for deb in "${DEBS[@]}"; do
  note "$(basename "$deb"): $(dpkg-deb -f "$deb" Depends)"
done

# ---------------------------------------------------------------- 3. install
step "install"
PKGS=() PREINSTALLED=()
for deb in "${DEBS[@]}"; do
  p=$(dpkg-deb -f "$deb" Package)
  PKGS+=("$p")
  if dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed'; then
    note "$p was installed before this run: it is replaced, and left installed at the end"
    PREINSTALLED+=("$p")
  else
    INSTALLED_PKGS+=("$p")
  fi
  # files of the package already on the system without an owner (make install): saved
  while IFS= read -r f; do
    f=/${f#./}
    [ -f "$f" ] || continue
    dpkg -S "$f" >/dev/null 2>&1 && continue
    mkdir -p "$SAVED$(dirname "$f")"
    cp -a "$f" "$SAVED$f" && echo "$f" >>"$SAVED_LIST"
  done < <(dpkg-deb --fsys-tarfile "$deb" | tar -tf - | grep -v '/$')
done
[ -s "$SAVED_LIST" ] && note "saved $(wc -l <"$SAVED_LIST") txguard files that no package owned (restored at the end)"
if apt-get install -y -qq -o DPkg::Lock::Timeout=300 --no-install-recommends "${DEBS[@]}" \
     </dev/null >"$SCRATCH/install.log" 2>&1; then
  ok "package:install (apt-get install ${PKGS[*]})"
else
  cat "$SCRATCH/install.log"
  notok "package:install"
  exit 1
fi

# the installed txguard is the package's: owned by it, and unmodified
verify_files() {  # <label>
  local p v so owner bad=0
  for p in "${PKGS[@]}"; do
    v=${p#postgresql-}; v=${v%-txguard}
    for so in "/usr/lib/postgresql/$v/lib/txguard.so" "/usr/share/postgresql/$v/extension/txguard.control"; do
      owner=$(dpkg -S "$so" 2>/dev/null | cut -d: -f1)
      if [ "$owner" != "$p" ]; then echo "$so: owned by '${owner:-nobody}', not $p"; bad=1; fi
    done
    if ! out=$(dpkg --verify "$p" 2>&1) || [ -n "$out" ]; then
      echo "dpkg --verify $p:"; echo "$out"; bad=1
    fi
  done
  if [ $bad = 0 ]; then ok "package:files-$1 (txguard.so and the extension files belong to ${PKGS[*]}, dpkg --verify clean)"
  else notok "package:files-$1"; fi
}
verify_files installed
note "$(dpkg -S "/usr/lib/postgresql/${PKGS[0]//[!0-9]/}/lib/txguard.so" 2>&1)"

# ---------------------------------------------------------------- 4. tests
TEST=$SCRATCH/test
install -d -o postgres -g postgres "$TEST"
copy_tree "$TEST"
chown -R postgres:postgres "$TEST"
if find "$TEST" -name '*.so' -o -name '*.o' | grep -q .; then
  notok "package:test-copy (the test copy has build outputs: the tests must use the package)"
fi
# pg_regress lines; name: suite:test
RE_OK='^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. ok( |$)'
RE_FAIL='^(test )?[[:space:]]*[^[:space:]]+[[:space:]]+\.\.\. FAILED'
report_tests() {  # <label> <log> <rc>
  local label=$1 log=$2 rc=$3 line n=0 name
  while IFS= read -r line; do
    n=$((n + 1))
    name=$(sed -E 's/^(test )?[[:space:]]*([^[:space:]]+).*/\2/' <<<"$line")
    if [[ $line =~ $RE_OK ]]; then ok "package:$label:$name"; else notok "package:$label:$name"; fi
  done < <(grep -E "$RE_OK|$RE_FAIL" "$log")
  if [ "$n" = 0 ] || { [ "$rc" != 0 ] && ! grep -qE "$RE_FAIL" "$log"; }; then
    tail -n 40 "$log"
    notok "package:$label (exited $rc without a failing test line)"
  elif [ "$rc" != 0 ]; then
    # the diffs are in the log (debian/tests/* print them)
    sed -n '/^diff -U3/,$p' "$log" | head -n 150
  fi
}
for suite in regress isolation; do
  step "debian/tests/suites: $suite against the installed package"
  ts=$SECONDS
  if [ $suite = regress ]; then vars=(ISOLATION=); else vars=(REGRESS=); fi
  (cd "$TEST" && timeout -k 10 300 runuser -u postgres -- env TXGUARD_AS_POSTGRES=1 \
     sh debian/tests/suites "${vars[@]}") </dev/null >"$SCRATCH/$suite.log" 2>&1
  rc=$?
  note "$suite: exited $rc after $((SECONDS - ts)) s"
  report_tests "$suite" "$SCRATCH/$suite.log" $rc
done
step "debian/tests/installcheck (autopkgtest: pg_buildext installcheck, pg_virtualenv)"
ts=$SECONDS
ICHK=$SCRATCH/autopkgtest
cp -a "$TEST" "$ICHK"
(cd "$ICHK" && timeout -k 10 300 sh debian/tests/installcheck) </dev/null >"$SCRATCH/installcheck.log" 2>&1
rc=$?
note "autopkgtest installcheck: exited $rc after $((SECONDS - ts)) s"
report_tests autopkgtest-installcheck "$SCRATCH/installcheck.log" $rc
if [ "${TXG_PACKAGE_TAP:-0}" = 1 ]; then
  step "debian/tests/tap (TXG_PACKAGE_TAP=1)"
  ts=$SECONDS
  (cd "$TEST" && timeout -k 10 600 runuser -u postgres -- env TXGUARD_AS_POSTGRES=1 sh debian/tests/tap) \
    </dev/null >"$SCRATCH/tap.log" 2>&1
  rc=$?
  note "tap: exited $rc after $((SECONDS - ts)) s"
  while IFS= read -r line; do
    t=${line%% *}
    if [[ $line =~ \.\.\ ok$ ]]; then ok "package:tap:$t"; else notok "package:tap:$t"; fi
  done < <(grep -E '^test/t/[^ ]+\.pl \.+ ' "$SCRATCH/tap.log")
  [ $rc = 0 ] || { grep -E 'Wstat|Failed test|^#' "$SCRATCH/tap.log" | head -n 60; notok "package:tap (exited $rc)"; }
fi
verify_files after-tests

# ---------------------------------------------------------------- 5. lintian
step "lintian"
ts=$SECONDS
# as an ordinary user (lintian warns against root); overridden tags shown as "O:"
chmod -R a+rX "$BUILD"
runuser -u postgres -- lintian --pedantic -I --show-overrides "$CHANGES" </dev/null >"$SCRATCH/lintian.log" 2>&1
lrc=$?
note "lintian $(lintian --version 2>/dev/null | awk '{print $2}') exited $lrc after $((SECONDS - ts)) s:"
sed 's/^/#   /' "$SCRATCH/lintian.log"
if [ $lrc -le 1 ] && ! grep -qE '^[EW]: ' "$SCRATCH/lintian.log"; then
  ok "package:lintian (no error or warning; $(grep -c '^[IP]: ' "$SCRATCH/lintian.log") info/pedantic, $(grep -c '^O: ' "$SCRATCH/lintian.log") overridden)"
else
  notok "package:lintian ($(grep -c '^E: ' "$SCRATCH/lintian.log") errors, $(grep -c '^W: ' "$SCRATCH/lintian.log") warnings)"
fi

# ---------------------------------------------------------------- 6. remove
step "remove"
restore_system
bad=0
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || continue
  if [[ " ${PREINSTALLED[*]} " == *" $p "* ]]; then
    note "$p is still installed (it was installed before this run)"
  else
    echo "$p is still installed"; bad=1
  fi
done
while IFS= read -r f; do
  grep -qxF "$f" "$SCRATCH/foreign.list" 2>/dev/null && continue   # rewritten by someone else
  cmp -s "$f" "$SAVED$f" || { echo "not restored: $f"; bad=1; }
done <"$SAVED_LIST"
if [ $bad = 0 ]; then
  ok "package:remove (purged; the $(wc -l <"$SAVED_LIST") files installed before are back)"
else
  notok "package:remove"
fi

note "package: finished after $((SECONDS - t0)) s (build $BUILD_S s)"
echo "# package: $passed passed, $failed failed"
[ "$failed" = 0 ]
