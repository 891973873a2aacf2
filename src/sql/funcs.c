/*-------------------------------------------------------------------------
 *
 * funcs.c
 *	  SQL-callable functions: the history, this session's last abort, the
 *	  sessions now aborted, the statistics, the error codes, information
 *	  and reset.
 *
 * Versions.  One library serves the SQL objects of every version of the
 * extension, as pg_stat_statements does: each function looks at the number
 * of columns its SQL declaration expects (1.0, 1.1 or 1.2) and builds rows
 * of that shape, so a database keeps working with its older objects until
 * ALTER EXTENSION txguard UPDATE is run.
 *
 * Reading.  Every function first checks that txguard was preloaded.  The
 * history and the live slots are read one entry at a time (store/ring.c,
 * store/slots.c: lock-free, nothing held while a row is built), and each
 * row is built in a memory context reset after it, so reading a history of
 * 100,000 entries needs the memory of one entry plus the tuplestore, which
 * spills to disk beyond work_mem.  The statistics are copied in batches
 * under LW_SHARED (store/stats.c) and the rows built afterwards.
 *
 * Visibility follows pg_stat_activity: the text of another role's errors
 * (message, detail, hint, context, object names, statement, internal
 * query), its client address and its query ids are shown only to roles
 * that have the privileges of pg_read_all_stats or of the row's role
 * (superusers have both); other roles see the row with those columns NULL,
 * as pg_stat_statements shows their query ids.  The blocking session's
 * statement follows the same rule for the blocker's role.  The rule is
 * applied to the current role, also for the session's own last abort:
 * after SET ROLE a request does not see what another role's request left
 * behind.  The role of a row is the role the client was acting as when the
 * statement started (capture/stmt.c).
 *
 * Encodings.  Each record keeps the encoding of the database it was
 * captured in.  Its texts are converted to the reader's database encoding,
 * as pg_stat_statements converts query texts; a character that cannot be
 * converted (or a non-ASCII byte of an SQL_ASCII database) is replaced
 * with U+FFFD in UTF8 and '?' elsewhere, so that one bad record never
 * makes a whole view fail.
 *
 * IDENTIFICATION
 *	  src/sql/funcs.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "episode.h"
#include "errcodes.h"
#include "guc.h"
#include "persist.h"
#include "ring.h"
#include "slots.h"
#include "stats.h"
#include "store.h"

TXG_FUNCTION_INFO_V1(txguard_abort_history);
TXG_FUNCTION_INFO_V1(txguard_last_abort);
TXG_FUNCTION_INFO_V1(txguard_aborted_sessions);
TXG_FUNCTION_INFO_V1(txguard_stats);
TXG_FUNCTION_INFO_V1(txguard_statement_stats);
TXG_FUNCTION_INFO_V1(txguard_database_stats);
TXG_FUNCTION_INFO_V1(txguard_application_stats);
TXG_FUNCTION_INFO_V1(txguard_error_codes);
TXG_FUNCTION_INFO_V1(txguard_info);
TXG_FUNCTION_INFO_V1(txguard_reset);

/* Columns of each result, per version of the SQL objects */
#define ABORT_COLS_1_0		30
#define ABORT_COLS_1_1		35
#define ABORT_COLS_1_2		49
#define SESSION_COLS_1_0	16
#define SESSION_COLS_1_1	18
#define STATS_COLS_1_0		12
#define STATS_COLS_1_1		15
#define STMT_STATS_COLS_1_1	17
#define STMT_STATS_COLS_1_2	18
#define DB_STATS_COLS		9
#define APP_STATS_COLS		15
#define ERRCODE_COLS		5
#define INFO_COLS_1_0		10
#define INFO_COLS_1_1		15
#define INFO_COLS_1_2		21

#define MAX_COLS			49

#ifdef TXG_NEED_SRF_SHIM
/*
 * InitMaterializedSRF() for 13 and 14, which do not have it.
 */
void
txg_init_materialized_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	MemoryContext oldcontext;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("materialize mode required, but it is not allowed in this context")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	MemoryContextSwitchTo(oldcontext);
}
#endif

/*
 * Which version of the SQL objects called us: 10 for 1.0, 11 for 1.1, 12
 * for 1.2, told by the number of columns the declaration expects (0: that
 * version has no such object, or the same shape as the next one).
 */
static int
api_version(TupleDesc tupdesc, int cols_1_0, int cols_1_1, int cols_1_2)
{
	if (tupdesc->natts == cols_1_2)
		return 12;
	if (cols_1_1 > 0 && tupdesc->natts == cols_1_1)
		return 11;
	if (cols_1_0 > 0 && tupdesc->natts == cols_1_0)
		return 10;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("txguard's SQL objects do not match its library"),
			 errhint("Run ALTER EXTENSION txguard UPDATE.")));
	return 0;					/* keep the compiler quiet */
}

/*
 * Raise the error every SQL function raises when the library was not
 * preloaded.
 */
static void
require_loaded(void)
{
	if (!txg_store_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("txguard must be loaded via \"shared_preload_libraries\""),
				 errhint("Add txguard to \"shared_preload_libraries\" in postgresql.conf and restart the server.")));
}

/* ---- texts ---- */

/* Append the replacement character of encoding 'enc' */
static void
append_replacement(StringInfo out, int enc)
{
	if (enc == PG_UTF8)
		appendBinaryStringInfo(out, "\xEF\xBF\xBD", 3);
	else
		appendStringInfoChar(out, '?');
}

static bool
all_ascii(const char *s, int len)
{
	for (int i = 0; i < len; i++)
	{
		if (IS_HIGHBIT_SET(s[i]))
			return false;
	}
	return true;
}

/*
 * Convert s (len bytes, encoding 'from') to encoding 'to', replacing what
 * cannot be converted.  Never raises an error for the data.
 */
static char *
convert_replacing(const char *s, int len, int from, int to)
{
	StringInfoData out;

	initStringInfo(&out);

	if (from == PG_SQL_ASCII)
	{
		/* SQL_ASCII text may hold any bytes: keep ASCII, replace the rest */
		for (int i = 0; i < len; i++)
		{
			if (IS_HIGHBIT_SET(s[i]))
				append_replacement(&out, to);
			else
				appendStringInfoChar(&out, s[i]);
		}
		return out.data;
	}

#ifdef TXG_HAVE_CONVERSION_NOERROR
	{
		Oid			proc = FindDefaultConversionProc(from, to);
		char	   *buf;
		int			pos = 0;

		if (!OidIsValid(proc))
		{
			/* no direct conversion: go through UTF8 */
			if (from != PG_UTF8 && to != PG_UTF8)
			{
				char	   *u = convert_replacing(s, len, from, PG_UTF8);

				return convert_replacing(u, strlen(u), PG_UTF8, to);
			}
			goto ascii_only;
		}

		buf = palloc((Size) len * MAX_CONVERSION_GROWTH + 1);
		while (pos < len)
		{
			int			done;

			done = pg_do_encoding_conversion_buf(proc, from, to,
												 (unsigned char *) s + pos,
												 len - pos,
												 (unsigned char *) buf,
												 (len - pos) * MAX_CONVERSION_GROWTH + 1,
												 true);
			appendStringInfoString(&out, buf);
			pos += done;
			if (pos < len)
			{
				/* s[pos] could not be converted, or is not valid: skip it */
				append_replacement(&out, to);
				pos += Max(Min(pg_encoding_mblen_bounded(from, s + pos),
							   len - pos), 1);
			}
		}
		pfree(buf);
		return out.data;
	}
ascii_only:
#endif
	/* keep ASCII characters, replace the others */
	for (int i = 0; i < len;)
	{
		int			l = Max(Min(pg_encoding_mblen(from, s + i), len - i), 1);

		if (l == 1 && !IS_HIGHBIT_SET(s[i]))
			appendStringInfoChar(&out, s[i]);
		else
			append_replacement(&out, to);
		i += l;
	}
	return out.data;
}

/* Text datum of s (in encoding 'enc'), or NULL for an empty string */
static void
set_text_enc(Datum *values, bool *nulls, int i, const char *s, int enc)
{
	int			db = GetDatabaseEncoding();
	int			len;

	if (s == NULL || s[0] == '\0')
	{
		nulls[i] = true;
		return;
	}
	len = strlen(s);
	if (enc == db || db == PG_SQL_ASCII || !PG_VALID_BE_ENCODING(enc) ||
		all_ascii(s, len))
		values[i] = CStringGetTextDatum(s);
	else
		values[i] = CStringGetTextDatum(convert_replacing(s, len, enc, db));
}

/* Text datum of an ASCII string, or NULL for a NULL or empty string */
static void
set_text(Datum *values, bool *nulls, int i, const char *s)
{
	if (s == NULL || s[0] == '\0')
		nulls[i] = true;
	else
		values[i] = CStringGetTextDatum(s);
}

static void
set_timestamp(Datum *values, bool *nulls, int i, TimestampTz ts)
{
	if (ts == 0)
		nulls[i] = true;
	else
		values[i] = TimestampTzGetDatum(ts);
}

static void
set_name(Datum *values, bool *nulls, int i, char *s)
{
	if (s == NULL)
		nulls[i] = true;
	else
	{
		Name		n = (Name) palloc0(NAMEDATALEN);

		namestrcpy(n, s);
		values[i] = NameGetDatum(n);
	}
}

static void
set_queryid(Datum *values, bool *nulls, int i, uint64 queryid)
{
	if (queryid == 0)
		nulls[i] = true;
	else
		values[i] = Int64GetDatum((int64) queryid);
}

/* condition_name, error_class, retryable from column i on */
static int
set_error_class(Datum *values, bool *nulls, int i, int sqlerrcode)
{
	char		class_code[3];

	memcpy(class_code, unpack_sql_state(sqlerrcode), 2);
	class_code[2] = '\0';
	set_text(values, nulls, i++, txg_condition_name(sqlerrcode));
	values[i++] = CStringGetTextDatum(class_code);
	values[i++] = BoolGetDatum(txg_retryable(sqlerrcode));
	return i;
}

/*
 * The four columns datid, datname, userid, usename from column i on; the
 * names are NULL once the database or role is dropped.  Returns the next
 * column.
 */
static int
set_db_role(Datum *values, bool *nulls, int i, Oid dbid, Oid userid)
{
	values[i++] = ObjectIdGetDatum(dbid);
	set_name(values, nulls, i++, get_database_name(dbid));
	values[i++] = ObjectIdGetDatum(userid);
	set_name(values, nulls, i++, GetUserNameFromId(userid, true));
	return i;
}

/* May the current role see the text of rows of this role? */
static bool
can_see(Oid userid, bool all_stats)
{
	return all_stats || has_privs_of_role(GetUserId(), userid);
}

static bool
has_all_stats(void)
{
	return has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
}

static void
set_int4_or_null(Datum *values, bool *nulls, int i, int32 v)
{
	if (v == 0)
		nulls[i] = true;
	else
		values[i] = Int32GetDatum(v);
}

static const char *
blocker_state_name(TxgBlockerState state)
{
	switch (state)
	{
		case TXG_BLOCKER_NONE:
			return NULL;
		case TXG_BLOCKER_PENDING:
			return "pending";
		case TXG_BLOCKER_FOUND:
			return "found";
		case TXG_BLOCKER_GONE:
			return "gone";
		case TXG_BLOCKER_UNKNOWN:
			return "unknown";
	}
	return NULL;
}

/* ---- abort records ---- */

/* What the record callbacks need */
typedef struct RowState
{
	ReturnSetInfo *rsinfo;
	MemoryContext rowcxt;		/* reset after each row */
	int			version;
	bool		all_stats;
	TimestampTz stats_reset;
} RowState;

static void
row_state_init(RowState *st, FunctionCallInfo fcinfo, int version)
{
	st->rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	st->rowcxt = AllocSetContextCreate(CurrentMemoryContext,
									   "txguard row",
									   ALLOCSET_DEFAULT_SIZES);
	st->version = version;
	st->all_stats = has_all_stats();
	st->stats_reset = 0;
}

/* One row being built, in the row context */
typedef struct Row
{
	Datum		values[MAX_COLS];
	bool		nulls[MAX_COLS];
	MemoryContext old;
} Row;

static Datum *
row_begin(RowState *st, Row *r)
{
	memset(r->values, 0, sizeof(r->values));
	memset(r->nulls, 0, sizeof(r->nulls));
	r->old = MemoryContextSwitchTo(st->rowcxt);
	return r->values;
}

static void
row_end(RowState *st, Row *r)
{
	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc,
						 r->values, r->nulls);
	MemoryContextSwitchTo(r->old);
	MemoryContextReset(st->rowcxt);
}

/*
 * Emit one row of type txguard_abort.
 */
static void
put_abort(RowState *st, const TxgRecord *rec)
{
	Row			r;
	Datum	   *values = row_begin(st, &r);
	bool	   *nulls = r.nulls;
	int			i = 0;
	TimestampTz end;
	bool		visible = can_see(rec->userid, st->all_stats);
	int			enc = rec->encoding;

	if (rec->seq > 0)
		values[i++] = Int64GetDatum((int64) rec->seq);
	else
		nulls[i++] = true;
	values[i++] = Int32GetDatum(rec->pid);
	set_timestamp(values, nulls, i++, rec->backend_start);
	i = set_db_role(values, nulls, i, rec->dbid, rec->userid);
	set_text(values, nulls, i++, rec->appname);
	if (visible)
		set_text(values, nulls, i++, rec->client_addr);
	else
		nulls[i++] = true;
	set_timestamp(values, nulls, i++, rec->xact_start);
	set_timestamp(values, nulls, i++, rec->aborted_at);
	values[i++] = CStringGetTextDatum(unpack_sql_state(rec->sqlerrcode));
	if (visible)
	{
		set_text_enc(values, nulls, i++, rec->message, enc);
		set_text_enc(values, nulls, i++, rec->detail, enc);
		set_text_enc(values, nulls, i++, rec->hint, enc);
		set_text_enc(values, nulls, i++, rec->context, enc);
		set_text_enc(values, nulls, i++, rec->schema_name, enc);
		set_text_enc(values, nulls, i++, rec->table_name, enc);
		set_text_enc(values, nulls, i++, rec->column_name, enc);
		set_text_enc(values, nulls, i++, rec->datatype_name, enc);
		set_text_enc(values, nulls, i++, rec->constraint_name, enc);
		set_text_enc(values, nulls, i++, rec->statement, enc);
		set_text_enc(values, nulls, i++, rec->internal_query, enc);
	}
	else
	{
		for (int j = 0; j < 11; j++)
			nulls[i++] = true;
	}
	values[i++] = Int32GetDatum(rec->stmt_ordinal);
	values[i++] = BoolGetDatum(rec->in_block);
	values[i++] = BoolGetDatum(rec->in_savepoint);
	values[i++] = Int64GetDatum(rec->ignored);
	set_timestamp(values, nulls, i++, rec->ended_at);
	set_text(values, nulls, i++,
			 txg_end_reason_name((TxgEndReason) rec->ended_by));
	end = rec->ended_at != 0 ? rec->ended_at : GetCurrentTimestamp();
	values[i++] = Float8GetDatum((double) (end - rec->aborted_at) / USECS_PER_SEC);

	if (st->version >= 11)
	{
		if (visible)
			set_queryid(values, nulls, i++, rec->queryid);
		else
			nulls[i++] = true;
		i = set_error_class(values, nulls, i, rec->sqlerrcode);
		values[i++] = BoolGetDatum(rec->at_commit);
	}
	if (st->version >= 12)
	{
		bool		found = rec->blocker_state == TXG_BLOCKER_FOUND;

		values[i++] = BoolGetDatum(rec->remote);
		set_text(values, nulls, i++, rec->backend_desc);
		set_text(values, nulls, i++, visible ? rec->trace_id : NULL);
		set_text(values, nulls, i++, visible ? rec->span_id : NULL);
		set_text(values, nulls, i++,
				 blocker_state_name((TxgBlockerState) rec->blocker_state));
		set_text(values, nulls, i++, visible ? rec->lock_waited : NULL);
		set_int4_or_null(values, nulls, i++, found ? rec->blocker_pid : 0);
		/* (PostgreSQL 13 knows the blocker's pid only) */
		if (found && OidIsValid(rec->blocker_userid))
			values[i++] = ObjectIdGetDatum(rec->blocker_userid);
		else
			nulls[i++] = true;
		set_name(values, nulls, i++,
				 found ? GetUserNameFromId(rec->blocker_userid, true) : NULL);
		set_text(values, nulls, i++, found ? rec->blocker_appname : NULL);
		set_timestamp(values, nulls, i++, found ? rec->blocker_backend_start : 0);
		set_timestamp(values, nulls, i++, found ? rec->blocker_xact_start : 0);
		if (found && can_see(rec->blocker_userid, st->all_stats))
			set_text_enc(values, nulls, i++, rec->blocker_statement, enc);
		else
			nulls[i++] = true;
		values[i++] = Int64GetDatum(rec->repeats);
	}
	Assert(i == (st->version >= 12 ? ABORT_COLS_1_2 :
				 st->version >= 11 ? ABORT_COLS_1_1 : ABORT_COLS_1_0));

	row_end(st, &r);
}

static void
emit_history_row(TxgRecord *rec, void *arg)
{
	/* an episode still open: its owner's slot has the live counters */
	if (rec->ended_by == TXG_END_NONE)
		txg_slot_live_counts(rec);
	put_abort((RowState *) arg, rec);
}

/*
 * txguard_abort_history(pid integer DEFAULT NULL)
 */
Datum
txguard_abort_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		filter = !PG_ARGISNULL(0);
	int32		pid = filter ? PG_GETARG_INT32(0) : 0;
	RowState	st;

	require_loaded();
	if (filter && pid <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid process ID %d", pid),
				 errhint("Pass a backend's process ID, or NULL for all backends.")));

	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, ABORT_COLS_1_0, ABORT_COLS_1_1,
							   ABORT_COLS_1_2));
	txg_ring_scan(pid, emit_history_row, &st);
	return (Datum) 0;
}

/*
 * txguard_last_abort(): this session's most recent abort, zero or one row.
 * Its texts are shown under the same rule as the views, applied to the
 * current role.
 */
Datum
txguard_last_abort(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TxgRecord  *rec;
	RowState	st;

	require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, ABORT_COLS_1_0, ABORT_COLS_1_1,
							   ABORT_COLS_1_2));

	rec = palloc(txg_record_size());
	if (txg_episode_last(rec))
		put_abort(&st, rec);
	pfree(rec);
	return (Datum) 0;
}

static void
emit_session_row(TxgRecord *rec, void *arg)
{
	RowState   *st = (RowState *) arg;
	bool		visible = can_see(rec->userid, st->all_stats);
	Row			r;
	Datum	   *values = row_begin(st, &r);
	bool	   *nulls = r.nulls;
	int			i = 0;

	values[i++] = Int32GetDatum(rec->pid);
	set_timestamp(values, nulls, i++, rec->backend_start);
	i = set_db_role(values, nulls, i, rec->dbid, rec->userid);
	set_text(values, nulls, i++, rec->appname);
	set_timestamp(values, nulls, i++, rec->xact_start);
	set_timestamp(values, nulls, i++, rec->aborted_at);
	set_timestamp(values, nulls, i++, rec->idle_since);
	values[i++] = CStringGetTextDatum(unpack_sql_state(rec->sqlerrcode));
	if (visible)
	{
		set_text_enc(values, nulls, i++, rec->message, rec->encoding);
		set_text_enc(values, nulls, i++, rec->statement, rec->encoding);
	}
	else
	{
		nulls[i++] = true;
		nulls[i++] = true;
	}
	values[i++] = Int32GetDatum(rec->stmt_ordinal);
	values[i++] = BoolGetDatum(rec->in_savepoint);
	values[i++] = Int64GetDatum(rec->ignored);
	if (st->version >= 11)
	{
		if (visible)
			set_queryid(values, nulls, i++, rec->queryid);
		else
			nulls[i++] = true;
		set_text(values, nulls, i++, txg_condition_name(rec->sqlerrcode));
		Assert(i == SESSION_COLS_1_1);
	}
	else
		Assert(i == SESSION_COLS_1_0);

	row_end(st, &r);
}

/*
 * txguard_aborted_sessions(): the backends now in an aborted block.
 */
Datum
txguard_aborted_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowState	st;

	require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, SESSION_COLS_1_0,
							   0, SESSION_COLS_1_1));
	txg_slots_scan(emit_session_row, &st);
	return (Datum) 0;
}

/* ---- statistics ---- */

/*
 * The counter columns shared by the statistics views: aborts,
 * aborted_blocks, [failed_alone,] ignored_commands, sessions_terminated,
 * first_seen, last_seen.
 */
static int
set_counters(Datum *values, bool *nulls, int i, const TxgCountersData *c,
			 bool with_alone)
{
	values[i++] = Int64GetDatum(c->v[TXG_C_ABORTS]);
	values[i++] = Int64GetDatum(c->v[TXG_C_ABORTED_BLOCKS]);
	if (with_alone)
		values[i++] = Int64GetDatum(c->v[TXG_C_ABORTS] -
									c->v[TXG_C_ABORTED_BLOCKS]);
	values[i++] = Int64GetDatum(c->v[TXG_C_IGNORED]);
	values[i++] = Int64GetDatum(c->v[TXG_C_TERMINATED]);
	set_timestamp(values, nulls, i++, (TimestampTz) c->v[TXG_C_FIRST_SEEN]);
	set_timestamp(values, nulls, i++, (TimestampTz) c->v[TXG_C_LAST_SEEN]);
	return i;
}

/*
 * The body of the statistics functions: rows of one table, in the shape
 * the calling SQL declaration expects (columns of 1.0, 1.1, 1.2; 0: none).
 */
static Datum
stats_function(FunctionCallInfo fcinfo, TxgStatsTable which,
			   txg_stats_callback emit, int cols_1_0, int cols_1_1,
			   int cols_1_2)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowState	st;

	require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, cols_1_0, cols_1_1, cols_1_2));
	st.stats_reset = txg_stats_reset_time();
	txg_stats_scan(which, emit, &st);
	return (Datum) 0;
}

static void
emit_role_row(const TxgStatsRow *row, void *arg)
{
	RowState   *st = (RowState *) arg;
	const TxgRoleKey *k = (const TxgRoleKey *) row->key;
	Row			r;
	Datum	   *values = row_begin(st, &r);
	bool	   *nulls = r.nulls;
	int			i = 0;

	i = set_db_role(values, nulls, i, k->dbid, k->userid);
	values[i++] = CStringGetTextDatum(unpack_sql_state(k->sqlerrcode));
	i = set_counters(values, nulls, i, &row->counters, false);
	set_timestamp(values, nulls, i++, st->stats_reset);
	if (st->version >= 11)
	{
		i = set_error_class(values, nulls, i, k->sqlerrcode);
		Assert(i == STATS_COLS_1_1);
	}
	else
		Assert(i == STATS_COLS_1_0);
	row_end(st, &r);
}

/*
 * txguard_stats(): counters per database, role and SQLSTATE of the cause.
 */
Datum
txguard_stats(PG_FUNCTION_ARGS)
{
	return stats_function(fcinfo, TXG_STATS_ROLE, emit_role_row, STATS_COLS_1_0, 0,
						  STATS_COLS_1_1);
}

static void
emit_stmtstats_row(const TxgStatsRow *row, void *arg)
{
	RowState   *st = (RowState *) arg;
	const TxgStmtKey *k = (const TxgStmtKey *) row->key;
	bool		visible = can_see(k->userid, st->all_stats);
	Row			r;
	Datum	   *values = row_begin(st, &r);
	bool	   *nulls = r.nulls;
	int			i = 0;

	i = set_db_role(values, nulls, i, k->dbid, k->userid);
	if (visible)
		set_queryid(values, nulls, i++, k->queryid);
	else
		nulls[i++] = true;
	values[i++] = CStringGetTextDatum(unpack_sql_state(k->sqlerrcode));
	i = set_error_class(values, nulls, i, k->sqlerrcode);
	i = set_counters(values, nulls, i, &row->counters, false);
	if (visible)
		set_text_enc(values, nulls, i++, row->text, row->encoding);
	else
		nulls[i++] = true;
	set_timestamp(values, nulls, i++, st->stats_reset);
	if (st->version >= 12)
		values[i++] = Int64GetDatum(row->counters.v[TXG_C_ABORTS] -
									row->counters.v[TXG_C_ABORTED_BLOCKS]);
	Assert(i == (st->version >= 12 ? STMT_STATS_COLS_1_2 : STMT_STATS_COLS_1_1));

	row_end(st, &r);
}

/*
 * txguard_statement_stats(): counters per database, role, query id and
 * SQLSTATE of the cause, with a sample statement text.
 */
Datum
txguard_statement_stats(PG_FUNCTION_ARGS)
{
	return stats_function(fcinfo, TXG_STATS_STMT, emit_stmtstats_row, 0, STMT_STATS_COLS_1_1,
						  STMT_STATS_COLS_1_2);
}

static void
emit_db_row(const TxgStatsRow *row, void *arg)
{
	RowState   *st = (RowState *) arg;
	const TxgDbKey *k = (const TxgDbKey *) row->key;
	const TxgCountersData *c = &row->counters;
	Row			r;
	Datum	   *values = row_begin(st, &r);
	bool	   *nulls = r.nulls;
	int			i = 0;

	values[i++] = ObjectIdGetDatum(k->dbid);
	set_name(values, nulls, i++, get_database_name(k->dbid));
	values[i++] = Int64GetDatum(c->v[TXG_C_ABORTS] - c->v[TXG_C_SAVEPOINT_ABORTS]);
	values[i++] = Int64GetDatum(c->v[TXG_C_SAVEPOINT_ABORTS]);
	values[i++] = Int64GetDatum(c->v[TXG_C_ABORTED_BLOCKS]);
	values[i++] = Int64GetDatum(c->v[TXG_C_IGNORED]);
	values[i++] = Int64GetDatum(c->v[TXG_C_TERMINATED]);
	set_timestamp(values, nulls, i++, (TimestampTz) c->v[TXG_C_LAST_SEEN]);
	set_timestamp(values, nulls, i++, st->stats_reset);
	Assert(i == DB_STATS_COLS);
	row_end(st, &r);
}

/*
 * txguard_database_stats(): every error abort per database.
 */
Datum
txguard_database_stats(PG_FUNCTION_ARGS)
{
	return stats_function(fcinfo, TXG_STATS_DB, emit_db_row, 0, 0, DB_STATS_COLS);
}

static void
emit_app_row(const TxgStatsRow *row, void *arg)
{
	RowState   *st = (RowState *) arg;
	const TxgAppKey *k = (const TxgAppKey *) row->key;
	Row			r;
	Datum	   *values = row_begin(st, &r);
	bool	   *nulls = r.nulls;
	int			i = 0;

	values[i++] = ObjectIdGetDatum(k->dbid);
	set_name(values, nulls, i++, get_database_name(k->dbid));
	values[i++] = CStringGetTextDatum(k->appname);
	values[i++] = CStringGetTextDatum(unpack_sql_state(k->sqlerrcode));
	i = set_error_class(values, nulls, i, k->sqlerrcode);
	i = set_counters(values, nulls, i, &row->counters, true);
	set_timestamp(values, nulls, i++, st->stats_reset);
	Assert(i == APP_STATS_COLS);
	row_end(st, &r);
}

/*
 * txguard_application_stats(): counters per database, application_name
 * and SQLSTATE of the cause.
 */
Datum
txguard_application_stats(PG_FUNCTION_ARGS)
{
	return stats_function(fcinfo, TXG_STATS_APP, emit_app_row, 0, 0, APP_STATS_COLS);
}

/*
 * txguard_error_codes(): every SQLSTATE the server knows, with its
 * condition name, class and whether it is retryable.
 */
Datum
txguard_error_codes(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			n = txg_errcodes_count();

	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	(void) api_version(rsinfo->setDesc, 0, 0, ERRCODE_COLS);

	for (int r = 0; r < n; r++)
	{
		const char *s = txg_errcodes_sqlstate(r);
		int			code = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
		Datum		values[ERRCODE_COLS];
		bool		nulls[ERRCODE_COLS];
		int			i = 0;

		memset(nulls, 0, sizeof(nulls));
		values[i++] = CStringGetTextDatum(s);
		set_text(values, nulls, i++, txg_condition_name(code));
		{
			char		class_code[3] = {s[0], s[1], '\0'};

			values[i++] = CStringGetTextDatum(class_code);
		}
		set_text(values, nulls, i++, txg_class_name(code));
		values[i++] = BoolGetDatum(txg_retryable(code));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * txguard_info(): sizes and counters of txguard's shared memory.
 */
Datum
txguard_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[MAX_COLS];
	bool		nulls[MAX_COLS];
	int			i = 0;
	int			version;
	int			history_size;
	int64		written;
	int64		overwritten;
	int64		dropped;
	int			used[TXG_NSTATS];
	int			max[TXG_NSTATS];
	int64		evicted[TXG_NSTATS];

	require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	version = api_version(tupdesc, INFO_COLS_1_0, INFO_COLS_1_1, INFO_COLS_1_2);

	txg_ring_counts(&history_size, &written, &overwritten, &dropped);
	for (int t = 0; t < TXG_NSTATS; t++)
		txg_stats_sizes((TxgStatsTable) t, &used[t], &max[t], &evicted[t]);

	memset(nulls, 0, sizeof(nulls));
	values[i++] = Int32GetDatum(history_size);
	values[i++] = Int64GetDatum(written);
	values[i++] = Int64GetDatum(overwritten);
	values[i++] = Int64GetDatum(dropped);
	values[i++] = Int32GetDatum(used[TXG_STATS_ROLE]);
	values[i++] = Int32GetDatum(max[TXG_STATS_ROLE]);
	values[i++] = Int64GetDatum(0); /* stats_dropped: keys are evicted now */
	values[i++] = TimestampTzGetDatum(txg_stats_reset_time());
	values[i++] = CStringGetTextDatum(GetConfigOption("txguard.track",
													  false, false));
	values[i++] = BoolGetDatum(txg_errors_reach_hook());
	if (version >= 11)
	{
		values[i++] = Int32GetDatum(used[TXG_STATS_STMT]);
		values[i++] = Int32GetDatum(max[TXG_STATS_STMT]);
		values[i++] = Int64GetDatum(evicted[TXG_STATS_STMT]);
		values[i++] = Int64GetDatum(evicted[TXG_STATS_DB]);
		set_timestamp(values, nulls, i++, txg_persist_restored_at());
	}
	if (version >= 12)
	{
		values[i++] = Int64GetDatum(evicted[TXG_STATS_ROLE]);
		values[i++] = Int32GetDatum(used[TXG_STATS_DB]);
		values[i++] = Int32GetDatum(max[TXG_STATS_DB]);
		values[i++] = Int32GetDatum(used[TXG_STATS_APP]);
		values[i++] = Int32GetDatum(max[TXG_STATS_APP]);
		values[i++] = Int64GetDatum(evicted[TXG_STATS_APP]);
	}
	Assert(i == (version >= 12 ? INFO_COLS_1_2 :
				 version >= 11 ? INFO_COLS_1_1 : INFO_COLS_1_0));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}

/*
 * txguard_reset(): forget the history and the statistics.  Revoked from
 * PUBLIC by the extension script.
 */
Datum
txguard_reset(PG_FUNCTION_ARGS)
{
	require_loaded();
	txg_ring_reset();
	txg_stats_reset();
	PG_RETURN_VOID();
}
