--
-- Errors caught by PL/pgSQL exception handlers are never causes.
--
-- (PL/pgSQL's CONTEXT lines differ between majors; they are not the subject)
\set SHOW_CONTEXT never
CREATE TABLE pl (id int PRIMARY KEY);
INSERT INTO pl VALUES (1);

-- a handler catches the unique violation: no abort, nothing recorded
CREATE FUNCTION insert_or_skip(int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pl VALUES ($1);
    RETURN 'inserted';
EXCEPTION WHEN unique_violation THEN
    RETURN 'skipped';
END $$;

SELECT txguard_reset();
BEGIN;
SELECT insert_or_skip(1);
SELECT insert_or_skip(2);
COMMIT;
SELECT count(*) FROM txguard_aborts;

-- a handler catches one error, then another error escapes: that one is the
-- cause
CREATE FUNCTION catch_then_fail() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        INSERT INTO pl VALUES (1);
    EXCEPTION WHEN unique_violation THEN
        NULL;
    END;
    RETURN 1/0;
END $$;
BEGIN;
SELECT catch_then_fail();
SELECT 1;
ROLLBACK;
SELECT sqlstate, message, statement FROM txguard_last_abort();

-- a handler that does not match lets the original error through
CREATE FUNCTION wrong_handler() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pl VALUES (1);
    RETURN 0;
EXCEPTION WHEN division_by_zero THEN
    RETURN -1;
END $$;
BEGIN;
SELECT wrong_handler();
SELECT 1;
ROLLBACK;
SELECT sqlstate, constraint_name FROM txguard_last_abort();

-- RAISE; inside a handler re-throws the same error
CREATE FUNCTION rethrow() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1/0;
    RETURN 0;
EXCEPTION WHEN division_by_zero THEN
    RAISE;
END $$;
BEGIN;
SELECT rethrow();
SELECT 1;
ROLLBACK;
SELECT sqlstate, message FROM txguard_last_abort();

-- only the error that escapes counts, not the caught ones before it
SELECT sqlstate, count(*) FROM txguard_aborts GROUP BY 1 ORDER BY 1;
