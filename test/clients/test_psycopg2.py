"""psycopg2: the 25P02 a psycopg2 user sees names the error that aborted the transaction."""
import psycopg2
import psycopg2.errors

from txg_common import (CORE_MSG, DUP, HINT, HINT_SAVEPOINT, annotated_message, expected_detail,
                        params, run)

TABLE = "txg_psycopg2"
INSERT = "INSERT INTO %s VALUES (1, 'dup')" % TABLE


def provoke(conn, c, label):
    """statement 1: SELECT, statement 2: duplicate INSERT (caught), then a SELECT -> 25P02."""
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM %s" % TABLE)          # psycopg2 sends BEGIN first
    dup = err = None
    try:
        cur.execute(INSERT)
    except psycopg2.errors.UniqueViolation as e:
        dup = e
    try:
        cur.execute("SELECT note FROM %s WHERE id = 1" % TABLE)
    except psycopg2.errors.InFailedSqlTransaction as e:
        err = e
    print("[%s] psycopg2 str(e) of the 25P02:\n%s" % (label, str(err) if err else None))
    c.true("[%s] the duplicate INSERT raised UniqueViolation" % label, dup is not None)
    c.true("[%s] the next query raised InFailedSqlTransaction" % label, err is not None)
    conn.rollback()
    return dup, err


def body(c):
    conn = psycopg2.connect(**params())
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY, note text);"
                "INSERT INTO %s VALUES (1, 'first')" % (TABLE, TABLE, TABLE))
    cur.execute("SHOW txguard.annotate")
    c.eq("txguard.annotate defaults to detail", cur.fetchone()[0], "detail")
    conn.autocommit = False

    # --- annotate = detail (default)
    dup, err = provoke(conn, c, "detail")
    if dup is not None:
        c.eq("original 23505 keeps core's detail", dup.diag.message_detail,
             "Key (id)=(1) already exists.")
    if err is not None:
        c.eq("pgcode stays 25P02", err.pgcode, "25P02")
        c.eq("diag.sqlstate stays 25P02", err.diag.sqlstate, "25P02")
        c.eq("diag.message_primary is core's message byte for byte",
             err.diag.message_primary, CORE_MSG)
        c.contains("str(e) names 23505, the duplicate key error and the INSERT",
                   str(err), "23505", DUP, INSERT)
        c.true("str(e) starts with core's message, then the DETAIL line",
               str(err).startswith(CORE_MSG + "\nDETAIL:  The transaction was aborted"),
               str(err))
        c.contains("e.pgerror is ERROR + DETAIL", err.pgerror,
                   "ERROR:  " + CORE_MSG + "\nDETAIL:  ")
        c.true("e.pgerror has no HINT (the block was not a savepoint's)",
               "\nHINT:" not in (err.pgerror or ""), err.pgerror)
        c.eq("diag.message_detail (statement 2, BEGIN not counted)",
             err.diag.message_detail,
             expected_detail(2, TABLE + "_pkey", "Key (id)=(1) already exists.", INSERT))
        c.eq("diag.message_hint", err.diag.message_hint, HINT)

    # --- a cause without a DETAIL of its own, aborted at statement 1
    cur = conn.cursor()
    err = None
    try:
        cur.execute("SELECT 1/0")
    except psycopg2.errors.DivisionByZero:
        pass
    try:
        cur.execute("SELECT 1")
    except psycopg2.errors.InFailedSqlTransaction as e:
        err = e
    conn.rollback()
    c.true("[22012] next query raised InFailedSqlTransaction", err is not None)
    if err is not None:
        c.contains("[22012] diag.message_detail names statement 1, the error and the query",
                   err.diag.message_detail,
                   "The transaction was aborted by an earlier error in statement 1: ",
                   "ERROR 22012: division by zero", "Statement: SELECT 1/0")

    # --- inside a savepoint: same annotation; ROLLBACK TO SAVEPOINT recovers the transaction
    cur = conn.cursor()
    err = None
    cur.execute("SELECT count(*) FROM %s" % TABLE)          # statement 1
    cur.execute("SAVEPOINT sp")                              # not a statement
    try:
        cur.execute(INSERT)                                  # statement 2
    except psycopg2.errors.UniqueViolation:
        pass
    try:
        cur.execute("SELECT 1")
    except psycopg2.errors.InFailedSqlTransaction as e:
        err = e
    print("[savepoint] psycopg2 str(e) of the 25P02:\n%s" % err)
    if c.true("[savepoint] next query raised InFailedSqlTransaction", err is not None):
        c.eq("[savepoint] diag.message_detail (SAVEPOINT is no statement)",
             err.diag.message_detail,
             expected_detail(2, TABLE + "_pkey", "Key (id)=(1) already exists.", INSERT))
        c.eq("[savepoint] diag.message_hint", err.diag.message_hint, HINT_SAVEPOINT)
    cur.execute("ROLLBACK TO SAVEPOINT sp")
    cur.execute("SELECT note FROM %s WHERE id = 1" % TABLE)
    c.eq("[savepoint] the transaction works again after ROLLBACK TO SAVEPOINT",
         cur.fetchone()[0], "first")
    cur.execute("SELECT sqlstate, statement, statement_ordinal, in_savepoint, ignored_commands,"
                " ended_by FROM txguard_last_abort()")
    c.eq("[savepoint] txguard_last_abort() in the same transaction", cur.fetchone(),
         ("23505", INSERT, 2, True, 1, "rollback to savepoint"))
    conn.commit()

    # --- annotate = message
    cur = conn.cursor()
    cur.execute("SET txguard.annotate = message")
    conn.commit()
    dup, err = provoke(conn, c, "message")
    if err is not None:
        c.eq("[message] pgcode stays 25P02", err.pgcode, "25P02")
        c.eq("[message] primary message carries the short cause",
             err.diag.message_primary, annotated_message(TABLE + "_pkey"))

    # --- annotate = off: nothing added (proves the difference)
    cur = conn.cursor()
    cur.execute("SET txguard.annotate = off")
    conn.commit()
    dup, err = provoke(conn, c, "off")
    if err is not None:
        c.eq("[off] pgcode 25P02", err.pgcode, "25P02")
        c.eq("[off] primary message is core's", err.diag.message_primary, CORE_MSG)
        c.eq("[off] no DETAIL", err.diag.message_detail, None)
        c.eq("[off] no HINT", err.diag.message_hint, None)
        c.lacks("[off] str(e) does not mention the cause", str(err), "23505", DUP, INSERT)

    # --- back to the default in the same session
    cur = conn.cursor()
    cur.execute("RESET txguard.annotate")
    conn.commit()
    dup, err = provoke(conn, c, "reset")
    if err is not None:
        c.contains("[reset] str(e) names the cause again", str(err), "23505", DUP, INSERT)
    conn.close()


run("psycopg2", body)
