--
-- txguard.idle_in_aborted_transaction_timeout: a superuser setting in
-- milliseconds, with units.  (Firing is tested by the isolation and TAP
-- suites; a session cannot wait for its own termination here.)
--
SET txguard.idle_in_aborted_transaction_timeout = '1.5s';
SHOW txguard.idle_in_aborted_transaction_timeout;
SET txguard.idle_in_aborted_transaction_timeout = '2min';
SHOW txguard.idle_in_aborted_transaction_timeout;
SET txguard.idle_in_aborted_transaction_timeout = 250;
SHOW txguard.idle_in_aborted_transaction_timeout;
SET txguard.idle_in_aborted_transaction_timeout = -1;
SET txguard.idle_in_aborted_transaction_timeout = '100 parsecs';
SET txguard.idle_in_aborted_transaction_timeout = 2147483648;
RESET txguard.idle_in_aborted_transaction_timeout;

-- ALTER DATABASE and ALTER ROLE may carry it
ALTER DATABASE contrib_regression SET txguard.idle_in_aborted_transaction_timeout = '30s';
SELECT s FROM pg_db_role_setting, unnest(setconfig) s
 WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND setrole = 0 AND s LIKE 'txguard.%';
ALTER DATABASE contrib_regression RESET txguard.idle_in_aborted_transaction_timeout;

-- an ordinary role can neither set it nor switch txguard off
CREATE ROLE regress_txg_user;
SET ROLE regress_txg_user;
SET txguard.idle_in_aborted_transaction_timeout = 0;
ALTER ROLE regress_txg_user SET txguard.idle_in_aborted_transaction_timeout = 0;
SET txguard.enabled = off;
RESET ROLE;
DROP ROLE regress_txg_user;

-- a session that rolls back in time is not terminated
SET txguard.idle_in_aborted_transaction_timeout = '1s';
BEGIN;
SELECT 1/0;
ROLLBACK;
SELECT pg_sleep(1.2);
SELECT 'still connected';
RESET txguard.idle_in_aborted_transaction_timeout;
