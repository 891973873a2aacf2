#!/usr/bin/env bash
# test/docs/run.sh: every relative link and #anchor of the documentation resolves.
#
#   bash test/docs/run.sh            (any user; run-all runs it as the suite "docs")
#
# Checks README.md, docs/*.md, monitoring/README.md, BENCHMARKS.md and every
# README.md under test/ with check_links.py (GitHub's anchor rules: see its
# header).  First the checker itself is checked on a small tree of known good
# and known broken links, so that a checker that stopped seeing links, or
# accepted every anchor, fails here rather than passing the real files.
# Prints "ok - NAME" / "not ok - NAME" per check; exit status 1 if one failed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CHECK=$ROOT/test/docs/check_links.py
PY=/usr/bin/python3
FIX=$(mktemp -d /tmp/txguard-docs-check.XXXXXX) || exit 2
trap 'rm -rf "$FIX"' EXIT

PASSN=0 FAILN=0
ok() { echo "ok - $*"; PASSN=$((PASSN + 1)); }
notok() { echo "not ok - $*"; FAILN=$((FAILN + 1)); }

# ---------------------------------------------------------------- the checker itself
mkdir -p "$FIX/repo/sub" "$FIX/repo/docs"
cat >"$FIX/repo/a.md" <<'MD'
# Title

## Foo bar
## Foo bar
## `txguard_abort_history(pid integer)` and *more*!
Setext heading
--------------

```sh
# not a heading
[not a link](nowhere.md)
```

Good: [1](#foo-bar) [2](#foo-bar-1) [3](#txguard_abort_historypid-integer-and-more)
[4](docs/b.md#section-two) [5](sub/) [6](#setext-heading) [7](https://example.org/x#y)
[8](<docs/b.md>) `[9](nowhere.md)` [10](docs/b.md#id-anchor) [11](code.c#L3)
Bad: [b1](#foo-bar-2) [b2](#not-a-heading) [b3](docs/b.md#nope) [b4](missing.md)
[b5](../outside.md) [b6](#Foo-bar) [b7](/a.md) [b8](code.c#main)
[ref]: docs/gone.md
MD
printf '# B\n\n## Section two\n\n<a id="id-anchor"></a>\n[back](../a.md#title)\n' >"$FIX/repo/docs/b.md"
echo 'int x;' >"$FIX/repo/code.c"
echo '# outside' >"$FIX/outside.md"
"$PY" "$CHECK" "$FIX/repo" a.md docs/b.md >"$FIX/out" 2>&1
rc=$?
want_bad=('#foo-bar-2' '#not-a-heading' 'docs/b.md#nope' 'missing.md' '../outside.md' '#Foo-bar'
          '/a.md' 'code.c#main' 'docs/gone.md')
missed=()
for b in "${want_bad[@]}"; do grep -qF "($b)" "$FIX/out" || missed+=("$b"); done
nbad=$(grep -c '^# a.md:' "$FIX/out")
if [ "$rc" -eq 1 ] && [ "${#missed[@]}" -eq 0 ] && [ "$nbad" -eq "${#want_bad[@]}" ] \
    && grep -q '^not ok - links:a.md (9 broken of 19 links' "$FIX/out" \
    && grep -q '^ok - links:docs/b.md' "$FIX/out"; then
    ok "checker: flags the ${#want_bad[@]} broken links of a test file and only them (exit 1)"
else
    sed 's/^/#   /' "$FIX/out"
    notok "checker: on the test file: exit $rc, $nbad flagged (want ${#want_bad[@]}), not flagged: ${missed[*]:-none}"
fi
"$PY" "$CHECK" "$FIX/repo" docs/b.md >"$FIX/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q '^ok - links:docs/b.md (1 links, 1 with an anchor)' "$FIX/out"; then
    ok "checker: a file whose links all resolve passes (exit 0)"
else
    sed 's/^/#   /' "$FIX/out"
    notok "checker: a file whose links all resolve: exit $rc"
fi

# ---------------------------------------------------------------- the documentation
cd "$ROOT" || exit 2
files=(README.md BENCHMARKS.md monitoring/README.md)
while IFS= read -r f; do files+=("$f"); done < <(
    { find docs -maxdepth 1 -name '*.md'; find test -name README.md; } 2>/dev/null | LC_ALL=C sort)
[ -d docs ] || notok "docs: there is no docs/ directory"
"$PY" "$CHECK" "$ROOT" "${files[@]}" >"$FIX/out" 2>&1
cat "$FIX/out"
PASSN=$((PASSN + $(grep -c '^ok - ' "$FIX/out")))
FAILN=$((FAILN + $(grep -c '^not ok - ' "$FIX/out")))

echo "docs: $PASSN passed, $FAILN failed"
[ "$FAILN" -eq 0 ]
