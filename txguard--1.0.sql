/* txguard--1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION txguard" to load this file. \quit

-- One abort episode: the error that aborted a transaction and how it ended.
CREATE TYPE @extschema@.txguard_abort AS (
    seq                 bigint,
    pid                 integer,
    backend_start       timestamp with time zone,
    datid               oid,
    datname             name,
    userid              oid,
    usename             name,
    application_name    text,
    client_addr         text,
    xact_start          timestamp with time zone,
    aborted_at          timestamp with time zone,
    sqlstate            text,
    message             text,
    detail              text,
    hint                text,
    context             text,
    schema_name         text,
    table_name          text,
    column_name         text,
    datatype_name       text,
    constraint_name     text,
    statement           text,
    internal_query      text,
    statement_ordinal   integer,
    in_block            boolean,
    in_savepoint        boolean,
    ignored_commands    bigint,
    ended_at            timestamp with time zone,
    ended_by            text,
    aborted_seconds     double precision
);

CREATE FUNCTION @extschema@.txguard_abort_history(pid integer DEFAULT NULL)
RETURNS SETOF @extschema@.txguard_abort
AS 'MODULE_PATHNAME', 'txguard_abort_history'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.txguard_last_abort()
RETURNS SETOF @extschema@.txguard_abort
AS 'MODULE_PATHNAME', 'txguard_last_abort'
LANGUAGE C VOLATILE PARALLEL RESTRICTED ROWS 1;

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
    OUT ignored_commands    bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_aborted_sessions'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

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
    OUT stats_reset         timestamp with time zone)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'txguard_stats'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

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
    OUT errors_visible      boolean)
RETURNS record
AS 'MODULE_PATHNAME', 'txguard_info'
LANGUAGE C VOLATILE PARALLEL RESTRICTED;

CREATE FUNCTION @extschema@.txguard_reset()
RETURNS void
AS 'MODULE_PATHNAME', 'txguard_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

REVOKE ALL ON FUNCTION @extschema@.txguard_reset() FROM PUBLIC;

-- Newest first.
CREATE VIEW @extschema@.txguard_aborts AS
    SELECT * FROM @extschema@.txguard_abort_history()
    ORDER BY seq DESC;

CREATE VIEW @extschema@.txguard_aborted_sessions AS
    SELECT * FROM @extschema@.txguard_aborted_sessions();

CREATE VIEW @extschema@.txguard_stats AS
    SELECT * FROM @extschema@.txguard_stats();

GRANT SELECT ON @extschema@.txguard_aborts TO PUBLIC;
GRANT SELECT ON @extschema@.txguard_aborted_sessions TO PUBLIC;
GRANT SELECT ON @extschema@.txguard_stats TO PUBLIC;
