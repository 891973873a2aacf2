/*-------------------------------------------------------------------------
 *
 * stmt.c
 *	  The statement tracker: which statement of its transaction is running,
 *	  and which statement an error belongs to.
 *
 * The definition it implements is the README's "Statements and their
 * ordinal" (and test/model/DEFINITION.md, which the reference model
 * follows).  In short: each statement of a simple-protocol query string,
 * each Execute of an extended-protocol portal (chunks of one portal are one
 * statement); a fast-path call only when it fails; BEGIN and the commands
 * rejected while aborted are not counted; an error belongs to the statement being
 * prepared or run when it is raised, and a statement that fails before it
 * runs is counted all the same.
 *
 * The hooks in hooks.c report these events, all of them for top-level work
 * only (the client's own statements, never SPI, functions or the planner's
 * inner queries):
 *
 *	txg_stmt_analyzed	a simple-protocol statement was parsed and analysed
 *						(post_parse_analyze_hook): it becomes "tentative";
 *	txg_stmt_run		a portal runs a statement (ExecutorStart/Run,
 *						ProcessUtility under PortalRun);
 *	txg_stmt_run_end	its executor or utility returned normally;
 *	txg_stmt_xact_end	the transaction ended;
 *
 * and episode.c asks txg_stmt_charge_error() which statement an error
 * belongs to.
 *
 * Identity.  A client message is identified by its statement timestamp
 * (set by PostgresMain for every Query, Parse, Bind, Execute, Describe and
 * fast-path message) together with debug_query_string.  A statement run by
 * a portal is identified by the portal (address and creation time) and the
 * statement's location in the source text; the several plans a rewrite
 * rule makes of one statement share both.  Portals read in chunks are
 * remembered in a small table so that a later Execute finds its statement
 * again.
 *
 * Text pointers kept here point into debug_query_string, and are only used
 * while the message they belong to is still being processed.
 *
 * Everything here is backend-local: no locks, no allocation, no ERROR.
 * txg_stmt_charge_error() runs inside emit_log_hook.  This file is the only
 * writer of the state below.
 *
 * IDENTIFICATION
 *	  src/stmt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "pgstat.h"
#include "tcop/tcopprot.h"
#include "utils/elog.h"
#include "utils/portal.h"

#include "compat.h"
#include "txguard.h"

/* A client message: statement timestamp plus the text being processed */
typedef struct MsgId
{
	TimestampTz ts;
	const char *dqs;
} MsgId;

/* A statement of this transaction that ran (or is running) */
typedef struct Stmt
{
	int			ordinal;
	bool		running;		/* error now is its own (if msg matches) */
	bool		commits;		/* COMMIT/PREPARE: commit-time errors are its */
	bool		copy_in;		/* COPY FROM STDIN */
	MsgId		msg;			/* message of its latest event */
	Portal		portal;			/* running portal, or NULL */
	TimestampTz portal_ct;		/* its creation time */
	QueryDesc  *qd;				/* its current query, or NULL */
	const char *src;			/* source text (valid while msg is current) */
	int			loc;			/* location in src; -1 if unknown */
	int			len;			/* length; 0 means the rest of src */
	uint64		queryid;
	Oid			userid;
} Stmt;

/* A portal read in chunks, and its statement */
typedef struct ChunkedPortal
{
	Portal		portal;
	TimestampTz ct;
	int			loc;
	int			ordinal;
	Oid			userid;
	uint64		queryid;
} ChunkedPortal;

#define MAX_CHUNKED	8

typedef struct Tracker
{
	int			count;			/* statements counted in this transaction */
	Stmt		cur;			/* statement "count", if count > 0 */
	bool		tent_valid;		/* a statement analysed, not yet run */
	Stmt		tent;
	int			nchunked;
	int			next_chunked;
	ChunkedPortal chunked[MAX_CHUNKED];
	MsgId		begin_msg;		/* message of the latest BEGIN run ... */
	int			begin_end;		/* ... and where it ends in its text */
} Tracker;

static Tracker trk;

static const char fastpath_text[] = "<fast-path function call>";

static inline MsgId
current_msg(void)
{
	MsgId		m;

	m.ts = GetCurrentStatementStartTimestamp();
	m.dqs = debug_query_string;
	return m;
}

static inline bool
msg_equal(MsgId a, MsgId b)
{
	return a.ts == b.ts && a.dqs == b.dqs;
}

/* Count a new statement and make it the current one. */
static void
open_statement(const Stmt *s)
{
	trk.count++;
	trk.cur = *s;
	trk.cur.ordinal = trk.count;
}

/* Count the tentative statement (analysed, never run) as a statement */
static void
open_tentative(void)
{
	trk.tent.running = false;
	trk.tent.commits = false;
	trk.tent.copy_in = false;
	trk.tent.portal = NULL;
	trk.tent.portal_ct = 0;
	trk.tent.qd = NULL;
	trk.tent.userid = GetUserId();
	open_statement(&trk.tent);
}

/*
 * A simple-protocol statement (or, at a Bind that re-analyses a statement
 * whose plan was invalidated, an extended one) was parsed and analysed.
 */
void
txg_stmt_analyzed(const char *src, int loc, int len, uint64 queryid,
				  bool is_begin)
{
	TimestampTz ts = GetCurrentStatementStartTimestamp();

	/*
	 * An earlier tentative statement that never ran (a DO INSTEAD NOTHING
	 * rule made nothing of it) was a statement all the same.
	 */
	if (unlikely(trk.tent_valid))
	{
		trk.tent_valid = false;
		if (!(trk.tent.msg.ts == ts && trk.tent.msg.dqs == debug_query_string &&
			  trk.tent.loc == loc))
			open_tentative();
	}

	if (is_begin)
		return;

	/* only what a tentative statement needs; the rest is set if it opens */
	trk.tent.msg.ts = ts;
	trk.tent.msg.dqs = debug_query_string;
	trk.tent.src = src;
	trk.tent.loc = loc;
	trk.tent.len = len;
	trk.tent.queryid = queryid;
	trk.tent_valid = true;
}

static ChunkedPortal *
find_chunked(Portal portal, int loc)
{
	for (int i = 0; i < trk.nchunked; i++)
	{
		ChunkedPortal *c = &trk.chunked[i];

		if (c->portal == portal && c->ct == portal->creation_time &&
			c->loc == loc)
			return c;
	}
	return NULL;
}

/*
 * A portal runs a top-level statement.  'qd' is NULL for a utility,
 * 'limited' is true for an executor run with a row limit (the portal may
 * be read again later).
 */
void
txg_stmt_run(Portal portal, QueryDesc *qd, const char *src, int loc, int len,
			 uint64 queryid, TxgStmtKind kind, bool limited)
{
	TimestampTz ts = GetCurrentStatementStartTimestamp();
	const char *dqs = debug_query_string;
	TimestampTz ct = portal ? portal->creation_time : 0;
	Stmt	   *c = &trk.cur;
	bool		from_tent = false;

	/*
	 * The same statement again: another plan of it, or its executor run.
	 * The plans a rewrite rule adds have no location of their own (-1).
	 */
	if (trk.count > 0 && c->msg.ts == ts && c->msg.dqs == dqs &&
		c->portal == portal && c->portal_ct == ct &&
		(c->loc == loc || loc < 0 || c->loc < 0))
	{
		c->running = true;
		c->qd = qd;
		goto remember;
	}

	/* a later chunk of a portal read in chunks */
	if (unlikely(portal != NULL && trk.nchunked > 0))
	{
		ChunkedPortal *ch = find_chunked(portal, loc);

		if (ch != NULL)
		{
			memset(c, 0, sizeof(*c));
			c->ordinal = ch->ordinal;
			c->running = true;
			c->msg.ts = ts;
			c->msg.dqs = dqs;
			c->portal = portal;
			c->portal_ct = ct;
			c->qd = qd;
			c->src = src;
			c->loc = loc;
			c->len = len;
			c->queryid = ch->queryid;
			c->userid = ch->userid;
			return;
		}
	}

	if (trk.tent_valid)
	{
		trk.tent_valid = false;
		if (trk.tent.msg.ts == ts && trk.tent.msg.dqs == dqs &&
			(trk.tent.loc == loc || loc < 0))
			from_tent = true;	/* the analysed statement runs */
		else if (!(portal != NULL && trk.tent.msg.ts == ct))
		{
			/*
			 * The tentative statement never ran and this portal was not
			 * created by the Bind that analysed it: it was a statement of
			 * its own (DO INSTEAD NOTHING).
			 */
			open_tentative();
		}
		/* else: a Bind re-analysed the statement this portal now runs */
	}

	/*
	 * BEGIN is not a statement of the transaction, but a statement of the
	 * string that fails next comes after it.
	 */
	if (kind == TXG_STMT_BEGIN)
	{
		c->running = false;
		if (loc >= 0 && src == dqs && dqs != NULL)
		{
			trk.begin_msg.ts = ts;
			trk.begin_msg.dqs = dqs;
			trk.begin_end = len > 0 ? loc + len : (int) strlen(src);
		}
		return;
	}

	/* a new statement: fill it in place */
	trk.count++;
	c->ordinal = trk.count;
	c->running = true;
	c->commits = (kind == TXG_STMT_COMMIT);
	c->copy_in = (kind == TXG_STMT_COPY_IN);
	c->msg.ts = ts;
	c->msg.dqs = dqs;
	c->portal = portal;
	c->portal_ct = ct;
	c->qd = qd;
	c->src = src;
	if (from_tent)
	{
		c->loc = trk.tent.loc;
		c->len = trk.tent.len;
		c->queryid = trk.tent.queryid != 0 ? trk.tent.queryid : queryid;
		c->userid = GetUserId();
	}
	else
	{
		c->loc = loc;
		c->len = len;
		c->queryid = queryid;
		c->userid = GetUserId();
	}

remember:
	if (unlikely(limited) && portal != NULL &&
		portal->strategy == PORTAL_ONE_SELECT && find_chunked(portal, loc) == NULL)
	{
		ChunkedPortal *ch;

		if (trk.nchunked < MAX_CHUNKED)
			ch = &trk.chunked[trk.nchunked++];
		else
		{
			/* full: replace entries in turn */
			ch = &trk.chunked[trk.next_chunked];
			trk.next_chunked = (trk.next_chunked + 1) % MAX_CHUNKED;
		}
		ch->portal = portal;
		ch->ct = ct;
		ch->loc = loc;
		ch->ordinal = c->ordinal;
		ch->userid = c->userid;
		ch->queryid = c->queryid;
	}
}

/*
 * The executor of 'qd' ended normally (ExecutorEnd), or, with qd NULL, a
 * top-level utility returned normally.
 */
void
txg_stmt_run_end(QueryDesc *qd)
{
	if (trk.count == 0 || !trk.cur.running)
		return;
	if (qd != NULL && trk.cur.qd != qd)
		return;

	/*
	 * The statement is over.  Its message stays what it was: a portal
	 * dropped by a later message (the next Bind replaces the unnamed
	 * portal) must not make that message look like the statement's own.
	 */
	trk.cur.running = false;
	trk.cur.qd = NULL;
}

/*
 * The transaction ended.  A new one starts counting from 1.
 */
void
txg_stmt_xact_end(void)
{
	trk.tent_valid = false;
	trk.nchunked = 0;
	trk.cur.qd = NULL;

	/*
	 * A procedure's COMMIT or ROLLBACK ends a transaction while its CALL
	 * still runs: the CALL is statement 1 of the transaction it starts.
	 * (A statement that failed is no longer running: see
	 * txg_stmt_charge_error.)
	 */
	if (trk.count > 0 && trk.cur.running &&
		msg_equal(trk.cur.msg, current_msg()))
	{
		trk.count = 1;
		trk.cur.ordinal = 1;
		return;
	}
	trk.count = 0;
	trk.cur.running = false;
}

/*
 * Byte offset of 1-based character position cpos in s, or -1.  The
 * position just past the end ("syntax error at end of input") is len.
 */
static int
char_to_byte(const char *s, int len, int cpos)
{
	int			b = 0;

	for (int c = 1; c < cpos; c++)
	{
		if (b >= len || s[b] == '\0')
			return -1;
		b += pg_mblen(s + b);
	}
	return b <= len ? b : -1;
}

/* Point ref's text at s[start..end) */
static void
set_text(TxgStmtRef *ref, const char *s, int start, int end)
{
	ref->text = s + start;
	ref->len = Max(end - start, 0);
}

/* Set ref's text to statement st of the current message */
static void
set_stmt_text(TxgStmtRef *ref, const Stmt *st)
{
	int			slen;

	if (st->src == NULL)
		return;
	slen = strlen(st->src);
	if (st->loc < 0 || st->loc > slen)
		set_text(ref, st->src, 0, slen);
	else if (st->len > 0 && st->loc + st->len <= slen)
		set_text(ref, st->src, st->loc, st->loc + st->len);
	else
		set_text(ref, st->src, st->loc, slen);
}

/* Is this error one of a Describe or Close naming a missing object? */
static bool
describe_error(int sqlerrcode)
{
	return sqlerrcode == ERRCODE_UNDEFINED_PSTATEMENT ||
		sqlerrcode == ERRCODE_UNDEFINED_CURSOR ||
		sqlerrcode == ERRCODE_PROTOCOL_VIOLATION;
}

/*
 * The work of txg_stmt_charge_error(); see there.
 */
static void
charge_error(const ErrorData *edata, TxgStmtRef *ref)
{
	MsgId		now = current_msg();
	const char *dqs = debug_query_string;
	int			dlen = dqs ? strlen(dqs) : 0;

	memset(ref, 0, sizeof(*ref));
	ref->userid = GetUserId();

	/* 1. A statement is running: the error is its own. */
	if (trk.count > 0 && trk.cur.running && msg_equal(trk.cur.msg, now))
	{
		ref->ordinal = trk.cur.ordinal;
		ref->queryid = trk.cur.queryid;
		ref->userid = trk.cur.userid;
		ref->copy_in = trk.cur.copy_in;
		set_stmt_text(ref, &trk.cur);
		return;
	}

	/*
	 * A statement analysed in an earlier message never ran (a DO INSTEAD
	 * NOTHING rule made nothing of it): it was a statement all the same.
	 */
	if (trk.tent_valid && !msg_equal(trk.tent.msg, now))
	{
		trk.tent_valid = false;
		open_tentative();
	}

	/* 2. A statement analysed in this message failed before it ran. */
	if (trk.tent_valid)
	{
		int			pos = -1;

		trk.tent_valid = false;
		if (edata->cursorpos > 0 && dqs != NULL && trk.tent.src == dqs)
			pos = char_to_byte(dqs, dlen, edata->cursorpos);

		/*
		 * Unless the error points outside it: then the analysed statement
		 * was complete (a DO INSTEAD NOTHING rule made nothing of it) and a
		 * later statement of the string failed in its analysis (case 4).
		 */
		if (pos >= 0 && trk.tent.loc >= 0 &&
			(pos < trk.tent.loc ||
			 (trk.tent.len > 0 && pos > trk.tent.loc + trk.tent.len)))
			open_tentative();
		else
		{
			open_tentative();
			trk.cur.running = true;
			ref->ordinal = trk.cur.ordinal;
			ref->queryid = trk.cur.queryid;
			ref->userid = trk.cur.userid;
			set_stmt_text(ref, &trk.cur);
			return;
		}
	}

	/* 3. The commit that follows the statement just run. */
	if (trk.count > 0 && msg_equal(trk.cur.msg, now) && dqs != NULL)
	{
		int			end;

		if (trk.cur.loc < 0)
			end = dlen;
		else if (trk.cur.len > 0)
			end = Min(trk.cur.loc + trk.cur.len, dlen);
		else
			end = dlen;
		/* a BEGIN of the string ran after it */
		if (msg_equal(trk.begin_msg, now) && trk.begin_end > end)
			end = Min(trk.begin_end, dlen);

		if (trk.cur.commits)
		{
			/* an explicit COMMIT or PREPARE TRANSACTION */
			ref->ordinal = trk.cur.ordinal;
			ref->queryid = trk.cur.queryid;
			ref->userid = trk.cur.userid;
			ref->at_commit = true;
			set_stmt_text(ref, &trk.cur);
			return;
		}
		if (txg_split_rest_is_empty(dqs, dlen, end))
		{
			/*
			 * The implicit commit at the end of the query string: charged to
			 * its last statement, and the text is the whole string.
			 */
			ref->ordinal = trk.cur.ordinal;
			ref->queryid = trk.cur.queryid;
			ref->userid = trk.cur.userid;
			ref->at_commit = true;
			set_text(ref, dqs, 0, dlen);
			return;
		}

		/* 4. The next statement of the string failed before it ran. */
		trk.count++;
		ref->ordinal = trk.count;
		{
			int			start,
						stop;

			if (txg_split_next(dqs, dlen, end, &start, &stop))
				set_text(ref, dqs, start, stop);
			else
				set_text(ref, dqs, end, dlen);
		}
		trk.cur.running = false;
		trk.cur.loc = -1;
		trk.cur.ordinal = trk.count;
		return;
	}

	/* 5. No statement text: Sync, Describe or a fast-path call. */
	if (dqs == NULL)
	{
		const char *activity = NULL;
		bool		fastpath = false;
		PgBackendStatus *be = TXG_MY_BEENTRY();

		/* our own entry: we are its only writer, no lock needed */
		if (be != NULL && pgstat_track_activities)
		{
			fastpath = (be->st_state == STATE_FASTPATH);
			activity = be->st_activity_raw;
		}

		if (!fastpath && trk.count > 0 && !IsTransactionBlock() &&
			!describe_error(edata->sqlerrcode))
		{
			/*
			 * The implicit commit at an extended-protocol Sync: charged to
			 * the statement executed last.  Its text is gone from memory
			 * once a later Parse replaced the unnamed statement; the
			 * activity text is still its own only if no message came after
			 * its Execute (same statement timestamp), else there is none.
			 */
			ref->ordinal = trk.cur.ordinal;
			ref->queryid = trk.cur.queryid;
			ref->userid = trk.cur.userid;
			ref->at_commit = true;
			if (activity != NULL &&
				be->st_activity_start_timestamp == trk.cur.msg.ts)
			{
				set_text(ref, activity, 0, strlen(activity));
				ref->text_partial = true;
			}
			return;
		}

		trk.count++;
		ref->ordinal = trk.count;
		if (fastpath)
			set_text(ref, fastpath_text, 0, strlen(fastpath_text));
		memset(&trk.cur, 0, sizeof(trk.cur));
		trk.cur.ordinal = trk.count;
		trk.cur.loc = -1;
		return;
	}

	/*
	 * 6. Nothing of this message ran: a Parse, a Bind, a query string that
	 * did not parse, or the first statement of a string failing in analysis.
	 * It counts as one statement.  The text is the whole string for a Parse
	 * of several commands, else the statement that holds the error's
	 * position, else the one after a BEGIN of the string that ran, else the
	 * first one of the string.
	 */
	trk.count++;
	ref->ordinal = trk.count;
	ref->queryid = TXG_MY_QUERY_ID();
	{
		int			start,
					stop;
		int			pos = edata->cursorpos > 0 ?
			char_to_byte(dqs, dlen, edata->cursorpos) : -1;

		if (edata->message_id != NULL &&
			strcmp(edata->message_id,
				   "cannot insert multiple commands into a prepared statement") == 0)
		{
			/* a Parse of several commands: the prepared statement's text */
			set_text(ref, dqs, 0, dlen);
		}
		else if (pos >= 0 && txg_split_at(dqs, dlen, pos, &start, &stop))
			set_text(ref, dqs, start, stop);
		else if (msg_equal(trk.begin_msg, now) &&
				 txg_split_next(dqs, dlen, Min(trk.begin_end, dlen),
								&start, &stop))
			set_text(ref, dqs, start, stop);	/* the one after BEGIN */
		else if (txg_split_next(dqs, dlen, 0, &start, &stop))
			set_text(ref, dqs, start, stop);
		else
			set_text(ref, dqs, 0, dlen);
	}
	memset(&trk.cur, 0, sizeof(trk.cur));
	trk.cur.ordinal = trk.count;
	trk.cur.loc = -1;
	trk.cur.msg = now;
}

/*
 * Which statement does this error belong to?  Called from emit_log_hook for
 * an error about to abort the transaction (not for errors raised while it
 * is already aborted).  A statement that failed before it ran is counted
 * here; after the error no statement is running any more.  Never fails,
 * never allocates.
 */
void
txg_stmt_charge_error(const ErrorData *edata, TxgStmtRef *ref)
{
	charge_error(edata, ref);
	trk.cur.running = false;
	trk.cur.qd = NULL;
}
