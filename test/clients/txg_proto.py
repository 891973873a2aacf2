"""Raw protocol helpers for the client tests: test/model/pgproto.py (imported from there, read
only) plus the few exchanges the tests repeat (a message batch up to its ReadyForQuery, a
query's rows, an error's fields)."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "model"))

import pgproto  # noqa: E402  (test/model/pgproto.py)
from pgproto import (Conn, first_error, msg_bind, msg_copy_data, msg_copy_done,  # noqa: E402,F401
                     msg_describe, msg_execute, msg_flush, msg_function_call, msg_parse,
                     msg_query, msg_sync, simple_rows)

from txg_common import DBNAME, HOST, PORT, USER  # noqa: E402

__all__ = ["pgproto", "Conn", "first_error", "msg_bind", "msg_copy_data", "msg_copy_done",
           "msg_describe", "msg_execute", "msg_flush", "msg_function_call", "msg_parse",
           "msg_query", "msg_sync", "simple_rows", "connect", "SYNC", "sync", "extended", "query",
           "rows", "kinds", "err_of", "wait_connectable"]


def connect(port=PORT, user=USER, database=DBNAME, application_name="txguard-client-test",
            options=None):
    return Conn(host=HOST, port=port, user=user, database=database,
                application_name=application_name, options=options)


def _ready(events):
    return 1 if events[-1].kind == "ready" else 0


SYNC = (msg_sync(), _ready)


def sync(conn, messages=b""):
    """Send messages + Sync; return the events before the ReadyForQuery."""
    return conn.exchange(messages, SYNC)


def extended(name, sql, params=(), portal="", max_rows=0):
    """Parse + Bind + Execute of one statement (no Sync)."""
    return msg_parse(name, sql) + msg_bind(portal, name, params) + msg_execute(portal, max_rows)


def query(conn, sql):
    """Simple protocol: (rows, error event or None)."""
    events = conn.query(sql)
    return simple_rows(events), first_error(events)


def rows(conn, sql):
    """Simple protocol; raises if the query fails."""
    r, err = query(conn, sql)
    if err is not None:
        raise RuntimeError("%s failed: %s %s" % (sql, err.sqlstate, err.fields.get("M")))
    return r


def kinds(events):
    return [e.kind for e in events]


def err_of(events):
    e = first_error(events)
    return (e.sqlstate, e.fields.get("M")) if e is not None else None


def wait_connectable(port, limit=60.0):
    """Poll until the server accepts connections again (after a crash restart); seconds
    waited, or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            c = connect(port=port)
            c.close()
            return time.monotonic() - t0
        except (OSError, pgproto.ProtocolError):
            time.sleep(0.1)
    return None
