#!/usr/bin/python3
"""Summary of valgrind memcheck logs of a model run (run.sh --valgrind).

    /usr/bin/python3 vgreport.py DIR [--show N]

Reads DIR/valgrind.*.log (one per process, --fullpath-after= so that frames
carry full paths), splits them into error reports, and counts txguard's:
those whose innermost frame outside the C library is txguard's (a function
named txg_* / txguard_*, txguard.so, or a file of txguard's src/), or whose
origin, allocation or free stack has a txguard frame among its first five.
An error of core's raised under one of txguard's hooks (a WAL record's
padding written while txguard's ProcessUtility hook is on the stack) is
not txguard's.  Prints one line "# valgrind: E errors in P processes, T in
txguard frames" and the first N txguard reports; exit status 1 if any.
"""

import glob
import os
import re
import sys

FRAME = re.compile(r'^==\d+==\s+(?:at|by) 0x[0-9A-F]+: (\S+) \((.*)\)$')


def reports(path):
    """The error reports of one log: lists of lines, from an error's first
    line to the blank line that ends it."""
    cur = []
    with open(path, errors='replace') as f:
        for line in f:
            line = line.rstrip('\n')
            body = re.sub(r'^==\d+==\s?', '', line)
            if not body.strip():
                if cur:
                    yield cur
                cur = []
                continue
            if not cur and (body.startswith(' ') or body.startswith('Memcheck,')
                            or body.startswith('Copyright') or body.startswith('Using Valgrind')
                            or body.startswith('Command:') or body.startswith('Parent PID')):
                continue
            cur.append(line)
    if cur:
        yield cur


TXG_SRC = re.compile(r'/src/(capture|store|common|sql)/[^/]+\.[ch]:|/src/(hooks|txguard)\.c:')
LIBC = re.compile(r'^(\./)?(libio|sysdeps|string|stdlib|stdio-common|io|misc|posix|malloc|nptl|elf)/'
                  r'|libc\.so|ld-linux|vgpreload|/valgrind/')
SUBSTACK = re.compile(r'(was created by|alloc\'d|free\'d|freed|block of size)')


def is_txguard(frame_fn, where):
    return (frame_fn.startswith(('txg_', 'txguard_')) or 'txguard.so' in where
            or bool(TXG_SRC.search(where)))


def is_libc(frame_fn, where):
    return bool(LIBC.search(where))


def txguards(rep):
    """Is this error report txguard's?"""
    main, subs, cur = [], [], None
    for line in rep:
        if SUBSTACK.search(line):
            cur = []
            subs.append(cur)
            continue
        m = FRAME.match(line)
        if m:
            (main if cur is None else cur).append(m.groups())
    for fn, where in main:
        if not is_libc(fn, where):
            if is_txguard(fn, where):
                return True
            break
    return any(is_txguard(fn, where) for sub in subs for fn, where in sub[:5])


def main(argv):
    d = argv[1]
    show = int(argv[argv.index('--show') + 1]) if '--show' in argv else 3
    logs = sorted(glob.glob(os.path.join(d, 'valgrind.*.log')))
    n_err, mine = 0, []
    for path in logs:
        for rep in reports(path):
            if not any(FRAME.match(x) for x in rep):
                continue            # a note, not an error
            n_err += 1
            if txguards(rep):
                mine.append((path, rep))
    print('# valgrind: %d errors in %d processes, %d in txguard frames' % (n_err, len(logs), len(mine)))
    for path, rep in mine[:show]:
        print('# --- %s' % os.path.basename(path))
        for line in rep[:40]:
            print('#   ' + line[:200])
    return 1 if mine else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
