-- txguard demo: what a client sees when a transaction is aborted, with and without txguard.
-- Run against a server with shared_preload_libraries = 'txguard' (scripts/setup.sh does this):
--     psql -X -h 127.0.0.1 -p 55432 -U postgres < scripts/demo.sql
\set ECHO none
\set QUIET 1
\set ON_ERROR_STOP 0
\set VERBOSITY default
\set SHOW_CONTEXT never
\pset null '-'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS txguard;
DROP TABLE IF EXISTS accounts;
RESET client_min_messages;
\unset QUIET
\set ECHO queries

\echo
\echo '---- 1. The problem: "current transaction is aborted" (SQLSTATE 25P02) ----------'
\echo 'A table with a unique key, and one row:'
CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL);
INSERT INTO accounts VALUES (1, 'alice');

\echo
\echo '1a. Plain PostgreSQL (txguard.annotate = off). An application runs a transaction;'
\echo '    statement 2 fails, the application swallows that error and carries on:'
SET txguard.annotate = off;
BEGIN;
UPDATE accounts SET owner = 'alice smith' WHERE id = 1;
INSERT INTO accounts VALUES (1, 'bob');
\echo '    -> SQLSTATE' :LAST_ERROR_SQLSTATE
SELECT count(*) FROM accounts;
\echo '    -> SQLSTATE' :LAST_ERROR_SQLSTATE
ROLLBACK;
\echo '    => The 25P02 error says THAT the transaction is aborted, not WHY. The real cause'
\echo '       (23505 in statement 2) is usually logged nowhere near the 25P02 that surfaces.'

\echo
\echo '1b. The same transaction with txguard (default txguard.annotate = detail):'
RESET txguard.annotate;
BEGIN;
UPDATE accounts SET owner = 'alice smith' WHERE id = 1;
INSERT INTO accounts VALUES (1, 'bob');
SELECT count(*) FROM accounts;
\echo '    -> SQLSTATE' :LAST_ERROR_SQLSTATE
UPDATE accounts SET owner = 'bob' WHERE id = 2;
ROLLBACK;
\echo '    => Same SQLSTATE 25P02, same message, so client code is unaffected; the DETAIL'
\echo '       names the error that aborted the transaction and the statement that raised it.'

\echo
\echo '1c. For clients that only show the primary message, txguard.annotate = message:'
SET txguard.annotate = message;
BEGIN;
INSERT INTO accounts VALUES (1, 'bob');
SELECT count(*) FROM accounts;
ROLLBACK;
RESET txguard.annotate;

\echo
\echo '---- 2. History and statistics -------------------------------------------------'
\echo 'txguard_aborts: every transaction-aborting error, how the aborted block ended'
\echo '(newest first; in_block = a transaction block was left aborted, ignored = commands refused with 25P02):'
SELECT seq, sqlstate, constraint_name, statement_ordinal AS stmt_no, statement,
       in_block, ignored_commands AS ignored, ended_by
  FROM txguard_aborts
 ORDER BY seq DESC
 LIMIT 5;

\echo 'txguard_stats: counters per database, user and SQLSTATE:'
SELECT datname, usename, sqlstate, aborts, aborted_blocks, ignored_commands, sessions_terminated
  FROM txguard_stats
 ORDER BY datname, usename, sqlstate;
