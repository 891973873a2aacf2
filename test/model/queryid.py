"""Core's query id of a statement, for txguard's reference-model tester.

The model says *which* statement's query id a record must carry
(``model.Record.qid``); this module finds its value the way a user can,
without txguard:

  * an optimizable statement (SELECT, INSERT ...): what EXPLAIN VERBOSE
    prints as "Query Identifier" (``Oracle.explain``), run on a connection
    of its own in the statement's database (the id depends on the OIDs of
    the objects it names).  A statement with $n parameters is prepared
    (with the parameter types its Parse message gave) and explained with
    EXPLAIN VERBOSE EXECUTE.  A statement that fails while planned (its
    constant folded) is explained through a twin that differs only in the
    value of a constant, which core's id ignores (the model names the twin);
  * a utility statement: core hashes its text (queryjumble.c,
    compute_utility_query_id: the statement's part of the query string,
    blanks at both ends removed, hashed with hash_bytes_extended, seed 0).
    ``utility_id`` computes the same hash; ``Oracle.self_check`` compares
    it with the ids pg_stat_statements (track_utility) records under the
    statement's text, so a wrong implementation stops the run at setup.

Query ids are bigint in SQL: the values here are signed 64-bit integers.
"""

import re

MASK32 = 0xFFFFFFFF
SCANNER_SPACE = ' \t\n\r\f'          # scanner_isspace(): no vertical tab


def _rot(x, k):
    return ((x << k) | (x >> (32 - k))) & MASK32


def _mix(a, b, c):
    a = (a - c) & MASK32; a ^= _rot(c, 4); c = (c + b) & MASK32       # noqa: E702
    b = (b - a) & MASK32; b ^= _rot(a, 6); a = (a + c) & MASK32       # noqa: E702
    c = (c - b) & MASK32; c ^= _rot(b, 8); b = (b + a) & MASK32       # noqa: E702
    a = (a - c) & MASK32; a ^= _rot(c, 16); c = (c + b) & MASK32      # noqa: E702
    b = (b - a) & MASK32; b ^= _rot(a, 19); a = (a + c) & MASK32      # noqa: E702
    c = (c - b) & MASK32; c ^= _rot(b, 4); b = (b + a) & MASK32       # noqa: E702
    return a, b, c


def _final(a, b, c):
    c ^= b; c = (c - _rot(b, 14)) & MASK32      # noqa: E702
    a ^= c; a = (a - _rot(c, 11)) & MASK32      # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & MASK32      # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & MASK32      # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & MASK32       # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & MASK32      # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & MASK32      # noqa: E702
    return a, b, c


def hash_bytes_extended(k, seed=0):
    """PostgreSQL's hash_bytes_extended (Bob Jenkins' lookup3, little-endian
    byte order as on x86), as an unsigned 64-bit integer."""
    n = len(k)
    a = b = c = (0x9e3779b9 + n + 3923095) & MASK32
    if seed:
        a = (a + (seed >> 32)) & MASK32
        b = (b + (seed & MASK32)) & MASK32
        a, b, c = _mix(a, b, c)
    i = 0
    while n - i >= 12:
        a = (a + int.from_bytes(k[i:i + 4], 'little')) & MASK32
        b = (b + int.from_bytes(k[i + 4:i + 8], 'little')) & MASK32
        c = (c + int.from_bytes(k[i + 8:i + 12], 'little')) & MASK32
        a, b, c = _mix(a, b, c)
        i += 12
    rest = k[i:]
    r = len(rest)
    # the tail: bytes 8..10 go to c above its low byte, 4..7 to b, 0..3 to a
    if r >= 9:
        c = (c + (int.from_bytes(rest[8:11], 'little') << 8)) & MASK32
    if r >= 5:
        b = (b + int.from_bytes(rest[4:8], 'little')) & MASK32
    if r >= 1:
        a = (a + int.from_bytes(rest[0:4], 'little')) & MASK32
    a, b, c = _final(a, b, c)
    return (b << 32) | c


def signed64(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def utility_id(text, encoding='utf-8'):
    """Core's query id of a utility statement whose part of the query string
    is ``text`` (in the database encoding ``encoding``)."""
    b = text.encode(encoding)
    i, j = 0, len(b)
    while i < j and chr(b[i]) in SCANNER_SPACE:
        i += 1
    while j > i and chr(b[j - 1]) in SCANNER_SPACE:
        j -= 1
    v = hash_bytes_extended(b[i:j], 0)
    return signed64(v if v != 0 else 2)


_QID_LINE = re.compile(r'^\s*Query Identifier: (-?\d+)\s*$')


class OracleError(Exception):
    """The oracle could not find a query id (its own query failed)."""


class Oracle:
    """Query ids of statements in one database, found with EXPLAIN VERBOSE
    on a connection of its own (``conn``: a pgproto.Conn, as a superuser)."""

    def __init__(self, conn, encoding='utf-8'):
        self.conn = conn
        self.encoding = encoding
        self.cache = {}
        self.ucache = {}
        self.n = 0

    def _rows(self, sql):
        import pgproto as P
        evs = self.conn.query(sql)
        err = P.first_error(evs)
        if err:
            raise OracleError('%s: %s %s' % (sql[:200], err.sqlstate, err.fields.get('M')))
        return P.simple_rows(evs)

    def utility(self, text):
        """utility_id, computed by the server for a long text (hashtextextended
        is hash_bytes_extended over a text's bytes: the same function, at C
        speed; the blanks at both ends are removed here)."""
        v = self.ucache.get(text)
        if v is None:
            if len(self.ucache) > 2000:
                self.ucache.clear()
            v = self.ucache[text] = self._utility(text)
        return v

    def _utility(self, text):
        if len(text) <= 20000:
            return utility_id(text, self.encoding)
        import pgproto as P
        t = text.strip(SCANNER_SPACE)
        self.conn.send(P.msg_parse('', 'SELECT hashtextextended($1 COLLATE "C", 0)', [25]) +
                       P.msg_bind('', '', [t]) +
                       P.msg_execute('') + P.msg_sync())
        evs = self.conn.read_until_ready()
        err = P.first_error(evs)
        if err:
            raise OracleError('hashtextextended: %s %s' % (err.sqlstate, err.fields.get('M')))
        v = int(P.simple_rows(evs)[0][0])
        return 2 if v == 0 else v

    def enabled(self):
        """Whether the server computes query ids (compute_query_id on, or auto
        with a module that asks for them)."""
        return self.explain('SELECT 1') is not None

    def explain(self, text, types=None):
        """The Query Identifier EXPLAIN VERBOSE prints for an optimizable
        statement (None when it prints none).  ``types``: None for a
        statement without parameters, else the parameter type names its
        Parse gave ([] = none given: inferred, as for the Parse)."""
        key = (text, None if types is None else tuple(types))
        if key in self.cache:
            return self.cache[key]
        if types is None:
            lines = self._rows('EXPLAIN (VERBOSE, COSTS OFF) ' + text)
        else:
            self.n += 1
            name = '__txm_qid_%d' % self.n
            nparams = len(re.findall(r'\$\d+', text))
            argdecl = '(%s)' % ', '.join(types) if types else ''
            self._rows('PREPARE %s%s AS %s' % (name, argdecl, text))
            try:
                lines = self._rows('EXPLAIN (VERBOSE, COSTS OFF) EXECUTE %s%s' % (
                    name, '(%s)' % ', '.join(['2'] * nparams) if nparams else ''))
            finally:
                self._rows('DEALLOCATE %s' % name)
        qid = None
        for (line,) in lines:
            m = _QID_LINE.match(line or '')
            if m:
                qid = int(m.group(1))
                break
        self.cache[key] = qid
        return qid

    def self_check(self, pgss):
        """Compare utility_id with pg_stat_statements' ids of a few utility
        statements (``pgss``: pg_stat_statements is loaded and created in
        this database).  Returns a list of differences (empty: agreed)."""
        texts = ['SHOW work_mem', 'SET work_mem = \'4MB\'', 'DO $$BEGIN PERFORM 1; END$$',
                 'CHECKPOINT', 'SET work_mem TO \'8MB\' /* a comment: ; */',
                 'RESET work_mem']
        if not pgss:
            return []
        self._rows('SELECT pg_stat_statements_reset()')
        for t in texts:
            self._rows(t)
        rows = dict((q, int(i)) for q, i in self._rows(
            'SELECT query, queryid FROM pg_stat_statements WHERE dbid = '
            '(SELECT oid FROM pg_database WHERE datname = current_database())'))
        bad = []
        for t in texts:
            want = utility_id(t, self.encoding)
            got = rows.get(t)
            if got != want:
                bad.append((t, want, got))
        return bad
