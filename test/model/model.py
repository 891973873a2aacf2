"""The reference model: what PostgreSQL 15 and txguard should answer.

Written only from test/model/DEFINITION.md, README.md and PostgreSQL's
documented (and, where in doubt, observed) behaviour -- never from src/.

The model is a simulator of one session.  It is fed the units of a script
(gen.py describes them) one at a time and predicts, for each unit:

  * the exact sequence of protocol responses, as tokens (see ``TOKENS``),
    which checks the model's PostgreSQL semantics: which commands are
    rejected with 25P02 and by which protocol message, which messages are
    skipped until Sync, ReadyForQuery's status, which statements end or
    restart a block, command tags;
  * for every ErrorResponse, whether it is raised while the block is aborted
    (an *ignored command*) and then the annotation txguard must add: the
    cause's statement ordinal N, the statement text, in_savepoint (the
    HINT), and which earlier ErrorResponse is the cause (its message and
    detail are quoted in the annotation);
  * the abort records (``Record``): one per cause, with in_block,
    in_savepoint, ignored_commands and ended_by, which the driver compares
    with txguard_last_abort(), txguard_abort_history() and txguard_stats.

The SQL vocabulary the model understands is fixed (``classify``): the
statements gen.py writes, against the objects of ``SETUP_SQL``.  Each is
chosen so that its outcome depends only on transaction semantics, never on
table contents.  Anything else raises ``Unsupported``; so do situations the
definition does not cover (for example an Execute of a portal that does not
exist while the block is healthy: there is no statement text to name).  The
generator and the shrinker discard such scripts.
"""

import copy
import re

import sqltext

# Responses as tokens (run.py maps the server's messages to these):
TOKENS = {
    '1': 'ParseComplete', '2': 'BindComplete', '3': 'CloseComplete',
    't': 'ParameterDescription', 'T': 'RowDescription', 'n': 'NoData',
    'I': 'EmptyQueryResponse', 's': 'PortalSuspended', 'G': 'CopyInResponse',
    'H': 'CopyOutResponse', 'V': 'FunctionCallResponse',
    'C:<tag>': 'CommandComplete', 'E:<sqlstate>': 'ErrorResponse', 'Z:<I|T|E>': 'ReadyForQuery',
}
# DataRow, CopyData, CopyDone, NoticeResponse and ParameterStatus are not compared.

FASTPATH_TEXT = '<fast-path function call>'
# track_activity_query_size (default 1024) less its terminating NUL
ACTIVITY_MAX = 1023
# MAX_MULTIBYTE_CHAR_LEN: an activity text this close to ACTIVITY_MAX may
# have been cut (DEFINITION.md 1, implicit commit at Sync)
ACTIVITY_CUT_SLACK = 4


def activity_text(raw, text):
    """The text txguard takes from the activity (DEFINITION.md 1): the message's
    text as sent (raw), cut at ACTIVITY_MAX bytes; when it may have been cut,
    only its blanks at both ends are removed, otherwise it is trimmed as a
    statement text (text)."""
    if raw is None or text is None:
        return text
    if len(raw.encode('utf-8')) >= ACTIVITY_MAX + 1 - ACTIVITY_CUT_SLACK:
        return sqltext.cut_bytes(raw, ACTIVITY_MAX)[0].strip(sqltext.WS) or None
    return text

# ---------------------------------------------------------------- objects

SETUP_SQL = r"""
DROP TABLE IF EXISTS m_u, m_ok, m_def, m_par, m_child, m_trg, m_dtrg, m_also, m_also_log CASCADE;
DROP VIEW IF EXISTS m_nothing;
CREATE TABLE m_u (id int PRIMARY KEY);
INSERT INTO m_u VALUES (1);
CREATE TABLE m_ok (id bigserial PRIMARY KEY, v int);
CREATE TABLE m_def (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);
INSERT INTO m_def VALUES (1);
CREATE TABLE m_par (id int PRIMARY KEY);
CREATE TABLE m_child (pid int REFERENCES m_par DEFERRABLE INITIALLY DEFERRED);
CREATE TABLE m_trg (v int);
CREATE OR REPLACE FUNCTION m_trg_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN IF NEW.v < 0 THEN RAISE EXCEPTION 'm_trg rejects %', NEW.v USING ERRCODE = 'TX001'; END IF; RETURN NULL; END $$;
CREATE TRIGGER m_trg_t BEFORE INSERT ON m_trg FOR EACH ROW EXECUTE FUNCTION m_trg_fn();
CREATE TABLE m_dtrg (v int);
CREATE OR REPLACE FUNCTION m_dtrg_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'deferred trigger rejects %', NEW.v USING ERRCODE = 'TX002'; END $$;
CREATE CONSTRAINT TRIGGER m_dtrg_t AFTER INSERT ON m_dtrg DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION m_dtrg_fn();
CREATE TABLE m_also (v int);
CREATE TABLE m_also_log (v int);
CREATE RULE m_also_r AS ON INSERT TO m_also DO ALSO INSERT INTO m_also_log VALUES (NEW.v);
CREATE VIEW m_nothing AS SELECT 1 AS v;
CREATE RULE m_nothing_r AS ON INSERT TO m_nothing DO INSTEAD NOTHING;
CREATE OR REPLACE FUNCTION m_imm() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
CREATE OR REPLACE FUNCTION m_stable_raiser(int) RETURNS int LANGUAGE plpgsql STABLE AS
$$ BEGIN IF $1 = 1 THEN RAISE EXCEPTION 'raised while planning' USING ERRCODE = 'TX003'; END IF; RETURN $1; END $$;
CREATE OR REPLACE FUNCTION m_catch() RETURNS int LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_u VALUES (1); RETURN 0; EXCEPTION WHEN unique_violation THEN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION m_nomatch() RETURNS int LANGUAGE plpgsql AS
$$ BEGIN RETURN 1 / (SELECT count(*) - count(*) FROM m_u)::int; EXCEPTION WHEN unique_violation THEN RETURN 1; END $$;
CREATE OR REPLACE FUNCTION m_reraise() RETURNS int LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_u VALUES (1); RETURN 0; EXCEPTION WHEN unique_violation THEN RAISE; END $$;
CREATE OR REPLACE FUNCTION m_raise(code text) RETURNS int LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'm_raise %', code USING ERRCODE = code; END $$;
CREATE OR REPLACE FUNCTION m_fp(int) RETURNS int LANGUAGE sql STRICT AS 'SELECT 10 / $1';
CREATE OR REPLACE PROCEDURE m_proc_commit() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_ok (v) VALUES (2); COMMIT; END $$;
CREATE OR REPLACE PROCEDURE m_proc_commit_fail() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_ok (v) VALUES (3); COMMIT; INSERT INTO m_u VALUES (1); END $$;
CREATE OR REPLACE PROCEDURE m_proc_rollback() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_ok (v) VALUES (4); ROLLBACK; END $$;
CREATE OR REPLACE PROCEDURE m_proc_fail() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_u VALUES (1); END $$;
"""

# Fast-path functions: name -> (signature for the OID look-up, outcome function(args))
FASTPATH = {
    'lo_creat': 'lo_creat(integer)',
    'lo_open': 'lo_open(oid, integer)',
    'm_fp': 'm_fp(integer)',
}

CHECK_SQL = ('SELECT sqlstate, statement_ordinal, statement, in_block, in_savepoint, '
             'ignored_commands, ended_by, message, detail FROM txguard_last_abort()')
CHECK_COLUMNS = ('sqlstate', 'statement_ordinal', 'statement', 'in_block', 'in_savepoint',
                 'ignored_commands', 'ended_by', 'message', 'detail')


class Unsupported(Exception):
    """The script leaves the model's vocabulary or the definition's scope."""


# ---------------------------------------------------------------- statement kinds

class Kind:
    """What a statement of the vocabulary does.

    tag       command tag on success
    rows      it returns rows (RowDescription on Describe and in the simple protocol)
    err       SQLSTATE of the error it always raises, with ``phase``:
              'parse' (raw parser: rejects the whole query string),
              'analyze' (parse analysis: at Parse in the extended protocol),
              'plan' (planner: at Bind in the extended protocol), 'exec'
    t_first   simple protocol: RowDescription is sent before the 'exec' error
              (a plain SELECT failing while it produces rows)
    tx        transaction control verb, arg its savepoint name / gid
    exit      IsTransactionExitStmt: allowed while the block is aborted
    deferred  SQLSTATE of the deferred check it queues (fails at commit)
    nrows     rows of a SELECT (for chunked Execute); fail_at: row that raises
    params    number of $n parameters (all integers)
    nothing   a DO INSTEAD NOTHING statement
    """

    def __init__(self, name, tag=None, rows=False, err=None, phase=None, t_first=False,
                 tx=None, arg=None, exit=False, deferred=None, nrows=None, fail_at=None,
                 params=0, nothing=False, inner=None, extra=None):
        self.name, self.tag, self.rows, self.err, self.phase = name, tag, rows, err, phase
        self.t_first, self.tx, self.arg, self.exit, self.deferred = t_first, tx, arg, exit, deferred
        self.nrows, self.fail_at, self.params, self.nothing = nrows, fail_at, params, nothing
        self.inner, self.extra = inner, extra

    def __repr__(self):
        return 'Kind(%s)' % self.name

    def __deepcopy__(self, memo):
        return self             # kinds are never modified: share them


def _select_rows(n):
    return Kind('select', tag='SELECT %d' % n, rows=True, nrows=n)


_CONST = r"(?:\d+|'(?:[^']|'')*'|E'(?:[^'\\]|\\.)*'|\$(\w*)\$.*?\$\1\$)"

# (regex on the comment-free, whitespace-collapsed text, case-insensitive) -> factory(match)
_PATTERNS = [
    (r'BEGIN(?: WORK| TRANSACTION)?', lambda m: Kind('begin', tag='BEGIN', tx='begin')),
    (r'START TRANSACTION', lambda m: Kind('begin', tag='START TRANSACTION', tx='begin')),
    (r'(?:COMMIT|END)(?: WORK| TRANSACTION)?', lambda m: Kind('commit', tag='COMMIT', tx='commit', exit=True)),
    (r'(?:COMMIT|END)(?: WORK| TRANSACTION)? AND CHAIN',
     lambda m: Kind('commit_chain', tag='COMMIT', tx='commit', exit=True, extra='chain')),
    (r'(?:ROLLBACK|ABORT)(?: WORK| TRANSACTION)?', lambda m: Kind('rollback', tag='ROLLBACK', tx='rollback', exit=True)),
    (r'(?:ROLLBACK|ABORT)(?: WORK| TRANSACTION)? AND CHAIN',
     lambda m: Kind('rollback_chain', tag='ROLLBACK', tx='rollback', exit=True, extra='chain')),
    (r'SAVEPOINT (\w+)', lambda m: Kind('savepoint', tag='SAVEPOINT', tx='savepoint', arg=m.group(1).lower())),
    (r'RELEASE(?: SAVEPOINT)? (\w+)', lambda m: Kind('release', tag='RELEASE', tx='release', arg=m.group(1).lower())),
    (r'ROLLBACK(?: WORK| TRANSACTION)? TO(?: SAVEPOINT)? (\w+)',
     lambda m: Kind('rollback_to', tag='ROLLBACK', tx='rollback_to', arg=m.group(1).lower(), exit=True)),
    (r"PREPARE TRANSACTION '(\w+)'", lambda m: Kind('prepare_xact', tag='PREPARE TRANSACTION', tx='prepare',
                                                     arg=m.group(1), exit=True)),
    (r"COMMIT PREPARED '(\w+)'", lambda m: Kind('commit_prepared', tag='COMMIT PREPARED', tx='finish_prepared',
                                                 arg=m.group(1))),
    (r"ROLLBACK PREPARED '(\w+)'", lambda m: Kind('rollback_prepared', tag='ROLLBACK PREPARED',
                                                   tx='finish_prepared', arg=m.group(1))),
    (r'SET CONSTRAINTS ALL IMMEDIATE', lambda m: Kind('set_immediate', tag='SET CONSTRAINTS', tx='set_immediate')),
    (r"SET(?: LOCAL)? work_mem(?: =| TO) '\d+MB'", lambda m: Kind('set', tag='SET')),
    (r'SHOW work_mem', lambda m: Kind('show', tag='SHOW', rows=True, nrows=1)),
    # cursors
    (r'DECLARE (\w+) CURSOR FOR (.*)', lambda m: Kind('declare', tag='DECLARE CURSOR', tx='declare',
                                                      arg=m.group(1).lower(), inner=classify(m.group(2)))),
    (r'FETCH (\d+) FROM (\w+)', lambda m: Kind('fetch', rows=True, tx='fetch', arg=m.group(2).lower(),
                                               extra=int(m.group(1)))),
    (r'CLOSE (\w+)', lambda m: Kind('close', tag='CLOSE CURSOR', tx='close', arg=m.group(1).lower())),
    # SQL-level prepared statements
    (r'PREPARE (\w+)(?: ?\((int|integer)\))? AS (.*)',
     lambda m: Kind('prepare', tag='PREPARE', tx='prepare_stmt', arg=m.group(1).lower(),
                    inner=classify(m.group(3)), extra=1 if m.group(2) else 0)),
    (r'EXECUTE (\w+)(?: ?\((\d+)\))?', lambda m: Kind('execute', tx='execute_stmt', arg=m.group(1).lower(),
                                                     extra=1 if m.group(2) else 0)),
    (r'DEALLOCATE (\w+)', lambda m: Kind('deallocate', tag='DEALLOCATE', tx='deallocate', arg=m.group(1).lower())),
    # procedures
    (r'CALL (m_proc_commit|m_proc_commit_fail|m_proc_rollback|m_proc_fail)\(\)',
     lambda m: Kind('call', tag='CALL', tx='call', arg=m.group(1))),
    # EXPLAIN
    (r'EXPLAIN \(ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF\) (.*)',
     lambda m: _explain(classify(m.group(1)), True)),
    (r'EXPLAIN \(COSTS OFF\) (.*)', lambda m: _explain(classify(m.group(1)), False)),
    # DO
    (r"DO \$(\w*)\$ ?BEGIN INSERT INTO m_u VALUES \(1\); EXCEPTION WHEN unique_violation THEN NULL; END ?\$\1\$",
     lambda m: Kind('do_catch', tag='DO')),
    (r"DO \$(\w*)\$ ?BEGIN RAISE EXCEPTION '[^']*' USING ERRCODE = '(\w+)'; END ?\$\1\$",
     lambda m: Kind('do_raise', err=m.group(2), phase='exec')),
    (r"DO \$(\w*)\$ ?BEGIN PERFORM 1; END ?\$\1\$", lambda m: Kind('do_ok', tag='DO')),
    # COPY
    (r'COPY m_ok \(v\) FROM STDIN', lambda m: Kind('copy_in', tx='copy_in')),
    (r'COPY \(SELECT g FROM generate_series\(1, ?(\d+)\) g\) TO STDOUT',
     lambda m: Kind('copy_out', tag='COPY %s' % m.group(1), tx='copy_out')),
    (r'COPY \(SELECT 1/\(g-2\) FROM generate_series\(1, ?3\) g\) TO STDOUT',
     lambda m: Kind('copy_out_bad', err='22012', phase='exec', tx='copy_out')),
    # the driver's check query
    (re.escape(CHECK_SQL), lambda m: Kind('check', rows=True, tx='check')),
    # SELECTs
    (r'SELECT ' + _CONST + r'(?: AS (?:\w+|"(?:[^"]|"")*"))?', lambda m: _select_rows(1)),
    (r'SELECT m_imm\(\)(?: \+ m_imm\(\))*', lambda m: _select_rows(1)),
    (r'SELECT m_catch\(\)', lambda m: _select_rows(1)),
    (r'SELECT count\(\*\) FROM m_ok', lambda m: _select_rows(1)),
    (r'SELECT g FROM generate_series\(1, ?(\d+)\) g', lambda m: _select_rows(int(m.group(1)))),
    (r'SELECT 10/\(3-g\) FROM generate_series\(1, ?5\) g',
     lambda m: Kind('select_bad', rows=True, err='22012', phase='exec', t_first=True, fail_at=3)),
    (r'SELECT 1/0', lambda m: Kind('div0_plan', rows=True, err='22012', phase='plan')),
    (r'SELECT \* FROM m_u WHERE id = m_stable_raiser\(1\)',
     lambda m: Kind('stable_raiser', rows=True, err='TX003', phase='plan')),
    (r'SELECT m_nomatch\(\)', lambda m: Kind('nomatch', rows=True, err='22012', phase='exec', t_first=True)),
    (r'SELECT m_reraise\(\)', lambda m: Kind('reraise', rows=True, err='23505', phase='exec', t_first=True)),
    (r"SELECT m_raise\('(\w+)'\)", lambda m: Kind('raise', rows=True, err=m.group(1), phase='exec', t_first=True)),
    (r'SELECT \* FROM m_nosuch', lambda m: Kind('undef_table', rows=True, err='42P01', phase='analyze')),
    (r'SELECT nosuchcol FROM m_u', lambda m: Kind('undef_col', rows=True, err='42703', phase='analyze')),
    (r'SELECT \$1::int', lambda m: Kind('select_param', tag='SELECT 1', rows=True, nrows=1, params=1)),
    # syntax errors
    (r'SELEC .*|SELECT \(1|SELECT 1 \+|INSERT INTO m_ok VALUES \(',
     lambda m: Kind('syntax', err='42601', phase='parse')),
    # DML
    (r'INSERT INTO m_u VALUES \(1\)', lambda m: Kind('ins_dup', err='23505', phase='exec')),
    (r'INSERT INTO m_u VALUES \(\$1\)', lambda m: Kind('ins_dup_param', err='23505', phase='exec', params=1)),
    (r'INSERT INTO m_ok \(v\) VALUES \(\d+\)', lambda m: Kind('ins_ok', tag='INSERT 0 1')),
    (r'INSERT INTO m_ok \(v\) VALUES \(\d+\) RETURNING id',
     lambda m: Kind('ins_returning', tag='INSERT 0 1', rows=True)),
    (r'INSERT INTO m_def VALUES \(1\)', lambda m: Kind('ins_def', tag='INSERT 0 1', deferred='23505')),
    (r'INSERT INTO m_child VALUES \(7\)', lambda m: Kind('ins_child', tag='INSERT 0 1', deferred='23503')),
    (r'INSERT INTO m_dtrg VALUES \(1\)', lambda m: Kind('ins_dtrg', tag='INSERT 0 1', deferred='TX002')),
    (r'INSERT INTO m_trg VALUES \(1\)', lambda m: Kind('ins_trg_ok', tag='INSERT 0 0')),
    (r'INSERT INTO m_trg VALUES \(-1\)', lambda m: Kind('ins_trg_bad', err='TX001', phase='exec')),
    (r'INSERT INTO m_also VALUES \(1\)', lambda m: Kind('ins_also', tag='INSERT 0 1')),
    (r'INSERT INTO m_nothing VALUES \(1\)', lambda m: Kind('ins_nothing', tag='INSERT 0 0', nothing=True)),
]
_COMPILED = [(re.compile(p, re.I | re.S), f) for p, f in _PATTERNS]


def _explain(inner, analyze):
    if inner.phase == 'parse':
        return inner
    if inner.err and (analyze or inner.phase in ('analyze', 'plan')):
        # parse analysis of EXPLAIN analyses its query; planning happens when
        # the utility runs (at Execute in the extended protocol)
        return Kind('explain_err', rows=True, err=inner.err,
                    phase='analyze' if inner.phase == 'analyze' else 'exec')
    if inner.tx or inner.params or inner.deferred:
        raise Unsupported('EXPLAIN of %s' % inner.name)
    return Kind('explain', tag='EXPLAIN', rows=True)


_classify_cache = {}


def classify(text):
    """The Kind of one statement's text (comments and whitespace ignored)."""
    norm = sqltext.strip_comments(text)
    k = _classify_cache.get(norm)
    if k is not None:
        return k
    for rx, f in _COMPILED:
        m = rx.fullmatch(norm)
        if m:
            k = f(m)
            _classify_cache[norm] = k
            return k
    raise Unsupported('statement outside the vocabulary: %r' % norm[:200])


# ---------------------------------------------------------------- records and predictions

class Record:
    """One abort, as txguard_last_abort() / txguard_abort_history() show it."""
    __slots__ = ('sqlstate', 'ordinal', 'text', 'in_block', 'in_savepoint', 'ignored',
                 'ended_by', 'err_ref', 'db', 'user', 'track', 'unit', 'source')

    def __init__(self, sqlstate, ordinal, text, in_block, in_savepoint, err_ref, db, user,
                 track, unit):
        self.sqlstate, self.ordinal, self.text = sqlstate, ordinal, text
        self.in_block, self.in_savepoint = in_block, in_savepoint
        self.ignored, self.ended_by, self.err_ref = 0, None, err_ref
        self.db, self.user, self.track, self.unit = db, user, track, unit
        self.source = None      # what raised it (statement kind, 'bind', 'sync commit', ...)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return ('Record(%s N=%s %r in_block=%s in_sp=%s ignored=%s ended_by=%s)' %
                (self.sqlstate, self.ordinal, self.text, self.in_block, self.in_savepoint,
                 self.ignored, self.ended_by))


class ErrExpect:
    """What an ErrorResponse must look like beyond its SQLSTATE.

    annotated  raised while the block was aborted: txguard annotates it
    record     the cause (for an annotated error), or the record this error
               is the cause of
    """
    __slots__ = ('sqlstate', 'annotated', 'record', 'ordinal', 'text', 'in_savepoint')

    def __init__(self, sqlstate, annotated, record):
        self.sqlstate, self.annotated, self.record = sqlstate, annotated, record
        # the annotation is a snapshot (the record itself does not change, but be explicit)
        self.ordinal = record.ordinal if record else None
        self.text = record.text if record else None
        self.in_savepoint = record.in_savepoint if record else None


class Out:
    """The predicted responses of one unit."""

    def __init__(self, unit_index):
        self.unit = unit_index
        self.tokens = []
        self.errs = {}          # token index -> ErrExpect
        self.check = None       # predicted last record for a check unit (or 'none')

    def add(self, tok):
        self.tokens.append(tok)

    def error(self, sqlstate, annotated=False, record=None):
        self.errs[len(self.tokens)] = ErrExpect(sqlstate, annotated, record)
        self.tokens.append('E:' + sqlstate)
        return (self.unit, len(self.tokens) - 1)


# ---------------------------------------------------------------- session state

# TransactionStmt: the extended protocol commits right after them (is_xact_command)
TXN_STMTS = {'begin', 'commit', 'rollback', 'savepoint', 'release', 'rollback_to', 'prepare',
             'finish_prepared'}


class Sub:
    """One active savepoint (subtransaction)."""
    __slots__ = ('name', 'id', 'immediate_at_start')

    def __init__(self, name, sid, immediate):
        self.name, self.id, self.immediate_at_start = name, sid, immediate


class Portal:
    """A portal: a cursor (DECLARE) or an extended-protocol portal (Bind)."""

    def __init__(self, kind, text, sub_id, cursor):
        self.kind, self.text, self.sub_id, self.cursor = kind, text, sub_id, cursor
        self.activity = text        # the text txguard names at a Sync commit
        self.status = 'ready'       # ready | failed | done
        self.pos = 0
        self.ordinal = None         # set at its first Execute (extended protocol)


class Xact:
    """The current transaction.  kind: 'implicit' (autocommit statement,
    implicit block of a multi-statement string, extended-protocol statements
    before Sync) or 'block' (explicit transaction block)."""

    def __init__(self, kind):
        self.kind = kind
        self.implicit_block = False     # simple protocol: several statements in one string
        self.aborted = False
        self.episode = None             # the open Record while aborted
        self.count = 0                  # statements counted so far
        self.subs = []
        self.pending = []               # deferred checks: [sqlstate, sub id]
        self.immediate = False          # SET CONSTRAINTS ALL IMMEDIATE in force
        self.last_exec = None           # extended protocol: (ordinal, text) of the last statement run
        self.pipelining = False         # an Execute completed without committing


class Model:
    """One session.  ``settings``: the script's session settings
    (txguard.track, txguard.annotate); ``db``/``user``: the stats key."""

    def __init__(self, db='postgres', user='postgres', track='blocks', annotate='detail',
                 max_statement_length=1024):
        self.db, self.user, self.track, self.annotate = db, user, track, annotate
        self.max_len = max_statement_length
        self.x = None
        self.stmts = {}              # prepared statements (protocol and SQL): name -> (kind, text, nparams)
        self.activity_of = {}        # protocol prepared statements: name -> activity_text()
        self.portals = {}            # name -> Portal
        self.gids = set()            # prepared transactions of this session
        self.records = []
        self.ignoring = False        # extended protocol: skipping until Sync
        self.seg_msgs = 0            # extended messages since the last Sync
        self.next_sub = 1
        self.unit = 0
        self.out = None
        self.source = None           # what is running (for Record.source)

    def clone(self):
        out, self.out = self.out, None
        try:
            return copy.deepcopy(self)
        finally:
            self.out = out

    # -- state queries (used by gen.py and run.py)

    def status(self):
        x = self.x
        if x is None or x.kind == 'implicit':
            return 'I'
        return 'E' if x.aborted else 'T'

    def in_block(self):
        return self.x is not None and self.x.kind == 'block'

    def aborted(self):
        return self.x is not None and self.x.kind == 'block' and self.x.aborted

    def savepoints(self):
        return [s.name for s in self.x.subs] if self.x else []

    def last_record(self):
        return self.records[-1] if self.records else None

    # -- errors

    def _xact(self):
        if self.x is None:
            self.x = Xact('implicit')
        return self.x

    def fail(self, sqlstate, ordinal, text, fail_portal=None):
        """A new error while not aborted: it is the cause of a new record."""
        x = self.x
        out = self.out
        if x is not None and x.kind == 'block':
            assert not x.aborted
            rec = Record(sqlstate, ordinal, text, True, bool(x.subs), None, self.db, self.user,
                         self.track, self.unit)
            x.aborted = True
            x.episode = rec
            if fail_portal is not None:
                fail_portal.status = 'failed'
        else:
            rec = Record(sqlstate, ordinal, text, False, False, None, self.db, self.user,
                         self.track, self.unit)
            rec.ended_by = 'implicit'
            self._end_xact()
        rec.err_ref = out.error(sqlstate, False, rec)
        rec.source = self.source
        self.records.append(rec)
        if self.in_ext:
            self.ignoring = True
        return rec

    def ignored(self, sqlstate):
        """An error raised while the block is aborted: an ignored command."""
        rec = self.x.episode
        rec.ignored += 1
        self.out.error(sqlstate, True, rec)
        if self.in_ext:
            self.ignoring = True

    def _end_episode(self, how):
        rec = self.x.episode
        rec.ended_by = how
        self.x.episode = None
        self.x.aborted = False

    def _end_xact(self):
        self.x = None
        self.portals = {}

    def _first_pending(self):
        return self.x.pending[0][0] if self.x and self.x.pending else None

    # -- units

    in_ext = False

    def run_unit(self, unit, index):
        """Predict one unit; returns an Out."""
        self.unit = index
        self.out = out = Out(index)
        t = unit['type']
        if t == 'simple':
            self.in_ext = False
            self._simple(unit['sql'], list(unit.get('copy', ())))
        elif t == 'fastpath':
            self.in_ext = False
            self._fastpath(unit['fn'], unit.get('args', []))
        elif t == 'check':
            self.in_ext = False
            self._simple(CHECK_SQL, [])
        elif t == 'ext':
            self._extended(unit['msgs'])
        else:
            raise Unsupported('unit type %r' % t)
        return out

    def end_session(self):
        """The client disconnects: an open episode ends with 'disconnect',
        the transaction is rolled back."""
        if self.aborted():
            self._end_episode('disconnect')
        self.x = None

    # ------------------------------------------------------------ simple protocol

    def _simple(self, sql, copies):
        out = self.out
        # A simple Query drops the unnamed statement and the unnamed portal.
        self.stmts.pop('', None)
        self.portals.pop('', None)
        pieces = sqltext.split(sql)
        kinds = [classify(p.text) for p in pieces]
        # DEFINITION reading (README "Readings" 2): the statement named is the one
        # holding the syntax error, also when the error is reported at the
        # semicolon that ends it ("SELECT 1 +;" -> "SELECT 1 +").
        syn = [i for i, k in enumerate(kinds) if k.phase == 'parse']
        self.source = 'syntax error in a string of %d' % len(pieces)
        if syn:
            # The raw parser rejects the whole string: nothing runs; one statement.
            if self.aborted():
                self.ignored('42601')
            else:
                x = self._xact()
                x.count += 1
                self.fail('42601', x.count, pieces[syn[0]].text)
            out.add('Z:' + self.status())
            return
        if not pieces:
            out.add('I')
            out.add('Z:' + self.status())
            return
        multi = len(pieces) > 1
        whole = sqltext.whole(sql, pieces)
        self._copies = None if copies is None else list(copies)
        for i, (p, k) in enumerate(zip(pieces, kinds)):
            last = i == len(pieces) - 1
            if self.aborted() and not k.exit:
                self.ignored('25P02')
                break
            x = self._xact()
            if multi and x.kind == 'implicit':
                x.implicit_block = True
            ok = self._statement(k, p.text, 'simple', multi=multi, last=last, whole=whole)
            if not ok:
                break
        out.add('Z:' + self.status())

    def _complete(self, tag, ctx):
        """Success of a statement: its CommandComplete, after the implicit
        commit when it is the last statement of a simple Query."""
        if (ctx['proto'] == 'simple' and ctx['last'] and self.x is not None
                and self.x.kind == 'implicit'):
            err = self._first_pending()
            if err:
                # The commit error replaces the statement's completion; it belongs to
                # the last statement, with the whole string as text -- except after a
                # DO INSTEAD NOTHING statement (DEFINITION.md, known limit).
                text = ctx['text'] if ctx['kind'].nothing else ctx['whole']
                self.source = 'implicit commit after %s' % ctx['kind'].name
                self.fail(err, ctx['ordinal'], text)
                return False
            self._end_xact()
        self.out.add('C:' + tag)
        return True

    # ------------------------------------------------------------ one statement

    def _statement(self, k, text, proto, multi=False, last=True, whole=None, portal=None,
                   max_rows=0, params=()):
        """Run one statement (simple protocol, or an Execute).  The caller has
        rejected it if the block is aborted and it is no exit statement.
        Returns False if it raised an error (or its implicit commit did)."""
        x = self.x
        out = self.out
        self.source = '%s %s' % (proto, k.name)
        # Count it.
        if k.tx == 'begin':
            ordinal = None                      # a BEGIN that succeeds is not counted
        elif proto == 'ext' and portal.ordinal is not None:
            ordinal = portal.ordinal            # a further chunk of a portal
        elif proto == 'ext' and k.nothing:
            ordinal = None                      # known limit: no event, not counted
        else:
            x.count += 1
            ordinal = x.count
            if portal is not None:
                portal.ordinal = ordinal
        ctx = {'proto': proto, 'last': last, 'whole': whole, 'text': text, 'kind': k,
               'ordinal': ordinal, 'portal': portal}
        if proto == 'ext' and ordinal is not None:
            # DEFINITION reading (README "Readings" 4): the statement an implicit
            # commit at Sync is charged to is the last counted one run, also
            # when the last Execute was a further chunk of it.
            x.last_exec = (ordinal, portal.activity if portal is not None else text)
            self.exec_fresh = True

        def error(code, fail_portal=None):
            if self.aborted():
                self.ignored(code)
            else:
                self.fail(code, ordinal, text, fail_portal)
            return False

        # Statements that always fail.
        if k.err and k.phase in ('analyze', 'plan') and proto == 'simple':
            return error(k.err)
        if k.params and proto == 'simple':
            return error('42P02')                 # there is no parameter $1
        tx = k.tx
        if tx is None:
            if k.err:
                if proto == 'simple' and k.t_first:
                    out.add('T')
                if portal is not None and k.fail_at:
                    return self._chunk(portal, max_rows, error)
                return error(k.err, portal)
            if proto == 'simple' and k.rows:
                out.add('T')
            if portal is not None and k.nrows is not None and k.tag and k.tag.startswith('SELECT'):
                return self._chunk(portal, max_rows, error)
            if k.deferred:
                if x.immediate:
                    return error(k.deferred)
                x.pending.append([k.deferred, x.subs[-1].id if x.subs else 0])
            return self._complete(k.tag, ctx)
        return getattr(self, '_tx_' + tx)(k, ctx, error)

    def _chunk(self, portal, max_rows, error):
        """Execute of a SELECT portal with a row limit (0 = all)."""
        k = portal.kind
        if k.fail_at:
            if max_rows == 0 or portal.pos + max_rows >= k.fail_at:
                return error(k.err, portal)
            portal.pos += max_rows
            self.out.add('s')
            return True
        if max_rows == 0 or portal.pos + max_rows > k.nrows:
            n = k.nrows - portal.pos
            portal.pos = k.nrows
            portal.status = 'done'
            self.out.add('C:SELECT %d' % n)
            return True
        portal.pos += max_rows
        self.out.add('s')
        return True

    # -- transaction control

    def _tx_begin(self, k, ctx, error):
        x = self.x
        if x.kind == 'implicit':
            x.kind = 'block'        # statements already run in the string/pipeline join the block
        # BEGIN inside a block: WARNING, nothing changes
        return self._complete(k.tag, ctx)

    def _commit_like(self, k, ctx, error, how):
        """COMMIT / END / PREPARE TRANSACTION (how = 'commit' / 'prepare')."""
        x = self.x
        chain = k.extra == 'chain'
        if x.kind == 'block' and x.aborted:
            self._end_episode(how)
            self._end_xact()
            if chain:
                self.x = Xact('block')
            return self._complete('ROLLBACK', ctx)
        if x.kind == 'implicit' and chain:
            return error('25P01')
        if how == 'prepare' and x.kind == 'implicit' and not x.implicit_block:
            # PREPARE TRANSACTION outside a block: WARNING, tag ROLLBACK, and the
            # implicit transaction is committed (PostgreSQL 15).
            if x.pending or x.count > 1:
                raise Unsupported('PREPARE TRANSACTION outside a block after other statements')
            self._end_xact()
            return self._complete('ROLLBACK', ctx)
        err = self._first_pending()
        if err:
            # The commit fails: the transaction is rolled back, nothing stays aborted.
            # DEFINITION reading (README "Readings" 5): not in a block any more,
            # and in_savepoint is false (the savepoints are already released).
            self.x.kind = 'implicit'
            return error(err)
        if how == 'prepare':
            if k.arg in self.gids:
                raise Unsupported('PREPARE TRANSACTION with a gid in use')
            self.gids.add(k.arg)
        self._end_xact()
        if chain:
            self.x = Xact('block')
        return self._complete(k.tag, ctx)

    def _tx_commit(self, k, ctx, error):
        return self._commit_like(k, ctx, error, 'commit')

    def _tx_prepare(self, k, ctx, error):
        return self._commit_like(k, ctx, error, 'prepare')

    def _tx_rollback(self, k, ctx, error):
        x = self.x
        chain = k.extra == 'chain'
        if x.kind == 'implicit' and chain:
            return error('25P01')
        if x.kind == 'block' and x.aborted:
            self._end_episode('rollback')
        self._end_xact()
        if chain:
            self.x = Xact('block')
        return self._complete('ROLLBACK', ctx)

    def _find_sub(self, name):
        for i in range(len(self.x.subs) - 1, -1, -1):
            if self.x.subs[i].name == name:
                return i
        return None

    def _tx_savepoint(self, k, ctx, error):
        x = self.x
        if x.kind != 'block':
            return error('25P01')
        x.subs.append(Sub(k.arg, self.next_sub, x.immediate))
        self.next_sub += 1
        return self._complete(k.tag, ctx)

    def _tx_release(self, k, ctx, error):
        x = self.x
        if x.kind != 'block':
            return error('25P01')
        i = self._find_sub(k.arg)
        if i is None:
            return error('3B001')
        gone = {s.id for s in x.subs[i:]}
        parent = x.subs[i - 1].id if i > 0 else 0
        del x.subs[i:]
        for ev in x.pending:
            if ev[1] in gone:
                ev[1] = parent
        for p in self.portals.values():
            if p.sub_id in gone:
                p.sub_id = parent
        return self._complete(k.tag, ctx)

    def _tx_rollback_to(self, k, ctx, error):
        x = self.x
        if x.kind != 'block':
            return error('25P01')
        i = self._find_sub(k.arg)
        if i is None:
            # an ignored command if aborted, else a cause; counted either way
            # (DEFINITION reading, README "Readings" 1; expected/ordinals.out)
            return error('3B001')
        target = x.subs[i]
        gone = {s.id for s in x.subs[i:]}
        del x.subs[i + 1:]
        target.id = self.next_sub
        self.next_sub += 1
        x.pending = [ev for ev in x.pending if ev[1] not in gone]
        x.immediate = target.immediate_at_start
        self.portals = {n: p for n, p in self.portals.items() if p.sub_id not in gone}
        if x.aborted:
            self._end_episode('rollback to savepoint')
        return self._complete(k.tag, ctx)

    def _tx_finish_prepared(self, k, ctx, error):
        x = self.x
        if x.kind == 'block' or x.implicit_block or x.pipelining or x.count > 1:
            return error('25001')      # cannot run inside a transaction block
        if k.arg not in self.gids:
            return error('42704')
        self.gids.discard(k.arg)
        return self._complete(k.tag, ctx)

    def _tx_set_immediate(self, k, ctx, error):
        x = self.x
        err = self._first_pending()
        if err:
            return error(err)
        x.immediate = True
        return self._complete(k.tag, ctx)

    # -- cursors

    def _tx_declare(self, k, ctx, error):
        x = self.x
        if x.kind != 'block' and not x.implicit_block:
            return error('25P01')       # DECLARE CURSOR can only be used in transaction blocks
        inner = k.inner
        if inner.err and inner.phase in ('analyze', 'plan'):
            return error(inner.err)
        if inner.tx or not inner.rows or inner.params:
            raise Unsupported('cursor over %s' % inner.name)
        if k.arg in self.portals:
            return error('42P03')
        self.portals[k.arg] = Portal(inner, ctx['text'], x.subs[-1].id if x.subs else 0, True)
        return self._complete(k.tag, ctx)

    def _tx_fetch(self, k, ctx, error):
        p = self.portals.get(k.arg)
        if p is None or not p.cursor:
            if p is not None:
                raise Unsupported('FETCH from a protocol portal')
            return error('34000')
        if p.status == 'failed':
            return error('55000')
        n = k.extra
        inner = p.kind
        if inner.fail_at:
            if p.pos + n >= inner.fail_at:
                return error(inner.err, p)
            p.pos += n
            got = n
        else:
            got = max(0, min(n, inner.nrows - p.pos))
            p.pos += got
        if ctx['proto'] == 'simple':
            self.out.add('T')
        return self._complete('FETCH %d' % got, ctx)

    def _tx_close(self, k, ctx, error):
        if k.arg not in self.portals:
            return error('34000')
        del self.portals[k.arg]
        return self._complete(k.tag, ctx)

    # -- SQL prepared statements

    def _tx_prepare_stmt(self, k, ctx, error):
        inner = k.inner
        if inner.phase == 'parse':
            raise Unsupported('PREPARE of a syntax error')
        if inner.err and inner.phase == 'analyze':
            return error(inner.err)
        if inner.tx or inner.params != k.extra:
            raise Unsupported('PREPARE of %s' % inner.name)
        if k.arg in self.stmts:
            return error('42P05')
        self.stmts[k.arg] = (inner, None, k.extra)
        return self._complete(k.tag, ctx)

    def _tx_execute_stmt(self, k, ctx, error):
        st = self.stmts.get(k.arg)
        if st is None:
            return error('26000')
        inner, _, nparams = st
        if nparams != k.extra:
            raise Unsupported('EXECUTE with a wrong number of parameters')
        if inner.err:
            return error(inner.err)
        if inner.deferred:
            if self.x.immediate:
                return error(inner.deferred)
            self.x.pending.append([inner.deferred, self.x.subs[-1].id if self.x.subs else 0])
        if inner.rows and ctx['proto'] == 'simple':
            self.out.add('T')
        return self._complete(inner.tag, ctx)

    def _tx_deallocate(self, k, ctx, error):
        if k.arg not in self.stmts:
            return error('26000')
        del self.stmts[k.arg]
        return self._complete(k.tag, ctx)

    # -- procedures

    def _tx_call(self, k, ctx, error):
        x = self.x
        proc = k.arg
        if proc == 'm_proc_fail':
            return error('23505')
        atomic = x.kind == 'block' or x.implicit_block
        if atomic:
            # COMMIT/ROLLBACK inside: invalid transaction termination
            return error('2D000')
        if x.pending:
            raise Unsupported('procedure transaction control with deferred checks pending')
        # The procedure's COMMIT/ROLLBACK ends the transaction and starts a new
        # one, of which the CALL is statement 1.
        self.portals = {n: p for n, p in self.portals.items() if p is ctx['portal']}
        nx = Xact('implicit')
        nx.count = 1
        if ctx['proto'] == 'ext':
            nx.last_exec = (1, ctx['portal'].activity if ctx['portal'] is not None else ctx['text'])
        self.x = nx
        ctx['ordinal'] = 1
        if proc == 'm_proc_commit_fail':
            return self.fail('23505', 1, ctx['text']) and False
        return self._complete(k.tag, ctx)

    # -- COPY

    def _tx_copy_in(self, k, ctx, error):
        if ctx['proto'] != 'simple' or self._copies is None:
            raise Unsupported('COPY FROM STDIN in the extended protocol or in a pipeline')
        self.out.add('G')
        payload = self._copies.pop(0) if self._copies else ('fail', 'no data for this COPY')
        how, arg = payload
        if how == 'fail':
            return error('57014')
        rows = ''.join(arg).split('\n')
        if rows and rows[-1] == '':
            rows.pop()
        for r in rows:
            if not re.fullmatch(r'-?\d+', r):
                return error('22P02')
        return self._complete('COPY %d' % len(rows), ctx)

    def _tx_copy_out(self, k, ctx, error):
        self.out.add('H')
        if k.err:
            return error(k.err)
        return self._complete(k.tag, ctx)

    # -- the driver's check

    def _tx_check(self, k, ctx, error):
        if ctx['proto'] == 'simple':
            self.out.add('T')
        rec = self.last_record()
        self.out.check = rec.as_dict() if rec else 'none'
        if rec is not None:
            assert rec.ended_by is not None
        return self._complete('SELECT %d' % (1 if rec else 0), ctx)

    # ------------------------------------------------------------ fast-path

    def _fastpath(self, fn, args):
        out = self.out
        if self.ignoring:
            return
        if self.aborted():
            self.ignored('25P02')
            out.add('Z:' + self.status())
            return
        x = self._xact()
        self.source = 'fastpath %s' % fn
        if x.kind == 'implicit' and (x.count or x.pending):
            raise Unsupported('fast-path call inside an open implicit transaction')
        err = None
        if fn == 'lo_open':
            err = '42704'               # large object 0 does not exist
        elif fn == 'm_fp' and args and args[0] == '0':
            err = '22012'
        # DEFINITION.md 1: a fast-path call is not counted; one that fails takes
        # the next number
        if err:
            x.count += 1
            self.fail(err, x.count, FASTPATH_TEXT)
        else:
            out.add('V')
            if x.kind == 'implicit':
                self._end_xact()
        out.add('Z:' + self.status())

    # ------------------------------------------------------------ extended protocol

    def _extended(self, msgs):
        out = self.out
        for msg in msgs:
            m = msg['m']
            self.in_ext = m not in ('query', 'fastpath')
            if m in ('parse', 'bind', 'query') and not self.ignoring:
                # DEFINITION.md 1 (implicit commit at Sync): after a Parse, Bind,
                # Query or an Execute that runs nothing counted, the last
                # statement's text is no longer named (its next Execute, or a
                # further chunk of it, names it again)
                self.exec_fresh = False
            if m == 'sync':
                self._sync()
                continue
            if self.ignoring:
                continue                # skipped until Sync
            if m == 'query':
                if self.seg_msgs:
                    raise Unsupported('Query inside an unfinished extended-protocol sequence')
                self._simple(msg['sql'], None)      # no COPY FROM STDIN answers in a pipeline
                continue
            if m == 'fastpath':
                if self.seg_msgs:
                    raise Unsupported('fast-path call inside an unfinished extended-protocol sequence')
                self._fastpath(msg['fn'], msg.get('args', []))
                continue
            self.seg_msgs += 1
            getattr(self, '_m_' + m)(msg)
        self.in_ext = False
        if self.seg_msgs or self.ignoring:
            raise Unsupported('an extended-protocol unit must end with Sync')

    def _sync(self):
        self.ignoring = False
        self.seg_msgs = 0
        x = self.x
        if x is not None and x.kind == 'implicit':
            err = self._first_pending()
            if err:
                if x.last_exec is None:
                    raise Unsupported('deferred check at Sync without a statement')
                self.source = 'commit at Sync'
                # DEFINITION.md 1: the statement's text only if no Parse or Bind
                # came after its Execute
                # ... taken from the server's activity text, which is cut at
                # track_activity_query_size - 1 bytes (README, Caveats;
                # activity_text())
                text = None
                if getattr(self, 'exec_fresh', False):
                    text = x.last_exec[1]
                self.fail(err, x.last_exec[0], text)
                self.ignoring = False
            else:
                self._end_xact()
        self.out.add('Z:' + self.status())

    def _pre_error(self, code, text):
        """An error at Parse/Bind/Describe while not aborted: it belongs to the
        statement being prepared, the next one, which counts."""
        x = self._xact()
        x.count += 1
        self.fail(code, x.count, text)

    def _m_parse(self, msg):
        name, sql = msg.get('name', ''), msg['sql']
        self.source = 'ext Parse'
        x = self._xact()
        pieces = sqltext.split(sql)
        kinds = [classify(p.text) for p in pieces]
        text = sqltext.whole(sql, pieces)
        # DEFINITION reading (README "Readings" 3): a Parse of several statements
        # names its whole text.
        if any(k.phase == 'parse' for k in kinds) or len(pieces) > 1:
            # syntax error / cannot insert multiple commands into a prepared statement
            if self.aborted():
                self.ignored('42601')
            else:
                self._pre_error('42601', text)
            return
        k = kinds[0] if kinds else None
        if self.aborted() and not (k is not None and k.exit):
            self.ignored('25P02')
            return
        if k is not None and k.err and k.phase == 'analyze':
            self._pre_error(k.err, text)
            return
        # (PREPARE x AS <bad query>: the inner query is analysed when PREPARE runs,
        # at Execute -- _tx_prepare_stmt)
        if name and name in self.stmts:
            if self.aborted():
                self.ignored('42P05')
            else:
                self._pre_error('42P05', text)
            return
        ntypes = len(msg.get('types', ()))
        nparams = max(ntypes, k.params if k else 0)
        self.stmts[name] = (k, text, nparams)
        self.activity_of[name] = activity_text(sql, text)
        self.out.add('1')

    def _m_bind(self, msg):
        portal, name, params = msg.get('portal', ''), msg.get('stmt', ''), msg.get('params', [])
        self.source = 'ext Bind'
        self._xact()
        st = self.stmts.get(name)
        if st is None or st[1] is None:
            if self.aborted():
                self.ignored('26000')
                return
            raise Unsupported('Bind of a statement that does not exist')
        k, text, nparams = st
        if len(params) != nparams:
            raise Unsupported('Bind with a wrong number of parameters')
        if self.aborted() and (k is None or not k.exit or params):
            self.ignored('25P02')
            return
        if portal and portal in self.portals:
            if self.aborted():
                self.ignored('42P03')
            else:
                self._pre_error('42P03', text)
            return
        for p in params:
            if p is not None and not re.fullmatch(r'\s*-?\d+\s*', p):
                self._pre_error('22P02', text)      # invalid input syntax for type integer
                return
        if k is not None and k.err and k.phase == 'plan':
            self._pre_error(k.err, text)            # the planner runs at Bind
            return
        if k is not None and k.tx == 'execute_stmt':
            raise Unsupported('EXECUTE through the extended protocol')
        x = self.x
        self.portals[portal] = Portal(k, text, x.subs[-1].id if x.subs else 0, False)
        self.portals[portal].activity = self.activity_of.get(name, text)
        self.out.add('2')

    def _m_describe(self, msg):
        what, name = msg['what'], msg.get('name', '')
        self._xact()
        if what == 'S':
            st = self.stmts.get(name)
            if st is None or st[1] is None:
                if self.aborted():
                    self.ignored('26000')
                    return
                raise Unsupported('Describe of a statement that does not exist')
            k = st[0]
        else:
            p = self.portals.get(name)
            if p is None or p.cursor:
                if self.aborted() and p is None:
                    self.ignored('34000')
                    return
                raise Unsupported('Describe of a portal that does not exist')
            k = p.kind
        rows = k is not None and k.rows
        if self.aborted() and rows:
            self.ignored('25P02')
            return
        if what == 'S':
            self.out.add('t')
        self.out.add('T' if rows else 'n')

    def _m_execute(self, msg):
        name, max_rows = msg.get('portal', ''), msg.get('max_rows', 0)
        x = self._xact()
        p = self.portals.get(name)
        if p is None or p.cursor:
            if self.aborted() and p is None:
                self.ignored('34000')
                return
            raise Unsupported('Execute of a portal that does not exist')
        k = p.kind
        if self.aborted() and not (k is not None and k.exit):
            self.ignored('25P02')
            return
        if p.status != 'ready':
            if p.status == 'done' and k is not None and k.nrows is not None and k.tag \
                    and k.tag.startswith('SELECT') and not self.aborted():
                self.out.add('C:SELECT 0')          # a finished SELECT portal returns nothing more
                # nothing runs: the statement a commit at Sync is charged to stays
                # the last one that ran, and the activity text is this message's
                # (DEFINITION.md 1: no text)
                return
            raise Unsupported('Execute of a %s portal' % p.status)
        if k is None:
            self.out.add('I')                       # empty query
            return
        if p.ordinal is not None:
            self.source = 'ext chunk of %s' % k.name
        if max_rows and not (k.nrows is not None and k.tag and k.tag.startswith('SELECT')
                             or k.fail_at):
            max_rows = 0                            # the limit only matters for SELECT portals
        chunked = k.fail_at or (k.nrows is not None and k.tag and k.tag.startswith('SELECT'))
        ok = self._statement(k, p.text, 'ext', portal=p, max_rows=max_rows)
        if name in self.portals and self.portals[name] is p:
            if not ok:
                p.status = 'failed'
            elif not chunked:
                p.status = 'done'
        if ok and self.x is not None and k.tx not in TXN_STMTS:
            # an Execute completed without committing: later statements of this
            # implicit transaction are "pipelined" (PreventInTransactionBlock)
            self.x.pipelining = True

    def _m_close(self, msg):
        what, name = msg['what'], msg.get('name', '')
        if what == 'S':
            self.stmts.pop(name, None)
        else:
            p = self.portals.get(name)
            if p is not None and p.cursor:
                raise Unsupported('Close of a cursor through the protocol')
            self.portals.pop(name, None)
        self.out.add('3')

    def _m_flush(self, msg):
        pass                    # no response, no state


# ---------------------------------------------------------------- the annotation text

def annotation(ann_ordinal, cause_sqlstate, cause_msg, cause_detail, text, max_len):
    """The sentence txguard appends to the DETAIL (README / DEFINITION.md 4)."""
    s = 'The transaction was aborted by an earlier error in statement %d: ERROR %s: %s' % (
        ann_ordinal, cause_sqlstate, cause_msg)
    if cause_detail:
        s += ' (%s)' % cause_detail
    if text:
        cut, was_cut = sqltext.cut_bytes(text, max_len)
        s += ' Statement: ' + cut + ('...' if was_cut else '')
    return s


# txguard 1.0's HINT outside savepoints; 1.1 adds none there (DEFINITION.md 4)
HINT_BLOCK = 'End the transaction with ROLLBACK.'
HINT_SAVEPOINT = ('Roll back to a savepoint set before the error with ROLLBACK TO SAVEPOINT, '
                  'or end the transaction with ROLLBACK.')


# ---------------------------------------------------------------- statistics

def tracked(rec):
    """Whether txguard.track (as in force at the abort) keeps the record in the
    shared history and statistics (README, txguard.track)."""
    return rec.track == 'all' or (rec.track == 'blocks' and rec.in_block)


# txguard_stats columns predicted from the records: column -> value one record adds.
# ignored_commands is added when the block ends (an open block is not counted yet).
# To check a new column, add it here (and it is selected and compared by run.py).
STATS_COLUMNS = {
    'aborts': lambda r: 1,
    'aborted_blocks': lambda r: 1 if r.in_block else 0,
    'ignored_commands': lambda r: r.ignored if r.ended_by is not None else 0,
    'sessions_terminated': lambda r: 1 if r.ended_by == 'timeout' else 0,
}


def stats_delta(records):
    """{(datname, usename, sqlstate): {column: value}} of the tracked records."""
    out = {}
    for r in records:
        if not tracked(r):
            continue
        row = out.setdefault((r.db, r.user, r.sqlstate), dict.fromkeys(STATS_COLUMNS, 0))
        for col, f in STATS_COLUMNS.items():
            row[col] += f(r)
    return out


def add_stats(total, delta):
    for key, row in delta.items():
        t = total.setdefault(key, dict.fromkeys(STATS_COLUMNS, 0))
        for col, v in row.items():
            t[col] += v
    return total
