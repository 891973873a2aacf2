--
-- Aborts that leave no aborted block: autocommit statements, multi-statement
-- query strings, a failing COMMIT, procedures.  No later transaction is ever
-- annotated with a stale cause.
--
CREATE TABLE im (id int PRIMARY KEY);
INSERT INTO im VALUES (1);
SELECT txguard_reset();

-- an autocommit statement fails: the next command simply works
INSERT INTO im VALUES (1);
SELECT 'works';
SELECT sqlstate, in_block, ignored_commands, ended_by FROM txguard_last_abort();
-- ... and with txguard.track = blocks it is not in the shared history
SELECT count(*) FROM txguard_aborts;

-- a later transaction block that fails for another reason names its own cause
BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;

-- after an autocommit failure, a block aborted by another error names that
-- error, never the earlier one
INSERT INTO im VALUES (1);
BEGIN;
ROLLBACK TO SAVEPOINT nosuch;
SELECT 1;
ROLLBACK;

-- several statements in one query string without BEGIN form one implicit
-- transaction: the failure rolls it back and nothing stays aborted
INSERT INTO im VALUES (2) \; INSERT INTO im VALUES (1) \; INSERT INTO im VALUES (3);
SELECT array_agg(id ORDER BY id) FROM im;
SELECT sqlstate, statement, statement_ordinal, in_block FROM txguard_last_abort();

-- with txguard.track = all, failed autocommit statements are kept too
SET txguard.track = 'all';
INSERT INTO im VALUES (1);
SELECT sqlstate, in_block, ended_by, ignored_commands FROM txguard_aborts;
RESET txguard.track;

-- a deferred constraint fails at COMMIT: the block ends at once
CREATE TABLE parent (id int PRIMARY KEY);
CREATE TABLE child (pid int REFERENCES parent DEFERRABLE INITIALLY DEFERRED);
BEGIN;
INSERT INTO child VALUES (42);
SELECT 'still fine';
COMMIT;
SELECT 'not aborted';
SELECT sqlstate, constraint_name, statement, statement_ordinal, in_block, ended_by
  FROM txguard_last_abort();
-- the same in an autocommit statement: the error belongs to that statement
INSERT INTO child VALUES (43);
SELECT sqlstate, statement, statement_ordinal, in_block FROM txguard_last_abort();
-- the string's implicit commit fails after a last statement that a DO
-- INSTEAD NOTHING rule made nothing: charged to it, at commit, as number 2
CREATE VIEW child_nothing AS SELECT 1 AS pid;
CREATE RULE child_nothing_ins AS ON INSERT TO child_nothing DO INSTEAD NOTHING;
INSERT INTO child VALUES (44) \; INSERT INTO child_nothing VALUES (1);
SELECT sqlstate, statement, statement_ordinal, at_commit FROM txguard_last_abort();
DROP VIEW child_nothing;

-- procedures with transaction control
CREATE PROCEDURE commit_then_fail() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO im VALUES (10);
    COMMIT;
    INSERT INTO im VALUES (1);
END $$;
CALL commit_then_fail();
SELECT 'not aborted';
SELECT sqlstate, statement, in_block FROM txguard_last_abort();
SELECT count(*) FROM im WHERE id = 10;	-- committed before the error

CREATE PROCEDURE commit_inside() LANGUAGE plpgsql AS $$
BEGIN
    COMMIT;
END $$;
BEGIN;
CALL commit_inside();
SELECT 1;
ROLLBACK;
SELECT sqlstate, message, in_block FROM txguard_last_abort();

-- a procedure that rolls back without any error records nothing
CREATE PROCEDURE just_rollback() LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO im VALUES (11);
    ROLLBACK;
END $$;
SELECT txguard_reset();
SET txguard.track = 'all';
CALL just_rollback();
SELECT count(*) FROM txguard_aborts;
RESET txguard.track;
