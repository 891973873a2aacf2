#!/usr/bin/python3
"""Driver of txguard's randomized reference-model tester.

Generates scripts from seeds (gen.py), runs each on a fresh connection,
compares every response with the model's prediction (model.py), and on a
difference prints it with a shrunk script a developer can replay.

    /usr/bin/python3 run.py --port 55460 --duration 60 --seed 1
    /usr/bin/python3 run.py --port 55460 --scripts 100000 --seed 1000 --out /tmp/txm
    /usr/bin/python3 run.py --port 55460 --seed 1234 --scripts 1 -v    # one seed, verbose
    /usr/bin/python3 run.py --port 55460 --replay /tmp/txm/mismatch-1.json -v

What is compared
  * per unit: the protocol responses as tokens (model.TOKENS); for every
    ErrorResponse its annotation (DETAIL sentence: N, cause, text; HINT;
    the message suffix with txguard.annotate = message), or its absence
    when the error was not raised in an aborted block; the FATAL of
    txguard's idle timeout (and when it came);
  * after units that end or create an abort record (and at the end), a
    check query: txguard_last_abort() against the model's latest record
    (ordinal, text, at_commit, role, query id, ..., the texts hidden from
    another role);
  * after each script (once its backend has exited): the script's records
    in txguard_abort_history(pid), the change of txguard_stats, and the
    end-of-block lines of the server log (--server-log);
  * at the end of the run: txguard_stats against the sum of all predictions
    (txguard_reset() is called at the start).

Query ids are compared with core's (queryid.py): EXPLAIN VERBOSE's Query
Identifier for optimizable statements, the hash of the text for utility
statements; NULL when the server computes none.

Exit status: 0 if nothing differed, 1 on any mismatch, 2 on a setup error.
"""

import argparse
import json
import os
import re
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen                      # noqa: E402
import model as M               # noqa: E402
import pgproto as P             # noqa: E402
import queryid as Q             # noqa: E402
import sqltext                  # noqa: E402

MARK_NAME = '__txm_mark'
MARK_OIDS = [600] * 7           # a signature no script statement has
ANN_RE = re.compile(r'The transaction was aborted by an earlier error in statement (-?\d+): '
                    r'ERROR (\w{5}): (.*?)(?: Statement: (.*))?\Z', re.S)
IDLE_RE = re.compile(r'(?:\A| )The session was idle for (\d+\.\d{3}) s\.\Z')
LINE_RE = re.compile(
    r'txguard: aborted transaction ended by (?P<how>.+?); cause (?P<cond>\S+) SQLSTATE (?P<state>\w{5}) '
    r'\((?P<n>\d+) ignored commands?, (?P<secs>\d+\.\d{3}) s aborted, statement (?P<N>-?\d+)'
    r'(?:, query id (?P<qid>-?\d+))?(?:; detail "(?P<detail>(?:[^"]|"")*)")?'
    r'(?:; (?P<trunc>truncated )?statement "(?P<stmt>(?:[^"]|"")*)")?\): (?P<msg>.*)\Z', re.S)
LINE_MARK = b'txguard: aborted transaction ended by '
DATABASES = ('postgres', 'txm_db2', M.LATIN1_DB)
USERS = ('postgres', 'txm_user')
CTL_APP = 'txguard-model-ctl'       # control, helper and oracle connections
DETAIL_MAX = 511                    # README: message, detail cut at 511 bytes


class Mismatch(Exception):
    """A difference between the server and the model."""

    def __init__(self, category, field, unit, expected, observed, note='', source=''):
        super().__init__('%s/%s' % (category, field))
        self.category, self.field, self.unit = category, field, unit
        self.expected, self.observed, self.note = expected, observed, note
        self.source = source or ''      # what raised the cause, for a finer grouping

    @property
    def signature(self):
        return (self.category, self.field, self.source)

    def describe(self):
        s = '%s mismatch (%s)' % (self.category, self.field)
        if self.source:
            s += ' [cause raised by: %s]' % self.source
        if self.unit is not None:
            s += ' at unit %d' % self.unit
        s += ':\n    expected: %s\n    observed: %s' % (_show(self.expected), _show(self.observed))
        if self.note:
            s += '\n    ' + self.note
        return s


def _show(v):
    s = json.dumps(v, ensure_ascii=False, default=str) if not isinstance(v, str) else repr(v)
    return s if len(s) < 4000 else s[:4000] + '... (%d characters)' % len(s)


# ---------------------------------------------------------------- events -> tokens

TOKEN_OF = {
    'parse_complete': '1', 'bind_complete': '2', 'close_complete': '3', 'param_desc': 't',
    'row_desc': 'T', 'no_data': 'n', 'empty': 'I', 'suspended': 's', 'copy_in': 'G',
    'copy_out': 'H', 'fn_result': 'V',
}


def tokenize(events):
    """(tokens, {token index: error event}, data rows)"""
    toks, errs, rows = [], {}, []
    for ev in events:
        k = ev.kind
        if k in TOKEN_OF:
            toks.append(TOKEN_OF[k])
        elif k == 'complete':
            toks.append('C:' + ev.tag)
        elif k == 'error':
            errs[len(toks)] = ev
            toks.append('E:' + ev.fields.get('C', '?'))
        elif k == 'ready':
            toks.append('Z:' + ev.status)
        elif k == 'data_row':
            rows.append(ev.values)
        elif k == 'closed':
            toks.append('X')
    return toks, errs, rows


def align(expected, observed):
    """{expected index: observed index} when the observed tokens are the
    expected ones (a token ending with '?' may be absent), else None."""
    where, j = {}, 0
    for i, tok in enumerate(expected):
        if tok.endswith('?'):
            if j < len(observed) and observed[j] == tok[:-1]:
                where[i] = j
                j += 1
            continue
        if j >= len(observed) or observed[j] != tok:
            return None
        where[i] = j
        j += 1
    return where if j == len(observed) else None


class _Closed:
    """The end of the connection, as an event."""
    kind = 'closed'


# ---------------------------------------------------------------- checks

def _with_checks(units, m):
    """Yield the units and the driver's check units, deciding on the fly from
    the model ``m`` (which the consumer runs each yielded unit through)."""
    n = len(units)
    for j, u in enumerate(units):
        before = [(id(r), r.ended_by) for r in m.records]
        yield u
        if m.over:
            return
        after = [(id(r), r.ended_by) for r in m.records]
        if after != before and m.status() in 'IT' and m.records:
            yield {'type': 'check'}
            if j == n - 1:
                return
    if m.status() in 'IT' and not m.over:
        yield {'type': 'check'}


def add_checks(script, cfg):
    """The script's units with the driver's check units inserted: after each
    unit that created or ended an abort record, when the session can run a
    query without side effects on the model (status I or T); and at the end.
    Returns the units -- deterministic."""
    m = M.Model(script, cfg)
    units = []
    for u in _with_checks(script['units'], m):
        m.run_unit(u, len(units))
        units.append(u)
    return units


def _b(v):
    return None if v is None else ('t' if v else 'f')


def load_condition_names(path):
    """SQLSTATE -> condition name, from core's errcodes.txt (None: unknown)."""
    names = {}
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 4 and re.fullmatch(r'[0-9A-Z]{5}', p[0]) and p[1] in 'EWS':
                    names.setdefault(p[0], p[3])
    except OSError:
        return None
    return names


class LogReader:
    """The end-of-block lines of the server log, per backend pid (shared by
    the sessions of a run)."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.offset = os.path.getsize(path) if path and os.path.exists(path) else 0
        self.by_pid = {}
        self.partial = b''

    def position(self):
        """The end of the log as read so far (a script's lines come after the
        position taken when its connection opened)."""
        with self.lock:
            self._read()
            return self.offset

    def _read(self):
        with open(self.path, 'rb') as f:
            f.seek(self.offset)
            data = f.read()
        start = self.offset - len(self.partial)
        self.offset += len(data)
        data = self.partial + data
        lines = data.split(b'\n')
        self.partial = lines.pop()
        pos = start
        for line in lines:
            at = pos
            pos += len(line) + 1
            i = line.find(LINE_MARK)
            if i < 0:
                continue
            m = re.search(rb'\[(\d+)\] (?:WARNING|LOG):  $', line[:i])
            if m:
                self.by_pid.setdefault(int(m.group(1)), []).append((at, line[i:]))

    def take(self, pid, since=0):
        """The raw lines of ``pid`` written after the log position ``since``
        (older lines of that pid belong to an earlier backend with the same
        pid, and are dropped)."""
        with self.lock:
            self._read()
            return [line for at, line in self.by_pid.pop(pid, []) if at >= since]


# ---------------------------------------------------------------- the runner

class Shared:
    """What the sessions of one run share."""

    def __init__(self, args):
        self.log = LogReader(args.server_log) if args.server_log else None
        self.ser_lock = threading.Lock()        # one serialization conflict at a time
        self.crashed = False
        self.conditions = load_condition_names(args.errcodes) if args.errcodes else None
        self.oracle_failures = []


class Runner:
    def __init__(self, args, shared=None):
        self.args = args
        self.host, self.port = args.host, args.port
        self.shared = shared or Shared(args)
        self.ctl = None
        self.cfg = M.Config(stats_rule=args.stats_rule)
        self.max_len = 1024
        self.history_size = 1000
        self.fp_oids = {}
        self.last_seq = 0
        self.stats_prev = {}
        self.stats_pred = {}          # predicted change of txguard_stats by the counted scripts
        self.concurrent = False       # other sessions run scripts at the same time (--jobs)
        self.ignore = set(x.strip() for x in (args.ignore or '').split(',') if x.strip())
        self.runs = 0
        self.log_mode, self.log_min_ms = 'all', None
        self.qid_enabled = False
        self.aux = {}                 # (purpose, db) -> connection (helper, oracle)
        self.crash_scripts = []       # scripts that crashed the server while shrinking another
        self.oracles = {}

    # -- connections

    def connect(self, user='postgres', database='postgres', options=None, app='txguard-model'):
        kw = dict(host=self.host, port=self.port, user=user, database=database, options=options,
                  timeout=self.args.timeout, application_name=app)
        if self.args.socket_dir:
            kw['unix_socket_dir'] = self.args.socket_dir
        return P.Conn(**kw)

    def aux_conn(self, purpose, db):
        c = self.aux.get((purpose, db))
        if c is None or c.closed:
            c = self.aux[(purpose, db)] = self.connect(database=db, app=CTL_APP)
            c.query('SET client_min_messages = warning')
        return c

    def oracle(self, db):
        o = self.oracles.get(db)
        if o is None or o.conn.closed:
            o = self.oracles[db] = Q.Oracle(self.aux_conn('oracle', db), M.db_encoding(db))
        return o

    def close_aux(self):
        for c in self.aux.values():
            c.close()
        self.aux, self.oracles = {}, {}

    def ctl_query(self, sql, ok=True):
        evs = self.ctl.query(sql)
        err = P.first_error(evs)
        if err and ok:
            raise RuntimeError('control query failed: %s: %s %s' % (sql[:200], err.sqlstate,
                                                                     err.fields.get('M')))
        return P.simple_rows(evs)

    def setup(self):
        """Roles, databases, objects, a clean txguard."""
        self.ctl = self.connect(app=CTL_APP)
        self.ctl_query('SET client_min_messages = warning')
        for role, login in (('txm_user', 'LOGIN'), ('txm_owner', 'NOLOGIN')):
            if not self.ctl_query("SELECT 1 FROM pg_roles WHERE rolname = '%s'" % role):
                self.ctl_query('CREATE ROLE %s %s' % (role, login))
        if not self.ctl_query("SELECT 1 FROM pg_database WHERE datname = 'txm_db2'"):
            self.ctl_query('CREATE DATABASE txm_db2')
        if not self.ctl_query("SELECT 1 FROM pg_database WHERE datname = '%s'" % M.LATIN1_DB):
            self.ctl_query("CREATE DATABASE %s TEMPLATE template0 ENCODING 'LATIN1' "
                           "LC_COLLATE 'C' LC_CTYPE 'C'" % M.LATIN1_DB)
        self.cleanup_prepared()
        preload = self.ctl_query('SHOW shared_preload_libraries')[0][0]
        pgss = 'pg_stat_statements' in preload
        for db in DATABASES:
            c = self.connect(database=db, app=CTL_APP)
            try:
                for sql in ('SET client_min_messages = warning',
                            "SET lock_timeout = '20s'",
                            'CREATE EXTENSION IF NOT EXISTS txguard',
                            'SELECT lo_unlink(oid) FROM pg_largeobject_metadata',
                            M.SETUP_SQL,
                            'GRANT ALL ON ALL TABLES IN SCHEMA public TO txm_user',
                            'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO txm_user',
                            'GRANT CREATE, USAGE ON SCHEMA public TO txm_user') + (
                                ('CREATE EXTENSION IF NOT EXISTS pg_stat_statements',) if pgss else ()):
                    err = P.first_error(c.query(sql))
                    if err:
                        raise RuntimeError('setup of %s failed: %s %s' % (db, err.sqlstate, err.fields.get('M')))
            finally:
                c.close()
        self.lookup_oids()
        self.read_settings()
        if self.qid_enabled and pgss:
            bad = self.oracle('postgres').self_check(True)
            if bad:
                raise RuntimeError('the utility query id hash differs from pg_stat_statements: %r' % bad)
        self.ctl_query('SELECT txguard_reset()')
        self.last_seq = int(self.ctl_query('SELECT coalesce(max(seq), 0) FROM txguard_abort_history()')[0][0])
        self.stats_prev = self.stats_start = self.read_stats()

    def lookup_oids(self):
        """The OIDs of the fast-path functions, per database."""
        for db in DATABASES:
            c = self.connect(database=db, app=CTL_APP)
            try:
                self.fp_oids[db] = {
                    fn: int(P.simple_rows(c.query("SELECT '%s'::regprocedure::oid" % sig))[0][0])
                    for fn, sig in M.FASTPATH.items()}
            finally:
                c.close()

    def read_settings(self):
        rows = dict(self.ctl_query(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('txguard.max_statement_length', 'txguard.history_size', 'max_prepared_transactions', "
            "'txguard.log_aborts', 'txguard.log_aborts_min_duration', 'shared_preload_libraries', "
            "'compute_query_id', 'server_version')"))
        self.settings = rows
        self.max_len = int(rows.get('txguard.max_statement_length', 1024))
        self.history_size = int(rows.get('txguard.history_size', 1000))
        self.cfg = M.Config(self.max_len, int(rows.get('max_prepared_transactions', 0)),
                            self.args.stats_rule, self.args.time_scale, None, self.args.savepoint_rule)
        la = rows.get('txguard.log_aborts', 'on')
        # 1.1's boolean: on = every aborted block (1.2's 'all')
        self.log_mode = {'on': 'all', 'true': 'all', 'off': 'off', 'false': 'off'}.get(la, la)
        mind = rows.get('txguard.log_aborts_min_duration')
        self.log_min_ms = int(mind) if mind is not None else None
        if self.log_mode == 'problems' and self.log_min_ms is None:
            self.log_min_ms = 1000
        if self.log_mode == 'problems':
            self.cfg.log_min_ms = self.log_min_ms
        self.qid_enabled = self.oracle('postgres').enabled()

    def describe_server(self):
        s = self.settings
        return ('PostgreSQL %s; shared_preload_libraries = %s; max_prepared_transactions = %s; '
                'txguard.log_aborts = %s (%s)%s; query ids %s; statistics rule %s' % (
                    s.get('server_version'), s.get('shared_preload_libraries'),
                    s.get('max_prepared_transactions'), s.get('txguard.log_aborts'), self.log_mode,
                    '' if self.log_min_ms is None else ', min duration %d ms' % self.log_min_ms,
                    'on' if self.qid_enabled else 'off', self.cfg.stats_rule))

    def cleanup_prepared(self, seed=None):
        """Roll back the prepared transactions scripts left (in their
        database): those of the script of ``seed`` (gen.py names them
        txm_<seed>_<n>), or all when None (no script is running)."""
        like = 'txm%' if seed is None else 'txm\\_%d\\_%%' % seed
        for g, db in self.ctl_query("SELECT gid, database FROM pg_prepared_xacts WHERE gid LIKE '%s'" % like):
            if db == 'postgres':
                self.ctl_query("ROLLBACK PREPARED '%s'" % g, ok=False)
            else:
                c = self.connect(database=db, app=CTL_APP)
                try:
                    c.query("ROLLBACK PREPARED '%s'" % g)
                finally:
                    c.close()

    STATS_COLS = list(M.STATS_COLUMNS)

    def read_stats(self):
        rows = self.ctl_query('SELECT datname, usename, sqlstate, %s FROM txguard_stats' %
                              ', '.join(self.STATS_COLS))
        return {(r[0], r[1], r[2]): {c: int(v) for c, v in zip(self.STATS_COLS, r[3:])} for r in rows}

    # -- crashes

    def server_alive(self):
        try:
            self.ctl_query('SELECT 1')
            return True
        except (OSError, ConnectionError, P.ProtocolError, RuntimeError):
            return False

    def recover(self):
        """After the server crashed (and restarted its sessions): wait until it
        accepts connections again, reconnect, take a new baseline.  Returns a
        note for the report."""
        self.shared.crashed = True
        self.close_aux()
        if self.ctl is not None:
            self.ctl.close()
        t0 = time.time()
        while True:
            try:
                self.ctl = self.connect(app=CTL_APP)
                self.ctl_query('SET client_min_messages = warning')
                break
            except (OSError, ConnectionError, P.ProtocolError):
                if time.time() - t0 > 120:
                    raise RuntimeError('the server did not come back after a crash')
                time.sleep(0.2)
        self.rebaseline()
        return 'the server restarted (crash) after %.1f s' % (time.time() - t0)

    # -- one script

    def run_script(self, script, verbose=False, count=False):
        """Run one script from start to end check; returns None or the first Mismatch."""
        return self.finish(self.run_units(self.open(script), script, verbose), count)

    def open(self, script):
        """A fresh connection for the script, with the marker statement."""
        self.runs += 1
        opts = []
        if script['track'] != 'blocks':
            opts.append('-c txguard.track=%s' % script['track'])
        if script['annotate'] != 'detail':
            opts.append('-c txguard.annotate=%s' % script['annotate'])
        if script.get('timeout_ms'):
            opts.append('-c txguard.idle_in_aborted_transaction_timeout=%d' % script['timeout_ms'])
        log_pos = self.shared.log.position() if self.shared.log is not None else 0
        conn = self.connect(script['user'], script['database'], ' '.join(opts) or None)
        conn.log_pos = log_pos
        conn.seq0 = None
        if self.concurrent:
            # the script's history rows are those of its pid after this point
            conn.seq0 = int(self.ctl_query('SELECT coalesce(max(seq), 0) FROM txguard_abort_history()')[0][0])
        conn.send(P.msg_parse(MARK_NAME, '', MARK_OIDS) + P.msg_sync())
        conn.read_until_ready()
        return conn

    def run_units(self, conn, script, verbose=False):
        """Run the units on ``conn`` and close it.  Returns the pending end
        check: (pid, model, observed errors, first mismatch or None, seq0,
        unit times, database)."""
        m = M.Model(script, self.cfg)
        self.cur_timeout = script.get('timeout_ms', 0)
        pid = conn.pid
        observed_errs = {}          # (unit, token index) -> error event
        times = {}                  # unit -> (sent, answered)
        mismatch = None
        db = script['database']
        uses_helper = any(u['type'] in ('helper',) for u in script['units'])
        lock = self.shared.ser_lock if uses_helper and self.concurrent else None
        if lock:
            lock.acquire()
        # The predictions first: between two units the session may be idle
        # in an aborted block under txguard's timeout, so the driver does
        # nothing there but send.
        plan = [(u, m.run_unit(u, i)) for i, u in enumerate(_with_checks(script['units'], m))]
        try:
            for i, (u, out) in enumerate(plan):
                t_sent = time.time()
                try:
                    events = self.send_unit(conn, u, db, out, times, i)
                except (OSError, ConnectionError, P.ProtocolError) as e:
                    raise self.lost_connection(conn, i, out, e)
                times[i] = (t_sent, time.time())
                toks, errs, rows = tokenize(events)
                if verbose:
                    print('  unit %d %s' % (i, _unit_summary(u)))
                    print('      tokens %s' % ' '.join(toks))
                    for ti, ev in errs.items():
                        print('      E %s %s | DETAIL %s | HINT %s' % (
                            ev.sqlstate, ev.fields.get('M'), (ev.fields.get('D') or '')[:300],
                            ev.fields.get('H')))
                where = align(out.tokens, toks)
                if where is None:
                    if 'E:58P01' in toks and 'E:58P01' not in out.tokens:
                        # "could not access file $libdir/txguard": the library is being
                        # reinstalled under the running server -- not a model difference
                        raise Mismatch('environment', '58P01', i, ' '.join(out.tokens), ' '.join(toks),
                                       'txguard.so could not be loaded (reinstalled while the test ran?)')
                    if out.check is not None and toks[:2] == ['T', 'E:22021']:
                        raise Mismatch('last_abort', 'unreadable', i, 'a readable record',
                                       ' '.join(toks), errs[1].fields.get('M') if 1 in errs else '')
                    raise Mismatch('protocol', 'tokens', i, ' '.join(out.tokens), ' '.join(toks))
                for ti, ev in errs.items():
                    observed_errs[(i, ti)] = ev
                for ti, exp in out.errs.items():
                    self.check_error(i, exp, errs[where[ti]], observed_errs, times)
                if out.check is not None:
                    self.check_last_abort(i, out.check, rows, observed_errs, db)
        except Mismatch as e:
            mismatch = e
        finally:
            conn.close()
            if lock:
                lock.release()
        m.end_session()
        return (pid, m, observed_errs, mismatch, (conn.seq0, conn.log_pos, script.get('seed')), times, db)

    def lost_connection(self, conn, i, out, e):
        """The Mismatch for a connection the server closed unexpectedly: a
        FATAL it sent says why (txguard's timeout while the client was still
        sending: 'timeout/while sending')."""
        try:
            if not conn.closed:
                conn.read_until_closed(1)
        except (OSError, ConnectionError, P.ProtocolError):
            pass
        fatal = [ev for ev in conn.recent if ev.kind == 'error' and ev.fields.get('V') == 'FATAL']
        if fatal:
            f = fatal[-1]
            what = '%s %s (%s)' % (f.sqlstate, f.fields.get('M'), (f.fields.get('D') or '')[-60:])
            if f.sqlstate == '25P03':
                return Mismatch('timeout', 'while sending', i, ' '.join(out.tokens), 'FATAL ' + what,
                                'the session was ended while the client was still sending')
            return Mismatch('protocol', 'fatal', i, ' '.join(out.tokens), 'FATAL ' + what)
        return Mismatch('protocol', 'connection', i, ' '.join(out.tokens), 'error: %s' % e,
                        'the server did not answer as predicted (timeout or closed)')

    def finish(self, pending, count=False):
        """The end check of a script whose connection is closed; ``count``:
        add its predicted statistics to the run's total."""
        pid, m, observed_errs, mismatch, (seq0, log_pos, seed), times, db = pending
        if count:
            M.add_stats(self.stats_pred, M.stats_delta(m.records, self.cfg.stats_rule))
        crashed = False
        if mismatch is not None and mismatch.category == 'protocol' and mismatch.field in ('connection', 'fatal'):
            # the session's connection was lost: if a backend crashed, the
            # postmaster ends every other session soon (the control one too)
            t0 = time.time()
            while time.time() - t0 < 3 and not crashed:
                crashed = not self.server_alive()
                time.sleep(0.05)
        elif not self.server_alive():
            crashed = True
        if not crashed:
            try:
                self.end_check(pid, m, observed_errs, mismatch is None, seq0, times, db, log_pos)
            except Mismatch as e:
                mismatch = mismatch or e
            except (OSError, ConnectionError, P.ProtocolError):
                crashed = True
        if crashed:
            note = self.recover()
            return Mismatch('crash', 'server', mismatch.unit if mismatch else None,
                            'the server keeps running', 'it restarted after a crash',
                            note + ('; the first difference before it: %s' % mismatch.describe()
                                    if mismatch else ''),
                            source=mismatch.source if mismatch else '')
        if m.gids or mismatch is not None:
            self.cleanup_prepared(seed)
        return mismatch

    def send_unit(self, conn, u, db, out, times, i):
        t = u['type']
        if t == 'simple':
            copies = [tuple(c) for c in u.get('copy', ())]
            if u.get('cancel'):
                conn.send(P.msg_query(M.full_sql(u)))
                self.cancel_sleep(conn, db)
                return conn.read_until_ready(copies)
            return conn.query(M.full_sql(u), copies)
        if t == 'check':
            return conn.query(M.CHECK_SQL)
        if t == 'fastpath':
            conn.send(P.msg_function_call(self.fp_oids[db][u['fn']], u.get('args', [])))
            return conn.read_until_ready()
        if t == 'helper':
            evs = self.aux_conn('helper', db).query(u['sql'])
            err = P.first_error(evs)
            if err:
                raise Mismatch('helper', 'error', i, 'the helper session succeeds',
                               '%s %s' % (err.sqlstate, err.fields.get('M')))
            return []
        if t == 'terminate':
            rows = P.simple_rows(self.aux_conn('helper', db).query(
                'SELECT pg_terminate_backend(%d, 10000)' % conn.pid))
            if rows != [['t']]:
                raise Mismatch('helper', 'terminate', i, [['t']], rows)
            events, closed = conn.read_until_closed(10)
            return events + ([_Closed()] if closed else [])
        if t == 'sleep':
            if 'X' in out.tokens:
                # the model says the idle timeout ends the session: wait for it
                t0 = times[i - 1][1] if i - 1 in times else time.time()
                t_armed = times[i - 1][0] if i - 1 in times else t0
                events, closed = conn.read_until_closed(u["ms"] / 1000.0 + 3)
                took = time.time() - t_armed
                if events and took * 1000 < self.cur_timeout - 5:
                    raise Mismatch('timeout', 'early', i, '>= %d ms idle' % self.cur_timeout,
                                   '%.0f ms after the previous exchange was sent' % (took * 1000))
                return events + ([_Closed()] if closed else [])
            time.sleep(u['ms'] / 1000.0)
            if conn.pending():
                events, closed = conn.read_until_closed(1)
                return events + ([_Closed()] if closed else [])
            return []
        # extended protocol: 'pause' steps split the messages into parts sent apart
        parts, cur = [], b''
        for msg in u['msgs']:
            if msg['m'] == 'pause':
                parts.append((cur, msg['ms']))
                cur = b''
            else:
                cur += self.ext_bytes(msg, db)
        for data, ms in parts:
            conn.send(data)
            time.sleep(ms / 1000.0)
        if u.get('cancel'):
            mbytes, done = self.marker()
            conn.send(cur + mbytes)
            self.cancel_sleep(conn, db)
            return conn.read_until_marker(done)
        return conn.exchange(cur, self.marker())

    def cancel_sleep(self, conn, db):
        """Send a CancelRequest once the session's backend sleeps in pg_sleep
        (polled: a cancel that arrives before is lost)."""
        h = self.aux_conn('helper', db)
        t0 = time.time()
        while time.time() - t0 < 20:
            rows = P.simple_rows(h.query("SELECT wait_event FROM pg_stat_activity WHERE pid = %d" % conn.pid))
            if rows and rows[0][0] == 'PgSleep':
                conn.cancel()
                return
            time.sleep(0.002)
        raise Mismatch('helper', 'cancel', None, 'the session sleeps in pg_sleep', 'it never did')

    def ext_bytes(self, msg, db):
        m = msg['m']
        if m == 'parse':
            return P.msg_parse(msg.get('name', ''), M.full_sql(msg), msg.get('types', ()))
        if m == 'bind':
            return P.msg_bind(msg.get('portal', ''), msg.get('stmt', ''), msg.get('params', ()))
        if m == 'describe':
            return P.msg_describe(msg['what'], msg.get('name', ''))
        if m == 'execute':
            return P.msg_execute(msg.get('portal', ''), msg.get('max_rows', 0))
        if m == 'close':
            return P.msg_close(msg['what'], msg.get('name', ''))
        if m == 'flush':
            return P.msg_flush()
        if m == 'sync':
            return P.msg_sync()
        if m == 'query':
            return P.msg_query(msg['sql'])
        if m == 'fastpath':
            return P.msg_function_call(self.fp_oids[db][msg['fn']], msg.get('args', []))
        raise ValueError('unknown message %r' % m)

    @staticmethod
    def marker():
        data = P.msg_describe('S', MARK_NAME) + P.msg_sync()

        def done(evs):
            if (len(evs) >= 3 and evs[-1].kind == 'ready' and evs[-2].kind == 'no_data'
                    and evs[-3].kind == 'param_desc' and evs[-3].nparams == MARK_OIDS):
                return 3
            return 0
        return data, done

    # -- comparisons

    def cause_fields(self, rec, observed_errs):
        ev = observed_errs.get(tuple(rec.err_ref)) if rec.err_ref else None
        if ev is None:
            return None, None
        return ev.fields.get('M'), ev.fields.get('D')

    def check_error(self, i, exp, ev, observed_errs, times):
        det = ev.fields.get('D') or ''
        hint = ev.fields.get('H')
        msg = ev.fields.get('M') or ''
        annotate = exp.annotate
        if exp.fatal == 'timeout':
            # txguard's idle timeout: the annotation (unless annotate = off),
            # then the idle time
            mi = IDLE_RE.search(det)
            if mi is None:
                raise Mismatch('timeout', 'detail', i, '... The session was idle for N s.', det)
            det = det[:mi.start()]
            if exp.record is None:
                raise Mismatch('timeout', 'cause', i, 'no timeout outside an aborted block', det)
        if not exp.annotated or annotate == 'off':
            if 'The transaction was aborted by an earlier error' in det or hint in (M.HINT_BLOCK, M.HINT_SAVEPOINT) \
                    or '(aborted by earlier error' in msg:
                raise Mismatch('annotation', 'spurious', i,
                               'no annotation (%s)' % ('annotate = off' if exp.annotated
                                                       else 'error not raised while aborted'),
                               {'detail': det, 'hint': hint, 'message': msg})
            return
        rec = exp.record
        cmsg, cdet = self.cause_fields(rec, observed_errs)
        want = M.annotation(exp.ordinal, rec.sqlstate, cmsg, cdet, exp.text, self.max_len,
                            M.db_encoding(rec.db))
        if rec.text_optional and ' Statement: ' not in det:
            want = M.annotation(exp.ordinal, rec.sqlstate, cmsg, cdet, None, self.max_len)
        # core's DETAIL (if any) comes first
        got = det
        mt = ANN_RE.search(det)
        if mt is None:
            raise Mismatch('annotation', 'missing', i, want, det, source=rec.source)
        if mt.start() > 0:
            got = det[mt.start():]
        if got != want:
            exp_n, exp_state = str(exp.ordinal), rec.sqlstate
            if mt.group(2) == exp_state and mt.group(1) != exp_n and 'annotation/N' in self.ignore \
                    and (mt.group(4) or '') == (want.split(' Statement: ', 1)[1] if ' Statement: ' in want else ''):
                return
            if mt.group(2) != exp_state or not (mt.group(3) or '').startswith(cmsg or ''):
                field = 'cause'
            elif mt.group(1) != exp_n:
                field = 'N'
            else:
                field = 'text'
            raise Mismatch('annotation', field, i, want, got,
                           'cause: statement %s %r (unit %s)' % (exp.ordinal, exp.text, rec.unit),
                           source=rec.source)
        if exp.fatal:
            return
        # DEFINITION.md 4: a HINT only when a savepoint's subtransaction was aborted
        want_hint = M.HINT_SAVEPOINT if exp.in_savepoint else None
        if hint != want_hint and 'annotation/hint' not in self.ignore:
            raise Mismatch('annotation', 'hint', i, want_hint, hint, source=rec.source)
        if annotate == 'message':
            suffix = ' (aborted by earlier error %s: %s)' % (rec.sqlstate, cmsg)
            if not msg.endswith(suffix):
                raise Mismatch('annotation', 'message', i, '... ' + suffix, msg, source=rec.source)
        elif '(aborted by earlier error' in msg:
            raise Mismatch('annotation', 'message', i, 'no suffix (annotate = %s)' % annotate, msg,
                           source=rec.source)

    def resolve_qid(self, spec, db):
        """The query id (text, as the server shows a bigint) a record must
        carry, None for NULL, or 'skip'."""
        if spec is None or not self.qid_enabled:
            return None
        if spec == 'skip':
            return 'skip'
        try:
            if spec[0] == 'util':
                return str(self.oracle(db).utility(spec[1]))
            v = self.oracle(db).explain(spec[1], spec[2])
        except Q.OracleError as e:
            if len(self.shared.oracle_failures) < 20:
                self.shared.oracle_failures.append(str(e))
            return 'skip'
        return None if v is None else str(v)

    def record_fields(self, rec, observed_errs, visible=True):
        """The predicted columns of a record, as text like the server's."""
        cmsg, cdet = self.cause_fields(rec, observed_errs)
        text = rec.text
        if text is not None:
            text = sqltext.cut_bytes(text, self.max_len, M.db_encoding(rec.db))[0] or None
        if cdet is not None:
            cdet = sqltext.cut_bytes(cdet, DETAIL_MAX, M.db_encoding(rec.db))[0]
        out = {'sqlstate': rec.sqlstate,
               'statement_ordinal': None if rec.ordinal is None else str(rec.ordinal),
               'statement': text, 'in_block': _b(rec.in_block), 'in_savepoint': _b(rec.in_savepoint),
               'ignored_commands': str(rec.ignored), 'ended_by': rec.ended_by,
               'message': cmsg, 'detail': cdet, 'at_commit': _b(rec.at_commit), 'usename': rec.user,
               'queryid': self.resolve_qid(rec.qid, rec.db),
               '_text_optional': rec.text_optional}
        if not visible:
            for col in M.HIDDEN_COLUMNS:
                out[col] = None
        return out

    def compare_record(self, category, i, want, got, source=''):
        for col in M.COMPARE_ORDER:
            if want.get(col) == 'skip':
                continue
            if col == 'statement' and want.get('_text_optional') and got.get(col) is None:
                continue
            if want.get(col) != got.get(col):
                field = {'statement_ordinal': 'N', 'statement': 'text'}.get(col, col)
                if '%s/%s' % (category, field) in self.ignore or '*/%s' % field in self.ignore:
                    continue
                shown = {k: v for k, v in want.items() if not k.startswith('_')}
                raise Mismatch(category, field, i, shown, got, source=source)

    def check_last_abort(self, i, pred, rows, observed_errs, db):
        if pred == 'none':
            if rows:
                raise Mismatch('last_abort', 'spurious', i, 'no abort in this session', rows[0])
            return
        if not rows:
            raise Mismatch('last_abort', 'missing', i, pred, 'no row')
        rec = M.Record.__new__(M.Record)
        for k in M.Record.__slots__:
            setattr(rec, k, pred[k])
        want = self.record_fields(rec, observed_errs, pred['visible'])
        got = dict(zip(M.CHECK_COLUMNS, rows[0]))
        self.compare_record('last_abort', i, want, got, pred.get('source'))

    def end_check(self, pid, m, observed_errs, compare_history, seq0, times, db, log_pos=0):
        """The script's records in the history, the change of txguard_stats,
        and its end-of-block lines, once the backend has exited (polled: its
        exit is asynchronous)."""
        recs = [r for r in m.records if M.tracked(r)]
        want_hist = [self.record_fields(r, observed_errs) for r in recs]
        want_delta = M.stats_delta(m.records, self.cfg.stats_rule)
        sql = ('SELECT seq, %s FROM txguard_abort_history(%d) WHERE seq > %d ORDER BY seq; '
               'SELECT datname, usename, sqlstate, %s FROM txguard_stats' %
               (', '.join(M.CHECK_COLUMNS), pid, self.last_seq if seq0 is None else seq0,
                ', '.join(self.STATS_COLS)))
        t0 = time.time()
        while True:
            # Whether the backend has exited is decided BEFORE reading: a read
            # after the exit is final (the exit itself may still change things).
            gone = not self.backend_alive(pid)
            evs = self.ctl.query(sql)
            err = P.first_error(evs)
            if err:
                raise Mismatch('history', 'unreadable', None, 'a readable history',
                               '%s %s' % (err.sqlstate, err.fields.get('M')))
            # split the two result sets
            sets, cur = [], []
            for ev in evs:
                if ev.kind == 'data_row':
                    cur.append(ev.values)
                elif ev.kind == 'complete':
                    sets.append(cur)
                    cur = []
            hist_rows, stat_rows = sets[0], sets[1]
            stats = {(r[0], r[1], r[2]): {c: int(v) for c, v in zip(self.STATS_COLS, r[3:])}
                     for r in stat_rows}
            delta = {}
            for key in set(stats) | set(self.stats_prev):
                a = stats.get(key, {})
                b = self.stats_prev.get(key, {})
                d = {c: a.get(c, 0) - b.get(c, 0) for c in self.STATS_COLS}
                if any(d.values()):
                    delta[key] = d
            got_hist = [dict(zip(M.CHECK_COLUMNS, r[1:])) for r in hist_rows]
            problem = None
            if compare_history and self.history_size > 0 and len(want_hist) <= self.history_size:
                if len(got_hist) != len(want_hist):
                    problem = Mismatch('history', 'count', None, want_hist, got_hist)
                else:
                    for r_, w, g in zip(recs, want_hist, got_hist):
                        try:
                            self.compare_record('history', None, w, g, r_.source)
                        except Mismatch as e:
                            problem = e
                            break
            if problem is None and compare_history and not self.concurrent:
                wd = {k: v for k, v in want_delta.items() if any(v.values())}
                if wd != delta:
                    problem = Mismatch('stats', 'delta', None, _stats_json(wd), _stats_json(delta))
            # The backend's exit is asynchronous: wait for it (its disconnect may
            # still change the history and the statistics), then decide.
            if (gone and (problem is None or time.time() - t0 > 0.3)) or time.time() - t0 > 3:
                break
            time.sleep(0.001)
        for r in hist_rows:
            self.last_seq = max(self.last_seq, int(r[0]))
        self.stats_prev = stats
        lines = self.shared.log.take(pid, log_pos) if self.shared.log is not None else []
        if problem is not None:
            raise problem
        if self.shared.log is not None:
            if compare_history:
                self.check_end_lines(m, lines, observed_errs, times, db)

    def check_end_lines(self, m, lines, observed_errs, times, db):
        """The end-of-block lines of the script's backend (DEFINITION.md 5)."""
        enc = M.db_encoding(db)
        got = []
        for raw in lines:
            s = raw.decode(enc, 'replace')
            mt = LINE_RE.match(s)
            if mt is None:
                raise Mismatch('log', 'format', None, 'txguard: aborted transaction ended by ...', s)
            got.append(mt)
        want = []
        for r in m.records:
            if not r.in_block or r.ended_by in (None, 'implicit'):
                continue
            bounds = (0.0, 1e9)
            e0, e1 = r.err_ref[0], r.end_unit
            if e0 in times and e1 in times:
                lo = times[e1][0] - times[e0][1] if e1 > e0 else 0.0
                bounds = (max(0.0, lo), times[e1][1] - times[e0][0])
            exp = M.end_line_expected(r, self.log_mode, self.log_min_ms, bounds)
            if exp is None:
                return                  # too close to the limit to say: not compared
            if exp:
                want.append((r, bounds))
        if len(got) != len(want):
            raise Mismatch('log', 'count', None,
                           ['%s %s N=%s' % (r.ended_by, r.sqlstate, r.ordinal) for r, _ in want],
                           [g.group(0)[:300] for g in got],
                           'txguard.log_aborts = %s%s' % (self.log_mode, '' if self.log_min_ms is None
                                                          else ', min duration %d ms' % self.log_min_ms),
                           source=want[0][0].source if want else '')
        for (r, bounds), g in zip(want, got):
            f = self.record_fields(r, observed_errs)
            cond = r.sqlstate
            if self.shared.conditions is not None:
                cond = self.shared.conditions.get(r.sqlstate, r.sqlstate)
            text = f['statement']
            trunc = False
            if r.text is not None:
                trunc = sqltext.cut_bytes(r.text, self.max_len, M.db_encoding(r.db))[1]

            def one_line(s):
                return None if s is None else re.sub(r'[\n\r\t]', ' ', s)

            if r.text_optional and g.group('stmt') is None:
                text, trunc = None, False
            checks = [('how', r.ended_by, g.group('how')), ('cause', r.sqlstate, g.group('state')),
                      ('condition', cond, g.group('cond')), ('ignored', str(r.ignored), g.group('n')),
                      ('N', str(r.ordinal), g.group('N')),
                      ('detail', one_line(f['detail']), _unq(g.group('detail'))),
                      ('text', one_line(text), _unq(g.group('stmt'))),
                      ('truncated', trunc, bool(g.group('trunc'))),
                      ('message', one_line(f['message']), g.group('msg'))]
            if f['queryid'] != 'skip':
                checks.append(('queryid', f['queryid'], g.group('qid')))
            for field, w, o in checks:
                if w != o:
                    raise Mismatch('log', field, None, w, o, g.group(0)[:500], source=r.source)
            secs = float(g.group('secs'))
            if r.ended_by in M.CLIENT_ENDS and not (bounds[0] - 0.002 <= secs <= bounds[1] + 0.002):
                raise Mismatch('log', 'duration', None, '%.3f..%.3f s' % bounds, secs, source=r.source)

    def rebaseline(self):
        """After runs without an end check: wait until no script backend is
        left, then take the current history position and statistics as the
        new baseline (so that the next script's change is its own)."""
        t0 = time.time()
        while time.time() - t0 < 5:
            n = int(self.ctl_query("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                                   "'txguard-model' AND pid <> pg_backend_pid()")[0][0])
            if n == 0:
                break
            time.sleep(0.005)
        time.sleep(0.05)            # the last exit callbacks (see backend_alive)
        self.cleanup_prepared()
        self.stats_prev = self.read_stats()
        self.last_seq = int(self.ctl_query('SELECT coalesce(max(seq), 0) FROM txguard_abort_history()')[0][0])
        if self.shared.log is not None:
            with self.shared.log.lock:
                self.shared.log.by_pid.clear()

    def backend_alive(self, pid):
        """Whether the script's backend still runs: from /proc when the server
        is on this machine (its exit callbacks, where txguard ends an open
        episode, run after it left pg_stat_activity), else pg_stat_activity."""
        if self.args.socket_dir or self.host in ('127.0.0.1', 'localhost', '::1'):
            return _process_alive(pid)
        return int(self.ctl_query('SELECT count(*) FROM pg_stat_activity WHERE pid = %d' % pid)[0][0]) > 0

    def final_stats(self):
        """(predicted, observed) change of txguard_stats since the start."""
        now = self.read_stats()
        got = {}
        for key in set(now) | set(self.stats_start):
            a, b = now.get(key, {}), self.stats_start.get(key, {})
            d = {c: a.get(c, 0) - b.get(c, 0) for c in self.STATS_COLS}
            if any(d.values()):
                got[key] = d
        want = {k: v for k, v in self.stats_pred.items() if any(v.values())}
        return want, got


def _unq(s):
    return None if s is None else s.replace('""', '"')


def _process_alive(pid):
    """Whether the backend process still runs (its exit callbacks, where
    txguard ends an open episode, run after it left pg_stat_activity).  Only
    known when the server runs on this machine (/proc); else assume it ended."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read()
    except OSError:
        return 0
    # "pid (comm) S ...": a zombie (Z) has finished; a postgres process is ours
    if '(postgres)' not in st:
        return 0
    return 0 if st.rsplit(')', 1)[1].split()[0] in ('Z', 'X') else 1


def _stats_json(d):
    return {'/'.join(k): v for k, v in sorted(d.items())}


def _short(sql, n):
    return repr(sql[:n]) + ('...(%d chars)' % len(sql) if len(sql) > n else '')


def _unit_summary(u):
    t = u['type']
    if t == 'simple':
        s = 'Q %s' % _short(u['sql'], 160)
        if u.get('pad'):
            s = 'Q [/* %d-byte comment */] %s' % (u['pad'], _short(u['sql'], 160))
        if u.get('copy'):
            s += ' copy=%s' % json.dumps(u['copy'])[:200]
        if u.get('cancel'):
            s += ' +CancelRequest'
        return s
    if t == 'check':
        return 'Q <check txguard_last_abort()>'
    if t == 'fastpath':
        return 'F %s(%s)' % (u['fn'], ', '.join(u.get('args', [])))
    if t == 'helper':
        return 'helper session: %s' % u['sql']
    if t == 'terminate':
        return 'helper session: pg_terminate_backend(<session>)'
    if t == 'sleep':
        return 'idle %d ms' % u['ms']
    parts = []
    for m in u['msgs']:
        k = m['m']
        if k == 'parse':
            pad = '[/* %d-byte comment */] ' % m['pad'] if m.get('pad') else ''
            parts.append('P[%s]%s%s%s' % (m.get('name', ''), pad, _short(m['sql'], 100), m.get('types') or ''))
        elif k == 'bind':
            parts.append('B[%s<-%s]%s' % (m.get('portal', ''), m.get('stmt', ''), m.get('params') or ''))
        elif k == 'describe':
            parts.append('D%s[%s]' % (m['what'], m.get('name', '')))
        elif k == 'execute':
            parts.append('E[%s]%s' % (m.get('portal', ''), ('/%d' % m['max_rows']) if m.get('max_rows') else ''))
        elif k == 'close':
            parts.append('C%s[%s]' % (m['what'], m.get('name', '')))
        elif k == 'query':
            parts.append('Q%r' % m['sql'])
        elif k == 'fastpath':
            parts.append('F%s' % m['fn'])
        elif k == 'pause':
            parts.append('(%d ms)' % m['ms'])
        else:
            parts.append(k.upper()[0] if k != 'sync' else 'S')
    return 'X ' + ' '.join(parts) + (' +CancelRequest' if u.get('cancel') else '')


def script_text(script):
    """A readable listing of a script."""
    lines = ['# seed %s  user=%s database=%s track=%s annotate=%s%s' % (
        script.get('seed'), script['user'], script['database'], script['track'], script['annotate'],
        '  idle_in_aborted_transaction_timeout=%d' % script['timeout_ms'] if script.get('timeout_ms') else '')]
    for i, u in enumerate(script['units']):
        lines.append('  %2d  %s' % (i, _unit_summary(u)))
    return '\n'.join(lines)


# ---------------------------------------------------------------- shrinking

def _try(runner, script, sig):
    try:
        conn = runner.open(script)
        try:
            pend = runner.run_units(conn, script)
        except M.Unsupported:
            conn.close()
            return False
    except OSError:
        return False
    if pend[3] is not None and sig[0] not in ('history', 'stats', 'log', 'crash'):
        # a difference in the units: the end check is not needed (the run is
        # re-baselined after shrinking)
        if pend[1].gids:
            runner.cleanup_prepared(script.get('seed'))
        if not runner.server_alive():
            runner.recover()
            if sig[0] != 'crash' and len(runner.crash_scripts) < 3:
                runner.crash_scripts.append(script)     # a crash found while shrinking
            return sig[0] == 'crash'
        return pend[3].signature == sig
    mm = runner.finish(pend)
    return mm is not None and mm.signature == sig


def _unit_variants(u):
    """Simpler versions of one unit."""
    t = u['type']
    if t == 'simple':
        sql = u['sql']
        if u.get('pad'):
            yield dict(u, pad=u['pad'] // 4) if u['pad'] > 64 else {k: v for k, v in u.items() if k != 'pad'}
        pieces = sqltext.split(sql)
        if len(pieces) > 1:
            for i in range(len(pieces)):
                rest = [p.text for j, p in enumerate(pieces) if j != i]
                yield dict(u, sql='; '.join(rest))
        stripped = sqltext.strip_comments(sql) if pieces else sql
        if pieces and stripped != sql and len(pieces) == 1:
            yield dict(u, sql=stripped)
    elif t == 'ext':
        msgs = u['msgs']
        for i, m in enumerate(msgs):
            if m['m'] == 'parse' and m.get('pad'):
                mm = dict(m, pad=m['pad'] // 4) if m['pad'] > 64 else \
                    {k: v for k, v in m.items() if k != 'pad'}
                yield dict(u, msgs=msgs[:i] + [mm] + msgs[i + 1:])
        # drop a whole statement group (parse..execute), a segment, or one message
        syncs = [i for i, m in enumerate(msgs) if m['m'] == 'sync']
        start = 0
        if len(syncs) > 1:
            for s in syncs:
                yield dict(u, msgs=msgs[:start] + msgs[s + 1:])
                start = s + 1
        for i, m in enumerate(msgs):
            if m['m'] != 'sync':
                yield dict(u, msgs=msgs[:i] + msgs[i + 1:])
        for i, m in enumerate(msgs):
            if m['m'] == 'parse' and sqltext.strip_comments(m['sql']) != m['sql']:
                mm = dict(m, sql=sqltext.strip_comments(m['sql']))
                yield dict(u, msgs=msgs[:i] + [mm] + msgs[i + 1:])


def shrink(runner, script, mismatch, budget_s=20.0, max_tests=400):
    """Delta debugging: remove units, then simplify units, while the first
    mismatch keeps its signature.  Returns the smallest script found."""
    sig = mismatch.signature
    t0 = time.time()
    tests = [0]

    def ok(cand):
        if time.time() - t0 > budget_s or tests[0] >= max_tests:
            return False
        tests[0] += 1
        return _try(runner, cand, sig)

    best = dict(script)
    units = list(script['units'])
    # the units after the failing one do not matter (unit indexes count the checks:
    # map back by running add_checks would be costly; just try the cut)
    if mismatch.unit is not None:
        try:
            full = add_checks(script, runner.cfg)
            real = [u for u in full[:mismatch.unit + 1] if u['type'] != 'check']
            cand = dict(best, units=real)
            if len(real) < len(units) and ok(cand):
                units = real
        except M.Unsupported:
            pass
    # ddmin over units
    n = 2
    while len(units) >= 2:
        chunk = max(1, len(units) // n)
        removed = False
        for start in range(0, len(units), chunk):
            cand_units = units[:start] + units[start + chunk:]
            if cand_units and ok(dict(best, units=cand_units)):
                units = cand_units
                n = max(n - 1, 2)
                removed = True
                break
        if not removed:
            if chunk == 1:
                break
            n = min(len(units), n * 2)
        if time.time() - t0 > budget_s or tests[0] >= max_tests:
            break
    # simplify units
    changed = True
    while changed and time.time() - t0 < budget_s and tests[0] < max_tests:
        changed = False
        for i in range(len(units)):
            for v in _unit_variants(units[i]):
                cand_units = units[:i] + [v] + units[i + 1:]
                if ok(dict(best, units=cand_units)):
                    units = cand_units
                    changed = True
                    break
    out = dict(best, units=units)
    out['shrink_tests'] = tests[0]
    runner.rebaseline()
    return out


# ---------------------------------------------------------------- main

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=55460)
    ap.add_argument('--socket-dir', help='connect through the Unix socket in this directory')
    ap.add_argument('--seed', type=int, default=1, help='seed of the first script (then seed+1, ...)')
    ap.add_argument('--scripts', type=int, default=0, help='number of scripts (0: until --duration)')
    ap.add_argument('--duration', type=float, default=0, help='seconds of scripts (0: until --scripts)')
    ap.add_argument('--replay', help='run the script in this JSON file (as printed/saved on a mismatch)')
    ap.add_argument('--out', help='directory to save mismatching (shrunk) scripts in')
    ap.add_argument('--no-shrink', action='store_true')
    ap.add_argument('--shrink-max', type=int, default=10, help='shrink at most this many distinct mismatch kinds')
    ap.add_argument('--shrink-budget', type=float, default=20.0, help='seconds per shrink')
    ap.add_argument('--shrink-deadline', type=float, default=0,
                    help='stop shrinking when the run has taken this many seconds (0: no limit)')
    ap.add_argument('--timeout', type=float, default=30.0, help='socket timeout (s)')
    ap.add_argument('--no-setup', action='store_true', help='objects exist already; do not reset txguard')
    ap.add_argument('--max-units', type=int, help='units per generated script (default: random 3-22)')
    ap.add_argument('-v', '--verbose', action='store_true', help='print every unit and response')
    ap.add_argument('--tap', action='store_true', help="also print 'ok - ' / 'not ok - ' result lines")
    ap.add_argument('--tap-name', default='model', help='the name on the result line')
    ap.add_argument('--ignore', help='comma-separated checks to skip, to look past a known difference: '
                                     'annotation/hint, annotation/N (only when the text agrees), '
                                     'last_abort/N, history/text, */N (all record ordinals), ...')
    ap.add_argument('--progress', type=float, default=60, help='seconds between progress lines (0: none)')
    ap.add_argument('--server-log', help="the server's log file (stderr, log_line_prefix with [%%p]): "
                                         'compare the end-of-block lines')
    ap.add_argument('--errcodes', default='/usr/share/postgresql/15/errcodes.txt',
                    help="core's errcodes.txt (condition names of the end-of-block line)")
    ap.add_argument('--stats-rule', choices=('track', 'all'), default='track',
                    help="which aborts the statistics count: 'track' (1.1: what txguard.track keeps) "
                         "or 'all' (every failing top-level statement unless track = none)")
    ap.add_argument('--savepoint-rule', choices=('1.2', '1.1'), default='1.2',
                    help="'1.1': count every savepoint command as a statement (1.1's rule), to look "
                         "past that difference on a 1.1 server")
    ap.add_argument('--time-scale', type=float, default=1.0,
                    help='factor of the idle timeout and pauses of generated scripts (slow servers)')
    ap.add_argument('--jobs', type=int, default=1,
                    help='sessions running scripts at once (default 1; with more, the change of '
                         'txguard_stats is checked for the whole run only, not per script)')
    args = ap.parse_args(argv)
    if not args.scripts and not args.duration and not args.replay:
        args.duration = 60

    runner = Runner(args)
    try:
        if args.no_setup:
            runner.ctl = runner.connect(app=CTL_APP)
            runner.read_settings()
            runner.lookup_oids()
            runner.stats_prev = runner.stats_start = runner.read_stats()
            runner.last_seq = int(runner.ctl_query(
                'SELECT coalesce(max(seq), 0) FROM txguard_abort_history()')[0][0])
        else:
            runner.setup()
        print('# server: %s' % runner.describe_server())
        sys.stdout.flush()
    except Exception as e:                        # noqa: BLE001
        print('run.py: setup failed: %s' % e)
        if args.tap:
            print('not ok - %s: setup (%s)' % (args.tap_name, e))
        return 2

    t_start = time.time()
    lock = threading.Lock()
    seen = {}            # signature -> {'count', 'seeds'}
    found = []           # (script, first mismatch) of the first script of each kind
    totals = {'scripts': 0, 'units': 0, 'unsupported': 0, 'mismatching': 0}

    def record(script, mm):
        with lock:
            totals['mismatching'] += 1
            entry = seen.setdefault(mm.signature, {'count': 0, 'seeds': []})
            entry['count'] += 1
            if len(entry['seeds']) < 5:
                entry['seeds'].append(script.get('seed'))
            if entry['count'] == 1:
                found.append((script, mm))
                # a progress line now; the details (shrunk) after the run
                print('=== new mismatch kind %s/%s [%s] in seed %s' % (mm.signature + (script.get('seed'),)))
                sys.stdout.flush()

    if args.replay:
        with open(args.replay) as f:
            script = json.load(f)
        print(script_text(script))
        try:
            mm = runner.run_script(script, verbose=args.verbose, count=True)
        except M.Unsupported as e:
            print('run.py: the model does not support this script: %s' % e)
            return 2
        totals['scripts'], totals['units'] = 1, len(script['units'])
        if mm:
            record(script, mm)
        elapsed = time.time() - t_start
    else:
        next_seed = [args.seed]

        last_progress = [time.time()]

        def take_seed():
            with lock:
                now = time.time()
                if args.progress and now - last_progress[0] >= args.progress:
                    last_progress[0] = now
                    print('--- progress: %d scripts in %.0f s (%.1f/s), %d mismatching, %d kinds' % (
                        totals['scripts'], now - t_start, totals['scripts'] / (now - t_start),
                        totals['mismatching'], len(seen)))
                    sys.stdout.flush()
                if (args.scripts and next_seed[0] - args.seed >= args.scripts) or \
                        (args.duration and now - t_start >= args.duration):
                    return None
                next_seed[0] += 1
                return next_seed[0] - 1

        def worker(w):
            pending = None      # (script, pending end check) of the previous script
            while True:
                seed = take_seed()
                if seed is None:
                    break
                script = gen.generate(seed, args.max_units, w.cfg)
                if args.verbose:
                    print(script_text(script))
                # Connect first: the previous backend exits meanwhile, so its end
                # check (which waits for that exit) rarely waits.
                try:
                    conn = w.open(script)
                except (OSError, ConnectionError, P.ProtocolError):
                    conn = None         # the server restarts (a crash): the end check says
                if pending is not None:
                    mm = w.finish(pending[1], count=True)
                    if mm is not None:
                        record(pending[0], mm)
                    pending = None
                if conn is None:
                    if w.server_alive():
                        conn = w.open(script)
                    else:
                        w.recover()
                        conn = w.open(script)
                try:
                    pend = w.run_units(conn, script, verbose=args.verbose)
                except M.Unsupported as e:
                    conn.close()
                    with lock:
                        totals['unsupported'] += 1
                    if args.verbose:
                        print('unsupported: %s' % e)
                    continue
                with lock:
                    totals['scripts'] += 1
                    totals['units'] += len(script['units'])
                pending = (script, pend)
            if pending is not None:
                mm = w.finish(pending[1], count=True)
                if mm is not None:
                    record(pending[0], mm)

        if args.jobs <= 1:
            worker(runner)
        else:
            # Several sessions at once: the change of txguard_stats cannot be
            # told apart per script; it is compared for the whole run only.
            workers = []
            for _ in range(args.jobs):
                w = Runner(args, runner.shared)
                w.concurrent = True
                w.ctl = w.connect(app=CTL_APP)
                for attr in ('max_len', 'history_size', 'fp_oids', 'cfg', 'settings', 'log_mode',
                             'log_min_ms', 'qid_enabled'):
                    setattr(w, attr, getattr(runner, attr))
                w.stats_prev = w.stats_start = runner.stats_start
                workers.append(w)
            threads = [threading.Thread(target=worker, args=(w,)) for w in workers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            for w in workers:
                M.add_stats(runner.stats_pred, w.stats_pred)
                w.ctl.close()
                w.close_aux()
        elapsed = time.time() - t_start

    # final statistics: wait for the last backends to exit
    if not runner.server_alive():
        runner.recover()
    t0 = time.time()
    while True:
        want, got = runner.final_stats()
        if want == got or time.time() - t0 > 2 or runner.shared.crashed:
            break
        time.sleep(0.01)
    stats_ok = want == got or runner.shared.crashed
    if runner.shared.crashed:
        print('\n=== the server crashed during the run: txguard_stats were not compared at the end')
    if not stats_ok:
        print('\n=== txguard_stats at the end differ from the sum of the predictions '
              '(scripts with a mismatch may differ after it too)')
        for key in sorted(set(want) | set(got)):
            if want.get(key) != got.get(key):
                print('    %-40s expected %s observed %s' % ('/'.join(key), json.dumps(want.get(key)),
                                                            json.dumps(got.get(key))))

    # shrink the first script of each kind (after the run: the server is quiet)
    if found and not args.replay:
        runner.rebaseline()
    for n, (script, mm) in enumerate(found):
        sig = mm.signature
        small = script
        deadline_ok = not args.shrink_deadline or time.time() - t_start < args.shrink_deadline
        print('\n=== %s/%s [%s]: first seen in seed %s, %d scripts in all' % (
            sig + (script.get('seed'), seen[sig]['count'])))
        if not args.no_shrink and not args.replay and n < args.shrink_max and deadline_ok:
            budget = args.shrink_budget
            if args.shrink_deadline:
                budget = min(budget, max(1.0, args.shrink_deadline - (time.time() - t_start)))
            small = shrink(runner, script, mm, budget_s=budget)
            try:
                mm2 = runner.run_script(small)
            except M.Unsupported:
                mm2 = None
            except (OSError, ConnectionError, P.ProtocolError):
                runner.recover()
                mm2 = None
            runner.rebaseline()
            if mm2 is not None and mm2.signature == sig:
                print('--- shrunk from %d to %d units (%d test runs):' % (
                    len(script['units']), len(small['units']), small.get('shrink_tests', 0)))
                print(mm2.describe())
            else:
                small = script
                print(mm.describe())
        else:
            print(mm.describe())
        print('--- script:')
        print(script_text(small))
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            fn = os.path.join(args.out, 'mismatch-%s-%s-seed%s.json' % (sig[0], sig[1], script.get('seed')))
            small = dict(small, mismatch='%s/%s [%s]' % sig)
            with open(fn, 'w') as f:
                json.dump(small, f, indent=1, ensure_ascii=False)
            print('--- saved: %s' % fn)
            print('--- replay: /usr/bin/python3 %s --port %d%s --replay %s -v' % (
                os.path.join(HERE, 'run.py'), args.port,
                ' --socket-dir %s' % args.socket_dir if args.socket_dir else '', fn))
        elif not args.replay:
            print('--- replay: /usr/bin/python3 %s --port %d --seed %s --scripts 1 -v' % (
                os.path.join(HERE, 'run.py'), args.port, script.get('seed')))
            print('--- as JSON (save it and use --replay FILE):')
            print(json.dumps(small, ensure_ascii=False))

    # a shrinking candidate that crashed the server is a difference of its own
    if runner.crash_scripts and not any(s == ('crash', 'server', '') for s in seen):
        script = runner.crash_scripts[0]
        mm = Mismatch('crash', 'server', None, 'the server keeps running', 'it restarted after a crash',
                      'found while shrinking another difference')
        record(script, mm)
        print('\n=== crash/server: found while shrinking (seed %s)' % script.get('seed'))
        small = script
        if not args.no_shrink:
            small = shrink(runner, script, mm, budget_s=args.shrink_budget)
            print('--- shrunk from %d to %d units (%d test runs)' % (
                len(script['units']), len(small['units']), small.get('shrink_tests', 0)))
        print('--- script:')
        print(script_text(small))
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            fn = os.path.join(args.out, 'mismatch-crash-server-shrinking-seed%s.json' % script.get('seed'))
            with open(fn, 'w') as f:
                json.dump(dict(small, mismatch='crash/server'), f, indent=1, ensure_ascii=False)
            print('--- saved: %s' % fn)
    if runner.shared.oracle_failures:
        print('\n=== query ids not compared where the oracle failed (first ones):')
        for f in runner.shared.oracle_failures[:5]:
            print('    ' + f)
    n_scripts, mismatching = totals['scripts'], totals['mismatching']
    rate = n_scripts / elapsed if elapsed > 0 else 0
    print('\n=== summary: %d scripts (%d units) in %.1f s = %.1f scripts/s (%d session%s); '
          '%d mismatching scripts; %d generated scripts unsupported; final txguard_stats %s' % (
              n_scripts, totals['units'], elapsed, rate, max(1, args.jobs), 's' if args.jobs > 1 else '',
              mismatching, totals['unsupported'], 'match' if stats_ok else 'DIFFER'))
    for sig, e in sorted(seen.items(), key=lambda kv: -kv[1]['count']):
        print('    %-60s %6d scripts  (seeds %s)' % ('%s/%s [%s]' % sig, e['count'],
                                                   ', '.join(str(s) for s in e['seeds'])))
    if args.tap:
        if mismatching == 0 and stats_ok:
            print('ok - %s: %d scripts, 0 mismatches, final txguard_stats %s (%.1f scripts/s)' % (
                args.tap_name, n_scripts, 'not compared (crash)' if runner.shared.crashed else 'match', rate))
        else:
            print('not ok - %s: %d scripts, %d mismatching (%d kinds), final txguard_stats %s' % (
                args.tap_name, n_scripts, mismatching, len(seen),
                'not compared (crash)' if runner.shared.crashed else 'match' if stats_ok else 'differ'))
    return 0 if mismatching == 0 and stats_ok else 1


if __name__ == '__main__':
    sys.exit(main())
