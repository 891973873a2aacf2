#!/usr/bin/python3
"""txguard seeded chaos test (issue 8).

Run through test/stress/run.sh, which creates the cluster. Directly:

    /usr/bin/python3 chaos.py --port 55520 --seed 1 --duration 60 --log SERVER_LOG

What runs
  * N client threads (psycopg 3, own connection, autocommit mode with explicit BEGIN/ROLLBACK)
    draw operations from a per-client RNG seeded with (seed, client): successful transactions;
    errors of many kinds (constraint violations, division by zero, undefined objects, syntax,
    bad input, statement_timeout and lock_timeout cancellations, deadlocks and serialization
    failures between two sessions, errors raised by triggers and PL/pgSQL, deferred constraints
    failing at COMMIT / PREPARE TRANSACTION, COPY); savepoints and ROLLBACK TO; PL/pgSQL handlers
    that catch; simple and extended protocol, pipelines, multi-statement strings; exits by
    ROLLBACK, COMMIT, PREPARE TRANSACTION, ... AND CHAIN, ROLLBACK TO, disconnect; sessions
    left idle in an aborted block past txguard.idle_in_aborted_transaction_timeout.
    The operation sequence depends only on the seed; outcomes and timing may differ.
  * a chaos thread calling pg_terminate_backend() on clients that are parked at an "idle
    point" (between two statements, holding no client lock), so that what the victim's session
    was doing is known exactly (idle in an aborted block: its episode ends as 'terminated');
  * readers querying txguard_aborts, txguard_stats, txguard_aborted_sessions and txguard_info()
    in a loop and checking every row they see for consistency;
  * the controller (main thread) dividing the run into phases. At a phase boundary every client
    finishes its operation and waits at a barrier (no session is left in a transaction), the
    chaos thread pauses, and txguard_stats / txguard_aborts are compared with the union of the
    clients' ledgers; then txguard_reset() is called or the epoch goes on. In at least one phase a
    client's backend is SIGKILLed (crash restart): that phase's ledger is void, the server must
    come back with empty statistics and history, and a new epoch starts.

The ledger is kept from what the client observes on the protocol: an error received while the
session was not in an aborted block is a new abort (it left the block aborted iff the session is
INERROR afterwards, inside a savepoint iff a savepoint was active); an error received while
INERROR is one ignored command; ROLLBACK / COMMIT / PREPARE TRANSACTION / ROLLBACK TO succeeding
while INERROR end the episode; a close while INERROR is a disconnect; the chaos thread records
'terminated'; the FATAL of the idle timeout is recorded as 'timeout'.

Checks at every phase boundary (one "ok - ..." / "not ok - ..." line each):
  * no session is in an aborted block, no prepared transaction is left, and exactly the clients'
    live sessions are connected (so every ended session has finished its exit callbacks);
  * txguard_stats = the ledger, per (role, SQLSTATE): aborts, aborted_blocks, ignored_commands,
    sessions_terminated (track = all: implicit aborts count with aborted_blocks 0);
  * txguard_aborts = the ledger as a multiset of (pid, sqlstate, message, in_block, in_savepoint,
    ignored_commands, ended_by), with the statement text where the client can predict it
    (subset + count when the ring was overwritten), txguard_info().history_written = aborts,
    no torn record (message fits the SQLSTATE, ended_at >= aborted_at, aborted_seconds agrees);
  * what sessions are told: the DETAIL of every error while aborted names the open episode's
    cause, the FATAL of a timeout too, txguard_last_abort() after an episode, and (chaos
    thread) txguard_aborted_sessions for a parked session equals its open episode;
  * clients saw only scripted outcomes; readers saw only consistent rows;
  * the server log has no PANIC and no crash but the injected SIGKILLs;
  * the long-lived client's backend memory (pg_backend_memory_contexts) is flat;
  * after a crash restart: the server is back, statistics and history are empty.

--skip-known-bugs leaves out the scenarios of two txguard bugs this test found (B1, B2: see
--help), both fixed since; it is kept to compare builds from before the fix.

Output: "ok - ..." / "not ok - ..." per check (as they happen), a summary file, and a counts
file ("P F") for run.sh, which prints "stress: P passed, F failed".
"""

import argparse
import collections
import hashlib
import json
import logging
import os
import random
import re
import select
import signal
import sys
import threading
import time
import traceback

import psycopg
from psycopg import errors as E
from psycopg import pq

logging.getLogger("psycopg").setLevel(logging.CRITICAL)

IDLE = pq.TransactionStatus.IDLE
INTRANS = pq.TransactionStatus.INTRANS
INERROR = pq.TransactionStatus.INERROR

DB = "txgstress"
ROLE = "txg_stress"          # clients (superuser: may set txguard.idle_in_aborted_transaction_timeout)
READER_ROLE = "txg_reader"   # a reader with pg_read_all_stats
PEON_ROLE = "txg_peon"       # a reader without privileges

# SQLSTATE -> what the primary message must look like (torn-record / consistency check)
MESSAGES = {
    "23505": r"^duplicate key value violates unique constraint \"\w+\"$",
    "23503": r"^insert or update on table \"\w+\" violates foreign key constraint \"\w+\"$",
    "23502": r"^null value in column \"qty\" of relation \"item\" violates not-null constraint$",
    "23514": r"^new row for relation \"item\" violates check constraint \"item_qty_check\"$",
    "22012": r"^division by zero$",
    "42P01": r"^relation \"stress_missing_\d+\" does not exist$",
    "42703": r"^column \"missing_col\" does not exist$",
    "42601": r"^syntax error at or near \"SELEC\"$",
    "22P02": r"^invalid input syntax for type integer: \"x\d*\"$",
    "22001": r"^value too long for type character varying\(20\)$",
    "22003": r"^integer out of range$",
    "P0001": r"^trig: negative v -\d+ for id \d+$",
    "TX013": r"^trig: unlucky v for id \d+$",
    "TX100": r"^stress_fail\(\d+\): re-raised$",
    "TXD01": r"^dtrig: deferred check failed for id \d+$",
    "57014": r"^canceling statement due to statement timeout$",
    "55P03": r"^canceling statement due to lock timeout$",
    "40P01": r"^deadlock detected$",
    "40001": r"^could not serialize access due to (concurrent update|read/write dependencies among transactions)$",
    "2D000": r"^invalid transaction termination$",
    "25P01": r"^DECLARE CURSOR can only be used in transaction blocks$",
    "42704": r"^prepared transaction with identifier \"[\w-]+\" does not exist$",
    "25001": r"^COMMIT PREPARED cannot run inside a transaction block$",
}
MESSAGE_RE = {k: re.compile(v) for k, v in MESSAGES.items()}
END_REASONS = {"rollback", "rollback to savepoint", "commit", "prepare", "disconnect", "timeout",
               "terminated", "implicit", "idle-in-transaction timeout"}
TOLERATED = {"40001"}   # SSI may fail any statement of a SERIALIZABLE transaction
TIMEOUT_TEXT = "idle-in-aborted-transaction timeout"        # txguard's own
CORE_TIMEOUT_TEXT = "idle-in-transaction timeout"           # idle_in_transaction_session_timeout


# ------------------------------------------------------------------------------------------
# control exceptions

class ConnLost(Exception):
    """The session's connection broke (crash, timeout, termination)."""


class Killed(Exception):
    """The chaos thread terminated this client's session during an idle point."""


class Crashed(Exception):
    """The server was crashed on purpose; the client goes to the barrier."""


class Surprise(Exception):
    """A statement did not end as scripted; the operation is abandoned (sessions cleaned up)."""

    def __init__(self, msg, tolerated=False):
        super().__init__(msg)
        self.tolerated = tolerated


def lit(v):
    """SQL literal of a simple Python value (ints and plain strings only)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def inline(sql, params):
    """The simple-protocol form of a %s-parametrized statement."""
    if not params:
        return sql
    parts = sql.split("%s")
    assert len(parts) == len(params) + 1, sql
    out = [parts[0]]
    for p, rest in zip(params, parts[1:]):
        out.append(lit(p))
        out.append(rest)
    return "".join(out)


def server_text(sql, params):
    """The text of a single statement as the server sees it (psycopg turns %s into $n);
    None for multi-statement strings."""
    s = sql.strip()
    if ";" in s.rstrip(";"):
        return None
    if params:
        parts = s.split("%s")
        s = parts[0] + "".join(f"${i}{rest}" for i, rest in enumerate(parts[1:], 1))
    return s.rstrip(";").rstrip()


def classify(sql):
    """(kind, name, chain) of a single transaction-control statement, kind None otherwise."""
    s = sql.strip().rstrip(";").strip()
    u = s.upper()
    if ";" in s:
        return None, None, False
    chain = bool(re.search(r"\bAND\s+CHAIN\s*$", u)) and not re.search(r"\bAND\s+NO\s+CHAIN\s*$", u)
    m = re.match(r"^(ROLLBACK|ABORT)(\s+(WORK|TRANSACTION))?\s+TO\s+(SAVEPOINT\s+)?(\w+)$", u)
    if m:
        return "rollback_to", m.group(5).lower(), False
    if re.match(r"^(ROLLBACK|ABORT)\b(?!\s+PREPARED)", u):
        return "rollback", None, chain
    if re.match(r"^(COMMIT|END)\b(?!\s+PREPARED)", u):
        return "commit", None, chain
    if re.match(r"^PREPARE\s+TRANSACTION\b", u):
        return "prepare", None, False
    m = re.match(r"^SAVEPOINT\s+(\w+)$", u)
    if m:
        return "savepoint", m.group(1).lower(), False
    m = re.match(r"^RELEASE\s+(SAVEPOINT\s+)?(\w+)$", u)
    if m:
        return "release", m.group(2).lower(), False
    return None, None, False


EXIT_NAMES = {"rollback": "rollback", "commit": "commit", "prepare": "prepare",
              "rollback_to": "rollback to savepoint"}


# ------------------------------------------------------------------------------------------
# ledger

class Episode:
    __slots__ = ("pid", "sqlstate", "message", "in_block", "in_savepoint", "ignored", "ended_by",
                 "client", "session", "what", "stmt")

    def __init__(self, pid, sqlstate, message, in_block, in_savepoint, client, session, what,
                 stmt=None):
        self.pid = pid
        self.sqlstate = sqlstate
        self.message = message
        self.in_block = in_block
        self.in_savepoint = in_savepoint
        self.ignored = 0
        self.ended_by = None
        self.client = client
        self.session = session
        self.what = what
        self.stmt = stmt        # the statement text txguard must report, None if not predicted

    def key(self):
        return (self.pid, self.sqlstate, self.message, self.in_block, self.in_savepoint,
                self.ignored, self.ended_by)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}


class Ledger:
    """What one client caused in one epoch (since the last reset / crash restart)."""

    def __init__(self):
        self.episodes = []          # ended episodes
        self.void = False           # something happened that makes this epoch's count unknowable

    def add(self, ep):
        self.episodes.append(ep)


class RunTotals:
    """Counters over the whole run, for the summary (thread-safe through a lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = collections.Counter()
        self.aborts = collections.Counter()      # sqlstate -> aborts
        self.blocks = collections.Counter()      # sqlstate -> aborts that left a block aborted
        self.ended = collections.Counter()       # ended_by -> episodes
        self.ops = collections.Counter()

    def inc(self, name, n=1):
        with self.lock:
            self.c[name] += n


# ------------------------------------------------------------------------------------------
# shared control state

class Ctl:
    def __init__(self, args):
        self.args = args
        self.dsn_admin = f"host=127.0.0.1 port={args.port} user=postgres dbname={DB} connect_timeout=10"
        self.dsn_client = f"host=127.0.0.1 port={args.port} user={ROLE} dbname={DB} connect_timeout=10"
        self.totals = RunTotals()
        self.stop_all = False
        # barrier
        self.cv = threading.Condition()
        self.pause = False
        self.at_barrier = 0
        self.generation = 0
        # crash coordination
        self.conn_cv = threading.Condition()
        self.crash_pending = False
        self.connecting = 0
        self.crash_window = False
        self.crash_count = 0       # connections made before a crash are dead
        self.injected_kills = set()
        self.unexpected_loss = 0
        # chaos
        self.chaos_lock = threading.Lock()
        self.chaos_paused = True
        self.clients = []
        self.readers = []
        self.anomalies = []        # (phase, text) of the current phase
        self.anom_lock = threading.Lock()
        self.phase = 0

    # -- anomalies: things that are wrong whatever txguard counts
    def anomaly(self, who, text, cat=None):
        """cat: 'txguard' (a txguard view or message disagrees with the ledger), 'reader',
        'client' (the operation did not go as scripted)."""
        if cat is None:
            cat = "reader" if who.startswith("reader") else "client"
        with self.anom_lock:
            self.anomalies.append((cat, who, text))
        self.totals.inc("anomalies")

    # -- connection gate: no new connection once a crash is pending
    def begin_connect(self):
        with self.conn_cv:
            if self.crash_pending:
                raise Crashed()
            self.connecting += 1

    def end_connect(self):
        with self.conn_cv:
            self.connecting -= 1
            self.conn_cv.notify_all()

    def set_crash_pending(self):
        with self.conn_cv:
            self.crash_pending = True
            while self.connecting:
                self.conn_cv.wait()

    # -- barrier
    def barrier_wait(self):
        with self.cv:
            self.at_barrier += 1
            self.cv.notify_all()
            gen = self.generation
            while self.generation == gen:
                self.cv.wait()


# ------------------------------------------------------------------------------------------
# a client's database session, keeping the ledger

class Session:
    def __init__(self, client, name):
        self.c = client
        self.name = name
        self.conn = None
        self.pid = None
        self.ep = None          # the open episode (block aborted)
        self.sps = []           # active savepoints, innermost last
        self.serial = 0
        self.epoch = 0
        self.expect_timeout = None  # set by op_timeout: how a lost connection ends the episode
        self.last_ep = None     # this connection's most recent abort

    @property
    def alive(self):
        return (self.conn is not None and not self.conn.closed and not self.conn.broken
                and self.epoch == self.c.ctl.crash_count)

    @property
    def status(self):
        return self.conn.info.transaction_status if self.alive else None

    def connect(self):
        ctl = self.c.ctl
        ctl.begin_connect()
        self.epoch = ctl.crash_count
        try:
            self.conn = psycopg.connect(ctl.dsn_client, autocommit=True,
                                        prepare_threshold=self.c.prepare_threshold,
                                        application_name=f"stress c{self.c.idx} {self.name}")
        except psycopg.OperationalError as e:
            self.conn = None
            if ctl.crash_pending or ctl.crash_window:
                raise Crashed()
            raise ConnLost(f"connect failed: {e}")
        finally:
            ctl.end_connect()
        self.conn.prepared_max = 1_000_000   # never DEALLOCATE behind our back
        self.pid = self.conn.info.backend_pid
        self.last_ep = None
        self.ep = None
        self.sps = []
        self.serial += 1
        self.c.ctl.totals.inc("connections")

    def ensure(self):
        if not self.alive:
            if self.conn is not None:
                self.drop()
            self.connect()

    def drop(self):
        """Forget a dead (or abandoned) connection without recording anything."""
        try:
            if self.conn is not None:
                self.conn.close()
        except Exception:
            pass
        self.conn = None
        self.ep = None
        self.sps = []

    def close(self):
        """Disconnect on purpose: an open episode ends as 'disconnect'."""
        if self.conn is None:
            return
        if self.alive and self.ep is not None and self.status == INERROR:
            self.end_episode("disconnect")
        try:
            self.conn.close()
        except Exception:
            pass
        self.conn = None
        self.ep = None
        self.sps = []

    # -- ledger helpers
    def end_episode(self, how):
        ep = self.ep
        self.ep = None
        if ep is None:
            return
        ep.ended_by = how
        self.c.record(ep)

    def _conn_error(self, e):
        msg = str(e)
        if (TIMEOUT_TEXT in msg or CORE_TIMEOUT_TEXT in msg) and self.ep is not None:
            cause = f"ERROR {self.ep.sqlstate}: {self.ep.message}"
            if cause not in msg:
                self.c.ctl.anomaly(f"c{self.c.idx}", f"the FATAL does not name the cause "
                                                     f"{cause!r}: {msg!r}", cat="txguard")
        if TIMEOUT_TEXT in msg and self.ep is not None:
            self.end_episode("timeout")
            self.c.ctl.totals.inc("timeouts")
            self.drop()
            raise TimedOut(msg)
        if CORE_TIMEOUT_TEXT in msg and self.ep is not None:
            self.end_episode("idle-in-transaction timeout")
            self.c.ctl.totals.inc("core_timeouts")
            self.drop()
            raise TimedOut(msg)
        how = self.expect_timeout
        if how and self.ep is not None and not (self.c.ctl.crash_pending or self.c.ctl.crash_window):
            # the FATAL was lost (reset connection): only the timeout can have ended it
            self.end_episode(how)
            self.c.ctl.totals.inc("timeouts" if how == "timeout" else "core_timeouts")
            self.c.ctl.totals.inc("timeouts_inferred")
            self.drop()
            raise TimedOut(msg)
        self.drop()
        raise ConnLost(msg)

    def _failed(self, e, pre, what, expect, stmt=None):
        if e.sqlstate is None or self.conn.closed or self.conn.broken:
            self._conn_error(e)
        st = e.sqlstate
        post = self.conn.info.transaction_status
        c = self.c
        c.ctl.totals.inc("errors")
        if pre == INERROR:
            if self.ep is None:
                c.ctl.anomaly(f"c{c.idx}", f"error {st} while aborted but no episode open ({what})")
            else:
                self.ep.ignored += 1
                cause = f"ERROR {self.ep.sqlstate}: {self.ep.message}"
                detail = e.diag.message_detail or ""
                if cause not in detail:
                    c.ctl.anomaly(f"c{c.idx}", f"{st} while aborted ({what}): DETAIL does not name "
                                               f"the cause {cause!r}: {detail!r}", cat="txguard")
            c.ctl.totals.inc("ignored")
            if post != INERROR:
                c.ctl.anomaly(f"c{c.idx}", f"{st} while aborted left status {post.name} ({what})")
        else:
            if self.ep is not None:
                c.ctl.anomaly(f"c{c.idx}", f"new abort {st} while an episode is open ({what})")
                self.ep = None
            in_block = post == INERROR
            ep = Episode(self.pid, st, e.diag.message_primary, in_block,
                         in_block and bool(self.sps), c.idx, self.name, what, stmt)
            c.count_abort(ep)
            self.last_ep = ep
            if in_block:
                self.ep = ep
            else:
                ep.ended_by = "implicit"
                c.record(ep)
                self.sps = []
            if post == INTRANS:
                c.ctl.anomaly(f"c{c.idx}", f"abort {st} left the session INTRANS ({what})")
        if expect is not None and st not in expect:
            raise Surprise(f"{what}: expected {sorted(x for x in expect if x)} got {st} "
                           f"{e.diag.message_primary}", tolerated=st in TOLERATED)
        return st

    def _succeeded(self, pre, sql, expect, what):
        post = self.conn.info.transaction_status
        kind, name, chain = classify(sql) if sql else (None, None, False)
        if pre == INERROR:
            if kind in EXIT_NAMES and self.ep is not None:
                self.end_episode(EXIT_NAMES[kind])
            else:
                self.c.ctl.anomaly(f"c{self.c.idx}", f"{what} succeeded in an aborted block")
        if post == IDLE:
            self.sps = []
            if pre != INERROR and kind != "prepare":
                self.c.ctl.totals.inc("rolled_back" if kind == "rollback" else "committed")
        elif kind == "savepoint":
            self.sps.append(name)
        elif kind == "release" and name in self.sps:
            del self.sps[self.sps.index(name):]
        elif kind == "rollback_to" and name in self.sps:
            del self.sps[self.sps.index(name) + 1:]
        elif kind in ("rollback", "commit") and chain:
            self.sps = []
        if post == INERROR:
            self.c.ctl.anomaly(f"c{self.c.idx}", f"{what} succeeded but left the block aborted")
        if expect is not None and None not in expect:
            raise Surprise(f"{what}: expected {sorted(expect)}, succeeded")

    # -- statements
    def exec(self, sql, params=None, *, binary=False, expect=None, fetch=False, what=None,
             predict=True):
        """One round trip. expect: None = must succeed; a set of SQLSTATEs (None = success ok).
        Returns the SQLSTATE of the error, or None (rows in self.rows when fetch)."""
        what = what or sql[:60]
        conn = self.conn
        pre = conn.info.transaction_status
        self.c.ctl.totals.inc("statements")
        self.rows = None
        try:
            if binary:
                cur = conn.cursor(binary=True)
                cur.execute(sql, params)
            else:
                cur = conn.execute(sql, params)
            if fetch:
                self.rows = cur.fetchall()
        except psycopg.Error as e:
            st = self._failed(e, pre, what, expect if expect is not None else {None},
                              server_text(sql, params) if predict else None)
            return st
        self._succeeded(pre, sql if not params else sql, expect, what)
        return None

    def run(self, sql, params, proto, **kw):
        """A %s-parametrized statement through the simple (inlined) or extended protocol."""
        if proto == "simple":
            return self.exec(inline(sql, params), None, **kw)
        if params:
            return self.exec(sql, params, **kw)
        return self.exec(sql, None, binary=True, **kw)

    def pipeline(self, stmts, *, expect=None, what="pipeline"):
        conn = self.conn
        pre = conn.info.transaction_status
        self.c.ctl.totals.inc("statements", len(stmts))
        try:
            with conn.pipeline():
                for sql, params in stmts:
                    conn.execute(sql, params, prepare=False)
        except psycopg.Error as e:
            if isinstance(e, E.PipelineAborted) and self.alive:
                # nothing failed on the server that we were not told about
                self.c.ctl.anomaly(f"c{self.c.idx}", f"bare PipelineAborted in {what}")
                return None
            return self._failed(e, pre, what, expect if expect is not None else {None})
        self._succeeded(pre, None, expect, what)
        return None

    def copy(self, rows, *, expect=None, what="copy"):
        conn = self.conn
        pre = conn.info.transaction_status
        self.c.ctl.totals.inc("statements")
        try:
            with conn.cursor() as cur:
                with cur.copy("COPY item (id, client, qty) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
        except psycopg.Error as e:
            return self._failed(e, pre, what, expect if expect is not None else {None})
        self._succeeded(pre, None, expect, what)
        return None


class TimedOut(ConnLost):
    """The session was ended by txguard's idle-in-aborted timeout."""


# ------------------------------------------------------------------------------------------
# operation generation (depends on the RNG only: same seed, same sequence)

SIMPLE_KINDS = ["unique", "fk", "notnull", "check", "divzero", "undef_table", "undef_column",
                "syntax", "bad_input", "too_long", "out_of_range", "trigger", "trigger_custom",
                "plpgsql"]
SIMPLE_MODES = ["autocommit", "block", "block", "savepoint", "savepoint", "multi_begin",
                "multi_implicit", "multi_in_block", "pipeline_block", "pipeline_implicit"]
SETUP_KINDS = {
    "stmt_timeout": ["autocommit", "block", "savepoint"],
    "lock_timeout": ["autocommit", "block", "savepoint"],
    "deadlock": ["block", "savepoint"],
    "serialization": ["block", "savepoint"],
    "proc_in_block": ["block", "savepoint"],
    "cursor_fetch": ["block", "savepoint"],
    "cursor_no_block": ["autocommit"],
    "proc_fail": ["autocommit"],
    "commit_prepared_missing": ["autocommit"],
    "commit_prepared_in_block": ["block", "savepoint"],
    "copy_bad": ["autocommit", "block", "savepoint"],
    "deferred_auto": ["autocommit"],
}
IGNORED_VARIANTS = ["sel", "sel", "sel_ext", "ins_ext", "binary", "pipe", "multi", "rb_unknown",
                    "release", "savepoint", "copy"]
EXITS = [("rollback", 30), ("commit", 10), ("end", 3), ("abort", 3), ("prepare", 8),
         ("rollback_chain", 5), ("commit_chain", 5), ("rollback_to", 20), ("disconnect", 7),
         ("rollback_ext", 5), ("commit_ext", 4)]


def wchoice(rng, pairs):
    total = sum(w for _, w in pairs)
    x = rng.uniform(0, total)
    for v, w in pairs:
        x -= w
        if x <= 0:
            return v
    return pairs[-1][0]


def gen_op(rng, long_lived):
    """One operation: a dict of parameters, drawn from rng only."""
    kinds = [("abort", 56), ("success", 16), ("deferred", 9), ("skew", 3), ("catch", 6),
             ("timeout", 3), ("disconnect_healthy", 2), ("twophase", 3), ("proc_ok", 2)]
    t = wchoice(rng, kinds)
    if long_lived and t in ("disconnect_healthy",):
        t = "success"
    op = {"t": t, "proto": rng.choice(["simple", "extended"]),
          "pre": [rng.choice(["ins", "sel", "upd"]) for _ in range(rng.choice([0, 0, 1, 2]))],
          "idle": [rng.choice([0, 0, 0, 3, 10, 25]) for _ in range(4)],
          "idle0": rng.choice([0, 0, 0, 0, 0, 5]),
          "check_last": rng.random() < 0.15}
    if t == "abort":
        if rng.random() < 0.6:
            op["kind"] = rng.choice(SIMPLE_KINDS)
            op["mode"] = rng.choice(SIMPLE_MODES)
        else:
            op["kind"] = rng.choice(sorted(SETUP_KINDS))
            op["mode"] = rng.choice(SETUP_KINDS[op["kind"]])
        op["sp2"] = rng.random() < 0.3
        op["ignored"] = [rng.choice(IGNORED_VARIANTS) for _ in range(rng.choice([0, 1, 1, 2, 3]))]
        ex = wchoice(rng, EXITS)
        if long_lived and ex == "disconnect":
            ex = "rollback"
        op["exit"] = ex
        op["exit_proto"] = rng.choice(["simple", "extended"])
        op["cont"] = rng.choice(["commit", "rollback", "again"])
        op["again_kind"] = rng.choice(SIMPLE_KINDS)
        op["after"] = rng.choice(["none", "none", "sel", "autocommit_error"])
    elif t == "success":
        op["variant"] = rng.choice(["block", "autocommit", "pipeline", "savepoint", "multi",
                                    "chain"])
    elif t == "deferred":
        op["kind"] = rng.choice(["deferred_fk", "deferred_unique", "deferred_trigger"])
        op["exit"] = rng.choice(["commit", "commit", "commit_chain", "prepare", "end",
                                 "immediate", "commit_ext"])
        op["sp"] = rng.random() < 0.3
        op["ignored"] = [rng.choice(IGNORED_VARIANTS) for _ in range(rng.choice([0, 1, 2]))]
        op["after"] = rng.choice(["none", "sel", "autocommit_error", "autocommit_error"])
    elif t == "skew":
        op["exits"] = [rng.choice(["rollback", "commit"]) for _ in range(2)]
    elif t == "catch":
        op["variant"] = rng.choice(["func_block", "func_auto", "do_block", "do_auto"])
    elif t == "timeout":
        op["variant"] = "survive" if long_lived else rng.choice(["idle", "idle", "rearm",
                                                                 "survive", "core_idle"])
        op["kind"] = rng.choice(SIMPLE_KINDS)
        op["quick"] = rng.choice([0, 1, 2])
    elif t == "twophase":
        op["finish"] = rng.choice(["commit", "rollback"])
    return op


def op_digest(seed, nclients, nops=200):
    h = hashlib.sha256()
    for idx in range(nclients):
        rng = random.Random(f"{seed}:{idx}")
        for _ in range(nops):
            h.update(json.dumps(gen_op(rng, idx == 0), sort_keys=True).encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------
# client thread

class Client(threading.Thread):
    def __init__(self, ctl, idx):
        super().__init__(name=f"client-{idx}", daemon=True)
        self.ctl = ctl
        self.idx = idx
        self.base = (idx + 1) * 1_000_000
        self.rng = random.Random(f"{ctl.args.seed}:{idx}")
        self.long_lived = idx == 0
        self.no_chaos = self.long_lived
        self.prepare_threshold = [None, 5, 1][idx % 3]
        self.lock = threading.Lock()           # held while the client works
        self.led_lock = threading.Lock()       # ledger (the deadlock helper runs in a thread)
        self.idle_state = None                 # set while parked at an idle point
        self.killed = False
        self.ledger = Ledger()
        self.main = Session(self, "main")
        self.helper = Session(self, "helper")
        self.next_fresh = self.base + 1000
        self.opno = 0
        self.broken = False
        self.mem = None                        # long-lived client: [serial, ops, baseline, latest]
        self.mem_report = []                   # (phase, serial, ops since baseline, growth bytes)
        self.ops_on_conn = 0

    # -- ledger
    def record(self, ep):
        with self.led_lock:
            self.ledger.add(ep)
        t = self.ctl.totals
        with t.lock:
            t.ended[ep.ended_by] += 1

    def count_abort(self, ep):
        t = self.ctl.totals
        with t.lock:
            t.aborts[ep.sqlstate] += 1
            if ep.in_block:
                t.blocks[ep.sqlstate] += 1

    def fresh(self):
        self.next_fresh += 1
        return self.next_fresh

    # -- idle point: the chaos thread may terminate the main session here
    def idle(self, ms):
        if ms <= 0:
            return
        if self.no_chaos or not self.main.alive:
            time.sleep(ms / 1000.0)
            return
        self.idle_state = self.main.status
        self.lock.release()
        try:
            time.sleep(ms / 1000.0)
        finally:
            self.lock.acquire()
            self.idle_state = None
        if self.killed:
            raise Killed()

    def on_terminated(self, status):
        """Called by the chaos thread, holding self.lock, after the backend is gone."""
        t = self.ctl.totals
        if status == INERROR and self.main.ep is not None:
            self.main.end_episode("terminated")
            t.inc("terminated_aborted")
        elif status == INTRANS:
            t.inc("terminated_in_transaction")
        else:
            t.inc("terminated_idle")
        self.killed = True

    # -- main loop
    def run(self):
        ctl = self.ctl
        self.lock.acquire()
        try:
            while True:
                if ctl.pause or ctl.crash_pending:
                    self.at_pause()
                    if ctl.stop_all:
                        break
                    continue
                op = gen_op(self.rng, self.long_lived)
                self.opno += 1
                self.one_op(op)
        except Exception:
            ctl.anomaly(f"c{self.idx}", "client thread died: " + traceback.format_exc())
            self.ledger.void = True
        finally:
            for s in (self.main, self.helper):
                try:
                    s.close()
                except Exception:
                    pass
            try:
                self.lock.release()
            except RuntimeError:
                pass

    def at_pause(self):
        ctl = self.ctl
        # nothing may be left open at a phase boundary
        for s in (self.main, self.helper):
            # read once: a crash may end the session's epoch (status None) between two reads
            st = s.status
            if st is not None and st != IDLE:
                ctl.anomaly(f"c{self.idx}", f"{s.name} session {st.name} at the barrier")
                try:
                    s.exec("ROLLBACK")
                except Exception:
                    s.drop()
        if self.long_lived and self.mem is not None and self.main.alive and not ctl.crash_pending:
            try:
                self.sample_memory(final=True)
            except Exception as e:
                ctl.anomaly("c0", f"memory sample failed: {e}")
        self.lock.release()
        try:
            ctl.barrier_wait()
        finally:
            self.lock.acquire()
        self.killed = False
        if self.broken:
            self.main.drop()
            self.helper.drop()
            self.broken = False

    def sample_memory(self, final=False):
        self.main.exec("SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts",
                       fetch=True, what="memory sample")
        v = int(self.main.rows[0][0])
        self.main.exec("SELECT name, sum(total_bytes)::bigint FROM pg_backend_memory_contexts "
                       "GROUP BY name", fetch=True, what="memory sample by context")
        by = {n: int(b) for n, b in self.main.rows}
        if not final:
            self.mem = [self.main.serial, self.ops_on_conn, v, v, by]
        elif self.mem[0] == self.main.serial:
            self.mem[3] = v
            base = self.mem[4]
            grew = sorted(((by.get(n, 0) - base.get(n, 0), n) for n in set(by) | set(base)),
                          reverse=True)
            top = ", ".join(f"{n} {d:+d}" for d, n in grew[:4] if d)
            self.mem_report.append((self.ctl.phase, self.mem[0], self.ops_on_conn - self.mem[1],
                                    v - self.mem[2], v, top))

    def one_op(self, op):
        ctl = self.ctl
        with ctl.totals.lock:
            ctl.totals.ops[op["t"]] += 1
        try:
            for s in (self.main,):
                if not s.alive:
                    s.drop()
                    s.connect()
                    self.ops_on_conn = 0
            self.ops_on_conn += 1
            if self.long_lived and (self.mem is None or self.mem[0] != self.main.serial) \
                    and self.ops_on_conn == self.ctl.args.mem_baseline:
                self.sample_memory()
            self.idle(op["idle0"])          # parked between two operations
            getattr(self, "op_" + op["t"])(op)
        except Killed:
            self.main.drop()
            self.cleanup(op)
        except TimedOut as e:
            if op["t"] != "timeout":
                ctl.anomaly(f"c{self.idx}", f"unexpected idle timeout in {op['t']}: {e}")
            self.cleanup(op)
        except Crashed:
            self.crashed()
        except ConnLost as e:
            if ctl.crash_pending or ctl.crash_window:
                self.crashed()
            else:
                ctl.unexpected_loss += 1
                ctl.totals.inc("unexpected_losses")
                ctl.anomaly(f"c{self.idx}", f"connection lost unexpectedly in {op['t']}: {e}")
                self.ledger.void = True
                self.main.drop()
                self.helper.drop()
        except Surprise as e:
            if self.crash_ended():
                # the crash ended a session under the operation: what was
                # read after it (a status of None) is the crash's doing
                self.crashed()
            else:
                if not e.tolerated:
                    ctl.anomaly(f"c{self.idx}", f"surprise in {op['t']}/"
                                                f"{op.get('kind', op.get('variant'))}"
                                                f"/{op.get('mode', '')}: {e}")
                else:
                    ctl.totals.inc("tolerated_surprises")
                self.cleanup(op)
        except Exception:
            if ctl.crash_pending or ctl.crash_window:
                self.crashed()
            else:
                ctl.anomaly(f"c{self.idx}", f"harness error in {op['t']}: "
                                            + traceback.format_exc())
                self.ledger.void = True
                self.main.drop()
                self.helper.drop()
        finally:
            self.killed = False

    def crash_ended(self):
        """Whether the crash under way ended one of this client's connections
        (one made before it is dead, even before the client notices)."""
        ctl = self.ctl
        return (ctl.crash_pending or ctl.crash_window) and any(
            s.conn is not None and s.epoch != ctl.crash_count for s in (self.main, self.helper))

    def crashed(self):
        self.broken = True
        self.main.drop()
        self.helper.drop()

    def cleanup(self, op):
        """Leave both sessions idle (recording the ends of open episodes)."""
        try:
            for s in (self.main, self.helper):
                if s.alive:
                    if s.status != IDLE:
                        s.exec("ROLLBACK", expect={None})
                    if op.get("dirty_gucs"):
                        s.exec("RESET ALL", expect={None})
                elif s.conn is not None:
                    s.drop()
        except (ConnLost, Surprise) as e:
            if self.ctl.crash_pending or self.ctl.crash_window:
                self.crashed()
            else:
                self.ctl.anomaly(f"c{self.idx}", f"cleanup failed: {e}")
                self.main.drop()
                self.helper.drop()

    # -- building blocks
    def pre_sql(self, name):
        b = self.base
        if name == "ins":
            return "INSERT INTO item (id, client, qty) VALUES (%s, %s, 1)", [self.fresh(), self.idx]
        if name == "sel":
            return "SELECT qty FROM item WHERE id = %s", [b]
        return "UPDATE lockrow SET v = v + 1 WHERE id = %s", [b + 3]

    def run_pre(self, s, op):
        for p in op["pre"]:
            sql, params = self.pre_sql(p)
            s.run(sql, params, op["proto"])

    def kind_sql(self, kind):
        """(sql, params, expected sqlstate) of a single failing statement."""
        b, k = self.base, self.idx
        if kind == "unique":
            return "INSERT INTO item (id, client, qty) VALUES (%s, %s, 1)", [b, k], "23505"
        if kind == "fk":
            return ("INSERT INTO item (id, client, parent_id, qty) VALUES (%s, %s, %s, 1)",
                    [self.fresh(), k, -1], "23503")
        if kind == "notnull":
            return "INSERT INTO item (id, client, qty) VALUES (%s, %s, %s)", [self.fresh(), k, None], "23502"
        if kind == "check":
            return "INSERT INTO item (id, client, qty) VALUES (%s, %s, %s)", [self.fresh(), k, -1], "23514"
        if kind == "divzero":
            n = self.fresh()
            return "SELECT 1 / (%s - %s)", [n, n], "22012"
        if kind == "undef_table":
            return f"SELECT * FROM stress_missing_{k} WHERE 1 = %s", [1], "42P01"
        if kind == "undef_column":
            return "SELECT missing_col FROM item WHERE id = %s", [b], "42703"
        if kind == "syntax":
            return "SELEC %s", [1], "42601"
        if kind == "bad_input":
            return "SELECT %s::int", [f"x{self.fresh()}"], "22P02"
        if kind == "too_long":
            return ("INSERT INTO item (id, client, qty, note) VALUES (%s, %s, 1, %s)",
                    [self.fresh(), k, "n" * 30], "22001")
        if kind == "out_of_range":
            return "SELECT 2147483647 + %s::int", [1], "22003"
        if kind == "trigger":
            return "INSERT INTO trig (id, v) VALUES (%s, %s)", [self.fresh(), -5], "P0001"
        if kind == "trigger_custom":
            return "INSERT INTO trig (id, v) VALUES (%s, %s)", [self.fresh(), 13], "TX013"
        if kind == "plpgsql":
            return "SELECT stress_fail(%s)", [k], "TX100"
        raise ValueError(kind)

    def begin(self, s, op, iso=None):
        s.run("BEGIN" + (f" ISOLATION LEVEL {iso}" if iso else ""), None, "simple")

    def savepoints(self, s, op):
        s.exec("SAVEPOINT a")
        if op.get("sp2"):
            s.exec("SAVEPOINT b")

    def do_ignored(self, s, variant):
        k = self.idx
        exp = {"25P02"}
        if variant == "sel":
            s.exec("SELECT 1", expect=exp)
        elif variant == "sel_ext":
            s.exec("SELECT %s::int", [1], expect=exp)
        elif variant == "ins_ext":
            s.exec("INSERT INTO item (id, client, qty) VALUES (%s, %s, 1)", [self.fresh(), k],
                   expect=exp)
        elif variant == "binary":
            s.exec("SELECT 1", binary=True, expect=exp)
        elif variant == "pipe":
            s.pipeline([("SELECT %s::int", [1]), ("SELECT 2", None), ("SELECT 3", None)],
                       expect=exp)
        elif variant == "multi":
            s.exec("SELECT 1; SELECT 2", expect=exp)
        elif variant == "rb_unknown":
            s.exec("ROLLBACK TO SAVEPOINT nosuch", expect={"3B001"})
        elif variant == "release":
            s.exec("RELEASE SAVEPOINT a", expect=exp)
        elif variant == "savepoint":
            s.exec("SAVEPOINT z", expect=exp)
        elif variant == "copy":
            s.copy([(self.fresh(), k, 1)], expect=exp)

    def do_exit(self, s, op, ex):
        """End an aborted block (or disconnect). Returns True if the session is still usable."""
        if ex == "disconnect":
            self.ctl.totals.inc("disconnects_aborted")
            s.close()
            return False
        proto = op.get("exit_proto", "simple")
        sql = {"rollback": "ROLLBACK", "commit": "COMMIT", "end": "END", "abort": "ABORT",
               "prepare": f"PREPARE TRANSACTION 'stress-{self.idx}-{self.opno}'",
               "rollback_chain": "ROLLBACK AND CHAIN", "commit_chain": "COMMIT AND CHAIN",
               "rollback_ext": "ROLLBACK", "commit_ext": "COMMIT"}.get(ex)
        if ex == "rollback_to":
            name = "a" if (not op.get("sp2") or len(s.sps) < 2 or self.opno % 2) else "b"
            sql = f"ROLLBACK TO SAVEPOINT {name}"
        if ex in ("rollback_ext", "commit_ext"):
            proto = "extended"
        s.exec(sql, binary=(proto == "extended"))
        return True

    def finish_block(self, s, how="commit"):
        if s.alive and s.status == INTRANS:
            s.exec("COMMIT" if how == "commit" else "ROLLBACK")
        elif s.alive and s.status == INERROR:
            s.exec("ROLLBACK")

    def check_last(self, s):
        """txguard_last_abort() must describe this session's last abort."""
        if not s.alive or s.status != IDLE:
            return
        last = s.last_ep
        if last is None or last.pid != s.pid or last.ended_by is None:
            return
        s.exec("SELECT sqlstate, message, in_block, ignored_commands, ended_by "
               "FROM txguard_last_abort()", fetch=True, what="txguard_last_abort()")
        got = tuple(s.rows[0]) if s.rows else None
        want = (last.sqlstate, last.message, last.in_block, last.ignored, last.ended_by)
        if got != want:
            self.ctl.anomaly(f"c{self.idx}", f"txguard_last_abort() = {got}, ledger says {want}",
                             cat="txguard")

    def after(self, s, op):
        """Optional statement after the op, in autocommit mode."""
        a = op.get("after", "none")
        if not s.alive or s.status != IDLE:
            return
        if a == "sel":
            s.exec("SELECT 1")
        elif a == "autocommit_error":
            n = self.fresh()
            s.exec(f"SELECT 1 / ({n} - {n})", expect={"22012"})

    # -- operations
    def op_success(self, op):
        s, b, k, v = self.main, self.base, self.idx, op["variant"]
        if v == "block":
            self.begin(s, op)
            self.run_pre(s, op)
            self.idle(op["idle"][0])
            s.run("INSERT INTO item (id, client, qty, note) VALUES (%s, %s, %s, %s)",
                  [self.fresh(), k, 2, "ok"], op["proto"])
            s.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b + 3], op["proto"])
            self.idle(op["idle"][1])
            s.exec("COMMIT")
        elif v == "autocommit":
            s.run("INSERT INTO item (id, client, qty) VALUES (%s, %s, %s)", [self.fresh(), k, 3],
                  op["proto"])
            s.run("SELECT count(*) FROM lockrow WHERE id >= %s AND id < %s", [b, b + 10],
                  op["proto"])
        elif v == "pipeline":
            s.pipeline([("BEGIN", None),
                        ("INSERT INTO item (id, client, qty) VALUES (%s, %s, 1)", [self.fresh(), k]),
                        ("SELECT qty FROM item WHERE id = %s", [b]),
                        ("COMMIT", None)])
        elif v == "savepoint":
            self.begin(s, op)
            s.exec("SAVEPOINT s1")
            s.run("INSERT INTO item (id, client, qty) VALUES (%s, %s, 1)", [self.fresh(), k],
                  op["proto"])
            self.idle(op["idle"][0])
            s.exec("RELEASE SAVEPOINT s1")
            s.exec("SAVEPOINT s2")
            s.exec("ROLLBACK TO SAVEPOINT s2")
            s.exec("COMMIT")
        elif v == "multi":
            s.exec(f"BEGIN; INSERT INTO item (id, client, qty) VALUES ({self.fresh()}, {k}, 1); "
                   f"SELECT 1; COMMIT")
        elif v == "chain":
            self.begin(s, op)
            s.exec("SELECT 1")
            s.exec("COMMIT AND CHAIN")
            s.exec("SELECT 2")
            self.idle(op["idle"][0])
            s.exec("ROLLBACK AND CHAIN")
            s.exec("COMMIT")

    def op_catch(self, op):
        s, b, k, v = self.main, self.base, self.idx, op["variant"]
        if v in ("func_block", "do_block"):
            self.begin(s, op)
            self.run_pre(s, op)
        if v.startswith("func"):
            s.run("SELECT stress_catch(%s, %s)", [b, k], op["proto"], fetch=True)
            if s.rows and s.rows[0][0] != 3:
                self.ctl.anomaly(f"c{k}", f"stress_catch returned {s.rows}")
        else:
            s.exec("DO $$ BEGIN INSERT INTO item (id, client, qty) VALUES "
                   f"({b}, {k}, 1); EXCEPTION WHEN unique_violation THEN NULL; END $$")
        if v.endswith("block"):
            self.idle(op["idle"][0])
            s.exec("SELECT 1")
            s.exec("COMMIT")

    def op_proc_ok(self, op):
        s = self.main
        f = self.fresh()
        self.fresh()
        s.run("CALL stress_proc_ok(%s, %s)", [f, self.idx], op["proto"])

    def op_twophase(self, op):
        s = self.main
        gid = f"ok-{self.idx}-{self.opno}"
        self.begin(s, op)
        s.run("INSERT INTO item (id, client, qty) VALUES (%s, %s, 1)", [self.fresh(), self.idx],
              op["proto"])
        s.exec(f"PREPARE TRANSACTION '{gid}'")
        s.exec(f"{'COMMIT' if op['finish'] == 'commit' else 'ROLLBACK'} PREPARED '{gid}'")

    def op_disconnect_healthy(self, op):
        s = self.main
        self.begin(s, op)
        self.run_pre(s, op)
        s.exec("SELECT 1")
        self.ctl.totals.inc("disconnects_healthy")
        s.close()

    def cause(self, s, op, kind, mode):
        """Run the failing statement(s) of kind in mode. Returns after the error."""
        b, k, proto = self.base, self.idx, op["proto"]
        if kind in SIMPLE_KINDS:
            sql, params, st = self.kind_sql(kind)
            exp = {st}
            if mode in ("autocommit", "block", "savepoint"):
                s.run(sql, params, proto, expect=exp, what=f"{kind}/{mode}")
            elif mode == "multi_begin":
                pre = "; ".join(inline(*self.pre_sql(p)) for p in op["pre"])
                s.exec("BEGIN; " + (pre + "; " if pre else "") + inline(sql, params) + "; SELECT 1",
                       expect=exp, what=f"{kind}/{mode}")
            elif mode == "multi_implicit":
                pre = "; ".join(inline(*self.pre_sql(p)) for p in op["pre"]) or "SELECT 0"
                s.exec(pre + "; " + inline(sql, params) + "; SELECT 1", expect=exp,
                       what=f"{kind}/{mode}")
            elif mode == "multi_in_block":
                s.exec(f"SELECT 0; {inline(sql, params)}; SELECT 1", expect=exp, what=f"{kind}/{mode}")
            elif mode in ("pipeline_block", "pipeline_implicit"):
                stmts = [("BEGIN", None)] if mode == "pipeline_block" else []
                stmts += [self.pre_sql(p) for p in op["pre"]]
                stmts += [(sql, params), ("SELECT %s::int", [1])]
                s.pipeline(stmts, expect=exp, what=f"{kind}/{mode}")
            return
        if kind == "stmt_timeout":
            if mode == "autocommit":
                op["dirty_gucs"] = True
                s.exec("SET statement_timeout = '30ms'")
                s.run("SELECT pg_sleep(%s)", [2], proto, expect={"57014"})
                s.exec("RESET statement_timeout")
                op["dirty_gucs"] = False
            else:
                s.exec("SET LOCAL statement_timeout = '30ms'")
                s.run("SELECT pg_sleep(%s)", [2], proto, expect={"57014"})
        elif kind == "lock_timeout":
            h = self.helper
            h.ensure()
            h.exec("BEGIN")
            h.run("SELECT v FROM lockrow WHERE id = %s FOR UPDATE", [b + 2], proto)
            if mode == "autocommit":
                op["dirty_gucs"] = True
                s.exec("SET lock_timeout = '30ms'")
                s.run("SELECT v FROM lockrow WHERE id = %s FOR UPDATE", [b + 2], proto,
                      expect={"55P03"})
                s.exec("RESET lock_timeout")
                op["dirty_gucs"] = False
            else:
                s.exec("SET LOCAL lock_timeout = '30ms'")
                s.run("SELECT v FROM lockrow WHERE id = %s FOR UPDATE", [b + 2], proto,
                      expect={"55P03"})
            h.exec("ROLLBACK")
        elif kind == "deadlock":
            h = self.helper
            h.ensure()
            h.exec("BEGIN")
            s.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b], proto)
            h.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b + 1], proto)
            res = {}

            def other():
                try:
                    res["st"] = h.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b], proto,
                                      expect={"40P01", None})
                except BaseException as e:     # noqa: B902 - re-raised in the client thread
                    res["exc"] = e
            t = threading.Thread(target=other, daemon=True)
            t.start()
            try:
                mine = s.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b + 1], proto,
                             expect={"40P01", None})
            finally:
                t.join(60)
            if "exc" in res:
                raise res["exc"]
            if (mine is None) == (res.get("st") is None):
                raise Surprise(f"deadlock: main {mine}, helper {res.get('st')}")
            # the helper: its episode (if it was the victim) ends; its transaction goes away
            if h.status == INERROR:
                self.do_ignored(h, "sel")
            h.exec("ROLLBACK")
            if mine is None:       # the main session survived: abort it some other way
                s.run("SELECT 1 / (%s - %s)", [b, b], proto, expect={"22012"})
        elif kind == "serialization":
            # the main session took its snapshot in begin() (see op_abort), read the row first
            h = self.helper
            h.ensure()
            h.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b + 2], proto)
            s.run("UPDATE lockrow SET v = v + 1 WHERE id = %s", [b + 2], proto, expect={"40001"})
        elif kind == "proc_in_block":
            s.exec("CALL stress_commit_proc()", expect={"2D000"})
        elif kind == "cursor_fetch":
            s.exec("DECLARE c1 CURSOR FOR SELECT 1 / (x - 3) FROM generate_series(1, 5) x")
            s.exec("FETCH 2 FROM c1")
            s.exec("FETCH 2 FROM c1", expect={"22012"})
        elif kind == "cursor_no_block":
            s.exec("DECLARE c1 CURSOR FOR SELECT 1", expect={"25P01"})
        elif kind == "proc_fail":
            s.run("CALL stress_proc_fail(%s, %s)", [self.fresh(), k], proto, expect={"22012"})
        elif kind == "commit_prepared_missing":
            s.exec(f"COMMIT PREPARED 'nosuch-{k}-{self.opno}'", expect={"42704"})
        elif kind == "commit_prepared_in_block":
            s.exec(f"COMMIT PREPARED 'nosuch-{k}-{self.opno}'", expect={"25001"})
        elif kind == "copy_bad":
            s.copy([(self.fresh(), k, 1), (self.fresh(), k, f"x{self.opno}")], expect={"22P02"})
        elif kind == "deferred_auto":
            # extended protocol: the implicit commit runs at Sync, when PostgreSQL no
            # longer has the statement text (documented in README, Caveats): the
            # statement is not predicted there
            s.run("INSERT INTO ditem (id, parent_id) VALUES (%s, %s)", [self.fresh(), -1], proto,
                  expect={"23503"},
                  predict=proto != "extended")
        else:
            raise ValueError(kind)

    def op_abort(self, op):
        s = self.main
        kind, mode = op["kind"], op["mode"]
        if mode in ("block", "savepoint", "multi_in_block"):
            self.begin(s, op, "SERIALIZABLE" if kind == "serialization" and self.opno % 2
                       else "REPEATABLE READ" if kind == "serialization" else None)
            if kind == "serialization":
                s.run("SELECT v FROM lockrow WHERE id = %s", [self.base + 2], op["proto"])
            if mode != "multi_in_block":
                self.run_pre(s, op)
            if mode == "savepoint":
                self.savepoints(s, op)
            self.idle(op["idle"][0])
        elif mode == "autocommit":
            self.run_pre(s, op)
        self.cause(s, op, kind, mode)
        self.after_error(s, op)

    def after_error(self, s, op):
        if not s.alive:
            return
        if s.status == INERROR:
            for i, v in enumerate(op["ignored"]):
                self.idle(op["idle"][1 + i % 2])
                self.do_ignored(s, v)
            self.idle(op["idle"][3])
            ex = op["exit"]
            if (self.ctl.args.skip_known_bugs and ex in ("rollback_chain", "commit_chain")
                    and s.ep is not None and s.ep.in_savepoint):
                ex = ex.split("_")[0]      # known bug B2: ... AND CHAIN from an aborted savepoint
            if ex == "rollback_to" and not s.sps:
                ex = "rollback"
            if ex == "rollback_to" and s.ep is not None and not s.ep.in_savepoint:
                ex = "rollback"
            if not self.do_exit(s, op, ex):
                return
            if s.status == INTRANS:
                # ROLLBACK TO or ... AND CHAIN: the block goes on
                if op["cont"] == "again":
                    sql, params, st = self.kind_sql(op["again_kind"])
                    s.run(sql, params, op["proto"], expect={st}, what=f"again/{op['again_kind']}")
                    if s.status == INERROR:
                        self.do_ignored(s, "sel")
                self.finish_block(s, "rollback" if op["cont"] == "rollback" else "commit")
        elif s.status == INTRANS:
            self.finish_block(s, op["cont"] if op["cont"] != "again" else "commit")
        if op.get("check_last"):
            self.check_last(s)
        self.after(s, op)

    def op_deferred(self, op):
        s, k = self.main, self.idx
        kind = op["kind"]
        self.begin(s, op)
        if op["sp"]:
            s.exec("SAVEPOINT a")
        f = self.fresh()
        if kind == "deferred_fk":
            s.run("INSERT INTO ditem (id, parent_id) VALUES (%s, %s)", [f, -1], op["proto"])
            st = "23503"
        elif kind == "deferred_unique":
            s.run("INSERT INTO ditem (id, u) VALUES (%s, %s), (%s, %s)", [f, f, self.fresh(), f],
                  op["proto"])
            st = "23505"
        else:
            s.run("INSERT INTO dtrig (id, v) VALUES (%s, %s)", [f, -1], op["proto"])
            st = "TXD01"
        self.run_pre(s, op)
        self.idle(op["idle"][0])
        ex = op["exit"]
        if self.ctl.args.skip_known_bugs and ex == "commit_chain":
            ex = "commit"                  # known bug B1: COMMIT AND CHAIN failing at commit
        if ex == "immediate":
            s.exec("SET CONSTRAINTS ALL IMMEDIATE", expect={st})
            op2 = dict(op, exit="rollback", cont="commit")
            self.after_error(s, op2)
            return
        sql = {"commit": "COMMIT", "commit_chain": "COMMIT AND CHAIN", "end": "END",
               "commit_ext": "COMMIT",
               "prepare": f"PREPARE TRANSACTION 'dfr-{k}-{self.opno}'"}[ex]
        s.exec(sql, binary=(ex == "commit_ext"), expect={st}, what=f"{kind}/{ex}")
        st_after = s.status     # read once (see at_pause)
        if st_after is not None and st_after != IDLE:
            self.ctl.anomaly(f"c{k}", f"{kind}/{ex}: status {st_after.name} after a failed {sql}")
            self.finish_block(s, "rollback")
        if op.get("check_last"):
            self.check_last(s)
        self.after(s, op)

    def op_skew(self, op):
        s, h, b, k = self.main, self.helper, self.base, self.idx
        h.ensure()
        sess = [s, h]
        steps = [(0, "BEGIN ISOLATION LEVEL SERIALIZABLE", None),
                 (1, "BEGIN ISOLATION LEVEL SERIALIZABLE", None),
                 (0, "SELECT count(*) FROM skew WHERE grp = %s AND on_call", [k]),
                 (1, "SELECT count(*) FROM skew WHERE grp = %s AND on_call", [k]),
                 (0, "UPDATE skew SET on_call = NOT on_call WHERE id = %s", [b]),
                 (1, "UPDATE skew SET on_call = NOT on_call WHERE id = %s", [b + 1])]
        for i, sql, params in steps:
            x = sess[i]
            if x.status == INERROR:
                continue
            x.run(sql, params, op["proto"], expect={None, "40001"})
        for i, x in enumerate(sess):
            if x.status == INERROR:
                x.exec("ROLLBACK" if op["exits"][i] == "rollback" else "COMMIT")
            elif x.status == INTRANS:
                x.exec("COMMIT", expect={None, "40001"})

    def op_timeout(self, op):
        s = self.main
        s.expect_timeout = "idle-in-transaction timeout" if op["variant"] == "core_idle" \
            else "timeout"
        try:
            self._op_timeout(op)
        finally:
            s.expect_timeout = None

    def _op_timeout(self, op):
        s, k, v = self.main, self.idx, op["variant"]
        op["dirty_gucs"] = True
        sql, params, st = self.kind_sql(op["kind"])
        if v == "survive":
            s.exec("SET txguard.idle_in_aborted_transaction_timeout = '1500ms'")
            self.begin(s, op)
            s.run(sql, params, op["proto"], expect={st})
            for _ in range(op["quick"]):
                self.do_ignored(s, "sel")
            s.exec("ROLLBACK")
            s.run(sql, params, op["proto"], expect={st})      # autocommit: no block, no timer
            time.sleep(1.7)
            s.exec("SELECT 1")
            s.exec("RESET txguard.idle_in_aborted_transaction_timeout")
            op["dirty_gucs"] = False
            return
        ms = 300 if v in ("idle", "core_idle") else 500
        if v == "core_idle":
            s.exec(f"SET idle_in_transaction_session_timeout = '{ms}ms'")
        else:
            s.exec(f"SET txguard.idle_in_aborted_transaction_timeout = '{ms}ms'")
        self.begin(s, op)
        self.run_pre(s, op)
        s.run(sql, params, op["proto"], expect={st})
        if s.status != INERROR:
            raise Surprise(f"timeout/{op['kind']}: no aborted block")
        try:
            n = 3 if v == "rearm" else op["quick"]
            for _ in range(n):
                if v == "rearm":
                    time.sleep(0.15)
                self.do_ignored(s, "sel")
            # wait for the server to end the session (FATAL, then EOF)
            r, _, _ = select.select([s.conn.fileno()], [], [], 10.0)
            if not r:
                self.ctl.anomaly(f"c{k}", f"{v} timeout ({ms} ms) did not fire in 10 s",
                                 cat="txguard")
            s.exec("SELECT 1", expect={"25P02"})
            raise Surprise(f"timeout/{v}: session still alive after the idle timeout")
        except TimedOut:
            return


# ------------------------------------------------------------------------------------------
# chaos: pg_terminate_backend on idle-parked clients

class Chaos(threading.Thread):
    def __init__(self, ctl):
        super().__init__(name="chaos", daemon=True)
        self.ctl = ctl
        self.rng = random.Random(f"{ctl.args.seed}:chaos")
        self.conn = None
        self.epoch = 0

    def admin(self):
        if (self.conn is None or self.conn.closed or self.conn.broken
                or self.epoch != self.ctl.crash_count):
            self.epoch = self.ctl.crash_count
            self.conn = psycopg.connect(self.ctl.dsn_admin, autocommit=True,
                                        application_name="stress chaos")
        return self.conn

    def run(self):
        ctl = self.ctl
        while not ctl.stop_all:
            time.sleep(self.rng.uniform(0.05, 0.4))
            with ctl.chaos_lock:
                if ctl.chaos_paused:
                    continue
                cands = [c for c in ctl.clients if not c.no_chaos and c.idle_state is not None]
                if not cands:
                    continue
                v = self.rng.choice(cands)
                if not v.lock.acquire(blocking=False):
                    continue
                try:
                    if v.idle_state is None or not v.main.alive:
                        continue
                    pid, status = v.main.pid, v.main.status
                    # the parked session's live view must show exactly its open episode
                    try:
                        rows = self.admin().execute(
                            "SELECT sqlstate, message, ignored_commands, in_savepoint "
                            "FROM txguard_aborted_sessions WHERE pid = %s", [pid]).fetchall()
                    except psycopg.Error as e:
                        ctl.anomaly("chaos", f"txguard_aborted_sessions failed: {e}")
                        self.conn = None
                        continue
                    ep = v.main.ep
                    want = ([(ep.sqlstate, ep.message, ep.ignored, ep.in_savepoint)]
                            if status == INERROR and ep is not None else [])
                    got = [tuple(r) for r in rows]
                    ctl.totals.inc("inspections")
                    if got != want:
                        ctl.anomaly("chaos", f"txguard_aborted_sessions for parked c{v.idx} "
                                             f"({status.name}) = {got}, ledger says {want}",
                                    cat="txguard")
                    if self.rng.random() < 0.4:
                        continue            # look, don't touch
                    try:
                        ok = self.admin().execute("SELECT pg_terminate_backend(%s, 20000)",
                                                  [pid]).fetchone()[0]
                    except psycopg.Error as e:
                        ctl.anomaly("chaos", f"pg_terminate_backend({pid}) failed: {e}")
                        self.conn = None
                        continue
                    if not ok:
                        ctl.anomaly("chaos", f"backend {pid} did not exit within 20 s")
                    v.on_terminated(status)
                    ctl.totals.inc("terminations")
                finally:
                    v.lock.release()


# ------------------------------------------------------------------------------------------
# readers

class Reader(threading.Thread):
    def __init__(self, ctl, idx, role):
        super().__init__(name=f"reader-{idx}", daemon=True)
        self.ctl = ctl
        self.idx = idx
        self.role = role
        self.rng = random.Random(f"{ctl.args.seed}:reader{idx}")
        self.conn = None
        self.epoch = 0
        self.n = 0

    def bad(self, text):
        self.ctl.anomaly(f"reader{self.idx}({self.role})", text)

    def check_msg(self, st, msg, where):
        if msg is None:
            return       # hidden from this role
        r = MESSAGE_RE.get(st)
        if r is None:
            self.bad(f"{where}: unknown SQLSTATE {st!r} ({msg!r})")
        elif not r.match(msg):
            self.bad(f"{where}: message {msg!r} does not fit SQLSTATE {st}")

    def once(self):
        c = self.conn
        full = self.role != PEON_ROLE
        if self.n % 5 == 0:
            rows = c.execute("SELECT seq, pid, sqlstate, message, in_block, in_savepoint, "
                             "ignored_commands, aborted_at, ended_at, ended_by, xact_start, "
                             "aborted_seconds, usename FROM txguard_aborts").fetchall()
            for (seq, pid, st, msg, in_block, in_sp, ign, at, end_at, end_by, xs, secs,
                 user) in rows:
                w = f"txguard_aborts seq {seq}"
                self.check_msg(st, msg, w)
                if ign is None or ign < 0:
                    self.bad(f"{w}: ignored_commands {ign}")
                if in_sp and not in_block:
                    self.bad(f"{w}: in_savepoint without in_block")
                if end_by is not None:
                    if end_by not in END_REASONS:
                        self.bad(f"{w}: ended_by {end_by!r}")
                    if end_at is None or end_at < at:
                        self.bad(f"{w}: ended_at {end_at} < aborted_at {at}")
                    if (end_by == "implicit") == bool(in_block):
                        self.bad(f"{w}: ended_by {end_by} with in_block {in_block}")
                if xs is not None and at < xs:
                    self.bad(f"{w}: aborted_at {at} before xact_start {xs}")
                if user not in (ROLE, None):
                    self.bad(f"{w}: usename {user}")
        rows = c.execute("SELECT pid, sqlstate, message, aborted_since, idle_since, "
                         "ignored_commands, in_savepoint FROM txguard_aborted_sessions").fetchall()
        for pid, st, msg, since, idle_since, ign, in_sp in rows:
            w = f"txguard_aborted_sessions pid {pid}"
            self.check_msg(st, msg, w)
            if idle_since is not None and since is not None and idle_since < since:
                self.bad(f"{w}: idle_since {idle_since} < aborted_since {since}")
            if ign is None or ign < 0:
                self.bad(f"{w}: ignored_commands {ign}")
        rows = c.execute("SELECT usename, sqlstate, aborts, aborted_blocks, ignored_commands, "
                         "sessions_terminated FROM txguard_stats").fetchall()
        for user, st, a, blk, ign, term in rows:
            w = f"txguard_stats {user}/{st}"
            if full and st not in MESSAGES:
                self.bad(f"{w}: unknown SQLSTATE")
            if not (0 <= blk <= a) or ign < 0 or not (0 <= term <= blk):
                self.bad(f"{w}: aborts {a} blocks {blk} ignored {ign} terminated {term}")
        (hs, written, over, dropped) = c.execute(
            "SELECT history_size, history_written, history_overwritten, history_dropped "
            "FROM txguard_info()").fetchone()
        if written < 0 or over < 0 or dropped < 0 or over != max(0, written - hs):
            self.bad(f"txguard_info: size {hs} written {written} overwritten {over} dropped {dropped}")
        self.n += 1
        self.ctl.totals.inc("reader_queries", 4 if self.n % 5 == 1 else 3)

    def run(self):
        ctl = self.ctl
        dsn = f"host=127.0.0.1 port={ctl.args.port} user={self.role} dbname={DB} connect_timeout=10"
        while not ctl.stop_all:
            try:
                if (self.conn is None or self.conn.closed or self.conn.broken
                        or self.epoch != ctl.crash_count):
                    self.epoch = ctl.crash_count
                    self.conn = psycopg.connect(dsn, autocommit=True,
                                                application_name=f"stress reader{self.idx}")
                self.once()
            except psycopg.OperationalError as e:
                if not (ctl.crash_window or ctl.crash_pending):
                    self.bad(f"connection problem: {e}")
                self.conn = None
                time.sleep(0.2)
            except psycopg.Error as e:
                self.bad(f"query failed: {type(e).__name__} {e.sqlstate}: {e}")
                time.sleep(0.2)
            except Exception:
                self.bad("reader crashed: " + traceback.format_exc())
                time.sleep(0.5)
            time.sleep(self.rng.uniform(0.05, 0.25))


# ------------------------------------------------------------------------------------------
# controller

SCHEMA = r"""
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE item (id int PRIMARY KEY, client int NOT NULL, parent_id int REFERENCES parent,
                   qty int NOT NULL CHECK (qty >= 0), note varchar(20));
CREATE TABLE dparent (id int PRIMARY KEY);
CREATE TABLE ditem (id int PRIMARY KEY,
                    parent_id int REFERENCES dparent DEFERRABLE INITIALLY DEFERRED,
                    u int UNIQUE DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE lockrow (id int PRIMARY KEY, v int NOT NULL DEFAULT 0);
CREATE TABLE skew (id int PRIMARY KEY, grp int NOT NULL, on_call bool NOT NULL);
CREATE INDEX ON skew (grp);
CREATE TABLE trig (id int PRIMARY KEY, v int);
CREATE FUNCTION trig_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.v < 0 THEN RAISE EXCEPTION 'trig: negative v % for id %', NEW.v, NEW.id; END IF;
  IF NEW.v = 13 THEN
    RAISE EXCEPTION 'trig: unlucky v for id %', NEW.id USING ERRCODE = 'TX013', DETAIL = 'v must not be 13';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER trig_check BEFORE INSERT OR UPDATE ON trig FOR EACH ROW EXECUTE FUNCTION trig_check();
CREATE TABLE dtrig (id int PRIMARY KEY, v int);
CREATE FUNCTION dtrig_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.v < 0 THEN
    RAISE EXCEPTION 'dtrig: deferred check failed for id %', NEW.id USING ERRCODE = 'TXD01';
  END IF;
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER dtrig_check AFTER INSERT OR UPDATE ON dtrig
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION dtrig_check();
CREATE FUNCTION stress_fail(n int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    PERFORM 1 / (n - n);
  EXCEPTION WHEN division_by_zero THEN
    RAISE EXCEPTION 'stress_fail(%): re-raised', n USING ERRCODE = 'TX100';
  END;
  RETURN n;
END $$;
CREATE FUNCTION stress_catch(anchor int, k int) RETURNS int LANGUAGE plpgsql AS $$
DECLARE caught int := 0;
BEGIN
  BEGIN INSERT INTO item (id, client, qty) VALUES (anchor, k, 1);
  EXCEPTION WHEN unique_violation THEN caught := caught + 1; END;
  BEGIN PERFORM 1 / (k - k);
  EXCEPTION WHEN division_by_zero THEN caught := caught + 1; END;
  BEGIN INSERT INTO item (id, client, parent_id, qty) VALUES (-anchor, k, -1, 1);
  EXCEPTION WHEN foreign_key_violation THEN caught := caught + 1; END;
  RETURN caught;
END $$;
CREATE PROCEDURE stress_proc_ok(fid int, k int) LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO item (id, client, qty) VALUES (fid, k, 1);
  COMMIT;
  INSERT INTO item (id, client, qty) VALUES (fid + 1, k, 1);
  ROLLBACK;
END $$;
CREATE PROCEDURE stress_proc_fail(fid int, k int) LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO item (id, client, qty) VALUES (fid, k, 1);
  COMMIT;
  PERFORM 1 / (fid - fid);
END $$;
CREATE PROCEDURE stress_commit_proc() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;
"""


class Controller:
    def __init__(self, args):
        self.args = args
        self.ctl = Ctl(args)
        self.passed = 0
        self.failed = 0
        self.conn = None
        self.log_pos = 0
        self.phase_log = []          # per phase: dict for the summary
        self.mismatch_stats = 0
        self.mismatch_hist = 0
        self.crashes = 0
        self.resets = 0
        self.t0 = time.time()
        self.mem_lines = []

    # -- output
    def out(self, line):
        print(line, flush=True)

    def check(self, ok, name, details=()):
        if ok:
            self.passed += 1
            self.out(f"ok - {name}")
        else:
            self.failed += 1
            self.out(f"not ok - {name}")
            for d in list(details)[:40]:
                for line in str(d).splitlines():
                    self.out(f"#   {line}")
        return ok

    def admin(self):
        if self.conn is None or self.conn.closed or self.conn.broken:
            self.conn = psycopg.connect(self.ctl.dsn_admin, autocommit=True,
                                        application_name="stress controller")
        return self.conn

    def q(self, sql, params=None):
        return self.admin().execute(sql, params).fetchall()

    # -- set-up
    def setup(self):
        a = self.args
        c = psycopg.connect(f"host=127.0.0.1 port={a.port} user=postgres dbname=postgres",
                            autocommit=True)
        c.execute(f"DROP DATABASE IF EXISTS {DB}")
        c.execute(f"CREATE DATABASE {DB}")
        for r, opts in ((ROLE, "LOGIN SUPERUSER"), (READER_ROLE, "LOGIN"), (PEON_ROLE, "LOGIN")):
            c.execute(f"DROP ROLE IF EXISTS {r}")
            c.execute(f"CREATE ROLE {r} {opts}")
        c.execute(f"GRANT pg_read_all_stats TO {READER_ROLE}")
        c.close()
        c = self.admin()
        c.execute("CREATE EXTENSION txguard")
        c.execute(SCHEMA)
        for idx in range(a.clients):
            b = (idx + 1) * 1_000_000
            c.execute("INSERT INTO parent VALUES (%s)", [b])
            c.execute("INSERT INTO dparent VALUES (%s)", [b])
            c.execute("INSERT INTO item (id, client, parent_id, qty) VALUES (%s, %s, %s, 1)",
                      [b, idx, b])
            c.execute("INSERT INTO lockrow (id) SELECT g FROM generate_series(%s, %s) g", [b, b + 3])
            c.execute("INSERT INTO skew VALUES (%s, %s, true), (%s, %s, true)", [b, idx, b + 1, idx])
        c.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}")
        c.execute("CHECKPOINT")
        c.execute("SELECT txguard_reset()")
        try:
            self.log_pos = os.path.getsize(self.args.log)
        except OSError:
            self.log_pos = 0
        info = self.q("SELECT history_size FROM txguard_info()")[0][0]
        self.history_size = info
        self.out(f"# txguard.history_size = {info}, track = "
                 f"{self.q('SHOW txguard.track')[0][0]}")

    # -- the plan
    def plan(self):
        a = self.args
        rng = random.Random(f"{a.seed}:plan")
        plen = 10.0 if a.duration <= 90 else 30.0
        n = max(3, int(round(a.duration / plen)))
        plen = a.duration / n
        crash = set()
        crash.add(rng.randrange(1, n - 1))              # never the first or the last phase
        for i in range(1, n - 1):
            if rng.random() < 0.15:
                crash.add(i)
        phases = []
        for i in range(n):
            phases.append({"no": i + 1, "len": plen,
                           "crash_at": rng.uniform(0.3, 0.7) * plen if i in crash else None,
                           "boundary": rng.choice(["reset", "reset", "continue"])})
        return phases

    # -- log
    def log_check(self, label):
        bad = []
        killed_seen = []
        try:
            with open(self.args.log, "r", errors="replace") as f:
                f.seek(self.log_pos)
                data = f.read()
                self.log_pos = f.tell()
        except OSError as e:
            return self.check(False, f"{label}: server log readable", [str(e)])
        for line in data.splitlines():
            if "PANIC:" in line or "TRAP:" in line:
                bad.append(line)
            m = re.search(r"\(PID (\d+)\) was terminated by signal (\d+)", line)
            if m:
                if int(m.group(1)) in self.ctl.injected_kills and m.group(2) == "9":
                    killed_seen.append(int(m.group(1)))
                else:
                    bad.append(line)
            if re.search(r"\(PID \d+\) (exited with exit code|was terminated by exception)", line):
                bad.append(line)
            # after a crash restart txguard says, once, that it starts empty;
            # its end-of-block lines are WARNINGs too; any other is a fault
            if ("WARNING:" in line and "txguard" in line and
                    "found no saved statistics and history" not in line and
                    "WARNING:  txguard: aborted transaction ended by " not in line):
                bad.append(line)
        return self.check(not bad, f"{label}: server log has no PANIC and no crash but the "
                                   f"injected ({len(killed_seen)} injected kill(s) seen)", bad)

    # -- barrier
    def pause_all(self, timeout=180):
        ctl = self.ctl
        with ctl.chaos_lock:
            ctl.chaos_paused = True
        with ctl.cv:
            ctl.pause = True
            deadline = time.time() + timeout
            while ctl.at_barrier + sum(not c.is_alive() for c in ctl.clients) < len(ctl.clients):
                left = deadline - time.time()
                if left <= 0:
                    stuck = [c.idx for c in ctl.clients if c.is_alive()]
                    return False, stuck
                ctl.cv.wait(min(left, 1.0))
        return True, []

    def resume_all(self):
        ctl = self.ctl
        with ctl.cv:
            ctl.pause = False
            ctl.at_barrier = 0
            ctl.generation += 1
            ctl.cv.notify_all()
        with ctl.chaos_lock:
            ctl.chaos_paused = False

    def live_pids(self):
        pids = set()
        for c in self.ctl.clients:
            for s in (c.main, c.helper):
                if s.alive:
                    pids.add(s.pid)
        return pids

    def quiesce(self, timeout=60):
        """Wait until exactly the clients' live sessions are connected as ROLE."""
        want = self.live_pids()
        deadline = time.time() + timeout
        while True:
            have = {r[0] for r in self.q("SELECT pid FROM pg_stat_activity WHERE usename = %s",
                                         [ROLE])}
            if have == want:
                return True, ""
            if time.time() > deadline:
                return False, f"backends {sorted(have - want)} still there, {sorted(want - have)} missing"
            time.sleep(0.05)

    # -- ledger vs txguard
    def epoch_episodes(self):
        eps = []
        void = False
        for c in self.ctl.clients:
            eps.extend(c.ledger.episodes)
            void = void or c.ledger.void
        return eps, void

    def new_epoch(self):
        for c in self.ctl.clients:
            c.ledger = Ledger()

    def compare(self, label):
        eps, void = self.epoch_episodes()
        want = collections.defaultdict(lambda: [0, 0, 0, 0])
        for e in eps:
            w = want[(ROLE, e.sqlstate)]
            w[0] += 1
            w[1] += 1 if e.in_block else 0
            w[2] += e.ignored
            w[3] += 1 if e.ended_by == "timeout" else 0
        got = {}
        for user, db, st, a, blk, ign, term in self.q(
                "SELECT usename, datname, sqlstate, aborts, aborted_blocks, ignored_commands, "
                "sessions_terminated FROM txguard_stats"):
            got[(user, st)] = [a, blk, ign, term]
        diffs = []
        for key in sorted(set(want) | set(got), key=str):
            w = want.get(key, [0, 0, 0, 0])
            g = got.get(key, [0, 0, 0, 0])
            if w != g:
                diffs.append(f"{key[0]}/{key[1]}: txguard_stats (aborts, aborted_blocks, "
                             f"ignored_commands, sessions_terminated) = {tuple(g)}, ledger = {tuple(w)}")
        self.mismatch_stats += len(diffs)
        tot = [sum(v[i] for v in want.values()) for i in range(4)]
        if void:
            diffs.insert(0, "a client's ledger is void (see anomalies)")
        self.check(not diffs, f"{label}: txguard_stats = ledger ({len(want)} SQLSTATEs, "
                              f"{tot[0]} aborts, {tot[1]} aborted blocks, {tot[2]} ignored, "
                              f"{tot[3]} timeouts)", diffs)

        # history
        info = self.q("SELECT history_size, history_written, history_overwritten, "
                      "history_dropped FROM txguard_info()")[0]
        hs, written, over, dropped = info
        rows = self.q("SELECT pid, sqlstate, message, in_block, in_savepoint, ignored_commands, "
                      "ended_by, aborted_at, ended_at, xact_start, aborted_seconds, usename, "
                      "datname, seq, statement FROM txguard_aborts")
        problems = []
        if written != len(eps):
            problems.append(f"txguard_info().history_written = {written}, ledger has {len(eps)} aborts")
        if over == 0 and dropped != 0:
            problems.append(f"history_dropped = {dropped} without overwriting")
        ledger_ms = collections.Counter(e.key() for e in eps)
        ledger_stmt = collections.Counter(e.key() + (e.stmt,) for e in eps)
        hist_ms = collections.Counter()
        stmt_bad = []
        for (pid, st, msg, in_block, in_sp, ign, end_by, at, end_at, xs, secs, user, db,
             seq, stmt) in rows:
            key = (pid, st, msg, in_block, in_sp, ign, end_by)
            hist_ms[key] += 1
            if ledger_stmt[key + (stmt,)] > 0:
                ledger_stmt[key + (stmt,)] -= 1
            elif ledger_stmt[key + (None,)] > 0:
                ledger_stmt[key + (None,)] -= 1
            elif ledger_ms[key] > 0:
                stmt_bad.append(f"seq {seq} pid {pid} {st}: statement {stmt!r}; ledger expects "
                                + repr(sorted({k[-1] for k in ledger_stmt if k[:-1] == key
                                               and ledger_stmt[k] > 0})))
            w = f"seq {seq} pid {pid} {st}"
            r = MESSAGE_RE.get(st)
            if r is None or msg is None or not r.match(msg):
                problems.append(f"{w}: torn? message {msg!r} does not fit SQLSTATE")
            if end_by is None or end_at is None:
                problems.append(f"{w}: not ended at the barrier (ended_by {end_by})")
            elif end_at < at:
                problems.append(f"{w}: ended_at {end_at} < aborted_at {at}")
            elif secs is None or abs(secs - (end_at - at).total_seconds()) > 0.002:
                problems.append(f"{w}: aborted_seconds {secs} vs {(end_at - at).total_seconds()}")
            if xs is not None and at < xs:
                problems.append(f"{w}: aborted_at before xact_start")
            if user != ROLE or db != DB:
                problems.append(f"{w}: usename/datname {user}/{db}")
        if over == 0:
            missing = ledger_ms - hist_ms
            extra = hist_ms - ledger_ms
            n_expected = len(eps)
        else:
            missing = collections.Counter()
            extra = hist_ms - ledger_ms
            n_expected = hs - dropped
            if sum(hist_ms.values()) != n_expected:
                problems.append(f"{sum(hist_ms.values())} records visible, expected {n_expected}")
        for k, n in list(extra.items())[:15]:
            problems.append(f"history record without ledger episode (x{n}): {k}")
            self._near(k, ledger_ms, problems)
        for k, n in list(missing.items())[:15]:
            problems.append(f"ledger episode missing from history (x{n}): {k}")
        problems.extend(stmt_bad[:15])
        self.mismatch_hist += sum(extra.values()) + sum(missing.values()) + len(stmt_bad)
        self.check(not problems, f"{label}: every txguard_aborts record matches a ledger episode, "
                                 f"none torn ({len(rows)} records, overwritten {over})", problems)
        return eps

    @staticmethod
    def _near(k, ledger_ms, problems):
        near = [x for x in ledger_ms if x[0] == k[0] and x[1] == k[1]]
        for x in near[:3]:
            problems.append(f"    same pid+sqlstate in ledger: {x}")

    def barrier_checks(self, label):
        ok, why = self.quiesce()
        rows = self.q("SELECT pid, sqlstate, message FROM txguard_aborted_sessions")
        act = self.q("SELECT pid, state FROM pg_stat_activity WHERE state LIKE '%%aborted%%'")
        prep = self.q("SELECT gid FROM pg_prepared_xacts")
        details = ([why] if not ok else []) + [f"aborted session: {r}" for r in rows] + \
                  [f"pg_stat_activity: {r}" for r in act] + \
                  [f"prepared transaction left: {r[0]}" for r in prep]
        self.check(ok and not rows and not act and not prep,
                   f"{label}: at the barrier no session is in an aborted block, no prepared "
                   f"transaction is left, the clients' backends are exactly the expected ones",
                   details)

    def anomaly_check(self, label):
        ctl = self.ctl
        with ctl.anom_lock:
            an = list(ctl.anomalies)
            ctl.anomalies.clear()
        clients = [f"{w}: {t}" for c, w, t in an if c == "client"]
        views = [f"{w}: {t}" for c, w, t in an if c == "txguard"]
        readers = [f"{w}: {t}" for c, w, t in an if c == "reader"]
        self.check(not views, f"{label}: what sessions are told agrees with the ledger (25P02 DETAIL, "
                              f"timeout FATAL, txguard_last_abort(), txguard_aborted_sessions of "
                              f"parked sessions)", views)
        self.check(not clients, f"{label}: clients saw only scripted outcomes (no unexpected "
                                f"errors or connection losses)", clients)
        self.check(not readers, f"{label}: readers found every txguard view consistent",
                   readers)

    def memory_check(self, label):
        c0 = self.ctl.clients[0]
        rep = [r for r in c0.mem_report if r[0] == self.ctl.phase]
        if not rep:
            return
        phase, serial, ops, growth, now, top = rep[-1]
        self.mem_lines.append(f"phase {phase}: connection #{serial}, {ops} operations since the "
                              f"baseline, growth {growth:+d} bytes (now {now}; by context: "
                              f"{top or 'no change'})")
        self.check(growth <= self.args.mem_slack,
                   f"{label}: backend memory of the long-lived client is flat ({growth:+d} bytes "
                   f"over {ops} operations since its baseline, limit {self.args.mem_slack})")

    # -- crash
    def crash(self, label):
        ctl = self.ctl
        with ctl.chaos_lock:
            ctl.chaos_paused = True
        ctl.set_crash_pending()
        ctl.crash_window = True
        rng = random.Random(f"{self.args.seed}:crash{ctl.phase}")
        cands = [c for c in ctl.clients if c.main.alive]
        victim = rng.choice(cands) if cands else None
        pid = victim.main.pid if victim else self.q("SELECT pg_backend_pid()")[0][0]
        ctl.injected_kills.add(pid)
        self.out(f"# {label}: SIGKILL backend {pid} (client {victim.idx if victim else '-'}) "
                 f"at +{time.time() - self.phase_t0:.1f} s")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            self.out(f"# backend {pid} already gone")
        self.crashes += 1
        ctl.totals.inc("kills")
        ctl.crash_count += 1

    def recover(self, label):
        self.conn = None
        deadline = time.time() + 120
        up = False
        while time.time() < deadline:
            try:
                self.admin()
                self.q("SELECT 1")
                up = True
                break
            except psycopg.Error:
                self.conn = None
                time.sleep(0.2)
        self.check(up, f"{label}: the server is back after the crash restart")
        if not up:
            raise SystemExit(1)
        # prepared transactions survive a crash: a client may have been between PREPARE and COMMIT
        for (gid,) in self.q("SELECT gid FROM pg_prepared_xacts"):
            self.admin().execute(f"ROLLBACK PREPARED '{gid}'")
            self.out(f"# rolled back prepared transaction {gid} left by the crash")
        # nothing kept across the restart: wait for the clients' old backends to be gone first
        st = self.q("SELECT count(*) FROM txguard_stats")[0][0]
        info = self.q("SELECT history_written, stats_entries FROM txguard_info()")[0]
        hist = self.q("SELECT count(*) FROM txguard_aborts")[0][0]
        sess = self.q("SELECT count(*) FROM txguard_aborted_sessions")[0][0]
        self.check(st == 0 and info == (0, 0) and hist == 0 and sess == 0,
                   f"{label}: statistics and history are empty after the crash restart",
                   [f"txguard_stats rows {st}, history_written/stats_entries {info}, "
                    f"txguard_aborts rows {hist}, aborted sessions {sess}"])

    # -- main
    def run(self):
        a = self.args
        ctl = self.ctl
        self.setup()
        digest = op_digest(a.seed, a.clients)
        self.digest = digest
        self.out(f"# op-sequence digest (seed {a.seed}, first 200 ops of {a.clients} clients): "
                 f"{digest}")
        phases = self.plan()
        self.phases = phases
        self.out("# plan: " + ", ".join(
            f"{p['no']}:{p['len']:.0f}s{'+crash' if p['crash_at'] is not None else ''}"
            f"/{p['boundary']}" for p in phases))
        ctl.clients = [Client(ctl, i) for i in range(a.clients)]
        ctl.readers = [Reader(ctl, 0, "postgres"), Reader(ctl, 1, READER_ROLE),
                       Reader(ctl, 2, PEON_ROLE)]
        chaos = Chaos(ctl)
        with ctl.cv:
            ctl.pause = False
        ctl.chaos_paused = False
        for t in ctl.clients + ctl.readers + [chaos]:
            t.start()
        epoch_phases = []
        for p in phases:
            ctl.phase = p["no"]
            label = f"phase {p['no']}"
            self.phase_t0 = time.time()
            crashed = False
            end = self.phase_t0 + p["len"]
            while time.time() < end:
                if (p["crash_at"] is not None and not crashed
                        and time.time() >= self.phase_t0 + p["crash_at"]):
                    self.crash(label)
                    crashed = True
                    break
                time.sleep(0.05)
            ok, stuck = self.pause_all()
            if not ok:
                self.check(False, f"{label}: all clients reached the barrier", [f"stuck: {stuck}"])
                self.finish(abort=True)
                return
            n_ops = sum(ctl.totals.ops.values())
            if crashed or ctl.unexpected_loss:
                if not crashed:
                    self.out(f"# {label}: unexpected connection losses: treated as a crash")
                    ctl.crash_count += 1
                self.recover(label)
                self.log_check(label)
                self.anomaly_check(label)
                ctl.unexpected_loss = 0
                self.new_epoch()
                epoch_phases = []
                ctl.crash_pending = False
                ctl.crash_window = False
                self.phase_log.append((p["no"], "crashed", n_ops))
                self.out(f"# {label}: crash restart done, new epoch")
            else:
                epoch_phases.append(p["no"])
                self.barrier_checks(label)
                self.compare(f"{label} (epoch of phases {epoch_phases})")
                self.log_check(label)
                self.anomaly_check(label)
                self.memory_check(label)
                self.phase_log.append((p["no"], "checked", n_ops))
                if p["boundary"] == "reset" and p is not phases[-1]:
                    self.q("SELECT txguard_reset()")
                    self.resets += 1
                    self.new_epoch()
                    epoch_phases = []
                    self.out(f"# {label}: txguard_reset(), new epoch")
            self.out(f"# {label} done at +{time.time() - self.t0:.0f} s")
            if p is phases[-1]:
                break
            self.resume_all()
        rep = self.ctl.clients[0].mem_report
        self.check(bool(rep), "the long-lived client's backend memory was sampled at a baseline "
                              "and at the end of its run",
                   ["no connection of client 0 lived long enough: lower --mem-baseline"])
        self.finish()

    def finish(self, abort=False):
        ctl = self.ctl
        ctl.stop_all = True
        with ctl.cv:
            ctl.generation += 1
            ctl.cv.notify_all()
        for t in ctl.clients:
            t.join(30)
        try:
            self.admin().execute("DO $$ BEGIN RAISE LOG 'txguard-stress: final check done'; END $$")
        except psycopg.Error:
            pass
        self.write_summary(abort)

    def write_summary(self, abort):
        a = self.args
        t = self.ctl.totals
        c = t.c
        lines = []
        checked = sum(1 for p in self.phase_log if p[1] == "checked")
        crashed = sum(1 for p in self.phase_log if p[1] == "crashed")
        lines.append(f"stress summary: seed {a.seed}, {a.duration:.0f} s, {a.clients} clients, "
                     f"{len(self.phase_log)} phases ({checked} checked, {crashed} with a crash), "
                     f"ran {time.time() - self.t0:.0f} s" + (" -- ABORTED" if abort else ""))
        lines.append(f"  op-sequence digest: {getattr(self, 'digest', '-')} (same seed, same digest)"
                     + ("; known-bug scenarios skipped (--skip-known-bugs)" if a.skip_known_bugs
                        else ""))
        lines.append(f"  operations: {sum(t.ops.values())} ("
                     + ", ".join(f"{k} {v}" for k, v in sorted(t.ops.items())) + ")")
        lines.append(f"  transactions: {c['committed']} committed, {c['rolled_back']} rolled back "
                     f"healthy, {sum(t.aborts.values())} aborted by an error; statements "
                     f"{c['statements']}, errors {c['errors']}, connections {c['connections']}")
        lines.append("  aborts by SQLSTATE (client-observed, whole run; aborted blocks in "
                     "parentheses):")
        items = sorted(t.aborts.items(), key=lambda kv: (-kv[1], kv[0]))
        for i in range(0, len(items), 6):
            lines.append("    " + "  ".join(f"{k} {v} ({t.blocks[k]})" for k, v in items[i:i + 6]))
        lines.append("  episodes ended by: " + ", ".join(
            f"{k} {v}" for k, v in sorted(t.ended.items(), key=lambda kv: -kv[1])))
        lines.append(f"  ignored commands (errors while aborted): {c['ignored']}")
        lines.append(f"  faults injected: terminations {c['terminations']} (idle in aborted block "
                     f"{c['terminated_aborted']}, in a healthy transaction "
                     f"{c['terminated_in_transaction']}, idle {c['terminated_idle']}), backend "
                     f"SIGKILLs {c['kills']}, idle-in-aborted timeouts {c['timeouts']}, disconnects "
                     f"while aborted {c['disconnects_aborted']} (+{c['disconnects_healthy']} in a "
                     f"healthy transaction)")
        lines.append(f"  crashes: {self.crashes} injected, unexpected connection losses "
                     f"{c['unexpected_losses']}; txguard_reset() calls {self.resets}")
        lines.append(f"  chaos: {c['inspections']} parked sessions inspected in "
                     f"txguard_aborted_sessions; core idle_in_transaction_session_timeout "
                     f"terminations {c['core_timeouts']} (timeouts inferred from a reset "
                     f"connection {c['timeouts_inferred']})")
        lines.append(f"  readers: {c['reader_queries']} queries; anomalies (all kinds) "
                     f"{c['anomalies']}; tolerated serialization surprises "
                     f"{c['tolerated_surprises']}")
        for m in self.mem_lines[-3:]:
            lines.append(f"  backend memory (client 0): {m}")
        lines.append(f"  ledger mismatches: {self.mismatch_stats} txguard_stats rows, "
                     f"{self.mismatch_hist} txguard_aborts records")
        lines.append(f"  checks: {self.passed} passed, {self.failed} failed")
        text = "\n".join(lines) + "\n"
        if a.summary:
            with open(a.summary, "w") as f:
                f.write(text)
        else:
            sys.stdout.write("\n" + text)
        if a.counts:
            with open(a.counts, "w") as f:
                f.write(f"{self.passed} {self.failed}\n")
        if a.dump:
            try:
                eps, _ = self.epoch_episodes()
                with open(a.dump, "w") as f:
                    json.dump([e.as_dict() for e in eps], f)
            except Exception:
                pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=55520)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--log", required=True, help="the server log file")
    ap.add_argument("--data", help="data directory (informational)")
    ap.add_argument("--summary")
    ap.add_argument("--counts")
    ap.add_argument("--dump")
    ap.add_argument("--skip-known-bugs", action="store_true",
                    help="do not drive the scenarios of txguard bugs B1 (COMMIT AND CHAIN "
                         "failing at commit) and B2 (... AND CHAIN from an aborted savepoint), "
                         "fixed since; for comparing builds from before the fix")
    ap.add_argument("--mem-baseline", type=int, default=100,
                    help="operations on a connection before the memory baseline is taken")
    ap.add_argument("--mem-slack", type=int, default=256 << 10,
                    help="allowed growth of the long-lived backend's memory per connection")
    args = ap.parse_args()
    if args.clients < 2:
        ap.error("--clients must be at least 2")
    ctl_main = Controller(args)
    try:
        ctl_main.run()
    except SystemExit:
        ctl_main.finish(abort=True)
    except Exception:
        ctl_main.check(False, "chaos.py ran to the end", [traceback.format_exc()])
        try:
            ctl_main.finish(abort=True)
        except Exception:
            traceback.print_exc()
    if not args.summary:
        print(f"stress: {ctl_main.passed} passed, {ctl_main.failed} failed")
    sys.exit(0 if ctl_main.failed == 0 and ctl_main.passed > 0 else 1)


if __name__ == "__main__":
    main()
