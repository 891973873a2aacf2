--
-- Every way out of an aborted block is recorded: ROLLBACK, ROLLBACK TO
-- SAVEPOINT, COMMIT and PREPARE TRANSACTION (both roll back), AND CHAIN.
--
CREATE TABLE ex (id int PRIMARY KEY);
INSERT INTO ex VALUES (1);
SELECT txguard_reset();

BEGIN;
INSERT INTO ex VALUES (1);
COMMIT;							-- answers ROLLBACK
SELECT count(*) FROM ex;
SELECT ended_by FROM txguard_last_abort();

BEGIN;
INSERT INTO ex VALUES (1);
PREPARE TRANSACTION 'tx1';		-- answers ROLLBACK, nothing is prepared
SELECT count(*) FROM pg_prepared_xacts;
SELECT ended_by FROM txguard_last_abort();

BEGIN;
INSERT INTO ex VALUES (1);
END;							-- END is COMMIT
SELECT ended_by FROM txguard_last_abort();

BEGIN;
INSERT INTO ex VALUES (1);
ABORT;							-- ABORT is ROLLBACK
SELECT ended_by FROM txguard_last_abort();

-- ROLLBACK AND CHAIN leaves a healthy block whose statements count from 1
BEGIN;
INSERT INTO ex VALUES (1);
ROLLBACK AND CHAIN;
SELECT 'in the new block';
SELECT 1/0;
SELECT 1;
ROLLBACK;
SELECT sqlstate, statement_ordinal, ended_by FROM txguard_last_abort();

-- a ROLLBACK TO that fails in the aborted block (an ignored command) is
-- over when COMMIT AND CHAIN ends it: the new block counts from 1
BEGIN;
SELECT 1/0;
ROLLBACK TO SAVEPOINT nosuch;
COMMIT AND CHAIN;
SELECT 1/0;						-- 1
SELECT 1;
ROLLBACK;
SELECT sqlstate, statement_ordinal, ended_by FROM txguard_last_abort();

-- COMMIT AND CHAIN of a healthy block: the new block is a block too
BEGIN;
SELECT 1;
COMMIT AND CHAIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
SELECT sqlstate, in_block, statement_ordinal FROM txguard_last_abort();

-- ROLLBACK AND CHAIN while only a savepoint is aborted: the new block is a
-- block too
BEGIN;
SAVEPOINT a;
SELECT 1/0;
ROLLBACK AND CHAIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
SELECT sqlstate, in_block, ignored_commands, ended_by FROM txguard_last_abort();

-- COMMIT AND CHAIN that fails at commit starts no new block: the next
-- autocommit error leaves nothing aborted
CREATE TABLE ex_parent (id int PRIMARY KEY);
CREATE TABLE ex_child (p int REFERENCES ex_parent DEFERRABLE INITIALLY DEFERRED);
BEGIN;
INSERT INTO ex_child VALUES (1);
COMMIT AND CHAIN;
SELECT 1/0;
SELECT 'not aborted';
SELECT sqlstate, in_block, ended_by FROM txguard_last_abort();

-- a healthy ROLLBACK records nothing
SELECT count(*) AS before FROM txguard_aborts \gset
BEGIN;
SELECT 1;
ROLLBACK;
SELECT count(*) - :before AS new_records FROM txguard_aborts;

SELECT ended_by, count(*) FROM txguard_aborts GROUP BY 1 ORDER BY 1;
