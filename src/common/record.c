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

/* One text field, up to and including its NUL */
static inline void
copy_used(char *dst, const char *src)
{
	if (src[0] == '\0')
		dst[0] = '\0';
	else
		memcpy(dst, src, strlen(src) + 1);
}

/*
 * The text fields after the fixed ones, in TxgRecord's order, up to the
 * statement: txg_record_copy() copies each only up to its end, and
 * txg_record_tidy() zeroes what follows it.  One list for both, so that a
 * new field cannot be copied and left untidy, or the reverse.
 */
#define TAIL_TEXTS(X) \
	X(message) X(detail) X(hint) X(context) X(schema_name) X(table_name) \
	X(column_name) X(datatype_name) X(constraint_name) X(internal_query) \
	X(blocker_appname) X(blocker_statement) X(lock_waited)

void
txg_record_copy(TxgRecord *dst, const TxgRecord *src)
{
#define COPY(field) copy_used(dst->field, src->field);
	memcpy(dst, src, offsetof(TxgRecord, message));
	TAIL_TEXTS(COPY);
	copy_used(dst->statement, src->statement);
#undef COPY
}

/* A text field ends inside its array, and nothing follows its end */
static void
tidy_text(char *field, Size size)
{
	Size		len;

	field[size - 1] = '\0';
	len = strlen(field);
	memset(field + len, 0, size - len);
}

/*
 * Make every text of a record end inside its array, whatever its bytes
 * (a record read from the persistence file), and zero what follows each
 * end (a record copied up to its ends keeps older bytes there: they are not
 * written to the file).
 */
void
txg_record_tidy(TxgRecord *rec)
{
#define TIDY(field) tidy_text(rec->field, sizeof(rec->field))
#define TIDY_EACH(field) TIDY(field);
	TIDY(backend_desc);
	TIDY(trace_id);
	TIDY(span_id);
	TIDY(appname);
	TIDY(client_addr);
	TAIL_TEXTS(TIDY_EACH);
#undef TIDY_EACH
#undef TIDY
}
