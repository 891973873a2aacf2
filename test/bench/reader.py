#!/usr/bin/python3
"""Read cost of txguard's history (test/bench/run.sh reader).

    reader.py "conninfo" QUERY [QUERY...]

Runs each query in one session and prints, per query, its wall time and
the reading backend's memory: RssAnon (private memory) sampled every 2 ms
while the query runs, its peak and its growth over the value before the
query; and VmHWM (peak RSS, shared pages the backend touched included).
Lines: "READ query=<n> seconds=<s> rss_anon_before_kb=<a> rss_anon_peak_kb=<p>
vmhwm_before_kb=<h0> vmhwm_after_kb=<h1>".  Must run on the server's machine
as a user allowed to read /proc/<backend pid>/status (root).
"""
import sys
import threading
import time

import psycopg2


def status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("RssAnon", "VmHWM", "VmRSS"):
                d[k] = int(v.split()[0])
    return d


def main():
    conn = psycopg2.connect(sys.argv[1])
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    for i, q in enumerate(sys.argv[2:], 1):
        cur.execute("SELECT 1")          # warm the session
        before = status(pid)
        peak = [before["RssAnon"]]
        done = threading.Event()

        def sample():
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], status(pid)["RssAnon"])
                except OSError:
                    return
                time.sleep(0.002)

        t = threading.Thread(target=sample)
        t.start()
        t0 = time.monotonic()
        cur.execute(q)
        rows = cur.fetchall()
        secs = time.monotonic() - t0
        done.set()
        t.join()
        after = status(pid)
        peak[0] = max(peak[0], after["RssAnon"])
        print("READ query=%d rows=%s seconds=%.3f rss_anon_before_kb=%d rss_anon_peak_kb=%d "
              "vmhwm_before_kb=%d vmhwm_after_kb=%d"
              % (i, rows[0][0] if rows else None, secs, before["RssAnon"], peak[0],
                 before["VmHWM"], after["VmHWM"]), flush=True)


if __name__ == "__main__":
    main()
