--
-- txguard_stats: counters per database, role and SQLSTATE of the cause.
-- Follow-on 25P02s count as ignored commands, never as causes.
--
CREATE TABLE st (id int PRIMARY KEY);
INSERT INTO st VALUES (1);
SELECT txguard_reset();

BEGIN;
INSERT INTO st VALUES (1);
SELECT 1;
SELECT 2;
ROLLBACK;

BEGIN;
INSERT INTO st VALUES (1);
ROLLBACK;

BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;

SAVEPOINT outside_a_block;		-- an autocommit error: not tracked by default

SELECT datname = current_database() AS this_db, usename = current_user AS me,
       sqlstate, aborts, aborted_blocks, ignored_commands, sessions_terminated,
       first_seen <= last_seen AS ordered,
       stats_reset <= first_seen AS after_reset
  FROM txguard_stats ORDER BY sqlstate;

-- track = all also counts aborts that leave no block aborted
SET txguard.track = 'all';
INSERT INTO st VALUES (1);
SELECT sqlstate, aborts, aborted_blocks FROM txguard_stats ORDER BY sqlstate;

-- track = none counts nothing
SET txguard.track = 'none';
BEGIN;
INSERT INTO st VALUES (1);
SELECT 1;
ROLLBACK;
SELECT sqlstate, aborts, aborted_blocks, ignored_commands FROM txguard_stats ORDER BY sqlstate;
RESET txguard.track;
-- but the session still knows its own last abort
SELECT sqlstate, ignored_commands FROM txguard_last_abort();

-- only the statistics' own counters change on reset
SELECT txguard_reset();
SELECT count(*) FROM txguard_stats;
