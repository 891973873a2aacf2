"""PgBouncer 1.18, transaction pooling, psycopg2 client.

1. The 25P02 annotation reaches a client through the pooler (and SET LOCAL annotate = off
   removes it, inside one pooled transaction).
2. txguard.idle_in_aborted_transaction_timeout (set by run.sh with ALTER ROLE ... SET for the
   dedicated role TXG_IDLE_ROLE; pooler database TXG_IDLE_DB has pool_size = 1) frees the
   server connection held by a client idle in an aborted transaction: the next client through
   the pooler gets a healthy connection, the aborted client sees the FATAL and a closed
   connection.  Without the timeout the next client would wait for query_wait_timeout (10 s
   in run.sh) and fail.
"""
import select
import time

import psycopg2
import psycopg2.errors

from txg_common import (BOUNCER_PORT, CORE_MSG, DUP, HINT, IDLE_DB, IDLE_ROLE, OFF_DB,
                        expected_detail, params, run)

TABLE = "txg_bouncer"
KEY = "Key (id)=(1) already exists."
INSERT = "INSERT INTO %s VALUES (1, 'dup')" % TABLE
FATAL = "FATAL:  terminating connection due to idle-in-aborted-transaction timeout"


def via_pooler(**over):
    return psycopg2.connect(**params(port=BOUNCER_PORT, **over))


def as_idle_role(direct=False):
    if direct:
        return psycopg2.connect(**params(user=IDLE_ROLE))
    return via_pooler(user=IDLE_ROLE, dbname=IDLE_DB)


def wait_readable(conn, limit, since=None):
    """Seconds from `since` (default: now) until the server speaks on conn's socket, or None
    after `limit` seconds.  A timeout's lower bound is measured from a `since` taken before the
    command whose end arms the timer was sent, so that the span encloses the timer."""
    t0 = time.monotonic() if since is None else since
    r, _, _ = select.select([conn.fileno()], [], [], limit)
    return (time.monotonic() - t0) if r else None


def pooler_config():
    adm = via_pooler(dbname="pgbouncer")
    adm.autocommit = True
    cur = adm.cursor()
    cur.execute("SHOW CONFIG")
    cfg = {r[0]: r[1] for r in cur.fetchall()}
    cur.execute("SHOW DATABASES")
    cols = [d[0] for d in cur.description]
    dbs = {r[cols.index("name")]: dict(zip(cols, r)) for r in cur.fetchall()}
    adm.close()
    return cfg, dbs


def provoke(c, conn, label):
    """statement 1 SELECT, statement 2 duplicate INSERT, then a SELECT -> 25P02."""
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM %s" % TABLE)
    try:
        cur.execute(INSERT)
        c.fail("[%s] duplicate INSERT raised UniqueViolation" % label)
    except psycopg2.errors.UniqueViolation:
        pass
    err = None
    try:
        cur.execute("SELECT note FROM %s" % TABLE)
    except psycopg2.errors.InFailedSqlTransaction as e:
        err = e
    conn.rollback()
    print("[%s] psycopg2 str(e) through PgBouncer:\n%s" % (label, err))
    return err


def part_annotation(c):
    conn = via_pooler()
    err = provoke(c, conn, "pooler")
    if c.true("[pooler] next query raised InFailedSqlTransaction", err is not None):
        c.eq("[pooler] pgcode 25P02", err.pgcode, "25P02")
        c.eq("[pooler] message_primary is core's", err.diag.message_primary, CORE_MSG)
        c.contains("[pooler] str(e) names 23505, the duplicate key error and the INSERT",
                   str(err), "23505", DUP, INSERT)
        c.eq("[pooler] DETAIL", err.diag.message_detail,
             expected_detail(2, TABLE + "_pkey", KEY, INSERT))
        c.eq("[pooler] HINT", err.diag.message_hint, HINT)

    conn.close()

    # control: the pooler database OFF_DB runs its server connections with annotate = off
    # (connect_query); same client code, no annotation
    conn = via_pooler(dbname=OFF_DB)
    cur = conn.cursor()
    cur.execute("SHOW txguard.annotate")
    c.eq("[pooler/off] the %s pool runs with annotate = off" % OFF_DB, cur.fetchone()[0], "off")
    conn.commit()
    err = provoke(c, conn, "pooler/off")
    if c.true("[pooler/off] next query raised InFailedSqlTransaction", err is not None):
        c.eq("[pooler/off] no DETAIL", err.diag.message_detail, None)
        c.lacks("[pooler/off] str(e) has no cause", str(err), "23505", DUP)
    conn.close()


def part_timeout_direct(c):
    """Without the pooler: what the FATAL looks like to psycopg2."""
    conn = as_idle_role(direct=True)
    cur = conn.cursor()
    cur.execute("SHOW txguard.idle_in_aborted_transaction_timeout")
    c.eq("[direct] ALTER ROLE setting is active for %s" % IDLE_ROLE, cur.fetchone()[0], "500ms")
    conn.commit()

    # a healthy idle transaction is not touched by this timeout
    cur.execute("SELECT 1")
    time.sleep(1.2)
    try:
        cur.execute("SELECT 2")
        c.eq("[direct] a healthy transaction idle for 1.2 s survives", cur.fetchone()[0], 2)
    except psycopg2.Error as e:
        c.fail("[direct] a healthy transaction idle for 1.2 s survives", str(e))
        return
    conn.commit()

    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    sent = time.monotonic()
    try:
        cur.execute(INSERT)
    except psycopg2.errors.UniqueViolation:
        pass
    # from before the INSERT was sent: >= 0.5 s however late its error reached us
    waited = wait_readable(conn, 10, sent)
    print("[direct] server spoke %s s after the failing INSERT was sent" % waited)
    c.true("[direct] server acts after the 500ms timeout (not before, within 10 s)",
           waited is not None and 0.5 <= waited < 10, waited)
    conn.poll()          # libpq reads the FATAL that arrived while idle (reported as a notice)
    shown = "".join(conn.notices)
    print("[direct] psycopg2 conn.notices: %r" % conn.notices)
    c.contains("[direct] the FATAL text with txguard's DETAIL and idle time", shown,
               FATAL + "\n",
               "DETAIL:  The transaction was aborted by an earlier error in statement 2: "
               "ERROR 23505: %s \"%s_pkey\" (%s) Statement: %s" % (DUP, TABLE, KEY, INSERT),
               "The session was idle for ")
    err = None
    try:
        cur.execute("SELECT 1")
    except psycopg2.Error as e:
        err = e
    print("[direct] next execute: %s: %s" % (type(err).__name__ if err else None, err))
    c.true("[direct] next execute raises OperationalError",
           isinstance(err, psycopg2.OperationalError), repr(err))
    c.true("[direct] connection is closed", conn.closed != 0, conn.closed)
    conn.close()
    return pid


def part_timeout_pooler(c, admin):
    cfg, dbs = pooler_config()
    c.eq("[pooler] pool_mode", cfg.get("pool_mode"), "transaction")
    c.eq("[pooler] pool_size of %s" % IDLE_DB, (dbs.get(IDLE_DB) or {}).get("pool_size"), 1)
    cfg_wait = cfg.get("query_wait_timeout")
    print("[pooler] query_wait_timeout = %s" % cfg_wait)

    a = as_idle_role()
    acur = a.cursor()
    acur.execute("SELECT pg_backend_pid()")                   # statement 1
    a_pid = acur.fetchone()[0]
    # from before the INSERT that arms A's timer was sent: B cannot be served sooner than
    # 0.5 s after it, however late A's error reached us
    t0 = time.monotonic()
    try:
        acur.execute(INSERT)                                  # statement 2, fails
        c.fail("[pooler] client A's duplicate INSERT raised UniqueViolation")
    except psycopg2.errors.UniqueViolation:
        pass

    # client B: same pooler database and user; the only server connection is A's
    b = as_idle_role()
    bcur = b.cursor()
    b_pid = None
    try:
        bcur.execute("SELECT pg_backend_pid()")
        b_pid = bcur.fetchone()[0]
        bcur.execute("SELECT count(*) FROM %s" % TABLE)
        b_count = bcur.fetchone()[0]
        b.commit()
    except psycopg2.Error as e:
        b_count = None
        print("[pooler] client B failed: %s" % e)
    b_elapsed = time.monotonic() - t0
    print("[pooler] client B got server pid %s after %.3f s (A held pid %s)"
          % (b_pid, b_elapsed, a_pid))
    c.true("[pooler] client B gets a connection and runs queries", b_count == 1, b_count)
    c.true("[pooler] client B had to wait for A's connection (>= 0.5 s)",
           b_elapsed >= 0.5, b_elapsed)
    c.true("[pooler] client B is served well before query_wait_timeout (< 5 s)",
           b_elapsed < 5, b_elapsed)
    c.true("[pooler] client B runs on a new server backend", b_pid is not None and b_pid != a_pid,
           (a_pid, b_pid))
    if b_count == 1:
        bcur.execute("SELECT 'still healthy'")
        c.eq("[pooler] client B's next transaction works too", bcur.fetchone()[0], "still healthy")
    b.close()

    # client A: the pooler forwarded the server's FATAL, then closed A's connection
    waited = wait_readable(a, 5)
    print("[pooler] client A's socket readable: %s" % (waited is not None))
    a.poll()
    print("[pooler] client A conn.notices: %r" % a.notices)
    c.contains("[pooler] client A was sent the FATAL with txguard's DETAIL",
               "".join(a.notices), FATAL + "\nDETAIL:  The transaction was aborted by an earlier "
               "error in statement 2: ERROR 23505: ", INSERT, "The session was idle for ")
    err = None
    try:
        acur.execute("SELECT 1")
    except psycopg2.Error as e:
        err = e
    print("[pooler] client A next execute: %s: %s" % (type(err).__name__ if err else None, err))
    c.true("[pooler] client A's next execute raises OperationalError",
           isinstance(err, psycopg2.OperationalError), repr(err))
    c.true("[pooler] client A's connection is closed", a.closed != 0, a.closed)
    a.close()

    cur = admin.cursor()
    cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (a_pid,))
    c.eq("[pooler] A's server backend is gone", cur.fetchone()[0], 0)
    cur.execute("SELECT sqlstate, statement, statement_ordinal, ended_by, usename "
                "FROM txguard_aborts WHERE pid = %s ORDER BY seq DESC LIMIT 1", (a_pid,))
    row = cur.fetchone()
    print("[pooler] txguard_aborts for A's backend: %r" % (row,))
    c.eq("[pooler] txguard_aborts records the timeout for A's backend", row,
         ("23505", INSERT, 2, "timeout", IDLE_ROLE))
    cur.execute("SELECT coalesce(sum(sessions_terminated), 0) FROM txguard_stats "
                "WHERE usename = %s", (IDLE_ROLE,))
    n = cur.fetchone()[0]
    c.true("[pooler] txguard_stats counts terminated sessions for %s (>= 2)" % IDLE_ROLE,
           n >= 2, n)


def body(c):
    admin = psycopg2.connect(**params())
    admin.autocommit = True
    cur = admin.cursor()
    cur.execute("DROP TABLE IF EXISTS %s; CREATE TABLE %s (id int PRIMARY KEY, note text);"
                "INSERT INTO %s VALUES (1, 'first'); GRANT ALL ON %s TO %s"
                % (TABLE, TABLE, TABLE, TABLE, IDLE_ROLE))
    part_annotation(c)
    part_timeout_direct(c)
    part_timeout_pooler(c, admin)
    admin.close()


run("pgbouncer", body)
