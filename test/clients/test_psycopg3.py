"""psycopg 3 (3.1): simple query protocol, server-side prepared statements and pipeline mode."""
import psycopg
import psycopg.errors

from txg_common import (CORE_MSG, DUP, HINT, annotated_message, expected_detail,
                        params, run)

TABLE = "txg_psycopg3"
KEY = "Key (id)=(1) already exists."
SIMPLE_INSERT = "INSERT INTO %s VALUES (1, 'dup')" % TABLE
PARAM_INSERT = "INSERT INTO %s VALUES (%%s, %%s)" % TABLE           # psycopg placeholders
SERVER_INSERT = "INSERT INTO %s VALUES ($1, $2)" % TABLE            # what the server parses


def check_25p02(c, label, err, statement, exact):
    print("[%s] 25P02 as psycopg shows it: str(e)=%r\n[%s]   diag.message_detail=%r"
          % (label, str(err) if err else None, label,
             err.diag.message_detail if err else None))
    if not c.true("[%s] the next statement raised InFailedSqlTransaction" % label, err is not None):
        return
    c.eq("[%s] sqlstate stays 25P02" % label, err.sqlstate, "25P02")
    c.eq("[%s] message_primary is core's" % label, err.diag.message_primary, CORE_MSG)
    detail = err.diag.message_detail
    if exact:
        c.eq("[%s] diag.message_detail" % label, detail,
             expected_detail(2, TABLE + "_pkey", KEY, statement))
    else:
        c.contains("[%s] diag.message_detail names statement 2, 23505, the error and the INSERT"
                   % label, detail,
                   "The transaction was aborted by an earlier error in statement 2: ",
                   "ERROR 23505: %s \"%s_pkey\" (%s)" % (DUP, TABLE, KEY),
                   " Statement: " + statement)
    c.eq("[%s] diag.message_hint" % label, err.diag.message_hint, HINT)
    c.contains("[%s] str(e) carries the cause" % label, str(err), "23505", DUP, statement)


def simple(conn):
    """No parameters: psycopg uses the simple query protocol."""
    dup = err = None
    conn.execute("SELECT count(*) FROM %s" % TABLE)                      # statement 1
    try:
        conn.execute(SIMPLE_INSERT)                                      # statement 2
    except psycopg.errors.UniqueViolation as e:
        dup = e
    try:
        conn.execute("SELECT note FROM %s" % TABLE).fetchall()
    except psycopg.errors.InFailedSqlTransaction as e:
        err = e
    conn.rollback()
    return dup, err


def prepared(conn, rebind=False):
    """prepare=True: named server-side prepared statements (Parse once, Bind/Execute).

    The 25P02 comes from the Parse of the next statement, or with rebind=True from the
    Bind of a statement prepared before the error."""
    dup = err = None
    if rebind:
        conn.execute("SELECT note FROM %s WHERE id = %%s" % TABLE, (1,), prepare=True)
    else:
        conn.execute("SELECT count(*) FROM %s WHERE id > %%s" % TABLE, (0,), prepare=True)
    try:
        conn.execute(PARAM_INSERT, (1, "dup"), prepare=True)
    except psycopg.errors.UniqueViolation as e:
        dup = e
    try:
        conn.execute("SELECT note FROM %s WHERE id = %%s" % TABLE, (1,), prepare=True).fetchall()
    except psycopg.errors.InFailedSqlTransaction as e:
        err = e
    conn.rollback()
    return dup, err


def pipeline(conn):
    """Pipeline mode: BEGIN, SELECT and the failing INSERT go out before any result is read."""
    dup = err = None
    with conn.pipeline() as p:
        try:
            conn.execute("SELECT count(*) FROM %s WHERE id > %%s" % TABLE, (0,))
            conn.execute(PARAM_INSERT, (1, "dup"))
            p.sync()
        except psycopg.errors.UniqueViolation as e:
            dup = e
        try:
            conn.execute("SELECT note FROM %s WHERE id = %%s" % TABLE, (1,)).fetchall()
        except psycopg.errors.InFailedSqlTransaction as e:
            err = e
    conn.rollback()
    return dup, err


def body(c):
    conn = psycopg.connect(**params(), autocommit=True)
    conn.execute("DROP TABLE IF EXISTS %s" % TABLE)
    conn.execute("CREATE TABLE %s (id int PRIMARY KEY, note text)" % TABLE)
    conn.execute("INSERT INTO %s VALUES (1, 'first')" % TABLE)
    conn.autocommit = False

    for label, fn, stmt, exact in (("simple", simple, SIMPLE_INSERT, True),
                                   ("prepare=True", prepared, SERVER_INSERT, False),
                                   ("prepare=True/rebind", lambda cn: prepared(cn, True),
                                    SERVER_INSERT, False),
                                   ("pipeline", pipeline, SERVER_INSERT, False)):
        dup, err = fn(conn)
        c.true("[%s] the duplicate INSERT raised UniqueViolation" % label, dup is not None)
        check_25p02(c, label, err, stmt, exact)
        c.eq("[%s] connection usable after rollback" % label,
             conn.execute("SELECT 42").fetchone()[0], 42)
        conn.rollback()

    # annotate = message, over the extended protocol
    conn.execute("SET txguard.annotate = message")
    conn.commit()
    dup, err = prepared(conn)
    if c.true("[message] InFailedSqlTransaction raised", err is not None):
        c.eq("[message] primary message carries the short cause", err.diag.message_primary,
             annotated_message(TABLE + "_pkey"))

    # annotate = off: nothing added, in every mode
    conn.execute("SET txguard.annotate = off")
    conn.commit()
    for label, fn in (("off/simple", simple), ("off/prepare=True", prepared),
                      ("off/pipeline", pipeline)):
        dup, err = fn(conn)
        if c.true("[%s] InFailedSqlTransaction raised" % label, err is not None):
            c.eq("[%s] no DETAIL" % label, err.diag.message_detail, None)
            c.eq("[%s] core's message" % label, err.diag.message_primary, CORE_MSG)
            c.lacks("[%s] str(e) has no cause" % label, str(err), "23505", DUP)
    conn.close()


run("psycopg3", body)
