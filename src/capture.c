/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  Copy an error, and the statement it belongs to, into a record.
 *
 * txg_capture_record() runs inside emit_log_hook.  It copies into the
 * fixed-size record it is given (allocated at load time): no allocation,
 * no lock, no ERROR, and every text is cut to its field on a character
 * boundary of the database encoding, which is stored with the record so
 * that readers in other databases can convert it (funcs.c).
 *
 * This file keeps no state.
 *
 * IDENTIFICATION
 *	  src/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "txguard.h"

/*
 * Copy src into dst (dstsize bytes, NUL included), cutting at a character
 * boundary of the database encoding.  Never fails.
 */
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

static inline bool
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

/*
 * The statement text: leading blanks skipped; it ends where its (last)
 * statement ends, without the semicolons, blanks and comments after it;
 * cut to txguard.max_statement_length bytes.  'partial': the text may end
 * in the middle of a character (the activity text core cut to
 * track_activity_query_size).
 */
static void
capture_statement(TxgRecord *rec, const char *text, int len, bool partial)
{
	int			max = txg_max_statement_length;
	bool		cut;

	rec->stmt_truncated = false;
	rec->statement[0] = '\0';
	if (text == NULL || len <= 0)
		return;

	/* whether core cut it: judged on the whole text, blanks included */
	cut = partial && strnlen(text, len) >=
		pgstat_track_activity_query_size - MAX_MULTIBYTE_CHAR_LEN;

	while (len > 0 && is_blank(*text))
	{
		text++;
		len--;
	}
	/* a NUL inside (it cannot be in a query string, but be safe) */
	len = strnlen(text, len);

	/*
	 * An activity text cut at track_activity_query_size may end inside a
	 * comment or a quote: keep it as it is, but for trailing blanks, rather
	 * than let the scanner trim it to nothing.
	 */
	if (cut)
	{
		while (len > 0 && is_blank(text[len - 1]))
			len--;
	}
	else
		len = txg_split_content_end(text, len);

	if (len > max)
	{
		len = pg_mbcliplen(text, len, max);
		rec->stmt_truncated = true;
	}
	else if (partial)
		len = pg_mbcliplen(text, len, len);	/* no partial last character */
	memcpy(rec->statement, text, len);
	rec->statement[len] = '\0';
}

/*
 * Fill 'rec' from an error about to abort the transaction and the
 * statement stmt.c charged it to.
 */
void
txg_capture_record(TxgRecord *rec, const ErrorData *edata,
				   const TxgStmtRef *ref)
{
	rec->seq = 0;
	rec->pid = MyProcPid;
	rec->slot = -1;
	rec->backend_start = MyStartTimestamp;
	rec->dbid = MyDatabaseId;
	rec->userid = ref->userid;
	rec->encoding = GetDatabaseEncoding();
	rec->queryid = ref->queryid;
	rec->xact_start = GetCurrentTransactionStartTimestamp();
	rec->stmt_start = GetCurrentStatementStartTimestamp();
	rec->aborted_at = GetCurrentTimestamp();
	rec->idle_since = rec->aborted_at;
	rec->ended_at = 0;
	rec->ignored = 0;
	rec->sqlerrcode = edata->sqlerrcode;
	rec->stmt_ordinal = ref->ordinal;
	rec->ended_by = TXG_END_NONE;
	rec->in_block = false;
	rec->in_savepoint = false;
	rec->at_commit = ref->at_commit;
	rec->copy_in = ref->copy_in;
	txg_copy_text(rec->appname, application_name, sizeof(rec->appname));
	txg_copy_text(rec->client_addr,
				  MyProcPort ? MyProcPort->remote_host : NULL,
				  sizeof(rec->client_addr));
	txg_copy_text(rec->message, edata->message, sizeof(rec->message));
	txg_copy_text(rec->detail, edata->detail, sizeof(rec->detail));
	txg_copy_text(rec->hint, edata->hint, sizeof(rec->hint));
	txg_copy_text(rec->context, edata->context, sizeof(rec->context));
	txg_copy_text(rec->schema_name, edata->schema_name, sizeof(rec->schema_name));
	txg_copy_text(rec->table_name, edata->table_name, sizeof(rec->table_name));
	txg_copy_text(rec->column_name, edata->column_name, sizeof(rec->column_name));
	txg_copy_text(rec->datatype_name, edata->datatype_name, sizeof(rec->datatype_name));
	txg_copy_text(rec->constraint_name, edata->constraint_name, sizeof(rec->constraint_name));
	txg_copy_text(rec->internal_query, edata->internalquery, sizeof(rec->internal_query));
	capture_statement(rec, ref->text, ref->len, ref->text_partial);
}
