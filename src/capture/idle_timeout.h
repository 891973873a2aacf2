/*-------------------------------------------------------------------------
 *
 * idle_timeout.h
 *	  Terminating sessions left idle in an aborted transaction block
 *	  (capture/idle_timeout.c).
 *
 * IDENTIFICATION
 *	  src/capture/idle_timeout.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_IDLE_TIMEOUT_H
#define TXGUARD_IDLE_TIMEOUT_H

#include "datatype/timestamp.h"

extern void txg_timeout_register(void);
extern void txg_timeout_arm(void);
extern void txg_timeout_disarm(void);

/* Did txguard's timer, and no real SIGTERM, end this session? */
extern bool txg_timeout_ended_session(void);

/* Since when the session has been idle (or 'fallback' if unknown) */
extern TimestampTz txg_timeout_idle_since(TimestampTz fallback);

#endif							/* TXGUARD_IDLE_TIMEOUT_H */
