/*-------------------------------------------------------------------------
 *
 * blocker.h
 *	  Who held the lock an error waited for (capture/blocker.c).
 *
 * IDENTIFICATION
 *	  src/capture/blocker.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_BLOCKER_H
#define TXGUARD_BLOCKER_H

#include "utils/elog.h"

#include "record.h"

/* emit_log_hook: a LOG report (core's log_lock_waits reports) */
extern void txg_blocker_note(const ErrorData *edata);

/* emit_log_hook: an error about to abort; fills rec's blocker fields */
extern void txg_blocker_capture(TxgRecord *rec, const ErrorData *edata);

/* Is a lookup waiting for a safe point? */
extern bool txg_blocker_pending(void);

/* At a safe point: finish the lookup into rec; true if rec changed */
extern bool txg_blocker_resolve(TxgRecord *rec);

#endif							/* TXGUARD_BLOCKER_H */
