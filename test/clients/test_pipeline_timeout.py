"""txguard.idle_in_aborted_transaction_timeout counts only while the session is idle, waiting for
the client after ReadyForQuery, as core's idle_in_transaction_session_timeout does.

Raw protocol (test/model/pgproto.py), timeout 1 s set in the session (superuser), all cases at
once, one session each:

  pipeline    BEGIN; then Parse/Bind/Execute of SELECT 1/0 without Sync: the error comes
              back at once, and the client goes on sending one message every 100 ms (core
              skips them until Sync) for 2.5 s, longer than the timeout;
  COPY, extended protocol   BEGIN; Parse/Bind/Execute of COPY ... FROM STDIN, a bad first row:
              the error comes back, and the client goes on sending CopyData every 100 ms for
              2.5 s, then CopyDone;
  COPY, simple protocol     the same with a Query: core answers the error with ReadyForQuery at
              once and reads the rest of the data as it comes;
  controls    the pipeline and the extended-protocol COPY with core's
              idle_in_transaction_session_timeout = 1 s instead: core's rule, which txguard's
              follows.

While the client sends, the session must not be terminated.  Then the client sends Sync (for
the simple-protocol COPY: a query, which gets its 25P02) and waits: the server must end the
session with the timeout's FATAL, 1 s after the ReadyForQuery that answered it, not before
and not much later.
"""
import select
import threading
import time
import traceback

import txg_proto as tp
from txg_common import run

STREAM = 2.5          # seconds the client keeps sending after the error (> the 1 s timeout)
INTERVAL = 0.1        # one message every 100 ms
# The FATAL must come 1 s after the ReadyForQuery: not before 0.9 s (the server's clock starts
# when it sends the ReadyForQuery; the 100 ms allow for the time it took to reach this
# client's thread on a loaded machine; a clock started at the error, 2.5 s earlier, would fire
# at once), and before 3 s (txguard's own precision is 10% of the timeout; the rest is room
# for a loaded 2-core CI machine running five sessions and this client at once).
LOW, HIGH = 0.9, 3.0
FATAL_TXG = "terminating connection due to idle-in-aborted-transaction timeout"
FATAL_CORE = "terminating connection due to idle-in-transaction timeout"
TABLE = "txg_pipe_copy"


def readable(conn, limit):
    """Wait up to `limit` s for the server to send something; True if it did."""
    if len(conn.buf) > conn.pos:
        return True
    r, _, _ = select.select([conn.sock], [], [], limit)
    return bool(r)


def stream(conn, message):
    """Send `message` every INTERVAL s for STREAM s; return (seconds streamed, event the server
    sent meanwhile or None)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < STREAM:
        if readable(conn, INTERVAL):
            try:
                return time.monotonic() - t0, conn.read_event()
            except (ConnectionError, OSError) as e:
                return time.monotonic() - t0, e
        conn.send(message)
    return time.monotonic() - t0, None


def read_through_ready(conn):
    events = []
    while True:
        ev = conn.read_event()
        events.append(ev)
        if ev.kind == "ready":
            return events


class Case:
    def __init__(self, label, setting, fatal):
        self.label, self.setting, self.fatal = label, setting, fatal
        self.results = []       # (check label, actual, expected) or (label, ok, shown, None)
        self.trace = None

    def eq(self, what, actual, expected):
        self.results.append(("[%s] %s" % (self.label, what), actual, expected))

    def run(self):
        try:
            self.body()
        except Exception:        # noqa: BLE001 - reported by the main thread
            self.trace = traceback.format_exc()

    def start_session(self):
        conn = tp.connect(application_name="txguard-test-pipeline-timeout")
        tp.rows(conn, self.setting)
        tp.rows(conn, "BEGIN")
        return conn

    def after_error(self, conn, more, end):
        """The error has arrived: stream `more` messages, then send `end` (which must be
        answered with ReadyForQuery); then wait for the FATAL."""
        streamed, got = stream(conn, more)
        self.eq("not terminated while the client still sends (%.1f s, one message every "
                "%d ms)" % (STREAM, INTERVAL * 1000),
                repr(got) if got is not None else None, None)
        if got is not None:
            return
        conn.send(end)
        events = read_through_ready(conn)
        t_ready = time.monotonic()
        self.eq("the client's last message is answered with ReadyForQuery E",
                (conn.status, [e.kind for e in events if e.kind == "error"] and
                 [e.sqlstate for e in events if e.kind == "error"]), ("E", self.end_errors))
        came = readable(conn, HIGH)
        waited = time.monotonic() - t_ready
        what = ("terminated %.2f s after the ReadyForQuery" % waited if came else
                "still not terminated %.1f s after the ReadyForQuery" % waited)
        self.results.append(("[%s] %s (expected: terminated %.2f to %.1f s after it)"
                             % (self.label, what, LOW, HIGH),
                             came and LOW <= waited < HIGH, waited, None))
        if came:
            try:
                ev = conn.read_event()
                shown = (ev.kind, ev.sqlstate, ev.fields.get("M")) if ev.fields else ev.kind
            except (ConnectionError, OSError) as e:
                shown = repr(e)
            self.eq("what the server sent: the timeout's FATAL", shown,
                    ("error", "25P03", self.fatal))


class Pipeline(Case):
    end_errors = []

    def body(self):
        conn = self.start_session()
        conn.send(tp.extended("", "SELECT 1/0"))
        ev = conn.read_event()
        while ev.kind in ("parse_complete", "bind_complete"):
            ev = conn.read_event()
        self.eq("SELECT 1/0 fails at once, before any Sync", (ev.kind, ev.sqlstate),
                ("error", "22012"))
        self.after_error(conn, tp.extended("", "SELECT 1"), tp.msg_sync())
        conn.close()


class ExtendedCopy(Case):
    end_errors = []

    def body(self):
        conn = self.start_session()
        conn.send(tp.extended("", "COPY %s FROM STDIN" % TABLE))
        ev = conn.read_event()
        while ev.kind in ("parse_complete", "bind_complete"):
            ev = conn.read_event()
        self.eq("COPY starts (CopyInResponse)", ev.kind, "copy_in")
        conn.send(tp.msg_copy_data("bad\n"))
        ev = conn.read_event()
        self.eq("the bad first row fails at once", (ev.kind, ev.sqlstate), ("error", "22P02"))
        self.after_error(conn, tp.msg_copy_data("1\n2\n3\n"), tp.msg_copy_done() + tp.msg_sync())
        conn.close()


class SimpleCopy(Case):
    end_errors = ["25P02"]

    def body(self):
        conn = self.start_session()
        conn.send(tp.msg_query("COPY %s FROM STDIN" % TABLE))
        ev = conn.read_event()
        self.eq("COPY starts (CopyInResponse)", ev.kind, "copy_in")
        conn.send(tp.msg_copy_data("bad\n"))
        events = read_through_ready(conn)
        self.eq("the bad first row fails at once, then ReadyForQuery E",
                ([e.sqlstate for e in events if e.kind == "error"], conn.status),
                (["22P02"], "E"))
        self.after_error(conn, tp.msg_copy_data("1\n2\n3\n"),
                         tp.msg_copy_done() + tp.msg_query("SELECT 1"))
        conn.close()


def body(c):
    conn = tp.connect()
    tp.rows(conn, "DROP TABLE IF EXISTS %s" % TABLE)
    tp.rows(conn, "CREATE TABLE %s (id int)" % TABLE)
    conn.close()
    txg = "SET txguard.idle_in_aborted_transaction_timeout = '1s'"
    core = "SET idle_in_transaction_session_timeout = '1s'"
    cases = [Pipeline("pipeline", txg, FATAL_TXG),
             ExtendedCopy("COPY, extended protocol", txg, FATAL_TXG),
             SimpleCopy("COPY, simple protocol", txg, FATAL_TXG),
             Pipeline("control: pipeline, core's idle_in_transaction_session_timeout", core,
                      FATAL_CORE),
             ExtendedCopy("control: COPY, extended protocol, core's "
                          "idle_in_transaction_session_timeout", core, FATAL_CORE)]
    threads = [threading.Thread(target=k.run) for k in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for k in cases:
        for r in k.results:
            if len(r) == 4:
                c.true(r[0], r[1], r[2])
            else:
                c.eq(r[0], r[1], r[2])
        if k.trace:
            print(k.trace)
            c.fail("[%s] unexpected exception (see traceback above)" % k.label)


run("pipeline-timeout", body)
