#!/usr/bin/python3
"""Summarize the raw results of test/bench/run.sh as Markdown.

usage: summarize.py RESULTS_DIR   (prints to stdout; run.sh writes summary.md)

Reads what exists of machine.txt, shmem.txt, memory.txt, callgrind.tsv,
txguard.<workload>.<k>.{incl,self}.txt, aborts.tsv and pgbench.tsv.
Standard library only.
"""
import csv
import os
import re
import statistics
import sys

RES = sys.argv[1] if len(sys.argv) > 1 else "."
CONFIGS = ["vanilla", "txguard", "pgss", "both"]
LABEL = {"vanilla": "vanilla", "txguard": "txguard", "pgss": "pg_stat_statements",
         "both": "pg_stat_statements + txguard"}

# Targets (issue 6; instructions per aborted transaction: issue 13)
SUCCESS_TPS = 0.99
SUCCESS_INSTR = 1.005
ABORT_TPS = 0.97
ABORT_INSTR = 1.25          # defaults
ABORT_OWN_INSTR = 1.04      # log_aborts = off, annotate = off: txguard's own work


def path(name):
    return os.path.join(RES, name)


def exists(name):
    return os.path.exists(path(name))


def read_tsv(name):
    with open(path(name)) as f:
        return list(csv.DictReader(f, delimiter="\t"))


def met(ok):
    return "met" if ok else "**MISSED**"


def fmt_int(x):
    return f"{x:,.0f}"


out = []
p = out.append

p("# txguard benchmark results\n")
if exists("machine.txt"):
    p("```")
    p(open(path("machine.txt")).read().rstrip())
    p("```\n")

# ---------------------------------------------------------------- callgrind
callgrind = {}
if exists("callgrind.tsv"):
    with open(path("callgrind.tsv")) as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) == 4 and row[3]:
                callgrind[(row[0], row[1], int(row[2]))] = int(row[3])

if callgrind:
    ks = sorted({k for (_, _, k) in callgrind})
    ksmall, kbig = ks[0], ks[-1]
    units = {"select": ("SELECT 1", 1), "insert": ("INSERT INTO s VALUES (n)", 1),
             "txn": ("BEGIN; UPDATE; SELECT; COMMIT", 4),
             "abort": ("BEGIN; INSERT dup; SELECT 1 (25P02); ROLLBACK", 1)}

    def per_unit(v, w):
        a = callgrind.get((v, w, ksmall))
        b = callgrind.get((v, w, kbig))
        if a is None or b is None:
            return None
        return (b - a) / (kbig - ksmall)

    p("## Instructions (callgrind, single-user backend)\n")
    p(f"`postgres --single` under `valgrind --tool=callgrind`; each workload run with {ksmall} and "
      f"{kbig} repetitions on a fresh copy of the same data directory; cost per repetition = "
      f"(I({kbig}) - I({ksmall})) / {kbig - ksmall}, so start-up and shutdown cancel out. "
      "Deterministic to a few instructions per repetition.\n")
    p("| workload (one repetition) | config | instructions per repetition | per statement | ratio to vanilla | delta per repetition | target | |")
    p("|---|---|---:|---:|---:|---:|---|---|")
    variants = ["vanilla", "txguard", "pgss", "both", "txguard_nolog", "txguard_noannot",
                "txguard_nolog_noannot", "txguard_disabled", "vanilla2"]
    for w in ["select", "insert", "txn", "abort"]:
        base = per_unit("vanilla", w)
        if base is None:
            continue
        for v in variants:
            u = per_unit(v, w)
            if u is None:
                continue
            ratio = u / base
            target = ""
            verdict = ""
            if v == "txguard" or (v == "txguard_nolog_noannot" and w == "abort"):
                if w != "abort":
                    lim = SUCCESS_INSTR
                elif v == "txguard":
                    lim = ABORT_INSTR
                else:
                    lim = ABORT_OWN_INSTR
                target = f"<= +{(lim - 1) * 100:.1f} %"
                verdict = met(ratio <= lim)
            label = LABEL.get(v, v)
            p(f"| {units[w][0]} | {label} | {fmt_int(u)} | {fmt_int(u / units[w][1])} | "
              f"{ratio:.4f} | {u - base:+,.0f} | {target} | {verdict} |")
    p("")
    p("Variants: txguard_nolog = `txguard.log_aborts = off`; txguard_noannot = `txguard.annotate = off`; "
      "txguard_disabled = `txguard.enabled = off` (hooks installed, nothing captured); "
      "vanilla2 = vanilla run again (the noise floor of the method).\n")

    # where txguard's instructions go in the abort run
    def parse_annotate(name):
        res = {}
        if not exists(name):
            return res
        for line in open(path(name)):
            m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*)$", line)
            if not m or "txguard.so" not in m.group(2):
                continue
            fn = m.group(2)
            fn = re.sub(r"\s*\[.*\]\s*$", "", fn)
            fn = fn.split(":")[-1]
            res[fn] = res.get(fn, 0) + int(m.group(1).replace(",", ""))
        return res

    for w in ["abort", "select", "txn"]:
        incl_s = parse_annotate(f"txguard.{w}.{ksmall}.incl.txt")
        incl_b = parse_annotate(f"txguard.{w}.{kbig}.incl.txt")
        self_s = parse_annotate(f"txguard.{w}.{ksmall}.self.txt")
        self_b = parse_annotate(f"txguard.{w}.{kbig}.self.txt")
        if not incl_b:
            continue
        n = kbig - ksmall
        p(f"### txguard functions in the `{w}` run, per repetition\n")
        p("Inclusive cost includes callees (for the executor/utility hooks that is the whole "
          "statement they wrap, so read their self cost).\n")
        p("| function | inclusive | self |")
        p("|---|---:|---:|")
        rows = []
        for fn in set(incl_b) | set(self_b):
            inc = (incl_b.get(fn, 0) - incl_s.get(fn, 0)) / n
            slf = (self_b.get(fn, 0) - self_s.get(fn, 0)) / n
            rows.append((inc, slf, fn))
        rows.sort(reverse=True)
        total_self = sum(r[1] for r in rows)
        for inc, slf, fn in rows:
            if inc < 0.5 and slf < 0.5:
                continue
            p(f"| {fn} | {inc:,.0f} | {slf:,.0f} |")
        p(f"| **all txguard.so code (self)** | | **{total_self:,.0f}** |")
        p("")

    if exists("callgrind_singleuser_check.txt"):
        p("Single-user mode check (txguard run, abort workload):\n")
        p("```")
        p(open(path("callgrind_singleuser_check.txt")).read().rstrip())
        p("```\n")

# ---------------------------------------------------------------- netgrind
netgrind = {}
if exists("netgrind.tsv"):
    with open(path("netgrind.tsv")) as f:
        for row in csv.reader(f, delimiter="\t"):
            if len(row) >= 4 and row[3]:
                netgrind[(row[0], row[1], int(row[2]))] = int(row[3])

if netgrind:
    ks = sorted({k for (_, _, k) in netgrind})
    nsmall, nbig = ks[0], ks[-1]
    nunits = {"abort": "BEGIN; INSERT dup; SELECT 1 (25P02); ROLLBACK (simple protocol, 4 round trips)",
              "select-simple": "pgbench -S, simple protocol",
              "select-prepared": "pgbench -S, prepared",
              "tpcb-simple": "pgbench tpcb-like (7 statements), simple protocol",
              "tpcb-prepared": "pgbench tpcb-like (7 statements), prepared"}

    def nper(v, w):
        a = netgrind.get((v, w, nsmall))
        b = netgrind.get((v, w, nbig))
        if a is None or b is None:
            return None
        return (b - a) / (nbig - nsmall)

    p("## Instructions per transaction of a client backend (callgrind, over a Unix socket)\n")
    p(f"The postmaster runs under `valgrind --tool=callgrind --trace-children=yes`; each workload runs "
      f"once with {nsmall} and once with {nbig} transactions on one connection (pgbench `-c 1 -t N "
      f"--random-seed=1`, or abort_driver `-n N`); the difference of the instructions of the backends "
      f"of the two runs, divided by {nbig - nsmall}, is one transaction, protocol handling included.\n")
    p("| workload | vanilla | txguard | ratio | delta | pg_stat_statements | ratio | both | ratio | vanilla again (noise) | txguard target | txguard <= pg_stat_statements |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for w in ["select-simple", "select-prepared", "tpcb-simple", "tpcb-prepared", "abort"]:
        base = nper("vanilla", w)
        if base is None:
            continue
        vals = {c: nper(c, w) for c in CONFIGS}
        t = vals.get("txguard")
        if t is None:
            continue
        s_ = vals.get("pgss")
        lim = ABORT_INSTR if w == "abort" else SUCCESS_INSTR
        cells = []
        for c in ["txguard", "pgss", "both"]:
            v = vals.get(c)
            cells.append(f"{fmt_int(v)} | {v / base:.4f}" if v is not None else " | ")
        v2 = nper("vanilla2", w)
        noise = f"{v2 / base:.4f}" if v2 is not None else ""
        p(f"| {nunits[w]} | {fmt_int(base)} | {cells[0]} | {t - base:+,.0f} | {cells[1]} | {cells[2]} | {noise} | "
          f"<= +{(lim - 1) * 100:.1f} %: {met(t / base <= lim)} | "
          f"{met(s_ is None or t <= s_)} |")
    p("")

# ---------------------------------------------------------------- aborts
if exists("aborts.tsv"):
    rows = read_tsv("aborts.tsv")
    p("## Abort-heavy throughput (abort_driver)\n")
    p("One connection over the Unix socket, each iteration `BEGIN` / `INSERT` duplicate (23505) / "
      "`SELECT 1` (25P02) / `ROLLBACK`, four round trips, simple protocol; txguard at its defaults "
      "(annotate = detail, log_aborts = on, history and statistics on), server log written to a file "
      "on /tmp. Rounds interleaved vanilla, txguard, pg_stat_statements, both (the order rotated by one "
      "each round); a CHECKPOINT after each run.\n")
    by = {}
    for r in rows:
        by.setdefault(r["config"], []).append(r)
    base = by.get("vanilla")
    if base:
        base_us = statistics.median(float(r["per_iter_us"]) for r in base)
        base_rounds = {r["round"]: float(r["per_iter_us"]) for r in base}
        has_cpu = all(r.get("backend_cpu_us") not in (None, "", "-1.00") for r in rows)
        base_cpu = statistics.median(float(r["backend_cpu_us"]) for r in base) if has_cpu else None
        p("| config | rounds | aborted xacts/s min / median / max | wall µs per iteration (median) | tps ratio (medians) | paired tps ratio per round median (min-max) | extra wall µs per aborted xact | backend CPU µs per iteration min / median / max | CPU ratio to vanilla (vanilla/config) | extra backend CPU µs per aborted xact | 25P02 annotated | target (>= 0.97) |")
        p("|---|---:|---|---:|---:|---|---:|---|---:|---:|---:|---|")
        pgss_ratio = None
        results = {}
        for c in CONFIGS:
            rs = by.get(c)
            if not rs:
                continue
            tps = sorted(float(r["tps"]) for r in rs)
            us = statistics.median(float(r["per_iter_us"]) for r in rs)
            ratio = base_us / us
            paired = sorted(base_rounds[r["round"]] / float(r["per_iter_us"]) for r in rs
                            if r["round"] in base_rounds)
            ann = statistics.median(int(r["annotated"]) for r in rs)
            cpu_cells = " | | "
            cpu_ratio = None
            if has_cpu:
                cpu = sorted(float(r["backend_cpu_us"]) for r in rs)
                cm = statistics.median(cpu)
                cpu_ratio = base_cpu / cm
                cpu_cells = (f"{cpu[0]:.1f} / {cm:.1f} / {cpu[-1]:.1f} | {cpu_ratio:.3f} | "
                             f"{cm - base_cpu:+.1f}")
            results[c] = (ratio, cpu_ratio)
            target = ""
            if c == "txguard":
                target = f"tps: {met(ratio >= ABORT_TPS)}"
                if cpu_ratio is not None:
                    target += f"; CPU: {met(cpu_ratio >= ABORT_TPS)}"
            p(f"| {LABEL[c]} | {len(rs)} | {tps[0]:,.0f} / {statistics.median(tps):,.0f} / {tps[-1]:,.0f} | "
              f"{us:.1f} | {ratio:.3f} | {statistics.median(paired):.3f} ({paired[0]:.3f}-{paired[-1]:.3f}) | "
              f"{us - base_us:+.1f} | {cpu_cells} | {ann:.0f} of {rs[0]['iterations']} | {target} |")
        if "txguard" in results and "pgss" in results:
            (tr, tc), (sr, sc) = results["txguard"], results["pgss"]
            line = (f"\ntxguard tps ratio {tr:.3f} vs pg_stat_statements {sr:.3f}: "
                    f"{met(tr >= sr)}")
            if tc is not None and sc is not None:
                line += f"; CPU ratio {tc:.3f} vs {sc:.3f}: {met(tc >= sc)}"
            p(line + " (never worse than pg_stat_statements).\n")
    if exists("aborts_logsize.txt"):
        p("Server log sizes after the runs (all rounds, including pgbench if it ran first):\n")
        p("```")
        p(open(path("aborts_logsize.txt")).read().rstrip())
        p("```\n")

# ---------------------------------------------------------------- pgbench
if exists("pgbench.tsv"):
    rows = read_tsv("pgbench.tsv")
    p("## pgbench (success path)\n")
    p("Four clusters with the same data and settings (scale as configured, shared_buffers = 256MB, "
      "fsync = off, autovacuum = off), differing only in shared_preload_libraries; Unix socket; "
      "runs interleaved vanilla, txguard, pg_stat_statements, both (the order rotated by one each round), "
      "workload by workload, round by round, pgbench's vacuum done before and a CHECKPOINT after each run, "
      "outside the measurement. "
      "`paired` = median over rounds of (config tps / vanilla tps of the same round and workload), "
      "with its min-max: the noise.\n")
    workloads = []
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
    data = {}
    for r in rows:
        if r["tps"]:
            data.setdefault((r["workload"], r["config"]), {})[r["round"]] = float(r["tps"])

    p("### Ratios to vanilla (median tps / vanilla median tps)\n")
    p("| workload | vanilla tps (median) | txguard | pg_stat_statements | both | txguard >= 0.99 | txguard >= pg_stat_statements |")
    p("|---|---:|---:|---:|---:|---|---|")
    allratios = {c: [] for c in CONFIGS}
    for w in workloads:
        base = data.get((w, "vanilla"))
        if not base:
            continue
        bm = statistics.median(base.values())
        ratios = {}
        for c in CONFIGS:
            d = data.get((w, c))
            if d:
                ratios[c] = statistics.median(d.values()) / bm
                allratios[c].append(ratios[c])
        t = ratios.get("txguard")
        s = ratios.get("pgss")
        if t is None or s is None:
            continue
        p(f"| {w} | {bm:,.0f} | {t:.3f} | {s:.3f} | {ratios.get('both', float('nan')):.3f} | "
          f"{met(t >= SUCCESS_TPS)} | {met(t >= s)} |")
    if allratios["txguard"]:
        gm = {c: statistics.geometric_mean(v) for c, v in allratios.items() if v}
        p(f"| **geometric mean** | | **{gm['txguard']:.3f}** | **{gm.get('pgss', float('nan')):.3f}** | "
          f"**{gm.get('both', float('nan')):.3f}** | {met(gm['txguard'] >= SUCCESS_TPS)} | "
          f"{met(gm['txguard'] >= gm.get('pgss', 0))} |")
    p("")

    cpu = {}
    for r in rows:
        if r.get("server_cpu_us_per_xact"):
            cpu.setdefault((r["workload"], r["config"]), {})[r["round"]] = float(r["server_cpu_us_per_xact"])
    if cpu:
        p("### Server CPU per transaction (backends' CPU time from the postmaster's cutime + cstime / transactions)\n")
        p("Less sensitive than tps to other load on the machine: time spent waiting for a CPU is not counted. "
          "Ratio = vanilla CPU / config CPU (so, like tps, below 1 means slower); 10 ms clock ticks.\n")
        p("| workload | vanilla µs/xact (min / median / max) | txguard µs/xact (min / median / max) | txguard ratio | pg_stat_statements ratio | both ratio | txguard >= 0.99 | txguard >= pg_stat_statements |")
        p("|---|---|---|---:|---:|---:|---|---|")
        cratios = {c: [] for c in CONFIGS}
        for w in workloads:
            b = cpu.get((w, "vanilla"))
            if not b:
                continue
            bm = statistics.median(b.values())
            rr = {}
            for c in CONFIGS:
                d = cpu.get((w, c))
                if d:
                    rr[c] = bm / statistics.median(d.values())
                    cratios[c].append(rr[c])
            bv = sorted(b.values())
            tv = sorted(cpu.get((w, "txguard"), {0: float("nan")}).values())
            p(f"| {w} | {bv[0]:.1f} / {bm:.1f} / {bv[-1]:.1f} | {tv[0]:.1f} / {statistics.median(tv):.1f} / {tv[-1]:.1f} | "
              f"{rr.get('txguard', float('nan')):.3f} | {rr.get('pgss', float('nan')):.3f} | {rr.get('both', float('nan')):.3f} | "
              f"{met(rr.get('txguard', 0) >= SUCCESS_TPS)} | {met(rr.get('txguard', 0) >= rr.get('pgss', 0))} |")
        if cratios["txguard"]:
            gm = {c: statistics.geometric_mean(v) for c, v in cratios.items() if v}
            p(f"| **geometric mean** | | | **{gm['txguard']:.3f}** | **{gm.get('pgss', float('nan')):.3f}** | "
              f"**{gm.get('both', float('nan')):.3f}** | {met(gm['txguard'] >= SUCCESS_TPS)} | "
              f"{met(gm['txguard'] >= gm.get('pgss', 0))} |")
        p("")

    p("### tps per configuration: min / median / max over rounds\n")
    p("| workload | config | rounds | min | median | max | ratio of medians | paired ratio median (min-max) |")
    p("|---|---|---:|---:|---:|---:|---:|---|")
    for w in workloads:
        base = data.get((w, "vanilla"), {})
        bm = statistics.median(base.values()) if base else None
        for c in CONFIGS:
            d = data.get((w, c))
            if not d:
                continue
            v = sorted(d.values())
            med = statistics.median(v)
            paired = sorted(d[r] / base[r] for r in d if r in base)
            pr = (f"{statistics.median(paired):.3f} ({paired[0]:.3f}-{paired[-1]:.3f})"
                  if paired and c != "vanilla" else "")
            p(f"| {w} | {LABEL[c]} | {len(v)} | {v[0]:,.0f} | {med:,.0f} | {v[-1]:,.0f} | "
              f"{med / bm:.3f} | {pr} |")
    p("")

# ---------------------------------------------------------------- memory
if exists("shmem.txt"):
    p("## Shared memory (default settings)\n")
    p("```")
    p(open(path("shmem.txt")).read().rstrip())
    p("```\n")

if exists("memory.txt"):
    p("## Backend memory over aborted transactions (one session)\n")
    p("abort_driver `-s`: from inside the session, `SELECT sum(total_bytes) FROM pg_backend_memory_contexts`; "
      "from /proc/PID/status of the backend, VmRSS = RssAnon (private memory: where a leak would show) + "
      "RssFile + RssShmem (shared memory pages this backend has touched so far: shared buffers, WAL buffers, "
      "txguard's ring).\n")
    series = {}
    cfg = "txguard"
    extra = []
    for line in open(path("memory.txt")):
        if line.startswith("CONFIG "):
            cfg = line.split()[1]
            continue
        m = re.match(r"MEM iterations=(\d+) context_bytes=(\d+) vmrss_kb=(-?\d+)"
                     r"(?: rss_anon_kb=(-?\d+) rss_shmem_kb=(-?\d+))?", line)
        if m:
            series.setdefault(cfg, []).append(tuple(int(x) if x is not None else -1 for x in m.groups()))
        elif line.startswith("RESULT") or line.startswith("txguard_info"):
            extra.append(f"{cfg}: `{line.strip()}`")
    for cfg, rows in series.items():
        p(f"**{cfg}**\n")
        p("| aborted transactions | memory contexts (bytes) | VmRSS (kB) | RssAnon (kB) | RssShmem (kB) |")
        p("|---:|---:|---:|---:|---:|")
        for it, ctx, rss, anon, shm in rows:
            p(f"| {it:,} | {ctx:,} | {rss:,} | {anon:,} | {shm:,} |")
        p("")
        if len(rows) > 2:
            later = rows[1:]
            ctxs = [r[1] for r in later]
            anons = [r[3] for r in later]
            p(f"From the first sample after start on: memory contexts {min(ctxs):,}-{max(ctxs):,} bytes "
              f"(spread {max(ctxs) - min(ctxs):,}); RssAnon {min(anons):,}-{max(anons):,} kB "
              f"(spread {max(anons) - min(anons):,} kB); RssShmem grew {later[-1][4] - later[0][4]:,} kB.\n")
    for e in extra:
        p(e + "  ")
    p("")

if exists("reader.tsv"):
    p("## Reading the history\n")
    p("A cluster per `txguard.history_size`, its ring filled by abort_driver; then, in one new session, "
      "each query once (test/bench/reader.py): its wall time, the reading backend's private memory "
      "(RssAnon) before and at its peak while the query ran, and VmHWM (peak RSS, shared pages the "
      "backend touched included).\n")
    names = {"1": "`SELECT count(*) FROM txguard_aborts`",
             "2": "`SELECT count(*) FROM txguard_abort_history(1)` (a pid with no rows)",
             "3": "`SELECT count(*) FROM txguard_aborts WHERE statement LIKE '%bench%'`"}
    p("| history_size | query | rows | seconds | RssAnon before (kB) | RssAnon peak (kB) | growth (kB) | VmHWM after (kB) |")
    p("|---:|---|---:|---:|---:|---:|---:|---:|")
    for r in read_tsv("reader.tsv"):
        growth = int(r["rss_anon_peak_kb"]) - int(r["rss_anon_before_kb"])
        p(f"| {int(r['history_size']):,} | {names.get(r['query'], r['query'])} | {int(r['rows']):,} | "
          f"{r['seconds']} | {int(r['rss_anon_before_kb']):,} | {int(r['rss_anon_peak_kb']):,} | "
          f"{growth:+,} | {int(r['vmhwm_after_kb']):,} |")
    p("")

print("\n".join(out))
