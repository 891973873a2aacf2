/*-------------------------------------------------------------------------
 *
 * hooks.c
 *	  Every hook and callback txguard installs, installed in one block.
 *	  They decide whether an event concerns the client's own (top-level)
 *	  statement and report it: statement events to capture/stmt.c, errors
 *	  and transaction events to capture/episode.c, shared memory set-up to
 *	  store/store.c.  They keep no state of their own besides the saved
 *	  hook values, the utility nesting depth and the recursion guard.
 *
 * Top level.  An executor or utility event belongs to the client's
 * statement when it runs under the portal PostgresMain is running, with
 * that portal's text, which is the text of the message being processed
 * (debug_query_string: the Query message, or a copy of the portal's text
 * at Execute), and no top-level utility is running around it.  Queries run
 * by functions, triggers, SPI, the planner (constant folding, selectivity
 * estimation, SQL function inlining) or parallel workers have texts of
 * their own; EXPLAIN ANALYZE, EXECUTE, CREATE TABLE AS and other utilities
 * that run a query inside are excluded by the nesting depth; a WITH HOLD
 * cursor materialised at COMMIT runs under its own portal, which is
 * holdable (protocol portals never are).  So the executor hooks need no
 * PG_TRY: only ProcessUtility keeps a depth, and resets it with
 * PG_FINALLY.
 *
 * Query ids.  The id txguard keeps is core's: the PlannedStmt's, which no
 * neighbour changes for a query, and for a utility statement computed
 * again when a neighbour (pg_stat_statements) has cleared the PlannedStmt's
 * copy.  A statement that fails before it runs takes the id core reported
 * for it (stmt.c).
 *
 * Cost on the success path: a few comparisons and stores per statement in
 * backend-local memory; no allocation, no lock, no system call.
 *
 * emit_log_hook never raises an ERROR and refuses recursion; what it calls
 * allocates only in ErrorContext, with MCXT_ALLOC_NO_OOM
 * (capture/annotate.c), and takes no lock but, for a background worker
 * whose error comes after its abort, txguard's own statistics lock
 * (capture/episode.c).  The abort callbacks run after
 * LWLockReleaseAll() with interrupts held; what they call never raises an
 * ERROR, never allocates and never logs.
 *
 * IDENTIFICATION
 *	  src/hooks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "commands/prepare.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "optimizer/planner.h"
#include "storage/ipc.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/portal.h"

#include "compat.h"
#include "episode.h"
#include "guc.h"
#include "hooks.h"
#include "stmt.h"
#include "store.h"

/* Saved hook values */
#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static planner_hook_type prev_planner_hook = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* Depth of ProcessUtility calls */
static int	utility_nesting = 0;

/* true while emit_log_hook runs, to refuse recursion */
static bool in_emit_log_hook = false;

/* per-backend set-up done */
static bool backend_ready = false;

#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static void txg_shmem_request(void);
#endif
static void txg_shmem_startup(void);
static PlannedStmt *txg_planner(Query *parse, const char *query_string,
								int cursorOptions, ParamListInfo boundParams);
static void txg_ExecutorRun(TXG_EXECUTORRUN_ARGS);
static void txg_ExecutorEnd(QueryDesc *queryDesc);
static void txg_ProcessUtility(TXG_PROCESSUTILITY_ARGS);
static void txg_emit_log_hook(ErrorData *edata);
static void txg_xact_callback(XactEvent event, void *arg);
static void txg_subxact_callback(SubXactEvent event,
								 SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);
static void txg_shmem_exit(int code, Datum arg);

void
txg_hooks_install(void)
{
#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = txg_shmem_request;
#else
	txg_store_request();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = txg_shmem_startup;
	prev_planner_hook = planner_hook;
	planner_hook = txg_planner;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = txg_ExecutorRun;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = txg_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = txg_ProcessUtility;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = txg_emit_log_hook;

	RegisterXactCallback(txg_xact_callback, NULL);
	RegisterSubXactCallback(txg_subxact_callback, NULL);
}

#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static void
txg_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	txg_store_request();
}
#endif

static void
txg_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	txg_store_startup();
}

/*
 * Per-backend set-up, done at the first top-level statement of a backend,
 * a safe place: never inside the error machinery.  Registering after
 * InitPostgres makes txg_shmem_exit run before ShutdownPostgres aborts the
 * transaction, while the block is still visibly aborted.
 */
static void
backend_init(void)
{
	backend_ready = true;
	if (!txg_is_client_backend())
		return;
	before_shmem_exit(txg_shmem_exit, (Datum) 0);
	txg_episode_backend_start();
}

/*
 * Does work with this source text belong to the client's statement?  It
 * must run under the portal PostgresMain is running (PortalRun marks it
 * active; a simple-protocol PortalStart does not, nor does a Bind), with
 * that portal's own text, and that text must be the message's: the very
 * string of a Query message, or at Execute a copy of the portal's text.
 * A cursor opened by a function (a PL/pgSQL FOR loop) runs under a portal
 * of its own whose text is not the message's; a WITH HOLD cursor
 * materialised at COMMIT runs under its own holdable portal.
 */
static inline bool
toplevel_portal_text(const char *src, CommandDest dest)
{
	Portal		portal = ActivePortal;

	if (utility_nesting != 0 || portal == NULL ||
		src != portal->sourceText || portal->status != PORTAL_ACTIVE ||
		(portal->cursorOptions & CURSOR_OPT_HOLD) != 0)
		return false;

	/*
	 * (A parallel worker runs its query under no portal.)  Only an Execute
	 * message sends a query's rows to DestRemoteExecute: then the text is the
	 * copy of the portal's without comparing them.
	 */
	return src == debug_query_string ||
		(debug_query_string != NULL &&
		 (dest == DestRemoteExecute || strcmp(src, debug_query_string) == 0));
}

/* The start of a top-level statement: a safe point for episode.c */
static inline void
statement_starts(void)
{
	if (unlikely(!backend_ready))
		backend_init();
	txg_episode_statement_start();
}

/* The statements the tracker tells apart */
static TxgStmtKind
statement_kind(Node *stmt)
{
	if (stmt == NULL)
		return TXG_STMT_OTHER;
	if (IsA(stmt, TransactionStmt))
	{
		switch (((TransactionStmt *) stmt)->kind)
		{
			case TRANS_STMT_BEGIN:
			case TRANS_STMT_START:
				return TXG_STMT_BEGIN;
			case TRANS_STMT_SAVEPOINT:
			case TRANS_STMT_RELEASE:
			case TRANS_STMT_ROLLBACK_TO:
				return TXG_STMT_SAVEPOINT;
			case TRANS_STMT_COMMIT:
			case TRANS_STMT_PREPARE:
				return TXG_STMT_COMMIT;
			default:
				return TXG_STMT_OTHER;
		}
	}
	if (IsA(stmt, CopyStmt) && ((CopyStmt *) stmt)->is_from &&
		((CopyStmt *) stmt)->filename == NULL)
		return TXG_STMT_COPY_IN;
	return TXG_STMT_OTHER;
}

/*
 * Planner hook: a statement of the message's own text is planned, outside
 * any utility, and it is not the first of its text (the first statement of
 * a string, the only one of a Parse): remembered so that an error while it
 * is planned names it, even when a statement of the string that ran
 * nothing (a DO INSTEAD NOTHING rule) came before it.  (The first one is
 * found without it.)  A few comparisons and stores.
 */
static PlannedStmt *
txg_planner(Query *parse, const char *query_string, int cursorOptions,
			ParamListInfo boundParams)
{
	if (parse->stmt_location > 0 && query_string == debug_query_string &&
		utility_nesting == 0)
		txg_stmt_planning(query_string, parse->stmt_location,
						  parse->stmt_len);

	if (prev_planner_hook)
		return prev_planner_hook(parse, query_string, cursorOptions,
								 boundParams);
	return standard_planner(parse, query_string, cursorOptions, boundParams);
}

/*
 * ExecutorRun hook: a top-level query runs; with a row limit (an Execute
 * message with a row limit) the portal may be read again later.  A run in
 * no direction (an Execute of a portal that already returned all its rows)
 * runs nothing and is no statement.  (No ExecutorStart hook is needed: an
 * error while a query starts, before it runs, belongs to the statement
 * being prepared, as stmt.c decides.)
 */
static void
txg_ExecutorRun(TXG_EXECUTORRUN_ARGS)
{
	if (toplevel_portal_text(queryDesc->sourceText, queryDesc->dest->mydest) &&
		!ScanDirectionIsNoMovement(direction))
	{
		statement_starts();
		txg_stmt_query_runs(queryDesc, count > 0);
	}

	if (prev_ExecutorRun)
		prev_ExecutorRun(TXG_EXECUTORRUN_CALL);
	else
		standard_ExecutorRun(TXG_EXECUTORRUN_CALL);
}

/*
 * ExecutorEnd hook: a query ended normally.
 */
static void
txg_ExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);

	txg_stmt_query_end(queryDesc);
}

/*
 * Core's query id of a top-level utility statement.  An EXECUTE has the id
 * of the statement it executes, as pg_stat_statements counts it and EXPLAIN
 * VERBOSE EXECUTE shows it.  pg_stat_statements clears the PlannedStmt's
 * copy of other utility statements' ids in its ProcessUtility hook (and the
 * PlannedStmt of a cached plan keeps the zero): then it is computed again,
 * as core computed it.
 */
static uint64
utility_query_id(PlannedStmt *pstmt, const char *queryString)
{
#ifdef TXG_HAVE_QUERY_ID
	if (IsA(pstmt->utilityStmt, ExecuteStmt))
	{
		/* a lookup that raises no error: EXECUTE reports a missing name */
		PreparedStatement *ps =
		FetchPreparedStatement(((ExecuteStmt *) pstmt->utilityStmt)->name,
							   false);

		if (ps != NULL && ps->plansource->query_list != NIL)
			return linitial_node(Query, ps->plansource->query_list)->queryId;
		return 0;
	}
	if (pstmt->queryId == 0 && IsQueryIdEnabled())
	{
		Query		q;

		memset(&q, 0, sizeof(q));
		q.type = T_Query;
		q.commandType = CMD_UTILITY;
		q.querySource = QSRC_ORIGINAL;
		q.canSetTag = pstmt->canSetTag;
		q.utilityStmt = pstmt->utilityStmt;
		q.stmt_location = pstmt->stmt_location;
		q.stmt_len = pstmt->stmt_len;
		TXG_JUMBLE_QUERY(&q, queryString);
		return q.queryId;
	}
#endif
	return pstmt->queryId;
}

/*
 * ProcessUtility hook: a top-level utility statement, and the transaction
 * statements that start, end or leave an aborted block.
 */
static void
txg_ProcessUtility(TXG_PROCESSUTILITY_ARGS)
{
	Node	   *parsetree = pstmt->utilityStmt;
	TransactionStmt *tstmt = NULL;
	bool		toplevel;

	toplevel = (context == PROCESS_UTILITY_TOPLEVEL &&
				toplevel_portal_text(queryString,
									 dest != NULL ? dest->mydest : DestNone));

	if (toplevel)
	{
		statement_starts();
		txg_stmt_utility_runs(pstmt->stmt_location, pstmt->stmt_len,
							  utility_query_id(pstmt, queryString),
							  statement_kind(parsetree));
		if (IsA(parsetree, TransactionStmt))
		{
			tstmt = (TransactionStmt *) parsetree;
			txg_episode_utility_start(tstmt);
		}
	}

	utility_nesting++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(TXG_PROCESSUTILITY_CALL);
		else
			standard_ProcessUtility(TXG_PROCESSUTILITY_CALL);
	}
	PG_FINALLY();
	{
		utility_nesting--;
	}
	PG_END_TRY();

	if (!toplevel)
		return;
	txg_stmt_utility_end();
	if (tstmt)
		txg_episode_utility_done(tstmt);
}

/*
 * emit_log_hook: every report of a client backend goes to episode.c, which
 * tells causes from consequences (and keeps txguard's own end-of-block line
 * from the client).  The previous hook is called after the annotation, so
 * that hooks loaded before txguard see it.
 */
static void
txg_emit_log_hook(ErrorData *edata)
{
	if (!in_emit_log_hook && (txg_enabled || edata->elevel < ERROR) &&
		txg_is_client_backend())
	{
		in_emit_log_hook = true;
		txg_episode_report(edata);
		in_emit_log_hook = false;
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}

/*
 * Transaction callback.  Everything but the abort is a few stores.
 */
static void
txg_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
			txg_episode_abort(false);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			txg_episode_commit();
			break;
		default:
			break;
	}
}

static void
txg_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		txg_episode_abort(true);
}

/*
 * before_shmem_exit callback: the session ends.
 */
static void
txg_shmem_exit(int code, Datum arg)
{
	txg_episode_backend_exit();
}
