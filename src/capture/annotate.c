/*-------------------------------------------------------------------------
 *
 * annotate.c
 *	  The words txguard adds: to the errors of an aborted transaction, to the
 *	  FATAL that ends an aborted session, and to the server log.
 *
 * txg_annotate_error() and txg_annotate_fatal() run inside emit_log_hook.
 * They may only replace edata->detail, edata->hint, edata->message (and,
 * for txguard's own timeout, edata->sqlerrcode) with strings allocated in
 * ErrorContext (the current memory context there, which errfinish and
 * FlushErrorState free): a bounded allocation per report, with
 * MCXT_ALLOC_NO_OOM, so that if memory is short the report simply goes out
 * unannotated.  They never raise an ERROR, never log and take no lock.  The
 * SQLSTATE and primary message of a 25P02 are left byte for byte as core
 * wrote them unless the user asked for txguard.annotate = message.  The
 * cause sentence itself is formatted once per episode (episode.c) into a
 * buffer allocated at load time.
 *
 * The end-of-block line is endline.c's.
 *
 * IDENTIFICATION
 *	  src/capture/annotate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "annotate.h"
#include "guc.h"
#include "idle_timeout.h"

/* Room for the cause: every field of a record plus the words around them */
#define CAUSE_BUFSIZE(rec_stmt_len) \
	(TXG_MESSAGE_LEN + TXG_DETAIL_LEN + (rec_stmt_len) + TXG_APPNAME_LEN + 256)

/* A bounded writer: what does not fit is dropped */
typedef struct Writer
{
	char	   *p;
	char	   *end;			/* one before the last byte: room for the NUL */
} Writer;

static inline void
put(Writer *w, const char *s, size_t n)
{
	size_t		room = w->end - w->p;

	if (n > room)
		n = room;
	memcpy(w->p, s, n);
	w->p += n;
}

#define PUT_LITERAL(w, lit) put((w), (lit), sizeof(lit) - 1)

static inline void
put_str(Writer *w, const char *s)
{
	put(w, s, strlen(s));
}

static void
put_int(Writer *w, int v)
{
	char		digits[12];
	char	   *d = digits + sizeof(digits);
	unsigned int u = v < 0 ? -(unsigned int) v : (unsigned int) v;

	do
	{
		*--d = '0' + u % 10;
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--d = '-';
	put(w, d, digits + sizeof(digits) - d);
}

/*
 * Write the sentence that names a cause into buf, for example
 *
 *	The transaction was aborted by an earlier error in statement 2:
 *	ERROR 23505: duplicate key value violates unique constraint "t_pkey"
 *	(Key (id)=(1) already exists.) Statement: INSERT INTO t VALUES (1)
 *
 * (on one line).  No timings: this text reaches clients and regression
 * tests.  Returns the length written; never fails.  Put together by hand:
 * it is formatted once for every aborted block.
 */
int
txg_format_cause(char *buf, int bufsize, const TxgRecord *cause)
{
	Writer		w;

	if (bufsize <= 0)
		return 0;
	w.p = buf;
	w.end = buf + bufsize - 1;
	PUT_LITERAL(&w, "The transaction was aborted by an earlier error in statement ");
	put_int(&w, cause->stmt_ordinal);
	PUT_LITERAL(&w, ": ERROR ");
	put(&w, unpack_sql_state(cause->sqlerrcode), 5);
	PUT_LITERAL(&w, ": ");
	put_str(&w, cause->message);
	if (cause->detail[0] != '\0')
	{
		PUT_LITERAL(&w, " (");
		put_str(&w, cause->detail);
		PUT_LITERAL(&w, ")");
	}
	if (cause->statement[0] != '\0')
	{
		PUT_LITERAL(&w, " Statement: ");
		put_str(&w, cause->statement);
		if (cause->stmt_truncated)
			PUT_LITERAL(&w, "...");
	}
	if (cause->blocker_state == TXG_BLOCKER_FOUND)
	{
		PUT_LITERAL(&w, " It was blocked by process ");
		put_int(&w, cause->blocker_pid);
		PUT_LITERAL(&w, " (application \"");
		put_str(&w, cause->blocker_appname);
		PUT_LITERAL(&w, "\").");
	}
	*w.p = '\0';
	return w.p - buf;
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
	 * message already says what to do (end the transaction block), and a HINT
	 * would cost every aborted block one more server log line.
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
 * A FATAL ends a session whose transaction block is aborted; 'reason' is
 * how episode.c classified it.  If it is txguard's own idle timeout, turn
 * core's "terminating connection due to administrator command" into a
 * message of its own with SQLSTATE 25P03 and say how long the session was
 * idle; if it is core's idle_in_transaction_session_timeout or a conflict
 * with recovery, add the cause to its DETAIL.  pg_terminate_backend() and
 * shutdown are left as core wrote them.  With txguard.annotate = off the
 * cause is never added.
 */
void
txg_annotate_fatal(ErrorData *edata, const TxgRecord *cause,
				   const char *cause_text, int cause_len, TxgEndReason reason)
{
	bool		name_cause = (txg_annotate != TXG_ANNOTATE_OFF);

	if (reason == TXG_END_TIMEOUT)
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
		TimestampDifference(txg_timeout_idle_since(cause->idle_since),
							GetCurrentTimestamp(), &secs, &usecs);
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
			 (reason == TXG_END_IDLE_TIMEOUT ||
			  reason == TXG_END_RECOVERY_CONFLICT))
		append_cause_to_detail(edata, cause_text, cause_len, NULL);
}
