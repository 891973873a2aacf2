#!/usr/bin/env bash
# test/pgindent/run.sh [--fix]
#
# The source is laid out as pgindent lays it out, with PostgreSQL 15's own
# pgindent script (from the PostgreSQL 15 source package, fetched by
# test/compat/run.sh 15 --fetch into its cache) and Debian's pg_bsd_indent
# (package pg-bsd-indent, the indent that script expects):
#   * typedefs.list is exactly what test/pgindent/typedefs.pl finds in src/;
#   * pgindent with core's typedefs list plus ours changes no file of src/.
# Prints "ok - " / "not ok - " lines; with --fix, writes pgindent's layout
# and the generated typedefs.list into the tree instead.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CACHE=${TXG_COMPAT_CACHE:-/var/cache/txguard-compat}
PGI=$CACHE/src-15/src/tools/pgindent
INDENT=/usr/bin/pg_bsd_indent
FIX=0
[ "${1:-}" = --fix ] && FIX=1

fail_setup() { echo "not ok - pgindent:setup ($*)"; exit 1; }
[ -x "$INDENT" ] || fail_setup "$INDENT is missing (Debian package pg-bsd-indent)"
if [ ! -f "$PGI/pgindent" ]; then
  [ "$(id -u)" = 0 ] || fail_setup "no $PGI/pgindent, and fetching PostgreSQL 15's source needs root"
  bash "$ROOT/test/compat/run.sh" 15 --fetch >/tmp/txguard-pgindent-fetch.$$ 2>&1 ||
    { tail -n 20 /tmp/txguard-pgindent-fetch.$$; rm -f /tmp/txguard-pgindent-fetch.$$;
      fail_setup "test/compat/run.sh 15 --fetch failed"; }
  rm -f /tmp/txguard-pgindent-fetch.$$
fi
[ -f "$PGI/pgindent" ] || fail_setup "no pgindent script in $PGI"

WORK=$(mktemp -d /tmp/txguard-pgindent.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# 1. typedefs.list
perl "$HERE/typedefs.pl" "$ROOT/src" >"$WORK/typedefs.ours"
if [ $FIX = 1 ]; then
  cp "$WORK/typedefs.ours" "$ROOT/typedefs.list"
elif diff -u "$ROOT/typedefs.list" "$WORK/typedefs.ours" >"$WORK/typedefs.diff"; then
  echo "ok - pgindent:typedefs.list is generated from src/"
else
  sed 's/^/#   /' "$WORK/typedefs.diff"
  echo "not ok - pgindent:typedefs.list is generated from src/ (run: bash test/pgindent/run.sh --fix)"
fi

# 2. the layout
cat "$PGI/typedefs.list" "$WORK/typedefs.ours" >"$WORK/typedefs.all"
cp -r "$ROOT/src" "$WORK/src"
(cd "$WORK" &&
  find src -name '*.[ch]' ! -name errcodes_table.h -print0 |
    xargs -0 perl "$PGI/pgindent" --typedefs="$WORK/typedefs.all" --indent="$INDENT") ||
  fail_setup "pgindent failed"
n=0
while IFS= read -r f; do
  n=$((n + 1))
  if cmp -s "$ROOT/$f" "$WORK/$f"; then
    echo "ok - pgindent:$f"
  elif [ $FIX = 1 ]; then
    cp "$WORK/$f" "$ROOT/$f"; echo "# fixed $f"
  else
    diff -u "$ROOT/$f" "$WORK/$f" | head -n 40 | sed 's/^/#   /'
    echo "not ok - pgindent:$f (run: bash test/pgindent/run.sh --fix)"
  fi
done < <(cd "$ROOT" && find src -name '*.[ch]' ! -name errcodes_table.h | sort)
[ $n -gt 0 ] || echo "not ok - pgindent:no source files found"
