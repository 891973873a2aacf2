"""SAVEPOINT, RELEASE and ROLLBACK TO are not statements unless they fail, and an error the
client recovered from at once with ROLLBACK TO gets no end-of-block line in the server log
(txguard.log_aborts = problems, the default; this suite's cluster leaves it at that).

1. psql with ON_ERROR_ROLLBACK = on, the real psql: it wraps each statement of a block in
   SAVEPOINT pg_psql_temporary_savepoint / RELEASE, and sends ROLLBACK TO after an error.
   The user's statements keep their numbers (1.1 counted psql's savepoints: the user's 2nd
   statement was "statement 5"), and no txguard WARNING line is logged for the recovered
   errors.
2. The same rule for savepoints of the application's own, simple protocol: a RELEASE of a
   savepoint that does not exist fails and is a statement.
3. Control for the log check: a block left aborted by a client that disconnects is a problem
   and gets its line (so the check of part 1 does look at the lines txguard writes).
The pgjdbc autosave case is TxguardJdbcAutosaveTest.java.
"""
import os
import subprocess
import sys
import traceback

import txg_proto as tp
from txg_cluster import ServerLog
from txg_common import CORE_MSG, DUP, HOST, PORT, USER, DBNAME, expected_detail, run

TABLE = "txg_sp"
END_LINE = "txguard: aborted transaction ended by"
SERVER_LOG = os.environ.get("TXG_SERVER_LOG")


def session_lines(text, pid):
    return [ln for ln in text.splitlines() if "[%d]" % pid in ln]


def log_marker(conn, marker):
    tp.rows(conn, "DO $$BEGIN RAISE LOG '%s'; END$$" % marker)


def setup():
    conn = tp.connect()
    tp.rows(conn, "DROP TABLE IF EXISTS %s" % TABLE)
    tp.rows(conn, "CREATE TABLE %s (id int PRIMARY KEY)" % TABLE)
    conn.close()


def part_psql(c):
    label = "psql ON_ERROR_ROLLBACK"
    log = ServerLog(SERVER_LOG) if SERVER_LOG else None
    marker = "txguard-test-savepoints-psql-done"
    script = """
SELECT pg_backend_pid();
BEGIN;
INSERT INTO {t} VALUES (1);
INSERT INTO {t} VALUES (1);
SELECT statement_ordinal, statement, in_savepoint FROM txguard_last_abort();
SELECT 1/0;
SELECT statement_ordinal, statement, in_savepoint FROM txguard_last_abort();
COMMIT;
SELECT count(*) FROM {t};
DO $$BEGIN RAISE LOG '{m}'; END$$;
""".format(t=TABLE, m=marker)
    env = dict(os.environ, PGAPPNAME="txguard-test-psql")
    r = subprocess.run(["/usr/bin/psql", "-X", "-qAt", "-h", HOST, "-p", str(PORT), "-U", USER,
                        "-d", DBNAME, "-v", "ON_ERROR_ROLLBACK=on", "-v", "ON_ERROR_STOP=0"],
                       input=script, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env, timeout=60)
    print("[%s] psql stdout:\n%s[%s] psql stderr:\n%s" % (label, r.stdout, label, r.stderr))
    out = r.stdout.splitlines()
    c.eq("[%s] psql prints: its pid, statement 2 (the duplicate INSERT), statement 4 "
         "(SELECT 1/0), the committed row" % label, out[1:],
         ["2|INSERT INTO %s VALUES (1)|t" % TABLE, "4|SELECT 1/0|t", "1"])
    c.contains("[%s] both errors reached psql, and no 25P02 (psql recovered each)" % label,
               r.stderr, "ERROR:  " + DUP, "ERROR:  division by zero")
    c.lacks("[%s] no 25P02" % label, r.stderr, CORE_MSG)
    if log is None:
        c.fail("[%s] TXG_SERVER_LOG is not set (run.sh sets it)" % label)
        return
    pid = int(out[0]) if out and out[0].isdigit() else -1
    lines = session_lines(log.wait_for(marker), pid)
    c.true("[%s] the server log has the session's end marker" % label,
           any(marker in ln for ln in lines), lines[-3:])
    c.true("[%s] ... and core's ERROR lines of both errors (the log is read)" % label,
           sum(1 for ln in lines if "ERROR:  " in ln) == 2,
           [ln for ln in lines if "ERROR:  " in ln])
    c.eq("[%s] no txguard end-of-block line for the recovered errors" % label,
         [ln for ln in lines if END_LINE in ln], [])


def part_own_savepoints(c):
    label = "own savepoints, simple protocol"
    conn = tp.connect(application_name="txguard-test-savepoints")
    log = ServerLog(SERVER_LOG) if SERVER_LOG else None
    tp.rows(conn, "BEGIN")
    tp.rows(conn, "SAVEPOINT a")                                   # not a statement
    tp.rows(conn, "SELECT 1")                                      # 1
    tp.rows(conn, "RELEASE a")                                     # not a statement
    tp.rows(conn, "SAVEPOINT b")                                   # not a statement
    _, err = tp.query(conn, "INSERT INTO %s VALUES (1)" % TABLE)   # 2: fails
    c.eq("[%s] statement 2 fails (duplicate)" % label, err and err.sqlstate, "23505")
    tp.rows(conn, "ROLLBACK TO b")                                 # not a statement
    c.eq("[%s] txguard_last_abort() after ROLLBACK TO: statement 2" % label,
         tp.rows(conn, "SELECT statement_ordinal, statement FROM txguard_last_abort()"),  # 3
         [["2", "INSERT INTO %s VALUES (1)" % TABLE]])
    tp.rows(conn, "SAVEPOINT c; SELECT 4; RELEASE c")              # 4
    _, err = tp.query(conn, "RELEASE nosuch")                      # 5: fails, so it counts
    c.eq("[%s] RELEASE of a savepoint that does not exist fails" % label,
         err and err.sqlstate, "3B001")
    _, err = tp.query(conn, "SELECT 'next'")
    c.eq("[%s] the next statement gets 25P02 naming statement 5 (the RELEASE)" % label,
         err and (err.sqlstate, err.fields.get("D")),
         ("25P02", expected_detail(5, None, None, "RELEASE nosuch", sqlstate="3B001",
                                   message='savepoint "nosuch" does not exist')))
    tp.rows(conn, "ROLLBACK")
    if log is not None:
        marker = "txguard-test-savepoints-own-done"
        log_marker(conn, marker)
        lines = session_lines(log.wait_for(marker), conn.pid)
        c.eq("[%s] no end-of-block line for the error recovered with ROLLBACK TO; the block "
             "ended by ROLLBACK at once: none either" % label,
             [ln for ln in lines if END_LINE in ln], [])
    conn.close()


def part_control(c):
    label = "control: a block left aborted by a disconnect"
    if SERVER_LOG is None:
        c.fail("[%s] TXG_SERVER_LOG is not set (run.sh sets it)" % label)
        return
    log = ServerLog(SERVER_LOG)
    conn = tp.connect(application_name="txguard-test-savepoints")
    pid = conn.pid
    tp.rows(conn, "BEGIN")
    _, err = tp.query(conn, "INSERT INTO %s VALUES (1)" % TABLE)
    c.eq("[%s] the INSERT fails" % label, err and err.sqlstate, "23505")
    conn.close()
    text = log.wait_for("ended by disconnect")
    c.true("[%s] gets its end-of-block line (ended by disconnect)" % label,
           any(END_LINE + " disconnect" in ln for ln in session_lines(text, pid)),
           session_lines(text, pid)[-3:])


def body(c):
    setup()
    for part in (part_psql, part_own_savepoints, part_control):
        try:
            part(c)
        except Exception:      # noqa: BLE001 - report it and go on with the next part
            traceback.print_exc(file=sys.stdout)
            c.fail("%s: unexpected exception (see traceback above)" % part.__name__)


run("savepoints", body)
