/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  Copy an error, and the statement it belongs to, into a record.
 *
 * txg_capture_record() runs inside emit_log_hook.  It copies into the
 * fixed-size record it is given (allocated at load time): no allocation,
 * no lock, no ERROR, and every text is cut to its field on a character
 * boundary of the database encoding, which is stored with the record so
 * that readers in other databases can convert it (sql/funcs.c).  Every
 * text it is handed (the error's fields, the statement text the tracker
 * points at) is copied before the hook returns: nothing is kept.
 *
 * Remote errors.  dblink and postgres_fdw raise the errors of another
 * server as errors of their own, with the remote SQLSTATE; txguard knows
 * them by the function that relays them (ErrorData.funcname, which is not
 * translated) and marks the record "remote".  A relayed 25P02 is the
 * consequence of an earlier error on the remote server: if that server
 * runs txguard, the DETAIL names that error, and the record takes its
 * SQLSTATE and message as the cause; otherwise the record keeps the 25P02,
 * the one case where a 25P02 is a cause.
 *
 * This file keeps no state.
 *
 * IDENTIFICATION
 *	  src/capture/capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/libpq-be.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "capture.h"
#include "compat.h"
#include "guc.h"
#include "stmtsplit.h"
#include "traceparent.h"

/*
 * The statement text, as txg_split_cut() (stmtsplit.c) chooses it: without
 * the blanks, semicolons and comments around it, cut to
 * txguard.max_statement_length bytes.  'partial': the text may end in the
 * middle of a character (the activity text core cut to
 * track_activity_query_size).
 */
static void
capture_statement(TxgRecord *rec, const char *str, int len, bool partial)
{
	int			start;
	bool		truncated;

	len = txg_split_cut(str, len, partial, txg_max_statement_length,
						pgstat_track_activity_query_size, &start, &truncated);
	if (len > 0)
		memcpy(rec->statement, str + start, len);
	rec->statement[len] = '\0';
	rec->stmt_truncated = truncated;
}

/* The functions through which dblink and postgres_fdw relay remote errors */
static bool
relayed_from_remote(const ErrorData *edata)
{
	return edata->funcname != NULL &&
		(strcmp(edata->funcname, "dblink_res_error") == 0 ||
		 strcmp(edata->funcname, "pgfdw_report_error") == 0);
}

/*
 * The cause a remote txguard named in the DETAIL of a 25P02 it annotated:
 * "... an earlier error in statement N: ERROR XXXXX: message ( ...)"
 * (annotate.c).  Sets the record's SQLSTATE and message; false if the
 * DETAIL names none.  The message ends at the first " (" or " Statement: ",
 * so a remote message holding one of those is cut there.
 */
static bool
take_remote_cause(TxgRecord *rec, const char *detail)
{
	static const char lead[] = "The transaction was aborted by an earlier error in statement ";
	const char *p;
	const char *msg;
	const char *end;
	const char *paren;
	int			len;

	if (detail == NULL || (p = strstr(detail, lead)) == NULL)
		return false;
	p += sizeof(lead) - 1;
	while (*p >= '0' && *p <= '9')
		p++;
	if (strncmp(p, ": ERROR ", 8) != 0)
		return false;
	p += 8;
	for (int i = 0; i < 5; i++)
	{
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'A' && p[i] <= 'Z')))
			return false;
	}
	if (strncmp(p + 5, ": ", 2) != 0)
		return false;
	msg = p + 7;
	end = msg + strlen(msg);
	paren = strstr(msg, " (");
	if (paren != NULL && paren < end)
		end = paren;
	paren = strstr(msg, " Statement: ");
	if (paren != NULL && paren < end)
		end = paren;
	len = Min(end - msg, (int) sizeof(rec->message) - 1);
	len = pg_mbcliplen(msg, len, len);
	rec->sqlerrcode = MAKE_SQLSTATE(p[0], p[1], p[2], p[3], p[4]);
	memcpy(rec->message, msg, len);
	rec->message[len] = '\0';
	return true;
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
	rec->backend_type = (int32) MyBackendType;
	txg_copy_text(rec->backend_desc,
				  MyBackendType == B_BG_WORKER && MyBgworkerEntry != NULL ?
				  MyBgworkerEntry->bgw_type : GetBackendTypeDesc(MyBackendType),
				  sizeof(rec->backend_desc));
	rec->queryid = ref->queryid;
	rec->xact_start = GetCurrentTransactionStartTimestamp();
	rec->stmt_start = GetCurrentStatementStartTimestamp();
	rec->aborted_at = GetCurrentTimestamp();
	rec->idle_since = rec->aborted_at;
	rec->ended_at = 0;
	rec->ignored = 0;
	rec->repeats = 0;
	rec->sqlerrcode = edata->sqlerrcode;
	rec->stmt_ordinal = ref->ordinal;
	rec->ended_by = TXG_END_NONE;
	rec->in_block = false;
	rec->in_savepoint = false;
	rec->at_commit = ref->at_commit;
	rec->copy_in = ref->copy_in;
	rec->remote = relayed_from_remote(edata);
	rec->blocker_state = TXG_BLOCKER_NONE;
	rec->blocker_pid = 0;
	rec->blocker_userid = InvalidOid;
	rec->blocker_backend_start = 0;
	rec->blocker_xact_start = 0;
	rec->blocker_appname[0] = '\0';
	rec->blocker_statement[0] = '\0';
	rec->lock_waited[0] = '\0';
	if (!txg_find_traceparent(ref->text, ref->len, rec->trace_id,
							  rec->span_id))
		(void) txg_find_traceparent(ref->lead, ref->lead_len, rec->trace_id,
									rec->span_id);
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
	if (rec->remote && rec->sqlerrcode == ERRCODE_IN_FAILED_SQL_TRANSACTION)
		(void) take_remote_cause(rec, edata->detail);
	capture_statement(rec, ref->text, ref->len, ref->text_partial);
}
