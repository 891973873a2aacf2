--
-- How an administrator limits what one role leaves in the shared history
-- and statistics: ALTER ROLE ... SET txguard.track = none.  The role cannot
-- undo it (txguard.track is for superusers) nor erase what others left
-- (txguard_reset is revoked from PUBLIC); its failures still count per
-- database, and the session still knows its own last abort.
--
SELECT current_user AS regress_superuser \gset
-- (passwords, for a test server that asks for them: the package's build)
CREATE ROLE regress_txg_carol LOGIN PASSWORD 'regress_txg_carol';
CREATE ROLE regress_txg_dave LOGIN PASSWORD 'regress_txg_dave';
ALTER ROLE regress_txg_carol SET txguard.track = 'none';
CREATE TABLE po (id int PRIMARY KEY);
INSERT INTO po VALUES (1);
GRANT SELECT, INSERT ON po TO PUBLIC;
SELECT txguard_reset();

\c -reuse-previous=on "user=regress_txg_carol password=regress_txg_carol"
SET application_name = 'regress_txg_carol_app';
SHOW txguard.track;
-- carol cannot set it back, in any way, nor reset the statistics
SET txguard.track = 'blocks';
SELECT set_config('txguard.track', 'all', false);
RESET txguard.track;
ALTER ROLE regress_txg_carol SET txguard.track = 'all';
ALTER ROLE regress_txg_carol RESET txguard.track;
SELECT txguard_reset();
SHOW txguard.track;
-- carol's failures: an aborted block and an autocommit statement
BEGIN;
INSERT INTO po VALUES (1);
SELECT 1;
ROLLBACK;
INSERT INTO po VALUES (1);
-- she still knows her own last abort
SELECT sqlstate, statement, ignored_commands FROM txguard_last_abort();

-- dave, whose role has no such setting, fails the same way at the same time
\c -reuse-previous=on "user=regress_txg_dave password=regress_txg_dave"
SET application_name = 'regress_txg_dave_app';
SHOW txguard.track;
BEGIN;
INSERT INTO po VALUES (1);
SELECT 1;
ROLLBACK;
INSERT INTO po VALUES (1);

\c - :regress_superuser
-- only dave's failures are in the history and the detailed statistics
SELECT usename, sqlstate, application_name, ignored_commands FROM txguard_aborts;
SELECT usename, sqlstate, aborts, aborted_blocks, ignored_commands
  FROM txguard_stats;
SELECT usename, sqlstate, sum(aborts) AS aborts
  FROM txguard_statement_stats GROUP BY 1, 2;
SELECT application_name, sqlstate, aborts, aborted_blocks, failed_alone
  FROM txguard_application_stats;
-- the database's error aborts count them all: carol's six refused commands
-- and the four failures
SELECT error_aborts, aborted_blocks, ignored_commands FROM txguard_database_stats
 WHERE datname = current_database();

ALTER ROLE regress_txg_carol RESET txguard.track;
REVOKE ALL ON po FROM PUBLIC;
DROP TABLE po;
DROP ROLE regress_txg_carol;
DROP ROLE regress_txg_dave;
