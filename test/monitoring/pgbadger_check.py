#!/usr/bin/python3
"""pgBadger and txguard's server log: the scenario and the checks.

Used by test/monitoring/run.sh:

  pgbadger_check.py sql DIR          write the scenario's psql scripts into DIR:
                                     app.sql (the blocks of BLOCKS, one session),
                                     disconnect.sql, timeout.sql (one session each)
  pgbadger_check.py real LOG JSON [--db D --user U]
                                     checks pgBadger's report (JSON) of the server log

Every expected number follows from BLOCKS below.  Output: "  ok: ..." / "  FAIL: ..." lines;
the exit status is 1 if a check failed.
"""
import json
import os
import re
import sys

from checks import fail, finish, ok

TABLE = "t"
# One aborted block per entry: (session, SQL, how it ends, condition, SQLSTATE, ignored
# commands, core's primary message of the cause).  The first block's 25P02 is the one pgBadger
# keeps as its sample.
DIV0 = "SELECT 1/(random()*0)::int"   # fails when executed, not when planned
SERIALIZE = ("DO $$BEGIN RAISE EXCEPTION 'could not serialize access due to concurrent update' "
             "USING ERRCODE = 'serialization_failure'; END$$")
FLOOD = 50
BLOCKS = [
    ("app", "BEGIN; INSERT INTO t VALUES (1, 1); SELECT 1; SELECT 2; ROLLBACK;",
     "rollback", "unique_violation", "23505", 2,
     'duplicate key value violates unique constraint "t_pkey"'),
    ("app", "BEGIN; INSERT INTO t VALUES (1, 1); SELECT 1; ROLLBACK;",
     "rollback", "unique_violation", "23505", 1,
     'duplicate key value violates unique constraint "t_pkey"'),
    # an ORM's statement, every identifier quoted: the same pgBadger event as the two above
    ("app", 'BEGIN; INSERT INTO "t" ("id", "v") VALUES (1, 1); SELECT 1; ROLLBACK;',
     "rollback", "unique_violation", "23505", 1,
     'duplicate key value violates unique constraint "t_pkey"'),
    ("app", "BEGIN; %s; SELECT 1; COMMIT;" % DIV0,
     "commit", "division_by_zero", "22012", 1, "division by zero"),
    ("app", "BEGIN; INSERT INTO t VALUES (2, NULL); ROLLBACK;",
     "rollback", "not_null_violation", "23502", 0,
     'null value in column "v" of relation "t" violates not-null constraint'),
    # the flood: one block, 50 commands refused
    ("app", "BEGIN; %s; %s ROLLBACK;" % (SERIALIZE, "SELECT 1; " * FLOOD),
     "rollback", "serialization_failure", "40001", FLOOD,
     "could not serialize access due to concurrent update"),
    ("app", "BEGIN; SAVEPOINT a; INSERT INTO t VALUES (3, -1); SELECT 1; ROLLBACK TO SAVEPOINT a; COMMIT;",
     "rollback to savepoint", "check_violation", "23514", 1,
     'new row for relation "t" violates check constraint "t_v_check"'),
    ("disconnect", "BEGIN; %s; SELECT 1;" % DIV0,
     "disconnect", "division_by_zero", "22012", 1, "division by zero"),
    # left idle: txguard.idle_in_aborted_transaction_timeout (300 ms) ends the session
    ("timeout", "BEGIN; INSERT INTO t VALUES (1, 1);\n\\! sleep 0.7",
     "timeout", "unique_violation", "23505", 0,
     'duplicate key value violates unique constraint "t_pkey"'),
]
FIRST_25P02_DETAIL = ('The transaction was aborted by an earlier error in statement 1: ERROR 23505: '
                      'duplicate key value violates unique constraint "t_pkey" '
                      '(Key (id)=(1) already exists.) Statement: INSERT INTO t VALUES (1, 1)')

# txguard's end-of-block record: one WARNING line
QUOTED = r'"(?:[^"]|"")*"'
END_RE = re.compile(
    r'^txguard: aborted transaction ended by (?P<how>.+?); cause (?P<cond>\S+) '
    r'SQLSTATE (?P<st>[0-9A-Z]{5}) \((?P<n>\d+) ignored commands?, (?P<s>\d+\.\d{3}) s aborted, '
    r'statement (?P<ord>\d+)(?:, query id (?P<qid>-?\d+))?(?:; detail (?P<det>' + QUOTED + r'))?'
    r'(?:; (?:truncated )?statement (?P<stmt>' + QUOTED + r'))?\): (?P<msg>.*)$')
END_MARK = "WARNING:  txguard: aborted transaction ended by "


def normalize(msg):
    """pgBadger's normalize_error(), the rules that apply to these messages"""
    msg = re.sub(r'"[^"]+"', '"..."', msg)
    msg = msg.replace('""...""', '"..."')
    return re.sub(r'\([^\)]+\)', '(...)', msg)


def check(label, got, exp):
    if got == exp:
        ok("%s = %r" % (label, exp))
    else:
        fail("%s: expected %r" % (label, exp), repr(got))


def opts(argv):
    o = {"db": None, "user": None}
    i = 0
    rest = []
    while i < len(argv):
        if argv[i] in ("--db", "--user"):
            o[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    return rest, o


def end_lines(path):
    """(prefix, parsed match) of each txguard end-of-block line of a log"""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            i = line.find(END_MARK)
            if i < 0:
                continue
            m = END_RE.match(line[i + len("WARNING:  "):])
            out.append((line[:i], m, line))
    return out


def events(path):
    with open(path, encoding="utf-8") as f:
        d = json.load(f)
    ev = {}
    for db in d.get("error_info", {}).values():
        for k, v in db.items():
            if k in ev:
                ev[k]["count"] += v["count"]
            else:
                ev[k] = v
    return d, ev


def expected_groups():
    groups = {}
    for b in BLOCKS:
        key = (b[2], b[3], b[4])
        groups[key] = groups.get(key, 0) + 1
    return groups


# ---------------------------------------------------------------- sql
def cmd_sql(outdir):
    scripts = {"app": [], "disconnect": [], "timeout": []}
    for b in BLOCKS:
        scripts[b[0]].append(b[1])
    for name, lines in scripts.items():
        with open(os.path.join(outdir, name + ".sql"), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


# ---------------------------------------------------------------- real
def cmd_real(log, js, db, user):
    raw = open(log, encoding="utf-8").read().splitlines()
    d, ev = events(js)

    # 1. txguard's end-of-block lines as the test expects them (one per block)
    ends = end_lines(log)
    got = sorted((m.group("how"), m.group("cond"), m.group("st"), int(m.group("n")))
                 for _, m, _ in ends if m)
    exp = sorted((b[2], b[3], b[4], b[5]) for b in BLOCKS)
    check("txguard end-of-block lines in the log (how, condition, SQLSTATE, ignored)", got, exp)

    # 2. pgBadger parsed every record with this log_line_prefix
    types = {}
    for v in d.get("logs_type", {}).values():
        for k, n in v.items():
            types[k] = types.get(k, 0) + n
    for level in ("ERROR", "WARNING", "LOG", "FATAL", "DETAIL", "STATEMENT"):
        n = sum(1 for l in raw if (" %s:  " % level) in l or l.startswith("%s:  " % level))
        check("pgBadger's count of %s records (the log has %d)" % (level, n), types.get(level, 0), n)
    # 8 causes + the first 25P02 of each of the 6 blocks that had ignored commands
    n_blocks_ignored = sum(1 for b in BLOCKS if b[5] > 0)
    n_causes = len(BLOCKS)
    check("ERROR records: %d causes + %d first 25P02s (txguard.log_ignored_commands = first)"
          % (n_causes, n_blocks_ignored), types.get("ERROR", 0), n_causes + n_blocks_ignored)

    # 3. the causes, grouped by pgBadger's normalized message
    causes = {}
    for b in BLOCKS:
        key = "ERROR:  " + re.sub(r'"[^"]+"', '"..."', b[6])
        causes[key] = causes.get(key, 0) + 1
    for key, n in sorted(causes.items()):
        check("pgBadger event %r: count" % key, ev.get(key, {}).get("count"), n)

    # 4. the 25P02s: one group, the flood counted once, the cause in the sample's DETAIL
    key = "ERROR:  current transaction is aborted, commands ignored until end of transaction block"
    g = ev.get(key)
    if not g:
        fail("pgBadger event %r is missing" % key, sorted(ev))
    else:
        check("25P02 events (the %d-command flood counts 1)" % FLOOD, g["count"], n_blocks_ignored)
        check("25P02 samples kept by pgBadger with -s 10 (identical messages: one)", len(g["date"]), 1)
        check("25P02 sample's DETAIL: its cause", g["detail"][0], FIRST_25P02_DETAIL)
        check("25P02 sample's STATEMENT: the refused command", g["statement"][0], "SELECT 1;")
        if db:
            check("25P02 sample's database", g["db"][0], db)
            check("25P02 sample's user", g["user"][0], user)

    # 5. the timeout's FATAL, with its cause in the DETAIL
    key = "FATAL:  terminating connection due to idle-in-aborted-transaction timeout"
    g = ev.get(key)
    if not g:
        fail("pgBadger event %r is missing" % key, sorted(ev))
    else:
        check("timeout events", g["count"], 1)
        det = g["detail"][0] or ""
        if ("ERROR 23505: duplicate key value violates unique constraint" in det
                and "The session was idle for" in det):
            ok("timeout sample's DETAIL names the cause: %s" % det)
        else:
            fail("timeout sample's DETAIL does not name the cause", det)

    # 6. txguard's end-of-block records: one event per (how it ended, cause), the numbers
    #    masked in the key, the cause's message normalized as pgBadger normalizes the ERROR
    got = {}
    samples = {}
    for k, v in ev.items():
        if k.startswith(END_MARK):
            got[k] = v["count"]
            samples[k] = v
    exp = {}
    for b in BLOCKS:
        k = "%s%s; cause %s SQLSTATE %s (...): %s" % (END_MARK, b[2], b[3], b[4], normalize(b[6]))
        exp[k] = exp.get(k, 0) + 1
    check("pgBadger events of txguard's end-of-block records, grouped by how the block ended "
          "and by cause", got, exp)
    k = "%srollback; cause unique_violation SQLSTATE 23505 (...): %s" % (
        END_MARK, normalize(BLOCKS[0][6]))
    if k in samples:
        v = samples[k]
        if re.match(r"WARNING:  txguard: aborted transaction ended by rollback; cause unique_violation "
                    r"SQLSTATE 23505 \(\d+ ignored commands?, \d+\.\d{3} s aborted, statement 1, "
                    r"query id -?\d+; detail \"Key \(id\)=\(1\) already exists\.\"; "
                    r"statement \"INSERT INTO t VALUES \(1, 1\)\"\): "
                    r"duplicate key value violates unique constraint \"t_pkey\"$",
                    v["error"][0]):
            ok("end-of-block event's sample keeps the numbers and the texts: %s" % v["error"][0])
        else:
            fail("end-of-block event's sample message", v["error"][0])
        check("end-of-block event's sample has no DETAIL", v["detail"][0] or "", "")
        if db:
            check("end-of-block event's sample database", v["db"][0], db)
            check("end-of-block event's sample user", v["user"][0], user)
    else:
        fail("pgBadger event %r is missing" % k, sorted(got))
    finish()


def main():
    args, o = opts(sys.argv[1:])
    if not args:
        sys.exit(__doc__)
    cmd = args[0]
    if cmd == "sql" and len(args) == 2:
        cmd_sql(args[1])
    elif cmd == "real" and len(args) == 3:
        cmd_real(args[1], args[2], o["db"], o["user"])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
