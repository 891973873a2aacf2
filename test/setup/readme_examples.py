#!/usr/bin/python3
"""Extract the README's examples that must run as printed on the demo server.

    readme_examples.py README.md OUTDIR

A fenced block right after an HTML comment marker is an example:
    <!-- demo -->             SQL that runs without error  -> OUTDIR/sql-N.sql
    <!-- demo: transcript -->  psql input and its exact output (the lines that
                              are not "ERROR:  ", "DETAIL:  ", ... are the
                              input)                      -> OUTDIR/transcript-N.txt
    <!-- demo: pgbadger -->    a shell command            -> OUTDIR/pgbadger.sh
Blocks may be indented (inside a list item); the indentation is removed.
Prints one line per example: "KIND FILE LINE FIRST-LINE-OF-THE-BLOCK".
A marker not followed by a fenced block is an error (exit status 1).
"""
import os
import re
import sys

MARKER = re.compile(r'^\s*<!--\s*demo(?::\s*(transcript|pgbadger))?\s*-->\s*$')
FENCE = re.compile(r'^(\s*)(`{3,}|~{3,})')


def main():
    readme, outdir = sys.argv[1], sys.argv[2]
    lines = open(readme, encoding='utf-8').read().split('\n')
    n = {'sql': 0, 'transcript': 0, 'pgbadger': 0}
    i = 0
    bad = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if not m:
            i += 1
            continue
        kind = m.group(1) or 'sql'
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            j += 1
        f = FENCE.match(lines[j]) if j < len(lines) else None
        if not f:
            print('error %s:%d: a demo marker without a fenced block after it' % (readme, i + 1))
            bad += 1
            i += 1
            continue
        indent, fence = len(f.group(1)), f.group(2)
        body = []
        k = j + 1
        while k < len(lines) and not (lines[k].strip().startswith(fence) and lines[k].strip() == fence[0] * len(lines[k].strip())):
            body.append(lines[k][indent:] if lines[k][:indent].strip() == '' else lines[k])
            k += 1
        n[kind] += 1
        if kind == 'pgbadger':
            name = 'pgbadger.sh'
        else:
            name = '%s-%d.%s' % (kind, n[kind], 'sql' if kind == 'sql' else 'txt')
        with open(os.path.join(outdir, name), 'w', encoding='utf-8') as out:
            out.write('\n'.join(body) + '\n')
        print('%s %s %d %s' % (kind, name, j + 2, body[0] if body else ''))
        i = k + 1
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
