--
-- The extension in another schema, dropped and re-created while the library
-- keeps working, and safe against look-alike objects planted by a hostile
-- role in a schema on the search_path.
--
SELECT txguard_reset();
DROP EXTENSION txguard;

-- the library still names the cause without its SQL objects
CREATE TABLE sc (id int PRIMARY KEY);
INSERT INTO sc VALUES (1);
BEGIN;
INSERT INTO sc VALUES (1);
SELECT 1;
ROLLBACK;

-- a hostile role plants look-alikes in a schema that comes first on the
-- search_path: functions named like txguard's and like the catalog's, and
-- operators on the types the views sort and compare
CREATE ROLE regress_txg_hostile;
CREATE SCHEMA hostile AUTHORIZATION regress_txg_hostile;
SET ROLE regress_txg_hostile;
CREATE FUNCTION hostile.txguard_abort_history(integer DEFAULT NULL)
    RETURNS SETOF record LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile txguard_abort_history called'; END $$;
CREATE FUNCTION hostile.txguard_stats()
    RETURNS SETOF record LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile txguard_stats called'; END $$;
CREATE FUNCTION hostile.lt(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile < called'; RETURN $1 OPERATOR(pg_catalog.<) $2; END $$;
CREATE FUNCTION hostile.gt(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile > called'; RETURN $1 OPERATOR(pg_catalog.>) $2; END $$;
CREATE FUNCTION hostile.eq(bigint, bigint) RETURNS boolean LANGUAGE plpgsql
    AS $$ BEGIN RAISE NOTICE 'hostile = called'; RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR hostile.< (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = hostile.lt);
CREATE OPERATOR hostile.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = hostile.gt);
CREATE OPERATOR hostile.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = hostile.eq);
RESET ROLE;

-- install txguard into its own schema with the hostile schema first on the
-- search_path
CREATE SCHEMA txg;
SET search_path = hostile, txg, public;
CREATE EXTENSION txguard SCHEMA txg;

BEGIN;
INSERT INTO sc VALUES (1);
SELECT 1;
ROLLBACK;

-- no NOTICE from the look-alikes: the views call txguard's own functions
SELECT sqlstate, ended_by FROM txg.txguard_aborts;
SELECT sqlstate, aborts FROM txg.txguard_stats;
SELECT count(*) FROM txg.txguard_aborted_sessions;
SELECT sqlstate FROM txg.txguard_last_abort();

-- the history kept in shared memory survived DROP and CREATE EXTENSION
SELECT count(*) >= 2 AS kept FROM txg.txguard_abort_history();

RESET search_path;
DROP EXTENSION txguard;
DROP SCHEMA txg;
DROP SCHEMA hostile CASCADE;
DROP ROLE regress_txg_hostile;
CREATE EXTENSION txguard;
DROP TABLE sc;
