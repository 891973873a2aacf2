"""Statement N and its text (test/model/DEFINITION.md) in the extended protocol, fast path, COPY.

psycopg 3.1 (extended protocol: every execute() with parameters is Parse/Bind/Describe/Execute/
Sync), psycopg2 (simple protocol, client-side parameters; large objects through libpq's fast-path
lo_* calls) and COPY FROM STDIN.  Every expectation below is derived from DEFINITION.md and the
statements this file runs; comments count them.  Client-side BEGINs (psycopg 3 and psycopg2
send one before the first statement of a transaction) are never counted.

1. a Parse-time error (undefined table, syntax error, lock_timeout while parse analysis locks
   the table) right after a SELECT whose unnamed portal is still open: the statement being
   prepared, i.e. the next one, with its own text ($1 placeholders);
2. a Bind-time error (parameter 'abc' for an int parameter, or a division by zero while Bind
   plans the unnamed statement): likewise, after an extended-protocol SELECT, after a
   simple-protocol one, and when the named prepared statement was parsed in an earlier
   transaction (Bind without Parse);
4. fast-path calls (psycopg2 lobject): not counted (PostgreSQL runs them without any statement
   event); one that fails takes the next number, text <fast-path function call>
   (libpq's lookup query of the lo_* function OIDs, a statement too, runs in a warm-up
   transaction first);
5. implicit commit at an extended-protocol Sync (autocommit, deferred constraints): the last
   statement executed before the Sync, also in a pipeline of two INSERTs and one Sync;
6. implicit commit of a simple-protocol string: its last statement, with the whole string as text;
7. COPY FROM STDIN: after the bad row the client keeps streaming data that core reads and
   ignores; txguard.idle_in_aborted_transaction_timeout must not fire while it streams, and must
   fire once the client's next command got its 25P02 and the client idles (core's
   idle_in_transaction_session_timeout, the control, behaves the same).
(3., portals read in chunks, is TxguardJdbcOrdinalsTest.java.)
"""
import select
import sys
import time
import traceback

import psycopg
import psycopg.errors
import psycopg2
import psycopg2.errors
from psycopg import pq

from txg_common import CORE_MSG, DUP, HINT, expected_detail, params, run

T = "txg_ord_t"                  # (id int PRIMARY KEY, note text), row id = 1
LOCKED = "txg_ord_locked"        # locked ACCESS EXCLUSIVE by another session in part 1
PARENT = "txg_ord_parent"
CHILD = "txg_ord_child"          # parent_id REFERENCES parent DEFERRABLE INITIALLY DEFERRED
DEFU = "txg_ord_defu"            # u UNIQUE DEFERRABLE INITIALLY DEFERRED, row u = 1
COPYT = "txg_ord_copy"           # (id int, note text)
MISSING_LO = 4242424             # a large object OID that does not exist (checked in setup)
FASTPATH = "<fast-path function call>"
LAST_ABORT = ("SELECT sqlstate, statement, statement_ordinal, in_block, ignored_commands, "
              "ended_by FROM txguard_last_abort()")
IDLE_FATAL = "terminating connection due to idle-in-aborted-transaction timeout"
CORE_IDLE_FATAL = "terminating connection due to idle-in-transaction timeout"

FK_MSG = ('insert or update on table "%s" violates foreign key constraint "%s_parent_id_fkey"'
          % (CHILD, CHILD))
FK_DETAIL = 'Key (parent_id)=(999) is not present in table "%s".' % PARENT
DEFU_MSG = '%s "%s_u_key"' % (DUP, DEFU)


def cause(ordinal, sqlstate, message, statement, detail=None):
    """The DETAIL txguard must put on a 25P02 (DEFINITION.md section 4)."""
    return expected_detail(ordinal, None, detail, statement, sqlstate=sqlstate, message=message)


def raised(fn, *args, **kw):
    """Run fn; return the exception it raised (None if none)."""
    try:
        fn(*args, **kw)
    except Exception as e:       # noqa: BLE001 - the checks look at what was raised
        return e
    return None


def sqlstate_of(err):
    return getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)


def show(label, what, err):
    print("[%s] %s: %s %r\n[%s]   diag.message_detail=%r" % (
        label, what, type(err).__name__ if err else None, str(err) if err else None, label,
        err.diag.message_detail if err is not None and hasattr(err, "diag") else None))


def check_error(c, label, err, sqlstate, what):
    show(label, what, err)
    return c.eq("[%s] %s fails with %s" % (label, what, sqlstate), sqlstate_of(err), sqlstate)


def check_25p02(c, label, err, expected):
    """err: the error of the statement after the cause; expected: the DETAIL it must carry."""
    show(label, "the next statement", err)
    if not c.eq("[%s] the next statement gets 25P02" % label, sqlstate_of(err), "25P02"):
        return
    c.eq("[%s] message is core's" % label, err.diag.message_primary, CORE_MSG)
    c.eq("[%s] DETAIL names the statement and its text" % label, err.diag.message_detail,
         expected)
    c.eq("[%s] HINT" % label, err.diag.message_hint, HINT)


def last_abort3(conn):
    return conn.execute(LAST_ABORT).fetchone()


def last_abort2(conn):
    cur = conn.cursor()
    cur.execute(LAST_ABORT)
    return cur.fetchone()


def setup():
    conn = psycopg2.connect(**params())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("""
        DROP TABLE IF EXISTS {t}, {locked}, {child}, {parent}, {defu}, {copyt};
        CREATE TABLE {t} (id int PRIMARY KEY, note text);
        INSERT INTO {t} VALUES (1, 'one');
        CREATE TABLE {locked} (id int);
        CREATE TABLE {parent} (id int PRIMARY KEY);
        CREATE TABLE {child} (id int PRIMARY KEY,
            parent_id int REFERENCES {parent} DEFERRABLE INITIALLY DEFERRED);
        CREATE TABLE {defu} (u int UNIQUE DEFERRABLE INITIALLY DEFERRED, note text);
        INSERT INTO {defu} VALUES (1, 'one');
        CREATE TABLE {copyt} (id int, note text);
        """.format(t=T, locked=LOCKED, parent=PARENT, child=CHILD, defu=DEFU, copyt=COPYT))
    cur.execute("SELECT count(*) FROM pg_largeobject_metadata WHERE oid = %s", (MISSING_LO,))
    assert cur.fetchone()[0] == 0, "large object %d exists" % MISSING_LO
    conn.close()


# ---------------------------------------------------------------- 1. Parse-time errors
def parse_after_select(c, label, failing, args, exc_state, message, server_text):
    """psycopg 3 in a transaction: SELECT $1::int (statement 1, its unnamed portal stays open),
    then `failing` fails at Parse (statement 2), then a statement that gets the 25P02."""
    conn = psycopg.connect(**params())
    cur = conn.cursor()
    cur.execute("SELECT %s::int", [1])                      # BEGIN; statement 1
    c.eq("[%s] statement 1 (SELECT $1::int) returns its row" % label, cur.fetchone(), (1,))
    err = raised(cur.execute, failing, args)                # statement 2: error at Parse
    check_error(c, label, err, exc_state, "statement 2 (%s)" % server_text)
    err = raised(cur.execute, "SELECT %s::int + 1", [2])    # ignored command
    check_25p02(c, label, err, cause(2, exc_state, message, server_text))
    conn.rollback()
    c.eq("[%s] txguard_last_abort() after ROLLBACK" % label, last_abort3(conn),
         (exc_state, server_text, 2, True, 1, "rollback"))
    conn.close()


def part_parse(c):
    parse_after_select(c, "parse/undefined table",
                       "SELECT * FROM no_such_table WHERE x = %s", [1], "42P01",
                       'relation "no_such_table" does not exist',
                       "SELECT * FROM no_such_table WHERE x = $1")
    parse_after_select(c, "parse/syntax error",
                       "SELECT * FROM WHERE x = %s", [1], "42601",
                       'syntax error at or near "WHERE"',
                       "SELECT * FROM WHERE x = $1")

    # lock_timeout while parse analysis locks the table
    label = "parse/lock_timeout"
    holder = psycopg.connect(**params(application_name="txguard-client-test-lockholder"))
    holder.execute("LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % LOCKED)     # holds it (no commit)
    conn = psycopg.connect(**params(), autocommit=True)
    conn.execute("SET lock_timeout = '100ms'")                             # session level
    conn.autocommit = False
    cur = conn.cursor()
    cur.execute("SELECT %s::int", [1])                                     # BEGIN; statement 1
    c.eq("[%s] statement 1 returns its row" % label, cur.fetchone(), (1,))
    text = "SELECT * FROM %s WHERE id = $1" % LOCKED
    t0 = time.monotonic()
    err = raised(cur.execute, "SELECT * FROM %s WHERE id = %%s" % LOCKED, [1])   # statement 2
    waited = time.monotonic() - t0
    check_error(c, label, err, "55P03", "statement 2 (%s)" % text)
    c.true("[%s] it waited for the lock (lock_timeout = 100ms) and gave up" % label,
           0.09 <= waited < 5, waited)
    err = raised(cur.execute, "SELECT %s::int + 1", [2])
    check_25p02(c, label, err, cause(2, "55P03", "canceling statement due to lock timeout", text))
    conn.rollback()
    c.eq("[%s] txguard_last_abort() after ROLLBACK" % label, last_abort3(conn),
         ("55P03", text, 2, True, 1, "rollback"))
    holder.rollback()
    holder.close()
    conn.close()


# ---------------------------------------------------------------- 2. Bind-time errors
def bind_case(c, conn, label, before, query, args, text, sqlstate, message, context,
              prepare=None):
    """psycopg 3 in a transaction: the statements `before` (each one statement: a
    (query, args) pair, args None for the simple protocol), then `query` fails at Bind: it is
    statement len(before) + 1.  `context` proves the error came from Bind (core's CONTEXT)."""
    ordinal = len(before) + 1
    cur = conn.cursor()
    for q, a in before:                                     # BEGIN; statements 1 .. ordinal-1
        cur.execute(q, a)
    err = raised(cur.execute, query, args, prepare=prepare)  # statement `ordinal`: Bind fails
    check_error(c, label, err, sqlstate, "statement %d (%s) at Bind" % (ordinal, text))
    if context is not None and err is not None and hasattr(err, "diag"):
        c.contains("[%s] the error is raised by Bind (core's CONTEXT)" % label,
                   err.diag.context, context)
    err = raised(cur.execute, "SELECT %s::int + 1", [2])
    check_25p02(c, label, err, cause(ordinal, sqlstate, message, text))
    conn.rollback()
    c.eq("[%s] txguard_last_abort() after ROLLBACK" % label, last_abort3(conn),
         (sqlstate, text, ordinal, True, 1, "rollback"))
    conn.rollback()                  # end the transaction of the txguard_last_abort() query


def part_bind(c):
    # psycopg 3 sends a str parameter untyped (OID 0): parse analysis types $1 as integer from
    # the comparison with id, so 'abc' fails in int4in while Bind converts the parameters
    # (CONTEXT "unnamed portal parameter $1 = '...'").
    text = "SELECT note FROM %s WHERE id = $1" % T
    query = "SELECT note FROM %s WHERE id = %%s" % T
    bad = 'invalid input syntax for type integer: "abc"'
    param_ctx = "unnamed portal parameter $1"
    conn = psycopg.connect(**params())

    # right after an extended-protocol SELECT (its unnamed portal is still open)
    bind_case(c, conn, "bind", [("SELECT %s::int", [1])], query, ["abc"], text, "22P02", bad,
              param_ctx)
    # right after a simple-protocol statement (no portal left open)
    bind_case(c, conn, "bind/after simple protocol", [("SELECT 1", None)], query, ["abc"], text,
              "22P02", bad, param_ctx)
    # an error while Bind plans the unnamed statement: the custom plan folds 1/($1 - 1) with
    # $1 = 1 into a division by zero
    bind_case(c, conn, "bind/planning", [("SELECT %s::int", [1])],
              "SELECT 1/(%s::int - 1) AS q", [1], "SELECT 1/($1::int - 1) AS q", "22012",
              "division by zero", None)

    # the named prepared statement was parsed in an earlier transaction: this transaction sends
    # only Bind/Execute for it, and the Bind fails
    cur = conn.cursor()
    cur.execute(query, ["1"], prepare=True)                   # Parse(named) + Bind + Execute
    c.eq("[bind/prepared earlier] the prepared statement works", cur.fetchone(), ("one",))
    conn.commit()
    bind_case(c, conn, "bind/prepared earlier",
              [("SELECT %s::int", [1]), ("SELECT %s::int * 3", [1])], query, ["abc"], text,
              "22P02", bad, param_ctx, prepare=True)
    conn.close()


# ---------------------------------------------------------------- 4. fast-path calls
def check_fastpath_error(c, label, err, what, server_text):
    """psycopg2 raises a failed lo_* call as a bare OperationalError: libpq's lo_* functions
    discard the PGresult, so there is no SQLSTATE or diag, only the server's text."""
    show(label, what, err)
    c.eq("[%s] %s fails with ERROR: %s" % (label, what, server_text.split("\n")[0]),
         (type(err).__name__, str(err) if err is not None else None),
         ("OperationalError", "ERROR:  %s\n" % server_text))


def part_fastpath(c):
    conn = psycopg2.connect(**params())
    cur = conn.cursor()
    # Warm-up transaction: libpq looks up the lo_* function OIDs with a query on the first large
    # object call of the connection; afterwards every lo_* call is exactly one fast-path call.
    lo = conn.lobject(0, "wb")
    lo.write(b"hello")
    lo.close()
    good = lo.oid
    conn.commit()

    # a. lo_open of a large object that does not exist
    label = "fast-path/lo_open"
    cur.execute("SELECT 1")                                  # BEGIN; statement 1
    lo = conn.lobject(good, "rb")                            # lo_open: not counted
    c.eq("[%s] lo_read works (not counted)" % label, lo.read(5), b"hello")
    err = raised(conn.lobject, MISSING_LO, "rb")             # lo_open fails: statement 2
    check_fastpath_error(c, label, err, "statement 2 (lo_open of %d)" % MISSING_LO,
                         "large object %d does not exist" % MISSING_LO)
    err = raised(cur.execute, "SELECT 2")
    expected = cause(2, "42704", "large object %d does not exist" % MISSING_LO, FASTPATH)
    check_25p02(c, label, err, expected)
    # a fast-path call while aborted is an ignored command too, annotated the same way
    err = raised(lo.read, 1)
    check_fastpath_error(c, label + "/ignored lo_read", err, "lo_read while aborted",
                         CORE_MSG + "\nDETAIL:  " + expected)
    conn.rollback()
    c.eq("[%s] txguard_last_abort() after ROLLBACK" % label, last_abort2(conn),
         ("42704", FASTPATH, 2, True, 2, "rollback"))
    conn.commit()

    # b. read through a descriptor of a large object that was unlinked meanwhile
    #    (lo_unlink closes every descriptor of the object in the transaction)
    label = "fast-path/read after unlink"
    lo = conn.lobject(0, "wb")               # BEGIN; lo_creat, lo_open: not counted
    lo.write(b"abc")                         # lo_write: not counted
    lo2 = conn.lobject(lo.oid, "rb")         # lo_open (descriptor 1): not counted
    lo.unlink()                              # lo_close, lo_unlink: not counted
    err = raised(lo2.read, 1)                # lo_read fails: statement 1
    check_fastpath_error(c, label, err, "statement 1 (lo_read)",
                         "invalid large-object descriptor: 1")
    err = raised(cur.execute, "SELECT 3")
    check_25p02(c, label, err, cause(1, "42704", "invalid large-object descriptor: 1", FASTPATH))
    conn.rollback()
    c.eq("[%s] txguard_last_abort() after ROLLBACK" % label, last_abort2(conn),
         ("42704", FASTPATH, 1, True, 1, "rollback"))
    conn.close()


# ---------------------------------------------------------------- 5. implicit commit at a Sync
def part_sync_commit(c):
    conn = psycopg.connect(**params(), autocommit=True)
    conn.execute("SET txguard.track = 'all'")      # superuser: keep implicit aborts in the history
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]

    # a. deferred UNIQUE: the INSERT succeeds, the check fails when Sync commits
    label = "sync/deferred unique"
    text = "INSERT INTO %s (u, note) VALUES ($1, 'again')" % DEFU
    err = raised(conn.execute, "INSERT INTO %s (u, note) VALUES (%%s, 'again')" % DEFU, [1])
    check_error(c, label, err, "23505", "the autocommit INSERT (at its Sync)")
    c.eq("[%s] txguard_last_abort()" % label, last_abort3(conn),
         ("23505", text, 1, False, 0, "implicit"))
    row = conn.execute("SELECT statement, statement_ordinal, in_block, ended_by"
                       " FROM txguard_abort_history(%s) ORDER BY seq DESC LIMIT 1",
                       [pid]).fetchone()
    c.eq("[%s] the history row (txguard.track = all)" % label, row, (text, 1, False, "implicit"))

    # b. deferred foreign key
    label = "sync/deferred fk"
    text = "INSERT INTO %s (id, parent_id) VALUES ($1, $2)" % CHILD
    err = raised(conn.execute, "INSERT INTO %s (id, parent_id) VALUES (%%s, %%s)" % CHILD,
                 [51, 999])
    check_error(c, label, err, "23503", "the autocommit INSERT (at its Sync)")
    if err is not None and hasattr(err, "diag"):
        c.eq("[%s] it is the deferred FK check" % label,
             (err.diag.message_primary, err.diag.message_detail), (FK_MSG, FK_DETAIL))
    c.eq("[%s] txguard_last_abort()" % label, last_abort3(conn),
         ("23503", text, 1, False, 0, "implicit"))

    # d. the text comes from the session's activity, which PostgreSQL cuts at
    #    track_activity_query_size - 1 bytes (1023 here): a statement behind a
    #    long comment and after blank lines is named by what is left of it, the
    #    blank lines removed, not trimmed away as an unterminated comment
    label = "sync/cut activity text"
    comment = "/* " + "padding \u2603 " * 110 + "*/"
    sql = "\n" * 8 + comment + " INSERT INTO %s (id, parent_id) VALUES (%%s, %%s)" % CHILD
    sent = sql.replace("%s", "$1", 1).replace("%s", "$2", 1)
    cut = sent.encode()[:1023].decode("utf-8", "ignore").strip()
    err = raised(conn.execute, sql, [52, 999])
    check_error(c, label, err, "23503", "the autocommit INSERT (at its Sync)")
    c.eq("[%s] txguard_last_abort(): the activity text, cut" % label, last_abort3(conn),
         ("23503", cut, 1, False, 0, "implicit"))

    conn.close()

    # c. pipeline: two INSERTs, one Sync; the deferred violation is raised at the Sync.
    #    libpq's own pipeline mode (through psycopg.pq), so that reading the results does not
    #    depend on how a driver handles an error that comes with the Sync.
    label = "sync/pipeline"
    first = "INSERT INTO %s (u, note) VALUES ($1, 'pipeline first')" % DEFU
    second = "INSERT INTO %s (u, note) VALUES ($1, 'pipeline second')" % DEFU
    conninfo = " ".join("%s=%s" % (k, v) for k, v in params().items() if v is not None)
    pg = pq.PGconn.connect(conninfo.encode())
    c.eq("[%s] raw libpq connection" % label, pg.status, pq.ConnStatus.OK)
    pg.enter_pipeline_mode()
    pg.send_query_params(first.encode(), [b"7"])          # statement 1
    pg.send_query_params(second.encode(), [b"7"])         # statement 2 (u = 7 twice: deferred)
    pg.pipeline_sync()                                    # the implicit commit fails here
    statuses, errors = [], []
    while True:
        r = pg.get_result()
        if r is None:
            continue                                      # end of one query's results
        statuses.append(r.status)
        if r.status == pq.ExecStatus.FATAL_ERROR:
            errors.append((r.error_field(pq.DiagnosticField.SQLSTATE).decode(),
                           r.error_field(pq.DiagnosticField.MESSAGE_PRIMARY).decode(),
                           r.error_field(pq.DiagnosticField.MESSAGE_DETAIL).decode()))
        if r.status == pq.ExecStatus.PIPELINE_SYNC:
            break
    pg.exit_pipeline_mode()
    c.eq("[%s] both INSERTs ran, then the Sync's commit failed" % label,
         [pq.ExecStatus(s).name for s in statuses],
         ["COMMAND_OK", "COMMAND_OK", "FATAL_ERROR", "PIPELINE_SYNC"])
    c.eq("[%s] it is the deferred unique check" % label, errors,
         [("23505", DEFU_MSG, "Key (u)=(7) already exists.")])
    r = pg.exec_(("SELECT count(*) FROM %s WHERE u = 7" % DEFU).encode())
    c.eq("[%s] nothing of the pipeline was committed" % label, r.get_value(0, 0), b"0")
    r = pg.exec_(LAST_ABORT.encode())
    c.eq("[%s] txguard_last_abort(): statement 2, the second INSERT's text" % label,
         tuple(r.get_value(0, i) for i in range(6)),
         (b"23505", second.encode(), b"2", b"f", b"0", b"implicit"))
    pg.finish()


# ---------------------------------------------------------------- 6. implicit commit, simple protocol
def part_simple_commit(c):
    conn = psycopg2.connect(**params())
    conn.autocommit = True
    cur = conn.cursor()
    for label, tail, pid in (("simple commit", ";  ", 61),
                             ("simple commit/trailing comment", "; -- done\n", 62)):
        query = "INSERT INTO %s (id, parent_id) VALUES (%%s, 999); SELECT 'x'%s" % (CHILD, tail)
        text = "INSERT INTO %s (id, parent_id) VALUES (%d, 999); SELECT 'x'" % (CHILD, pid)
        err = raised(cur.execute, query, (pid,))
        check_error(c, label, err, "23503", "the autocommit two-statement string")
        if err is not None and hasattr(err, "diag"):
            c.eq("[%s] it is the deferred FK check" % label,
                 (err.diag.message_primary, err.diag.message_detail), (FK_MSG, FK_DETAIL))
        c.eq("[%s] txguard_last_abort(): statement 2, the whole string" % label,
             last_abort2(conn), ("23503", text, 2, False, 0, "implicit"))
    conn.close()


# ---------------------------------------------------------------- 7. COPY and the idle timeout
class SlowCopyData:
    """File-like object for psycopg2's copy_expert: a bad row first, then valid rows, one chunk
    every `interval` seconds for `seconds`.  Each chunk is over 8 kB, so libpq sends it at once
    (it buffers CopyData up to 8 kB)."""

    def __init__(self, seconds, interval, on_chunk=None):
        self.left = int(round(seconds / interval))
        self.interval = interval
        self.first = True
        self.on_chunk = on_chunk
        self.n = 0
        self.started = self.ended = None

    def rows(self):
        out = []
        for _ in range(80):
            self.n += 1
            out.append("%d\t%s\n" % (self.n, "v" * 100))
        return "".join(out)

    def read(self, size=-1):
        if self.first:
            self.first = False
            self.started = time.monotonic()
            return "bad\tthe first row is not an integer\n" + self.rows()
        if self.left <= 0:
            if self.ended is None:
                self.ended = time.monotonic()
            return ""
        time.sleep(self.interval)
        self.left -= 1
        if self.on_chunk:
            self.on_chunk(self.left)
        return self.rows()


def wait_readable(conn, limit, since):
    """Seconds from `since` (a time.monotonic() taken before the command whose end arms a
    timeout was sent, so that the span encloses the timer) until the server speaks on conn's
    socket, or None after `limit` seconds."""
    r, _, _ = select.select([conn.fileno()], [], [], limit)
    return (time.monotonic() - since) if r else None


def copy_case(c, label, setting, fatal_msg):
    monitor = psycopg2.connect(**params(application_name="txguard-client-test-monitor"))
    monitor.autocommit = True
    mcur = monitor.cursor()
    conn = psycopg2.connect(**params())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(setting)                                   # session level, outside the block
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    conn.autocommit = False

    seen = {}

    def on_chunk(left):
        if left == 4:                                      # about 2 s into the stream
            mcur.execute("SELECT state FROM pg_stat_activity WHERE pid = %s", (pid,))
            row = mcur.fetchone()
            seen["state"] = row[0] if row else None
            mcur.execute("SELECT statement FROM txguard_aborted_sessions WHERE pid = %s", (pid,))
            row = mcur.fetchone()
            seen["aborted"] = row[0] if row else None

    text = "COPY %s FROM STDIN" % COPYT
    cur.execute("SELECT count(*) FROM %s" % COPYT)         # BEGIN; statement 1
    data = SlowCopyData(3.0, 0.3, on_chunk)
    err = raised(cur.copy_expert, text, data)              # statement 2, fails on its row 1
    streamed = (data.ended or time.monotonic()) - (data.started or time.monotonic())
    print("[%s] streamed COPY data for %.2f s after the bad row; monitor saw %r"
          % (label, streamed, seen))
    check_error(c, label, err, "22P02", "COPY (its first row)")
    c.true("[%s] the client streamed for > 2.5 s (timeout 1 s)" % label, streamed > 2.5, streamed)
    c.eq("[%s] while streaming, the backend was idle in the aborted block" % label,
         (seen.get("state"), seen.get("aborted")), ("idle in transaction (aborted)", text))
    c.true("[%s] the session was not terminated while the client streamed" % label,
           isinstance(err, psycopg2.errors.InvalidTextRepresentation) and conn.closed == 0,
           (repr(err), conn.closed))
    mcur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
    c.eq("[%s] the backend is still there after the stream" % label, mcur.fetchone()[0], 1)

    sent = time.monotonic()
    err = raised(cur.execute, "SELECT 1")                  # ignored command: 25P02
    check_25p02(c, label, err,
                cause(2, "22P02", 'invalid input syntax for type integer: "bad"', text))
    # from before the command whose end starts the 1 s clock: >= 1 s however late the 25P02
    # reached the client; 10 s only says "it fires"
    waited = wait_readable(conn, 10, sent)
    print("[%s] server spoke %s s after the 25P02 was sent" % (label, waited))
    c.true("[%s] then the session is terminated after 1 s idle (not before, within 10 s)" % label,
           waited is not None and 1.0 <= waited < 10, waited)
    try:
        conn.poll()      # libpq reads the FATAL that arrived while idle (reported as a notice)
    except psycopg2.Error as e:
        print("[%s] conn.poll() raised %r" % (label, e))
    shown = "".join(conn.notices)
    print("[%s] psycopg2 conn.notices: %r" % (label, conn.notices))
    c.contains("[%s] the FATAL names the COPY" % label, shown, "FATAL:  " + fatal_msg + "\n",
               "The transaction was aborted by an earlier error in statement 2: ERROR 22P02: "
               'invalid input syntax for type integer: "bad" Statement: ' + text)
    err = raised(cur.execute, "SELECT 1")
    c.true("[%s] next execute raises OperationalError, connection closed" % label,
           isinstance(err, psycopg2.OperationalError) and conn.closed != 0,
           (repr(err), conn.closed))
    deadline = time.monotonic() + 60                       # a poll: only a stuck backend waits long
    while time.monotonic() < deadline:
        mcur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
        if mcur.fetchone()[0] == 0:
            break
        time.sleep(0.1)
    mcur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,))
    c.eq("[%s] the backend is gone" % label, mcur.fetchone()[0], 0)
    conn.close()
    monitor.close()


def part_copy(c):
    copy_case(c, "copy/txguard timeout",
              "SET txguard.idle_in_aborted_transaction_timeout = '1s'", IDLE_FATAL)
    # control: core's own idle-in-transaction timeout treats the stream the same way
    copy_case(c, "copy/core timeout (control)",
              "SET idle_in_transaction_session_timeout = '1s'", CORE_IDLE_FATAL)


def body(c):
    setup()
    for part in (part_parse, part_bind, part_fastpath, part_sync_commit, part_simple_commit,
                 part_copy):
        try:
            part(c)
        except Exception:        # noqa: BLE001 - report and go on with the next part
            traceback.print_exc(file=sys.stdout)
            c.fail("%s: unexpected exception (see traceback above)" % part.__name__)


run("ordinals", body)
