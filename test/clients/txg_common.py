"""Shared helpers for the txguard client tests (run with /usr/bin/python3).

run.sh exports PGHOST/PGPORT/PGUSER/PGDATABASE for the throwaway cluster and
TXG_BOUNCER_PORT / TXG_IDLE_ROLE / TXG_IDLE_DB / TXG_OFF_DB for the PgBouncer test.
Every check prints what the client really shows, so a failing run explains itself.
"""
import os
import sys
import traceback

# Core's message for SQLSTATE 25P02 (src/backend/tcop/postgres.c), byte for byte.
CORE_MSG = "current transaction is aborted, commands ignored until end of transaction block"
# What txguard adds (src/annotate.c): one hint outside a savepoint, one inside.
# txguard adds a HINT only when the error aborted a savepoint (HINT_SAVEPOINT);
# the 25P02 of a plain aborted block has none
HINT = None
HINT_SAVEPOINT = ("Roll back to a savepoint set before the error with ROLLBACK TO "
                  "SAVEPOINT, or end the transaction with ROLLBACK.")
DUP = "duplicate key value violates unique constraint"


def env(name, default):
    return os.environ.get(name, default)


HOST = env("PGHOST", "127.0.0.1")
PORT = int(env("PGPORT", "55441"))
USER = env("PGUSER", "postgres")
DBNAME = env("PGDATABASE", "postgres")
BOUNCER_PORT = int(env("TXG_BOUNCER_PORT", "55442"))
IDLE_ROLE = env("TXG_IDLE_ROLE", "txguard_idle")
IDLE_DB = env("TXG_IDLE_DB", "txgidle")
OFF_DB = env("TXG_OFF_DB", "txgoff")      # pooler database whose connections run annotate = off


def params(**over):
    p = dict(host=HOST, port=PORT, user=USER, dbname=DBNAME,
             application_name="txguard-client-test", connect_timeout=10)
    p.update(over)
    return p


def expected_detail(ordinal, constraint, key_detail, statement, sqlstate="23505",
                    message=None):
    """The DETAIL txguard puts on a 25P02 (annotate = detail)."""
    if message is None:
        message = '%s "%s"' % (DUP, constraint)
    s = "The transaction was aborted by an earlier error in statement %d: ERROR %s: %s" % (
        ordinal, sqlstate, message)
    if key_detail:
        s += " (%s)" % key_detail
    return s + " Statement: " + statement


def annotated_message(constraint):
    """The primary message with annotate = message."""
    return '%s (aborted by earlier error 23505: %s "%s")' % (CORE_MSG, DUP, constraint)


class Checks:
    """Collects named checks; prints each one with the value the client showed."""

    def __init__(self, name):
        self.name = name
        self.failed = 0
        self.passed = 0

    def _report(self, ok, label, shown):
        if ok:
            self.passed += 1
            print("  ok: %s" % label)
        else:
            self.failed += 1
            print("  FAIL: %s\n        client shows: %r" % (label, shown))
        return ok

    def eq(self, label, actual, expected):
        ok = actual == expected
        if not ok:
            label = "%s\n        expected:     %r" % (label, expected)
        return self._report(ok, label, actual)

    def contains(self, label, text, *needles):
        text_s = "" if text is None else str(text)
        missing = [n for n in needles if n not in text_s]
        if missing:
            label = "%s (missing %r)" % (label, missing)
        return self._report(not missing, label, text)

    def lacks(self, label, text, *needles):
        text_s = "" if text is None else str(text)
        present = [n for n in needles if n in text_s]
        if present:
            label = "%s (unexpectedly present: %r)" % (label, present)
        return self._report(not present, label, text)

    def true(self, label, cond, shown=None):
        return self._report(bool(cond), label, shown)

    def fail(self, label, shown=None):
        return self._report(False, label, shown)

    def finish(self):
        print("%s: %d checks passed, %d failed" % (self.name, self.passed, self.failed))
        sys.exit(1 if self.failed or not self.passed else 0)


def run(name, body):
    """Run body(checks); an unexpected exception is a failure with traceback."""
    c = Checks(name)
    try:
        body(c)
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc(file=sys.stdout)
        c.fail("unexpected exception (see traceback above)")
    sys.stdout.flush()
    c.finish()
