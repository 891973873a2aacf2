/*-------------------------------------------------------------------------
 *
 * episode.c
 *	  The life of an aborted transaction: its cause, the ignored commands,
 *	  every way it ends, and how a FATAL that ends it is classified; and
 *	  the transaction boundaries, which this file alone decides.
 *
 * The hooks in hooks.c only report events:
 *
 *	txg_episode_report		emit_log_hook saw a report
 *	txg_episode_abort		XACT_EVENT_ABORT / SUBXACT_EVENT_ABORT_SUB
 *	txg_episode_commit		XACT_EVENT_COMMIT / XACT_EVENT_PREPARE
 *	txg_episode_utility_start / _done
 *							a top-level TransactionStmt starts / returned
 *	txg_episode_statement_start
 *							a top-level statement starts: a safe place
 *	txg_episode_backend_start / _exit
 *							the session's first statement, its end
 *
 * Transaction boundaries.  A transaction ends at an abort or commit
 * callback, or, leaving an aborted block, when ROLLBACK, COMMIT or PREPARE
 * TRANSACTION returns (CleanupTransaction runs no callback).  This file
 * tells the statement tracker (stmt.c) each time, so that it counts the
 * next transaction from 1.
 *
 * The cause.  emit_log_hook copies an error that is about to abort the
 * transaction into the "pending" record, with the statement it belongs to
 * (stmt.c).  The abort callback that follows binds it: if the abort leaves
 * an explicit transaction block aborted, an episode opens; otherwise (an
 * autocommit statement, a multi-statement string, a failed COMMIT) the
 * abort is recorded as "implicit" at once.  Aborts without a captured error
 * (ROLLBACK, a procedure's ROLLBACK, a PL/pgSQL exception block's
 * subtransaction) start nothing.
 *
 * The end.  ROLLBACK, ROLLBACK TO SAVEPOINT, COMMIT and PREPARE TRANSACTION
 * end an episode (txg_episode_utility_done); so does the end of the
 * session, whose reason a FATAL classified in txg_episode_report gives.
 *
 * Rules.  txg_episode_report runs inside emit_log_hook, txg_episode_abort
 * inside AbortTransaction (after LWLockReleaseAll, interrupts held): both
 * never raise an ERROR, never allocate (the records are allocated once, in
 * txg_episode_init) and never log; annotate.c's additions to a report are
 * allocated by core's error machinery, in ErrorContext.  An end-of-block
 * line of an episode that ends there waits for the next safe point
 * (txg_episode_statement_start, a utility's end, or the end of the
 * session).  The only lock taken is txguard's statistics LWLock, inside
 * store/stats.c, never while it is held already: in the abort callbacks,
 * and from the hook only for a background worker whose error comes after
 * its abort (the lock is txguard's own and never held across an error).
 *
 * IDENTIFICATION
 *	  src/capture/episode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "annotate.h"
#include "blocker.h"
#include "capture.h"
#include "compat.h"
#include "endline.h"
#include "episode.h"
#include "guc.h"
#include "idle_timeout.h"
#include "ring.h"
#include "slots.h"
#include "stats.h"
#include "stmt.h"

typedef struct EpisodeState
{
	TxgRecord  *pending;		/* the error captured by the hook */
	bool		pending_valid;

	/*
	 * This backend's latest abort; while "open" it is the open episode.  A
	 * bound abort swaps the pending and last buffers: no copy.
	 */
	TxgRecord  *last;
	bool		last_valid;
	bool		open;
	bool		in_history;		/* written to the shared history */
	bool		detailed;		/* counted per role, statement, application */
	TxgStatsRef stats_ref;		/* where the abort was counted */
	char	   *cause_text;		/* the open episode's cause sentence */
	int			cause_len;		/* -1 until formatted */
	TxgRecord  *deferred_line;	/* an ended episode whose line waits */
	bool		line_pending;

	/* transaction block bookkeeping */
	bool		explicit_block; /* BEGIN seen in this transaction */
	bool		block_ending;	/* COMMIT or PREPARE is running */
	bool		chain_pending;	/* ... AND CHAIN starts a new block */
	bool		utility_was_aborted;	/* state when the utility started */

	TxgEndReason fatal_reason;	/* why a FATAL ends the session */

	/* inside the abort path: nothing may log or allocate (asserted) */
	bool		in_abort_path;

	/* errors are not passed to emit_log_hook: warn once */
	bool		warn_hidden_errors;
	bool		warned_hidden_errors;
} EpisodeState;

static EpisodeState ep;

/* A safe point has work to do (read by txg_episode_statement_start) */
bool		txg_episode_attention = false;

static inline void
update_attention(void)
{
	txg_episode_attention = ep.line_pending || ep.open ||
		txg_blocker_pending() ||
		(ep.warn_hidden_errors && !ep.warned_hidden_errors);
}

/*
 * A safe point: finish looking up the session that held the lock the
 * latest abort waited for, and keep what was found everywhere that record
 * is (the history, the live slot of an open episode).
 */
static void
resolve_blocker(void)
{
	if (!txg_blocker_pending())
		return;
	if (ep.last_valid && txg_blocker_resolve(ep.last))
	{
		txg_ring_update_blocker(ep.last);
		if (ep.open)
		{
			txg_slot_publish(ep.last);
			ep.cause_len = -1;	/* the cause sentence names the blocker now */
		}
	}
	update_attention();
}

void
txg_episode_init(void)
{
	Size		size = txg_record_size();

	ep.pending = MemoryContextAllocZero(TopMemoryContext, size);
	ep.last = MemoryContextAllocZero(TopMemoryContext, size);
	ep.deferred_line = MemoryContextAllocZero(TopMemoryContext, size);
	ep.cause_text = MemoryContextAllocZero(TopMemoryContext,
										   txg_cause_bufsize());
}

/*
 * Is this a process whose errors txguard follows?  Client backends (and a
 * single-user backend), and background workers that run SQL: logical
 * replication's apply and table synchronisation workers, pg_cron's jobs
 * and other extensions' workers.  Parallel workers are skipped because the
 * leader re-throws their errors and reports them itself; the server's own
 * processes (autovacuum, walsenders, checkpointer, ...) run no SQL of a
 * client.
 */
bool
txg_is_client_backend(void)
{
	return MyProc != NULL && !IsParallelWorker() &&
		(MyBackendType == B_BACKEND || MyBackendType == B_BG_WORKER ||
		 !IsUnderPostmaster);
}

/* The session's first top-level statement: per-backend set-up */
void
txg_episode_backend_start(void)
{
	if (!txg_is_client_backend())
		return;
	txg_timeout_register();
	txg_slot_clear();
}

/* Is an episode open?  (For the SQL functions.) */
bool
txg_episode_is_open(void)
{
	return ep.open;
}

/*
 * Copy this backend's latest abort into 'out' (txg_record_size() bytes),
 * with the open episode's live counters.  False if there is none.
 */
bool
txg_episode_last(TxgRecord *out)
{
	if (!ep.last_valid)
		return false;
	memcpy(out, ep.last, txg_record_size());
	return true;
}

/* The open episode's cause sentence, formatted once, when first needed */
static void
format_cause(void)
{
	if (ep.cause_len < 0)
		ep.cause_len = txg_format_cause(ep.cause_text, txg_cause_bufsize(),
										ep.last);
}

/* Write a waiting end-of-block line: only at a safe point */
static void
write_pending_line(void)
{
	Assert(!ep.in_abort_path);
	if (ep.line_pending)
	{
		ep.line_pending = false;
		update_attention();
		txg_endline_write(ep.deferred_line);
	}
}

/* A transaction ended normally, or without an error of its own. */
static void
transaction_ended(void)
{
	ep.pending_valid = false;
	ep.explicit_block = ep.chain_pending;
	ep.chain_pending = false;
	ep.block_ending = false;
}

/*
 * Close the open episode.  'can_log': this is a safe place for ereport();
 * otherwise the line waits for the next safe point.
 */
static void
episode_close(TxgEndReason reason, bool can_log)
{
	TxgRecord  *rec = ep.last;

	txg_timeout_disarm();
	rec->ended_by = reason;
	rec->ended_at = GetCurrentTimestamp();
	ep.open = false;
	update_attention();

	txg_slot_clear();
	if (ep.in_history)
		txg_ring_complete(rec);
	txg_stats_count_end(rec, &ep.stats_ref);

	if (!txg_endline_wanted(rec))
		return;
	if (can_log)
	{
		write_pending_line();
		txg_endline_write(rec);
	}
	else
	{
		/* a second unsafe end before a safe point replaces the first */
		memcpy(ep.deferred_line, rec, txg_record_size());
		ep.line_pending = true;
		update_attention();
	}
}

/*
 * A top-level statement starts, or a utility ends: a safe place to write a
 * waiting end-of-block line, to warn about invisible errors, and to close
 * an episode whose end was not seen (the session is no longer aborted).
 */
void
txg_episode_statement_start_work(void)
{
	resolve_blocker();
	write_pending_line();
	if (ep.open && !IsAbortedTransactionBlockState())
		episode_close(TXG_END_ROLLBACK, true);
	if (unlikely(ep.warn_hidden_errors && !ep.warned_hidden_errors))
	{
		ep.warned_hidden_errors = true;
		update_attention();
		ereport(WARNING,
				(errmsg("txguard cannot see the errors of this session"),
				 errdetail("The server log does not take errors while \"log_min_messages\" is set to \"%s\", and txguard sees only what goes there.",
						   GetConfigOption("log_min_messages", false, false)),
				 errhint("Set \"log_min_messages\" to \"error\" or a lower level.")));
	}
}

/* An error raised while the block is aborted: a consequence, never a cause */
static void
consequence(ErrorData *edata)
{
	TxgRecord  *rec = ep.last;

	if (!ep.open)
		return;
	rec->ignored++;
	rec->idle_since = GetCurrentTimestamp();
	rec->copy_in = false;
	txg_slot_touch(rec);
	txg_timeout_arm();
	if (txg_annotate != TXG_ANNOTATE_OFF)
	{
		format_cause();
		txg_annotate_error(edata, rec, ep.cause_text, ep.cause_len);
	}

	/*
	 * A client looping on an aborted connection must not flood the server
	 * log: by default only the first annotated error of an episode goes
	 * there.  The client still gets every one.
	 */
	if (txg_log_ignored == TXG_LOG_IGNORED_NONE ||
		(txg_log_ignored == TXG_LOG_IGNORED_FIRST && rec->ignored > 1))
		edata->output_to_server = false;
}

/* An error about to abort the transaction: the pending record */
static void
capture(const ErrorData *edata)
{
	TxgStmtRef	ref;

	txg_stmt_charge_error(edata, &ref);
	txg_capture_record(ep.pending, edata, &ref);
	txg_blocker_capture(ep.pending, edata);
	ep.pending_valid = true;
}

/* Why does this FATAL end a session whose block is aborted? */
static TxgEndReason
classify_fatal(const ErrorData *edata)
{
	switch (edata->sqlerrcode)
	{
		case ERRCODE_ADMIN_SHUTDOWN:

			/*
			 * txguard's timer asks for termination the way a SIGTERM does. If
			 * a real SIGTERM (pg_terminate_backend, shutdown) came too, the
			 * termination is the administrator's.
			 */
			return txg_timeout_ended_session() ?
				TXG_END_TIMEOUT : TXG_END_TERMINATED;
		case ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT:
			return TXG_END_IDLE_TIMEOUT;
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
		case ERRCODE_DATABASE_DROPPED:
			/* "terminating connection due to conflict with recovery" */
			return TXG_END_RECOVERY_CONFLICT;
		default:
			return TXG_END_FATAL;
	}
}

/*
 * emit_log_hook saw a report of a client backend (never while the hook is
 * already running).
 */
void
txg_episode_report(ErrorData *edata)
{
	if (edata->elevel == ERROR)
	{
		if (IsAbortedTransactionBlockState())
			consequence(edata);
		else if (IsTransactionOrTransactionBlock())
			capture(edata);
		else if (MyBackendType == B_BG_WORKER)
		{
			/*
			 * A background worker that aborts its transaction before it
			 * reports the error (logical replication's apply worker does, to
			 * report the failure in an idle state) reaches here with the
			 * abort already done: bind it at once, as its abort callback
			 * would have.
			 */
			capture(edata);
			txg_episode_abort(false);
		}
	}
	else if (edata->elevel == FATAL)
	{
		if (ep.open && IsAbortedTransactionBlockState())
		{
			ep.fatal_reason = classify_fatal(edata);
			format_cause();
			txg_annotate_fatal(edata, ep.last, ep.cause_text, ep.cause_len,
							   ep.fatal_reason);
		}
	}
	else
	{
		if (edata->elevel == LOG)
			txg_blocker_note(edata);
		txg_endline_filter(edata);
	}
}

/*
 * An abort: of the transaction, or with 'sub' of a subtransaction.  Runs
 * inside AbortTransaction: see the rules at the top of the file.
 */
static void episode_abort(bool sub);

void
txg_episode_abort(bool sub)
{
	ep.in_abort_path = true;
	episode_abort(sub);
	ep.in_abort_path = false;
	update_attention();
	if (!sub)
		txg_stmt_xact_end();
}

/*
 * Should this abort go to the shared history, and the detailed statistics?
 * With track = blocks the history keeps what no client sees at once: the
 * aborts that leave a block aborted, and background workers' failures.
 */
static void
what_to_keep(const TxgRecord *rec, bool *history, bool *detailed)
{
	*detailed = (txg_track != TXG_TRACK_NONE);
	*history = txg_track == TXG_TRACK_ALL ||
		(txg_track == TXG_TRACK_BLOCKS &&
		 (rec->in_block || rec->backend_type == B_BG_WORKER));
}

static void
episode_abort(bool sub)
{
	TxgRecord  *rec = ep.pending;

	/* A COMMIT ... AND CHAIN that fails starts no new transaction. */
	if (!sub && ep.block_ending)
		ep.chain_pending = false;

	if (!ep.pending_valid ||
		rec->xact_start != GetCurrentTransactionStartTimestamp() ||
		rec->stmt_start != GetCurrentStatementStartTimestamp())
	{
		ep.pending_valid = false;
		if (!sub)
		{
			if (txg_enabled && TransactionBlockStatusCode() == 'T' &&
				txg_is_client_backend() && !txg_errors_reach_hook())
			{
				ep.warn_hidden_errors = true;
				update_attention();
			}
			if (!ep.open)
				transaction_ended();
		}
		return;
	}
	ep.pending_valid = false;

	/* An end we did not see (should not happen): close the old episode. */
	if (ep.open)
		episode_close(sub ? TXG_END_ROLLBACK_TO : TXG_END_ROLLBACK, false);

	/* the captured record becomes the latest abort: swap, do not copy */
	ep.pending = ep.last;
	ep.last = rec;
	ep.last_valid = true;

	if (sub)
	{
		rec->in_block = true;
		rec->in_savepoint = true;
	}
	else
	{
		rec->in_block = ep.explicit_block && !ep.block_ending;
		rec->in_savepoint = false;
	}
	if (!rec->in_block)
	{
		rec->ended_by = TXG_END_IMPLICIT;
		rec->ended_at = rec->aborted_at;
	}

	what_to_keep(rec, &ep.in_history, &ep.detailed);
	rec->slot = txg_slot_index();
	rec->seq = 0;
	if (ep.in_history &&
		!(rec->backend_type == B_BG_WORKER && !rec->in_block &&
		  txg_ring_repeat(rec)))
		txg_ring_add(rec);
	txg_stats_count_abort(rec, sub, ep.detailed, &ep.stats_ref);

	if (rec->in_block)
	{
		ep.cause_len = -1;		/* formatted when first needed */
		ep.open = true;
		update_attention();
		ep.fatal_reason = TXG_END_NONE;
		txg_slot_publish(rec);

		/*
		 * A client still sending the data of a failed COPY FROM STDIN of a
		 * simple Query is not idle, though core told it at once that it is
		 * ready: the clock starts at its next command, as core's
		 * idle-in-transaction timeout does.
		 */
		if (!rec->copy_in)
			txg_timeout_arm();
	}
	else if (!sub)
		transaction_ended();
}

/* The transaction committed or was prepared. */
void
txg_episode_commit(void)
{
	transaction_ended();
	txg_stmt_xact_end();
}

/*
 * A top-level TransactionStmt starts.  While the block is aborted only
 * ROLLBACK, ROLLBACK TO SAVEPOINT, COMMIT and PREPARE TRANSACTION get here.
 */
void
txg_episode_utility_start(TransactionStmt *tstmt)
{
	ep.utility_was_aborted = IsAbortedTransactionBlockState();
	if (ep.utility_was_aborted)
		return;

	switch (tstmt->kind)
	{
		case TRANS_STMT_BEGIN:
		case TRANS_STMT_START:
			ep.explicit_block = true;
			break;
		case TRANS_STMT_COMMIT:
		case TRANS_STMT_PREPARE:

			/*
			 * Deferred constraints fire after this returns: an error then
			 * belongs to this statement, and it ends the block.
			 */
			ep.block_ending = true;
			ep.chain_pending = tstmt->chain;
			break;
		case TRANS_STMT_ROLLBACK:
			ep.chain_pending = tstmt->chain;
			break;
		default:
			break;
	}
}

/*
 * A top-level TransactionStmt returned normally.  If the block was aborted
 * and no longer is, the exit happened: ROLLBACK, COMMIT and PREPARE end the
 * transaction here (no callback runs for it), ROLLBACK TO SAVEPOINT only the
 * episode.  An error (ROLLBACK TO an unknown savepoint) leaves the session
 * aborted and is an ignored command.
 */
void
txg_episode_utility_done(TransactionStmt *tstmt)
{
	TxgEndReason reason;

	if (!ep.utility_was_aborted || IsAbortedTransactionBlockState())
		return;

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
	ep.pending_valid = false;
	resolve_blocker();
	if (reason != TXG_END_ROLLBACK_TO)
	{
		ep.explicit_block = tstmt->chain;

		/*
		 * If only a savepoint was aborted, the transaction itself aborts
		 * after this, and its abort event must not forget the chain.
		 */
		ep.chain_pending = tstmt->chain;
		ep.block_ending = false;
		txg_stmt_xact_end();
	}
	if (ep.open)
		episode_close(reason, true);
}

/*
 * The session ends (before_shmem_exit).  Closes an open episode with the
 * reason a FATAL gave, or as a disconnect.
 */
void
txg_episode_backend_exit(void)
{
	TxgEndReason reason = ep.fatal_reason;

	resolve_blocker();
	write_pending_line();
	if (!ep.open)
		return;

	if (reason == TXG_END_NONE)
	{
		/* The FATAL did not reach emit_log_hook (log_min_messages = panic). */
		if (txg_timeout_ended_session())
			reason = TXG_END_TIMEOUT;
		else if (TXG_KILLED_BY_SIGNAL())
			reason = TXG_END_TERMINATED;
		else if (TXG_ENDED_BY_FATAL())
			reason = TXG_END_FATAL;
		else
			reason = TXG_END_DISCONNECT;
	}
	episode_close(reason, true);
}
