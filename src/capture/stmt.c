/*-------------------------------------------------------------------------
 *
 * stmt.c
 *	  The statement tracker: which statement of its transaction is running,
 *	  and which statement an error belongs to.
 *
 * The definition it implements is docs/reference.md's "Statements and
 * their ordinal" (and test/model/DEFINITION.md, which the reference model
 * follows).  In short: each statement of a simple-protocol query string
 * that runs, each portal run by Execute messages (all the chunks of a
 * portal are one statement; an Execute of a portal that already returned
 * all its rows runs nothing and is not one); BEGIN, SAVEPOINT, RELEASE and
 * ROLLBACK TO are not statements unless they fail; a fast-path call only
 * when it fails; the commands rejected while aborted are not counted; an
 * error belongs to the statement being prepared or run when it is raised,
 * and a statement that fails before it runs is counted all the same (found
 * in its message's text when the error comes).  A statement a DO INSTEAD
 * NOTHING rule turns into nothing runs nothing and is not counted.
 *
 * The hooks in hooks.c report these events, all of them for top-level work
 * only (the client's own statements, never SPI, functions or the planner's
 * inner queries):
 *
 *	txg_stmt_planning	a statement of the message's text is planned
 *						(the planner hook: its location only);
 *	txg_stmt_query_runs, txg_stmt_utility_runs
 *						a portal runs a statement (ExecutorRun,
 *						ProcessUtility under PortalRun);
 *	txg_stmt_query_end, txg_stmt_utility_end
 *						its executor or utility returned normally;
 *
 * Nothing is counted before a statement runs: a statement that fails while
 * it is parsed, analysed, planned or bound is found at the error, in the
 * text of the message being processed (where it is planned, from the
 * location the planner hook kept; its query id is the one core reported
 * for it, as core reports each statement of a string in turn).  So
 * statements that succeed pay for a few stores each, and no parse-analysis
 * hook is needed.
 *
 * episode.c, which owns transaction boundaries, reports txg_stmt_xact_end
 * and asks txg_stmt_charge_error() which statement an error belongs to.
 *
 * Identity.  A client message is identified by its statement timestamp
 * (set by PostgresMain for every Query, Parse, Bind, Execute, Describe and
 * fast-path message) together with the address of debug_query_string.  A
 * statement run by a portal is identified by the portal (address and
 * creation time), its list of plans and the statement's location in the
 * message's text.  The plans a rewrite rule adds to a statement have no
 * location of their own and belong to the statement run last from the same
 * list.  (A statement of a query string made only of DO INSTEAD rule
 * actions, right after another one, is taken for it in the rare case where
 * its portal and list of plans land at the addresses of the one before.)
 *
 * Borrowed memory.  The tracker never keeps a pointer into memory it does
 * not own.  Its state holds:
 *
 *	MsgId.dqs, Stmt.portal_id, Stmt.stmts_id, Stmt.qd_id,
 *	ChunkedPortal.portal_id
 *		addresses kept as integers (uintptr_t), compared for identity and
 *		never dereferenced;
 *	Stmt.loc, Stmt.len
 *		offsets into the text of the statement's message.  The text itself
 *		is read at error time from debug_query_string, and only while the
 *		statement's message is still the one being processed: core keeps
 *		that string alive until the message is done (for an Execute it is
 *		core's own copy of the portal's text, which outlives the portal: a
 *		COMMIT or PREPARE TRANSACTION that fails after its portal was
 *		dropped still has it);
 *	ChunkedPortal entries
 *		txguard's own, allocated in the portal's memory context when a
 *		portal is first read with a row limit, and unlinked by a reset
 *		callback of that context when the portal goes: the list only ever
 *		holds live portals, and has no fixed size.
 *
 * Everything else here is backend-local: no locks, no ERROR, and no
 * allocation but the ChunkedPortal entries (in ExecutorRun, never in the
 * error path).  txg_stmt_charge_error() runs inside emit_log_hook.  This
 * file is the only writer of the state below.
 *
 * IDENTIFICATION
 *	  src/capture/stmt.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/execdesc.h"
#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "tcop/pquery.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/portal.h"

#include "compat.h"
#include "stmt.h"
#include "stmtsplit.h"
#include "traceparent.h"

/* A client message: statement timestamp plus the text being processed */
typedef struct MsgId
{
	TimestampTz ts;
	uintptr_t	dqs;			/* identity of debug_query_string */
} MsgId;

/* A statement of this transaction that ran (or is running) */
typedef struct Stmt
{
	int			ordinal;
	bool		running;		/* an error now is its own (if msg matches) */
	bool		commits;		/* COMMIT/PREPARE: commit-time errors are its */
	bool		copy_in;		/* simple-protocol COPY FROM STDIN */
	MsgId		msg;			/* message of its latest event */
	uintptr_t	portal_id;		/* identity of its portal, 0 if none */
	TimestampTz portal_ct;		/* the portal's creation time */
	uintptr_t	stmts_id;		/* identity of the portal's list of plans */
	uintptr_t	qd_id;			/* identity of its current query, 0 if none */
	int			loc;			/* location in the message's text; -1 if
								 * unknown */
	int			len;			/* length; 0 means the rest of the text */
	uint64		queryid;
	Oid			userid;
} Stmt;

/*
 * A portal read in chunks, and its statement: allocated in the portal's
 * memory context, unlinked by that context's reset callback.
 */
typedef struct ChunkedPortal
{
	MemoryContextCallback cb;
	dlist_node	node;
	uintptr_t	portal_id;
	TimestampTz ct;
	int			loc;
	uint64		xact;			/* transaction (trk.xact) it belongs to */
	int			ordinal;
	Oid			userid;
	uint64		queryid;
} ChunkedPortal;

typedef struct Tracker
{
	int			count;			/* statements counted in this transaction */
	Stmt		cur;			/* statement "count", if count > 0 */
	bool		uncounted_running;	/* a savepoint command runs: */
	Stmt		uncounted;		/* counted only if it fails */
	MsgId		skip_msg;		/* message of the latest uncounted command
								 * (BEGIN, savepoint) ... */
	int			skip_end;		/* ... and where it ends in its text */
	uintptr_t	plan_dqs;		/* identity of the text of a statement planned
								 * since the last one ran, or 0 */
	int			plan_loc;		/* its location and length in that text */
	int			plan_len;
	uint64		xact;			/* transactions ended so far */
} Tracker;

static Tracker trk;
static dlist_head chunked_portals = DLIST_STATIC_INIT(chunked_portals);
static int	nchunked = 0;		/* entries in chunked_portals */

static const char fastpath_text[] = "<fast-path function call>";

static inline MsgId
current_msg(void)
{
	MsgId		m;

	m.ts = GetCurrentStatementStartTimestamp();
	m.dqs = (uintptr_t) debug_query_string;
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

/* ---- portals read in chunks ---- */

static void
chunked_forget(void *arg)
{
	ChunkedPortal *cp = (ChunkedPortal *) arg;

	dlist_delete(&cp->node);
	nchunked--;
}

static ChunkedPortal *
find_chunked(uintptr_t portal_id, TimestampTz ct, int loc)
{
	dlist_iter	it;

	dlist_foreach(it, &chunked_portals)
	{
		ChunkedPortal *cp = dlist_container(ChunkedPortal, node, it.cur);

		if (cp->portal_id == portal_id && cp->ct == ct && cp->loc == loc &&
			cp->xact == trk.xact)
			return cp;
	}
	return NULL;
}

/* Remember that 'portal' is read in chunks as the current statement */
static void
remember_chunked(Portal portal, int loc)
{
	ChunkedPortal *cp;

	cp = MemoryContextAllocZero(portal->portalContext, sizeof(ChunkedPortal));
	cp->portal_id = (uintptr_t) portal;
	cp->ct = portal->creation_time;
	cp->loc = loc;
	cp->xact = trk.xact;
	cp->ordinal = trk.cur.ordinal;
	cp->userid = trk.cur.userid;
	cp->queryid = trk.cur.queryid;
	cp->cb.func = chunked_forget;
	cp->cb.arg = cp;
	MemoryContextRegisterResetCallback(portal->portalContext, &cp->cb);
	dlist_push_head(&chunked_portals, &cp->node);
	nchunked++;
}

/*
 * The latest uncounted command of this message (BEGIN, a savepoint
 * command) ends here: a statement of the string that fails before it runs
 * comes after it.
 */
static void
remember_skip(MsgId now, int loc, int len)
{
	if (loc < 0 || debug_query_string == NULL)
		return;
	trk.skip_msg = now;
	trk.skip_end = len > 0 ? loc + len : (int) strlen(debug_query_string);
}

/*
 * A portal runs a top-level statement.  'qd' is NULL for a utility,
 * 'limited' is true for an executor run with a row limit (the portal may
 * be read again later).  Inlined into its two callers, so that the one for
 * queries, which every statement that succeeds passes through, has no
 * branch for the kinds of utilities.
 */
static pg_attribute_always_inline void
run_statement(Portal portal, const QueryDesc *qd, int loc, int len,
			  uint64 queryid, TxgStmtKind kind, bool limited)
{
	MsgId		now = current_msg();
	uintptr_t	portal_id = (uintptr_t) portal;
	TimestampTz ct = portal ? portal->creation_time : 0;
	uintptr_t	stmts_id = portal ? (uintptr_t) portal->stmts : 0;
	Stmt	   *c = &trk.cur;

	trk.plan_dqs = 0;			/* the statement planned last runs */

	/*
	 * The same statement again: another plan of it, from the same list of
	 * plans.  The plans a rewrite rule makes have no location of their own
	 * (-1): those of a DO ALSO rule come before or after the statement's own
	 * plan; those of a DO INSTEAD rule are all the statement has, and count
	 * as one statement.
	 */
	if (trk.count > 0 && msg_equal(c->msg, now) &&
		c->portal_id == portal_id && c->portal_ct == ct &&
		c->stmts_id == stmts_id && (c->loc == loc || loc < 0 || c->loc < 0))
	{
		c->running = true;
		c->qd_id = (uintptr_t) qd;
		goto remember;
	}

	/* a later chunk of a portal read in chunks */
	if (unlikely(nchunked > 0 && portal != NULL))
	{
		ChunkedPortal *cp = find_chunked(portal_id, ct, loc);

		if (cp != NULL)
		{
			memset(c, 0, sizeof(*c));
			c->ordinal = cp->ordinal;
			c->running = true;
			c->msg = now;
			c->portal_id = portal_id;
			c->portal_ct = ct;
			c->stmts_id = stmts_id;
			c->qd_id = (uintptr_t) qd;
			c->loc = loc;
			c->len = len;
			c->queryid = cp->queryid;
			c->userid = cp->userid;
			return;
		}
	}

	/*
	 * BEGIN and the savepoint commands are not statements of the transaction,
	 * but a statement of the string that fails next comes after them.  A
	 * savepoint command that fails is counted then.
	 */
	if (kind == TXG_STMT_BEGIN || kind == TXG_STMT_SAVEPOINT)
	{
		c->running = false;
		remember_skip(now, loc, len);
		if (kind == TXG_STMT_SAVEPOINT)
		{
			Stmt	   *u = &trk.uncounted;

			memset(u, 0, sizeof(*u));
			u->msg = now;
			u->portal_id = portal_id;
			u->portal_ct = ct;
			u->loc = loc;
			u->len = len;
			u->queryid = queryid;
			u->userid = GetOuterUserId();
			trk.uncounted_running = true;
		}
		return;
	}

	/* a new statement: fill it in place */
	trk.count++;
	c->ordinal = trk.count;
	c->running = true;
	c->commits = (kind == TXG_STMT_COMMIT);

	/*
	 * After a failed COPY FROM STDIN of a simple Query core says it is ready
	 * at once and ignores the rest of the data; through the extended protocol
	 * (a portal with a cached plan) it waits for the Sync.
	 */
	c->copy_in = (kind == TXG_STMT_COPY_IN && portal != NULL &&
				  portal->cplan == NULL);
	c->msg = now;
	c->portal_id = portal_id;
	c->portal_ct = ct;
	c->stmts_id = stmts_id;
	c->qd_id = (uintptr_t) qd;
	c->loc = loc;
	c->len = len;
	c->queryid = queryid;
	c->userid = GetOuterUserId();

remember:
	if (unlikely(limited) && portal != NULL &&
		portal->strategy == PORTAL_ONE_SELECT &&
		find_chunked(portal_id, ct, loc) == NULL)
		remember_chunked(portal, loc);
}

/*
 * The planner: a statement of the message's text 'text' is planned.  An
 * error before it runs is its own (see planned_span()).  Three stores: the
 * record is forgotten when a statement runs or an error is charged, so a
 * record of a statement that was planned and never ran (a Bind without an
 * Execute) is the only one that can outlive its message.
 */
void
txg_stmt_planning(const char *text, int loc, int len)
{
	trk.plan_dqs = (uintptr_t) text;

	trk.plan_loc = loc;
	trk.plan_len = len;
}

/* ExecutorRun: the active portal runs a query of the client's statement */
void
txg_stmt_query_runs(const QueryDesc *qd, bool limited)
{
	const PlannedStmt *ps = qd->plannedstmt;

	run_statement(ActivePortal, qd, ps->stmt_location, ps->stmt_len,
				  ps->queryId, TXG_STMT_OTHER, limited);
}

/* ProcessUtility: the active portal runs the client's utility statement */
void
txg_stmt_utility_runs(int loc, int len, uint64 queryid, TxgStmtKind kind)
{
	run_statement(ActivePortal, NULL, loc, len, queryid, kind, false);
}

/*
 * The executor of 'qd' ended normally (ExecutorEnd): if it ran the current
 * statement, the statement is over.  (qd_id is set only while a statement
 * runs.)  Its message stays what it was: a portal dropped by a later
 * message (the next Bind replaces the unnamed portal) must not make that
 * message look like the statement's own.
 */
void
txg_stmt_query_end(const QueryDesc *qd)
{
	if (trk.cur.qd_id == (uintptr_t) qd)
	{
		trk.cur.running = false;
		trk.cur.qd_id = 0;
	}
}

/*
 * A top-level utility returned normally.
 */
void
txg_stmt_utility_end(void)
{
	if (trk.uncounted_running)
	{
		/*
		 * A savepoint command that succeeded is no statement.  (One that
		 * failed in an already aborted block was not charged, and is over
		 * once another message runs a utility.)
		 */
		trk.uncounted_running = false;
		if (msg_equal(trk.uncounted.msg, current_msg()))
			return;
	}
	if (trk.count == 0 || !trk.cur.running)
		return;

	/* the statement is over (see txg_stmt_query_end) */
	trk.cur.running = false;
	trk.cur.qd_id = 0;
}

/*
 * The transaction ended.  A new one starts counting from 1.
 */
void
txg_stmt_xact_end(void)
{
	trk.uncounted_running = false;
	trk.xact++;					/* no chunked portal of it matches again */
	trk.cur.qd_id = 0;

	/*
	 * A procedure's COMMIT or ROLLBACK ends a transaction while its CALL
	 * still runs: the CALL is statement 1 of the transaction it starts. (A
	 * statement that failed is no longer running: see txg_stmt_charge_error.)
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

/* ---- which statement an error belongs to ---- */

/* What the steps of charge_error() share: the message being processed */
typedef struct Charge
{
	const ErrorData *edata;
	TxgStmtRef *ref;
	MsgId		now;
	const char *dqs;			/* debug_query_string, or NULL */
	int			dlen;
} Charge;

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
	int			lead = start;

	ref->text = s + start;
	ref->len = Max(end - start, 0);

	/*
	 * PostgreSQL 18 starts a statement after its leading comments: they are
	 * what lies between it and the previous statement's ';' (a bounded look
	 * back, for traceparent.c).
	 */
	while (lead > 0 && start - lead < TXG_TRACEPARENT_WINDOW &&
		   s[lead - 1] != ';')
		lead--;
	ref->lead = s + lead;
	ref->lead_len = start - lead;
}

/* ref is statement st, whose message is the current one */
static void
charge_to(Charge *ch, const Stmt *st, bool at_commit)
{
	TxgStmtRef *ref = ch->ref;

	ref->ordinal = st->ordinal;
	ref->queryid = st->queryid;
	ref->userid = st->userid;
	ref->copy_in = st->copy_in && !at_commit;
	ref->at_commit = at_commit;
	if (ch->dqs == NULL || st->msg.dqs != (uintptr_t) ch->dqs)
		return;
	if (st->loc < 0 || st->loc > ch->dlen)
		set_text(ref, ch->dqs, 0, ch->dlen);
	else if (st->len > 0 && st->loc + st->len <= ch->dlen)
		set_text(ref, ch->dqs, st->loc, st->loc + st->len);
	else
		set_text(ref, ch->dqs, st->loc, ch->dlen);
}

/* The current statement has no text and no place in any message */
static void
forget_current(void)
{
	memset(&trk.cur, 0, sizeof(trk.cur));
	trk.cur.ordinal = trk.count;
	trk.cur.loc = -1;
}

/*
 * 1. A statement is running in this message: the error is its own.  A
 * savepoint command that fails is counted now.
 */
static bool
charge_running(Charge *ch)
{
	if (trk.uncounted_running)
	{
		trk.uncounted_running = false;
		if (msg_equal(trk.uncounted.msg, ch->now))
		{
			open_statement(&trk.uncounted);
			trk.cur.running = true;
		}
	}
	if (trk.count > 0 && trk.cur.running && msg_equal(trk.cur.msg, ch->now))
	{
		charge_to(ch, &trk.cur, false);
		return true;
	}
	return false;
}

/*
 * Where a statement at 'loc' of length 'len' (a location and length as core
 * gives them: -1, 0 when not known) ends in a text of 'dlen' bytes
 */
static int
span_end(int loc, int len, int dlen)
{
	if (loc < 0 || len <= 0)
		return dlen;
	return Min(loc + len, dlen);
}

/*
 * The statement of this message planned last, if it starts at or after
 * byte 'from' of the text: the statement an error before it runs belongs
 * to.  Sets its span [*start, *stop).
 */
static bool
planned_span(const Charge *ch, int from, int *start, int *stop)
{
	if (ch->dqs == NULL || trk.plan_dqs != (uintptr_t) ch->dqs ||
		trk.plan_loc < from || trk.plan_loc > ch->dlen)
		return false;
	*start = trk.plan_loc;
	*stop = span_end(trk.plan_loc, trk.plan_len, ch->dlen);
	return true;
}

/*
 * 2. After the statement just run in this message: the commit that
 * follows it (an explicit COMMIT or PREPARE TRANSACTION, or the implicit
 * commit at the end of the string), or the next statement of the string,
 * which failed before it ran.
 */
static bool
charge_after_run(Charge *ch)
{
	int			end;
	int			start;
	int			stop;
	int			pos;

	if (trk.count == 0 || !msg_equal(trk.cur.msg, ch->now) || ch->dqs == NULL)
		return false;

	if (trk.cur.commits)
	{
		charge_to(ch, &trk.cur, true);
		return true;
	}

	end = span_end(trk.cur.loc, trk.cur.len, ch->dlen);
	/* an uncounted command of the string ran after it */
	if (msg_equal(trk.skip_msg, ch->now) && trk.skip_end > end)
		end = Min(trk.skip_end, ch->dlen);

	if (txg_split_rest_is_empty(ch->dqs, ch->dlen, end))
	{
		/*
		 * The implicit commit at the end of the query string: charged to its
		 * last statement, and the text is the whole string.
		 */
		charge_to(ch, &trk.cur, true);
		set_text(ch->ref, ch->dqs, 0, ch->dlen);
		return true;
	}

	/*
	 * A later statement of the string failed before it ran: the one being
	 * planned, else the one that holds the error's position, else the next
	 * one.  Its query id is the one core reported for it (none if it failed
	 * in parse analysis).
	 */
	trk.count++;
	ch->ref->ordinal = trk.count;
	ch->ref->queryid = TXG_MY_QUERY_ID();
	ch->ref->userid = GetOuterUserId();
	if (planned_span(ch, end, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else if (ch->edata->cursorpos > 0 &&
			 (pos = char_to_byte(ch->dqs, ch->dlen, ch->edata->cursorpos)) >= end &&
			 txg_split_at(ch->dqs, ch->dlen, pos, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else if (txg_split_next(ch->dqs, ch->dlen, end, &start, &stop))
	{
		set_text(ch->ref, ch->dqs, start, stop);

		/*
		 * An error with no position, after the string's last statement was
		 * neither planned nor run (a DO INSTEAD NOTHING rule made it
		 * nothing): the string's implicit commit failed after it.
		 */
		if (ch->edata->cursorpos == 0 && ch->edata->internalpos == 0 &&
			txg_split_rest_is_empty(ch->dqs, ch->dlen, stop))
			ch->ref->at_commit = true;
	}
	else
		set_text(ch->ref, ch->dqs, end, ch->dlen);
	trk.cur.running = false;
	trk.cur.loc = -1;
	trk.cur.ordinal = trk.count;
	return true;
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
 * 3. No statement text: a Sync, a Describe or a fast-path call.
 */
static bool
charge_without_text(Charge *ch)
{
	const char *activity = NULL;
	bool		fastpath = false;
	PgBackendStatus *be = TXG_MY_BEENTRY();

	if (ch->dqs != NULL)
		return false;

	/* our own entry: we are its only writer, no lock needed */
	if (be != NULL && pgstat_track_activities)
	{
		fastpath = (be->st_state == STATE_FASTPATH);
		activity = be->st_activity_raw;
	}

	if (!fastpath && trk.count > 0 && !IsTransactionBlock() &&
		!describe_error(ch->edata->sqlerrcode))
	{
		/*
		 * The implicit commit at an extended-protocol Sync: charged to the
		 * statement executed last.  Its text is gone from memory once a later
		 * Parse replaced the unnamed statement; the activity text is still
		 * its own only if no message came after its Execute (same statement
		 * timestamp), else there is none.
		 */
		ch->ref->ordinal = trk.cur.ordinal;
		ch->ref->queryid = trk.cur.queryid;
		ch->ref->userid = trk.cur.userid;
		ch->ref->at_commit = true;
		if (activity != NULL &&
			be->st_activity_start_timestamp == trk.cur.msg.ts)
		{
			set_text(ch->ref, activity, 0, strlen(activity));
			ch->ref->text_partial = true;
		}
		return true;
	}

	trk.count++;
	ch->ref->ordinal = trk.count;
	ch->ref->userid = GetOuterUserId();
	if (fastpath)
		set_text(ch->ref, fastpath_text, 0, strlen(fastpath_text));
	forget_current();
	return true;
}

/*
 * Did a Parse message fail because its string holds several commands?
 * Core says so only in the message; its untranslated form (message_id) is
 * the one signal there is, and a wrong answer only changes which part of
 * the string becomes the record's text.
 */
static bool
multi_command_parse(const ErrorData *edata)
{
	return edata->message_id != NULL &&
		strcmp(edata->message_id,
			   "cannot insert multiple commands into a prepared statement") == 0;
}

/*
 * 4. Nothing of this message ran in this transaction: a Parse, a Bind, a
 * query string that did not parse, or the first statement of a string (or
 * the first after the string's COMMIT or ROLLBACK) failing before it ran.
 * It counts as one statement.  The text is the whole string for a Parse of
 * several commands, else the statement that holds the error's position,
 * else the one being planned, else the one after what of the string ran,
 * else the first one of the string.
 */
static void
charge_unrun(Charge *ch)
{
	int			start;
	int			stop;
	int			pos = ch->edata->cursorpos > 0 ?
	char_to_byte(ch->dqs, ch->dlen, ch->edata->cursorpos) : -1;
	int			after = 0;

	/*
	 * What of the string ran: an uncounted command (BEGIN, a savepoint
	 * command), or a statement of a transaction that the string ended (its
	 * COMMIT or ROLLBACK).  The statement that failed comes after it.
	 */
	if (msg_equal(trk.skip_msg, ch->now))
		after = Min(trk.skip_end, ch->dlen);
	if (trk.cur.loc >= 0 && msg_equal(trk.cur.msg, ch->now))
		after = Max(after, span_end(trk.cur.loc, trk.cur.len, ch->dlen));

	trk.count++;
	ch->ref->ordinal = trk.count;
	ch->ref->queryid = TXG_MY_QUERY_ID();
	ch->ref->userid = GetOuterUserId();

	if (multi_command_parse(ch->edata))
		set_text(ch->ref, ch->dqs, 0, ch->dlen);
	else if (txg_split_single(ch->dqs, ch->dlen, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else if (pos >= 0 && txg_split_at(ch->dqs, ch->dlen, pos, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else if (planned_span(ch, after, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else if (after > 0 &&
			 txg_split_next(ch->dqs, ch->dlen, after, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else if (txg_split_next(ch->dqs, ch->dlen, 0, &start, &stop))
		set_text(ch->ref, ch->dqs, start, stop);
	else
		set_text(ch->ref, ch->dqs, 0, ch->dlen);

	forget_current();
	trk.cur.msg = ch->now;
}

/*
 * Which statement does this error belong to?  Called from emit_log_hook for
 * an error about to abort the transaction (not for errors raised while it
 * is already aborted).  A statement that failed before it ran is counted
 * here; after the error no statement is running any more.  The role is
 * the one the client was acting as when the statement started (never the
 * owner of a SECURITY DEFINER function running inside it).  Never fails,
 * never allocates.
 */
void
txg_stmt_charge_error(const ErrorData *edata, TxgStmtRef *ref)
{
	Charge		ch;

	memset(ref, 0, sizeof(*ref));
	ch.edata = edata;
	ch.ref = ref;
	ch.now = current_msg();
	ch.dqs = debug_query_string;
	ch.dlen = ch.dqs ? strlen(ch.dqs) : 0;

	if (!charge_running(&ch) &&
		!charge_after_run(&ch) &&
		!charge_without_text(&ch))
		charge_unrun(&ch);

	trk.plan_dqs = 0;
	trk.cur.running = false;
	trk.cur.qd_id = 0;
}
