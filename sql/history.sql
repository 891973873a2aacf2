--
-- The shared history of aborts: txguard_aborts, txguard_abort_history(pid),
-- txguard_aborted_sessions, txguard_info(), txguard_reset().
--
CREATE TABLE hi (id int PRIMARY KEY);
INSERT INTO hi VALUES (1);
SELECT txguard_reset();
SET application_name = 'history_test';

BEGIN;
INSERT INTO hi VALUES (1);
SELECT 1;
SELECT 2;
ROLLBACK;

SELECT pid = pg_backend_pid() AS mine, datname, usename, application_name,
       sqlstate, message, detail, statement, statement_ordinal, in_block,
       in_savepoint, ignored_commands, ended_by,
       xact_start <= aborted_at AS started_first,
       aborted_at <= ended_at AS ended_after,
       aborted_seconds >= 0 AS duration_ok,
       backend_start = (SELECT backend_start FROM pg_stat_activity
                         WHERE pid = pg_backend_pid()) AS same_backend
  FROM txguard_aborts;

-- txguard_last_abort() is the same episode
SELECT (SELECT seq FROM txguard_last_abort()) = (SELECT max(seq) FROM txguard_aborts) AS same;

-- the function behind the view, filtered by pid
SELECT count(*) FROM txguard_abort_history(pg_backend_pid());
SELECT count(*) FROM txguard_abort_history(NULL);
SELECT count(*) FROM txguard_abort_history(2147483647);
SELECT count(*) FROM txguard_abort_history(0);
SELECT count(*) FROM txguard_abort_history(-1);

-- newest first
BEGIN;
SELECT 1/0;
ROLLBACK;
SELECT sqlstate FROM txguard_aborts;

-- txguard.store_detail = off keeps the DETAIL out of the shared history,
-- but the session's own 25P02 still shows it
SET txguard.store_detail = off;
BEGIN;
INSERT INTO hi VALUES (1);
SELECT 1;
ROLLBACK;
RESET txguard.store_detail;
SELECT sqlstate, detail FROM txguard_aborts LIMIT 1;

-- the ring keeps the latest txguard.history_size (16 in the test
-- configuration) records and counts the ones it overwrote
SELECT txguard_reset();
\set ECHO none
SELECT 'BEGIN', 'SELECT 1/0', 'ROLLBACK' FROM generate_series(1, 20) \gexec
\set ECHO all
SELECT count(*), max(seq) - min(seq) AS span FROM txguard_aborts;
SELECT history_size, history_written, history_overwritten, history_dropped
  FROM txguard_info();

-- reset empties history and statistics
SELECT txguard_reset();
SELECT count(*) FROM txguard_aborts;
SELECT count(*) FROM txguard_stats;
SELECT history_written, history_overwritten FROM txguard_info();
SELECT stats_reset > now() - interval '1 minute' AS recent FROM txguard_info();

-- a live backend in an aborted block shows in txguard_aborted_sessions; this
-- session cannot query while aborted, so a dblink-free check: the view is
-- empty while nobody is aborted
SELECT count(*) FROM txguard_aborted_sessions;
