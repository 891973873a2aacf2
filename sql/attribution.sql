--
-- Attribution: an abort belongs to the role the client was acting as when
-- its statement started, never to the owner of a SECURITY DEFINER function
-- running inside it.  That role's texts are visible to it and hidden from
-- other roles, and the statistics count the abort under it.
--
CREATE ROLE regress_txg_alice LOGIN;
CREATE ROLE regress_txg_bob LOGIN;
CREATE ROLE regress_txg_bob_member LOGIN IN ROLE regress_txg_bob;
CREATE SCHEMA regress_txg_alice AUTHORIZATION regress_txg_alice;
GRANT USAGE ON SCHEMA regress_txg_alice TO PUBLIC;

-- alice's SECURITY DEFINER functions: one IMMUTABLE, which the planner
-- folds when its argument is a constant (it raises while bob's statement
-- is planned), one VOLATILE (it raises while the statement runs)
SET ROLE regress_txg_alice;
CREATE FUNCTION regress_txg_alice.check_fold(int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS
$$ BEGIN RAISE EXCEPTION 'alice rejects %', $1 USING DETAIL = 'folded'; END $$;
CREATE FUNCTION regress_txg_alice.check_run(int) RETURNS int
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER AS
$$ BEGIN RAISE EXCEPTION 'alice rejects %', $1 USING DETAIL = 'run'; END $$;
RESET ROLE;

-- a superuser's SECURITY DEFINER function, folded at plan time as well
CREATE FUNCTION txg_su_check(int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS
$$ BEGIN RAISE EXCEPTION 'superuser rejects %', $1 USING DETAIL = 'su'; END $$;
GRANT EXECUTE ON FUNCTION txg_su_check(int) TO PUBLIC;

SELECT txguard_reset();

-- bob's three statements, each aborting a block
SET SESSION AUTHORIZATION regress_txg_bob;
BEGIN;
SELECT 'bob secret 1', regress_txg_alice.check_fold(42);
ROLLBACK;
SELECT usename, sqlstate, message, detail, statement FROM txguard_last_abort();
BEGIN;
SELECT 'bob secret 2', regress_txg_alice.check_run(43);
ROLLBACK;
SELECT usename, sqlstate, message, detail, statement FROM txguard_last_abort();
BEGIN;
SELECT 'bob secret 3', txg_su_check(44);
ROLLBACK;
SELECT usename, sqlstate, message, detail, statement FROM txguard_last_abort();
-- bob reads his own rows, texts included
SELECT usename, message, detail, statement FROM txguard_aborts ORDER BY seq;
RESET SESSION AUTHORIZATION;

-- alice, the owner of two of the functions, sees bob's rows without their
-- texts
SET ROLE regress_txg_alice;
SELECT usename, sqlstate, message, detail, statement
  FROM txguard_aborts ORDER BY seq;
SELECT usename, sqlstate, count(statement) AS texts_seen
  FROM txguard_statement_stats GROUP BY 1, 2;
RESET ROLE;

-- a member of bob sees them
SET ROLE regress_txg_bob_member;
SELECT usename, message FROM txguard_aborts ORDER BY seq;
RESET ROLE;

-- the statistics count every abort under bob
SELECT usename, sqlstate, aborts, aborted_blocks FROM txguard_stats;
SELECT usename, sqlstate, sum(aborts) AS aborts, min(statement) AS a_statement
  FROM txguard_statement_stats GROUP BY 1, 2;

-- SET ROLE and SET SESSION AUTHORIZATION: the role acted as is the one set
SELECT txguard_reset();
SET ROLE regress_txg_alice;
BEGIN;
SELECT 1/0 AS alice_by_set_role;
ROLLBACK;
RESET ROLE;
SET SESSION AUTHORIZATION regress_txg_bob;
BEGIN;
SELECT 1/0 AS bob_by_session_authorization;
ROLLBACK;
RESET SESSION AUTHORIZATION;
SELECT usename, statement FROM txguard_aborts ORDER BY seq;

-- a statement that changes the role while it runs, then fails: the abort
-- undoes the change, and belongs to the role the statement started as
SELECT txguard_reset();
BEGIN;
SELECT set_config('role', 'regress_txg_alice', false), 1/g AS after_set_config
  FROM generate_series(0, 0) g;
ROLLBACK;
SELECT current_user = session_user AS role_restored;
SELECT usename = session_user AS the_starting_role, statement FROM txguard_aborts;
SELECT usename = session_user AS the_starting_role, aborts FROM txguard_stats;

SELECT txguard_reset();
DROP FUNCTION txg_su_check(int);
DROP SCHEMA regress_txg_alice CASCADE;
DROP ROLE regress_txg_bob_member;
DROP ROLE regress_txg_bob;
DROP ROLE regress_txg_alice;
