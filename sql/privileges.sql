--
-- Privileges: other roles' error text is visible only as pg_stat_activity
-- allows it; txguard_reset() is not for PUBLIC; the settings that carry an
-- administrator's policy are superuser-only.
--
CREATE ROLE regress_txg_alice LOGIN;
CREATE ROLE regress_txg_bob LOGIN;
CREATE ROLE regress_txg_monitor LOGIN IN ROLE pg_read_all_stats;
CREATE ROLE regress_txg_alice_member LOGIN IN ROLE regress_txg_alice;
CREATE TABLE pv (id int PRIMARY KEY);
INSERT INTO pv VALUES (1);
GRANT SELECT, INSERT ON pv TO PUBLIC;
SELECT txguard_reset();

-- alice's session aborts a block
SET SESSION AUTHORIZATION regress_txg_alice;
BEGIN;
INSERT INTO pv VALUES (1);
SELECT 1;
ROLLBACK;
RESET SESSION AUTHORIZATION;

-- bob sees the row, but not its text
SET ROLE regress_txg_bob;
SELECT usename, sqlstate, message, detail, statement, client_addr,
       ignored_commands, ended_by
  FROM txguard_aborts;
SELECT txguard_reset();
SET txguard.track = 'none';
SET txguard.enabled = off;
SET txguard.log_aborts = off;
SET txguard.store_detail = off;
SET txguard.idle_in_aborted_transaction_timeout = 0;
RESET ROLE;

-- a member of pg_read_all_stats sees everything
SET ROLE regress_txg_monitor;
SELECT usename, sqlstate, message, detail, statement FROM txguard_aborts;
RESET ROLE;

-- so does alice herself, and a member of alice
SET ROLE regress_txg_alice;
SELECT usename, sqlstate, message, statement FROM txguard_aborts;
RESET ROLE;
SET ROLE regress_txg_alice_member;
SELECT usename, sqlstate, message, statement FROM txguard_aborts;
RESET ROLE;

-- statistics hold no text: everyone sees the counters
SET ROLE regress_txg_bob;
SELECT usename, sqlstate, aborts, ignored_commands FROM txguard_stats;
RESET ROLE;

-- one pooled connection, one role per request (SET LOCAL ROLE, as PostgREST
-- does): txguard_last_abort() applies the same rule to the current role, so
-- the next request's role does not see the previous request's error text
BEGIN;
SET LOCAL ROLE regress_txg_alice;
INSERT INTO pv VALUES (1);
ROLLBACK;
BEGIN;
SET LOCAL ROLE regress_txg_bob;
SELECT usename, sqlstate, message, detail, statement, statement_ordinal
  FROM txguard_last_abort();
COMMIT;
BEGIN;
SET LOCAL ROLE regress_txg_alice;
SELECT usename, sqlstate, message, detail, statement, statement_ordinal
  FROM txguard_last_abort();
COMMIT;

-- reset may be granted
GRANT EXECUTE ON FUNCTION txguard_reset() TO regress_txg_monitor;
SET ROLE regress_txg_monitor;
SELECT txguard_reset();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION txguard_reset() FROM regress_txg_monitor;

-- a superuser's per-role policy applies to the role's sessions, and the role
-- cannot change it
ALTER ROLE regress_txg_bob SET txguard.idle_in_aborted_transaction_timeout = '5min';
SELECT setconfig FROM pg_db_role_setting
 WHERE setrole = 'regress_txg_bob'::regrole;
ALTER ROLE regress_txg_bob RESET txguard.idle_in_aborted_transaction_timeout;

REVOKE ALL ON pv FROM PUBLIC;
DROP TABLE pv;
DROP ROLE regress_txg_alice_member;
DROP ROLE regress_txg_alice;
DROP ROLE regress_txg_bob;
DROP ROLE regress_txg_monitor;
