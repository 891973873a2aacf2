/*-------------------------------------------------------------------------
 *
 * endline.c
 *	  The server log line written when an aborted transaction block ends:
 *	  which blocks get one (txguard.log_aborts) and what it says.
 *
 * Which blocks.  With txguard.log_aborts = problems (the default) a block
 * gets a line if the client did not end it itself (a timeout, a
 * termination, a disconnect, another FATAL, a recovery conflict), or if it
 * stayed aborted for txguard.log_aborts_min_duration or longer.  A block
 * the client rolled back at once gets none: its first rejected command's
 * 25P02 is already in the log with the cause (txguard.log_ignored_commands
 * = first), and core logged the ERROR itself; most blocks an ORM aborts
 * end that way, and one more line each would cost more than everything
 * else txguard does for them.  "all" logs every block (1.1's behaviour),
 * "off" none.
 *
 * The line is written with ereport() from a safe place (a utility's end,
 * the next statement, the end of the session: episode.c decides), never
 * from emit_log_hook or an abort callback; it is kept from the client in
 * emit_log_hook (txg_endline_filter), through a flag only this file
 * writes.  No locks.
 *
 * IDENTIFICATION
 *	  src/capture/endline.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "endline.h"
#include "errcodes.h"
#include "guc.h"

/* Set while txg_endline_write() reports its WARNING */
static bool emitting = false;

bool
txg_endline_wanted(const TxgRecord *rec)
{
	switch (txg_log_aborts)
	{
		case TXG_LOG_ABORTS_OFF:
			return false;
		case TXG_LOG_ABORTS_ALL:
			return true;
		default:
			break;
	}
	switch ((TxgEndReason) rec->ended_by)
	{
		case TXG_END_ROLLBACK:
		case TXG_END_ROLLBACK_TO:
		case TXG_END_COMMIT:
		case TXG_END_PREPARE:
			/* the client ended it: a line only if it took long */
			return txg_log_aborts_min_duration >= 0 &&
				rec->ended_at - rec->aborted_at >=
				(int64) txg_log_aborts_min_duration * 1000;
		default:
			return true;
	}
}

void
txg_endline_filter(ErrorData *edata)
{
	if (emitting && edata->elevel == WARNING)
	{
		edata->output_to_client = false;
		emitting = false;
	}
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
 * The line: how the block ended and the cause's condition and SQLSTATE
 * first; then, in parentheses with a fixed grammar, the numbers and the
 * texts that may be long (each text in double quotes, a double quote inside
 * doubled); the cause's message last, unquoted.  For example (on one line):
 *
 *	WARNING:  txguard: aborted transaction ended by rollback; cause
 *	unique_violation SQLSTATE 23505 (2 ignored commands, 1.234 s aborted,
 *	statement 2, query id 8713209128; detail "Key (id)=(1) already
 *	exists."; statement "INSERT INTO users VALUES (1)"): duplicate key value
 *	violates unique constraint "users_pkey"
 *
 * The optional parts, in this order: "; query id N" after the statement
 * number; then "; detail ...", "; statement ..." (or "; truncated
 * statement ..."), "; remote", "; waited for ..." (the lock), "; blocked
 * by pid N application ... statement ...", "; trace id T span id S".
 * Line breaks and tabs in the
 * texts and the message become spaces, so the line splits unambiguously.
 * pgBadger masks quoted and parenthesized parts when it groups messages,
 * so it groups these lines by how the block ended and by cause.
 *
 * pgBadger reports WARNING and above only, so the line is a WARNING when
 * the server log takes warnings, LOG otherwise (log_min_messages = error),
 * never sent to the client; its SQLSTATE is the cause's, for csvlog and
 * jsonlog.
 */
void
txg_endline_write(const TxgRecord *rec)
{
	StringInfoData buf;
	long		secs;
	int			usecs;
	int			elevel;
	const char *how = txg_end_reason_name(rec->ended_by);
	const char *condition = txg_condition_name(rec->sqlerrcode);
	const char *sqlstate = unpack_sql_state(rec->sqlerrcode);

	if (txg_server_log_wants(WARNING))
		elevel = WARNING;
	else if (txg_server_log_wants(LOG_SERVER_ONLY))
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
	if (rec->remote)
		appendStringInfoString(&buf, "; remote");
	if (rec->lock_waited[0] != '\0')
	{
		appendStringInfoString(&buf, "; waited for ");
		append_quoted(&buf, rec->lock_waited);
	}
	if (rec->blocker_state == TXG_BLOCKER_FOUND)
	{
		appendStringInfo(&buf, "; blocked by pid %d application ",
						 rec->blocker_pid);
		append_quoted(&buf, rec->blocker_appname);
		if (rec->blocker_statement[0] != '\0')
		{
			appendStringInfoString(&buf, " statement ");
			append_quoted(&buf, rec->blocker_statement);
		}
	}
	if (rec->trace_id[0] != '\0')
		appendStringInfo(&buf, "; trace id %s span id %s",
						 rec->trace_id, rec->span_id);
	appendBinaryStringInfo(&buf, "): ", 3);
	append_one_line(&buf, rec->message);

	emitting = (elevel == WARNING);
	ereport(elevel,
			(errcode(rec->sqlerrcode),
			 errmsg_internal("%s", buf.data),
			 errhidestmt(true),
			 errhidecontext(true)));
	emitting = false;
	pfree(buf.data);
}
