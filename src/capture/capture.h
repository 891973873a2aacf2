/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  Copying an error, and the statement it belongs to, into a record
 *	  (capture/capture.c).
 *
 * IDENTIFICATION
 *	  src/capture/capture.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_CAPTURE_H
#define TXGUARD_CAPTURE_H

#include "utils/elog.h"

#include "record.h"
#include "stmt.h"

extern void txg_capture_record(TxgRecord *rec, const ErrorData *edata,
							   const TxgStmtRef *ref);

#endif							/* TXGUARD_CAPTURE_H */
