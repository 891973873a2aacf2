#!/usr/bin/python3
"""Checks of monitoring/txguard-dashboard.json, and of what a real Prometheus makes of the
exporter and the rules.  Used by run.sh.

  dashboard_check.py lint DASHBOARD
      the JSON is a Grafana 9+ dashboard that imports anywhere: fixed uid, schemaVersion >= 36,
      a "datasource" variable of type datasource (prometheus) that every panel, target and
      query variable uses, unique panel ids, panels inside the 24-column grid and not
      overlapping, every target with a refId and an expression whose variables are defined,
      and bounded labels: a target that reads the per-statement, per-cause or per-application
      series keeps at most 10 series (topk) or aggregates their labels away

  dashboard_check.py live DASHBOARD PROM_URL TAP DEADLINE NAME=VALUE ...
      runs every query of the dashboard through Prometheus' HTTP API (/api/v1/query), as
      Grafana would: each query variable is first resolved through the API (its label_values()
      must list NAME's VALUE; a variable without NAME=VALUE takes its first value, as Grafana
      does), then substituted, with Grafana's built-ins ($__rate_interval 1m, as with the
      data source's default 15 s scrape interval; $__range from the dashboard's time range).
      Multi-value variables are tried twice: with VALUE (regex-escaped) and with "All".
      A panel passes when each of its targets returns at least one series, and with VALUE at
      least one above 0 (the test's workload makes every panel show something).  Polls every
      second until every panel passes or DEADLINE seconds have passed, then writes one
      "ok - dashboard-panel-N (title): ..." / "not ok - ..." line per panel to TAP.

  dashboard_check.py misconfigured PROM_URL RULES DEADLINE GOOD=INSTANCE NAME=INSTANCE ...
      the rules file is loaded by the real Prometheus (every rule of RULES present, health ok)
      and, for the exporters started with a missing / broken queries file or a database without
      the extension, the alerts TxguardExporterQueriesNotLoaded and TxguardExporterMetricsMissing
      are pending or firing for exactly the expected instances (NAME: missing, broken, noext),
      never for GOOD.  Polls until DEADLINE.

Output: "  ok: ..." / "  FAIL: ..." lines; exit status 1 if a check failed.
"""
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

import checks
from checks import fail, finish, ok


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def panels_of(dash):
    """every panel, rows' collapsed panels included, rows themselves left out"""
    out = []
    for p in dash.get("panels", []):
        if p.get("type") == "row":
            out.extend(p.get("panels", []))
        else:
            out.append(p)
    return out


def var_query(v):
    q = v.get("query")
    return q.get("query", "") if isinstance(q, dict) else (q or "")


BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms"}
VAR_RE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")

# ---------------------------------------------------------------- lint


def cmd_lint(path):
    try:
        dash = load(path)
    except (OSError, ValueError) as e:
        fail("%s is not JSON: %s" % (path, e))
        finish()
    if isinstance(dash.get("uid"), str) and re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dash["uid"]):
        ok("uid %s (imports and provisions to the same dashboard every time)" % dash["uid"])
    else:
        fail("uid missing or not a Grafana uid: %r" % dash.get("uid"))
    if dash.get("id") is None:
        ok("id null (no instance's database id)")
    else:
        fail("id must be null in a shared dashboard, is %r" % dash.get("id"))
    if isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36:
        ok("schemaVersion %d (Grafana 9.0 writes 36; newer Grafanas migrate it)" % dash["schemaVersion"])
    else:
        fail("schemaVersion %r: Grafana 9 dashboards have 36 or more" % dash.get("schemaVersion"))
    if dash.get("title"):
        ok("title %r" % dash["title"])
    else:
        fail("no title")

    tvars = dash.get("templating", {}).get("list", [])
    names = [v.get("name") for v in tvars]
    ds = [v for v in tvars if v.get("name") == "datasource"]
    if ds and ds[0].get("type") == "datasource" and ds[0].get("query") == "prometheus":
        ok("variable 'datasource' of type datasource, plugin prometheus")
    else:
        fail("no variable 'datasource' of type datasource with query 'prometheus'", ds)
    if "${DS_" in json.dumps(dash) or "__inputs" in dash:
        fail("import-time inputs (${DS_...}/__inputs) would break file provisioning: use the datasource variable")
    else:
        ok("no import-time inputs: imports through the UI, the API or provisioning alike")

    def ds_ok(d):
        return isinstance(d, dict) and d.get("type") == "prometheus" and d.get("uid") == "${datasource}"

    for v in tvars:
        if v.get("type") == "query":
            if ds_ok(v.get("datasource")):
                ok("variable %s reads ${datasource}" % v["name"])
            else:
                fail("variable %s: datasource must be {type: prometheus, uid: ${datasource}}" % v["name"],
                     v.get("datasource"))
            if not re.fullmatch(r"label_values\((.*,\s*)?\w+\)", var_query(v).strip()):
                fail("variable %s: query %r is not label_values(...)" % (v["name"], var_query(v)))
            if v.get("includeAll") and v.get("allValue") != ".*":
                fail("variable %s: includeAll needs allValue '.*'" % v["name"])
            for m in VAR_RE.finditer(var_query(v)):
                n = m.group(1) or m.group(2) or m.group(3)
                if n not in names[:names.index(v["name"])]:
                    fail("variable %s uses $%s, not defined before it" % (v["name"], n))

    ps = panels_of(dash)
    allp = dash.get("panels", [])
    ids = [p.get("id") for p in allp] + [p.get("id") for r in allp if r.get("type") == "row" for p in r.get("panels", [])]
    if len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids):
        ok("%d panel ids, unique" % len(ids))
    else:
        fail("panel ids missing or duplicated", ids)
    cells, grid_bad = {}, []
    for p in allp + [p for r in allp if r.get("type") == "row" for p in r.get("panels", [])]:
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            grid_bad.append("panel %s: gridPos without x, y, w, h" % p.get("id"))
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24 or g["h"] < 1:
            grid_bad.append("panel %s (%s): gridPos %s outside the 24-column grid" % (p.get("id"), p.get("title"), g))
        hit = [cells[c] for c in ((cx, cy) for cx in range(g["x"], g["x"] + g["w"])
                                  for cy in range(g["y"], g["y"] + g["h"])) if c in cells]
        if hit:
            grid_bad.append("panel %s overlaps panel %s" % (p.get("id"), hit[0]))
        for cx in range(g["x"], g["x"] + g["w"]):
            for cy in range(g["y"], g["y"] + g["h"]):
                cells[(cx, cy)] = p.get("id")
    if grid_bad:
        for b in grid_bad:
            fail(b)
    else:
        ok("every panel in the 24-column grid, none overlapping")

    ntargets = 0
    for p in ps:
        where = "panel %s (%s)" % (p.get("id"), p.get("title"))
        if not p.get("title"):
            fail("panel %s has no title" % p.get("id"))
        if not ds_ok(p.get("datasource")):
            fail("%s: datasource must be {type: prometheus, uid: ${datasource}}" % where, p.get("datasource"))
        ts = p.get("targets") or []
        if not ts:
            fail("%s has no query" % where)
        refs = [t.get("refId") for t in ts]
        if len(refs) != len(set(refs)) or not all(refs):
            fail("%s: refIds missing or duplicated: %s" % (where, refs))
        for t in ts:
            ntargets += 1
            e = t.get("expr", "")
            if not e.strip():
                fail("%s target %s: no expr" % (where, t.get("refId")))
            if not ds_ok(t.get("datasource")):
                fail("%s target %s: datasource must be ${datasource}" % (where, t.get("refId")))
            for m in VAR_RE.finditer(e):
                n = m.group(1) or m.group(2) or m.group(3)
                if n not in names and n not in BUILTINS:
                    fail("%s target %s: unknown variable $%s" % (where, t.get("refId"), n))
            # bounded labels: per-statement / per-cause / per-application series only through
            # topk(N <= 10, ...) or an aggregation that keeps none of their labels
            if re.search(r"txguard_(statement|condition|stats|application)_", e):
                m = re.match(r"\s*topk\((\d+),", e)
                keeps = re.search(r"by \(([^)]*)\)", e)
                keeps = keeps.group(1) if keeps else ""
                if not (m and int(m.group(1)) <= 10) and re.search(r"queryid|condition|sqlstate|usename|application_name", keeps):
                    fail("%s target %s: per-statement/per-cause labels without topk(N <= 10, ...)"
                         % (where, t.get("refId")), e)
            if t.get("instant") and p.get("type") == "timeseries":
                fail("%s target %s: instant query in a time series panel" % (where, t.get("refId")))
            if p.get("type") == "table" and not t.get("instant"):
                fail("%s target %s: a table's query should be instant" % (where, t.get("refId")))
    if checks.failed == 0:
        ok("%d panels, %d queries: datasource ${datasource}, variables defined, labels bounded"
           % (len(ps), ntargets))
    finish()


# ---------------------------------------------------------------- Prometheus API


def api(url, path, params):
    q = urllib.parse.urlencode(params, doseq=True)
    req = urllib.request.Request(url.rstrip("/") + path + ("?" + q if q else ""))
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            d = json.load(r)
    except urllib.error.HTTPError as e:
        try:
            d = json.load(e)
        except ValueError:
            d = {"status": "error", "error": "HTTP %d" % e.code}
    except (urllib.error.URLError, OSError, ValueError) as e:
        d = {"status": "error", "error": str(e)}
    return d


def label_values(url, q):
    """Grafana's label_values(selector, label) / label_values(label) through the series API"""
    m = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", q.strip())
    if not m:
        return None, "not label_values(): %r" % q
    sel, label = m.group(1), m.group(2)
    params = {"match[]": sel} if sel else {}
    d = api(url, "/api/v1/label/%s/values" % label, params)
    if d.get("status") != "success":
        return None, d.get("error")
    return sorted(d["data"]), None


def regex_escape(v):
    # Grafana's Prometheus data source escapes a multi-value variable's values for a regex inside
    # a PromQL string: a backslash before each special character, itself escaped
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", v)


def duration_of(tfrom):
    m = re.fullmatch(r"now-(\d+)([smhdw])", tfrom or "")
    return (m.group(1) + m.group(2)) if m else "6h"


def seconds_of(d):
    n, u = int(d[:-1]), d[-1]
    return n * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[u]


def substitute(expr, values):
    def rep(m):
        n = m.group(1) or m.group(2) or m.group(3)
        if n not in values:
            raise KeyError(n)
        return values[n]
    return VAR_RE.sub(rep, expr)


def summarize(d):
    if d.get("status") != "success":
        return None, "error: %s" % d.get("error")
    res = d["data"]["result"]
    if d["data"]["resultType"] == "scalar":
        res = [{"metric": {}, "value": res}]
    vals = []
    for s in res:
        try:
            v = float(s["value"][1])
        except (KeyError, ValueError, TypeError):
            continue
        if not math.isnan(v):
            vals.append(v)
    if not res:
        return res, "no data"
    return res, "%d series, max %s" % (len(res), ("%.4g" % max(vals)) if vals else "NaN")


def cmd_live(path, url, tap, deadline, pairs):
    dash = load(path)
    want = dict(p.split("=", 1) for p in pairs)
    rng = duration_of(dash.get("time", {}).get("from"))
    builtins = {"__rate_interval": "1m", "__interval": "15s", "__interval_ms": "15000",
                "__range": rng, "__range_s": str(seconds_of(rng)), "__range_ms": str(1000 * seconds_of(rng))}
    tvars = dash.get("templating", {}).get("list", [])
    end = time.time() + float(deadline)
    ps = panels_of(dash)
    while True:
        # variables, in order, as Grafana resolves them
        chosen, all_ = dict(builtins), dict(builtins)
        var_notes, var_bad = [], []
        for v in tvars:
            n = v["name"]
            if v.get("type") == "datasource":
                chosen[n] = all_[n] = "prometheus"
                continue
            if v.get("type") != "query":
                var_bad.append("variable %s: type %s not handled by the test" % (n, v.get("type")))
                continue
            try:
                q = substitute(var_query(v), chosen)
            except KeyError as e:
                var_bad.append("variable %s: unknown variable %s" % (n, e))
                continue
            vals, err = label_values(url, q)
            if not vals:
                var_bad.append("variable %s: %s returned %s" % (n, q, err or "no values"))
                chosen[n] = all_[n] = "__none__"
                continue
            pick = want.get(n, vals[0])
            if pick not in vals:
                var_bad.append("variable %s: %s does not list %r (it lists %s)" % (n, q, pick, vals))
            var_notes.append("%s=%s (of %d)" % (n, pick, len(vals)))
            if v.get("multi") or v.get("includeAll"):
                chosen[n] = regex_escape(pick)
                all_[n] = v.get("allValue") or "|".join(regex_escape(x) for x in vals)
            else:
                chosen[n] = all_[n] = pick
        results = []
        for p in ps:
            lines, good = [], not var_bad
            for t in p.get("targets", []):
                for label, values, need_pos in (("", chosen, True), ("All: ", all_, False)):
                    if label and values == chosen:
                        continue
                    try:
                        e = substitute(t["expr"], values)
                    except KeyError as k:
                        good = False
                        lines.append("%s%s: unknown variable %s" % (label, t["refId"], k))
                        continue
                    res, s = summarize(api(url, "/api/v1/query", {"query": e}))
                    pos = any(float(r["value"][1]) > 0 for r in res or [])
                    this_ok = bool(res) and (pos or not need_pos)
                    if not this_ok:
                        good = False
                        if res and need_pos:
                            s += ", none above 0"
                        s += "\n    query: " + e.replace("\n", " ")
                    lines.append("%s%s: %s" % (label, t["refId"], s))
            results.append((p, good, lines))
        if all(g for _, g, _ in results) or time.time() >= end:
            break
        time.sleep(1)
    with open(tap, "w", encoding="utf-8") as f:
        for p, good, lines in results:
            f.write("%s - dashboard-panel-%d (%s): %s\n" % ("ok" if good else "not ok", p["id"], p["title"],
                                                            "; ".join(l.split("\n")[0] for l in lines)))
            if not good:
                for l in lines:
                    f.write("#   %s\n" % l.replace("\n", "\n#   "))
    print("# variables: " + ", ".join(var_notes))
    for b in var_bad:
        fail(b)
    for p, good, lines in results:
        if good:
            ok("panel %d (%s): %s" % (p["id"], p["title"], "; ".join(l.split("\n")[0] for l in lines)))
        else:
            fail("panel %d (%s)" % (p["id"], p["title"]), "\n".join(lines))
    finish()


# ---------------------------------------------------------------- misconfigured exporters


def alert_instances(url, name):
    d = api(url, "/api/v1/query", {"query": 'ALERTS{alertname="%s"}' % name})
    if d.get("status") != "success":
        return None
    return sorted({r["metric"].get("instance") for r in d["data"]["result"]})


def cmd_misconfigured(url, rules, deadline, pairs):
    inst = dict(p.split("=", 1) for p in pairs)
    with open(rules, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    names = sorted(r.get("alert") or r.get("record") for g in doc["groups"] for r in g["rules"])
    expect = {
        # the file could not be read (missing) or parsed (broken)
        "TxguardExporterQueriesNotLoaded": sorted([inst["missing"], inst["broken"]]),
        # ... and, with a good file, the txguard queries fail (no extension in the DSN's database)
        "TxguardExporterMetricsMissing": sorted([inst["missing"], inst["broken"], inst["noext"]]),
    }
    end = time.time() + float(deadline)
    while True:
        d = api(url, "/api/v1/rules", {})
        got_rules, health = [], []
        if d.get("status") == "success":
            for g in d["data"]["groups"]:
                for r in g["rules"]:
                    got_rules.append(r["name"])
                    if r.get("health") != "ok":
                        health.append("%s: %s %s" % (r["name"], r.get("health"), r.get("lastError", "")))
        got = {a: alert_instances(url, a) for a in expect}
        if (sorted(got_rules) == names and not health and got == expect) or time.time() >= end:
            break
        time.sleep(1)
    if sorted(got_rules) == names and not health:
        ok("Prometheus loaded %s: its %d rules, all evaluated without error" % (rules.rsplit("/", 1)[-1], len(names)))
    else:
        fail("rules loaded by Prometheus: %s, expected %s; unhealthy: %s" % (sorted(got_rules), names, health))
    for a, want in sorted(expect.items()):
        if got[a] == want:
            ok("%s pending/firing for exactly %s (not for the good exporter %s)" % (a, ", ".join(want), inst["good"]))
        else:
            fail("%s is pending/firing for %s, expected %s" % (a, got[a], want))
    finish()


def main():
    a = sys.argv[1:]
    if a[:1] == ["lint"] and len(a) == 2:
        cmd_lint(a[1])
    elif a[:1] == ["live"] and len(a) >= 5:
        cmd_live(a[1], a[2], a[3], a[4], a[5:])
    elif a[:1] == ["misconfigured"] and len(a) >= 5:
        cmd_misconfigured(a[1], a[2], a[3], a[4:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
