/*-------------------------------------------------------------------------
 *
 * idle_timeout.c
 *	  Terminate sessions left idle in an aborted transaction block
 *	  (txguard.idle_in_aborted_transaction_timeout).
 *
 * Idle means what it means for core's idle_in_transaction_session_timeout:
 * the backend told the client it is ready (ReadyForQuery) and waits for
 * its next command.  A pipeline still arriving after an error (core skips
 * its messages until Sync) or the rest of a failed COPY's data is not
 * idle, and the clock starts only when core reports the session "idle in
 * transaction (aborted)".
 *
 * Each backend has its own timer (a USER_TIMEOUT of timeout.c), registered
 * at the backend's first statement and armed only while an episode is open:
 * a session that never aborts has no timer running and pays nothing.  It is
 * armed when the abort is bound (episode.c) and re-armed on every error
 * raised while aborted (emit_log_hook), which makes up for core's error
 * recovery, which cancels every timer (disable_all_timeouts) before the
 * hook runs.  It is disarmed when the episode ends.
 *
 * The timer first fires txguard.idle_in_aborted_transaction_timeout after
 * it was armed, then every tenth of it (10 ms to 1 s).  The handler runs in
 * signal context: it reads only its own sig_atomic_t flag, the backend's
 * own wait event (a 4-byte word only this backend writes) and, where the
 * backend's activity entry is used (15 and later, with
 * track_activities on), that entry's state and the time it entered it
 * (only this backend writes them; a write in progress makes the handler
 * look again at the next tick).  The session must be waiting for its
 * client, in state "idle in transaction (aborted)", and must have been so
 * for the whole timeout; then the handler sets ProcDiePending, as die()
 * does, and ProcessInterrupts raises "terminating connection due to
 * administrator command", which emit_log_hook recognises
 * (txg_timeout_ended_session) and rewrites (annotate.c).  Otherwise it
 * looks again at the next tick.  Without the activity entry (track_activities
 * off, or PostgreSQL 13 and 14) waiting for the client counts as idle, from
 * the moment the timer was armed; on 13 and 14 the timer is a one-shot.
 *
 * Only client backends ever arm the timer.  No locks are taken here.
 *
 * IDENTIFICATION
 *	  src/capture/idle_timeout.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "guc.h"
#include "idle_timeout.h"

/* Set by the handler when it asked the backend to terminate */
static volatile sig_atomic_t fired = false;

static TimeoutId timeout_id;
static bool timeout_registered = false;
static volatile sig_atomic_t timeout_armed = false;

static void txg_timeout_handler(void);

void
txg_timeout_register(void)
{
	if (timeout_registered)
		return;
	timeout_id = RegisterTimeout(USER_TIMEOUT, txg_timeout_handler);
	timeout_registered = true;
}

/*
 * Start (or restart) the clock of the open episode (episode.c calls this
 * only while one is open).
 */
void
txg_timeout_arm(void)
{
	if (!timeout_registered)
		return;
	if (txg_idle_timeout <= 0)
	{
		txg_timeout_disarm();
		return;
	}

	timeout_armed = true;
#ifdef TXG_HAVE_PERIODIC_TIMEOUT
	{
		TimestampTz fin;
		int			interval;

		/* after the timeout, look again every 10% of it (10 ms to 1 s) */
		interval = Max(Min(txg_idle_timeout / 10, 1000), 10);
		fin = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										  txg_idle_timeout);
		enable_timeout_every(timeout_id, fin, interval);
	}
#else
	enable_timeout_after(timeout_id, txg_idle_timeout);
#endif
}

void
txg_timeout_disarm(void)
{
	if (timeout_registered && timeout_armed)
	{
		timeout_armed = false;
		disable_timeout(timeout_id, false);
	}
}

bool
txg_timeout_ended_session(void)
{
	return fired && !TXG_KILLED_BY_SIGNAL();
}

/*
 * The time the session became idle in its aborted block, as core reported
 * it, or 'fallback'.
 */
TimestampTz
txg_timeout_idle_since(TimestampTz fallback)
{
#ifdef TXG_HAVE_PERIODIC_TIMEOUT
	volatile PgBackendStatus *be = TXG_MY_BEENTRY();

	if (be != NULL && be->st_state == STATE_IDLEINTRANSACTION_ABORTED)
		return be->st_state_start_timestamp;
#endif
	return fallback;
}

/*
 * Has the session been idle for the whole timeout?  Signal context: see
 * the file header.
 */
static bool
idle_long_enough(void)
{
#ifdef TXG_HAVE_PERIODIC_TIMEOUT
	volatile PgBackendStatus *be = TXG_MY_BEENTRY();

	if (be != NULL && be->st_state != STATE_DISABLED)
	{
		int			cc = be->st_changecount;
		BackendState state = be->st_state;
		TimestampTz since = be->st_state_start_timestamp;

		if ((cc & 1) != 0 || be->st_changecount != cc)
			return false;		/* being written: look again later */
		if (state != STATE_IDLEINTRANSACTION_ABORTED)
			return false;		/* a pipeline or COPY data still arriving */
		return GetCurrentTimestamp() - since >=
			(int64) txg_idle_timeout * 1000;
	}
#endif
	/* no activity entry: waiting for the client is idle */
	return true;
}

/*
 * Timeout handler: signal context.
 */
static void
txg_timeout_handler(void)
{
	uint32		wait_event;

	if (!timeout_armed || MyProc == NULL)
		return;

	wait_event = *((volatile uint32 *) &MyProc->wait_event_info);
	if (!TXG_WAITING_FOR_CLIENT(wait_event) || !idle_long_enough())
		return;

	fired = true;
	InterruptPending = true;
	ProcDiePending = true;
	/* handle_sig_alarm has already set our latch */
}
