"""An abort record never reads memory txguard does not own: an extended-protocol COMMIT or
PREPARE TRANSACTION that fails after PostgreSQL dropped its portal.

At commit, PostgreSQL drops the transaction's portals (PreCommit_Portals) before it checks
for serialization failures and before PREPARE TRANSACTION's own checks, so the portal that ran
the COMMIT, and the copy of the statement text it held, are gone when the error is raised.
Four such failures, each with texts from 10 bytes to 3 MB (the statement padded with a
comment):

  serialization failure at COMMIT (40001: write skew between two SERIALIZABLE transactions),
  PREPARE TRANSACTION with a gid already in use (42710),
  PREPARE TRANSACTION after using a temporary table (0A000),
  PREPARE TRANSACTION with max_prepared_transactions = 0 (55000).

For each: the COMMIT/PREPARE fails at its Execute; the backend survives; txguard_last_abort()
and the history row say at_commit, the ordinal of that COMMIT/PREPARE statement, and its text
exactly (the first txguard.max_statement_length = 65536 bytes); reading txguard_last_abort(),
txguard_aborts and txguard_statement_stats with client_encoding = LATIN1 (which makes the
server check every text byte) never fails.

The test runs its own cluster (max_prepared_transactions 2, then 0; txguard.track = all, so
that these failures, which leave no aborted block, are in the history) with glibc's
MALLOC_PERTURB_ set: memory handed back to malloc is filled with 0xa5, as an assert-enabled
build wipes freed memory, so that reading freed memory shows as wrong bytes instead of going
unnoticed while the old contents happen to stay in place; and MALLOC_MMAP_THRESHOLD_ is 1 MB:
a larger block is always mmap'ed and unmapped when freed (glibc would otherwise raise its
threshold as large blocks come and go, up to 32 MB), so that reading a freed multi-MB text
kills the backend (SIGSEGV).  Statements are kept out of the server log
(log_min_error_statement = panic).
"""
import sys
import time
import traceback

import txg_proto as tp
from txg_cluster import Cluster
from txg_common import run

MAX_LEN = 65536                 # txguard.max_statement_length of this cluster
SIZES = [10, 300, 5000, 100000, 3000000]
SER = "txg_mem_ser"
GID_TAKEN = "txg_mem_taken"


def padded(stmt, size):
    """stmt behind a comment, `size` bytes in all (stmt alone if it is that long already)."""
    if size < len(stmt) + 4:
        return stmt
    return "/*" + "p" * (size - len(stmt) - 4) + "*/" + stmt


def describe(size):
    return "%d B" % size if size < 10000 else ("%d kB" % (size // 1000) if size < 10 ** 6
                                               else "%d MB" % (size // 10 ** 6))


def show_diff(expected, got):
    """What differs between two texts, short."""
    if got is None:
        return "NULL (expected %d bytes)" % len(expected)
    i = 0
    n = min(len(expected), len(got))
    while i < n and expected[i] == got[i]:
        i += 1
    return ("%d chars (expected %d); first difference at char %d: expected %r, got %r"
            % (len(got), len(expected), i, expected[i:i + 24], got[i:i + 24]))


class Session:
    """The session under test, re-opened if the backend died."""

    def __init__(self, cl, log):
        self.cl = cl
        self.log = log
        self.conn = tp.connect(port=cl.port, application_name="txguard-test-memory")
        self.pid = self.conn.pid

    def reopen(self):
        try:
            self.conn.close()
        except OSError:
            pass
        # after a crash, connect only once the postmaster has ended every backend, else the
        # new connection is ended too
        deadline = time.monotonic() + 30
        while ("terminated by signal" in self.log.new() and
               "reinitializing" not in self.log.new() and time.monotonic() < deadline):
            time.sleep(0.05)
        tp.wait_connectable(self.cl.port)
        self.conn = tp.connect(port=self.cl.port, application_name="txguard-test-memory")
        self.pid = self.conn.pid


def one_case(c, s, label, setup, stmt, sqlstate, ordinal):
    """setup(conn): opens the transaction and runs statements 1 .. ordinal-1 (simple
    protocol); then stmt, padded, through Parse/Bind/Execute/Sync must fail with sqlstate."""
    for size in SIZES:
        text = padded(stmt, size)
        lab = "%s, %s" % (label, describe(len(text)))
        try:
            setup(s.conn)
            t0 = time.monotonic()
            events = tp.sync(s.conn, tp.extended("", text))
            took = time.monotonic() - t0
            c.eq("[%s] statement %d fails at its Execute with %s (%.2f s)" % (lab, ordinal,
                                                                              sqlstate, took),
                 (tp.kinds(events)[:2], tp.err_of(events) and tp.err_of(events)[0]),
                 (["parse_complete", "bind_complete"], sqlstate))
            c.eq("[%s] the transaction is over (ReadyForQuery I)" % lab, s.conn.status, "I")
            r, err = tp.query(s.conn, "SELECT 1")
        except (ConnectionError, OSError) as e:
            c.fail("[%s] the backend survives" % lab, "connection lost: %r" % e)
            s.reopen()
            continue
        c.eq("[%s] the backend survives" % lab, (r, err), ([["1"]], None))

        got, err = tp.query(s.conn, "SELECT sqlstate, statement_ordinal, at_commit, seq"
                                    " FROM txguard_last_abort()")
        c.eq("[%s] txguard_last_abort(): sqlstate, ordinal, at_commit; reading it works" % lab,
             (err and tp.err_of([err]), got and got[0][:3]), (None, [sqlstate, str(ordinal), "t"]))
        got, err = tp.query(s.conn, "SELECT statement FROM txguard_last_abort()")
        want = text[:MAX_LEN]
        stored = got[0][0] if got else None
        c.true("[%s] txguard_last_abort().statement is the text, exactly (%d bytes kept)"
               % (lab, len(want)), err is None and stored == want,
               tp.err_of([err]) if err else show_diff(want, stored))
        got, err = tp.query(s.conn, "SELECT statement, statement_ordinal, at_commit"
                                    " FROM txguard_aborts WHERE pid = %d"
                                    " AND seq = (SELECT seq FROM txguard_last_abort())" % s.pid)
        ok = err is None and got == [[want, str(ordinal), "t"]]
        c.true("[%s] its txguard_aborts row: the same text, ordinal %d, at_commit" % (lab, ordinal),
               ok, tp.err_of([err]) if err else
               (show_diff(want, got[0][0]), got[0][1:]) if got else got)

        # LATIN1: the server converts every text it sends, and checks each byte on the way
        tp.rows(s.conn, "SET client_encoding = 'LATIN1'")
        for q in ("SELECT * FROM txguard_last_abort()", "SELECT * FROM txguard_aborts",
                  "SELECT * FROM txguard_statement_stats"):
            _, err = tp.query(s.conn, q)
            c.eq("[%s] %s never fails (client_encoding LATIN1)" % (lab, q),
                 tp.err_of([err]) if err else None, None)
        tp.rows(s.conn, "RESET client_encoding")


def body(c):
    cl = Cluster("memory", {
        "shared_preload_libraries": "'txguard'",
        "max_prepared_transactions": "2",
        "txguard.track": "all",
        "txguard.max_statement_length": str(MAX_LEN),
        "txguard.history_size": "200",
        "log_min_error_statement": "panic",
    }, env={"MALLOC_PERTURB_": "165", "MALLOC_MMAP_THRESHOLD_": "1048576"})
    cl.start()
    log = cl.log()
    try:
        admin = tp.connect(port=cl.port)
        tp.rows(admin, "CREATE EXTENSION txguard")
        tp.rows(admin, "CREATE TABLE %s (k int, v int)" % SER)
        # a gid that stays prepared while the test tries to use it again
        tp.rows(admin, "BEGIN")
        tp.rows(admin, "PREPARE TRANSACTION '%s'" % GID_TAKEN)
        s = Session(cl, log)

        def ser_setup(conn):
            other = tp.connect(port=cl.port, application_name="txguard-test-memory-other")
            tp.rows(conn, "BEGIN ISOLATION LEVEL SERIALIZABLE")
            tp.rows(other, "BEGIN ISOLATION LEVEL SERIALIZABLE")
            tp.rows(conn, "SELECT sum(v) FROM %s WHERE k = 1" % SER)     # statement 1
            tp.rows(other, "SELECT sum(v) FROM %s WHERE k = 2" % SER)
            tp.rows(conn, "INSERT INTO %s VALUES (2, 1)" % SER)          # statement 2
            tp.rows(other, "INSERT INTO %s VALUES (1, 1)" % SER)
            tp.rows(other, "COMMIT")           # the first committer wins; ours must fail
            other.close()

        def gid_setup(conn):
            tp.rows(conn, "BEGIN")
            tp.rows(conn, "SELECT 1")                                       # statement 1

        def temp_setup(conn):
            tp.rows(conn, "CREATE TEMP TABLE IF NOT EXISTS txg_mem_tmp (i int)")
            tp.rows(conn, "BEGIN")
            tp.rows(conn, "INSERT INTO txg_mem_tmp VALUES (1)")             # statement 1

        for part in (
                lambda: one_case(c, s, "serialization failure at COMMIT", ser_setup, "COMMIT",
                                 "40001", 3),
                lambda: one_case(c, s, "PREPARE TRANSACTION, gid in use", gid_setup,
                                 "PREPARE TRANSACTION '%s'" % GID_TAKEN, "42710", 2),
                lambda: one_case(c, s, "PREPARE TRANSACTION after a temporary table", temp_setup,
                                 "PREPARE TRANSACTION 'txg_mem_t'", "0A000", 2)):
            try:
                part()
            except Exception:     # noqa: BLE001 - report, go on with the next part
                traceback.print_exc(file=sys.stdout)
                c.fail("unexpected exception (see traceback above)")
        s.conn.close()
        admin = tp.connect(port=cl.port)
        tp.rows(admin, "COMMIT PREPARED '%s'" % GID_TAKEN)
        admin.close()

        cl.restart(max_prepared_transactions="0")
        s = Session(cl, log)
        try:
            one_case(c, s, "PREPARE TRANSACTION, max_prepared_transactions = 0", gid_setup,
                     "PREPARE TRANSACTION 'txg_mem_off'", "55000", 2)
        except Exception:         # noqa: BLE001
            traceback.print_exc(file=sys.stdout)
            c.fail("unexpected exception (see traceback above)")
        s.conn.close()
        crashes = [ln for ln in log.new().splitlines() if "terminated by signal" in ln]
        c.eq("no backend crashed (server log)", crashes, [])
    finally:
        cl.stop()


run("memory", body)
