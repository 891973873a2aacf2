"""Seeded generator of random single-session scripts for the txguard model.

``generate(seed)`` returns a script (a JSON-able dict); the same seed always
gives the same script.  A script is

    {"seed": N, "user": "postgres", "database": "postgres",
     "track": "blocks", "annotate": "detail",
     "units": [unit, ...]}

and a unit is one client exchange, up to its ReadyForQuery:

    {"type": "simple", "sql": "...", "copy": [["data", ["1\\n"]] | ["fail", "why"], ...]}
    {"type": "fastpath", "fn": "m_fp" | "lo_open" | "lo_creat", "args": ["0"]}
    {"type": "ext", "msgs": [{"m": "parse", "name": "", "sql": "...", "types": [23]},
                             {"m": "bind", "portal": "", "stmt": "", "params": ["1"]},
                             {"m": "describe", "what": "S" | "P", "name": ""},
                             {"m": "execute", "portal": "", "max_rows": 0},
                             {"m": "close", "what": "S" | "P", "name": ""},
                             {"m": "flush"}, {"m": "sync"},
                             {"m": "query", "sql": "..."},
                             {"m": "fastpath", "fn": ..., "args": [...]}, ...]}
    {"type": "check"}        (added by run.py: SELECT ... FROM txguard_last_abort())

The generator keeps a model.Model in step with what it writes, so that it
can choose what makes sense next (a block is open, it is aborted, which
savepoints, cursors, portals and prepared transactions exist), and so that
it only writes scripts the model supports.  The grammar covers: simple and
extended protocol, pipelines with several Syncs, multi-statement strings
(comments, quotes, dollar quotes inside), explicit blocks and autocommit,
savepoints (nested, RELEASE, ROLLBACK TO inner/outer/nonexistent),
PL/pgSQL handlers, planner-run functions, rules, triggers, deferred
constraints (at COMMIT, implicit commit, end of a string, Sync, SET
CONSTRAINTS), cursors, chunked portals, COPY in and out, EXPLAIN ANALYZE,
PREPARE/EXECUTE, procedures with COMMIT/ROLLBACK, AND CHAIN, two-phase
commit, fast-path calls, and errors at parse, analysis, bind, plan,
execution and commit time.
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

LONG_PAD = '/* ' + 'pädding ☃ ' * 90 + '*/ '      # > 1024 bytes: the text is cut


def pick(r, pool):
    total = sum(w for w, _ in pool)
    x = r.uniform(0, total)
    for w, f in pool:
        x -= w
        if x <= 0:
            return f(r)
    return pool[-1][1](r)


def decorate(r, sql, allow_trailing=True):
    """Comments and whitespace that change nothing but the statement text."""
    x = r.random()
    if x < 0.06:
        sql = '/* lead; */ ' + sql
    elif x < 0.09:
        sql = '-- lead;\n' + sql
    elif x < 0.11:
        sql = LONG_PAD + sql
    if allow_trailing:
        y = r.random()
        if y < 0.05:
            sql = sql + ' -- tail;'
        elif y < 0.08:
            sql = sql + ' /* tail */'
    if r.random() < 0.05:
        sql = '  \n' + sql
    return sql


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


# ---------------------------------------------------------------- generator

class Gen:
    def __init__(self, seed, max_units=None):
        self.r = random.Random(seed)
        self.seed = seed
        r = self.r
        self.user = r.choice(['postgres'] * 3 + ['txm_user'])
        self.database = r.choice(['postgres'] * 3 + ['txm_db2'])
        if self.user == 'postgres':
            self.track = r.choice(['blocks'] * 6 + ['all'] * 3 + ['none'])
        else:
            self.track = 'blocks'               # only a superuser may set txguard.track
        self.annotate = r.choice(['detail'] * 8 + ['message'] * 2)
        self.model = M.Model(self.database, self.user, self.track, self.annotate)
        self.units = []
        self.max_units = max_units or r.randint(3, 22)
        self.n_gid = 0
        self.n_sp = 0

    # -- helpers

    def try_add(self, unit):
        """Keep the unit if the model supports it.  The model runs it in
        place; on Unsupported it is rebuilt from the accepted units (rare,
        and cheaper than copying the model before every unit)."""
        try:
            self.model.run_unit(unit, len(self.units))
        except M.Unsupported:
            self.model = M.Model(self.database, self.user, self.track, self.annotate)
            for i, u in enumerate(self.units):
                self.model.run_unit(u, i)
            return False
        self.units.append(unit)
        return True

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

    def simple(self, sql, copy=None):
        u = {'type': 'simple', 'sql': sql}
        if copy:
            u['copy'] = copy
        return u

    def ext_stmt(self, sql, params=(), types=(), name='', portal='', max_rows=0, describe=None):
        msgs = [{'m': 'parse', 'name': name, 'sql': sql, 'types': list(types)},
                {'m': 'bind', 'portal': portal, 'stmt': name, 'params': list(params)}]
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
        if x < 0.15:
            return self.ext_stmt("SELECT $1::int", params=[r.choice(['7', '7', 'x'])],
                                 types=r.choice([[], [23]]))
        if x < 0.22:
            return self.ext_stmt("INSERT INTO m_u VALUES ($1)", params=[r.choice(['1', 'x'])])
        if x < 0.24:
            return [{'m': 'parse', 'name': '', 'sql': join_string(r, [self.ok_stmt(), self.any_stmt()]),
                     'types': []}] + self.ext_stmt(self.ok_stmt())[1:]
        return self.ext_stmt(decorate(r, sql), describe=r.choice([None] * 6 + ['S', 'P']))

    # -- units by state

    def unit_idle(self):
        r = self.r
        m = self.model
        if m.gids and r.random() < 0.8:
            g = r.choice(sorted(m.gids))
            return self.simple(r.choice(['COMMIT', 'ROLLBACK']) + " PREPARED '%s'" % g)
        x = r.random()
        if x < 0.45:
            begin = r.choice(['BEGIN', 'BEGIN', 'START TRANSACTION', 'begin'])
            if r.random() < 0.3:
                n = r.randint(1, 3)
                return self.simple(join_string(r, [begin] + [self.any_stmt() for _ in range(n)]))
            if r.random() < 0.2:
                return {'type': 'ext', 'msgs': self.ext_stmt(begin) + [{'m': 'sync'}]}
            return self.simple(begin)
        if x < 0.64:
            return self.autocommit_unit()
        if x < 0.74:
            return self.multi_unit()
        if x < 0.89:
            return self.pipeline_unit()
        if x < 0.94:
            return self.fastpath_unit()
        return self.copy_unit()

    def autocommit_unit(self):
        r = self.r
        x = r.random()
        if x < 0.15:
            return self.simple(decorate(r, r.choice(DEFERRED)))
        if x < 0.25:
            return self.simple(r.choice(['CALL m_proc_commit()', 'CALL m_proc_commit_fail()',
                                         'CALL m_proc_rollback()']))
        if x < 0.33:
            return self.simple(r.choice(['SAVEPOINT a', 'RELEASE a', 'ROLLBACK TO a', 'COMMIT AND CHAIN',
                                         'ROLLBACK AND CHAIN', 'COMMIT', 'ROLLBACK',
                                         'SET CONSTRAINTS ALL IMMEDIATE', "COMMIT PREPARED 'txm_nosuch'",
                                         'DECLARE c9 CURSOR FOR SELECT 1']))
        if x < 0.40:
            return self.simple(decorate(r, r.choice(SYNTAX)))
        if x < 0.46:
            return self.simple(self.prepared_sql())
        if x < 0.48:
            return self.simple(r.choice(['', ' -- nothing', ';;']))
        return self.simple(decorate(r, self.any_stmt(0.45, 0)))

    def prepared_sql(self):
        r = self.r
        names = sorted(n for n in self.model.stmts if n.startswith('mp'))
        x = r.random()
        if names and x < 0.5:
            n = r.choice(names)
            k, _, np = self.model.stmts[n]
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
        stmts = [decorate(r, self.any_stmt(0.2, 0.2), allow_trailing=False) for _ in range(n)]
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
                    # a chunked SELECT in the unnamed portal, or interleaved with another statement
                    sql = r.choice(["SELECT g FROM generate_series(1,4) g",
                                    "SELECT 10/(3-g) FROM generate_series(1,5) g"])
                    lim = r.randint(1, 3)
                    msgs += self.ext_stmt(sql, portal='p9', max_rows=lim)
                    if r.random() < 0.6:
                        msgs += self.ext_stmt(self.ok_stmt())
                    msgs += [{'m': 'execute', 'portal': 'p9', 'max_rows': lim},
                             {'m': 'close', 'what': 'P', 'name': 'p9'}]
                else:
                    msgs += self.ext_any(self.any_stmt(0.3, 0.05))
                if r.random() < 0.05:
                    msgs.append({'m': 'flush'})
            if in_block and r.random() < 0.15:
                msgs += self.ext_stmt(r.choice(['COMMIT', 'ROLLBACK', 'SAVEPOINT %s' % self.sp_name()]))
            msgs.append({'m': 'sync'})
        return {'type': 'ext', 'msgs': msgs}

    def fastpath_unit(self):
        r = self.r
        fn, args = r.choice([('m_fp', ['2']), ('m_fp', ['0']), ('m_fp', ['0']), ('lo_open', ['0', '262144']),
                             ('lo_creat', ['-1'])])
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
            return {'type': 'ext', 'msgs': msgs}
        if x < 0.30:
            return self.simple(decorate(r, self.any_stmt(0.3, 0.15)))
        if x < 0.40:
            return {'type': 'ext', 'msgs': self.ext_any(self.any_stmt(0.3, 0.15)) + [{'m': 'sync'}]}
        if x < 0.58:
            y = r.random()
            sps = m.savepoints()
            if y < 0.45 or not sps:
                sql = 'SAVEPOINT %s' % self.sp_name()
            elif y < 0.65:
                sql = 'RELEASE SAVEPOINT %s' % r.choice(sps + ['nosuch'])
            else:
                sql = 'ROLLBACK TO SAVEPOINT %s' % r.choice(sps + sps[:1] + ['nosuch'])
            if r.random() < 0.2:
                return {'type': 'ext', 'msgs': self.ext_stmt(sql) + [{'m': 'sync'}]}
            return self.simple(sql)
        if x < 0.63:
            # cursors
            if cursors and r.random() < 0.7:
                c = r.choice(cursors)
                if r.random() < 0.8:
                    return self.simple('FETCH %d FROM %s' % (r.randint(1, 2), c))
                return self.simple('CLOSE %s' % c)
            q = r.choice(["SELECT g FROM generate_series(1,4) g", "SELECT 10/(3-g) FROM generate_series(1,5) g"])
            return self.simple('DECLARE c%d CURSOR FOR %s' % (r.randint(1, 2), q))
        if x < 0.67:
            # a chunked portal that stays open across units
            sql = r.choice(["SELECT g FROM generate_series(1,4) g",
                            "SELECT 10/(3-g) FROM generate_series(1,5) g"])
            name = 'p%d' % r.randint(1, 2)
            return {'type': 'ext', 'msgs': self.ext_stmt(sql, portal=name, max_rows=r.randint(1, 2))
                    + [{'m': 'sync'}]}
        if x < 0.71:
            return self.pipeline_unit(in_block=True)
        if x < 0.74:
            n = r.randint(2, 3)
            stmts = [decorate(r, self.any_stmt(0.25, 0.15), allow_trailing=False) for _ in range(n)]
            if r.random() < 0.2:
                stmts[r.randrange(n)] = r.choice(SYNTAX)
            if r.random() < 0.2:
                stmts.append(r.choice(['COMMIT', 'SAVEPOINT %s' % self.sp_name()]))
            return self.simple(join_string(r, stmts))
        if x < 0.76:
            return self.simple('SET CONSTRAINTS ALL IMMEDIATE')
        if x < 0.78:
            return self.simple(self.prepared_sql())
        if x < 0.80:
            return self.fastpath_unit()
        if x < 0.82:
            return self.copy_unit()
        if x < 0.84:
            return self.simple(r.choice(['CALL m_proc_commit()', 'BEGIN']))
        # end the block
        return self.block_end()

    def block_end(self):
        r = self.r
        sql = r.choice(['COMMIT', 'COMMIT', 'ROLLBACK', 'ROLLBACK', 'END', 'ABORT', 'COMMIT AND CHAIN',
                        'ROLLBACK AND CHAIN', "PREPARE TRANSACTION '%s'" % self.gid()])
        if r.random() < 0.25:
            return {'type': 'ext', 'msgs': self.ext_stmt(sql) + [{'m': 'sync'}]}
        return self.simple(sql)

    def unit_aborted(self):
        r = self.r
        m = self.model
        x = r.random()
        sps = m.savepoints()
        named = [n for n in m.stmts if n.startswith('s') and m.stmts[n][1] is not None]
        portals = [n for n, p in m.portals.items() if not p.cursor and n]
        if sps and r.random() < 0.25:
            sql = 'ROLLBACK TO SAVEPOINT %s' % r.choice(sps)
            if r.random() < 0.3:
                return {'type': 'ext', 'msgs': self.ext_stmt(sql) + [{'m': 'sync'}]}
            return self.simple(sql)
        if x < 0.12:
            return self.simple(decorate(r, self.any_stmt(0.3, 0.1)))
        if x < 0.17:
            return self.simple(decorate(r, r.choice(SYNTAX)))
        if x < 0.22:
            return self.simple('ROLLBACK TO SAVEPOINT nosuch')
        if x < 0.27:
            return self.simple(r.choice(['SAVEPOINT x', 'RELEASE x', 'BEGIN', 'COPY m_ok (v) FROM STDIN',
                                         'FETCH 1 FROM c1', 'SELECT 1; ROLLBACK']))
        if x < 0.34:
            return {'type': 'ext', 'msgs': self.ext_any(self.any_stmt()) + [{'m': 'sync'}]}
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
            return {'type': 'ext', 'msgs': msgs}
        if x < 0.44:
            return self.fastpath_unit()
        if x < 0.50:
            return self.simple('ROLLBACK TO SAVEPOINT %s' % r.choice(sps)) if sps else self.simple('ROLLBACK')
        if x < 0.55 and sps:
            return {'type': 'ext', 'msgs': self.ext_stmt('ROLLBACK TO %s' % r.choice(sps)) + [{'m': 'sync'}]}
        if x < 0.62:
            return self.pipeline_unit(in_block=True)
        if x < 0.66:
            return self.simple(join_string(r, ['ROLLBACK', self.any_stmt(0.3, 0.2)]))
        return self.block_end()

    def prepare_named(self):
        """Sometimes prepare a named statement early, to Bind/Describe it later."""
        name = 's%d' % self.r.randint(1, 2)
        if name in self.model.stmts:
            return None
        sql = self.r.choice(['SELECT 1', 'INSERT INTO m_ok (v) VALUES (1)', 'SELECT g FROM generate_series(1,4) g'])
        return {'type': 'ext', 'msgs': [{'m': 'parse', 'name': name, 'sql': sql, 'types': []}, {'m': 'sync'}]}

    def run(self):
        r = self.r
        tries = 0
        while len(self.units) < self.max_units and tries < self.max_units * 20:
            tries += 1
            m = self.model
            if r.random() < 0.04 and not m.aborted():
                u = self.prepare_named()
                if u and self.try_add(u):
                    continue
            if m.aborted():
                u = self.unit_aborted()
            elif m.in_block():
                u = self.unit_block()
            else:
                u = self.unit_idle()
            self.try_add(u)
        # leave no prepared transaction behind
        for g in sorted(self.model.gids) if self.model.status() == 'I' else ():
            self.try_add(self.simple("ROLLBACK PREPARED '%s'" % g))
        return {'seed': self.seed, 'user': self.user, 'database': self.database,
                'track': self.track, 'annotate': self.annotate, 'units': self.units}


def generate(seed, max_units=None):
    """The script of ``seed`` (deterministic)."""
    return Gen(seed, max_units).run()


if __name__ == '__main__':
    import json
    import sys
    print(json.dumps(generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1), indent=1, ensure_ascii=False))
