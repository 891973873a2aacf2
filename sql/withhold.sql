--
-- A WITH HOLD cursor is materialised when its transaction commits, under a
-- portal of its own that is no client statement: an error while it is
-- materialised is a commit-time error (at_commit), charged to the COMMIT,
-- or, without a block, to the statement whose implicit commit failed.
-- The query fails on its second row (g = 2), so only the materialisation
-- at commit can raise it: DECLARE itself runs nothing.
--
SELECT txguard_reset();

-- autocommit: the DECLARE is statement 1, and its own implicit commit fails
DECLARE wh_auto CURSOR WITH HOLD FOR SELECT 1/(g-2) FROM generate_series(1,3) g;
SELECT 'not aborted';
SELECT sqlstate, message, statement, statement_ordinal, at_commit, in_block,
       ended_by
  FROM txguard_last_abort();

-- an explicit block: the COMMIT (statement 3) fails, and the block ends there
BEGIN;
SELECT 'one';
DECLARE wh_block CURSOR WITH HOLD FOR SELECT 1/(g-2) FROM generate_series(1,3) g;
COMMIT;
SELECT 'not aborted';
SELECT sqlstate, statement, statement_ordinal, at_commit, in_block, ended_by
  FROM txguard_last_abort();

-- the same block sent as one query string: BEGIN is no statement, the
-- COMMIT is statement 2
BEGIN \; DECLARE wh_string CURSOR WITH HOLD FOR SELECT 1/(g-2) FROM generate_series(1,3) g \; COMMIT;
SELECT sqlstate, statement, statement_ordinal, at_commit, in_block, ended_by
  FROM txguard_last_abort();

-- a multi-statement string without BEGIN: its implicit commit fails, which
-- is charged to its last statement (2), with the whole string as text (no
-- statement of it returns rows: psql before 15 shows only the last result)
SET work_mem = '8MB' \; DECLARE wh_implicit CURSOR WITH HOLD FOR SELECT 1/(g-2) FROM generate_series(1,3) g;
SELECT sqlstate, statement, statement_ordinal, at_commit, in_block, ended_by
  FROM txguard_last_abort();

-- none of the cursors survived its failed commit
SELECT count(*) FROM pg_cursors;

-- COMMIT AND CHAIN fails the same way, and starts no new block
BEGIN;
DECLARE wh_chain CURSOR WITH HOLD FOR SELECT 1/(g-2) FROM generate_series(1,3) g;
COMMIT AND CHAIN;
SELECT sqlstate, statement, statement_ordinal, at_commit, in_block, ended_by
  FROM txguard_last_abort();
SELECT transaction_timestamp() = statement_timestamp() AS autocommit;

-- none of these left a block aborted: the history (track = blocks) keeps
-- none of them, the statistics count them all
SELECT sqlstate, statement_ordinal, at_commit FROM txguard_aborts;
SELECT sqlstate, aborts, aborted_blocks FROM txguard_stats;
