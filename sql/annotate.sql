--
-- txguard.annotate: detail (default), message, off.  SQLSTATE and primary
-- message of the 25P02 stay as core wrote them unless "message" is asked for.
--
CREATE TABLE an (id int PRIMARY KEY);
INSERT INTO an VALUES (1);

-- the SQLSTATE and primary message the client gets for each 25P02
BEGIN;
INSERT INTO an VALUES (1);
SELECT 1;
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
ROLLBACK;

SET txguard.annotate = message;
BEGIN;
INSERT INTO an VALUES (1);
SELECT 1;
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
ROLLBACK;

SET txguard.annotate = off;
BEGIN;
INSERT INTO an VALUES (1);
SELECT 1;
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE
ROLLBACK;
RESET txguard.annotate;

-- SET inside the failing transaction is undone by the abort itself: the
-- setting that counts is the one in force before the transaction
BEGIN;
SET LOCAL txguard.annotate = off;
INSERT INTO an VALUES (1);
SELECT 1;
ROLLBACK;

-- any user may choose for the session
CREATE ROLE regress_txguard_annot;
SET ROLE regress_txguard_annot;
SET txguard.annotate = off;
RESET txguard.annotate;
RESET ROLE;
DROP ROLE regress_txguard_annot;

\set VERBOSITY terse
BEGIN;
INSERT INTO an VALUES (1);
SELECT 1;
ROLLBACK;
\set VERBOSITY default

-- a long statement is cut at txguard.max_statement_length (256 bytes in the
-- test configuration) on a character boundary, and marked with "..."
BEGIN;
SELECT 'ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé' AS x, 1/0 AS y;
SELECT 1;
ROLLBACK;
SELECT octet_length(statement) AS bytes, length(statement) AS chars,
       right(statement, 3) AS tail
  FROM txguard_last_abort();
