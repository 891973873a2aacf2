--
-- txguard is preloaded in the test instance (test/txguard.conf); create the
-- extension and check its settings and objects.
--
CREATE EXTENSION txguard;

SHOW shared_preload_libraries;
SHOW txguard.enabled;
SHOW txguard.annotate;
SHOW txguard.log_aborts;
SHOW txguard.track;
SHOW txguard.store_detail;
SHOW txguard.idle_in_aborted_transaction_timeout;
SHOW txguard.max_statement_length;	-- 256 in test/txguard.conf
SHOW txguard.history_size;			-- 16 in test/txguard.conf

-- every object is there, and empty
SELECT count(*) FROM txguard_aborts;
SELECT count(*) FROM txguard_last_abort();

-- the prefix is reserved: a misspelt setting is refused.  Before 15 core
-- cannot reserve a prefix and the SET succeeds (expected/preload_1.out);
-- the version line makes each expected file match only its own versions,
-- so that a 15 that lost the reservation fails here.
SELECT current_setting('server_version_num')::int >= 150000 AS can_reserve_prefix;
SET txguard.anotate = off;

SELECT count(*) FROM txguard_aborted_sessions;
SELECT count(*) FROM txguard_stats WHERE datname = current_database();
-- the SET error above aborted its (implicit) transaction: the session's last
-- abort, but not kept in the shared history (txguard.track = blocks)
SELECT sqlstate, in_block, ended_by FROM txguard_last_abort();
SELECT history_size, history_written, history_overwritten, history_dropped,
       stats_entries >= (SELECT count(*) FROM txguard_stats
                         WHERE datname = current_database())
         AS stats_counted,
       stats_dropped, errors_visible
  FROM txguard_info();

-- the functions, views and type of the extension, and what PUBLIC may do
SELECT pg_describe_object(classid, objid, objsubid) AS object
  FROM pg_depend
 WHERE refclassid = 'pg_extension'::regclass
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'txguard')
   AND deptype = 'e'
   AND (classid <> 'pg_type'::regclass OR objid = 'txguard_abort'::regtype)
 ORDER BY 1;
SELECT proname, has_function_privilege('public', oid, 'EXECUTE') AS public_execute
  FROM pg_proc WHERE proname LIKE 'txguard\_%' ORDER BY 1;
SELECT relname, has_table_privilege('public', oid, 'SELECT') AS public_select,
       has_table_privilege('public', oid, 'INSERT, UPDATE, DELETE, TRUNCATE') AS public_write
  FROM pg_class WHERE relname LIKE 'txguard\_%' AND relkind = 'v' ORDER BY 1;
