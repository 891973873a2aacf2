#!/usr/bin/python3
"""Instructions of txguard's functions per repetition, from two callgrind profiles.

usage: cgfuncs.py SMALL.out BIG.out REPETITIONS [OBJECT_SUBSTRING]
       cgfuncs.py --self-diff BASE_SMALL.out BASE_BIG.out SMALL.out BIG.out REPETITIONS POSTGRES
       cgfuncs.py --most-calls FUNCTION FILE...

SMALL.out and BIG.out are callgrind profiles of the same workload run
with fewer and more repetitions (test/bench/run.sh callgrind); each
number printed is (BIG - SMALL) / REPETITIONS, the cost of one repetition.
For every function of the object whose path contains OBJECT_SUBSTRING
(default "txguard.so") it prints a TSV row:

  function  calls  self  inclusive  own_inclusive

inclusive counts the function and everything it calls; own_inclusive
leaves out the calls into the core functions a hook chains to
(standard_ExecutorRun, standard_ExecutorEnd, standard_ProcessUtility...),
i.e. the statement's own work that runs inside the hook.  A first row
"(entry points)" sums, over the calls from outside the object into it, the
inclusive cost less the chained core work: txguard's total.  Rows are
sorted by own_inclusive.  With --self-diff it prints instead the self
cost per repetition of a run minus a baseline run (vanilla), grouped by
where it is spent (see self_diff).  Standard library and nm only.
"""
import collections
import re
import sys

CHAINED = re.compile(r"^standard_")


def parse(fname):
    """Return (self, incl_calls, calls, obj_of) for a callgrind out file.

    self[f]: exclusive Ir of f; calls[(f, g)] = [count, inclusive Ir];
    obj_of[f]: object of f.
    """
    names = {"ob": {}, "fl": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
               "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}
    selfc = collections.Counter()
    calls = collections.defaultdict(lambda: [0, 0])
    obj_of = {}
    cur_ob = cur_fn = None
    call_target = None          # (callee, count) waiting for its cost line
    cob = None
    pending_cfn = None
    ir_index = 0
    with open(fname, errors="replace") as f:
        for line in f:
            if not line or line == "\n":
                continue
            c0 = line[0]
            if c0.isdigit() or c0 in "+-*":
                fields = line.split()
                ir = int(fields[1 + ir_index]) if len(fields) > 1 + ir_index else 0
                if call_target is not None:
                    callee, count = call_target
                    e = calls[(cur_fn, callee)]
                    e[0] += count
                    e[1] += ir
                    call_target = None
                else:
                    selfc[cur_fn] += ir
                continue
            if line.startswith("events:"):
                ev = line.split()[1:]
                ir_index = ev.index("Ir") if "Ir" in ev else 0
                continue
            m = re.match(r"^(ob|cob|fl|fi|fe|cfi|cfl|fn|cfn)=(?:\((\d+)\))?\s*(.*)$", line.rstrip("\n"))
            if m:
                key, num, name = m.group(1), m.group(2), m.group(3)
                table = names[kind_of[key]]
                if num is not None:
                    if name:
                        table[num] = name
                    name = table.get(num, "?")
                if key == "ob":
                    cur_ob = name
                elif key == "cob":
                    cob = name
                elif key == "fn":
                    cur_fn = name
                    obj_of.setdefault(name, cur_ob)
                    cob = None
                elif key == "cfn":
                    obj_of.setdefault(name, cob if cob is not None else cur_ob)
                    pending_cfn = name
                continue
            if line.startswith("calls="):
                count = int(line.split("=", 1)[1].split()[0])
                call_target = (pending_cfn, count)
                cob = None
                continue
    return selfc, calls, obj_of


def summarize(fname, objsub):
    selfc, calls, obj_of = parse(fname)
    mine = {f for f, o in obj_of.items() if o and objsub in o}
    rows = {}
    for f in mine:
        incl = selfc[f]
        chained = 0
        ncalls = 0
        for (a, b), (cnt, ir) in calls.items():
            if a == f and b != f:
                incl += ir
                if CHAINED.match(b or ""):
                    chained += ir
            if b == f and a != f:
                ncalls += cnt
        rows[f] = (ncalls, selfc[f], incl, incl - chained)
    # entry points: calls from outside into the object
    entry = 0
    entry_calls = 0
    for (a, b), (cnt, ir) in calls.items():
        if b in mine and a not in mine:
            entry += ir
            entry_calls += cnt
    chained_total = sum(ir for (a, b), (cnt, ir) in calls.items()
                        if a in mine and CHAINED.match(b or ""))
    rows["(entry points)"] = (entry_calls, sum(selfc[f] for f in mine), entry, entry - chained_total)
    return rows


def nearest_symbols(binary):
    """Exported symbols of binary (nm -D), sorted by address."""
    import subprocess
    syms = []
    try:
        out = subprocess.run(["nm", "-D", "--defined-only", binary], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    for line in out.splitlines():
        p = line.split()
        if len(p) == 3:
            syms.append((int(p[0], 16), p[2]))
    return sorted(syms)


def self_diff(argv):
    """--self-diff BASE_SMALL BASE_BIG SMALL BIG REPETITIONS POSTGRES_BINARY

    Self cost per repetition of every function, (SMALL, BIG) minus
    (BASE_SMALL, BASE_BIG), grouped: txguard.so's functions together, the
    stripped server's static functions (shown by callgrind as addresses)
    under the exported symbol that precedes them, the rest by name.
    """
    import bisect
    bs, bb, s_, b_, reps, binary = argv[0], argv[1], argv[2], argv[3], int(argv[4]), argv[5]
    syms = nearest_symbols(binary)
    addrs = [a for a, _ in syms]

    def per(a, b):
        pa, pb = parse(a), parse(b)
        return {f: (pb[0][f] - pa[0][f]) / reps for f in set(pa[0]) | set(pb[0])}, pb[2]

    base, _ = per(bs, bb)
    mine, obj = per(s_, b_)
    groups = collections.Counter()
    for f in set(base) | set(mine):
        x = mine.get(f, 0) - base.get(f, 0)
        m = re.match(r"0x([0-9a-f]+)", f or "")
        if "txguard.so" in (obj.get(f) or ""):
            g = "txguard.so (all its functions' self cost)"
        elif m and addrs:
            i = bisect.bisect_right(addrs, int(m.group(1), 16)) - 1
            g = "static functions after %s" % (syms[i][1] if i >= 0 else "?")
        else:
            g = f
        groups[g] += x
    print("where\tself")
    print("(total)\t%.1f" % sum(groups.values()))
    for g, x in sorted(groups.items(), key=lambda kv: -abs(kv[1])):
        if abs(x) >= 0.5:
            print("%s\t%.1f" % (g, x))


def most_calls(func, files):
    """--most-calls FUNC FILE...: print the file whose process called FUNC most
    (the backend that ran a workload, among the profiles of a run)."""
    best, best_n = None, -1
    for fname in files:
        _, calls, _ = parse(fname)
        n = sum(cnt for (a, b), (cnt, ir) in calls.items() if b == func and a != func)
        if n > best_n:
            best, best_n = fname, n
    if best:
        print(best)


def main():
    if sys.argv[1] == "--most-calls":
        most_calls(sys.argv[2], sys.argv[3:])
        return
    if sys.argv[1] == "--self-diff":
        self_diff(sys.argv[2:])
        return
    small, big, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
    objsub = sys.argv[4] if len(sys.argv) > 4 else "txguard.so"
    a = summarize(small, objsub)
    b = summarize(big, objsub)
    out = []
    for f in set(a) | set(b):
        va = a.get(f, (0, 0, 0, 0))
        vb = b.get(f, (0, 0, 0, 0))
        d = [(y - x) / reps for x, y in zip(va, vb)]
        out.append((f, d))
    out.sort(key=lambda r: (r[0] != "(entry points)", -r[1][3], r[0]))
    print("function\tcalls\tself\tinclusive\town_inclusive")
    for f, d in out:
        if f != "(entry points)" and all(abs(x) < 0.5 for x in d):
            continue
        print("%s\t%.2f\t%.1f\t%.1f\t%.1f" % (f, d[0], d[1], d[2], d[3]))


if __name__ == "__main__":
    main()
