/*-------------------------------------------------------------------------
 *
 * errcodes.h
 *	  What a SQLSTATE means: condition name, class, retry rule.
 *
 * IDENTIFICATION
 *	  src/common/errcodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_ERRCODES_H
#define TXGUARD_ERRCODES_H

extern const char *txg_condition_name(int sqlerrcode);
extern const char *txg_class_name(int sqlerrcode);
extern bool txg_retryable(int sqlerrcode);
extern int	txg_errcodes_count(void);
extern const char *txg_errcodes_sqlstate(int i);

#endif							/* TXGUARD_ERRCODES_H */
