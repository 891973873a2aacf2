/*-------------------------------------------------------------------------
 *
 * idle_timeout.c
 *	  Terminate sessions left idle in an aborted transaction block
 *	  (txguard.idle_in_aborted_transaction_timeout).
 *
 * Each backend has its own timer (a USER_TIMEOUT of timeout.c), registered
 * at the backend's first statement and armed only while an episode is open:
 * a session that never aborts has no timer running and pays nothing.  It is
 * armed when the abort is bound (episode.c) and re-armed on every error
 * raised while aborted (emit_log_hook), which both restarts the idle clock
 * on each ignored command and makes up for core's error recovery, which
 * cancels every timer (disable_all_timeouts) before the hook runs.  It is
 * disarmed when the episode ends.
 *
 * The handler runs in signal context: it reads only its own sig_atomic_t
 * flag (armed) and the backend's own wait event (a 4-byte word that the
 * backend itself writes), and sets flags.  If the session is waiting
 * for its client it sets ProcDiePending, as die() does; ProcessInterrupts
 * then raises "terminating connection due to administrator command", which
 * emit_log_hook recognises by txg_timeout_fired and rewrites (annotate.c).
 * If the session is busy (sending a large error to a slow client) the
 * timer, periodic on 14+, looks again a little later.
 *
 * episode.c arms the timer only while an episode is open, and disarms it
 * whenever the episode ends, so "armed" means "idle in an aborted block"
 * whenever the backend waits for its client.  After an error in COPY FROM
 * STDIN the client may still be sending the rest of its data, which core
 * reads and ignores; episode.c then leaves the timer off until the next
 * command, as core's idle-in-transaction timeout does.
 *
 * Only client backends ever arm the timer.  No locks are taken here.
 *
 * IDENTIFICATION
 *	  src/idle_timeout.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "txguard.h"

/* Set by the handler when it asked the backend to terminate */
volatile sig_atomic_t txg_timeout_fired = false;

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
 * Start (or restart) the idle clock of the open episode (episode.c calls
 * this only while one is open).
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
	if (!TXG_WAITING_FOR_CLIENT(wait_event))
		return;

	txg_timeout_fired = true;
	InterruptPending = true;
	ProcDiePending = true;
	/* handle_sig_alarm has already set our latch */
}
