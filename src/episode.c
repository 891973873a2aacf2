/*-------------------------------------------------------------------------
 *
 * episode.c
 *	  The life of an aborted transaction: binding a captured error to the
 *	  abort that follows it, and noticing how the aborted state ends.
 *
 * An "episode" starts when an error captured by emit_log_hook (capture.c)
 * is followed by the abort of the same transaction: XACT_EVENT_ABORT for a
 * transaction, SUBXACT_EVENT_ABORT_SUB for a savepoint.  Aborts without a
 * captured error (ROLLBACK, a procedure's ROLLBACK, the abort of a PL/pgSQL
 * exception block's subtransaction, whose error was caught and never
 * emitted) start nothing.  If the abort leaves an explicit transaction
 * block aborted the episode stays open until ROLLBACK, ROLLBACK TO
 * SAVEPOINT, COMMIT or PREPARE TRANSACTION (seen by capture.c's
 * ProcessUtility hook) or until the session ends (before_shmem_exit).
 * Otherwise (autocommit statement, multi-statement string, failed COMMIT)
 * it is closed at once as "implicit".
 *
 * Abort callbacks run after LWLockReleaseAll() with interrupts held; the
 * code here and in history.c never raises an ERROR there and allocates
 * nothing: the three records it uses are allocated once, at load time.
 * The only lock taken is txguard's own LWLock, inside history.c, and never
 * when this backend already holds it.
 *
 * IDENTIFICATION
 *	  src/episode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "txguard.h"

/* The error captured by emit_log_hook, waiting for its abort */
TxgRecord  *txg_pending = NULL;
bool		txg_pending_valid = false;

/* The open episode of this backend */
TxgRecord  *txg_episode = NULL;
bool		txg_episode_open = false;
static bool episode_tracked = false;

/* This backend's most recent abort, for txguard_last_abort() */
TxgRecord  *txg_last = NULL;
bool		txg_last_valid = false;

/* Transaction block bookkeeping, maintained by capture.c */
bool		txg_explicit_block = false; /* BEGIN seen in this transaction */
bool		txg_block_ending = false;	/* COMMIT or PREPARE is running */
bool		txg_chain_pending = false;	/* ... AND CHAIN starts a new block */

/* Why a FATAL ended the open episode, set by emit_log_hook */
TxgEndReason txg_fatal_reason = TXG_END_NONE;

/* Per-backend registration done */
bool		txg_backend_ready = false;

static void txg_xact_callback(XactEvent event, void *arg);
static void txg_subxact_callback(SubXactEvent event,
								 SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg);
static void txg_shmem_exit(int code, Datum arg);

void
txg_episode_init(void)
{
	Size		size = txg_record_size();

	txg_pending = MemoryContextAllocZero(TopMemoryContext, size);
	txg_episode = MemoryContextAllocZero(TopMemoryContext, size);
	txg_last = MemoryContextAllocZero(TopMemoryContext, size);

	RegisterXactCallback(txg_xact_callback, NULL);
	RegisterSubXactCallback(txg_subxact_callback, NULL);
}

/*
 * Per-backend set-up, done at the first top-level statement of a backend,
 * a safe place: never inside the error machinery.  Registering after
 * InitPostgres makes txg_shmem_exit run before ShutdownPostgres aborts the
 * transaction, while the block is still visibly aborted.
 */
void
txg_backend_init(void)
{
	txg_backend_ready = true;
	if (!txg_is_client_backend())
		return;
	before_shmem_exit(txg_shmem_exit, (Datum) 0);
	txg_timeout_register();
	txg_slot_clear();
}

/* A transaction ended normally, or without an error of its own. */
static void
transaction_ended(void)
{
	txg_pending_valid = false;
	txg_statement_reset();
	txg_explicit_block = txg_chain_pending;
	txg_chain_pending = false;
	txg_block_ending = false;
}

/*
 * Close the open episode.  Called from ProcessUtility (ROLLBACK and
 * friends), from a new abort, and from before_shmem_exit.
 */
static void
episode_close(TxgEndReason reason)
{
	TxgRecord  *ep = txg_episode;

	txg_timeout_disarm();
	ep->ended_by = reason;
	ep->ended_at = GetCurrentTimestamp();
	txg_episode_open = false;

	txg_slot_clear();
	txg_history_end(ep, episode_tracked);

	if (txg_last_valid && txg_last->aborted_at == ep->aborted_at)
		memcpy(txg_last, ep, txg_record_size());

	if (txg_log_aborts)
		txg_log_episode_end(ep);
}

/*
 * An abort.  "sub" is true for the abort of a subtransaction.
 */
static void
abort_happened(bool sub)
{
	TxgRecord  *rec = txg_pending;
	bool		tracked;

	/* A COMMIT ... AND CHAIN that fails starts no new transaction. */
	if (!sub && txg_block_ending)
		txg_chain_pending = false;

	if (!txg_pending_valid ||
		rec->xact_start != GetCurrentTransactionStartTimestamp())
	{
		txg_pending_valid = false;
		if (!sub)
		{
			if (txg_enabled && TransactionBlockStatusCode() == 'T' &&
				txg_is_client_backend())
				txg_note_uncaptured_abort();
			if (!txg_episode_open)
				transaction_ended();
		}
		return;
	}
	txg_pending_valid = false;

	/* An exit we did not see (should not happen): close the old episode. */
	if (txg_episode_open)
		episode_close(sub ? TXG_END_ROLLBACK_TO : TXG_END_ROLLBACK);

	if (sub)
	{
		rec->in_block = true;
		rec->in_savepoint = true;
	}
	else
	{
		rec->in_block = txg_explicit_block && !txg_block_ending;
		rec->in_savepoint = false;
	}
	if (!rec->in_block)
	{
		rec->ended_by = TXG_END_IMPLICIT;
		rec->ended_at = rec->aborted_at;
	}

	tracked = txg_track == TXG_TRACK_ALL ||
		(txg_track == TXG_TRACK_BLOCKS && rec->in_block);
	txg_history_record(rec, tracked);

	memcpy(txg_last, rec, txg_record_size());
	txg_last_valid = true;

	if (rec->in_block)
	{
		memcpy(txg_episode, rec, txg_record_size());
		txg_episode_open = true;
		episode_tracked = tracked;
		txg_fatal_reason = TXG_END_NONE;
		txg_slot_publish(txg_episode);
		txg_timeout_arm();
		if (!sub)
			txg_statement_reset();
	}
	else if (!sub)
		transaction_ended();
}

/*
 * Transaction callback.  Everything but the abort is one comparison and a
 * few stores.
 */
static void
txg_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
			abort_happened(false);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			transaction_ended();
			break;
		default:
			break;
	}
}

static void
txg_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && txg_pending_valid)
		abort_happened(true);
}

/*
 * An error was raised while the block is aborted: one more ignored
 * command, and the idle clock starts again.  Runs inside emit_log_hook.
 */
void
txg_episode_ignored(void)
{
	txg_episode->ignored++;
	txg_episode->idle_since = GetCurrentTimestamp();
	txg_slot_touch(txg_episode);
	txg_timeout_arm();
}

/*
 * The session left the aborted state with ROLLBACK, ROLLBACK TO SAVEPOINT,
 * COMMIT or PREPARE TRANSACTION (chain: ... AND CHAIN).
 */
void
txg_episode_exit(TxgEndReason reason, bool chain)
{
	txg_pending_valid = false;
	if (reason != TXG_END_ROLLBACK_TO)
	{
		txg_statement_reset();
		txg_explicit_block = chain;

		/*
		 * If only a savepoint was aborted, the transaction itself aborts
		 * after this, and its abort event must not forget the chain.
		 */
		txg_chain_pending = chain;
		txg_block_ending = false;
	}
	if (txg_episode_open)
		episode_close(reason);
}

/*
 * A statement runs while an episode is open, so the session left the
 * aborted state in a way txguard did not see.  Close it rather than keep
 * a stale cause.
 */
void
txg_episode_heal(void)
{
	if (txg_episode_open && !IsAbortedTransactionBlockState())
		episode_close(TXG_END_ROLLBACK);
}

/*
 * before_shmem_exit callback: the session ends while its block is aborted.
 */
static void
txg_shmem_exit(int code, Datum arg)
{
	TxgEndReason reason = txg_fatal_reason;

	if (!txg_episode_open)
		return;

	if (reason == TXG_END_NONE)
	{
		/* The FATAL did not reach emit_log_hook (log_min_messages = panic). */
		if (txg_timeout_fired)
			reason = TXG_END_TIMEOUT;
#ifdef TXG_HAVE_SESSION_END_CAUSE
		else if (pgStatSessionEndCause == DISCONNECT_KILLED)
			reason = TXG_END_TERMINATED;
		else if (pgStatSessionEndCause == DISCONNECT_FATAL)
			reason = TXG_END_FATAL;
#endif
		else
			reason = TXG_END_DISCONNECT;
	}
	episode_close(reason);
}
