/*-------------------------------------------------------------------------
 *
 * endline.h
 *	  The server log line written when an aborted block ends
 *	  (capture/endline.c).
 *
 * IDENTIFICATION
 *	  src/capture/endline.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_ENDLINE_H
#define TXGUARD_ENDLINE_H

#include "utils/elog.h"

#include "record.h"

/* Does txguard.log_aborts want a line for this ended episode? */
extern bool txg_endline_wanted(const TxgRecord *rec);

/* Write it: never from the error machinery or an abort callback */
extern void txg_endline_write(const TxgRecord *rec);

/* emit_log_hook: keep txguard's own line from the client */
extern void txg_endline_filter(ErrorData *edata);

#endif							/* TXGUARD_ENDLINE_H */
