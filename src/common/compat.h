/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  Every PostgreSQL version difference txguard depends on, in one place.
 *
 * txguard is written against PostgreSQL 15 and compiles on 13 to 18.  No
 * other file tests PG_VERSION_NUM: each switch below names the major in
 * which the API changed, and the rest of the code uses the macros.
 *
 * This header holds no state and takes no locks.
 *
 * IDENTIFICATION
 *	  src/common/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_COMPAT_H
#define TXGUARD_COMPAT_H

#include "miscadmin.h"

/* 14 moved the wait events out of pgstat.h. */
#if PG_VERSION_NUM >= 140000
#include "utils/wait_event.h"
#else
#include "pgstat.h"
#endif

#if PG_VERSION_NUM < 150000
#include "postmaster/autovacuum.h"
#include "replication/walsender.h"
#endif

#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#else
#include "storage/backendid.h"
#endif

/*
 * 16 builds extensions with -fvisibility=hidden, and PGDLLEXPORT marks what
 * the server looks up (the magic block, _PG_init, the SQL functions).
 * Before 16 the Makefile hides txguard's internal symbols the same way (so
 * that its files call each other directly, not through the PLT), and
 * PGDLLEXPORT, empty there, is given its 16 meaning.
 */
#if PG_VERSION_NUM < 160000 && defined(__GNUC__) && !defined(WIN32)
#undef PGDLLEXPORT
#define PGDLLEXPORT __attribute__((visibility("default")))
#endif

/* 16's PG_FUNCTION_INFO_V1 exports the function itself too */
#define TXG_FUNCTION_INFO_V1(funcname) \
	extern PGDLLEXPORT Datum funcname(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(funcname)

/*
 * 14 renamed DEFAULT_ROLE_READ_ALL_STATS to ROLE_PG_READ_ALL_STATS, and 15's
 * headers no longer carry the old name.
 */
#if PG_VERSION_NUM < 140000
#include "catalog/pg_authid.h"
#define ROLE_PG_READ_ALL_STATS DEFAULT_ROLE_READ_ALL_STATS
#endif

/* 15 renamed EmitWarningsOnPlaceholders to MarkGUCPrefixReserved. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * 15 added shmem_request_hook and made it the only place where shared memory
 * and LWLock tranches may be requested; before 15 they are requested from
 * _PG_init while shared_preload_libraries is being processed.
 */
#if PG_VERSION_NUM >= 150000
#define TXG_HAVE_SHMEM_REQUEST_HOOK 1
#endif

/*
 * MaxBackends is only computed after shared_preload_libraries has been
 * processed.  From 15 on it is valid inside shmem_request_hook; before 15
 * the request is made from _PG_init, so the number is computed the way
 * InitializeMaxBackends() did it in 13 and 14.
 */
#if PG_VERSION_NUM >= 150000
#define TXG_MAX_BACKENDS() (MaxBackends)
#else
#define TXG_MAX_BACKENDS() \
	(MaxConnections + autovacuum_max_workers + 1 + \
	 max_worker_processes + max_wal_senders)
#endif

/*
 * 17 replaced the 1-based MyBackendId with the 0-based MyProcNumber.  Either
 * way txguard uses the result only as an index into its own slot array, and
 * checks it against the array's bound.
 */
#if PG_VERSION_NUM >= 170000
#define TXG_MY_PROC_INDEX() ((int) MyProcNumber)
#else
#define TXG_MY_PROC_INDEX() ((int) MyBackendId - 1)
#endif

/* 14 added readOnlyTree to ProcessUtility_hook. */
#if PG_VERSION_NUM >= 140000
#define TXG_PROCESSUTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, bool readOnlyTree, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define TXG_PROCESSUTILITY_CALL \
	pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc
#else
#define TXG_PROCESSUTILITY_ARGS \
	PlannedStmt *pstmt, const char *queryString, \
	ProcessUtilityContext context, ParamListInfo params, \
	QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc
#define TXG_PROCESSUTILITY_CALL \
	pstmt, queryString, context, params, queryEnv, dest, qc
#endif

/* 18 removed execute_once from ExecutorRun_hook. */
#if PG_VERSION_NUM >= 180000
#define TXG_EXECUTORRUN_ARGS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count
#define TXG_EXECUTORRUN_CALL queryDesc, direction, count
#else
#define TXG_EXECUTORRUN_ARGS \
	QueryDesc *queryDesc, ScanDirection direction, uint64 count, \
	bool execute_once
#define TXG_EXECUTORRUN_CALL queryDesc, direction, count, execute_once
#endif

/*
 * 15 added enable_timeout_every() (for log_startup_progress_interval).  On 13
 * and 14 the idle timer is a one-shot; see idle_timeout.c for what that costs.
 */
#if PG_VERSION_NUM >= 150000
#define TXG_HAVE_PERIODIC_TIMEOUT 1
#endif

/*
 * The wait event a backend reports while it waits for its client.  Before
 * 14 it was only reported with track_activities = on, so on 13 a backend
 * with track_activities = off looks busy; idle_timeout.c treats "no wait
 * event at all" as idle there.
 */
#if PG_VERSION_NUM >= 140000
#define TXG_WAITING_FOR_CLIENT(w) ((w) == WAIT_EVENT_CLIENT_READ)
#else
#define TXG_WAITING_FOR_CLIENT(w) \
	((w) == WAIT_EVENT_CLIENT_READ || (!pgstat_track_activities && (w) == 0))
#endif

/* 15 added InitMaterializedSRF(); 13 and 14 build the tuplestore by hand. */
#if PG_VERSION_NUM >= 150000
#define TXG_INIT_MATERIALIZED_SRF(fcinfo) InitMaterializedSRF((fcinfo), 0)
#else
#include "fmgr.h"

extern void txg_init_materialized_srf(FunctionCallInfo fcinfo);

#define TXG_INIT_MATERIALIZED_SRF(fcinfo) txg_init_materialized_srf(fcinfo)
#define TXG_NEED_SRF_SHIM 1
#endif

/*
 * Roles' privileges on statistics: 13 checked membership of the predefined
 * role, 14 and later check its privileges (has_privs_of_role).  txguard uses
 * has_privs_of_role on every version, as 15's pg_stat_activity does.
 */

/* 14 added pgStatSessionEndCause. */
#if PG_VERSION_NUM >= 140000
#define TXG_HAVE_SESSION_END_CAUSE 1
#endif



/* 14 added the JumbleState argument to post_parse_analyze_hook. */
#if PG_VERSION_NUM >= 140000
#define TXG_POST_PARSE_ANALYZE_ARGS \
	ParseState *pstate, Query *query, JumbleState *jstate
#define TXG_POST_PARSE_ANALYZE_CALL pstate, query, jstate
#else
#define TXG_POST_PARSE_ANALYZE_ARGS ParseState *pstate, Query *query
#define TXG_POST_PARSE_ANALYZE_CALL pstate, query
#endif

/*
 * 14 added pgStatSessionEndCause, which die() sets to DISCONNECT_KILLED:
 * that tells a real SIGTERM (pg_terminate_backend, shutdown) from
 * txguard's own timer, which asks for termination the same way.  On 13 the
 * two cannot be told apart.
 */
#ifdef TXG_HAVE_SESSION_END_CAUSE
#include "pgstat.h"
#define TXG_KILLED_BY_SIGNAL() (pgStatSessionEndCause == DISCONNECT_KILLED)
#define TXG_ENDED_BY_FATAL() (pgStatSessionEndCause == DISCONNECT_FATAL)
#else
#define TXG_KILLED_BY_SIGNAL() false
#define TXG_ENDED_BY_FATAL() false
#endif

/*
 * The backend's own activity entry: 14 exported MyBEEntry (13 keeps it
 * static).  The entries of all backends form one array in shared memory,
 * indexed by the 0-based backend (proc) number, and MyBEEntry is this
 * backend's element: the array starts TXG_MY_PROC_INDEX() entries before
 * it.  (Core keeps the array's own pointer static.)  txguard reads other
 * entries only to name a blocking session (capture/blocker.c).
 */
#if PG_VERSION_NUM >= 140000
#include "utils/backend_status.h"
#define TXG_MY_BEENTRY() (MyBEEntry)
#define TXG_BE_ARRAY() \
	(MyBEEntry != NULL && TXG_MY_PROC_INDEX() >= 0 ? \
	 MyBEEntry - TXG_MY_PROC_INDEX() : (PgBackendStatus *) NULL)
#else
#define TXG_MY_BEENTRY() ((PgBackendStatus *) NULL)
#define TXG_BE_ARRAY() ((PgBackendStatus *) NULL)
#endif

/*
 * 14 moved a backend's transaction id and subtransaction cache status into
 * PGPROC (13 has them in PGXACT).
 */
#if PG_VERSION_NUM >= 140000
#define TXG_PROC_XID(i) (ProcGlobal->allProcs[(i)].xid)
#define TXG_PROC_NSUBXIDS(i) (ProcGlobal->allProcs[(i)].subxidStatus.count)
#else
#define TXG_PROC_XID(i) (ProcGlobal->allPgXact[(i)].xid)
#define TXG_PROC_NSUBXIDS(i) (ProcGlobal->allPgXact[(i)].nxids)
#endif

/*
 * The PGPROC of a virtual transaction id: 17 replaced its backendId with a
 * procNumber.
 */
#if PG_VERSION_NUM >= 170000
#define TXG_VXID_PROC(vxid) ProcNumberGetProc((vxid).procNumber)
#else
#include "storage/sinvaladt.h"
#define TXG_VXID_PROC(vxid) BackendIdGetProc((vxid).backendId)
#endif

/*
 * Core's query id (compute_query_id) arrived in 14; 18 made it signed.
 * txguard keeps it as the same 64 bits pg_stat_statements shows.  16 moved
 * the jumbling into nodes/ and jumbles utility statements by their parse
 * tree; 14 and 15 hash their text, and JumbleQuery takes the text.
 */
#if PG_VERSION_NUM >= 140000
#define TXG_MY_QUERY_ID() ((uint64) pgstat_get_my_query_id())
#define TXG_HAVE_QUERY_ID 1
#else
#define TXG_MY_QUERY_ID() ((uint64) 0)
#endif

#if PG_VERSION_NUM >= 160000
#include "nodes/queryjumble.h"
#define TXG_JUMBLE_QUERY(query, text) ((void) JumbleQuery(query))
#elif PG_VERSION_NUM >= 140000
#include "utils/queryjumble.h"
#define TXG_JUMBLE_QUERY(query, text) ((void) JumbleQuery((query), (text)))
#endif

/*
 * 14 added pg_do_encoding_conversion_buf() with noError, which converts as
 * much as it can; on 13 a reader in another encoding sees only the ASCII
 * characters of a record, the others replaced.
 */
#if PG_VERSION_NUM >= 140000
#define TXG_HAVE_CONVERSION_NOERROR 1
#endif

#endif							/* TXGUARD_COMPAT_H */
