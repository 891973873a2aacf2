/* txguard--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION txguard UPDATE TO '1.1'" to load this file. \quit

-- Abort records name the query id of the failing statement and the meaning
-- of the SQLSTATE, and say whether the error came at commit.
DROP VIEW @extschema@.txguard_aborts;

ALTER TYPE @extschema@.txguard_abort
    ADD ATTRIBUTE queryid           bigint,
    ADD ATTRIBUTE condition_name    text,
    ADD ATTRIBUTE error_class       text,
    ADD ATTRIBUTE retryable         boolean,
    ADD ATTRIBUTE at_commit         boolean;

CREATE VIEW @extschema@.txguard_aborts AS
    SELECT * FROM @extschema@.txguard_abort_history()
    ORDER BY seq DESC;
GRANT SELECT ON @extschema@.txguard_aborts TO PUBLIC;

-- Live sessions: the query id and condition name of the cause.
DROP VIEW @extschema@.txguard_aborted_sessions;
DROP FUNCTION @extschema@.txguard_aborted_sessions();

CREATE FUNCTION @extschema@.txguard_aborted_sessions(
    OUT pid                 integer,
    OUT backend_start       timestamp with time zone,
    OUT datid               oid,
    OUT datname             name,
    OUT userid              oid,
    OUT usename             name,
    OUT application_name    text,
    OUT xact_start          timestamp with time zone,
    OUT aborted_since       timestamp with time zone,
    OUT idle_since          timestamp with time zone,
    OUT sqlstate            text,
    OUT message             text,
    OUT statement           text,
    OUT statement_ordinal   integer,
    OUT in_savepoint        boolean,
    OUT ignored_commands    bigint,
    OUT queryid             bigint,
    OUT condition_name      text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_aborted_sessions'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.txguard_aborted_sessions AS
    SELECT * FROM @extschema@.txguard_aborted_sessions();
GRANT SELECT ON @extschema@.txguard_aborted_sessions TO PUBLIC;

-- Statistics per database, role and SQLSTATE: the meaning of the SQLSTATE.
DROP VIEW @extschema@.txguard_stats;
DROP FUNCTION @extschema@.txguard_stats();

CREATE FUNCTION @extschema@.txguard_stats(
    OUT datid               oid,
    OUT datname             name,
    OUT userid              oid,
    OUT usename             name,
    OUT sqlstate            text,
    OUT aborts              bigint,
    OUT aborted_blocks      bigint,
    OUT ignored_commands    bigint,
    OUT sessions_terminated bigint,
    OUT first_seen          timestamp with time zone,
    OUT last_seen           timestamp with time zone,
    OUT stats_reset         timestamp with time zone,
    OUT condition_name      text,
    OUT error_class         text,
    OUT retryable           boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.txguard_stats AS
    SELECT * FROM @extschema@.txguard_stats();
GRANT SELECT ON @extschema@.txguard_stats TO PUBLIC;

-- Statistics per database, role, query id and SQLSTATE, with a sample
-- statement: joins pg_stat_statements on (userid, dbid, queryid).
CREATE FUNCTION @extschema@.txguard_statement_stats(
    OUT datid               oid,
    OUT datname             name,
    OUT userid              oid,
    OUT usename             name,
    OUT queryid             bigint,
    OUT sqlstate            text,
    OUT condition_name      text,
    OUT error_class         text,
    OUT retryable           boolean,
    OUT aborts              bigint,
    OUT aborted_blocks      bigint,
    OUT ignored_commands    bigint,
    OUT sessions_terminated bigint,
    OUT first_seen          timestamp with time zone,
    OUT last_seen           timestamp with time zone,
    OUT statement           text,
    OUT stats_reset         timestamp with time zone)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_statement_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.txguard_statement_stats AS
    SELECT * FROM @extschema@.txguard_statement_stats();
GRANT SELECT ON @extschema@.txguard_statement_stats TO PUBLIC;

-- Every error abort per database, whatever txguard.track says: the error
-- abort rate, apart from voluntary rollbacks.
CREATE FUNCTION @extschema@.txguard_database_stats(
    OUT datid                   oid,
    OUT datname                 name,
    OUT error_aborts            bigint,
    OUT savepoint_error_aborts  bigint,
    OUT aborted_blocks          bigint,
    OUT ignored_commands        bigint,
    OUT sessions_terminated     bigint,
    OUT last_error              timestamp with time zone,
    OUT stats_reset             timestamp with time zone)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_database_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.txguard_database_stats AS
    SELECT * FROM @extschema@.txguard_database_stats();
GRANT SELECT ON @extschema@.txguard_database_stats TO PUBLIC;

-- Every SQLSTATE the server knows (from its errcodes.txt).
CREATE FUNCTION @extschema@.txguard_error_codes(
    OUT sqlstate            text,
    OUT condition_name      text,
    OUT error_class         text,
    OUT class_name          text,
    OUT retryable           boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_error_codes'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE VIEW @extschema@.txguard_error_codes AS
    SELECT * FROM @extschema@.txguard_error_codes();
GRANT SELECT ON @extschema@.txguard_error_codes TO PUBLIC;

-- txguard_info(): the statement statistics and the restored file.
DROP FUNCTION @extschema@.txguard_info();

CREATE FUNCTION @extschema@.txguard_info(
    OUT history_size        integer,
    OUT history_written     bigint,
    OUT history_overwritten bigint,
    OUT history_dropped     bigint,
    OUT stats_entries       integer,
    OUT stats_max           integer,
    OUT stats_dropped       bigint,
    OUT stats_reset         timestamp with time zone,
    OUT track               text,
    OUT errors_visible      boolean,
    OUT statements          integer,
    OUT statements_max      integer,
    OUT statements_evicted  bigint,
    OUT databases_dropped   bigint,
    OUT restored_at         timestamp with time zone)
RETURNS record
AS 'MODULE_PATHNAME', 'txguard_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
