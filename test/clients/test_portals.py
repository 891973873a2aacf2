"""Portals and statement N, at the protocol level (raw v3 messages, test/model/pgproto.py).

A portal is one statement however many Executes read it, and any number of portals can be
read in chunks at once (1.1 kept a table of 8: a later chunk of a portal pushed out of it
counted as a new statement).  An Execute of a portal that already returned all its rows runs
nothing (the server answers "SELECT 0") and is not a statement, whatever row limit its first
Execute had.

A WITH HOLD cursor materialised at COMMIT is no statement of its own: an error then is the
COMMIT's (1.1 counted it as a new statement, in a one-string BEGIN; DECLARE; COMMIT and in
autocommit).

Each transaction opens its block with a simple-protocol BEGIN (not a statement), and the
cause is checked twice: in the DETAIL of the 25P02 that the next statement gets, and in
txguard_last_abort() after ROLLBACK.
"""
import sys
import traceback

import txg_proto as tp
from txg_common import CORE_MSG, expected_detail, run

N_PORTALS = 12
DIV0 = "division by zero"


def portal_sql(i):
    # 60/(7 - g): rows g = 1..6 (10, 12, 15, 20, 30, 60), division by zero at g = 7
    return "SELECT 60/(7 - g) AS p%d FROM generate_series(1, 10) g" % i


def check_cause(c, conn, label, ordinal, statement, sqlstate="22012", message=DIV0):
    """The block is aborted by statement `ordinal`: check the 25P02 and, after ROLLBACK,
    txguard_last_abort()."""
    _, err = tp.query(conn, "SELECT 'next'")
    want = expected_detail(ordinal, None, None, statement, sqlstate=sqlstate, message=message)
    c.eq("[%s] the next statement gets 25P02 naming statement %d" % (label, ordinal),
         (err.sqlstate, err.fields.get("M"), err.fields.get("D")) if err else None,
         ("25P02", CORE_MSG, want))
    tp.rows(conn, "ROLLBACK")
    c.eq("[%s] txguard_last_abort() after ROLLBACK: ordinal %d and its text" % (label, ordinal),
         tp.rows(conn, "SELECT statement_ordinal, statement, sqlstate FROM txguard_last_abort()"),
         [[str(ordinal), statement, sqlstate]])


def open_chunked(c, conn, label):
    """BEGIN; portals p1..p12 (statements 1..12), each read 2 rows at a time, twice, in one
    pipeline: the first chunk of every portal, then the second of every portal."""
    tp.rows(conn, "BEGIN")
    msgs = b"".join(tp.msg_parse("s%d" % i, portal_sql(i)) + tp.msg_bind("p%d" % i, "s%d" % i) +
                    tp.msg_execute("p%d" % i, 2) for i in range(1, N_PORTALS + 1))
    msgs += b"".join(tp.msg_execute("p%d" % i, 2) for i in range(1, N_PORTALS + 1))
    events = tp.sync(conn, msgs)
    c.eq("[%s] %d portals, two chunks of 2 rows each: %d rows, %d PortalSuspended, no error"
         % (label, N_PORTALS, 4 * N_PORTALS, 2 * N_PORTALS),
         (len(tp.simple_rows(events)), tp.kinds(events).count("suspended"), tp.err_of(events)),
         (4 * N_PORTALS, 2 * N_PORTALS, None))


def connect():
    # a session per case: the named statements s1..s12 are the session's
    return tp.connect(application_name="txguard-test-portals")


def part_many_portals(c):
    label = "12 chunked portals, the first one fails"
    conn = connect()
    open_chunked(c, conn, label)
    events = tp.sync(conn, tp.extended("", "SELECT 13"))                 # statement 13
    c.eq("[%s] statement 13 (SELECT 13) runs" % label, tp.simple_rows(events), [["13"]])
    events = tp.sync(conn, tp.msg_execute("p1", 10))                     # p1's third chunk
    c.eq("[%s] p1's third chunk returns 2 rows, then fails" % label,
         (tp.simple_rows(events), tp.err_of(events)), ([["30"], ["60"]], ("22012", DIV0)))
    check_cause(c, conn, label, 1, portal_sql(1))

    conn.close()

    label = "12 chunked portals, the last one fails"
    conn = connect()
    open_chunked(c, conn, label)
    events = tp.sync(conn, tp.msg_execute("p%d" % N_PORTALS, 10))
    c.eq("[%s] p%d's third chunk returns 2 rows, then fails" % (label, N_PORTALS),
         (tp.simple_rows(events), tp.err_of(events)), ([["30"], ["60"]], ("22012", DIV0)))
    check_cause(c, conn, label, N_PORTALS, portal_sql(N_PORTALS))

    conn.close()

    label = "12 chunked portals, then a new statement fails"
    conn = connect()
    open_chunked(c, conn, label)
    events = tp.sync(conn, tp.msg_execute("p3", 1) + tp.msg_execute("p7", 1))  # more chunks
    c.eq("[%s] one more chunk of p3 and p7" % label, tp.simple_rows(events), [["30"], ["30"]])
    failing = "SELECT 1/(0 * $1::int)"
    events = tp.sync(conn, tp.extended("", failing, ["1"]))             # statement 13
    c.eq("[%s] statement 13 fails" % label, tp.err_of(events), ("22012", DIV0))
    check_cause(c, conn, label, N_PORTALS + 1, failing)
    conn.close()


def part_finished_portal(c):
    """A portal of 3 rows read to its end, then executed twice more: not statements."""
    sql = "SELECT g FROM generate_series(1, 3) g"
    for first_limit, how in ((0, "no row limit"), (100, "row limit 100"),
                             (3, "row limit 3 (suspended at the last row)")):
        label = "finished portal, first Execute with %s" % how
        conn = connect()
        tp.rows(conn, "BEGIN")
        events = tp.sync(conn, tp.msg_parse("fin", sql) + tp.msg_bind("pf", "fin") +
                         tp.msg_execute("pf", first_limit))              # statement 1
        ends = [e.tag if e.kind == "complete" else e.kind for e in events
                if e.kind in ("complete", "suspended")]
        c.eq("[%s] statement 1 returns its 3 rows" % label,
             (len(tp.simple_rows(events)), ends),
             (3, ["suspended"] if first_limit == 3 else ["SELECT 3"]))
        if first_limit == 3:
            # the Execute that finds the end is still the same statement
            events = tp.sync(conn, tp.msg_execute("pf", first_limit))
            c.eq("[%s] the next Execute reaches the end (SELECT 0)" % label,
                 [e.tag for e in events if e.kind == "complete"], ["SELECT 0"])
        for k in (1, 2):
            events = tp.sync(conn, tp.msg_execute("pf", first_limit))
            c.eq("[%s] Execute of the finished portal, again (%d): runs nothing" % (label, k),
                 ([e.tag for e in events if e.kind == "complete"], tp.simple_rows(events)),
                 (["SELECT 0"], []))
        _, err = tp.query(conn, "SELECT 1/0")                            # statement 2
        c.eq("[%s] statement 2 fails" % label, err and err.sqlstate, "22012")
        check_cause(c, conn, label, 2, "SELECT 1/0")
        conn.close()


def part_with_hold(c):
    """A WITH HOLD cursor is materialised by COMMIT, under a portal of its own: an error then
    is the COMMIT's (at_commit), or at an implicit commit the statement's that committed."""
    decl = "DECLARE hc CURSOR WITH HOLD FOR SELECT 1/(g - 3) FROM generate_series(1, 5) g"
    conn = connect()
    for label, run_it, want in (
            ("WITH HOLD, COMMIT after it",
             lambda: (tp.rows(conn, "BEGIN"), tp.rows(conn, decl), tp.query(conn, "COMMIT")[1]),
             ["2", "COMMIT", "t"]),
            ("WITH HOLD, BEGIN; DECLARE; COMMIT in one string",
             lambda: (tp.query(conn, "BEGIN; %s; COMMIT" % decl)[1],), ["2", "COMMIT", "t"]),
            ("WITH HOLD, COMMIT through the extended protocol",
             lambda: (tp.rows(conn, "BEGIN"), tp.rows(conn, decl),
                      tp.first_error(tp.sync(conn, tp.extended("", "COMMIT")))),
             ["2", "COMMIT", "t"]),
            ("WITH HOLD, autocommit DECLARE", lambda: (tp.query(conn, decl)[1],),
             ["1", decl, "t"])):
        err = run_it()[-1]
        c.eq("[%s] the cursor's materialisation fails at commit" % label,
             err and err.sqlstate, "22012")
        c.eq("[%s] txguard_last_abort(): ordinal, statement, at_commit" % label,
             tp.rows(conn, "SELECT statement_ordinal, statement, at_commit"
                           " FROM txguard_last_abort()"), [want])
    conn.close()


def body(c):
    for part in (part_many_portals, part_finished_portal, part_with_hold):
        try:
            part(c)
        except Exception:      # noqa: BLE001 - report it and go on with the next part
            traceback.print_exc(file=sys.stdout)
            c.fail("%s: unexpected exception (see traceback above)" % part.__name__)


run("portals", body)
