"""Query ids are core's, next to pg_stat_statements (and auto_explain, pgaudit) whatever the
order of shared_preload_libraries.

The test runs a cluster of its own (compute_query_id = on, pg_stat_statements.track_utility =
on, the default) four times, restarted with

  pg_stat_statements, txguard                        pg_stat_statements before txguard
  txguard, pg_stat_statements                        ... after it
  pg_stat_statements, auto_explain, pgaudit, txguard  with auto_explain logging every plan
  txguard, pgaudit, auto_explain, pg_stat_statements  (ANALYZE) and pgaudit.log = all

and in each makes statements fail, simple and extended protocol, and compares
txguard_last_abort().queryid with the oracle:

  optimizable statements: EXPLAIN (VERBOSE)'s "Query Identifier" of the same statement (the
    extended-protocol one explained through the extended protocol, with the same parameter);
  EXECUTE of a PREPAREd statement: EXPLAIN (VERBOSE) EXECUTE's "Query Identifier", the id
    under which pg_stat_statements counts its executions;
  utility statements (CALL, DO, EXPLAIN ANALYZE, SAVEPOINT, COMMIT, PREPARE TRANSACTION):
    the queryid pg_stat_statements records for the same statement text, run successfully the
    same way first (a utility statement's id is computed from its text).

A CALL, DO or EXPLAIN ANALYZE fails when the session sets txq.fail = on; SAVEPOINT fails
outside a transaction block (25P01); COMMIT fails on a deferred unique constraint (23505);
PREPARE TRANSACTION fails after using a temporary table (0A000).  The failing EXECUTE and a
PREPARE of a taken name (42P05) must also have the same, non-NULL id in all four orders (an id
pg_stat_statements clears in its hooks is NULL in some orders otherwise).
"""
import sys
import traceback

import txg_proto as tp
from txg_cluster import Cluster
from txg_common import run

CONFIGS = [
    ("pg_stat_statements before txguard", "pg_stat_statements, txguard"),
    ("pg_stat_statements after txguard", "txguard, pg_stat_statements"),
    ("with auto_explain and pgaudit, txguard last",
     "pg_stat_statements, auto_explain, pgaudit, txguard"),
    ("with auto_explain and pgaudit, txguard first",
     "txguard, pgaudit, auto_explain, pg_stat_statements"),
]

# Checks the lead has to decide on: label part -> why (reported as XFAIL while they fail).
EXPECTED_TO_FAIL = {}

SETUP = [
    "CREATE EXTENSION txguard",
    "CREATE EXTENSION pg_stat_statements",
    "CREATE TABLE txq_t (id int)",
    "INSERT INTO txq_t VALUES (1)",
    "CREATE TABLE txq_d (u int UNIQUE DEFERRABLE INITIALLY DEFERRED)",
    "INSERT INTO txq_d VALUES (1)",
    """CREATE FUNCTION txq_check() RETURNS int LANGUAGE plpgsql AS $$BEGIN
         IF current_setting('txq.fail', true) = 'on' THEN RAISE EXCEPTION 'txq failed'; END IF;
         RETURN 1; END$$""",
    "CREATE PROCEDURE txq_proc() LANGUAGE plpgsql AS $$BEGIN PERFORM txq_check(); END$$",
]

DO = "DO $$BEGIN PERFORM txq_check(); END$$"
EXPLAIN_ANALYZE = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) SELECT txq_check()"


def explain_id(conn, sql, params=None):
    """EXPLAIN (VERBOSE)'s Query Identifier of sql (extended protocol if params is a list)."""
    text = "EXPLAIN (VERBOSE) " + sql
    if params is None:
        rows, err = tp.query(conn, text)
    else:
        events = tp.sync(conn, tp.extended("", text, params))
        rows, err = tp.simple_rows(events), tp.first_error(events)
    if err is not None:
        raise RuntimeError("%s: %s" % (text, tp.err_of([err])))
    ids = [r[0].split(":", 1)[1].strip() for r in rows if r[0].strip().startswith("Query Identifier:")]
    return ids[0] if ids else None


def pgss_id(conn, text):
    rows = tp.rows(conn, "SELECT queryid FROM pg_stat_statements WHERE query = $q$%s$q$" % text)
    return rows[0][0] if len(rows) == 1 else ("%d rows" % len(rows) if rows else None)


def run_ok(conn, sql, extended):
    if extended:
        events = tp.sync(conn, tp.extended("", sql))
        err = tp.first_error(events)
    else:
        _, err = tp.query(conn, sql)
    if err is not None:
        raise RuntimeError("%s: %s" % (sql, tp.err_of([err])))


def run_failing(conn, sql, extended, params=()):
    if extended:
        return tp.first_error(tp.sync(conn, tp.extended("", sql, params)))
    _, err = tp.query(conn, sql)
    return err


def txguard_id(conn):
    rows = tp.rows(conn, "SELECT queryid, statement FROM txguard_last_abort()")
    return rows[0] if rows else [None, None]


def check(c, cfg, label, sqlstate, err, got, oracle, oracle_name):
    lab = "[%s] %s" % (cfg, label)
    c.eq("%s fails with %s" % (lab, sqlstate), err and err.sqlstate, sqlstate)
    if oracle is None:
        c.fail("%s: the oracle (%s) has no id" % (lab, oracle_name))
        return
    why = next((w for k, w in EXPECTED_TO_FAIL.items() if k in label), None)
    text = "%s: txguard's queryid is %s" % (lab, oracle_name)
    if why is None:
        c.eq(text, got, oracle)
    elif got == oracle:
        c.fail("%s (passes now: remove its EXPECTED_TO_FAIL mark)" % text, got)
    else:
        print("  XFAIL (the lead decides): %s\n        expected:     %r\n        txguard has:  %r"
              "\n        why: %s" % (text, oracle, got, why))


def cases(c, cfg, port, seen):
    conn = tp.connect(port=port, application_name="txguard-test-queryid")
    tp.rows(conn, "SELECT pg_stat_statements_reset()")

    # -- optimizable, simple protocol
    sql = "SELECT 1/(id - 1) FROM txq_t"
    oracle = explain_id(conn, sql)
    err = run_failing(conn, sql, False)
    check(c, cfg, "SELECT (simple protocol)", "22012", err, txguard_id(conn)[0], oracle,
          "EXPLAIN VERBOSE's Query Identifier")

    # -- optimizable, extended protocol with a parameter
    sql = "SELECT 1/(id - $1::int) FROM txq_t"
    oracle = explain_id(conn, sql, ["1"])
    err = run_failing(conn, sql, True, ["1"])
    check(c, cfg, "SELECT $1 (extended protocol)", "22012", err, txguard_id(conn)[0], oracle,
          "EXPLAIN VERBOSE's Query Identifier (extended protocol)")

    # -- PREPARE / EXECUTE
    tp.rows(conn, "PREPARE txq(int) AS SELECT 1/(id - $1) FROM txq_t WHERE id > 0")
    oracle = explain_id(conn, "EXECUTE txq(1)")
    tp.rows(conn, "EXECUTE txq(2)")
    c.eq("[%s] pg_stat_statements counts EXECUTE txq(2) under the EXPLAIN VERBOSE EXECUTE id,"
         " with the PREPARE's text" % cfg,
         tp.rows(conn, "SELECT query, calls FROM pg_stat_statements WHERE queryid = %s" % oracle),
         [["PREPARE txq(int) AS SELECT $2/(id - $1) FROM txq_t WHERE id > $3", "1"]])
    err = run_failing(conn, "EXECUTE txq(1)", False)
    got = txguard_id(conn)[0]
    check(c, cfg, "EXECUTE of a PREPAREd statement (simple protocol)", "22012", err,
          got, oracle, "EXPLAIN VERBOSE EXECUTE's Query Identifier")
    seen.setdefault("EXECUTE txq(1)", []).append((cfg, got))
    # a PREPARE that fails after parse analysis (the name is taken): no oracle of its own
    # (pg_stat_statements records no PREPARE), only the same id in every order, below
    err = run_failing(conn, "PREPARE txq(int) AS SELECT 1", False)
    c.eq("[%s] PREPARE of a taken name fails with 42P05" % cfg, err and err.sqlstate, "42P05")
    seen.setdefault("PREPARE txq(int) AS SELECT 1", []).append((cfg, txguard_id(conn)[0]))

    # -- utility statements: CALL (both protocols), DO, EXPLAIN ANALYZE
    for label, sql, extended in (("CALL (simple protocol)", "CALL txq_proc()", False),
                                 ("CALL (extended protocol)", "CALL txq_proc()", True),
                                 ("DO (extended protocol)", DO, True),
                                 ("EXPLAIN ANALYZE (extended protocol)", EXPLAIN_ANALYZE, True)):
        tp.rows(conn, "SELECT pg_stat_statements_reset()")
        run_ok(conn, sql, extended)
        oracle = pgss_id(conn, sql)
        tp.rows(conn, "SET txq.fail = on")
        err = run_failing(conn, sql, extended)
        tp.rows(conn, "RESET txq.fail")
        check(c, cfg, label, "P0001", err, txguard_id(conn)[0], oracle,
              "pg_stat_statements' queryid of the same text")

    # -- SAVEPOINT, failing outside a block
    sql = "SAVEPOINT txq_sp"
    tp.rows(conn, "BEGIN")
    run_ok(conn, sql, True)
    tp.rows(conn, "ROLLBACK")
    oracle = pgss_id(conn, sql)
    err = run_failing(conn, sql, True)
    check(c, cfg, "SAVEPOINT failing outside a block (extended protocol)", "25P01", err,
          txguard_id(conn)[0], oracle, "pg_stat_statements' queryid of the same text")

    # -- COMMIT failing on a deferred unique constraint
    tp.rows(conn, "BEGIN")
    run_ok(conn, "COMMIT", True)
    oracle = pgss_id(conn, "COMMIT")
    tp.rows(conn, "BEGIN")
    tp.rows(conn, "INSERT INTO txq_d VALUES (1)")
    err = run_failing(conn, "COMMIT", True)
    got = txguard_id(conn)
    check(c, cfg, "COMMIT failing at commit (extended protocol)", "23505", err, got[0], oracle,
          "pg_stat_statements' queryid of the same text")

    # -- PREPARE TRANSACTION failing after a temporary table
    sql = "PREPARE TRANSACTION 'txq_gid'"
    tp.rows(conn, "BEGIN")
    run_ok(conn, sql, True)
    tp.rows(conn, "COMMIT PREPARED 'txq_gid'")
    oracle = pgss_id(conn, sql)
    tp.rows(conn, "CREATE TEMP TABLE IF NOT EXISTS txq_tmp (i int)")
    tp.rows(conn, "BEGIN")
    tp.rows(conn, "INSERT INTO txq_tmp VALUES (1)")
    err = run_failing(conn, sql, True)
    check(c, cfg, "PREPARE TRANSACTION failing (extended protocol)", "0A000", err,
          txguard_id(conn)[0], oracle, "pg_stat_statements' queryid of the same text")
    conn.close()


def body(c):
    first = CONFIGS[0][1]
    cl = Cluster("queryid", {
        "shared_preload_libraries": "'%s'" % first,
        "compute_query_id": "on",
        "max_prepared_transactions": "2",
        "auto_explain.log_min_duration": "0",
        "auto_explain.log_analyze": "on",
        "pgaudit.log": "'all'",
    })
    seen = {}          # statement -> [(config, txguard's queryid)]
    try:
        for i, (cfg, libs) in enumerate(CONFIGS):
            try:
                if i == 0:
                    cl.start()
                    conn = tp.connect(port=cl.port)
                    for sql in SETUP:
                        tp.rows(conn, sql)
                    conn.close()
                else:
                    cl.restart(shared_preload_libraries="'%s'" % libs)
                conn = tp.connect(port=cl.port)
                shown = tp.rows(conn, "SHOW shared_preload_libraries")[0][0]
                conn.close()
                c.eq("[%s] shared_preload_libraries" % cfg, shown, libs)
                cases(c, cfg, cl.port, seen)
            except Exception:      # noqa: BLE001 - report it and go on with the next order
                traceback.print_exc(file=sys.stdout)
                c.fail("[%s] unexpected exception (see traceback above)" % cfg)
        # a utility statement's id is a hash of its text: the same in every cluster and order
        for stmt, ids in seen.items():
            values = set(v for _, v in ids)
            c.true("%s: txguard's queryid is the same, not NULL, in every order" % stmt,
                   len(values) == 1 and None not in values and len(ids) == len(CONFIGS), ids)
    finally:
        cl.stop()


run("queryid", body)
