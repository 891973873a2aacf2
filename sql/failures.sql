--
-- Statistics at the default settings count every failing top-level
-- statement, not only those that leave a block aborted: autocommit
-- statements, multi-statement query strings, statements cancelled by
-- statement_timeout, a COMMIT that fails.  failed_alone counts the failures
-- that left no block aborted; txguard.track only chooses what the history
-- keeps.
--
CREATE TABLE fa (id int PRIMARY KEY);
INSERT INTO fa VALUES (1);
CREATE TABLE fa_parent (id int PRIMARY KEY);
CREATE TABLE fa_child (pid int REFERENCES fa_parent DEFERRABLE INITIALLY DEFERRED);
SET application_name = 'regress_txg_failures';
SHOW txguard.track;
SELECT txguard_reset();

-- an autocommit statement
INSERT INTO fa VALUES (1);
-- the second statement of a multi-statement string
INSERT INTO fa VALUES (2) \; INSERT INTO fa VALUES (1);
-- an autocommit statement cancelled by statement_timeout (if the timeout
-- never fired, the sleep would end after a minute without an error)
SET statement_timeout = '10ms';
SELECT pg_sleep(60);
RESET statement_timeout;
-- a deferred constraint failing at COMMIT
BEGIN;
INSERT INTO fa_child VALUES (1);
COMMIT;
-- and a block left aborted by statement_timeout
BEGIN;
SET LOCAL statement_timeout = '10ms';
SELECT pg_sleep(60);
ROLLBACK;

SELECT sqlstate, aborts, aborted_blocks FROM txguard_stats ORDER BY sqlstate;
SELECT sqlstate, sum(aborts) AS aborts, sum(aborted_blocks) AS aborted_blocks,
       sum(failed_alone) AS failed_alone
  FROM txguard_statement_stats GROUP BY sqlstate ORDER BY sqlstate;
SELECT application_name, sqlstate, aborts, aborted_blocks, failed_alone
  FROM txguard_application_stats ORDER BY sqlstate;
SELECT error_aborts, aborted_blocks FROM txguard_database_stats
 WHERE datname = current_database();

-- the history keeps only the aborted block (track = blocks) ...
SELECT sqlstate, in_block, ended_by FROM txguard_aborts;
-- ... and with track = all also a failure that left nothing aborted; the
-- statistics count it the same way
SET txguard.track = 'all';
INSERT INTO fa VALUES (1);
RESET txguard.track;
SELECT sqlstate, in_block, ended_by FROM txguard_aborts ORDER BY seq;
SELECT sqlstate, aborts, aborted_blocks FROM txguard_stats ORDER BY sqlstate;

RESET application_name;
DROP TABLE fa, fa_child, fa_parent;
