"""The role of an abort record is the role the client was acting as when the statement started
(the session user, or the SET ROLE / SET SESSION AUTHORIZATION role), never the owner of a
SECURITY DEFINER function running inside it.

txg_alice owns SECURITY DEFINER functions that raise a custom SQLSTATE when given 42; txg_bob
calls them in a transaction block (BEGIN; SELECT 1; <the failing statement, statement 2>;
ROLLBACK).  The error is raised while the function runs as txg_alice:

  plan time   IMMUTABLE function with a constant argument, folded by the planner (simple
              protocol);
  execution   VOLATILE function (simple protocol);
  Bind        unnamed prepared statement with the IMMUTABLE function of $1: Bind plans it
              with the bound value and folds the call, so Bind raises the error;
  fast path   FunctionCall message (libpq's PQfn) of the VOLATILE function;
  SET ROLE    txg_carol (a member of txg_bob) logs in, SET ROLE txg_bob, plan-time case;
  SET SESSION AUTHORIZATION  a superuser session becomes txg_bob, Bind case;
  superuser-owned function   txg_bob calls an IMMUTABLE SECURITY DEFINER function of the
              superuser, plan-time case.

Each case raises its own SQLSTATE (TXR01..TXR07).  For each: the caller's
txguard_last_abort() is txg_bob's, with its texts; in txguard_aborts txg_alice (the function's
owner) sees the row as txg_bob's with the texts and the query id hidden, txg_bob sees them,
and a member of pg_read_all_stats sees them; txguard_stats counts the abort under txg_bob and
never under txg_alice (or the superuser).  txg_bob and txg_carol run with compute_query_id = on
(ALTER ROLE), so that their statements have query ids to hide.
"""
import sys
import traceback

import txg_proto as tp
from txg_common import CORE_MSG, run

ALICE, BOB, CAROL, READER = "txg_alice", "txg_bob", "txg_carol", "txg_stats_reader"
SCHEMA = "txg_roles"
MSG = "check 42 failed"


def setup():
    conn = tp.connect()
    for sql in (
            "DROP SCHEMA IF EXISTS %s CASCADE" % SCHEMA,
            "DROP ROLE IF EXISTS %s, %s, %s, %s" % (CAROL, BOB, ALICE, READER),
            "CREATE ROLE %s LOGIN" % ALICE,
            "CREATE ROLE %s LOGIN" % BOB,
            "CREATE ROLE %s LOGIN IN ROLE %s" % (CAROL, BOB),
            "CREATE ROLE %s LOGIN IN ROLE pg_read_all_stats" % READER,
            "ALTER ROLE %s SET compute_query_id = on" % BOB,
            "ALTER ROLE %s SET compute_query_id = on" % CAROL,
            "CREATE SCHEMA %s AUTHORIZATION %s" % (SCHEMA, ALICE),
            "GRANT USAGE ON SCHEMA %s TO PUBLIC" % SCHEMA,
            "SET ROLE %s" % ALICE,
            """CREATE FUNCTION {s}.chk_imm(i int, code text) RETURNS int LANGUAGE plpgsql
               IMMUTABLE SECURITY DEFINER AS $$BEGIN
                 IF i = 42 THEN RAISE EXCEPTION 'check % failed', i USING ERRCODE = code; END IF;
                 RETURN i; END$$""".format(s=SCHEMA),
            """CREATE FUNCTION {s}.chk_vol(i int, code text) RETURNS int LANGUAGE plpgsql
               VOLATILE SECURITY DEFINER AS $$BEGIN
                 IF i = 42 THEN RAISE EXCEPTION 'check % failed', i USING ERRCODE = code; END IF;
                 RETURN i; END$$""".format(s=SCHEMA),
            "RESET ROLE",
            """CREATE FUNCTION {s}.chk_su(i int, code text) RETURNS int LANGUAGE plpgsql
               IMMUTABLE SECURITY DEFINER AS $$BEGIN
                 IF i = 42 THEN RAISE EXCEPTION 'check % failed', i USING ERRCODE = code; END IF;
                 RETURN i; END$$""".format(s=SCHEMA),
            "ALTER FUNCTION {s}.chk_su(int, text) OWNER TO postgres".format(s=SCHEMA)):
        tp.rows(conn, sql)
    oid = tp.rows(conn, "SELECT '%s.chk_vol(int, text)'::regprocedure::oid" % SCHEMA)[0][0]
    conn.close()
    return int(oid)


def simple_failing(sql):
    def fail(conn):
        _, err = tp.query(conn, sql)
        return err
    return fail, sql


def bind_failing(sql, params):
    def fail(conn):
        events = tp.sync(conn, tp.extended("", sql, params))
        # parse_complete, then the error: Bind raised it
        return (tp.first_error(events) if tp.kinds(events)[:2] == ["parse_complete", "error"]
                else "not raised by Bind: %r" % events)
    return fail, sql


def fastpath_failing(oid, args):
    def fail(conn):
        conn.send(tp.msg_function_call(oid, args))
        return tp.first_error(conn.read_until_ready())
    return fail, "<fast-path function call>"


def check_case(c, label, code, login, prelude, failing, has_queryid):
    """login: the user the session logs in as; prelude: statements run before BEGIN."""
    fail, text = failing
    conn = tp.connect(user=login, application_name="txguard-test-roles")
    pid = conn.pid
    for sql in prelude:
        tp.rows(conn, sql)
    c.eq("[%s] current_user when the statement starts" % label,
         tp.rows(conn, "SELECT current_user")[0][0], BOB)
    tp.rows(conn, "BEGIN")
    tp.rows(conn, "SELECT 1")                                          # statement 1
    err = fail(conn)                                                   # statement 2
    got = (err.sqlstate, err.fields.get("M")) if hasattr(err, "sqlstate") else err
    c.eq("[%s] statement 2 fails inside the function, with %s" % (label, code), got, (code, MSG))
    _, nxt = tp.query(conn, "SELECT 'next'")
    c.eq("[%s] the caller's next statement gets 25P02 naming statement 2" % label,
         nxt and (nxt.sqlstate, nxt.fields.get("M"), nxt.fields.get("D")),
         ("25P02", CORE_MSG, "The transaction was aborted by an earlier error in statement 2:"
          " ERROR %s: %s Statement: %s" % (code, MSG, text)))
    tp.rows(conn, "ROLLBACK")
    c.eq("[%s] the caller's txguard_last_abort(): %s's, with its texts" % (label, BOB),
         tp.rows(conn, "SELECT usename, sqlstate, statement_ordinal, statement, message"
                       " FROM txguard_last_abort()"),
         [[BOB, code, "2", text, MSG]])
    conn.close()

    q = ("SELECT usename, statement, message FROM txguard_aborts"
         " WHERE pid = %d AND sqlstate = '%s'" % (pid, code))
    qid = ("SELECT queryid IS NOT NULL FROM txguard_aborts WHERE pid = %d AND sqlstate = '%s'"
           % (pid, code))
    for reader, want, qid_shown, why in (
            (ALICE, [[BOB, None, None]], False, "the function's owner: %s's row, texts hidden"
             % BOB),
            (BOB, [[BOB, text, MSG]], has_queryid, "the caller: its own row, with texts"),
            (READER, [[BOB, text, MSG]], has_queryid, "pg_read_all_stats: texts")):
        rc = tp.connect(user=reader, application_name="txguard-test-roles-reader")
        c.eq("[%s] txguard_aborts as %s (%s)" % (label, reader, why), tp.rows(rc, q), want)
        if has_queryid:
            c.eq("[%s] txguard_aborts as %s: query id %s" % (
                label, reader, "shown" if qid_shown else "hidden (NULL), as pg_stat_statements"
                " hides other roles' query ids"), tp.rows(rc, qid), [["t" if qid_shown else "f"]])
        rc.close()
    admin = tp.connect()
    c.eq("[%s] txguard_stats counts it under %s only (not %s, %s or postgres)"
         % (label, BOB, ALICE, CAROL),
         tp.rows(admin, "SELECT usename, aborts FROM txguard_stats WHERE sqlstate = '%s'"
                        " AND usename IN ('%s', '%s', '%s', 'postgres') ORDER BY usename"
                        % (code, ALICE, BOB, CAROL)),
         [[BOB, "1"]])
    admin.close()


def body(c):
    vol_oid = setup()
    s = SCHEMA
    cases = [
        ("plan time (IMMUTABLE, folded)", "TXR01", BOB, [],
         simple_failing("SELECT 'secret', %s.chk_imm(42, 'TXR01')" % s), True),
        ("execution (VOLATILE)", "TXR02", BOB, [],
         simple_failing("SELECT 'secret', %s.chk_vol(42, 'TXR02')" % s), True),
        ("Bind (custom plan folds the IMMUTABLE call)", "TXR03", BOB, [],
         bind_failing("SELECT 'secret', %s.chk_imm($1::int, 'TXR03')" % s, ["42"]), True),
        ("fast path (FunctionCall)", "TXR04", BOB, [],
         fastpath_failing(vol_oid, ["42", "TXR04"]), False),
        ("SET ROLE, plan time", "TXR05", CAROL, ["SET ROLE %s" % BOB],
         simple_failing("SELECT 'secret', %s.chk_imm(42, 'TXR05')" % s), True),
        ("SET SESSION AUTHORIZATION, Bind", "TXR06", "postgres",
         ["SET compute_query_id = on", "SET SESSION AUTHORIZATION %s" % BOB],
         bind_failing("SELECT 'secret', %s.chk_imm($1::int, 'TXR06')" % s, ["42"]), True),
        ("superuser-owned function, plan time", "TXR07", BOB, [],
         simple_failing("SELECT 'secret', %s.chk_su(42, 'TXR07')" % s), True),
    ]
    for label, code, login, prelude, failing, has_queryid in cases:
        try:
            check_case(c, label, code, login, prelude, failing, has_queryid)
        except Exception:      # noqa: BLE001 - report it and go on with the next case
            traceback.print_exc(file=sys.stdout)
            c.fail("[%s] unexpected exception (see traceback above)" % label)


run("roles", body)
