#!/usr/bin/python3
"""Instructions of txguard's functions per repetition, from two callgrind profiles.

usage: cgfuncs.py SMALL.out BIG.out REPETITIONS [OBJECT_SUBSTRING]

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
sorted by own_inclusive.  Standard library only.
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


def main():
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
