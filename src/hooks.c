/*-------------------------------------------------------------------------
 *
 * hooks.c
 *	  Every hook and callback txguard installs.  They decide whether an
 *	  event concerns the client's own (top-level) statement and report it:
 *	  statement events to stmt.c, errors and transaction events to
 *	  episode.c.  They keep no state of their own besides the saved hook
 *	  values, the utility nesting depth and the recursion guard.
 *
 * Top level.  An executor or utility event belongs to the client's
 * statement when it runs under the portal PostgresMain is running, with
 * that portal's text, which is the text of the message being processed
 * (debug_query_string: the Query message, or a copy of the portal's text
 * at Execute), and no top-level utility is running around it.  Queries run
 * by functions, triggers, SPI, the planner (constant folding, selectivity
 * estimation, SQL function inlining) or parallel workers have texts of
 * their own; EXPLAIN ANALYZE, EXECUTE, CREATE TABLE AS and other utilities
 * that run a query inside are excluded by the nesting depth.  So the
 * executor hooks need no PG_TRY: only ProcessUtility keeps a depth, and
 * resets it with PG_FINALLY.
 *
 * Cost on the success path: a few comparisons and stores per statement in
 * backend-local memory; no allocation, no lock, no system call.
 *
 * emit_log_hook never raises an ERROR, never takes a lock, allocates only
 * in ErrorContext with MCXT_ALLOC_NO_OOM (annotate.c), and refuses
 * recursion.  The abort callbacks run after LWLockReleaseAll() with
 * interrupts held; what they call (episode.c, history.c) never raises an
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
#include "executor/executor.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/portal.h"

#include "compat.h"
#include "txguard.h"

/* Saved hook values */
static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* Depth of ProcessUtility calls */
static int	utility_nesting = 0;

/* true while emit_log_hook runs, to refuse recursion */
static bool in_emit_log_hook = false;

/* per-backend set-up done */
static bool backend_ready = false;

static void txg_post_parse_analyze(TXG_POST_PARSE_ANALYZE_ARGS);
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
txg_hooks_init(void)
{
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = txg_post_parse_analyze;
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

/*
 * Is this a process whose errors txguard follows?  Client backends only
 * (and a single-user backend); parallel workers are skipped because the
 * leader re-throws their errors and reports them itself.
 */
bool
txg_is_client_backend(void)
{
	return MyProc != NULL &&
		(MyBackendType == B_BACKEND || !IsUnderPostmaster) &&
		!IsParallelWorker();
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
	txg_timeout_register();
	txg_slot_clear();
}

/*
 * Does work with this source text belong to the client's statement?  It
 * must run under the portal PostgresMain is running (PortalRun marks it
 * active; a simple-protocol PortalStart does not, nor does a Bind), with
 * that portal's own text, and that text must be the message's: the very
 * string of a Query message, or at Execute a copy of the portal's text.
 * A cursor opened by a function (a PL/pgSQL FOR loop) runs under a portal
 * of its own whose text is not the message's.
 */
static inline bool
toplevel_portal_text(const char *src)
{
	Portal		portal = ActivePortal;

	if (utility_nesting != 0 || portal == NULL ||
		portal->status != PORTAL_ACTIVE || src != portal->sourceText ||
		debug_query_string == NULL || IsParallelWorker())
		return false;
	return src == debug_query_string || strcmp(src, debug_query_string) == 0;
}

/* The start of a top-level statement: a safe point for episode.c */
static inline void
statement_starts(void)
{
	if (unlikely(!backend_ready))
		backend_init();
	txg_episode_safe_point();
}

static bool
is_begin(Node *stmt)
{
	return stmt != NULL && IsA(stmt, TransactionStmt) &&
		(((TransactionStmt *) stmt)->kind == TRANS_STMT_BEGIN ||
		 ((TransactionStmt *) stmt)->kind == TRANS_STMT_START);
}

/*
 * post_parse_analyze_hook: a statement of a simple-protocol query string
 * was analysed.  The extended protocol's Parse analyses with variable
 * parameters (p_paramref_hook set) and is not a statement of its own.
 */
static void
txg_post_parse_analyze(TXG_POST_PARSE_ANALYZE_ARGS)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(TXG_POST_PARSE_ANALYZE_CALL);

	if (pstate->p_sourcetext == debug_query_string &&
		debug_query_string != NULL && utility_nesting == 0 &&
		pstate->parentParseState == NULL && pstate->p_paramref_hook == NULL &&
		!IsParallelWorker())
	{
		statement_starts();
		txg_stmt_analyzed(pstate->p_sourcetext, query->stmt_location,
						  query->stmt_len, query->queryId,
						  query->commandType == CMD_UTILITY &&
						  is_begin(query->utilityStmt));
	}
}

/*
 * ExecutorRun hook: a top-level query runs; with a row limit (an Execute
 * message with a row limit) the portal may be read again later.  (No
 * ExecutorStart hook is needed: an error while a query starts, before it
 * runs, belongs to the statement being prepared, as stmt.c decides.)
 */
static void
txg_ExecutorRun(TXG_EXECUTORRUN_ARGS)
{
	if (toplevel_portal_text(queryDesc->sourceText))
	{
		statement_starts();
		txg_stmt_run(ActivePortal, queryDesc, queryDesc->sourceText,
					 queryDesc->plannedstmt->stmt_location,
					 queryDesc->plannedstmt->stmt_len,
					 queryDesc->plannedstmt->queryId, TXG_STMT_OTHER,
					 count > 0);
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

	txg_stmt_run_end(queryDesc);
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
	bool		was_aborted = false;

	toplevel = (context == PROCESS_UTILITY_TOPLEVEL &&
				toplevel_portal_text(queryString));

	if (toplevel)
	{
		TxgStmtKind kind = TXG_STMT_OTHER;

		statement_starts();
		if (IsA(parsetree, TransactionStmt))
		{
			tstmt = (TransactionStmt *) parsetree;
			if (is_begin(parsetree))
				kind = TXG_STMT_BEGIN;
			else if (tstmt->kind == TRANS_STMT_COMMIT ||
					 tstmt->kind == TRANS_STMT_PREPARE)
				kind = TXG_STMT_COMMIT;
		}
		else if (IsA(parsetree, CopyStmt) &&
				 ((CopyStmt *) parsetree)->is_from &&
				 ((CopyStmt *) parsetree)->filename == NULL)
			kind = TXG_STMT_COPY_IN;

		txg_stmt_run(ActivePortal, NULL, queryString, pstmt->stmt_location,
					 pstmt->stmt_len, pstmt->queryId, kind, false);
		was_aborted = IsAbortedTransactionBlockState();
		if (tstmt)
			txg_episode_utility(tstmt, false);
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

	txg_stmt_run_end(NULL);
	if (tstmt)
	{
		/*
		 * Leaving an aborted block with ROLLBACK, COMMIT or PREPARE runs no
		 * transaction callback (CleanupTransaction has none): the
		 * transaction ends here.
		 */
		if (was_aborted && !IsAbortedTransactionBlockState() &&
			tstmt->kind != TRANS_STMT_ROLLBACK_TO)
			txg_stmt_xact_end();
		txg_episode_utility(tstmt, true);
	}
}

/*
 * emit_log_hook: every ERROR and FATAL of a client backend goes to
 * episode.c, which tells causes from consequences; txguard's own
 * end-of-block WARNING is kept from the client.  The previous hook is
 * called after the annotation, so that hooks loaded before txguard see it.
 */
static void
txg_emit_log_hook(ErrorData *edata)
{
	if (edata->elevel >= ERROR && !in_emit_log_hook && txg_enabled &&
		txg_is_client_backend())
	{
		in_emit_log_hook = true;
		txg_episode_error(edata);
		in_emit_log_hook = false;
	}
	else if (txg_end_line_emitting && edata->elevel == WARNING)
	{
		/* txguard's end-of-block record is for the server log only */
		edata->output_to_client = false;
		txg_end_line_emitting = false;
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
			txg_stmt_xact_end();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			txg_episode_commit();
			txg_stmt_xact_end();
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
