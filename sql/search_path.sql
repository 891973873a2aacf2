--
-- Every view and function of txguard resolves no name through the caller's
-- search_path.  A hostile role plants, in a schema the caller puts first
-- (before pg_catalog, the worst case), a look-alike of every txguard
-- function with its exact signature, look-alikes of catalog functions and
-- relations, and comparison operators that give wrong answers.  Every view
-- and function is then read under that path, as a superuser and as an
-- ordinary role: no look-alike may run (each raises a NOTICE), and the rows
-- must be the real ones.  The rows are kept in temporary tables and
-- checked once the path is safe again, so that the checks themselves use
-- no look-alike.
--
CREATE TABLE sp_target (id int PRIMARY KEY);
INSERT INTO sp_target VALUES (1);
GRANT SELECT ON sp_target TO PUBLIC;
CREATE ROLE regress_txg_hostile;
CREATE ROLE regress_txg_reader;
CREATE SCHEMA hostile AUTHORIZATION regress_txg_hostile;
GRANT USAGE ON SCHEMA hostile TO PUBLIC;

SET ROLE regress_txg_hostile;
-- a look-alike of every function of the extension, same name and arguments
DO $$
DECLARE
    f record;
BEGIN
    FOR f IN
        SELECT p.proname, pg_get_function_arguments(p.oid) AS args,
               pg_get_function_result(p.oid) AS result
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_depend d
            ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid
           AND d.refclassid = 'pg_catalog.pg_extension'::regclass
          JOIN pg_catalog.pg_extension e
            ON e.oid = d.refobjid AND e.extname = 'txguard'
    LOOP
        EXECUTE format('CREATE FUNCTION hostile.%I(%s) RETURNS %s LANGUAGE plpgsql AS %L',
                       f.proname, f.args, f.result,
                       format('BEGIN RAISE NOTICE %L; RETURN; END',
                              'hostile ' || f.proname || ' called'));
    END LOOP;
END $$;
-- look-alikes of catalog functions and relations a definition could use
CREATE FUNCTION hostile.pg_backend_pid() RETURNS integer LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile pg_backend_pid called'; RETURN -1; END $$;
CREATE FUNCTION hostile.now() RETURNS timestamptz LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile now called'; RETURN 'epoch'; END $$;
CREATE FUNCTION hostile.current_setting(text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile current_setting called'; RETURN 'x'; END $$;
CREATE FUNCTION hostile.current_database() RETURNS name LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile current_database called'; RETURN 'x'; END $$;
CREATE FUNCTION hostile.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile unnest called'; RETURN; END $$;
CREATE TABLE hostile.pg_stat_activity (pid integer, usename name, query text);
CREATE TABLE hostile.pg_database (oid oid, datname name);
CREATE TABLE hostile.pg_roles (oid oid, rolname name);
CREATE TABLE hostile.pg_authid (oid oid, rolname name);
-- comparison operators that answer wrongly, on the types of the columns
-- and on the pairs of types that have operators of their own
DO $$
DECLARE
    p text[];
    o record;
BEGIN
    FOREACH p SLICE 1 IN ARRAY ARRAY[['integer', 'integer'], ['bigint', 'bigint'],
                                     ['bigint', 'integer'], ['integer', 'bigint'],
                                     ['oid', 'oid'], ['text', 'text'], ['name', 'name'],
                                     ['name', 'text'], ['text', 'name'],
                                     ['timestamptz', 'timestamptz'],
                                     ['boolean', 'boolean']]
    LOOP
        FOR o IN SELECT * FROM (VALUES ('=', 'eq'), ('<>', 'ne'), ('<', 'lt'),
                                       ('<=', 'le'), ('>', 'gt'), ('>=', 'ge')) v(op, nm)
        LOOP
            EXECUTE format('CREATE FUNCTION hostile.%I(%s, %s) RETURNS boolean LANGUAGE plpgsql AS %L',
                           o.nm || '_' || p[1] || '_' || p[2], p[1], p[2],
                           format('BEGIN RAISE NOTICE %L; RETURN NOT ($1 OPERATOR(pg_catalog.%s) $2); END',
                                  'hostile ' || p[1] || ' ' || o.op || ' ' || p[2] || ' called', o.op));
            EXECUTE format('CREATE OPERATOR hostile.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = hostile.%I)',
                           o.op, p[1], p[2], o.nm || '_' || p[1] || '_' || p[2]);
        END LOOP;
    END LOOP;
END $$;
RESET ROLE;
SELECT count(*) = (SELECT count(*) FROM pg_depend
                    WHERE classid = 'pg_proc'::regclass
                      AND refclassid = 'pg_extension'::regclass
                      AND refobjid = (SELECT oid FROM pg_extension
                                       WHERE extname = 'txguard')) AS one_for_each
  FROM pg_proc
 WHERE pronamespace = 'hostile'::regnamespace AND proname LIKE 'txguard\_%';

-- something in every view: an aborted block and an autocommit failure
SELECT txguard_reset();
SET application_name = 'regress_txg_search_path';
BEGIN;
INSERT INTO sp_target VALUES (1);
SELECT 1;
ROLLBACK;
SELECT 1/0;

-- read everything under the hostile path, first as the superuser
SET search_path = hostile, pg_catalog, public;
CREATE TEMP TABLE sp_aborts AS SELECT 'superuser' AS reader, * FROM public.txguard_aborts;
CREATE TEMP TABLE sp_history AS
    SELECT 'superuser' AS reader, * FROM public.txguard_abort_history(pg_catalog.pg_backend_pid());
CREATE TEMP TABLE sp_last AS SELECT 'superuser' AS reader, * FROM public.txguard_last_abort();
CREATE TEMP TABLE sp_sessions AS SELECT 'superuser' AS reader, * FROM public.txguard_aborted_sessions;
CREATE TEMP TABLE sp_stats AS SELECT 'superuser' AS reader, * FROM public.txguard_stats;
CREATE TEMP TABLE sp_stmt AS SELECT 'superuser' AS reader, * FROM public.txguard_statement_stats;
CREATE TEMP TABLE sp_app AS SELECT 'superuser' AS reader, * FROM public.txguard_application_stats;
CREATE TEMP TABLE sp_db AS SELECT 'superuser' AS reader, * FROM public.txguard_database_stats;
CREATE TEMP TABLE sp_codes AS SELECT 'superuser' AS reader, * FROM public.txguard_error_codes;
CREATE TEMP TABLE sp_info AS SELECT 'superuser' AS reader, * FROM public.txguard_info();
GRANT ALL ON sp_aborts, sp_history, sp_last, sp_sessions, sp_stats, sp_stmt,
    sp_app, sp_db, sp_codes, sp_info TO regress_txg_reader;
RESET search_path;

-- then as an ordinary role with the same path
SET ROLE regress_txg_reader;
SET search_path = hostile, pg_catalog, public;
INSERT INTO pg_temp.sp_aborts SELECT 'reader', * FROM public.txguard_aborts;
INSERT INTO pg_temp.sp_history
    SELECT 'reader', * FROM public.txguard_abort_history(pg_catalog.pg_backend_pid());
INSERT INTO pg_temp.sp_last SELECT 'reader', * FROM public.txguard_last_abort();
INSERT INTO pg_temp.sp_sessions SELECT 'reader', * FROM public.txguard_aborted_sessions;
INSERT INTO pg_temp.sp_stats SELECT 'reader', * FROM public.txguard_stats;
INSERT INTO pg_temp.sp_stmt SELECT 'reader', * FROM public.txguard_statement_stats;
INSERT INTO pg_temp.sp_app SELECT 'reader', * FROM public.txguard_application_stats;
INSERT INTO pg_temp.sp_db SELECT 'reader', * FROM public.txguard_database_stats;
INSERT INTO pg_temp.sp_codes SELECT 'reader', * FROM public.txguard_error_codes;
INSERT INTO pg_temp.sp_info SELECT 'reader', * FROM public.txguard_info();
RESET search_path;
RESET ROLE;

-- what each reader got: the real rows, the texts for the superuser only
-- (the ordinary role is neither the rows' role nor in pg_read_all_stats)
SELECT reader, sqlstate, statement, ignored_commands, ended_by
  FROM sp_aborts ORDER BY reader DESC, seq;
SELECT reader, sqlstate, statement, ended_by FROM sp_history ORDER BY reader DESC, seq;
SELECT reader, sqlstate, statement, in_block FROM sp_last ORDER BY reader DESC;
SELECT count(*) AS aborted_sessions FROM sp_sessions;
SELECT reader, usename = current_user AS me, sqlstate, aborts, aborted_blocks
  FROM sp_stats ORDER BY reader DESC, sqlstate;
SELECT reader, sqlstate, sum(aborts) AS aborts, count(statement) AS texts
  FROM sp_stmt GROUP BY reader, sqlstate ORDER BY reader DESC, sqlstate;
SELECT reader, application_name, sqlstate, aborts FROM sp_app
 ORDER BY reader DESC, sqlstate;
SELECT reader, datname = current_database() AS this_db, error_aborts, aborted_blocks
  FROM sp_db ORDER BY reader DESC;
SELECT reader, count(*) > 200 AS many, count(*) FILTER (WHERE sqlstate = '25P02') AS in_failed
  FROM sp_codes GROUP BY reader ORDER BY reader DESC;
SELECT reader, history_size, history_written, track FROM sp_info ORDER BY reader DESC;

-- txguard_reset() resolves nothing either
SET search_path = hostile, pg_catalog, public;
SELECT public.txguard_reset();
RESET search_path;
SELECT count(*) AS left_after_reset FROM txguard_aborts;

RESET application_name;
SET client_min_messages = warning;
DROP SCHEMA hostile CASCADE;
RESET client_min_messages;
DROP TABLE sp_aborts, sp_history, sp_last, sp_sessions, sp_stats, sp_stmt,
    sp_app, sp_db, sp_codes, sp_info;
DROP ROLE regress_txg_hostile;
DROP ROLE regress_txg_reader;
DROP TABLE sp_target;
