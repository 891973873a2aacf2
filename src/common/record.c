/*-------------------------------------------------------------------------
 *
 * record.c
 *	  The size of an abort record, the names of its end reasons, and the
 *	  bounded text copy every field is filled with.
 *
 * Pure functions: no state, no locks, no allocation, never an ERROR; they
 * are called from emit_log_hook and the abort callbacks.
 *
 * IDENTIFICATION
 *	  src/common/record.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "guc.h"
#include "record.h"

/*
 * The statement length is fixed at server start, so every record has the
 * same size.
 */
Size
txg_record_size(void)
{
	return MAXALIGN(offsetof(TxgRecord, statement) +
					(Size) txg_max_statement_length + 1);
}

const char *
txg_end_reason_name(TxgEndReason reason)
{
	switch (reason)
	{
		case TXG_END_NONE:
			return NULL;
		case TXG_END_ROLLBACK:
			return "rollback";
		case TXG_END_ROLLBACK_TO:
			return "rollback to savepoint";
		case TXG_END_COMMIT:
			return "commit";
		case TXG_END_PREPARE:
			return "prepare";
		case TXG_END_DISCONNECT:
			return "disconnect";
		case TXG_END_TIMEOUT:
			return "timeout";
		case TXG_END_TERMINATED:
			return "terminated";
		case TXG_END_IDLE_TIMEOUT:
			return "idle-in-transaction timeout";
		case TXG_END_FATAL:
			return "fatal";
		case TXG_END_IMPLICIT:
			return "implicit";
		case TXG_END_RECOVERY_CONFLICT:
			return "recovery conflict";
	}
	return "unknown";
}

void
txg_copy_text(char *dst, const char *src, int dstsize)
{
	int			len;

	if (src == NULL)
	{
		dst[0] = '\0';
		return;
	}
	len = strnlen(src, dstsize);
	if (len >= dstsize)
		len = pg_mbcliplen(src, len, dstsize - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}
