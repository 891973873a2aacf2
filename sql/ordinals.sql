--
-- Statement N: what the annotation counts (README, "Statements and their
-- ordinal").  Every case states the expected number in a comment; the
-- 25P02's DETAIL or txguard_last_abort() shows what txguard says.
--
CREATE TABLE o (id int PRIMARY KEY);
INSERT INTO o VALUES (1);
CREATE TABLE o_log (id int);
CREATE FUNCTION o_imm() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1';
CREATE FUNCTION o_stable_boom(int) RETURNS int LANGUAGE plpgsql STABLE AS
$$ BEGIN IF $1 = 0 THEN RAISE EXCEPTION 'boom while planning'; END IF; RETURN $1; END $$;

-- savepoint commands are not statements (like BEGIN), and a statement
-- failing before execution (folded at plan time) counts: the INSERT after
-- them is statement 3
BEGIN;
SAVEPOINT a;					-- not counted
SELECT 1/0;						-- 1: fails while planned
ROLLBACK TO a;					-- not counted
SELECT * FROM o_nosuch;			-- 2: fails in parse analysis
ROLLBACK TO a;					-- not counted
INSERT INTO o VALUES (1);		-- 3
SELECT 1;
ROLLBACK;

-- a ROLLBACK TO that fails while the block is aborted (the savepoint does
-- not exist) is an ignored command, not a statement
BEGIN;
SAVEPOINT a;					-- not counted
INSERT INTO o VALUES (1);		-- 1
ROLLBACK TO nosuch;				-- ignored command: 3B001
ROLLBACK TO a;					-- not counted
INSERT INTO o VALUES (1);		-- 2
SELECT 1;
ROLLBACK;

-- a savepoint command that fails on its own is the statement that failed
BEGIN;
SELECT 1;						-- 1
RELEASE SAVEPOINT nosuch;		-- 2: fails (3B001), counted as it fails
SELECT 1;
ROLLBACK;
SELECT statement_ordinal, sqlstate, statement FROM txguard_last_abort();

-- the planner runs user code: an IMMUTABLE SQL function folded at plan
-- time does not count; a STABLE PL/pgSQL function raising while the
-- planner estimates selectivity fails its own statement (2), whose text is
-- named even in a multi-statement string
BEGIN;
SELECT o_imm() \; SELECT * FROM o WHERE id = o_stable_boom(0) \; SELECT 3;
SELECT 1;
ROLLBACK;
BEGIN;
SELECT o_imm();					-- 1
SELECT o_imm() + o_imm();		-- 2
INSERT INTO o VALUES (1);		-- 3
SELECT 1;
ROLLBACK;

-- rewrite rules: DO ALSO makes two plans of one statement, DO INSTEAD two
-- plans without a location of their own: each is one statement; DO
-- INSTEAD NOTHING makes nothing to run: no statement
CREATE RULE o_also AS ON INSERT TO o DO ALSO INSERT INTO o_log VALUES (NEW.id);
CREATE RULE o_also_del AS ON DELETE TO o DO ALSO INSERT INTO o_log VALUES (OLD.id);
CREATE VIEW o_nothing AS SELECT 1 AS id;
CREATE RULE o_nothing_ins AS ON INSERT TO o_nothing DO INSTEAD NOTHING;
CREATE VIEW o_instead AS SELECT 1 AS id;
CREATE RULE o_instead_ins AS ON INSERT TO o_instead
  DO INSTEAD (INSERT INTO o_log VALUES (NEW.id); INSERT INTO o_log VALUES (NEW.id + 1));
BEGIN;
INSERT INTO o VALUES (2);		-- 1 (two plans)
DELETE FROM o WHERE id = 2;		-- 2 (two plans, the rule's first)
INSERT INTO o_nothing VALUES (1);	-- not counted: nothing runs
INSERT INTO o_instead VALUES (1);	-- 3 (two plans of the rule)
INSERT INTO o VALUES (1);		-- 4
SELECT 1;
ROLLBACK;
BEGIN;
INSERT INTO o VALUES (2) \; INSERT INTO o_nothing VALUES (1) \; INSERT INTO o_instead VALUES (1) \; INSERT INTO o VALUES (1) \; SELECT 'not reached';
SELECT 1;
ROLLBACK;
-- a statement failing while it is planned, after one that a DO INSTEAD
-- NOTHING rule made nothing, is named by its own text (1)
BEGIN;
INSERT INTO o_nothing VALUES (1) \; SELECT * FROM o WHERE id = o_stable_boom(0);
SELECT 1;
ROLLBACK;
DROP RULE o_also ON o;
DROP RULE o_also_del ON o;

-- multi-statement strings: the failing statement is cut out even when it
-- fails in parse analysis, after statements that ran; semicolons inside
-- quotes, dollar quotes and comments do not split it
BEGIN;
SELECT 'a;b' \; SELECT $q$;$q$ /* ; */ \; SELECT * FROM o_nosuch -- ;
\; SELECT 'not reached';
SELECT 1;
ROLLBACK;

-- a syntax error rejects the whole string: one statement (1), and the text
-- is the statement that holds the error
BEGIN;
SELECT 1 \; SELEC 2 \; SELECT 3;
SELECT 1;
ROLLBACK;
BEGIN;
SELECT 1;						-- 1
SELECT 2 \; SELECT 3 \; SELEC 4;	-- 2: none of the string ran
SELECT 1;
ROLLBACK;

-- EXPLAIN ANALYZE, PREPARE/EXECUTE, cursors and COPY are statements; what
-- runs inside them is not
PREPARE o_ins(int) AS INSERT INTO o VALUES ($1);
BEGIN;
\o /dev/null
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT o_imm();	-- 1 (its plan's form varies by major)
\o
DECLARE c CURSOR FOR SELECT 10 / (2 - g) FROM generate_series(1, 3) g;	-- 2
FETCH 1 FROM c;					-- 3
EXECUTE o_ins(3);				-- 4
FETCH 1 FROM c;					-- 5: division by zero
SELECT 1;
ROLLBACK;
BEGIN;
COPY o_log FROM STDIN;			-- 1
5
\.
COPY o (id) FROM STDIN;			-- 2: a bad row
7
x
\.
SELECT 1;
ROLLBACK;
DEALLOCATE o_ins;

-- BEGIN does not count; after ROLLBACK AND CHAIN the new transaction
-- counts from 1 again
BEGIN;
SELECT 1;						-- 1
SELECT 1/0;						-- 2
ROLLBACK AND CHAIN;
INSERT INTO o VALUES (1);		-- 1 of the chained transaction
SELECT 1;
ROLLBACK;

-- errors at commit
CREATE TABLE o_def (id int UNIQUE DEFERRABLE INITIALLY DEFERRED);
INSERT INTO o_def VALUES (1);
CREATE TABLE o_parent (id int PRIMARY KEY);
CREATE TABLE o_child (pid int REFERENCES o_parent DEFERRABLE INITIALLY DEFERRED);
-- explicit COMMIT: the COMMIT (3)
BEGIN;
INSERT INTO o_def VALUES (1);
SELECT 1;
COMMIT;
SELECT statement_ordinal, statement, in_block, ended_by FROM txguard_last_abort();
-- implicit commit of an autocommit statement: that statement (1)
INSERT INTO o_def VALUES (1);
SELECT statement_ordinal, statement, in_block, ended_by FROM txguard_last_abort();
-- implicit commit at the end of a string: its last statement (2), and the
-- text is the whole string
INSERT INTO o_child VALUES (7) \; SELECT 'x';
SELECT statement_ordinal, statement, in_block, ended_by FROM txguard_last_abort();
-- a COMMIT inside a string: the COMMIT (3 of its transaction)
BEGIN \; INSERT INTO o_child VALUES (8) \; SELECT 1 \; COMMIT \; SELECT 'not reached';
SELECT statement_ordinal, statement, in_block, ended_by FROM txguard_last_abort();
-- SET CONSTRAINTS ALL IMMEDIATE checks at once: statement 2
BEGIN;
INSERT INTO o_child VALUES (9);
SET CONSTRAINTS ALL IMMEDIATE;
SELECT 1;
ROLLBACK;

-- a procedure that commits: an error after its COMMIT belongs to the CALL,
-- statement 1 of the transaction the COMMIT started
CREATE PROCEDURE o_proc() LANGUAGE plpgsql AS
$$ BEGIN INSERT INTO o_log VALUES (1); COMMIT; INSERT INTO o VALUES (1); END $$;
CALL o_proc();
SELECT statement_ordinal, statement, in_block, ended_by FROM txguard_last_abort();
-- in a multi-statement string the CALL runs in a transaction block, where
-- its COMMIT is refused: 2D000 at statement 2
SELECT 1 \; CALL o_proc();
SELECT statement_ordinal, statement, in_block, ended_by FROM txguard_last_abort();

-- Cases the reference model found (test/model), each wrong in an earlier
-- 1.1 build.
-- An error caught by a PL/pgSQL EXCEPTION block inside a statement does not
-- keep that statement running: the next statement's error is its own (2)
CREATE FUNCTION o_catch() RETURNS int LANGUAGE plpgsql AS
$$ BEGIN PERFORM 1/0; RETURN 0; EXCEPTION WHEN division_by_zero THEN RETURN 1; END $$;
SELECT o_catch() \; SELECT nosuchcol FROM o;
SELECT statement_ordinal, statement FROM txguard_last_abort();
SELECT o_catch();
SELECT 1 +;
SELECT statement_ordinal, statement FROM txguard_last_abort();
-- a syntax error at a semicolon belongs to the statement it ends, and one at
-- the end of input to the last statement
BEGIN;
SELECT 1 \; SELECT 2 + \; /* ; */ SELECT 3;
SELECT 1;
ROLLBACK;
BEGIN;
SELECT 1 \; /* ; */ SELECT 2 + \g
SELECT 1;
ROLLBACK;
-- a statement that a DO INSTEAD NOTHING rule made nothing of runs nothing
-- and is not counted: the next statement of the string that fails in parse
-- analysis is statement 1, and so is the next message that fails
BEGIN;
INSERT INTO o_nothing VALUES (1) \; /* ; */ SELECT * FROM o_nosuch \; SELECT 3;
SELECT 1;
ROLLBACK;
BEGIN;
INSERT INTO o_nothing VALUES (1);	-- not counted
SELECT * FROM o_nosuch;			-- 1
SELECT 1;
ROLLBACK;
-- a BEGIN inside a string: the statement that fails after it is named (2)
INSERT INTO o_log VALUES (1) \; /* ; */ BEGIN \; SELECT * FROM o_nosuch \; SELECT 3;
SELECT 1;
ROLLBACK;
DROP FUNCTION o_catch();

DROP PROCEDURE o_proc();
DROP TABLE o_child, o_parent, o_def;
DROP VIEW o_nothing, o_instead;
DROP TABLE o, o_log;
DROP FUNCTION o_imm(), o_stable_boom(int);
