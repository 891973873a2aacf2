--
-- Bad input gets a clear error, never a crash or a silently wrong value.
--
SET txguard.annotate = 'sometimes';
SET txguard.track = 'everything';
SET txguard.enabled = 'maybe';
SET txguard.log_aborts = 2;
SET txguard.store_detail = '';
SET txguard.max_statement_length = 100;
SET txguard.history_size = 10;
ALTER SYSTEM SET txguard.history_size = -1;
ALTER SYSTEM SET txguard.history_size = 100001;
ALTER SYSTEM SET txguard.max_statement_length = 10;
ALTER SYSTEM SET txguard.max_statement_length = '1GB';
ALTER SYSTEM SET txguard.annotate = 'loud';
ALTER SYSTEM SET txguard.idle_in_aborted_transaction_timeout = '-5s';
ALTER SYSTEM SET txguard.nosuch = 1;
SHOW txguard.annotate;
SHOW txguard.track;

-- function arguments
SELECT count(*) FROM txguard_abort_history(NULL::integer);
SELECT count(*) FROM txguard_abort_history(-2147483648);
SELECT count(*) FROM txguard_abort_history(2147483647);
SELECT count(*) FROM txguard_abort_history(3000000000);
SELECT count(*) FROM txguard_abort_history('abc');

-- a statement of 1 MB: kept cut at 256 bytes
CREATE TABLE bi (id int PRIMARY KEY);
INSERT INTO bi VALUES (1);
BEGIN;
\set ECHO none
SELECT format('INSERT INTO bi VALUES (1) /* %s */', repeat('x', 1048576)) \gexec
\set ECHO all
SELECT 1;
ROLLBACK;
SELECT octet_length(statement) AS bytes, left(statement, 30) AS head, ignored_commands
  FROM txguard_last_abort();

-- multibyte text cut exactly at the limit: 255 bytes of ASCII then a
-- two-byte character must not leave half of it
BEGIN;
\set ECHO none
SELECT format('SELECT 1/0, ''%s''', repeat('a', 242) || 'üü') \gexec
\set ECHO all
SELECT 1;
ROLLBACK;
SELECT octet_length(statement) AS bytes, right(statement, 5) AS tail,
       convert_from(convert_to(statement, 'UTF8'), 'UTF8') = statement AS valid
  FROM txguard_last_abort();

-- errors with few fields: no detail, no statement position
BEGIN;
DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '22000'; END $$;
SELECT 1;
ROLLBACK;
SELECT sqlstate, message, detail, hint FROM txguard_last_abort();

-- client_min_messages and log_min_messages at their extremes
SET client_min_messages = panic;
BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
RESET client_min_messages;
SELECT sqlstate, ignored_commands FROM txguard_last_abort();
SET log_min_messages = debug5;
SET client_min_messages = error;
BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
RESET client_min_messages;
RESET log_min_messages;
-- with log_min_messages above error, core does not pass errors to the hook:
-- txguard cannot name the cause, and says so once
SET log_min_messages = fatal;
BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
SELECT errors_visible FROM txguard_info();
RESET log_min_messages;
SELECT errors_visible FROM txguard_info();
