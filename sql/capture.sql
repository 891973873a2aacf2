--
-- The cause of an aborted transaction block is named on every 25P02.
--
CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, age int CHECK (age >= 0));
INSERT INTO users VALUES (1, 'a@x.org', 30);

-- the classic case: a unique violation, then every command is refused
BEGIN;
INSERT INTO users VALUES (2, 'b@x.org', 20);
INSERT INTO users VALUES (3, 'a@x.org', 40);
SELECT count(*) FROM users;
UPDATE users SET age = 1;
ROLLBACK;
SELECT sqlstate, message, detail, constraint_name, table_name, statement,
       statement_ordinal, in_block, in_savepoint, ignored_commands, ended_by
  FROM txguard_last_abort();

-- an error raised while aborted (ROLLBACK TO a savepoint that does not exist)
-- is one more ignored command, never a new cause
BEGIN;
SELECT 1/0;
ROLLBACK TO SAVEPOINT nosuch;
SELECT 1;
ROLLBACK;
SELECT sqlstate, message, statement, ignored_commands, ended_by
  FROM txguard_last_abort();

-- errors raised before execution: parse analysis, the grammar, planning
BEGIN;
SELECT 1;
SELECT nosuchcolumn FROM users;
SELECT 1;
ROLLBACK;
SELECT sqlstate, column_name, statement, statement_ordinal FROM txguard_last_abort();

BEGIN;
SELEC 1;
SELECT 1;
ROLLBACK;

BEGIN;
SELECT * FROM nosuchtable;
SELECT 1;
ROLLBACK;

-- a check violation, with its constraint and table
BEGIN;
UPDATE users SET age = -1 WHERE id = 1;
SELECT 1;
ROLLBACK;
SELECT sqlstate, constraint_name, table_name, statement_ordinal FROM txguard_last_abort();

-- a trigger's error carries its context
CREATE FUNCTION users_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.email LIKE '%@blocked.org' THEN
        RAISE EXCEPTION 'blocked domain: %', NEW.email
            USING ERRCODE = 'P0001', HINT = 'Use another address.';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER users_guard BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION users_guard();
BEGIN;
INSERT INTO users VALUES (4, 'x@blocked.org', 1);
SELECT 1;
ROLLBACK;
SELECT sqlstate, message, hint, context, statement FROM txguard_last_abort();

-- several statements in one query string: the statement that failed is cut
-- out of it, and counted from the start of the transaction
BEGIN \; INSERT INTO users VALUES (5, 'e@x.org', 5) \; INSERT INTO users VALUES (1, 'f@x.org', 6) \; SELECT 'not reached';
SELECT 1;
ROLLBACK;
SELECT sqlstate, statement, statement_ordinal FROM txguard_last_abort();

-- an error inside a function called by a query: the internal query is kept
CREATE FUNCTION bad_lookup() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'SELECT count(*) FROM nosuchtable_in_function';
    RETURN 0;
END $$;
BEGIN;
SELECT bad_lookup();
SELECT 1;
ROLLBACK;
SELECT sqlstate, internal_query, context, statement FROM txguard_last_abort();

-- an error raised in a parallel worker is reported once, by the leader
CREATE FUNCTION fail_in_worker(int) RETURNS int LANGUAGE plpgsql PARALLEL SAFE AS $$
BEGIN
    IF $1 > 0 THEN
        RAISE EXCEPTION 'raised in a worker' USING ERRCODE = '22000';
    END IF;
    RETURN $1;
END $$;
CREATE TABLE par AS SELECT g FROM generate_series(1, 10) g;
ANALYZE par;
-- force_parallel_mode was renamed debug_parallel_query in 16
SELECT CASE WHEN current_setting('server_version_num')::int >= 160000
            THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END AS parallel_guc \gset
SET :parallel_guc = regress;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT txguard_reset();
BEGIN;
SELECT fail_in_worker(g) FROM par;
SELECT 1;
ROLLBACK;
RESET :parallel_guc;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
SELECT sqlstate, message, pid = pg_backend_pid() AS by_leader, ended_by
  FROM txguard_aborts;

-- a statement_timeout cancellation
BEGIN;
SET LOCAL statement_timeout = '10ms';
SELECT pg_sleep(1);
SELECT 1;
ROLLBACK;
SELECT sqlstate, message, statement FROM txguard_last_abort();

-- txguard.enabled = off: nothing is captured or added
SET txguard.enabled = off;
BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
RESET txguard.enabled;
SELECT sqlstate, statement FROM txguard_last_abort();	-- still the timeout
