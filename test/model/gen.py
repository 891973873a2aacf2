"""Seeded generator of random single-session scripts for the txguard model.

``generate(seed, max_units, cfg)`` returns a script (a JSON-able dict); the
same seed and server configuration (``model.Config``: max_prepared_transactions
changes what PREPARE TRANSACTION does) always give the same script.  A script is

    {"seed": N, "user": "postgres", "database": "postgres",
     "track": "blocks", "annotate": "detail", "timeout_ms": 0,
     "units": [unit, ...]}

and a unit is one client exchange, up to its ReadyForQuery:

    {"type": "simple", "sql": "...", "pad": N, "cancel": true,
     "copy": [["data", ["1\\n", {"pause": 100}, "x\\n"]] | ["fail", "why"], ...]}
    {"type": "fastpath", "fn": "m_fp" | "m_sd_fp" | "lo_open" | "lo_creat", "args": ["0"]}
    {"type": "ext", "msgs": [{"m": "parse", "name": "", "sql": "...", "types": [23], "pad": N},
                             {"m": "bind", "portal": "", "stmt": "", "params": ["1"]},
                             {"m": "describe", "what": "S" | "P", "name": ""},
                             {"m": "execute", "portal": "", "max_rows": 0},
                             {"m": "close", "what": "S" | "P", "name": ""},
                             {"m": "flush"}, {"m": "sync"}, {"m": "pause", "ms": 100},
                             {"m": "query", "sql": "..."},
                             {"m": "fastpath", "fn": ..., "args": [...]}, ...], "cancel": true}
    {"type": "helper", "what": "ser", "sql": model.HELPER_SER_SQL}
    {"type": "terminate"}                     (pg_terminate_backend from a second session)
    {"type": "sleep", "ms": N}                (the client stays idle)
    {"type": "check"}        (added by run.py: SELECT ... FROM txguard_last_abort())

"pad": N puts a comment of N bytes before the SQL (model.full_sql); "cancel"
makes the driver send a CancelRequest while the unit's pg_sleep runs;
"pause" steps make the client wait while it is still sending.

The generator keeps a model.Model in step with what it writes, so that it
can choose what makes sense next (a block is open, it is aborted, which
savepoints, cursors, portals and prepared transactions exist), and so that
it only writes scripts the model supports.  The grammar covers: simple and
extended protocol, pipelines with several Syncs, multi-statement strings
(comments, quotes, dollar quotes inside), explicit blocks and autocommit,
savepoints (nested, RELEASE, ROLLBACK TO inner/outer/nonexistent) and the
savepoint patterns of psql's ON_ERROR_ROLLBACK and pgjdbc's autosave,
PL/pgSQL handlers, planner-run functions, SECURITY DEFINER functions
(failing while planned, at Bind, while executed, through the fast path),
SET ROLE and SET SESSION AUTHORIZATION, rules, triggers, deferred
constraints (at COMMIT, implicit commit, end of a string, Sync, SET
CONSTRAINTS), cursors and WITH HOLD cursors (materialised at commit),
portals read in chunks (more than 8 at once) and finished portals executed
again, COPY in and out, EXPLAIN ANALYZE, PREPARE/EXECUTE, procedures with
COMMIT/ROLLBACK, AND CHAIN, two-phase commit, extended-protocol COMMIT and
PREPARE TRANSACTION failing after PostgreSQL dropped their portal (a gid
still prepared, a temporary table, prepared transactions disabled, a
serialization failure at COMMIT with a second session) with texts from a
few bytes to 40 MB, statement_timeout, cancel, pg_terminate_backend,
txguard's idle timeout (idle, and still sending a pipeline or COPY data),
changes of txguard.annotate and txguard.track, fast-path calls, a LATIN1
database, and errors at parse, analysis, bind, plan, execution and commit
time.
"""

import random

import model as M

# ---------------------------------------------------------------- statement pools

CONST_SELECTS = [
    "SELECT 1", "SELECT 'a;b'", "SELECT $q$;$q$", "SELECT E'\\';'", 'SELECT 1 AS "x;y"',
    "SELECT $$it's$$", "SELECT 'x''y;'", "SELECT 42 AS answer",
]
OK_STMTS = [  # (weight, sql)
    (6, lambda r: r.choice(CONST_SELECTS)),
    (2, lambda r: r.choice(["SELECT m_imm()", "SELECT m_imm() + m_imm()"])),
    (2, lambda r: "SELECT m_catch()"),
    (2, lambda r: "SELECT g FROM generate_series(1,%d) g" % r.randint(1, 4)),
    (1, lambda r: "SELECT count(*) FROM m_ok"),
    (1, lambda r: "SELECT m_sd_imm(2)"),
    (4, lambda r: "INSERT INTO m_ok (v) VALUES (%d)" % r.randint(1, 99)),
    (1, lambda r: "INSERT INTO m_ok (v) VALUES (5) RETURNING id"),
    (2, lambda r: "INSERT INTO m_trg VALUES (1)"),
    (2, lambda r: "INSERT INTO m_also VALUES (1)"),
    (3, lambda r: "INSERT INTO m_nothing VALUES (1)"),
    (1, lambda r: r.choice(["SET LOCAL work_mem = '8MB'", "SET work_mem = '4MB'"])),
    (1, lambda r: "SHOW work_mem"),
    (1, lambda r: "DO $$BEGIN INSERT INTO m_u VALUES (1); EXCEPTION WHEN unique_violation THEN NULL; END$$"),
    (1, lambda r: "DO $d$ BEGIN PERFORM 1; END $d$"),
    (1, lambda r: "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT m_imm()"),
]
FAIL_STMTS = [
    (5, lambda r: "INSERT INTO m_u VALUES (1)"),
    (3, lambda r: "SELECT 1/0"),
    (3, lambda r: "SELECT * FROM m_u WHERE id = m_stable_raiser(1)"),
    (2, lambda r: "SELECT m_sd_imm(1)"),
    (2, lambda r: "SELECT m_sd_raise()"),
    (2, lambda r: "SELECT m_nomatch()"),
    (2, lambda r: "SELECT m_reraise()"),
    (2, lambda r: "SELECT m_raise('%s')" % r.choice(['TX0A1', 'P0001', '22023', 'XX123'])),
    (2, lambda r: "SELECT * FROM m_nosuch"),
    (1, lambda r: "SELECT nosuchcol FROM m_u"),
    (2, lambda r: "INSERT INTO m_trg VALUES (-1)"),
    (1, lambda r: "DO $d$ BEGIN RAISE EXCEPTION 'x;y' USING ERRCODE = 'TX004'; END $d$"),
    (1, lambda r: "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) INSERT INTO m_u VALUES (1)"),
    (1, lambda r: "EXPLAIN (COSTS OFF) SELECT 1/0"),
    (1, lambda r: "CALL m_proc_fail()"),
    (1, lambda r: "SELECT 10/(3-g) FROM generate_series(1,5) g"),
]
SYNTAX = ["SELEC 1", "SELECT (1", "SELECT 1 +", "INSERT INTO m_ok VALUES ("]
DEFERRED = ["INSERT INTO m_def VALUES (1)", "INSERT INTO m_child VALUES (7)", "INSERT INTO m_dtrg VALUES (1)"]
CHUNKED = ["SELECT g FROM generate_series(1,4) g", "SELECT 10/(3-g) FROM generate_series(1,5) g"]
HOLD_QUERIES = ["SELECT g FROM generate_series(1,4) g", "SELECT 10/(3-g) FROM generate_series(1,5) g",
                "SELECT 1"]
STORE_STMTS = ["SHOW work_mem", "INSERT INTO m_ok (v) VALUES (5) RETURNING id",
               "INSERT INTO m_ok (v) VALUES (5), (6) RETURNING id"]

# > 1024 bytes: the text is cut (a LATIN1 database gets a pad it can hold)
LONG_PAD = {'utf-8': '/* ' + 'pädding ☃ ' * 90 + '*/ ', 'latin-1': '/* ' + 'pädding é ' * 110 + '*/ '}
PSQL_SP = 'pg_psql_temporary_savepoint'
JDBC_SP = 'PGJDBC_AUTOSAVE'
IDLE_TIMEOUT_MS = 300           # txguard.idle_in_aborted_transaction_timeout of timeout scripts
PAUSE_MS = 60                   # a pause of a client still sending (< IDLE_TIMEOUT_MS)


def pick(r, pool):
    total = sum(w for w, _ in pool)
    x = r.uniform(0, total)
    for w, f in pool:
        x -= w
        if x <= 0:
            return f(r)
    return pool[-1][1](r)


def join_string(r, stmts, trailing=True):
    """A multi-statement query string: separators with comments, sometimes an
    empty statement, sometimes a trailing semicolon and comment."""
    out = stmts[0]
    for s in stmts[1:]:
        sep = r.choice(['; ', ';', ' ;\n', '; /* ; */ ', ';\n-- x;\n', ';; '])
        out += sep + s
    if trailing:
        out += r.choice(['', '', ';', '; ', '; -- end;', ';\n'])
    return out


def pad_size(r, cap=None):
    """The size of a padding comment: mostly small, sometimes kilobytes, rarely
    megabytes (up to 40 MB: beyond glibc's largest mmap threshold, freed
    memory goes back to the OS at once)."""
    x = r.random()
    if x < 0.4:
        n = r.randint(1, 120)
    elif x < 0.75:
        n = r.randint(120, 6000)
    elif x < 0.93:
        n = r.randint(6000, 200000)
    elif x < 0.996:
        n = r.randint(200000, 4000000)
    else:
        n = 40000000
    # with txguard's idle timeout the server must receive the text well
    # within it (core counts the time a message takes to arrive as idle)
    return min(n, cap) if cap else n


# ---------------------------------------------------------------- generator

class Gen:
    def __init__(self, seed, max_units=None, cfg=None):
        self.r = random.Random(seed)
        self.seed = seed
        self.cfg = cfg or M.Config()
        r = self.r
        self.user = r.choice(['postgres'] * 3 + ['txm_user'])
        self.database = r.choice(['postgres'] * 3 + ['txm_db2', M.LATIN1_DB])
        if self.user == 'postgres':
            self.track = r.choice(['blocks'] * 6 + ['all'] * 3 + ['none'])
        else:
            self.track = 'blocks'               # only a superuser may set txguard.track
        self.annotate = r.choice(['detail'] * 8 + ['message'] * 2)
        self.timeout_ms = 0
        if self.user == 'postgres' and r.random() < 0.015:
            self.timeout_ms = int(IDLE_TIMEOUT_MS * self.cfg.time_scale)
        self.role_mode = r.choice(['none'] * 8 + ['role', 'auth'])
        self.long_pad = LONG_PAD[M.db_encoding(self.database)]
        self.units = []
        self.max_units = max_units or r.randint(3, 22)
        self.n_gid = 0
        self.n_sp = 0
        self.n_hold = 0
        self.model = M.Model(self.script_head(), self.cfg)

    def script_head(self):
        s = {'seed': self.seed, 'user': self.user, 'database': self.database,
             'track': self.track, 'annotate': self.annotate}
        if self.timeout_ms:
            s['timeout_ms'] = self.timeout_ms
        return s

    # -- helpers

    def try_add(self, unit):
        """Keep the unit if the model supports it.  The model runs it in
        place; on Unsupported it is rebuilt from the accepted units (rare,
        and cheaper than copying the model before every unit)."""
        try:
            self.model.run_unit(unit, len(self.units))
        except M.Unsupported:
            self.model = M.Model(self.script_head(), self.cfg)
            for i, u in enumerate(self.units):
                self.model.run_unit(u, i)
            return False
        self.units.append(unit)
        return True

    def try_add_all(self, units):
        """Add units in order while the model supports them; True if all were."""
        for u in units:
            if u is None:
                continue
            if self.model.over or not self.try_add(u):
                return False
        return True

    def decorate(self, sql, allow_trailing=True):
        """Comments and whitespace that change nothing but the statement text."""
        r = self.r
        x = r.random()
        if x < 0.06:
            sql = '/* lead; */ ' + sql
        elif x < 0.09:
            sql = '-- lead;\n' + sql
        elif x < 0.11:
            sql = self.long_pad + sql
        if allow_trailing:
            y = r.random()
            if y < 0.05:
                sql = sql + ' -- tail;'
            elif y < 0.08:
                sql = sql + ' /* tail */'
        if r.random() < 0.05:
            sql = '  \n' + sql
        return sql

    def pad_size(self):
        return pad_size(self.r, 100000 if self.timeout_ms else None)

    def ok_stmt(self):
        return pick(self.r, OK_STMTS)

    def fail_stmt(self):
        return pick(self.r, FAIL_STMTS)

    def any_stmt(self, fail_p=0.25, deferred_p=0.1):
        x = self.r.random()
        if x < fail_p:
            return self.fail_stmt()
        if x < fail_p + deferred_p:
            return self.r.choice(DEFERRED)
        return self.ok_stmt()

    def sp_name(self, new=True):
        sps = self.model.savepoints()
        if new or not sps:
            if sps and self.r.random() < 0.15:
                return self.r.choice(sps)       # a second savepoint of the same name
            self.n_sp += 1
            return 's%d' % self.n_sp
        return self.r.choice(sps)

    def gid(self):
        self.n_gid += 1
        return 'txm_%d_%d' % (self.seed, self.n_gid)

    def simple(self, sql, copy=None, pad=None, cancel=False):
        u = {'type': 'simple', 'sql': sql}
        if copy:
            u['copy'] = copy
        if pad:
            u['pad'] = pad
        if cancel:
            u['cancel'] = True
        return u

    def ext(self, msgs, cancel=False):
        u = {'type': 'ext', 'msgs': msgs}
        if cancel:
            u['cancel'] = True
        return u

    def ext_stmt(self, sql, params=(), types=(), name='', portal='', max_rows=0, describe=None, pad=None):
        msgs = [{'m': 'parse', 'name': name, 'sql': sql, 'types': list(types)},
                {'m': 'bind', 'portal': portal, 'stmt': name, 'params': list(params)}]
        if pad:
            msgs[0]['pad'] = pad
        if describe == 'S':
            msgs.insert(1, {'m': 'describe', 'what': 'S', 'name': name})
        elif describe == 'P':
            msgs.append({'m': 'describe', 'what': 'P', 'name': portal})
        msgs.append({'m': 'execute', 'portal': portal, 'max_rows': max_rows})
        return msgs

    def ext_any(self, sql):
        """One statement through the extended protocol, with some variety."""
        r = self.r
        x = r.random()
        if x < 0.12:
            return self.ext_stmt("SELECT $1::int", params=[r.choice(['7', '7', 'x'])],
                                 types=r.choice([[], [23]]))
        if x < 0.17:
            return self.ext_stmt("SELECT m_sd_imm($1)", params=[r.choice(['1', '2'])],
                                 types=r.choice([[], [23]]))
        if x < 0.24:
            return self.ext_stmt("INSERT INTO m_u VALUES ($1)", params=[r.choice(['1', 'x'])])
        if x < 0.26:
            return [{'m': 'parse', 'name': '', 'sql': join_string(r, [self.ok_stmt(), self.any_stmt()]),
                     'types': []}] + self.ext_stmt(self.ok_stmt())[1:]
        return self.ext_stmt(self.decorate(sql), describe=r.choice([None] * 6 + ['S', 'P']))

    def settings_stmt(self):
        """A change of a setting the model follows: txguard.annotate,
        txguard.track, the role."""
        r = self.r
        local = r.choice(['', '', ' LOCAL'])
        x = r.random()
        if x < 0.35:
            return "SET%s txguard.annotate = '%s'" % (local, r.choice(['off', 'detail', 'message']))
        if x < 0.45:
            return 'RESET txguard.annotate'
        if x < 0.7:
            return "SET%s txguard.track = %s" % (local, r.choice(["'all'", "'blocks'", 'none', "'none'"]))
        if x < 0.75:
            return 'RESET txguard.track'
        if self.role_mode == 'role':
            return r.choice(['SET%s ROLE txm_user' % local, 'RESET ROLE', 'SET ROLE none'])
        if self.role_mode == 'auth':
            return r.choice(['SET%s SESSION AUTHORIZATION txm_user' % local, 'RESET SESSION AUTHORIZATION'])
        return "SET%s txguard.annotate = '%s'" % (local, r.choice(['off', 'detail', 'message']))

    # -- units by state

    def unit_idle(self):
        r = self.r
        m = self.model
        if m.gids and r.random() < 0.8:
            g = r.choice(sorted(m.gids))
            return self.simple(r.choice(['COMMIT', 'ROLLBACK']) + " PREPARED '%s'" % g)
        x = r.random()
        if x < 0.42:
            begin = r.choice(['BEGIN', 'BEGIN', 'START TRANSACTION', 'begin'])
            if r.random() < 0.3:
                n = r.randint(1, 3)
                return self.simple(join_string(r, [begin] + [self.any_stmt() for _ in range(n)]))
            if r.random() < 0.2:
                return self.ext(self.ext_stmt(begin) + [{'m': 'sync'}])
            return self.simple(begin)
        if x < 0.6:
            return self.autocommit_unit()
        if x < 0.69:
            return self.multi_unit()
        if x < 0.83:
            return self.pipeline_unit()
        if x < 0.88:
            return self.fastpath_unit()
        if x < 0.93:
            return self.simple(self.settings_stmt())
        return self.copy_unit()

    def autocommit_unit(self):
        r = self.r
        x = r.random()
        if x < 0.15:
            return self.simple(self.decorate(r.choice(DEFERRED)))
        if x < 0.25:
            return self.simple(r.choice(['CALL m_proc_commit()', 'CALL m_proc_commit_fail()',
                                         'CALL m_proc_rollback()']))
        if x < 0.33:
            return self.simple(r.choice(['SAVEPOINT a', 'RELEASE a', 'ROLLBACK TO a', 'COMMIT AND CHAIN',
                                         'ROLLBACK AND CHAIN', 'COMMIT', 'ROLLBACK',
                                         'SET CONSTRAINTS ALL IMMEDIATE', "COMMIT PREPARED 'txm_nosuch'",
                                         'DECLARE c9 CURSOR FOR SELECT 1']))
        if x < 0.40:
            return self.simple(self.decorate(r.choice(SYNTAX)))
        if x < 0.46:
            return self.simple(self.prepared_sql())
        if x < 0.48:
            return self.simple(r.choice(['', ' -- nothing', ';;']))
        return self.simple(self.decorate(self.any_stmt(0.45, 0)))

    def prepared_sql(self):
        r = self.r
        names = sorted(n for n in self.model.stmts if n.startswith('mp'))
        x = r.random()
        if names and x < 0.5:
            n = r.choice(names)
            k, _, np, _ = self.model.stmts[n]
            return 'EXECUTE %s%s' % (n, '(1)' if np else '')
        if names and x < 0.6:
            return 'DEALLOCATE %s' % r.choice(names)
        n = 'mp%d' % r.randint(1, 3)
        body = r.choice(['(int) AS INSERT INTO m_u VALUES ($1)', ' AS INSERT INTO m_ok (v) VALUES (1)',
                         ' AS SELECT 1', ' AS SELECT 10/(3-g) FROM generate_series(1,5) g',
                         ' AS INSERT INTO m_def VALUES (1)', ' AS SELECT * FROM m_nosuch'])
        return 'PREPARE %s%s' % (n, body)

    def multi_unit(self):
        r = self.r
        n = r.randint(2, 4)
        stmts = [self.decorate(self.any_stmt(0.2, 0.2), allow_trailing=False) for _ in range(n)]
        x = r.random()
        if x < 0.15:
            stmts[r.randrange(n)] = r.choice(SYNTAX)          # the whole string is rejected
        elif x < 0.25:
            stmts.insert(r.randrange(1, n + 1), 'COMMIT')
        elif x < 0.32:
            stmts.insert(r.randrange(0, n), 'BEGIN')
        elif x < 0.37:
            stmts.insert(r.randrange(1, n + 1), 'ROLLBACK')
        elif x < 0.42:
            stmts.append('SET CONSTRAINTS ALL IMMEDIATE')
        elif x < 0.45:
            stmts.insert(0, 'DECLARE c8 CURSOR FOR SELECT g FROM generate_series(1,4) g')
            stmts.append('FETCH 2 FROM c8')
        elif x < 0.48:
            stmts.append('CALL m_proc_commit()')
        elif x < 0.52:
            stmts.insert(r.randrange(0, n), self.settings_stmt())
        return self.simple(join_string(r, stmts))

    def pipeline_unit(self, in_block=False):
        """One or more Sync-terminated segments sent at once."""
        r = self.r
        msgs = []
        nseg = r.choice([1, 1, 2, 2, 3])
        for seg in range(nseg):
            nst = r.randint(1, 3)
            for i in range(nst):
                y = r.random()
                if y < 0.06:
                    msgs += [{'m': 'parse', 'name': '', 'sql': r.choice(SYNTAX), 'types': []}]
                    if r.random() < 0.5:
                        msgs.append(r.choice([{'m': 'query', 'sql': 'SELECT 77'},
                                              {'m': 'fastpath', 'fn': 'm_fp', 'args': ['2']}]))
                elif y < 0.12 and not in_block and seg == 0 and i == 0:
                    msgs += self.ext_stmt('BEGIN')
                elif y < 0.2:
                    msgs += self.ext_stmt(r.choice(DEFERRED))
                elif y < 0.25 and not in_block and i == 0:
                    msgs += self.ext_stmt(r.choice(['CALL m_proc_commit()', 'CALL m_proc_commit_fail()',
                                                    'CALL m_proc_rollback()']))
                elif y < 0.33:
                    # a chunked portal, interleaved with another statement, read
                    # to its end and sometimes executed again once finished
                    sql = r.choice(CHUNKED + STORE_STMTS)
                    lim = r.randint(1, 3)
                    msgs += self.ext_stmt(sql, portal='p9', max_rows=lim)
                    if r.random() < 0.6:
                        msgs += self.ext_stmt(self.ok_stmt())
                    msgs += [{'m': 'execute', 'portal': 'p9', 'max_rows': lim}]
                    if r.random() < 0.4:
                        msgs += [{'m': 'execute', 'portal': 'p9', 'max_rows': r.choice([0, lim])}
                                 for _ in range(r.randint(1, 3))]
                    msgs += [{'m': 'close', 'what': 'P', 'name': 'p9'}]
                elif y < 0.36:
                    # a finished portal executed again (its first Execute with or
                    # without a row limit)
                    sql = r.choice(["SELECT g FROM generate_series(1,2) g"] + STORE_STMTS)
                    msgs += self.ext_stmt(sql, portal='p8', max_rows=r.choice([0, 0, 2, 5]))
                    msgs += [{'m': 'execute', 'portal': 'p8', 'max_rows': r.choice([0, 1])}
                             for _ in range(r.randint(1, 3))]
                    msgs += [{'m': 'close', 'what': 'P', 'name': 'p8'}]
                else:
                    msgs += self.ext_any(self.any_stmt(0.3, 0.05))
                if r.random() < 0.05:
                    msgs.append({'m': 'flush'})
            if in_block and r.random() < 0.15:
                msgs += self.ext_stmt(r.choice(['COMMIT', 'ROLLBACK', 'SAVEPOINT %s' % self.sp_name()]))
            msgs.append({'m': 'sync'})
        return self.ext(msgs)

    def fastpath_unit(self):
        r = self.r
        fn, args = r.choice([('m_fp', ['2']), ('m_fp', ['0']), ('m_fp', ['0']), ('lo_open', ['0', '262144']),
                             ('lo_creat', ['-1']), ('m_sd_fp', ['0']), ('m_sd_fp', ['5'])])
        return {'type': 'fastpath', 'fn': fn, 'args': args}

    def copy_unit(self):
        r = self.r
        x = r.random()
        if x < 0.3:
            return self.simple(r.choice(['COPY (SELECT g FROM generate_series(1,3) g) TO STDOUT',
                                         'COPY (SELECT 1/(g-2) FROM generate_series(1,3) g) TO STDOUT']))
        payload = r.choice([['data', ['1\n', '2\n']], ['data', ['1\nx\n']], ['fail', 'client says no'],
                            ['data', []]])
        sql = 'COPY m_ok (v) FROM STDIN'
        if r.random() < 0.2:
            sql = join_string(r, [self.ok_stmt(), sql], trailing=False)
        return self.simple(sql, copy=[payload])

    def unit_block(self):
        r = self.r
        m = self.model
        x = r.random()
        ready = [n for n, p in m.portals.items() if not p.cursor and p.status == 'ready' and n]
        cursors = [n for n, p in m.portals.items() if p.cursor]
        if ready and x < 0.35:
            # the next chunk of an open portal, maybe with another statement first
            n = r.choice(ready)
            msgs = []
            if r.random() < 0.3:
                msgs += self.ext_any(self.any_stmt(0.2, 0.05))
            msgs += [{'m': 'execute', 'portal': n, 'max_rows': r.randint(1, 2)}, {'m': 'sync'}]
            return self.ext(msgs)
        if x < 0.30:
            return self.simple(self.decorate(self.any_stmt(0.3, 0.15)))
        if x < 0.40:
            return self.ext(self.ext_any(self.any_stmt(0.3, 0.15)) + [{'m': 'sync'}])
        if x < 0.56:
            y = r.random()
            sps = m.savepoints()
            if y < 0.45 or not sps:
                sql = 'SAVEPOINT %s' % self.sp_name()
            elif y < 0.65:
                sql = 'RELEASE SAVEPOINT %s' % r.choice(sps + ['nosuch'])
            else:
                sql = 'ROLLBACK TO SAVEPOINT %s' % r.choice(sps + sps[:1] + ['nosuch'])
            if r.random() < 0.2:
                return self.ext(self.ext_stmt(sql) + [{'m': 'sync'}])
            return self.simple(sql)
        if x < 0.61:
            # cursors
            if cursors and r.random() < 0.7:
                c = r.choice(cursors)
                if r.random() < 0.8:
                    return self.simple('FETCH %d FROM %s' % (r.randint(1, 2), c))
                return self.simple('CLOSE %s' % c)
            q = r.choice(CHUNKED)
            if r.random() < 0.3:
                self.n_hold += 1
                return self.simple('DECLARE h%d CURSOR WITH HOLD FOR %s' % (self.n_hold, r.choice(HOLD_QUERIES)))
            return self.simple('DECLARE c%d CURSOR FOR %s' % (r.randint(1, 2), q))
        if x < 0.65:
            # a chunked portal that stays open across units
            sql = r.choice(CHUNKED + STORE_STMTS[:1])
            name = 'p%d' % r.randint(1, 2)
            return self.ext(self.ext_stmt(sql, portal=name, max_rows=r.randint(1, 2)) + [{'m': 'sync'}])
        if x < 0.69:
            return self.pipeline_unit(in_block=True)
        if x < 0.72:
            n = r.randint(2, 3)
            stmts = [self.decorate(self.any_stmt(0.25, 0.15), allow_trailing=False) for _ in range(n)]
            if r.random() < 0.2:
                stmts[r.randrange(n)] = r.choice(SYNTAX)
            if r.random() < 0.2:
                stmts.append(r.choice(['COMMIT', 'SAVEPOINT %s' % self.sp_name()]))
            return self.simple(join_string(r, stmts))
        if x < 0.74:
            return self.simple('SET CONSTRAINTS ALL IMMEDIATE')
        if x < 0.76:
            return self.simple(self.prepared_sql())
        if x < 0.78:
            return self.fastpath_unit()
        if x < 0.80:
            return self.copy_unit()
        if x < 0.82:
            return self.simple(r.choice(['CALL m_proc_commit()', 'BEGIN']))
        if x < 0.85:
            return self.simple(self.settings_stmt())
        if x < 0.87:
            return self.simple(r.choice(['CREATE TEMP TABLE m_tmp (v int) ON COMMIT DROP',
                                         'INSERT INTO m_tmp VALUES (1)']))
        # end the block
        return self.block_end()

    def block_end(self):
        r = self.r
        m = self.model
        gid = self.gid()
        if m.gids and r.random() < 0.4:
            gid = r.choice(sorted(m.gids))         # a gid still prepared: PREPARE fails at commit
        sql = r.choice(['COMMIT', 'COMMIT', 'ROLLBACK', 'ROLLBACK', 'END', 'ABORT', 'COMMIT AND CHAIN',
                        'ROLLBACK AND CHAIN', "PREPARE TRANSACTION '%s'" % gid,
                        "PREPARE TRANSACTION '%s'" % gid])
        y = r.random()
        if y < 0.25:
            return self.ext(self.ext_stmt(sql) + [{'m': 'sync'}])
        if y < 0.45 and not sql.startswith('ROLLBACK'):
            # through the extended protocol, its text padded with a comment
            # (a COMMIT or PREPARE that fails after PostgreSQL dropped its portal)
            return self.ext(self.ext_stmt(sql, pad=self.pad_size()) + [{'m': 'sync'}])
        return self.simple(sql)

    def unit_aborted(self):
        r = self.r
        m = self.model
        x = r.random()
        sps = m.savepoints()
        named = [n for n in m.stmts if n.startswith('s') and m.stmts[n][1] is not None]
        portals = [n for n, p in m.portals.items() if not p.cursor and n]
        if self.timeout_ms and r.random() < 0.3:
            return self.timeout_unit()
        if sps and r.random() < 0.25:
            sql = 'ROLLBACK TO SAVEPOINT %s' % r.choice(sps)
            if r.random() < 0.3:
                return self.ext(self.ext_stmt(sql) + [{'m': 'sync'}])
            return self.simple(sql)
        if x < 0.12:
            return self.simple(self.decorate(self.any_stmt(0.3, 0.1)))
        if x < 0.17:
            return self.simple(self.decorate(r.choice(SYNTAX)))
        if x < 0.22:
            return self.simple('ROLLBACK TO SAVEPOINT nosuch')
        if x < 0.27:
            return self.simple(r.choice(['SAVEPOINT x', 'RELEASE x', 'BEGIN', 'COPY m_ok (v) FROM STDIN',
                                         'FETCH 1 FROM c1', 'SELECT 1; ROLLBACK', self.settings_stmt()]))
        if x < 0.34:
            return self.ext(self.ext_any(self.any_stmt()) + [{'m': 'sync'}])
        if x < 0.40:
            # extended: several ignored commands, each its own Sync
            msgs = []
            for _ in range(r.randint(1, 3)):
                y = r.random()
                if named and y < 0.25:
                    msgs.append({'m': 'bind', 'portal': '', 'stmt': r.choice(named), 'params': []})
                elif named and y < 0.45:
                    msgs.append({'m': 'describe', 'what': 'S', 'name': r.choice(named)})
                elif portals and y < 0.6:
                    msgs.append({'m': 'execute', 'portal': r.choice(portals), 'max_rows': 1})
                elif y < 0.7:
                    msgs += [{'m': 'parse', 'name': '', 'sql': 'COMMIT', 'types': [23]},
                             {'m': 'bind', 'portal': '', 'stmt': '', 'params': ['1']}]
                elif y < 0.8:
                    msgs.append({'m': 'execute', 'portal': 'nosuch', 'max_rows': 0})
                else:
                    msgs += self.ext_stmt(self.ok_stmt())
                msgs.append({'m': 'sync'})
            return self.ext(msgs)
        if x < 0.44:
            return self.fastpath_unit()
        if x < 0.50:
            return self.simple('ROLLBACK TO SAVEPOINT %s' % r.choice(sps)) if sps else self.simple('ROLLBACK')
        if x < 0.55 and sps:
            return self.ext(self.ext_stmt('ROLLBACK TO %s' % r.choice(sps)) + [{'m': 'sync'}])
        if x < 0.62:
            return self.pipeline_unit(in_block=True)
        if x < 0.66:
            return self.simple(join_string(r, ['ROLLBACK', self.any_stmt(0.3, 0.2)]))
        if x < 0.67:
            return {'type': 'terminate'}
        if x < 0.68 and self.cfg.log_min_ms is not None:
            # stay aborted for longer than log_aborts_min_duration (no timeout here)
            return {'type': 'sleep', 'ms': int(self.cfg.log_min_ms * r.choice([1.5, 2]) + 20)}
        return self.block_end()

    def timeout_unit(self):
        """In a script with txguard's idle timeout, while aborted: idle beyond
        it (the session ends), or still sending a pipeline or COPY data for
        longer than it (the session must not end)."""
        r = self.r
        t = self.timeout_ms
        pause = int(PAUSE_MS * self.cfg.time_scale)
        n = t // pause + 2                     # pauses adding up to more than the timeout
        x = r.random()
        if x < 0.3:
            return {'type': 'sleep', 'ms': t + int(200 * self.cfg.time_scale)}
        if x < 0.75:
            msgs = []
            for _ in range(n):
                msgs += self.ext_stmt(self.ok_stmt())
                msgs.append({'m': 'pause', 'ms': pause})
            return self.ext(msgs + self.ext_stmt('SELECT 1') + [{'m': 'sync'}])
        return self.simple('ROLLBACK')

    # -- scenarios: several units with a purpose

    def scenario(self):
        """A group of units that makes one of the situations of DEFINITION.md
        happen; returns the list (the caller adds what the model supports)."""
        r = self.r
        m = self.model
        state = m.status()
        if state == 'E':
            return None
        choices = [
            (3, self.sc_hold), (3, self.sc_reexec), (3, self.sc_savepoint_client),
            (2, self.sc_many_portals), (2, self.sc_serialization), (3, self.sc_prepare_fails),
            (2, self.sc_statement_timeout), (1, self.sc_cancel), (2, self.sc_role),
            (1, self.sc_slow_pipeline), (1, self.sc_copy_slow),
        ]
        total = sum(w for w, _ in choices)
        x = r.uniform(0, total)
        for w, f in choices:
            x -= w
            if x <= 0:
                return f()
        return None

    def begin_if_idle(self, units):
        if self.model.status() == 'I':
            units.insert(0, self.simple(self.r.choice(['BEGIN', 'START TRANSACTION'])))
        return units

    def sc_hold(self):
        """WITH HOLD cursors: in autocommit, in a block, in one string, through
        the extended protocol; materialised at COMMIT (failing there), then
        read in later transactions."""
        r = self.r
        self.n_hold += 1
        name = 'h%d' % self.n_hold
        q = r.choice(HOLD_QUERIES)
        decl = 'DECLARE %s CURSOR WITH HOLD FOR %s' % (name, q)
        x = r.random()
        units = []
        idle = self.model.status() == 'I'
        if idle and x < 0.3:
            units.append(self.simple(decl))
        elif idle and x < 0.45:
            units.append(self.simple(join_string(r, ['BEGIN', decl] + [self.ok_stmt()] * r.randint(0, 1)
                                                 + ['COMMIT'])))
        elif idle and x < 0.55:
            units.append(self.simple(join_string(r, [self.ok_stmt(), decl], trailing=False)))
        elif idle and x < 0.7:
            units.append(self.ext(self.ext_stmt(decl) + [{'m': 'sync'}]))
        else:
            units = self.begin_if_idle([self.simple(decl)])
            if r.random() < 0.5:
                units.append(self.simple('FETCH %d FROM %s' % (r.randint(1, 2), name)))
            units.append(self.block_end())
        for _ in range(r.randint(0, 2)):
            units.append(self.simple(r.choice(['FETCH %d FROM %s' % (r.randint(1, 3), name),
                                               'BEGIN', 'COMMIT', 'CLOSE %s' % name])))
        return units

    def sc_reexec(self):
        """Finished portals executed again, with and without a row limit on
        their first Execute, then a statement that fails (its number shows
        whether the extra Executes were counted)."""
        r = self.r
        msgs = []
        for i in range(r.randint(1, 3)):
            sql = r.choice(["SELECT g FROM generate_series(1,%d) g" % r.randint(1, 3)] + STORE_STMTS)
            name = 'r%d' % i
            lim = r.choice([0, 0, 1, 2, 5])
            msgs += self.ext_stmt(sql, portal=name, max_rows=lim)
            for _ in range(r.randint(1, 4)):
                msgs.append({'m': 'execute', 'portal': name, 'max_rows': r.choice([0, 1, 2])})
        msgs += self.ext_stmt(r.choice([self.fail_stmt(), r.choice(DEFERRED)]))
        msgs.append({'m': 'sync'})
        units = [self.ext(msgs)]
        if r.random() < 0.5:
            units = self.begin_if_idle(units)
        return units

    def sc_many_portals(self):
        """More than 8 portals read in chunks at once, continued in any order."""
        r = self.r
        k = r.randint(6, 12)
        units = self.begin_if_idle([])
        msgs = []
        for i in range(k):
            msgs += self.ext_stmt(r.choice(CHUNKED[:1] * 3 + CHUNKED[1:]), portal='q%d' % i, max_rows=1)
        msgs.append({'m': 'sync'})
        units.append(self.ext(msgs))
        order = list(range(k)) * 2
        r.shuffle(order)
        msgs = []
        for i in order[:r.randint(k, 2 * k)]:
            msgs.append({'m': 'execute', 'portal': 'q%d' % i, 'max_rows': 1})
            if r.random() < 0.2:
                msgs.append({'m': 'sync'})
        if r.random() < 0.7:
            msgs += self.ext_stmt(self.fail_stmt())
        msgs.append({'m': 'sync'})
        units.append(self.ext(msgs))
        return units

    def sc_savepoint_client(self):
        """The savepoints clients make on their own: psql's ON_ERROR_ROLLBACK
        (SAVEPOINT before each statement, RELEASE after it, ROLLBACK TO after
        an error) and pgjdbc's autosave (a SAVEPOINT in the same pipeline as
        each statement, ROLLBACK TO after an error)."""
        r = self.r
        jdbc = r.random() < 0.5
        units = []
        if self.model.status() == 'I':
            units.append(self.simple('BEGIN') if not jdbc else self.ext(self.ext_stmt('BEGIN') + [{'m': 'sync'}]))
        plan = [r.random() < 0.35 for _ in range(r.randint(2, 6))]
        return ('savepoint_client', jdbc, units, plan)

    def run_savepoint_client(self, jdbc, units, plan):
        """Add the units of sc_savepoint_client, deciding each recovery from
        the model (the client sees whether its statement failed)."""
        r = self.r
        if not self.try_add_all(units):
            return
        for fails in plan:
            if self.model.status() != 'T':
                return
            stmt = self.fail_stmt() if fails else self.ok_stmt()
            if jdbc:
                u = self.ext(self.ext_stmt('SAVEPOINT ' + JDBC_SP) + self.ext_any(stmt) + [{'m': 'sync'}])
                if not self.try_add(u):
                    return
                if self.model.aborted():
                    self.try_add(self.ext(self.ext_stmt('ROLLBACK TO SAVEPOINT ' + JDBC_SP) + [{'m': 'sync'}]))
            else:
                if not self.try_add(self.simple('SAVEPOINT ' + PSQL_SP)):
                    return
                if not self.try_add(self.simple(stmt)):
                    return
                if self.model.aborted():
                    self.try_add(self.simple('ROLLBACK TO ' + PSQL_SP))
                else:
                    self.try_add(self.simple('RELEASE ' + PSQL_SP))
        if r.random() < 0.7:
            self.try_add(self.simple(r.choice(['COMMIT', 'ROLLBACK', 'SELECT 1/0'])))

    def sc_serialization(self):
        """A serialization failure at COMMIT (or PREPARE TRANSACTION): this
        session reads m_ser_a and writes m_ser_b, a second session the
        reverse, and commits first."""
        r = self.r
        if self.model.status() != 'I':
            return None
        units = [self.simple('BEGIN ISOLATION LEVEL SERIALIZABLE')]
        body = [self.simple('SELECT count(*) FROM m_ser_a'), self.simple('INSERT INTO m_ser_b VALUES (1)')]
        for _ in range(r.randint(0, 2)):
            body.insert(r.randrange(len(body) + 1), self.simple(self.ok_stmt()))
        if r.random() < 0.3:
            body.insert(r.randrange(len(body) + 1), self.simple('SAVEPOINT %s' % self.sp_name()))
        units += body
        units.append({'type': 'helper', 'what': 'ser', 'sql': M.HELPER_SER_SQL})
        if r.random() < 0.3:
            units.append(self.simple(r.choice(CONST_SELECTS)))
        end = r.choice(['COMMIT', 'COMMIT', 'END', 'COMMIT AND CHAIN', "PREPARE TRANSACTION '%s'" % self.gid()])
        units.append(self.failing_end(end, 0.7))
        return units

    def failing_end(self, sql, ext_p):
        """A command ending the block that fails after its portal is dropped:
        in the extended protocol with probability ``ext_p`` (its text padded
        four times in five), else in a simple Query."""
        r = self.r
        if r.random() < ext_p:
            return self.ext(self.ext_stmt(sql, pad=self.pad_size() if r.random() < 0.8 else None)
                            + [{'m': 'sync'}])
        return self.simple(sql)

    def sc_prepare_fails(self):
        """PREPARE TRANSACTION failing after its portal was dropped: a gid still
        prepared, a temporary table used, a WITH HOLD cursor, prepared
        transactions disabled (a server with max_prepared_transactions = 0)."""
        r = self.r
        units = []
        m = self.model
        gid = self.gid()
        x = r.random()
        if m.status() == 'I' and x < 0.35 and self.cfg.mpt > 0:
            # prepare one, then try the same gid again
            units += [self.simple('BEGIN'), self.simple(self.ok_stmt()),
                      self.simple("PREPARE TRANSACTION '%s'" % gid)]
        units = units + self.begin_if_idle([]) if units else self.begin_if_idle([])
        if units and units[-1]['type'] == 'simple' and units[-1]['sql'].startswith('PREPARE'):
            units.append(self.simple('BEGIN'))
        y = r.random()
        if y < 0.4:
            units.append(self.simple('CREATE TEMP TABLE m_tmp (v int) ON COMMIT DROP'))
            if r.random() < 0.5:
                units.append(self.simple('INSERT INTO m_tmp VALUES (1)'))
        elif y < 0.55:
            self.n_hold += 1
            units.append(self.simple('DECLARE h%d CURSOR WITH HOLD FOR SELECT 1' % self.n_hold))
        for _ in range(r.randint(0, 2)):
            units.append(self.simple(self.ok_stmt()))
        units.append(self.failing_end("PREPARE TRANSACTION '%s'" % gid, 0.75))
        return units

    def sc_statement_timeout(self):
        """statement_timeout ends a statement: set (LOCAL) in the same string or
        pipeline, so that nothing else runs under it."""
        r = self.r
        setting = "SET LOCAL statement_timeout = '%dms'" % int(100 * self.cfg.time_scale)
        x = r.random()
        if x < 0.6:
            stmts = [setting, 'SELECT pg_sleep(5)']
            if self.model.status() == 'I' and r.random() < 0.5:
                stmts.insert(0, 'BEGIN')
            return [self.simple(join_string(r, stmts))]
        msgs = self.ext_stmt(setting) + self.ext_stmt('SELECT pg_sleep(5)') + [{'m': 'sync'}]
        return self.begin_if_idle([self.ext(msgs)]) if r.random() < 0.5 else [self.ext(msgs)]

    def sc_cancel(self):
        """A CancelRequest from a second connection while pg_sleep runs."""
        r = self.r
        if r.random() < 0.6:
            u = self.simple('SELECT pg_sleep(5)', cancel=True)
        else:
            u = self.ext(self.ext_stmt('SELECT pg_sleep(5)') + [{'m': 'sync'}], cancel=True)
        units = [u]
        if r.random() < 0.5:
            units = self.begin_if_idle(units)
        return units

    def sc_role(self):
        """The role changes (SET ROLE / SET SESSION AUTHORIZATION), then
        SECURITY DEFINER functions and settings fail under it."""
        r = self.r
        units = [self.simple(self.settings_stmt())]
        for _ in range(r.randint(1, 3)):
            y = r.random()
            if y < 0.3:
                units.append(self.simple(r.choice(['SELECT m_sd_imm(1)', 'SELECT m_sd_raise()',
                                                   "SET txguard.track = 'all'"])))
            elif y < 0.5:
                units.append(self.ext(self.ext_stmt('SELECT m_sd_imm($1)', params=[r.choice(['1', '2'])])
                                      + [{'m': 'sync'}]))
            elif y < 0.6:
                units.append({'type': 'fastpath', 'fn': 'm_sd_fp', 'args': [r.choice(['0', '2'])]})
            else:
                units.append(self.simple(self.settings_stmt()))
        return self.begin_if_idle(units) if r.random() < 0.5 else units

    def sc_slow_pipeline(self):
        """A pipeline still arriving after its error: not idle (only in a
        script with the idle timeout)."""
        if not self.timeout_ms:
            return None
        pause = int(PAUSE_MS * self.cfg.time_scale)
        n = self.timeout_ms // pause + 2
        msgs = self.ext_stmt(self.fail_stmt())
        for _ in range(n):
            msgs.append({'m': 'pause', 'ms': pause})
            msgs += self.ext_stmt(self.ok_stmt())
        return self.begin_if_idle([self.ext(msgs + [{'m': 'sync'}])])

    def sc_copy_slow(self):
        """COPY data still arriving after the COPY failed: not idle (only in
        a script with the idle timeout)."""
        if not self.timeout_ms:
            return None
        pause = int(PAUSE_MS * self.cfg.time_scale)
        n = self.timeout_ms // pause + 2
        data = ['x\n']
        for _ in range(n):
            data += [{'pause': pause}, '1\n']
        return self.begin_if_idle([self.simple('COPY m_ok (v) FROM STDIN', copy=[['data', data]])])

    def prepare_named(self):
        """Sometimes prepare a named statement early, to Bind/Describe it later."""
        name = 's%d' % self.r.randint(1, 2)
        if name in self.model.stmts:
            return None
        sql = self.r.choice(['SELECT 1', 'INSERT INTO m_ok (v) VALUES (1)', 'SELECT g FROM generate_series(1,4) g'])
        return self.ext([{'m': 'parse', 'name': name, 'sql': sql, 'types': []}, {'m': 'sync'}])

    def run(self):
        r = self.r
        tries = 0
        while len(self.units) < self.max_units and tries < self.max_units * 20 and not self.model.over:
            tries += 1
            m = self.model
            if r.random() < 0.04 and not m.aborted():
                u = self.prepare_named()
                if u and self.try_add(u):
                    continue
            if r.random() < 0.12:
                sc = self.scenario()
                if isinstance(sc, tuple):
                    self.run_savepoint_client(*sc[1:])
                    continue
                if sc:
                    self.try_add_all(sc)
                    continue
            if m.aborted():
                u = self.unit_aborted()
            elif m.in_block():
                u = self.unit_block()
            else:
                u = self.unit_idle()
            self.try_add(u)
        # leave no prepared transaction behind
        if not self.model.over and self.model.status() == 'I':
            for g in sorted(self.model.gids):
                if not self.try_add(self.simple("ROLLBACK PREPARED '%s'" % g)):
                    break
        return dict(self.script_head(), units=self.units)


def generate(seed, max_units=None, cfg=None):
    """The script of ``seed`` (deterministic for a server configuration)."""
    return Gen(seed, max_units, cfg).run()


if __name__ == '__main__':
    import json
    import sys
    print(json.dumps(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=1, ensure_ascii=False))
