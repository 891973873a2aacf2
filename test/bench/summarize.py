#!/usr/bin/python3
"""Summarize the raw results of test/bench/run.sh as Markdown.

usage: summarize.py RESULTS_DIR   (prints to stdout; run.sh writes summary.md)

Reads what exists of machine.txt, callgrind.tsv, funcs.*.tsv,
callgrind_check.txt, netgrind.tsv, conc.tsv, conc_waits.tsv, memory.txt,
shmem.tsv, pgbench.tsv and reader.tsv.  Standard library only.
"""
import collections
import csv
import os
import statistics
import sys

RES = sys.argv[1] if len(sys.argv) > 1 else "."
LABEL = {"vanilla": "vanilla", "txguard": "txguard", "pgss": "pg_stat_statements",
         "txguard_own": "txguard, `log_aborts = off`, `annotate = off` (its own work)",
         "txguard_logall": "txguard, `log_aborts = all` (a line for every aborted block)",
         "vanilla2": "vanilla again"}

# Targets of issue 21
SUCCESS_INSTR = 1.005       # SELECT 1, pgbench -S -M prepared
ABORT_INSTR = 1.18          # the abort-path transaction at the defaults
CONC_FLAT = 0.05            # tps ratio at 128 clients within 5 % of the ratio at 1


def path(name):
    return os.path.join(RES, name)


def exists(name):
    return os.path.exists(path(name))


def read_tsv(name):
    with open(path(name)) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def met(ok):
    return "met" if ok else "**missed**"


def n0(x):
    return f"{x:,.0f}"


def spread(xs, fmt="{:.3f}"):
    xs = sorted(xs)
    if not xs:
        return ""
    med = statistics.median(xs)
    if len(xs) == 1:
        return fmt.format(med)
    return (fmt + " ({}-{})").format(med, fmt.format(xs[0]), fmt.format(xs[-1]))


out = []
p = out.append

p("# txguard benchmark results\n")
if exists("machine.txt"):
    p("```")
    p(open(path("machine.txt")).read().rstrip())
    p("```\n")

# ---------------------------------------------------------------- callgrind
cg = {}
if exists("callgrind.tsv"):
    with open(path("callgrind.tsv")) as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) == 4 and row[3]:
                cg[(row[0], row[1], int(row[2]))] = int(row[3])
verdicts = []
if cg:
    ks = sorted({k for (_, _, k) in cg})
    ksmall, kbig = ks[0], ks[-1]

    def per(v, w):
        a, b = cg.get((v, w, ksmall)), cg.get((v, w, kbig))
        return None if a is None or b is None else (b - a) / (kbig - ksmall)

    p(f"## Instructions, single-user backend (callgrind, (I({kbig}) - I({ksmall})) / {kbig - ksmall})\n")
    p("| workload (one repetition) | variant | instructions | ratio to vanilla | delta |")
    p("|---|---|---:|---:|---:|")
    work = {"select": "`SELECT 1`",
            "abort": "`BEGIN; SELECT 1/0; SELECT 1` (25P02)`; ROLLBACK`"}
    for w in ("select", "abort"):
        base = per("vanilla", w)
        if base is None:
            continue
        for v in ("vanilla", "txguard", "txguard_own", "txguard_logall", "pgss", "vanilla2"):
            x = per(v, w)
            if x is None:
                continue
            p(f"| {work[w]} | {LABEL[v]} | {n0(x)} | {x / base:.4f} | {x - base:+,.0f} |")
    p("")
    sel, ab = per("vanilla", "select"), per("vanilla", "abort")
    if sel and per("txguard", "select"):
        r = per("txguard", "select") / sel
        verdicts.append(("success path <= +0.5 % (`SELECT 1`, single-user)", f"{(r - 1) * 100:+.2f} % ({per('txguard', 'select') - sel:+,.0f})", met(r <= SUCCESS_INSTR)))
    if ab and per("txguard", "abort"):
        r = per("txguard", "abort") / ab
        verdicts.append(("abort path <= +18 % at the defaults", f"{(r - 1) * 100:+.1f} % ({per('txguard', 'abort') - ab:+,.0f})", met(r <= ABORT_INSTR)))
    if ab and per("txguard_own", "abort") and per("pgss", "abort"):
        own = per("txguard_own", "abort") - ab
        pg = per("pgss", "abort") - ab
        verdicts.append(("txguard's own work <= pg_stat_statements' abort-path delta", f"{own:+,.0f} vs {pg:+,.0f}", met(own <= pg)))
    if exists("callgrind_check.txt"):
        p("```")
        p(open(path("callgrind_check.txt")).read().rstrip())
        p("```\n")

# ---------------------------------------------------------------- netgrind
if exists("netgrind.tsv"):
    ng = {}
    with open(path("netgrind.tsv")) as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) >= 4 and row[3]:
                ng[(row[0], row[1], int(row[2]))] = int(row[3])
    if ng:
        ks = sorted({k for (_, _, k) in ng})
        ksmall, kbig = ks[0], ks[-1]

        def nper(v, w):
            a, b = ng.get((v, w, ksmall)), ng.get((v, w, kbig))
            return None if a is None or b is None else (b - a) / (kbig - ksmall)

        p(f"## Instructions, client backends over a Unix socket (postmaster under callgrind, (I({kbig}) - I({ksmall})) / {kbig - ksmall})\n")
        p("| workload (one transaction) | vanilla | txguard | ratio | delta | pg_stat_statements | ratio | delta | vanilla again |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        names = {"select-prepared": "pgbench `-S -M prepared`",
                 "abort": "`BEGIN; SELECT 1/0; SELECT 1; ROLLBACK` (4 round trips)"}
        for w in ("select-prepared", "abort"):
            base = nper("vanilla", w)
            if not base:
                continue
            t, g, v2 = nper("txguard", w), nper("pgss", w), nper("vanilla2", w)
            cells = [n0(base)]
            for x in (t, g):
                cells += [n0(x), f"{x / base:.4f}", f"{x - base:+,.0f}"] if x else ["", "", ""]
            cells.append(f"{v2 / base:.4f}" if v2 else "")
            p(f"| {names[w]} | " + " | ".join(cells) + " |")
            if w == "select-prepared" and t:
                verdicts.append(("success path <= +0.5 % (pgbench `-S -M prepared`, client backend)",
                                 f"{(t / base - 1) * 100:+.2f} % ({t - base:+,.0f})", met(t / base <= SUCCESS_INSTR)))
        p("")

# ---------------------------------------------------------------- functions
for v, w, title in (("txguard", "abort", "abort path, defaults"),
                    ("txguard_own", "abort", "abort path, `log_aborts = off`, `annotate = off`"),
                    ("txguard_logall", "abort", "abort path, `log_aborts = all`"),
                    ("txguard", "select", "success path, `SELECT 1`"),
                    ("txguard", "net-select-prepared", "success path, pgbench `-S -M prepared` (client backend)"),
                    ("txguard", "net-abort", "abort path over the socket, defaults (client backend)")):
    name = f"funcs.{v}.{w}.tsv"
    if not exists(name):
        continue
    rows = read_tsv(name)
    p(f"### txguard's functions per repetition: {title}\n")
    p("Inclusive = the function and all it calls; own = inclusive less the core function a hook "
      "chains to (`standard_*`).  Top 15 by own inclusive.\n")
    p("| function | calls | self | inclusive | own inclusive |")
    p("|---|---:|---:|---:|---:|")
    shown = 0
    for r in rows:
        if r["function"] != "(entry points)" and shown >= 15:
            continue
        if r["function"] != "(entry points)":
            shown += 1
        label = "**all of txguard (entry points)**" if r["function"] == "(entry points)" else f"`{r['function']}`"
        p(f"| {label} | {float(r['calls']):.2f} | {float(r['self']):,.0f} | {float(r['inclusive']):,.0f} | {float(r['own_inclusive']):,.0f} |")
    p("")

# ---------------------------------------------------------------- self cost, minus vanilla
for v, title in (("txguard", "defaults"), ("txguard_own", "`log_aborts = off`, `annotate = off`")):
    name = f"selfdiff.{v}.abort.tsv"
    if not exists(name):
        continue
    rows = read_tsv(name)
    p(f"### Abort path, {title}: the whole process's self cost minus vanilla's, per repetition\n")
    p("The stripped server's static functions are placed under the exported symbol before them.\n")
    p("| where | self |")
    p("|---|---:|")
    for r in rows[:20]:
        p(f"| {r['where']} | {float(r['self']):,.0f} |")
    p("")

# ---------------------------------------------------------------- concurrency
if exists("conc.tsv"):
    rows = read_tsv("conc.tsv")
    by = {(int(r["round"]), int(r["clients"]), r["config"]): r for r in rows}
    clients = sorted({int(r["clients"]) for r in rows})
    rounds = sorted({int(r["round"]) for r in rows})
    waits = collections.Counter()
    if exists("conc_waits.tsv"):
        for r in read_tsv("conc_waits.tsv"):
            waits[(int(r["clients"]), r["config"], r["type"], r["event"])] += int(r["count"])
    active = collections.Counter()
    for r in rows:
        active[(int(r["clients"]), r["config"])] += int(r["active"])

    def ratios(cl, c, field, invert=False):
        xs = []
        for rd in rounds:
            a, b = by.get((rd, cl, c)), by.get((rd, cl, "vanilla"))
            if a and b and float(b[field]) > 0 and float(a[field]) > 0:
                xs.append(float(a[field]) / float(b[field]))
        return xs

    p(f"## Concurrency: every transaction aborting ({len(rounds)} interleaved rounds)\n")
    p("Ratios are per round (config / vanilla of the same round): median (min-max).  "
      "CPU = the driver's backends' CPU time per transaction (schedstat); a CPU ratio above 1 costs more.  "
      "Waits: samples of the driver's active backends (every 10 ms) waiting on the extension's own LWLock, "
      "of all samples of active backends, summed over the rounds.\n")
    p("| clients | vanilla tps (median) | txguard tps ratio | pg_stat_statements tps ratio | vanilla CPU µs/xact (median) | txguard CPU ratio | pg_stat_statements CPU ratio | txguard: samples on LWLock `txguard` | pg_stat_statements: samples on LWLock `pg_stat_statements` |")
    p("|---:|---:|---|---|---:|---|---|---:|---:|")
    med_ratio = {}
    for cl in clients:
        vt = [float(by[(rd, cl, "vanilla")]["tps"]) for rd in rounds if (rd, cl, "vanilla") in by]
        vc = [float(by[(rd, cl, "vanilla")]["cpu_us_per_xact"]) for rd in rounds if (rd, cl, "vanilla") in by]
        tr, gr = ratios(cl, "txguard", "tps"), ratios(cl, "pgss", "tps")
        tc, gc = ratios(cl, "txguard", "cpu_us_per_xact"), ratios(cl, "pgss", "cpu_us_per_xact")
        if tr:
            med_ratio[("txguard", cl)] = statistics.median(tr)
        if gr:
            med_ratio[("pgss", cl)] = statistics.median(gr)
        tw = waits[(cl, "txguard", "LWLock", "txguard")]
        gw = waits[(cl, "pgss", "LWLock", "pg_stat_statements")]
        ta, ga = active[(cl, "txguard")], active[(cl, "pgss")]
        p(f"| {cl} | {n0(statistics.median(vt)) if vt else ''} | {spread(tr)} | {spread(gr)} | "
          f"{statistics.median(vc):.1f} | {spread(tc)} | {spread(gc)} | "
          f"{tw:,} of {ta:,} ({100 * tw / ta if ta else 0:.1f} %) | {gw:,} of {ga:,} ({100 * gw / ga if ga else 0:.1f} %) |")
    p("")
    lo, hi = min(clients), max(clients)
    for c, lab in (("txguard", "txguard"), ("pgss", "pg_stat_statements")):
        if (c, lo) in med_ratio and (c, hi) in med_ratio:
            a, b = med_ratio[(c, lo)], med_ratio[(c, hi)]
            p(f"- {lab}: tps ratio {a:.3f} at {lo} client(s), {b:.3f} at {hi}: {b / a:.3f} of it.")
    p("")
    if ("txguard", lo) in med_ratio and ("txguard", hi) in med_ratio:
        a, b = med_ratio[("txguard", lo)], med_ratio[("txguard", hi)]
        # the rounds' own spread at either end: a verdict finer than that
        # is not one this run can give
        sp = max(max(xs) - min(xs) for xs in (ratios(lo, "txguard", "tps"), ratios(hi, "txguard", "tps")))
        verdict = met(abs(b / a - 1) <= CONC_FLAT)
        if sp > 2 * CONC_FLAT:
            verdict = f"not resolved: the rounds' ratios spread over {sp:.2f}"
        verdicts.append((f"concurrency: tps ratio at {hi} clients within 5 % of the ratio at {lo}",
                         f"{a:.3f} -> {b:.3f} ({(b / a - 1) * 100:+.1f} %)", verdict))
    for cl in (64, 128):
        if cl in clients:
            tw = waits[(cl, "txguard", "LWLock", "txguard")]
            verdicts.append((f"concurrency: no sample waiting on txguard's lock at {cl} clients",
                             f"{tw} of {active[(cl, 'txguard')]:,}", met(tw == 0)))

    p("All wait events sampled (sum over the rounds; CPU = active, no wait event):\n")
    p("| clients | config | wait events (samples) |")
    p("|---:|---|---|")
    for cl in clients:
        for c in ("vanilla", "txguard", "pgss"):
            ev = sorted(((n, t, e) for (k, cc, t, e), n in waits.items() if k == cl and cc == c), reverse=True)
            p(f"| {cl} | {LABEL[c]} | " + ", ".join(f"{t}:{e} {n:,}" if t != "CPU" else f"CPU {n:,}" for n, t, e in ev) + " |")
    p("")
    p("Per run:\n")
    p("| round | clients | config | tps | CPU µs/xact | 25P02 annotated | samples | active samples |")
    p("|---:|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        p(f"| {r['round']} | {r['clients']} | {LABEL[r['config']]} | {float(r['tps']):,.0f} | {float(r['cpu_us_per_xact']):.1f} | "
          f"{int(r['annotated']):,} of {int(r['xacts']):,} | {r['samples']} | {r['active']} |")
    p("")

# ---------------------------------------------------------------- memory
if exists("memory.txt"):
    p("## Backend memory over one long session of aborted transactions\n")
    cfg = None
    tables = collections.OrderedDict()
    extra = []
    for line in open(path("memory.txt")):
        line = line.strip()
        if line.startswith("CONFIG "):
            cfg = line.split()[1]
            tables[cfg] = []
        elif line.startswith("MEM "):
            d = dict(kv.split("=") for kv in line.split()[1:])
            tables[cfg].append(d)
        elif line.startswith("txguard_info") or line.startswith("RESULT"):
            extra.append(f"{cfg}: {line}")
    for cfg, samples in tables.items():
        p(f"{LABEL.get(cfg, cfg)}:\n")
        p("| aborted transactions | memory contexts (bytes) | VmRSS (kB) | RssAnon (kB) | RssShmem (kB) |")
        p("|---:|---:|---:|---:|---:|")
        for d in samples:
            p(f"| {int(d['iterations']):,} | {int(d['context_bytes']):,} | {int(d['vmrss_kb']):,} | {int(d['rss_anon_kb']):,} | {int(d['rss_shmem_kb']):,} |")
        p("")
        if len(samples) > 2 and cfg == "txguard":
            # after the first sample (first use of everything): the memory
            # contexts never above it, and RssAnon flat over the second half
            ctx = [int(d["context_bytes"]) for d in samples[1:]]
            anon = [int(d["rss_anon_kb"]) for d in samples[1:]]
            half = anon[len(anon) // 2:]
            verdicts.append(("memory: nothing per backend grows with the work",
                             f"contexts {min(ctx):,}-{max(ctx):,} bytes (first {ctx[0]:,}), "
                             f"RssAnon {anon[0]:,} -> {anon[-1]:,} kB, {min(half):,}-{max(half):,} kB over the second half",
                             met(max(ctx) <= ctx[0] and max(half) == min(half))))
    if extra:
        p("```")
        p("\n".join(extra))
        p("```\n")

# ---------------------------------------------------------------- shmem
if exists("shmem.tsv"):
    rows = read_tsv("shmem.tsv")
    p("## Shared memory\n")
    p("| setting (others at their defaults) | backend slots | txguard entry of pg_shmem_allocations (bytes) | MiB | change from the defaults | total of pg_shmem_allocations |")
    p("|---|---:|---:|---:|---:|---:|")
    base = next((int(r["txguard_allocated"]) for r in rows if r["case"] == "txguard defaults"), None)
    for r in rows:
        a = int(r["txguard_allocated"])
        ch = f"{a - base:+,}" if base is not None and a and r["case"] not in ("txguard defaults",) else ""
        p(f"| {r['case']} | {r['backend_slots']} | {a:,} | {a / 1048576:.2f} | {ch} | {int(r['total_allocated']):,} |")
    p("")

# ---------------------------------------------------------------- pgbench
if exists("pgbench.tsv"):
    rows = read_tsv("pgbench.tsv")
    p("## Timed: pgbench\n")
    p("| workload | vanilla tps (median) | txguard tps ratio | pg_stat_statements tps ratio |")
    p("|---|---:|---|---|")
    by = {(r["round"], r["workload"], r["config"]): float(r["tps"]) for r in rows}
    for wl in dict.fromkeys(r["workload"] for r in rows):
        rds = sorted({r["round"] for r in rows if r["workload"] == wl})
        v = [by[(rd, wl, "vanilla")] for rd in rds if (rd, wl, "vanilla") in by]
        cells = []
        for c in ("txguard", "pgss"):
            cells.append(spread([by[(rd, wl, c)] / by[(rd, wl, "vanilla")] for rd in rds
                                 if (rd, wl, c) in by and (rd, wl, "vanilla") in by]))
        p(f"| {wl} | {n0(statistics.median(v))} | {cells[0]} | {cells[1]} |")
    p("")

# ---------------------------------------------------------------- reader
if exists("reader.tsv"):
    rows = read_tsv("reader.tsv")
    p("## Reading the history\n")
    p("| history_size | query | rows | seconds | RssAnon before (kB) | peak (kB) | VmHWM after (kB) |")
    p("|---:|---|---:|---:|---:|---:|---:|")
    for r in rows:
        p(f"| {r['history_size']} | {r['query']} | {r['rows']} | {r['seconds']} | {r['rss_anon_before_kb']} | {r['rss_anon_peak_kb']} | {r['vmhwm_after_kb']} |")
    p("")

if verdicts:
    p("## Targets (issue 21)\n")
    p("| target | measured | |")
    p("|---|---|---|")
    for t, m, v in verdicts:
        p(f"| {t} | {m} | {v} |")
    p("")

print("\n".join(out))
