/*-------------------------------------------------------------------------
 *
 * annotate.c
 *	  The words txguard adds: to the errors of an aborted transaction, to the
 *	  FATAL that ends an aborted session, and to the server log.
 *
 * txg_annotate_error() and txg_annotate_fatal() run inside emit_log_hook.
 * They may only replace edata->detail, edata->hint and edata->message with
 * strings allocated in ErrorContext (the current memory context there,
 * which errfinish and FlushErrorState free), with MCXT_ALLOC_NO_OOM: if
 * memory is short the report simply goes out unannotated.  They never raise
 * an ERROR, never log and take no lock.  The SQLSTATE and primary message of
 * a 25P02 are left byte for byte as core wrote them unless the user asked
 * for txguard.annotate = message.
 *
 * txg_log_episode_end() runs outside the error machinery (ProcessUtility or
 * before_shmem_exit) and writes one WARNING (or LOG) record with ereport.
 *
 * IDENTIFICATION
 *	  src/annotate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "txguard.h"

/* Room for the cause: every field of a record plus the words around them */
#define CAUSE_BUFSIZE(rec_stmt_len) \
	(TXG_MESSAGE_LEN + TXG_DETAIL_LEN + (rec_stmt_len) + 256)

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

/*
 * Write the sentence that names a cause into buf, for example
 *
 *	The transaction was aborted by an earlier error in statement 2:
 *	ERROR 23505: duplicate key value violates unique constraint "t_pkey"
 *	(Key (id)=(1) already exists.) Statement: INSERT INTO t VALUES (1)
 *
 * (on one line).  No timings: this text reaches clients and regression
 * tests.  Returns the length written; never fails.
 */
int
txg_format_cause(char *buf, int bufsize, const TxgRecord *cause)
{
	int			n;

	n = snprintf(buf, bufsize,
				 "The transaction was aborted by an earlier error in statement %d: ERROR %s: %s",
				 cause->stmt_ordinal,
				 unpack_sql_state(cause->sqlerrcode),
				 cause->message);
	if (n < bufsize && cause->detail[0] != '\0')
		n += snprintf(buf + n, bufsize - n, " (%s)", cause->detail);
	if (n < bufsize && cause->statement[0] != '\0')
		n += snprintf(buf + n, bufsize - n, " Statement: %s%s",
					  cause->statement,
					  cause->stmt_truncated ? "..." : "");
	return Min(n, bufsize - 1);
}

/* Room for the cause sentence of a record (txg_format_cause) */
Size
txg_cause_bufsize(void)
{
	return CAUSE_BUFSIZE(txg_max_statement_length + 4);
}

/* Allocate in the current (error) context without raising an error. */
static char *
alloc_no_fail(Size size)
{
	return MemoryContextAllocExtended(CurrentMemoryContext, size,
									  MCXT_ALLOC_NO_OOM);
}

/*
 * Append the cause sentence (formatted once, when the episode opened) to
 * edata->detail, after whatever core put there (core's only DETAIL for
 * 25P02 is the recovery-conflict reason).
 */
static void
append_cause_to_detail(ErrorData *edata, const char *cause_text,
					   int cause_len, const char *suffix)
{
	Size		dlen = edata->detail ? strlen(edata->detail) : 0;
	Size		slen = suffix ? strlen(suffix) : 0;
	Size		size = dlen + 2 + cause_len + slen + 2;
	char	   *buf;
	char	   *p;

	buf = alloc_no_fail(size);
	if (buf == NULL)
		return;
	p = buf;
	if (dlen > 0)
	{
		memcpy(p, edata->detail, dlen);
		p += dlen;
		/* core's "abort reason: recovery conflict" has no full stop */
		if (edata->detail[dlen - 1] != '.')
			*p++ = '.';
		*p++ = ' ';
	}
	memcpy(p, cause_text, cause_len);
	p += cause_len;
	if (slen > 0)
	{
		*p++ = ' ';
		memcpy(p, suffix, slen);
		p += slen;
	}
	*p = '\0';
	edata->detail = buf;
}

/*
 * Name the cause on an error raised while the transaction block is aborted.
 */
void
txg_annotate_error(ErrorData *edata, const TxgRecord *cause,
				   const char *cause_text, int cause_len)
{
	if (txg_annotate == TXG_ANNOTATE_OFF)
		return;

	append_cause_to_detail(edata, cause_text, cause_len, NULL);

	/*
	 * When the error aborted a savepoint, say that ROLLBACK TO SAVEPOINT
	 * recovers the transaction: that is not obvious.  Otherwise core's
	 * message already says what to do (end the transaction block), and a
	 * HINT would cost every aborted block one more server log line.
	 */
	if (edata->hint == NULL && cause->in_savepoint)
	{
		static const char hint[] =
		"Roll back to a savepoint set before the error with ROLLBACK TO SAVEPOINT, or end the transaction with ROLLBACK.";
		char	   *buf = alloc_no_fail(sizeof(hint));

		if (buf != NULL)
		{
			memcpy(buf, hint, sizeof(hint));
			edata->hint = buf;
		}
	}

	if (txg_annotate == TXG_ANNOTATE_MESSAGE && edata->message != NULL)
	{
		int			size = strlen(edata->message) + TXG_MESSAGE_LEN + 64;
		char	   *buf = alloc_no_fail(size);

		if (buf != NULL)
		{
			snprintf(buf, size, "%s (aborted by earlier error %s: %s)",
					 edata->message, unpack_sql_state(cause->sqlerrcode),
					 cause->message);
			edata->message = buf;
		}
	}
}

/*
 * A FATAL ends a session whose transaction block is aborted.  If it is
 * txguard's own idle timeout ("ours"), turn core's "terminating connection
 * due to administrator command" into a message of its own with SQLSTATE
 * 25P03 and say how long the session was idle; if it is core's
 * idle_in_transaction_session_timeout or a conflict with recovery, add the
 * cause to its DETAIL.  pg_terminate_backend() and shutdown are left as
 * core wrote them.  With txguard.annotate = off the cause is never added.
 */
void
txg_annotate_fatal(ErrorData *edata, const TxgRecord *cause,
				   const char *cause_text, int cause_len, bool ours)
{
	bool		name_cause = (txg_annotate != TXG_ANNOTATE_OFF);

	if (ours)
	{
		static const char msg[] =
		"terminating connection due to idle-in-aborted-transaction timeout";
		char	   *buf = alloc_no_fail(sizeof(msg));
		char		idle[128];
		long		secs;
		int			usecs;

		if (buf == NULL)
			return;
		memcpy(buf, msg, sizeof(msg));
		edata->message = buf;
		edata->sqlerrcode = ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT;
		TimestampDifference(cause->idle_since, GetCurrentTimestamp(),
							&secs, &usecs);
		snprintf(idle, sizeof(idle),
				 "The session was idle for %ld.%03d s.",
				 secs, usecs / 1000);
		if (name_cause)
			append_cause_to_detail(edata, cause_text, cause_len, idle);
		else
		{
			char	   *d = alloc_no_fail(strlen(idle) + 1);

			if (d != NULL)
			{
				strcpy(d, idle);
				edata->detail = d;
			}
		}
	}
	else if (name_cause &&
			 (edata->sqlerrcode == ERRCODE_IDLE_IN_TRANSACTION_SESSION_TIMEOUT ||
			  edata->sqlerrcode == ERRCODE_T_R_SERIALIZATION_FAILURE ||
			  edata->sqlerrcode == ERRCODE_DATABASE_DROPPED))
		append_cause_to_detail(edata, cause_text, cause_len, NULL);
}

/* Append a text to a log line in double quotes, on one line */
static void
append_quoted(StringInfo buf, const char *s)
{
	const char *run = s;

	appendStringInfoChar(buf, '"');
	for (; *s; s++)
	{
		if (*s != '"' && *s != '\n' && *s != '\r' && *s != '\t')
			continue;
		/* copy the plain run before this character in one go */
		appendBinaryStringInfo(buf, run, s - run);
		if (*s == '"')
			appendBinaryStringInfo(buf, "\"\"", 2);
		else
			appendStringInfoChar(buf, ' ');
		run = s + 1;
	}
	appendBinaryStringInfo(buf, run, s - run);
	appendStringInfoChar(buf, '"');
}

/* Set while txg_log_episode_end() reports its WARNING: see txg_emit_log_hook */
bool		txg_end_line_emitting = false;

/*
 * Would the server log get a report of this level?  elog.c's
 * is_log_level_output(), which is static: LOG ranks between ERROR and FATAL.
 */
static bool
server_log_wants(int elevel)
{
	if (elevel == LOG || elevel == LOG_SERVER_ONLY)
		return log_min_messages == LOG || log_min_messages <= ERROR;
	if (log_min_messages == LOG)
		return elevel >= FATAL;
	return elevel >= log_min_messages;
}

/* Append a text on one line: line breaks and tabs become spaces */
static void
append_one_line(StringInfo buf, const char *s)
{
	const char *run = s;

	for (; *s; s++)
	{
		if (*s != '\n' && *s != '\r' && *s != '\t')
			continue;
		appendBinaryStringInfo(buf, run, s - run);
		appendStringInfoChar(buf, ' ');
		run = s + 1;
	}
	appendBinaryStringInfo(buf, run, s - run);
}

/*
 * The record written when an aborted episode ends: one line with
 * everything on it, for example
 *
 *	WARNING:  txguard: aborted transaction ended by rollback; cause
 *	unique_violation SQLSTATE 23505 (2 ignored commands, 1.234 s aborted,
 *	statement 2, query id 8713209128; detail "Key (id)=(1) already
 *	exists."; statement "INSERT INTO users VALUES (1)"): duplicate key value
 *	violates unique constraint "users_pkey"
 *
 * (on one line).  How the block ended and the cause's condition and
 * SQLSTATE come first; the numbers and the two texts that may be long (the
 * cause's detail and statement, in double quotes with a double quote inside
 * doubled; "truncated statement" for a statement cut at
 * max_statement_length) are in parentheses; the cause's message comes last,
 * unquoted, line breaks and tabs in it and in the texts turned into spaces.
 * The parenthesized part has a fixed grammar, so the line splits
 * unambiguously.  pgBadger masks quoted and parenthesized parts when it
 * groups messages, so it groups these records by how the block ended and by
 * cause, and normalizes the cause's message as it does the ERROR itself.
 *
 * pgBadger reports WARNING and above only, so the record is a WARNING when
 * the server log takes warnings, LOG otherwise (log_min_messages = error),
 * never sent to the client; its SQLSTATE is the cause's, for csvlog and
 * jsonlog.
 */
void
txg_log_episode_end(const TxgRecord *rec)
{
	StringInfoData buf;
	long		secs;
	int			usecs;
	int			elevel;
	const char *how = txg_end_reason_name(rec->ended_by);
	const char *condition = txg_condition_name(rec->sqlerrcode);
	const char *sqlstate = unpack_sql_state(rec->sqlerrcode);

	if (server_log_wants(WARNING))
		elevel = WARNING;
	else if (server_log_wants(LOG_SERVER_ONLY))
		elevel = LOG_SERVER_ONLY;
	else
		return;

	initStringInfo(&buf);
	TimestampDifference(rec->aborted_at, rec->ended_at, &secs, &usecs);
	appendStringInfo(&buf,
					 "txguard: aborted transaction ended by %s; cause %s SQLSTATE %s (%lld ignored command%s, %ld.%03d s aborted, statement %d",
					 how, condition ? condition : sqlstate, sqlstate,
					 (long long) rec->ignored, rec->ignored == 1 ? "" : "s",
					 secs, usecs / 1000, rec->stmt_ordinal);
	if (rec->queryid != 0)
		appendStringInfo(&buf, ", query id " INT64_FORMAT,
						 (int64) rec->queryid);
	if (rec->detail[0] != '\0')
	{
		appendStringInfoString(&buf, "; detail ");
		append_quoted(&buf, rec->detail);
	}
	if (rec->statement[0] != '\0')
	{
		appendStringInfoString(&buf, rec->stmt_truncated ?
							   "; truncated statement " : "; statement ");
		append_quoted(&buf, rec->statement);
	}
	appendBinaryStringInfo(&buf, "): ", 3);
	append_one_line(&buf, rec->message);

	txg_end_line_emitting = (elevel == WARNING);
	ereport(elevel,
			(errcode(rec->sqlerrcode),
			 errmsg_internal("%s", buf.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	txg_end_line_emitting = false;
	pfree(buf.data);
}
