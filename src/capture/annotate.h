/*-------------------------------------------------------------------------
 *
 * annotate.h
 *	  The words txguard adds to the errors of an aborted transaction and to
 *	  the FATAL that ends an aborted session (capture/annotate.c).
 *
 * IDENTIFICATION
 *	  src/capture/annotate.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_ANNOTATE_H
#define TXGUARD_ANNOTATE_H

#include "utils/elog.h"

#include "record.h"

extern Size txg_cause_bufsize(void);
extern int	txg_format_cause(char *buf, int bufsize, const TxgRecord *cause);
extern void txg_annotate_error(ErrorData *edata, const TxgRecord *cause,
							   const char *cause_text, int cause_len);
extern void txg_annotate_fatal(ErrorData *edata, const TxgRecord *cause,
							   const char *cause_text, int cause_len,
							   TxgEndReason reason);

#endif							/* TXGUARD_ANNOTATE_H */
