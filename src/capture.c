/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  Find out what failed: statement tracking hooks and emit_log_hook.
 *
 * The executor and ProcessUtility hooks count the top-level statements of
 * the current transaction and remember where the running one sits in its
 * query string.  On the success path they do a few stores to backend-local
 * variables: no allocation, no lock, no system call.
 *
 * emit_log_hook sees every ERROR a client backend reports (PostgresMain
 * emits it before aborting the transaction) and
 *	- while the transaction is not yet aborted, copies the error into the
 *	  backend-local "pending" record, which the abort callback in episode.c
 *	  binds to the abort that follows;
 *	- while the transaction block is already aborted (25P02 and any other
 *	  error raised then), counts an ignored command and names the original
 *	  error in the report;
 *	- for a FATAL that ends an aborted session, says why.
 * An error caught by a PL/pgSQL EXCEPTION block, or by any other
 * PG_TRY/PG_CATCH, is never emitted, so it never reaches the hook and can
 * never become a cause.
 *
 * Rules for the hook: it never raises an ERROR, never takes a lock, never
 * allocates outside ErrorContext (and there only with MCXT_ALLOC_NO_OOM),
 * and guards against recursion.  It copies into fixed-size buffers
 * allocated at load time and writes only backend-local memory and the
 * backend's own shared slot (history.c, lock-free).
 *
 * IDENTIFICATION
 *	  src/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "executor/executor.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "txguard.h"

/* Saved hook values */
static ExecutorStart_hook_type prev_ExecutorStart = NULL;
static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* Nesting depth of ExecutorRun/ExecutorFinish/ProcessUtility calls */
static int	nesting_level = 0;

/* Top-level statements started in the current transaction (BEGIN not counted) */
static int	stmt_count = 0;

/*
 * True from the start of a top-level statement's execution until it returns
 * normally: an error raised meanwhile belongs to statement stmt_count, an
 * error raised outside (parse analysis, planning, Bind) to the next one.
 */
static bool stmt_executing = false;

/* Where the running top-level statement sits in its query string */
static const char *stmt_source = NULL;
static int	stmt_location = -1;
static int	stmt_len = 0;
static TimestampTz stmt_source_ts = 0;

/* true while the hook runs, to refuse recursion */
static bool in_emit_log_hook = false;

/* set when an abort happened that the hook could not have seen */
static bool warn_hidden_errors = false;
static bool warned_hidden_errors = false;

static void txg_ExecutorStart(QueryDesc *queryDesc, int eflags);
static void txg_ExecutorRun(TXG_EXECUTORRUN_ARGS);
static void txg_ExecutorFinish(QueryDesc *queryDesc);
static void txg_ExecutorEnd(QueryDesc *queryDesc);
static void txg_ProcessUtility(TXG_PROCESSUTILITY_ARGS);
static void txg_emit_log_hook(ErrorData *edata);

void
txg_capture_init(void)
{
	prev_ExecutorStart = ExecutorStart_hook;
	ExecutorStart_hook = txg_ExecutorStart;
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = txg_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = txg_ExecutorFinish;
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = txg_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = txg_ProcessUtility;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = txg_emit_log_hook;
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
 * Copy src into dst (dstsize bytes, NUL included), cutting at a character
 * boundary of the database encoding.  Never fails.
 */
void
txg_copy_text(char *dst, const char *src, int dstsize)
{
	int			len;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	len = strnlen(src, dstsize);
	if (len >= dstsize)
		len = pg_mbcliplen(src, len, dstsize - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * Forget the statement count: a new transaction starts with statement 1.
 */
void
txg_statement_reset(void)
{
	stmt_count = 0;
	stmt_executing = false;
}

/*
 * Can emit_log_hook see ERRORs?  Core passes a message to the hook only if
 * it goes to the server log, and log_min_messages orders LOG above ERROR.
 */
bool
txg_errors_reach_hook(void)
{
	return log_min_messages != LOG && log_min_messages <= ERROR;
}

/*
 * A query started at nesting level 0 that is not a statement of the client:
 * the SPI queries of deferred triggers fired at commit.  An error they raise
 * belongs to the statement whose commit fired them.
 */
static inline bool
commit_time_query(QueryDesc *queryDesc)
{
	return txg_block_ending || queryDesc->dest->mydest == DestSPI;
}

/*
 * A top-level statement starts executing.
 */
static inline void
statement_started(const char *source, int location, int len)
{
	if (unlikely(!txg_backend_ready))
		txg_backend_init();
	if (unlikely(txg_episode_open))
		txg_episode_heal();

	txg_pending_valid = false;
	stmt_count++;
	stmt_executing = true;
	stmt_source = source;
	stmt_location = location;
	stmt_len = len;
	stmt_source_ts = GetCurrentStatementStartTimestamp();
}

/*
 * ExecutorStart hook: count a top-level optimizable statement.  It is
 * counted after standard_ExecutorStart returns, so that an error raised
 * while starting it counts as an error before execution.
 */
static void
txg_ExecutorStart(QueryDesc *queryDesc, int eflags)
{
	if (prev_ExecutorStart)
		prev_ExecutorStart(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);

	if (nesting_level == 0 && !IsParallelWorker())
	{
		if (commit_time_query(queryDesc))
			stmt_executing = true;
		else
			statement_started(queryDesc->sourceText,
							  queryDesc->plannedstmt->stmt_location,
							  queryDesc->plannedstmt->stmt_len);
	}
}

/*
 * ExecutorRun hook: track nesting depth.
 */
static void
txg_ExecutorRun(TXG_EXECUTORRUN_ARGS)
{
	if (nesting_level == 0)
		stmt_executing = true;
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(TXG_EXECUTORRUN_CALL);
		else
			standard_ExecutorRun(TXG_EXECUTORRUN_CALL);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/*
 * ExecutorFinish hook: track nesting depth (AFTER triggers run here).
 */
static void
txg_ExecutorFinish(QueryDesc *queryDesc)
{
	if (nesting_level == 0)
		stmt_executing = true;
	nesting_level++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();
}

/*
 * ExecutorEnd hook: a top-level statement that ends normally is no longer
 * executing.
 */
static void
txg_ExecutorEnd(QueryDesc *queryDesc)
{
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);

	if (nesting_level == 0 && !commit_time_query(queryDesc))
		stmt_executing = false;
}

/*
 * ProcessUtility hook: count top-level utility statements, and notice the
 * statements that end an aborted transaction block (ROLLBACK, ROLLBACK TO
 * SAVEPOINT, and COMMIT or PREPARE TRANSACTION, which roll back there).
 *
 * While the block is aborted only those statements get here: everything
 * else is rejected with 25P02 before parse analysis.  When the utility
 * returns normally and the block is no longer aborted, the exit is
 * committed to happen; an error (ROLLBACK TO an unknown savepoint) leaves
 * the session aborted, and the hook then sees it as an ignored command.
 */
static void
txg_ProcessUtility(TXG_PROCESSUTILITY_ARGS)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		toplevel;
	bool		was_aborted = false;
	TransactionStmt *tstmt = NULL;

	toplevel = (context == PROCESS_UTILITY_TOPLEVEL && nesting_level == 0 &&
				!IsParallelWorker());

	if (toplevel)
	{
		if (IsA(parsetree, TransactionStmt))
			tstmt = (TransactionStmt *) parsetree;
		was_aborted = IsAbortedTransactionBlockState();

		if (unlikely(warn_hidden_errors && !warned_hidden_errors))
		{
			warned_hidden_errors = true;
			ereport(WARNING,
					(errmsg("txguard cannot see the errors of this session"),
					 errdetail("Errors are not passed to emit_log_hook while \"log_min_messages\" is set to \"%s\".",
							   GetConfigOption("log_min_messages", false, false)),
					 errhint("Set \"log_min_messages\" to \"error\" or a lower level.")));
		}

		if (!was_aborted &&
			!(tstmt && (tstmt->kind == TRANS_STMT_BEGIN ||
						tstmt->kind == TRANS_STMT_START)))
			statement_started(queryString, pstmt->stmt_location,
							  pstmt->stmt_len);
		else if (unlikely(!txg_backend_ready))
			txg_backend_init();
	}

	nesting_level++;
	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(TXG_PROCESSUTILITY_CALL);
		else
			standard_ProcessUtility(TXG_PROCESSUTILITY_CALL);
	}
	PG_FINALLY();
	{
		nesting_level--;
	}
	PG_END_TRY();

	if (!toplevel)
		return;

	if (was_aborted)
	{
		if (!IsAbortedTransactionBlockState() && tstmt != NULL)
		{
			TxgEndReason reason;

			switch (tstmt->kind)
			{
				case TRANS_STMT_ROLLBACK_TO:
					reason = TXG_END_ROLLBACK_TO;
					break;
				case TRANS_STMT_COMMIT:
					reason = TXG_END_COMMIT;
					break;
				case TRANS_STMT_PREPARE:
					reason = TXG_END_PREPARE;
					break;
				default:
					reason = TXG_END_ROLLBACK;
					break;
			}
			txg_episode_exit(reason, tstmt->chain);
		}
		return;
	}

	if (tstmt != NULL)
	{
		switch (tstmt->kind)
		{
			case TRANS_STMT_BEGIN:
			case TRANS_STMT_START:
				txg_explicit_block = true;
				break;
			case TRANS_STMT_COMMIT:
			case TRANS_STMT_PREPARE:

				/*
				 * Deferred constraints fire after this returns: an error then
				 * belongs to this statement, and it ends the block.
				 */
				txg_block_ending = true;
				txg_chain_pending = tstmt->chain;
				return;
			case TRANS_STMT_ROLLBACK:
				txg_chain_pending = tstmt->chain;
				break;
			default:
				break;
		}
	}
	stmt_executing = false;
}

/*
 * Called by episode.c when a transaction aborted and no error was captured
 * for it: if the hook cannot see errors, say so once, at a safe place.
 */
void
txg_note_uncaptured_abort(void)
{
	if (!warned_hidden_errors && !txg_errors_reach_hook())
		warn_hidden_errors = true;
}

/*
 * Build the text of the statement that failed into the pending record.
 */
static void
capture_statement(TxgRecord *rec)
{
	const char *src = debug_query_string;
	int			start = 0;
	int			len;
	int			max = txg_max_statement_length + 1;

	rec->stmt_truncated = false;
	if (src == NULL)
	{
		rec->statement[0] = '\0';
		return;
	}
	len = strlen(src);

	/* In a multi-statement string, cut out the statement that failed. */
	if (stmt_executing && stmt_source == src &&
		stmt_source_ts == GetCurrentStatementStartTimestamp() &&
		stmt_location >= 0 && stmt_location < len)
	{
		start = stmt_location;
		if (stmt_len > 0 && start + stmt_len <= len)
			len = stmt_len;
		else
			len -= start;
		while (len > 0 && isspace((unsigned char) src[start]))
		{
			start++;
			len--;
		}
	}

	/* no trailing blanks or semicolon: the same text however it was sent */
	while (len > 0 && (isspace((unsigned char) src[start + len - 1]) ||
					   src[start + len - 1] == ';'))
		len--;

	if (len >= max)
	{
		len = pg_mbcliplen(src + start, len, max - 1);
		rec->stmt_truncated = true;
	}
	memcpy(rec->statement, src + start, len);
	rec->statement[len] = '\0';
}

/*
 * Copy an error that is about to abort the transaction into txg_pending.
 */
static void
capture_cause(ErrorData *edata)
{
	TxgRecord  *rec = txg_pending;

	rec->seq = 0;
	rec->pid = MyProcPid;
	rec->slot = -1;
	rec->backend_start = MyStartTimestamp;
	rec->dbid = MyDatabaseId;
	rec->userid = GetSessionUserId();
	rec->xact_start = GetCurrentTransactionStartTimestamp();
	rec->stmt_start = GetCurrentStatementStartTimestamp();
	rec->aborted_at = GetCurrentTimestamp();
	rec->idle_since = rec->aborted_at;
	rec->ended_at = 0;
	rec->ignored = 0;
	rec->sqlerrcode = edata->sqlerrcode;
	rec->stmt_ordinal = stmt_executing ? Max(stmt_count, 1) : stmt_count + 1;
	rec->ended_by = TXG_END_NONE;
	rec->in_block = false;
	rec->in_savepoint = false;
	txg_copy_text(rec->appname, application_name, sizeof(rec->appname));
	txg_copy_text(rec->client_addr,
				  MyProcPort ? MyProcPort->remote_host : NULL,
				  sizeof(rec->client_addr));
	txg_copy_text(rec->message, edata->message, sizeof(rec->message));
	txg_copy_text(rec->detail, edata->detail, sizeof(rec->detail));
	txg_copy_text(rec->hint, edata->hint, sizeof(rec->hint));
	txg_copy_text(rec->context, edata->context, sizeof(rec->context));
	txg_copy_text(rec->schema_name, edata->schema_name, sizeof(rec->schema_name));
	txg_copy_text(rec->table_name, edata->table_name, sizeof(rec->table_name));
	txg_copy_text(rec->column_name, edata->column_name, sizeof(rec->column_name));
	txg_copy_text(rec->datatype_name, edata->datatype_name, sizeof(rec->datatype_name));
	txg_copy_text(rec->constraint_name, edata->constraint_name, sizeof(rec->constraint_name));
	txg_copy_text(rec->internal_query, edata->internalquery, sizeof(rec->internal_query));
	capture_statement(rec);

	txg_pending_valid = true;
}

/*
 * emit_log_hook: see the comment at the top of the file.
 */
static void
txg_emit_log_hook(ErrorData *edata)
{
	if (edata->elevel >= ERROR && !in_emit_log_hook && txg_enabled &&
		txg_is_client_backend())
	{
		in_emit_log_hook = true;

		if (edata->elevel == ERROR)
		{
			if (IsAbortedTransactionBlockState())
			{
				/* A consequence: never a cause. */
				if (txg_episode_open)
				{
					txg_episode_ignored();
					txg_annotate_error(edata, txg_episode,
									   txg_episode->in_savepoint);
				}
			}
			else if (IsTransactionOrTransactionBlock())
				capture_cause(edata);
		}
		else if (edata->elevel == FATAL && txg_episode_open &&
				 IsAbortedTransactionBlockState())
		{
			bool		ours = txg_timeout_fired &&
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN;

			if (ours)
				txg_fatal_reason = TXG_END_TIMEOUT;
			else if (edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN)
				txg_fatal_reason = TXG_END_TERMINATED;
			else if (edata->sqlerrcode == ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT)
				txg_fatal_reason = TXG_END_IDLE_TIMEOUT;
			else
				txg_fatal_reason = TXG_END_FATAL;
			txg_annotate_fatal(edata, txg_episode, ours);
		}

		in_emit_log_hook = false;
	}

	if (prev_emit_log_hook)
		prev_emit_log_hook(edata);
}
