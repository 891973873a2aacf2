#!/usr/bin/python3
"""What txguard 1.2 adds to monitoring, checked against a real exporter and a real Prometheus
while run.sh's workload runs (applications "checkout" and "payments" of one role, a subscription
whose apply worker fails on a conflicting row).  Used by run.sh (insight-live).

  insight_check.py SCRAPE RULES PROM_URL DEADLINE DB INSERT_QUERYID INSERT_CALLS

SCRAPE is one scrape of the exporter whose queries file is postgres_exporter.yaml with
postgres_exporter-pg_stat_statements.yaml appended; DB the workload's database; INSERT_QUERYID
the query id of its failing "INSERT INTO t VALUES ($1)" and INSERT_CALLS its successful calls
(pg_stat_statements, top level, all roles) at the time of the scrape.

In the scrape (the series of one row come from one query, so their relations are exact):
  * txguard_application: both applications have 23505 failures in DB; for every key
    aborted_blocks + failed_alone = aborts; "payments" fails only in autocommit;
  * txguard_statement: aborted_blocks + failed_alone = aborts for every statement;
  * txguard_worker: the apply worker's failures in DB (23505): failures = records + repeats with
    at least one repeat, the last failure less than 60 s before the scrape;
  * txguard_statement_pgss: failure_ratio = failures / (calls + failures) for every statement;
    the INSERT with INSERT_CALLS calls and its failures;
  * txguard_applications_*: the table's size.
In Prometheus (polled until DEADLINE): every metric the rules of RULES read has series, and
the alerts TxguardSubscriptionApplyFailing (the worker of DB) and
TxguardStatementFailureRatioHigh (the INSERT of DB) are pending or firing.

Output: "  ok: ..." / "  FAIL: ..." lines; exit status 1 if a check failed.
"""
import json
import re
import sys
import time
import urllib.parse
import urllib.request

import yaml

from checks import fail, finish, ok


SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')


def labels_of(s):
    return dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', s or ""))


def parse(path):
    """{name: [(labels, value)]}"""
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = SAMPLE_RE.match(line.rstrip("\n"))
            if m and not line.startswith("#"):
                out.setdefault(m.group(1), []).append((labels_of(m.group(2)), float(m.group(3))))
    return out


def key(lb, drop=()):
    return tuple(sorted((k, v) for k, v in lb.items() if k not in drop))


def by_key(samples, name):
    return {key(lb): v for lb, v in samples.get(name, [])}


def check_sums(samples, prefix, what):
    """aborted_blocks + failed_alone = aborts for every label set of prefix"""
    aborts = by_key(samples, prefix + "_aborts_total")
    blocks = by_key(samples, prefix + "_aborted_blocks_total")
    alone = by_key(samples, prefix + "_failed_alone_total")
    bad = [(dict(k), aborts[k], blocks.get(k), alone.get(k)) for k in aborts
           if blocks.get(k) is None or alone.get(k) is None or blocks[k] + alone[k] != aborts[k]]
    if aborts and not bad:
        ok("%s: aborted_blocks + failed_alone = aborts for each of its %d series" % (what, len(aborts)))
    else:
        fail("%s: aborted_blocks + failed_alone != aborts" % what, bad or "no series")


def scrape_checks(path, db, qid, calls, scrape_time):
    s = parse(path)

    # per application
    apps = {}
    for lb, v in s.get("txguard_application_aborts_total", []):
        if lb.get("datname") == db:
            apps[(lb.get("application_name"), lb.get("sqlstate"))] = v
    for app in ("checkout", "payments"):
        v = apps.get((app, "23505"), 0)
        if v > 0:
            ok('txguard_application_aborts_total{application_name="%s",datname="%s",sqlstate="23505"} %g'
               % (app, db, v))
        else:
            fail("no 23505 failures of application %s in %s" % (app, db), apps)
    check_sums(s, "txguard_application", "txguard_application")
    pay_blocks = [v for lb, v in s.get("txguard_application_aborted_blocks_total", [])
                  if lb.get("application_name") == "payments" and lb.get("datname") == db]
    if pay_blocks == [0.0]:
        ok("payments fails only in autocommit: aborted_blocks 0, failed_alone = aborts")
    else:
        fail("payments' aborted_blocks", pay_blocks)

    # per statement
    check_sums(s, "txguard_statement", "txguard_statement")

    # background workers
    w = [(lb, v) for lb, v in s.get("txguard_worker_failures", [])
         if lb.get("datname") == db and lb.get("sqlstate") == "23505"
         and re.fullmatch(r"logical replication.*worker", lb.get("backend_type", ""))]
    if len(w) == 1:
        lb, failures = w[0]
        k = key(lb)
        records = by_key(s, "txguard_worker_records").get(k)
        last = by_key(s, "txguard_worker_last_failure_timestamp_seconds").get(k)
        if records is not None and records >= 1 and failures >= records + 1:
            ok('txguard_worker_failures{backend_type="%s",datname="%s",sqlstate="23505"} %g'
               ' = %g record(s) + their repeats' % (lb["backend_type"], db, failures, records))
        else:
            fail("the apply worker's failures %g and records %s: expected a repeat" % (failures, records))
        if last is not None and scrape_time - 60 <= last <= scrape_time + 5:
            ok("txguard_worker_last_failure_timestamp_seconds %.1f s before the scrape" % (scrape_time - last))
        else:
            fail("txguard_worker_last_failure_timestamp_seconds %s, scrape at %.0f" % (last, scrape_time))
    else:
        fail("one txguard_worker_failures series of the apply worker in %s" % db,
             s.get("txguard_worker_failures"))

    # failure ratio (the optional pg_stat_statements queries)
    fl = by_key(s, "txguard_statement_pgss_failures_total")
    cl = by_key(s, "txguard_statement_pgss_calls_total")
    rt = by_key(s, "txguard_statement_pgss_failure_ratio")
    bad = [(dict(k), fl[k], cl.get(k), rt.get(k)) for k in fl
           if cl.get(k) is None or rt.get(k) is None
           or abs(rt[k] - fl[k] / (cl[k] + fl[k])) > 1e-9]
    if fl and not bad:
        ok("txguard_statement_pgss: failure_ratio = failures / (calls + failures) for each of its %d series"
           % len(fl))
    else:
        fail("txguard_statement_pgss: ratio inconsistent", bad or "no series")
    ins = [(dict(k), v) for k, v in fl.items() if dict(k).get("queryid") == qid and dict(k).get("datname") == db]
    if len(ins) == 1 and ins[0][1] > 0 and cl.get(key(ins[0][0])) == float(calls):
        ok("the failing INSERT (query id %s): %g failures, %s calls as in pg_stat_statements, ratio %g"
           % (qid, ins[0][1], calls, rt[key(ins[0][0])]))
    else:
        fail("the failing INSERT (query id %s, %s calls) in txguard_statement_pgss" % (qid, calls),
             [(lb, v, cl.get(key(lb))) for lb, v in ins] or "absent")

    ent = by_key(s, "txguard_applications_entries")
    mx = by_key(s, "txguard_applications_max_entries")
    if len(ent) == 1 and len(mx) == 1 and 2 <= list(ent.values())[0] <= list(mx.values())[0] == 1024:
        ok("txguard_applications_entries %g of txguard_applications_max_entries %g"
           % (list(ent.values())[0], list(mx.values())[0]))
    else:
        fail("txguard_applications_entries / _max_entries", (ent, mx))


def query(url, expr):
    q = urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url + "/api/v1/query?" + q, timeout=5) as r:
            return json.load(r)["data"]["result"]
    except (OSError, ValueError, KeyError):
        return None


def prom_checks(rules, url, deadline, db, qid):
    with open(rules, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    exprs = [r["expr"] for g in doc["groups"] for r in g["rules"]]
    used = sorted({m for e in exprs for m in re.findall(r"\b(txguard_[a-z_]+)\b", e)})
    want_alerts = {
        "TxguardSubscriptionApplyFailing": 'ALERTS{alertname="TxguardSubscriptionApplyFailing",datname="%s"}' % db,
        "TxguardStatementFailureRatioHigh":
            'ALERTS{alertname="TxguardStatementFailureRatioHigh",datname="%s",queryid="%s"}' % (db, qid),
    }
    end = time.time() + deadline
    while True:
        missing = [m for m in used if not query(url, 'count(%s{job="postgres"})' % m)]
        alerts = {a: query(url, e) for a, e in want_alerts.items()}
        others = query(url, 'ALERTS{alertname="TxguardSubscriptionApplyFailing",datname!="%s"}' % db)
        if (not missing and all(alerts.values())) or time.time() >= end:
            break
        time.sleep(1)
    if missing:
        fail("metrics the rules read without series in Prometheus", missing)
    else:
        ok("every metric the rules read has series in Prometheus: %s" % ", ".join(used))
    for a, res in sorted(alerts.items()):
        if res:
            ok("%s %s for %s" % (a, "/".join(sorted({r["metric"].get("alertstate") for r in res})),
                                 ", ".join(sorted("%s=%s" % (k, v) for r in res for k, v in r["metric"].items()
                                                  if k in ("datname", "backend_type", "queryid")))))
        else:
            fail("%s is neither pending nor firing: %s" % (a, want_alerts[a]))
    if others:
        fail("TxguardSubscriptionApplyFailing for another database", others)
    else:
        ok("TxguardSubscriptionApplyFailing for no other database")


def main():
    a = sys.argv[1:]
    if len(a) != 7:
        sys.exit(__doc__)
    scrape, rules, url, deadline, db, qid, calls = a
    scrape_checks(scrape, db, qid, calls, time.time())
    prom_checks(rules, url, float(deadline), db, qid)
    finish()


if __name__ == "__main__":
    main()
