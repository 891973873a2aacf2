#!/usr/bin/python3
"""Checks of monitoring/txguard-alerts.yml beyond "promtool test rules".  Used by run.sh.

  rules_check.py count RULES
      prints the number of rules (recording + alerting) in RULES

  rules_check.py discriminate RULES TESTS PROMTOOL
      each alert of RULES has, in TESTS, a case where it must fire and one where it must not;
      and the tests notice when it is broken either way: with its expression replaced by one
      that never fires ("vector(0) > 1"), a firing case fails; with one that always fires
      ("vector(1)", no "for"), a case that expects no alert fails

  rules_check.py live SCRAPE_A SCRAPE_B RULES PROMTOOL WORKDIR DB ERRORS XACTS COND=N/MIN ...
      replays two real scrapes of postgres_exporter (before and after a known workload in
      database DB) as a steady state (each counter grows by its B - A every minute, gauges
      keep B) and evaluates the rules on them with promtool: the error-abort ratio of DB is
      ERRORS / XACTS, each listed condition aborts N a minute, and the alerts that fire at
      15m are exactly TxguardHighErrorAbortRate for DB and TxguardAbortCauseSurge for each
      listed condition of DB (new causes above one a minute).  Every metric the rules read must
      be in the scrape, with the labels the rules join on (but txguard_worker_* and
      txguard_statement_pgss_*: run.sh's insight-live checks those).

Output: "  ok: ..." / "  FAIL: ..." lines; exit status 1 if a check failed.
"""
import concurrent.futures
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from checks import fail, finish, ok


def rules_of(path):
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return doc, [r for g in doc["groups"] for r in g["rules"]]


def promtool_test(promtool, rules_doc, tests_doc, workdir):
    """run promtool test rules with rules_doc as txguard-alerts.yml and tests_doc next to it"""
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, "txguard-alerts.yml"), "w", encoding="utf-8") as f:
        yaml.safe_dump(rules_doc, f, sort_keys=False)
    dst = os.path.join(workdir, "txguard-alerts.test.yml")
    with open(dst, "w", encoding="utf-8") as f:
        yaml.safe_dump(tests_doc, f, sort_keys=False)
    p = subprocess.run([promtool, "test", "rules", dst], capture_output=True, text=True, cwd=workdir)
    return p.returncode, p.stdout + p.stderr


def failures(out):
    """(alertname, expected no alert, got no alert) for each failing alert case of promtool"""
    res = []
    for block in re.split(r"\n\s*(?=alertname: )", out):
        m = re.match(r"alertname: (\S+), time: ", block.strip())
        if m:
            res.append((m.group(1), bool(re.search(r"exp:\[\],", block)),
                        bool(re.search(r"got:\[\]", block))))
    return res


def cmd_count(rules):
    _, rl = rules_of(rules)
    print(len(rl))


def cmd_discriminate(rules, tests, promtool):
    doc, rl = rules_of(rules)
    alerts = [r["alert"] for r in rl if "alert" in r]
    with open(tests, encoding="utf-8") as f:
        tdoc = yaml.safe_load(f)
    cases = [c for t in tdoc["tests"] for c in t.get("alert_rule_test", [])]
    for a in alerts:
        fire = sum(1 for c in cases if c["alertname"] == a and c.get("exp_alerts"))
        quiet = sum(1 for c in cases if c["alertname"] == a and not c.get("exp_alerts"))
        if fire and quiet:
            ok("%s: %d case(s) where it fires, %d where it must not" % (a, fire, quiet))
        else:
            fail("%s: %d case(s) where it fires, %d where it must not (need both)" % (a, fire, quiet))
    unknown = sorted({c["alertname"] for c in cases} - set(alerts))
    if unknown:
        fail("test cases for alerts that do not exist", unknown)

    tmp = tempfile.mkdtemp(prefix="txguard-rules.")
    jobs = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            for a in alerts:
                for kind in ("never", "always"):
                    d = copy.deepcopy(doc)
                    for g in d["groups"]:
                        for r in g["rules"]:
                            if r.get("alert") == a:
                                if kind == "never":
                                    r["expr"] = "vector(0) > 1"
                                else:
                                    r["expr"] = "vector(1)"
                                    r.pop("for", None)
                    # only the test groups with cases for this alert (the others are slow and
                    # cannot notice anyway)
                    t = dict(tdoc, tests=[g for g in tdoc["tests"]
                                          if any(c["alertname"] == a for c in g.get("alert_rule_test", []))])
                    jobs[(a, kind)] = ex.submit(promtool_test, promtool, d, t,
                                                os.path.join(tmp, "%s-%s" % (a, kind)))
        for (a, kind), fut in sorted(jobs.items()):
            rc, out = fut.result()
            fl = [f for f in failures(out) if f[0] == a]
            if kind == "never":
                hit = [f for f in fl if not f[1] and f[2]]
                what = "never fires: a case expecting it failed"
            else:
                hit = [f for f in fl if f[1] and not f[2]]
                what = "always fires: a case expecting no alert failed"
            other = sorted({f[0] for f in failures(out)} - {a})
            if rc != 0 and hit and not other:
                ok("%s broken to %s (%d case(s))" % (a, what, len(hit)))
            else:
                fail("%s broken so that it %s: the tests did not notice (exit %d, other alerts %s)"
                     % (a, kind == "never" and "never fires" or "always fires", rc, other), out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


# ---------------------------------------------------------------- live
SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def parse_scrape(path):
    types, samples = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# TYPE "):
                _, _, name, typ = line.split(" ", 3)
                types[name] = typ
            elif line and not line.startswith("#"):
                m = SAMPLE_RE.match(line)
                if m:
                    samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return types, samples


def labels_of(series):
    i = series.find("{")
    return dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', series[i:])) if i >= 0 else {}


def fmt_labels(d):
    return "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(d.items())) + "}"


def num(v):
    return repr(int(v)) if v == int(v) else repr(v)


def cmd_live(a_path, b_path, rules, promtool, workdir, db, errors, xacts, conds):
    errors, xacts = int(errors), int(xacts)
    conds = dict((c.split("=")[0], int(c.split("=")[1])) for c in conds)
    _, rl = rules_of(rules)
    used = sorted({m for r in rl for m in re.findall(
        r"\b(txguard_[a-z_]+|pg_stat_database_xact_(?:commit|rollback))\b", r["expr"])})
    types_a, a = parse_scrape(a_path)
    types_b, b = parse_scrape(b_path)
    # series that exist only while a background worker's failure is in the history, or with the
    # optional pg_stat_statements queries: run.sh's insight-live checks them in Prometheus
    elsewhere = [m for m in used if re.match(r"txguard_(worker|statement_pgss)_", m)]
    missing = [m for m in used if m not in types_b and m not in elsewhere]
    if missing:
        fail("metrics the rules read but the exporter does not export", missing)
    else:
        ok("every metric the rules read is exported: %s (%s: checked by insight-live)"
           % (", ".join(m for m in used if m not in elsewhere), ", ".join(elsewhere)))

    series = []
    for s, vb in sorted(b.items()):
        name = s.split("{")[0]
        if name not in used:
            continue
        if types_b.get(name) == "counter":
            va = a.get(s, 0.0)      # a series born after scrape A: it started at 0 with the workload
            series.append({"series": s, "values": "%s+%sx20" % (num(va), num(vb - va))})
        else:
            series.append({"series": s, "values": "%sx20" % num(vb)})
    server = None
    for s in b:
        if s.startswith("txguard_database_error_aborts_total{") and labels_of(s).get("datname") == db:
            server = labels_of(s).get("server")
    if server is None:
        fail("no txguard_database_error_aborts_total series for database %s in the scrape" % db)
        finish()

    ratio_labels = {"__name__": "txguard:error_abort_ratio:rate5m", "datname": db, "server": server}
    firing = [{"labels": 'ALERTS' + fmt_labels({"alertname": "TxguardHighErrorAbortRate", "alertstate": "firing",
                                                "datname": db, "server": server, "severity": "warning"}),
               "value": 1}]
    cond_tests = []
    for s in b:
        if not s.startswith("txguard_condition_aborts_total{"):
            continue
        lb = labels_of(s)
        if lb.get("datname") != db:
            continue
        c = lb["condition"]
        if c not in conds:
            fail("condition %s in database %s: not made by the test" % (c, db))
            continue
        cond_tests.append({"expr": 'round(60 * txguard:condition_aborts:rate5m{datname="%s",condition="%s"})' % (db, c),
                           "eval_time": "15m",
                           "exp_samples": [{"labels": fmt_labels(lb), "value": conds[c]}]})
        if conds[c] > 1:
            fl = dict(lb, alertname="TxguardAbortCauseSurge", alertstate="firing", severity="warning")
            firing.append({"labels": "ALERTS" + fmt_labels(fl), "value": 1})
    if sorted(c for c in conds) != sorted(labels_of(t["exp_samples"][0]["labels"])["condition"] for t in cond_tests):
        fail("conditions of database %s in the scrape" % db,
             [labels_of(t["exp_samples"][0]["labels"])["condition"] for t in cond_tests])
    ratio = round(1e6 * errors / xacts)
    test = {
        "rule_files": ["txguard-alerts.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": series,
            "promql_expr_test": [
                {"expr": 'round(1e6 * txguard:error_abort_ratio:rate5m{datname="%s"})' % db,
                 "eval_time": "15m",
                 "exp_samples": [{"labels": fmt_labels({k: v for k, v in ratio_labels.items() if k != "__name__"}),
                                  "value": ratio}]},
                {"expr": 'ALERTS{alertstate="firing"}', "eval_time": "15m", "exp_samples": firing},
            ] + cond_tests,
        }],
    }
    os.makedirs(workdir, exist_ok=True)
    shutil.copy(rules, os.path.join(workdir, "txguard-alerts.yml"))
    path = os.path.join(workdir, "live.test.yml")
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(test, f, sort_keys=False)
    print("# %d series of the two scrapes replayed; expecting error-abort ratio %d/%d of %s (x 1e6: %d), "
          "conditions %s a minute, %d alert(s) firing" % (len(series), errors, xacts, db, ratio, conds, len(firing)))
    p = subprocess.run([promtool, "test", "rules", path], capture_output=True, text=True, cwd=workdir)
    if p.returncode == 0:
        ok("promtool test rules on the replayed scrapes: error-abort ratio, condition rates, firing alerts")
    else:
        fail("promtool test rules on the replayed scrapes (%s)" % path, p.stdout + p.stderr)
    finish()


def main():
    a = sys.argv[1:]
    if a[:1] == ["count"] and len(a) == 2:
        cmd_count(a[1])
    elif a[:1] == ["discriminate"] and len(a) == 4:
        cmd_discriminate(*a[1:])
    elif a[:1] == ["live"] and len(a) >= 9:
        cmd_live(a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
