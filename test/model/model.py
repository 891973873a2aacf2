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
    detail are quoted in the annotation), in the txguard.annotate mode in
    force when it is raised;
  * the abort records (``Record``): one per cause, with in_block,
    in_savepoint, at_commit, the role, which statement's query id,
    ignored_commands and ended_by, which the driver compares with
    txguard_last_abort(), txguard_abort_history(), txguard_stats and the
    end-of-block line of the server log.

The SQL vocabulary the model understands is fixed (``classify``): the
statements gen.py writes, against the objects of ``SETUP_SQL``.  Each is
chosen so that its outcome depends only on transaction semantics and the
session's settings, never on table contents.  Anything else raises
``Unsupported``; so do situations the definition does not cover (for
example an Execute of a portal that does not exist while the block is
healthy: there is no statement text to name).  The generator and the
shrinker discard such scripts.

Besides the statements, a script can hold units that act from outside the
session (run.py drives them): ``helper`` (a second session commits a
serializable transaction that conflicts with this one), ``terminate``
(pg_terminate_backend from a second session), ``sleep`` (the client stays
idle), a ``cancel`` flag on a unit (a CancelRequest while its pg_sleep
runs), and ``pause`` steps inside a pipeline or COPY data (the client is
still sending: the session is not idle).
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
    'X': 'the server closed the connection (after a FATAL)',
    '<token>?': 'a token that may be absent',
}
# DataRow, CopyData, CopyDone, NoticeResponse and ParameterStatus are not compared.

FASTPATH_TEXT = '<fast-path function call>'
# track_activity_query_size (default 1024) less its terminating NUL
ACTIVITY_MAX = 1023
# MAX_MULTIBYTE_CHAR_LEN: an activity text this close to ACTIVITY_MAX may
# have been cut (DEFINITION.md 1, implicit commit at Sync)
ACTIVITY_CUT_SLACK = 4
SUPERUSER = 'postgres'          # the only superuser the scripts use
LATIN1_DB = 'txm_latin1'


def full_sql(obj):
    """The SQL text of a simple unit or a Parse message: its 'sql', after a
    leading comment of 'pad' bytes when it has one (scripts keep a padding of
    megabytes as a number)."""
    pad = obj.get('pad')
    if not pad:
        return obj['sql']
    return '/* ' + 'y' * pad + ' */ ' + obj['sql']


def db_encoding(db):
    """The Python codec of a test database's encoding."""
    return 'latin-1' if db == LATIN1_DB else 'utf-8'


def activity_text(raw, text, encoding='utf-8'):
    """The text txguard takes from the activity (DEFINITION.md 1): the message's
    text as sent (raw), cut at ACTIVITY_MAX bytes of the database encoding;
    when it may have been cut, only its blanks at both ends are removed,
    otherwise it is trimmed as a statement text (text)."""
    if raw is None or text is None:
        return text
    if len(raw.encode(encoding)) >= ACTIVITY_MAX + 1 - ACTIVITY_CUT_SLACK:
        return sqltext.cut_bytes(raw, ACTIVITY_MAX, encoding)[0].strip(sqltext.WS) or None
    return text

# ---------------------------------------------------------------- objects

# Roles (created by run.py before SETUP_SQL): txm_user (LOGIN, the second
# script user) and txm_owner (NOLOGIN, owns the SECURITY DEFINER functions).
SETUP_SQL = r"""
DROP TABLE IF EXISTS m_u, m_ok, m_def, m_par, m_child, m_trg, m_dtrg, m_also, m_also_log,
  m_ser_a, m_ser_b CASCADE;
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
CREATE TABLE m_ser_a (v int);
CREATE TABLE m_ser_b (v int);
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
CREATE OR REPLACE FUNCTION m_sd_imm(int) RETURNS int LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS
$$ BEGIN IF $1 = 1 THEN RAISE EXCEPTION 'security definer folded while planning' USING ERRCODE = 'TX005'; END IF;
   RETURN $1; END $$;
CREATE OR REPLACE FUNCTION m_sd_raise() RETURNS int LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS
$$ BEGIN RAISE EXCEPTION 'security definer raises' USING ERRCODE = 'TX006'; END $$;
CREATE OR REPLACE FUNCTION m_sd_fp(int) RETURNS int LANGUAGE sql STRICT SECURITY DEFINER AS 'SELECT 10 / $1';
ALTER FUNCTION m_sd_imm(int) OWNER TO txm_owner;
ALTER FUNCTION m_sd_raise() OWNER TO txm_owner;
ALTER FUNCTION m_sd_fp(int) OWNER TO txm_owner;
CREATE OR REPLACE PROCEDURE m_proc_commit() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_ok (v) VALUES (2); COMMIT; END $$;
CREATE OR REPLACE PROCEDURE m_proc_commit_fail() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_ok (v) VALUES (3); COMMIT; INSERT INTO m_u VALUES (1); END $$;
CREATE OR REPLACE PROCEDURE m_proc_rollback() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_ok (v) VALUES (4); ROLLBACK; END $$;
CREATE OR REPLACE PROCEDURE m_proc_fail() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO m_u VALUES (1); END $$;
"""

# The helper session's part of the serialization conflict (run.py runs it on
# a second connection; the session read m_ser_a and wrote m_ser_b before)
HELPER_SER_SQL = ('BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT count(*) FROM m_ser_b; '
                  'INSERT INTO m_ser_a VALUES (1); COMMIT')

# Fast-path functions: name -> signature for the OID look-up
FASTPATH = {
    'lo_creat': 'lo_creat(integer)',
    'lo_open': 'lo_open(oid, integer)',
    'm_fp': 'm_fp(integer)',
    'm_sd_fp': 'm_sd_fp(integer)',
}

CHECK_COLUMNS = ('sqlstate', 'statement_ordinal', 'statement', 'in_block', 'in_savepoint',
                 'ignored_commands', 'ended_by', 'message', 'detail', 'at_commit', 'usename',
                 'queryid')
CHECK_SQL = 'SELECT %s FROM txguard_last_abort()' % ', '.join(CHECK_COLUMNS)
# the order in which run.py compares them (the first difference names the mismatch)
COMPARE_ORDER = ('sqlstate', 'statement_ordinal', 'usename', 'at_commit', 'in_block', 'in_savepoint',
                 'ended_by', 'ignored_commands', 'statement', 'message', 'detail', 'queryid')
# the columns a role sees only for its own records (README, Visibility: the
# texts as pg_stat_activity's query, the query id as pg_stat_statements')
HIDDEN_COLUMNS = ('statement', 'message', 'detail', 'queryid')


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
    tx        its own handler (Model._tx_<tx>), arg its argument (savepoint
              name, gid, cursor, ...)
    exit      IsTransactionExitStmt: allowed while the block is aborted
    deferred  SQLSTATE of the deferred check it queues (fails at commit)
    nrows     rows it returns (for chunked Execute); fail_at: row that raises
    store     a portal PostgreSQL runs whole at its first Execute and then
              reads from a store (INSERT ... RETURNING, SHOW)
    params    number of $n parameters (all integers)
    nothing   a DO INSTEAD NOTHING statement
    util      a utility statement (its query id is its text's hash)
    twin      an EXPLAIN-able text with the same query id (for a statement
              the planner fails on)
    """

    def __init__(self, name, tag=None, rows=False, err=None, phase=None, t_first=False,
                 tx=None, arg=None, exit=False, deferred=None, nrows=None, fail_at=None,
                 params=0, nothing=False, inner=None, extra=None, store=False, twin=None):
        self.name, self.tag, self.rows, self.err, self.phase = name, tag, rows, err, phase
        self.t_first, self.tx, self.arg, self.exit, self.deferred = t_first, tx, arg, exit, deferred
        self.nrows, self.fail_at, self.params, self.nothing = nrows, fail_at, params, nothing
        self.inner, self.extra, self.store, self.twin = inner, extra, store, twin
        self.util = False

    def __repr__(self):
        return 'Kind(%s)' % self.name

    def __deepcopy__(self, memo):
        return self             # kinds are never modified: share them

    def selects(self):
        """A SELECT portal: every Execute runs the executor for more rows."""
        return self.nrows is not None and bool(self.tag) and self.tag.startswith('SELECT') \
            and not self.store

    def chunk_tag(self, n):
        """CommandComplete of an Execute that returned the last n rows."""
        if self.store:
            return 'INSERT 0 %d' % n if self.tag.startswith('INSERT') else self.tag
        return 'SELECT %d' % n


def _select_rows(n):
    return Kind('select', tag='SELECT %d' % n, rows=True, nrows=n)


_CONST = r"(?:\d+|'(?:[^']|'')*'|E'(?:[^'\\]|\\.)*'|\$(\w*)\$.*?\$\1\$)"
_SETTO = r"(?: ?= ?| TO )"


def _set_guc(m, name):
    """SET [LOCAL] name = value (m.group(1): LOCAL, m.group(2): value)."""
    return Kind('set_' + name.replace('txguard.', ''), tag='SET', tx='set_guc',
                arg=(name, m.group(2).strip("'").lower(), bool(m.group(1))))


def _declare(m):
    inner = classify(m.group(3))
    if inner.err and inner.phase == 'analyze':
        # parse analysis of DECLARE analyses its query (at Parse in the extended protocol)
        return Kind('declare_err', err=inner.err, phase='analyze')
    return Kind('declare', tag='DECLARE CURSOR', tx='declare', arg=m.group(1).lower(), inner=inner,
                extra='hold' if m.group(2) else None)


# (regex on the comment-free, whitespace-collapsed text, case-insensitive) -> factory(match)
_PATTERNS = [
    (r'BEGIN(?: WORK| TRANSACTION)?', lambda m: Kind('begin', tag='BEGIN', tx='begin')),
    (r'BEGIN(?: WORK| TRANSACTION)? ISOLATION LEVEL SERIALIZABLE',
     lambda m: Kind('begin_ser', tag='BEGIN', tx='begin', extra='serializable')),
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
    (r'SHOW work_mem', lambda m: Kind('show', tag='SHOW', rows=True, nrows=1, store=True)),
    # settings the model follows (transactional, like every SET)
    (r"SET( LOCAL)? txguard\.annotate" + _SETTO + r"('?(?:off|detail|message)'?)",
     lambda m: _set_guc(m, 'txguard.annotate')),
    (r"SET( LOCAL)? txguard\.track" + _SETTO + r"('?(?:none|blocks|all)'?)",
     lambda m: _set_guc(m, 'txguard.track')),
    (r"SET( LOCAL)? statement_timeout" + _SETTO + r"('?\d+(?:ms)?'?)",
     lambda m: _set_guc(m, 'statement_timeout')),
    (r"SET( LOCAL)? ROLE (txm_user|none)", lambda m: _set_guc(m, 'role')),
    (r"SET( LOCAL)? SESSION AUTHORIZATION (txm_user|postgres)",
     lambda m: _set_guc(m, 'session_authorization')),
    (r'RESET (txguard\.annotate|txguard\.track|statement_timeout|ROLE|SESSION AUTHORIZATION)',
     lambda m: Kind('reset', tag='RESET', tx='set_guc',
                    arg=(m.group(1).lower().replace(' ', '_'), None, False))),
    # cursors
    (r'DECLARE (\w+) CURSOR( WITH HOLD)? FOR (.*)', _declare),
    (r'FETCH (\d+) FROM (\w+)', lambda m: Kind('fetch', rows=True, tx='fetch', arg=m.group(2).lower(),
                                               extra=int(m.group(1)))),
    (r'CLOSE (\w+)', lambda m: Kind('close', tag='CLOSE CURSOR', tx='close', arg=m.group(1).lower())),
    # SQL-level prepared statements
    (r'PREPARE (\w+)(?: ?\((int|integer)\))? AS (.*)',
     lambda m: Kind('prepare', tag='PREPARE', tx='prepare_stmt', arg=(m.group(1).lower(), m.group(3)),
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
    # temporary table (PREPARE TRANSACTION refuses a transaction that used one)
    (r'CREATE TEMP TABLE m_tmp \(v int\) ON COMMIT DROP',
     lambda m: Kind('tmp_create', tag='CREATE TABLE', tx='tmp_create')),
    (r'INSERT INTO m_tmp VALUES \(1\)', lambda m: Kind('tmp_insert', tag='INSERT 0 1', tx='tmp_insert')),
    # the serialization conflict (with the helper session)
    (r'SELECT count\(\*\) FROM m_ser_a', lambda m: Kind('ser_read', tag='SELECT 1', rows=True, nrows=1,
                                                        tx='ser')),
    (r'INSERT INTO m_ser_b VALUES \(1\)', lambda m: Kind('ser_write', tag='INSERT 0 1', tx='ser')),
    # the driver's check query
    (re.escape(CHECK_SQL), lambda m: Kind('check', rows=True, tx='check')),
    # statement_timeout / cancel
    (r'SELECT pg_sleep\(5\)', lambda m: Kind('sleep', tag='SELECT 1', rows=True, tx='sleep')),
    # SELECTs
    (r'SELECT ' + _CONST + r'(?: AS (?:\w+|"(?:[^"]|"")*"))?', lambda m: _select_rows(1)),
    (r'SELECT m_imm\(\)(?: \+ m_imm\(\))*', lambda m: _select_rows(1)),
    (r'SELECT m_catch\(\)', lambda m: _select_rows(1)),
    (r'SELECT count\(\*\) FROM m_ok', lambda m: _select_rows(1)),
    (r'SELECT g FROM generate_series\(1, ?(\d+)\) g', lambda m: _select_rows(int(m.group(1)))),
    (r'SELECT 10/\(3-g\) FROM generate_series\(1, ?5\) g',
     lambda m: Kind('select_bad', rows=True, err='22012', phase='exec', t_first=True, fail_at=3)),
    (r'SELECT 1/0', lambda m: Kind('div0_plan', rows=True, err='22012', phase='plan', twin='SELECT 1/1')),
    (r'SELECT \* FROM m_u WHERE id = m_stable_raiser\(1\)',
     lambda m: Kind('stable_raiser', rows=True, err='TX003', phase='plan',
                    twin='SELECT * FROM m_u WHERE id = m_stable_raiser(2)')),
    (r'SELECT m_sd_imm\(1\)', lambda m: Kind('sd_imm', rows=True, err='TX005', phase='plan',
                                             twin='SELECT m_sd_imm(2)')),
    (r'SELECT m_sd_imm\(2\)', lambda m: _select_rows(1)),
    (r'SELECT m_sd_imm\(\$1\)', lambda m: Kind('sd_imm_param', tag='SELECT 1', rows=True, nrows=1, params=1,
                                               extra='sd_imm')),
    (r'SELECT m_sd_raise\(\)', lambda m: Kind('sd_raise', rows=True, err='TX006', phase='exec', t_first=True)),
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
     lambda m: Kind('ins_returning', tag='INSERT 0 1', rows=True, nrows=1, store=True)),
    (r'INSERT INTO m_ok \(v\) VALUES \(\d+\), \(\d+\) RETURNING id',
     lambda m: Kind('ins_returning2', tag='INSERT 0 2', rows=True, nrows=2, store=True)),
    (r'INSERT INTO m_def VALUES \(1\)', lambda m: Kind('ins_def', tag='INSERT 0 1', deferred='23505')),
    (r'INSERT INTO m_child VALUES \(7\)', lambda m: Kind('ins_child', tag='INSERT 0 1', deferred='23503')),
    (r'INSERT INTO m_dtrg VALUES \(1\)', lambda m: Kind('ins_dtrg', tag='INSERT 0 1', deferred='TX002')),
    (r'INSERT INTO m_trg VALUES \(1\)', lambda m: Kind('ins_trg_ok', tag='INSERT 0 0')),
    (r'INSERT INTO m_trg VALUES \(-1\)', lambda m: Kind('ins_trg_bad', err='TX001', phase='exec')),
    (r'INSERT INTO m_also VALUES \(1\)', lambda m: Kind('ins_also', tag='INSERT 0 1')),
    (r'INSERT INTO m_nothing VALUES \(1\)', lambda m: Kind('ins_nothing', tag='INSERT 0 0', nothing=True)),
]
_COMPILED = [(re.compile(p, re.I | re.S), f) for p, f in _PATTERNS]
_OPTIMIZABLE = re.compile(r'(?:SELECT|INSERT|UPDATE|DELETE|VALUES|TABLE|WITH)\b', re.I)


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
            k.util = not _OPTIMIZABLE.match(norm)
            _classify_cache[norm] = k
            return k
    raise Unsupported('statement outside the vocabulary: %r' % norm[:200])


def qid_spec(k, raw, types=None):
    """Which query id a statement has (DEFINITION.md, query ids): ('util',
    its part of the query string) for a utility statement, ('opt', an
    EXPLAIN-able text, parameter types or None) for an optimizable one, or
    'skip' where the driver has no oracle (a DO INSTEAD NOTHING statement,
    which EXPLAIN rewrites to nothing; a temporary table, whose OID only the
    session knows)."""
    if k.nothing or k.tx == 'tmp_insert':
        return 'skip'
    if k.util:
        return ('util', raw)
    text = k.twin or sqltext.strip_comments(raw)
    return ('opt', text, types)


# ---------------------------------------------------------------- records and predictions

class Record:
    """One abort, as txguard_last_abort() / txguard_abort_history() show it."""
    __slots__ = ('sqlstate', 'ordinal', 'text', 'in_block', 'in_savepoint', 'ignored',
                 'ended_by', 'err_ref', 'db', 'user', 'track', 'unit', 'source', 'at_commit',
                 'qid', 'end_unit', 'text_optional')

    def __init__(self, sqlstate, ordinal, text, in_block, in_savepoint, err_ref, db, user,
                 track, unit, at_commit=False, qid=None):
        self.sqlstate, self.ordinal, self.text = sqlstate, ordinal, text
        self.in_block, self.in_savepoint = in_block, in_savepoint
        self.ignored, self.ended_by, self.err_ref = 0, None, err_ref
        self.db, self.user, self.track, self.unit = db, user, track, unit
        self.at_commit, self.qid = at_commit, qid
        self.end_unit = None    # the unit that ended the episode
        self.text_optional = False  # the text may also be missing (DEFINITION.md 7.5)
        self.source = None      # what raised it (statement kind, 'bind', 'sync commit', ...)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return ('Record(%s N=%s %r in_block=%s in_sp=%s at_commit=%s role=%s ignored=%s ended_by=%s)' %
                (self.sqlstate, self.ordinal, self.text, self.in_block, self.in_savepoint,
                 self.at_commit, self.user, self.ignored, self.ended_by))


class ErrExpect:
    """What an ErrorResponse must look like beyond its SQLSTATE.

    annotated  raised while the block was aborted: txguard annotates it
    record     the cause (for an annotated error), or the record this error
               is the cause of
    annotate   txguard.annotate in force when it was raised
    fatal      'timeout' for txguard's idle timeout FATAL (its DETAIL ends
               with the idle time), 'terminated' for pg_terminate_backend's
    """
    __slots__ = ('sqlstate', 'annotated', 'record', 'ordinal', 'text', 'in_savepoint', 'annotate',
                 'fatal')

    def __init__(self, sqlstate, annotated, record, annotate='detail', fatal=None):
        self.sqlstate, self.annotated, self.record = sqlstate, annotated, record
        # the annotation is a snapshot (the record itself does not change, but be explicit)
        self.ordinal = record.ordinal if record else None
        self.text = record.text if record else None
        self.in_savepoint = record.in_savepoint if record else None
        self.annotate, self.fatal = annotate, fatal


class Out:
    """The predicted responses of one unit."""

    def __init__(self, unit_index):
        self.unit = unit_index
        self.tokens = []
        self.errs = {}          # token index -> ErrExpect
        self.check = None       # predicted last record for a check unit (or 'none')

    def add(self, tok):
        self.tokens.append(tok)

    def error(self, sqlstate, annotated=False, record=None, annotate='detail', fatal=None):
        self.errs[len(self.tokens)] = ErrExpect(sqlstate, annotated, record, annotate, fatal)
        self.tokens.append('E:' + sqlstate)
        return (self.unit, len(self.tokens) - 1)


# ---------------------------------------------------------------- session state

# TransactionStmt: the extended protocol commits right after them (is_xact_command)
TXN_STMTS = {'begin', 'commit', 'rollback', 'savepoint', 'release', 'rollback_to', 'prepare',
             'finish_prepared'}
# DEFINITION.md 1: savepoint commands that succeed are not statements
SAVEPOINT_CMDS = {'savepoint', 'release', 'rollback_to'}
# DEFINITION.md 3: the client's own ways out of an aborted block (log_aborts = problems)
CLIENT_ENDS = {'rollback', 'rollback to savepoint', 'commit', 'prepare'}


class Config:
    """What the model knows about the server (run.py reads it from pg_settings).

    max_len      txguard.max_statement_length
    mpt          max_prepared_transactions
    stats_rule   'track': the statistics count what txguard.track keeps (1.1);
                 'all': every failing top-level statement, except where
                 txguard.track = none (issue 22's rule)
    time_scale   factor of the timeouts and pauses gen.py writes
    log_min_ms   txguard.log_aborts_min_duration, when log_aborts = problems
    savepoint_rule  '1.2': savepoint commands are statements only when they
                 fail on their own (DEFINITION.md 1); '1.1': every one counts
                 (1.1's rule, to look past that difference on a 1.1 server)
    """

    def __init__(self, max_len=1024, mpt=10, stats_rule='track', time_scale=1.0, log_min_ms=None,
                 savepoint_rule='1.2'):
        self.max_len, self.mpt, self.stats_rule = max_len, mpt, stats_rule
        self.savepoint_rule = savepoint_rule
        self.time_scale = time_scale        # timeouts and pauses of generated scripts (slow servers)
        self.log_min_ms = log_min_ms        # txguard.log_aborts_min_duration when log_aborts = problems


class Sub:
    """One active savepoint (subtransaction)."""
    __slots__ = ('name', 'id', 'immediate_at_start', 'guc')

    def __init__(self, name, sid, immediate, guc):
        self.name, self.id, self.immediate_at_start, self.guc = name, sid, immediate, guc


class Portal:
    """A portal: a cursor (DECLARE) or an extended-protocol portal (Bind)."""

    def __init__(self, kind, text, sub_id, cursor, hold=False):
        self.kind, self.text, self.sub_id, self.cursor = kind, text, sub_id, cursor
        self.activity = text        # the text txguard names at a Sync commit
        self.status = 'ready'       # ready | failed | done
        self.pos = 0
        self.ordinal = None         # set at its first Execute (extended protocol)
        self.hold = hold            # WITH HOLD cursor
        self.new = True             # created in the current transaction
        self.qid = None             # query id spec of its statement
        self.role = None            # role of its first Execute


class Xact:
    """The current transaction.  kind: 'implicit' (autocommit statement,
    implicit block of a multi-statement string, extended-protocol statements
    before Sync) or 'block' (explicit transaction block)."""

    def __init__(self, kind, guc):
        self.kind = kind
        self.implicit_block = False     # simple protocol: several statements in one string
        self.aborted = False
        self.episode = None             # the open Record while aborted
        self.count = 0                  # statements counted so far
        self.subs = []
        self.pending = []               # deferred checks: [sqlstate, sub id]
        self.immediate = False          # SET CONSTRAINTS ALL IMMEDIATE in force
        self.last_exec = None           # extended protocol: (ordinal, text, qid, role) of the last statement run
        self.last_portal = None         # ... and its portal
        self.last_counted = None        # simple protocol: (ordinal, qid, role) of the last statement
        self.pipelining = False         # an Execute completed without committing
        self.guc = guc                  # settings at its start: (current, session)
        self.serializable = False
        self.ser_read = self.ser_write = self.doomed = False
        self.temp_used = False          # operated on a temporary table
        self.temps = []                 # sub ids where m_tmp was created (it exists while non-empty)


class Model:
    """One session, from the script's start-up settings (``script``: user,
    database, track, annotate, timeout_ms) and the server's (``cfg``)."""

    def __init__(self, script=None, cfg=None):
        script = script or {}
        self.cfg = cfg or Config()
        self.db = script.get('database', 'postgres')
        self.login = script.get('user', 'postgres')
        self.enc = db_encoding(self.db)
        self.max_len = self.cfg.max_len
        self.timeout_ms = script.get('timeout_ms', 0)
        # settings: their values now and the values a commit keeps (SET LOCAL
        # and the rollback of a failed (sub)transaction undo the difference)
        self.reset_values = {
            'txguard.annotate': script.get('annotate', 'detail'),
            'txguard.track': script.get('track', 'blocks'),
            'statement_timeout': 0, 'role': 'none', 'session_authorization': self.login}
        self.guc = dict(self.reset_values)
        self.guc_sess = dict(self.reset_values)
        self.x = None
        self.stmts = {}              # prepared statements (protocol and SQL): name -> (kind, text, nparams, qid)
        self.activity_of = {}        # protocol prepared statements: name -> activity_text()
        self.portals = {}            # name -> Portal
        self.gids = {}               # prepared transactions of this session: gid -> role
        self.records = []
        self.ignoring = False        # extended protocol: skipping until Sync
        self.seg_msgs = 0            # extended messages since the last Sync
        self.next_sub = 1
        self.unit = 0
        self.out = None
        self.source = None           # what is running (for Record.source)
        self.over = False            # the server ended the session
        self.cancel = False          # this unit's pg_sleep is canceled
        self.exec_fresh = False
        self.copy_tail = False       # the last unit was a COPY whose data the server rejected
        self.unnamed_unknown = False  # a simple Query ran since the unnamed portal was bound

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

    def role(self):
        """The role the client acts as (SET ROLE, else the session user)."""
        r = self.guc['role']
        return self.guc['session_authorization'] if r == 'none' else r

    def superuser(self):
        return self.role() == SUPERUSER

    def annotate(self):
        return self.guc['txguard.annotate']

    # -- settings

    def _snapshot(self):
        return (dict(self.guc), dict(self.guc_sess))

    def _restore(self, snap):
        self.guc, self.guc_sess = dict(snap[0]), dict(snap[1])

    # -- errors

    def _xact(self):
        if self.x is None:
            self.x = Xact('implicit', self._snapshot())
        return self.x

    def fail(self, sqlstate, ordinal, text, fail_portal=None, qid=None, at_commit=False, role=None):
        """A new error while not aborted: it is the cause of a new record."""
        x = self.x
        out = self.out
        role = role or self.role()
        track = self.guc['txguard.track']           # read at the abort
        if x is not None and x.kind == 'block':
            assert not x.aborted
            rec = Record(sqlstate, ordinal, text, True, bool(x.subs), None, self.db, role,
                         track, self.unit, at_commit, qid)
            x.aborted = True
            x.episode = rec
            if fail_portal is not None:
                fail_portal.status = 'failed'
            # the abort undoes the settings of the aborted (sub)transaction
            self._restore(x.subs[-1].guc if x.subs else x.guc)
        else:
            rec = Record(sqlstate, ordinal, text, False, False, None, self.db, role,
                         track, self.unit, at_commit, qid)
            rec.ended_by = 'implicit'
            self._end_xact(commit=False)
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
        self.out.error(sqlstate, True, rec, self.annotate())
        if self.in_ext:
            self.ignoring = True

    def _end_episode(self, how):
        rec = self.x.episode
        rec.ended_by = how
        rec.end_unit = self.unit
        self.x.episode = None
        self.x.aborted = False

    def _end_xact(self, commit=False):
        """The transaction ends: committed (its settings kept, its WITH HOLD
        cursors held) or rolled back."""
        x = self.x
        if x is not None:
            if commit:
                self.guc = dict(self.guc_sess)
            else:
                self._restore(x.guc)
        self.x = None
        keep = {}
        for n, p in self.portals.items():
            if p.cursor and p.hold and p.status != 'failed' and (commit or not p.new):
                p.new = False
                p.sub_id = -1
                keep[n] = p
        self.portals = keep

    def _commit_error(self, how, gid=None):
        """The first error the commit (how = 'commit') or PREPARE TRANSACTION
        (how = 'prepare') of the current transaction raises, in PostgreSQL's
        order: deferred checks, WITH HOLD cursors, serialization, and for
        PREPARE the temporary objects and the prepared-transaction slot."""
        x = self.x
        if x.pending:
            return x.pending[0][0]
        held = [p for p in self.portals.values() if p.hold and p.new and p.status != 'failed']
        if held and how == 'prepare':
            return '0A000'          # cannot PREPARE a transaction that has created a cursor WITH HOLD
        for p in held:
            if p.kind.fail_at:
                if len(held) > 1:
                    # PostgreSQL materialises the cursors in its hash table's
                    # order, and those done before the failing one outlive the
                    # failed commit: which ones is not for the model to know
                    raise Unsupported('a WITH HOLD cursor failing at commit next to another one')
                return p.kind.err   # materialised at commit: the whole query runs
        if x.doomed:
            return '40001'
        if how == 'prepare':
            if x.temp_used:
                return '0A000'      # cannot PREPARE a transaction that has operated on temporary objects
            if self.cfg.mpt == 0:
                return '55000'      # prepared transactions are disabled
            if gid in self.gids:
                return '42710'      # transaction identifier is already in use
        return None

    # -- units

    in_ext = False

    def run_unit(self, unit, index):
        """Predict one unit; returns an Out."""
        if self.over:
            raise Unsupported('a unit after the server ended the session')
        self.unit = index
        self.out = out = Out(index)
        self.after_copy_tail, self.copy_tail = self.copy_tail, False
        self.cancel = bool(unit.get('cancel'))
        t = unit['type']
        if t == 'simple':
            self.in_ext = False
            self._simple(full_sql(unit), list(unit.get('copy', ())))
        elif t == 'fastpath':
            self.in_ext = False
            self._fastpath(unit['fn'], unit.get('args', []))
        elif t == 'check':
            self.in_ext = False
            self._simple(CHECK_SQL, [])
        elif t == 'ext':
            self._extended(unit['msgs'])
        elif t == 'helper':
            self._helper(unit)
        elif t == 'terminate':
            self._terminated('57P01', 'terminated')
        elif t == 'sleep':
            self._sleep(unit['ms'])
        else:
            raise Unsupported('unit type %r' % t)
        if self.cancel:
            raise Unsupported('a cancel without a pg_sleep to cancel')
        return out

    def end_session(self):
        """The client disconnects: an open episode ends with 'disconnect',
        the transaction is rolled back."""
        if self.over:
            return
        if self.aborted():
            self._end_episode('disconnect')
        self.x = None

    # -- units from outside the session

    def _helper(self, unit):
        """A second session commits a serializable transaction that read what
        this one wrote and wrote what this one read: this one can no longer
        commit (40001 at its COMMIT)."""
        x = self.x
        if unit.get('what') != 'ser' or unit.get('sql') != HELPER_SER_SQL:
            raise Unsupported('helper unit %r' % unit.get('what'))
        if not (x is not None and x.kind == 'block' and x.serializable and x.ser_read
                and x.ser_write and not x.aborted and not x.doomed):
            raise Unsupported('serialization conflict outside its pattern')
        x.doomed = True

    def _terminated(self, sqlstate, how):
        """The server ends the session with a FATAL (after which it closes
        the connection)."""
        rec = None
        if self.aborted():
            rec = self.x.episode
            self._end_episode(how)
        if how == 'timeout':
            self.out.error(sqlstate, True, rec, self.annotate(), fatal='timeout')
        else:
            self.out.error(sqlstate, False, None, fatal=how)
        self.out.add('X')
        self.x = None
        self.over = True

    def _sleep(self, ms):
        """The client stays idle for ms milliseconds (waiting for nothing)."""
        if self.after_copy_tail:
            # DEFINITION.md 5: not specified (core's timeout does not count it either)
            raise Unsupported('idle right after a COPY whose data was rejected')
        if self.aborted() and self.timeout_ms:
            if ms > self.timeout_ms:
                self._terminated('25P03', 'timeout')
            elif ms * 2 > self.timeout_ms:
                raise Unsupported('an idle time too close to the timeout')

    # ------------------------------------------------------------ simple protocol

    def _simple(self, sql, copies):
        out = self.out
        # A simple Query drops the unnamed statement; the unnamed portal is
        # replaced by each statement's own (which stays, failed, after an
        # error in a block): its state is not followed (unnamed_unknown).
        self.stmts.pop('', None)
        self.portals.pop('', None)
        self.unnamed_unknown = True
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
        nothing_run = None      # the first of the statements just before that ran nothing
        for i, (p, k) in enumerate(zip(pieces, kinds)):
            last = i == len(pieces) - 1
            nothing_run = (nothing_run if nothing_run is not None else i) if k.nothing else None
            self._nothing_run_first = pieces[nothing_run].text if (
                nothing_run is not None and nothing_run < i) else None
            if self.aborted() and not k.exit:
                self.ignored('25P02')
                break
            x = self._xact()
            if multi and x.kind == 'implicit':
                x.implicit_block = True
            qid = qid_spec(k, sql[p.seg_start:p.end])
            ok = self._statement(k, p.text, 'simple', multi=multi, last=last, whole=whole, qid=qid)
            if not ok:
                break
        out.add('Z:' + self.status())

    def _complete(self, tag, ctx):
        """Success of a statement: its CommandComplete, after the implicit
        commit when it is the last statement of a simple Query."""
        if (ctx['proto'] == 'simple' and ctx['last'] and self.x is not None
                and self.x.kind == 'implicit'):
            err = self._commit_error('commit')
            if err:
                # The commit error replaces the statement's completion; it belongs to
                # the last statement of the string (the last that is a statement),
                # with the whole string as text.
                ordinal, qid, role = ctx['ordinal'], ctx.get('qid_override', ctx['qid']), ctx['role']
                text = ctx['whole']
                at_commit = True
                if ctx['kind'].nothing:
                    # DEFINITION.md 7.2: a last statement that runs nothing is
                    # charged with the error: it takes the next number, with
                    # its own text; after several such statements, the first
                    # of them, not at commit
                    self.x.count += 1
                    ordinal, text = self.x.count, ctx['text']
                    if getattr(self, '_nothing_run_first', None) is not None:
                        text, at_commit = self._nothing_run_first, False
                self.source = 'implicit commit after %s' % ctx['kind'].name
                self.fail(err, ordinal, text, qid=qid, at_commit=at_commit, role=role)
                return False
            self._end_xact(commit=True)
        self.out.add('C:' + tag)
        return True

    # ------------------------------------------------------------ one statement

    def _statement(self, k, text, proto, multi=False, last=True, whole=None, portal=None,
                   max_rows=0, qid=None):
        """Run one statement (simple protocol, or an Execute).  The caller has
        rejected it if the block is aborted and it is no exit statement.
        Returns False if it raised an error (or its implicit commit did)."""
        x = self.x
        out = self.out
        self.source = '%s %s' % (proto, k.name)
        role = self.role()
        # Count it.
        if k.tx == 'begin':
            ordinal = None                      # a BEGIN that succeeds is not counted
        elif proto == 'ext' and portal.ordinal is not None:
            ordinal = portal.ordinal            # a further chunk of a portal
            role = portal.role
        elif k.nothing:
            ordinal = None                      # it runs nothing: not a statement
        elif k.tx in SAVEPOINT_CMDS and self.cfg.savepoint_rule != '1.1':
            ordinal = None                      # counted only if it fails on its own
        else:
            x.count += 1
            ordinal = x.count
            if portal is not None:
                portal.ordinal = ordinal
                portal.role = role
        ctx = {'proto': proto, 'last': last, 'whole': whole, 'text': text, 'kind': k,
               'ordinal': ordinal, 'portal': portal, 'qid': qid, 'role': role}
        if ordinal is not None:
            x.last_counted = (ordinal, qid, role)
        if proto == 'ext' and ordinal is not None and not (k.store and portal.pos > 0):
            # DEFINITION.md 1: the statement an implicit commit at Sync is
            # charged to is the last one that ran, also when the last Execute
            # was a further chunk of it -- unless that chunk was read from the
            # portal's store (exception 4)
            x.last_exec = (ordinal, portal.activity if portal is not None else text, qid, role)
            x.last_portal = portal
            self.exec_fresh = True

        def error(code, fail_portal=None, no_qid=False):
            if self.aborted():
                self.ignored(code)
            else:
                q = None if no_qid else ctx.get('qid_override', qid)
                n = ctx['ordinal']
                if n is None and k.tx in SAVEPOINT_CMDS:
                    # DEFINITION.md 1: a savepoint command that fails on its own
                    # takes the next number
                    x.count += 1
                    n = ctx['ordinal'] = x.count
                self.fail(code, n, text, fail_portal, qid=q, role=role)
            return False

        # Statements that always fail.
        if k.err and k.phase in ('analyze', 'plan') and proto == 'simple':
            return error(k.err, no_qid=k.phase == 'analyze')
        if k.params and proto == 'simple':
            return error('42P02', no_qid=True)      # there is no parameter $1
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
            if portal is not None and (k.selects() or k.store):
                return self._chunk(portal, max_rows, error)
            if k.deferred:
                if x.immediate:
                    return error(k.deferred)
                x.pending.append([k.deferred, x.subs[-1].id if x.subs else 0])
            return self._complete(k.tag, ctx)
        return getattr(self, '_tx_' + tx)(k, ctx, error)

    def _chunk(self, portal, max_rows, error):
        """Execute of a portal that returns rows, with a row limit (0 = all)."""
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
            self.out.add('C:' + k.chunk_tag(n))
            return True
        portal.pos += max_rows
        self.out.add('s')
        return True

    # -- transaction control

    def _tx_begin(self, k, ctx, error):
        x = self.x
        if x.kind == 'implicit':
            x.kind = 'block'        # statements already run in the string/pipeline join the block
            if k.extra == 'serializable':
                if x.count:
                    raise Unsupported('BEGIN ISOLATION LEVEL after statements of its transaction')
                x.serializable = True
        elif k.extra == 'serializable':
            raise Unsupported('BEGIN ISOLATION LEVEL inside a block')
        # BEGIN inside a block: WARNING, nothing changes
        return self._complete(k.tag, ctx)

    def _commit_like(self, k, ctx, error, how):
        """COMMIT / END / PREPARE TRANSACTION (how = 'commit' / 'prepare')."""
        x = self.x
        chain = k.extra == 'chain'
        if x.kind == 'block' and x.aborted:
            self._end_episode(how)
            self._end_xact(commit=False)
            if chain:
                self.x = Xact('block', self._snapshot())
            return self._complete('ROLLBACK', ctx)
        if x.kind == 'implicit' and chain:
            return error('25P01')
        if how == 'prepare' and x.kind == 'implicit' and not x.implicit_block:
            # PREPARE TRANSACTION outside a block: WARNING, tag ROLLBACK, and the
            # implicit transaction is committed (PostgreSQL 15).
            if x.pending or x.count > 1:
                raise Unsupported('PREPARE TRANSACTION outside a block after other statements')
            self._end_xact(commit=True)
            return self._complete('ROLLBACK', ctx)
        if how == 'prepare' and x.serializable and (x.ser_read or x.ser_write) and not x.doomed:
            # its predicate locks would outlive the script
            raise Unsupported('PREPARE TRANSACTION of a serializable transaction that read or wrote m_ser_*')
        err = self._commit_error(how, k.arg)
        if err:
            # The commit fails: the transaction is rolled back, nothing stays aborted.
            # DEFINITION reading (README "Readings" 5): not in a block any more,
            # and in_savepoint is false (the savepoints are already released).
            self.x.kind = 'implicit'
            self.fail(err, ctx['ordinal'], ctx['text'], qid=ctx['qid'], at_commit=True, role=ctx['role'])
            return False
        if how == 'prepare':
            self.gids[k.arg] = self.role()
        self._end_xact(commit=True)
        if chain:
            self.x = Xact('block', self._snapshot())
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
        self._end_xact(commit=False)
        if chain:
            self.x = Xact('block', self._snapshot())
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
        x.subs.append(Sub(k.arg, self.next_sub, x.immediate, self._snapshot()))
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
        x.temps = [parent if t in gone else t for t in x.temps]
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
            # healthy block: the error is the cause (and the command is counted);
            # aborted block: an ignored command (DEFINITION.md 1 and 3)
            return error('3B001')
        target = x.subs[i]
        gone = {s.id for s in x.subs[i:]}
        del x.subs[i + 1:]
        self._restore(target.guc)
        target.id = self.next_sub
        self.next_sub += 1
        x.pending = [ev for ev in x.pending if ev[1] not in gone]
        x.temps = [t for t in x.temps if t not in gone]
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
        if not self.superuser() and self.gids[k.arg] != self.role():
            return error('42501')      # permission denied to finish prepared transaction
        del self.gids[k.arg]
        return self._complete(k.tag, ctx)

    def _tx_set_immediate(self, k, ctx, error):
        x = self.x
        err = self._first_pending()
        if err:
            return error(err)
        x.immediate = True
        return self._complete(k.tag, ctx)

    def _first_pending(self):
        return self.x.pending[0][0] if self.x and self.x.pending else None

    # -- settings

    def _tx_set_guc(self, k, ctx, error):
        name, value, local = k.arg
        if name in ('txguard.track',) and not self.superuser():
            return error('42501')      # permission denied to set parameter
        if name == 'session_authorization' and value not in (None, self.login) \
                and self.login != SUPERUSER:
            return error('42501')
        if value is None:
            value = self.reset_values[name]
        elif name == 'statement_timeout':
            value = int(re.sub(r'\D', '', value))
        self.guc[name] = value
        if not local:
            self.guc_sess[name] = value
        if name == 'session_authorization' and self.guc['role'] != 'none':
            raise Unsupported('SET SESSION AUTHORIZATION after SET ROLE')
        if name == 'role' and self.guc['session_authorization'] != self.login:
            raise Unsupported('SET ROLE after SET SESSION AUTHORIZATION')
        return self._complete(k.tag, ctx)

    # -- cursors

    def _tx_declare(self, k, ctx, error):
        x = self.x
        hold = k.extra == 'hold'
        if x.kind != 'block' and not x.implicit_block and not hold:
            return error('25P01')       # DECLARE CURSOR can only be used in transaction blocks
        inner = k.inner
        if inner.err and inner.phase == 'plan':
            return error(inner.err)
        if inner.tx or not inner.rows or inner.params or inner.store:
            raise Unsupported('cursor over %s' % inner.name)
        if k.arg in self.portals:
            return error('42P03')
        self.portals[k.arg] = Portal(inner, ctx['text'], x.subs[-1].id if x.subs else 0, True, hold)
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
        if inner.tx or inner.params != k.extra or inner.extra:
            raise Unsupported('PREPARE of %s' % inner.name)
        name, inner_text = k.arg
        if name in self.stmts:
            return error('42P05')
        # EXECUTE's query id is the prepared statement's (DEFINITION.md 3)
        self.stmts[name] = (inner, None, k.extra, qid_spec(inner, inner_text, ['int'] if k.extra else None))
        return self._complete(k.tag, ctx)

    def _tx_execute_stmt(self, k, ctx, error):
        st = self.stmts.get(k.arg)
        if st is None:
            return error('26000')
        inner, _, nparams, inner_qid = st
        if nparams != k.extra:
            raise Unsupported('EXECUTE with a wrong number of parameters')
        ctx['qid_override'] = inner_qid
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
        if x.pending or x.temps or x.doomed:
            raise Unsupported('procedure transaction control with work pending at commit')
        # The procedure's COMMIT/ROLLBACK ends the transaction and starts a new
        # one, of which the CALL is statement 1.
        self.portals = {n: p for n, p in self.portals.items()
                        if p is ctx['portal'] or (p.hold and not p.new)}
        self.guc = dict(self.guc_sess)
        nx = Xact('implicit', self._snapshot())
        nx.count = 1
        if ctx['proto'] == 'ext':
            nx.last_exec = (1, ctx['portal'].activity if ctx['portal'] is not None else ctx['text'],
                            ctx['qid'], ctx['role'])
        self.x = nx
        ctx['ordinal'] = 1
        if proc == 'm_proc_commit_fail':
            self.fail('23505', 1, ctx['text'], qid=ctx['qid'], role=ctx['role'])
            return False
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
        rows = ''.join(c for c in arg if isinstance(c, str)).split('\n')
        if rows and rows[-1] == '':
            rows.pop()
        for r in rows:
            if not re.fullmatch(r'-?\d+', r):
                # the server rejects the data while the client still sends the
                # rest of it (read and discarded, never answered)
                self.copy_tail = True
                return error('22P02')
        return self._complete('COPY %d' % len(rows), ctx)

    def _tx_copy_out(self, k, ctx, error):
        self.out.add('H')
        if k.err:
            return error(k.err)
        return self._complete(k.tag, ctx)

    # -- temporary table, serialization, sleep

    def _tx_tmp_create(self, k, ctx, error):
        x = self.x
        if x.temps:
            return error('42P07')       # relation "m_tmp" already exists
        x.temps.append(x.subs[-1].id if x.subs else 0)
        x.temp_used = True
        return self._complete(k.tag, ctx)

    def _tx_tmp_insert(self, k, ctx, error):
        x = self.x
        if not x.temps:
            raise Unsupported('INSERT INTO m_tmp without the table')
        x.temp_used = True
        return self._complete(k.tag, ctx)

    def _tx_ser(self, k, ctx, error):
        x = self.x
        if x.doomed or (x.ser_read and x.ser_write):
            raise Unsupported('m_ser_* after the conflict pattern')
        if not (x.kind == 'block' and x.serializable):
            raise Unsupported('m_ser_* outside a serializable block')
        if k.name == 'ser_read':
            x.ser_read = True
            if ctx['proto'] == 'simple':
                self.out.add('T')
            if ctx['portal'] is not None:
                raise Unsupported('m_ser_a read through the extended protocol')
        else:
            x.ser_write = True
        return self._complete(k.tag, ctx)

    def _tx_sleep(self, k, ctx, error):
        if ctx['proto'] == 'simple':
            # the RowDescription comes when the query starts to run; a
            # statement_timeout may fire before (a slow server)
            self.out.add('T' if self.cancel else 'T?')
        if self.guc['statement_timeout'] or self.cancel:
            self.cancel = False
            return error('57014')
        raise Unsupported('pg_sleep(5) without a timeout or a cancel')

    # -- the driver's check

    def _tx_check(self, k, ctx, error):
        if ctx['proto'] == 'simple':
            self.out.add('T')
        rec = self.last_record()
        if rec is not None:
            assert rec.ended_by is not None
            d = rec.as_dict()
            # README, Visibility: another role's texts are hidden
            d['visible'] = self.superuser() or rec.user == self.role()
            self.out.check = d
        else:
            self.out.check = 'none'
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
        elif fn in ('m_fp', 'm_sd_fp') and args and args[0] == '0':
            err = '22012'
        # DEFINITION.md 1: a fast-path call is not counted; one that fails takes
        # the next number
        if err:
            x.count += 1
            self.fail(err, x.count, FASTPATH_TEXT)
        else:
            out.add('V')
            if x.kind == 'implicit':
                self._end_xact(commit=True)
        out.add('Z:' + self.status())

    # ------------------------------------------------------------ extended protocol

    def _extended(self, msgs):
        for msg in msgs:
            m = msg['m']
            if m == 'pause':
                if not self.seg_msgs and not self.ignoring and self.aborted() and self.timeout_ms:
                    # nothing pending: the session is idle, not receiving a pipeline
                    raise Unsupported('a pause with nothing pending in an aborted block')
                continue                # the client is still sending: nothing happens
            self.in_ext = m not in ('query', 'fastpath')
            if m in ('parse', 'bind', 'query', 'execute') and not self.ignoring:
                # DEFINITION.md 1 (implicit commit at Sync): after a Parse, Bind,
                # Query or an Execute that does not run it, the last statement's
                # text is no longer named (an Execute that runs it, or a further
                # chunk of it, names it again: _statement)
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
            err = self._commit_error('commit')
            if err:
                if x.last_exec is None:
                    raise Unsupported('commit error at Sync without a statement')
                self.source = 'commit at Sync'
                # DEFINITION.md 1: the statement's text only if no Parse, Bind or
                # Query came after its Execute, taken from the server's activity
                # text, which is cut at track_activity_query_size - 1 bytes
                # (activity_text())
                ordinal, text, qid, role = x.last_exec
                if not self.exec_fresh:
                    text = None
                rec = self.fail(err, ordinal, text, qid=qid, at_commit=True, role=role)
                rec.text_optional = self.exec_fresh == 'maybe'
                self.ignoring = False
            else:
                self._end_xact(commit=True)
        self.out.add('Z:' + self.status())

    def _pre_error(self, code, text, qid=None):
        """An error at Parse/Bind/Describe while not aborted: it belongs to the
        statement being prepared, the next one, which counts."""
        x = self._xact()
        x.count += 1
        self.fail(code, x.count, text, qid=qid)

    def _m_parse(self, msg):
        name, sql = msg.get('name', ''), full_sql(msg)
        self.source = 'ext Parse'
        self._xact()
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
        qid = None
        if k is not None:
            types = None
            if nparams:
                types = ['int' if t == 23 else 'unknown' for t in msg.get('types', ())]
            qid = qid_spec(k, sql[pieces[0].seg_start:pieces[0].end], types)
        self.stmts[name] = (k, text, nparams, qid)
        self.activity_of[name] = activity_text(sql, text, self.enc)
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
        k, text, nparams, qid = st
        if len(params) != nparams:
            raise Unsupported('Bind with a wrong number of parameters')
        if self.aborted() and (k is None or not k.exit or params):
            self.ignored('25P02')
            return
        if portal and portal in self.portals:
            if self.aborted():
                self.ignored('42P03')
            else:
                self._pre_error('42P03', text, qid)
            return
        for p in params:
            if p is not None and not re.fullmatch(r'\s*-?\d+\s*', p):
                self._pre_error('22P02', text, qid)      # invalid input syntax for type integer
                return
        if k is not None and k.err and k.phase == 'plan':
            self._pre_error(k.err, text, qid)            # the planner runs at Bind
            return
        if k is not None and k.extra == 'sd_imm' and params and params[0].strip() == '1':
            if name:
                raise Unsupported('a named statement may use a generic plan')
            self._pre_error('TX005', text, qid)          # folded with its parameter at Bind
            return
        if k is not None and k.tx == 'execute_stmt':
            raise Unsupported('EXECUTE through the extended protocol')
        x = self.x
        if portal == '':
            self.unnamed_unknown = False
        self.portals[portal] = Portal(k, text, x.subs[-1].id if x.subs else 0, False)
        self.portals[portal].activity = self.activity_of.get(name, text)
        self.portals[portal].qid = qid
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
            if name == '' and self.unnamed_unknown:
                raise Unsupported('Describe of the unnamed portal after a simple Query')
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
        self._xact()
        if name == '' and self.unnamed_unknown:
            raise Unsupported('Execute of the unnamed portal after a simple Query')
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
            if p.status == 'done' and k is not None and (k.selects() or k.store) \
                    and not self.aborted():
                # DEFINITION.md 1: an Execute of a portal that has returned all
                # its rows runs nothing and is not a statement; the statement a
                # commit at Sync is charged to stays the last one that ran (and
                # names its text again if this is its own query portal; a
                # portal read from its store is not seen: exceptions 4 and 5)
                self.out.add('C:' + k.chunk_tag(0))
                if self.x.last_portal is p and k.selects() and self.exec_fresh is False:
                    self.exec_fresh = 'maybe'   # not specified: named or not
                return
            raise Unsupported('Execute of a %s portal' % p.status)
        if k is None:
            self.out.add('I')                       # empty query
            return
        if p.ordinal is not None:
            self.source = 'ext chunk of %s' % k.name
        if max_rows and not (k.selects() or k.store or k.fail_at):
            max_rows = 0                            # the limit only matters for portals with rows
        chunked = k.fail_at or k.selects() or k.store
        ok = self._statement(k, p.text, 'ext', portal=p, max_rows=max_rows, qid=p.qid)
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

def annotation(ann_ordinal, cause_sqlstate, cause_msg, cause_detail, text, max_len, encoding='utf-8'):
    """The sentence txguard appends to the DETAIL (README / DEFINITION.md 4)."""
    s = 'The transaction was aborted by an earlier error in statement %d: ERROR %s: %s' % (
        ann_ordinal, cause_sqlstate, cause_msg)
    if cause_detail:
        s += ' (%s)' % cause_detail
    if text:
        cut, was_cut = sqltext.cut_bytes(text, max_len, encoding)
        s += ' Statement: ' + cut + ('...' if was_cut else '')
    return s


# txguard 1.0's HINT outside savepoints; 1.1 adds none there (DEFINITION.md 4)
HINT_BLOCK = 'End the transaction with ROLLBACK.'
HINT_SAVEPOINT = ('Roll back to a savepoint set before the error with ROLLBACK TO SAVEPOINT, '
                  'or end the transaction with ROLLBACK.')


# ---------------------------------------------------------------- the end-of-block line

def end_line_expected(rec, mode, min_duration_ms, duration_bounds):
    """Whether the end-of-block line of the aborted block ``rec`` must be in
    the server log (DEFINITION.md 5), given txguard.log_aborts (``mode``:
    'all', 'problems' or 'off') and log_aborts_min_duration, and the bounds
    (seconds) the driver measured for how long the block stayed aborted.
    Returns True, False, or None when the bounds straddle the limit."""
    if not rec.in_block or rec.ended_by in (None, 'implicit') or mode == 'off':
        return False
    if mode == 'all':
        return True
    if rec.ended_by not in CLIENT_ENDS:
        return True
    lo, hi = duration_bounds
    limit = (min_duration_ms or 0) / 1000.0
    if lo >= limit:
        return True
    if hi < limit:
        return False
    return None


# ---------------------------------------------------------------- statistics

def tracked(rec):
    """Whether txguard.track (as in force at the abort) keeps the record in the
    shared history (README, txguard.track)."""
    return rec.track == 'all' or (rec.track == 'blocks' and rec.in_block)


def counted(rec, rule='track'):
    """Whether the statistics count the record: 'track' (1.1: what the
    history keeps) or 'all' (issue 22: every failing top-level statement,
    except with txguard.track = none)."""
    if rule == 'all':
        return rec.track != 'none'
    return tracked(rec)


# txguard_stats columns predicted from the records: column -> value one record adds.
# ignored_commands is added when the block ends (an open block is not counted yet).
# To check a new column, add it here (and it is selected and compared by run.py).
STATS_COLUMNS = {
    'aborts': lambda r: 1,
    'aborted_blocks': lambda r: 1 if r.in_block else 0,
    'ignored_commands': lambda r: r.ignored if r.ended_by is not None else 0,
    'sessions_terminated': lambda r: 1 if r.ended_by == 'timeout' else 0,
}


def stats_delta(records, rule='track'):
    """{(datname, usename, sqlstate): {column: value}} of the counted records."""
    out = {}
    for r in records:
        if not counted(r, rule):
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
