/* txguard--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION txguard UPDATE TO '1.2'" to load this file. \quit

-- Abort records: whether the error came from another server, the process
-- type, the W3C trace context of the failing statement, the session that
-- held the lock a lock error waited for, and how often a background worker
-- repeated the same failure.
DROP VIEW @extschema@.txguard_aborts;

ALTER TYPE @extschema@.txguard_abort
    ADD ATTRIBUTE remote                    boolean,
    ADD ATTRIBUTE backend_type              text,
    ADD ATTRIBUTE trace_id                  text,
    ADD ATTRIBUTE span_id                   text,
    ADD ATTRIBUTE blocker_state             text,
    ADD ATTRIBUTE lock_waited               text,
    ADD ATTRIBUTE blocker_pid               integer,
    ADD ATTRIBUTE blocker_userid            oid,
    ADD ATTRIBUTE blocker_usename           name,
    ADD ATTRIBUTE blocker_application_name  text,
    ADD ATTRIBUTE blocker_backend_start     timestamp with time zone,
    ADD ATTRIBUTE blocker_xact_start        timestamp with time zone,
    ADD ATTRIBUTE blocker_statement         text,
    ADD ATTRIBUTE repeats                   bigint;

CREATE VIEW @extschema@.txguard_aborts AS
    SELECT * FROM @extschema@.txguard_abort_history()
    ORDER BY seq DESC;
GRANT SELECT ON @extschema@.txguard_aborts TO PUBLIC;

-- Statement statistics: the failures that did not leave a block aborted
-- (autocommit statements, multi-statement strings, failed COMMITs).
DROP VIEW @extschema@.txguard_statement_stats;
DROP FUNCTION @extschema@.txguard_statement_stats();

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
    OUT stats_reset         timestamp with time zone,
    OUT failed_alone        bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_statement_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.txguard_statement_stats AS
    SELECT * FROM @extschema@.txguard_statement_stats();
GRANT SELECT ON @extschema@.txguard_statement_stats TO PUBLIC;

-- Statistics per database, application_name and SQLSTATE: services that
-- share a role (or connect through a pooler) apart.
CREATE FUNCTION @extschema@.txguard_application_stats(
    OUT datid               oid,
    OUT datname             name,
    OUT application_name    text,
    OUT sqlstate            text,
    OUT condition_name      text,
    OUT error_class         text,
    OUT retryable           boolean,
    OUT aborts              bigint,
    OUT aborted_blocks      bigint,
    OUT failed_alone        bigint,
    OUT ignored_commands    bigint,
    OUT sessions_terminated bigint,
    OUT first_seen          timestamp with time zone,
    OUT last_seen           timestamp with time zone,
    OUT stats_reset         timestamp with time zone)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_application_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE VIEW @extschema@.txguard_application_stats AS
    SELECT * FROM @extschema@.txguard_application_stats();
GRANT SELECT ON @extschema@.txguard_application_stats TO PUBLIC;

-- txguard_info(): every table evicts its least recently counted key when
-- full; how many keys each holds and has evicted.
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
    OUT restored_at         timestamp with time zone,
    OUT stats_evicted       bigint,
    OUT databases           integer,
    OUT databases_max       integer,
    OUT applications        integer,
    OUT applications_max    integer,
    OUT applications_evicted bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'txguard_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;
