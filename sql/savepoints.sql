--
-- Savepoints: an error undone by ROLLBACK TO SAVEPOINT is never the cause of
-- a later abort; after ROLLBACK TO, the next error becomes the cause.
--
CREATE TABLE sp (id int PRIMARY KEY);
INSERT INTO sp VALUES (1);

BEGIN;
SAVEPOINT a;
INSERT INTO sp VALUES (1);
SELECT 1;						-- 25P02, the hint offers ROLLBACK TO
ROLLBACK TO SAVEPOINT a;
SELECT 'healthy again';
SELECT sqlstate, in_savepoint, ignored_commands, ended_by FROM txguard_last_abort();
SELECT 1/0;						-- the next error is the new cause
SELECT 1;
ROLLBACK;
SELECT sqlstate, statement, statement_ordinal, in_savepoint, ended_by
  FROM txguard_last_abort();

-- nested savepoints: ROLLBACK TO the outer one also ends the aborted state
BEGIN;
SAVEPOINT outer_sp;
INSERT INTO sp VALUES (2);
SAVEPOINT inner_sp;
INSERT INTO sp VALUES (1);
SELECT 1;
ROLLBACK TO outer_sp;
SELECT count(*) FROM sp;		-- 1: the insert of 2 was undone as well
COMMIT;
SELECT sqlstate, ignored_commands, ended_by FROM txguard_last_abort();

-- an error in a savepoint, then ROLLBACK of the whole transaction
BEGIN;
SAVEPOINT a;
SELECT * FROM nosuchtable;
ROLLBACK;
SELECT sqlstate, in_savepoint, ignored_commands, ended_by FROM txguard_last_abort();

-- an error that a savepoint undid, then a transaction-level error: the cause
-- is the second one
BEGIN;
SAVEPOINT a;
INSERT INTO sp VALUES (1);
ROLLBACK TO a;
RELEASE a;
SELECT 1/0;
SELECT 1;
ROLLBACK;
SELECT sqlstate, statement, in_savepoint FROM txguard_last_abort();

-- a savepoint that is rolled back without any error records nothing
SELECT txguard_reset();
BEGIN;
SAVEPOINT a;
INSERT INTO sp VALUES (3);
ROLLBACK TO a;
COMMIT;
SELECT count(*) FROM txguard_aborts;
