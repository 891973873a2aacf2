/*-------------------------------------------------------------------------
 *
 * funcs.c
 *	  SQL-callable functions: the history, this session's last abort, the
 *	  sessions now aborted, the statistics, the error codes, information
 *	  and reset.
 *
 * Versions.  One library serves the SQL objects of every version of the
 * extension, as pg_stat_statements does: each function looks at the number
 * of columns its SQL declaration expects (1.0 or 1.1) and builds rows of
 * that shape, so a database keeps working with its 1.0 objects until
 * ALTER EXTENSION txguard UPDATE is run.
 *
 * Reading.  Every function first checks that txguard was preloaded.  The
 * history and the live slots are read one entry at a time (ring.c,
 * slots.c: lock-free, nothing held while a row is built), and each row is
 * built in a memory context reset after it, so reading a history of
 * 100,000 entries needs the memory of one entry plus the tuplestore, which
 * spills to disk beyond work_mem.  The statistics are copied under
 * LW_SHARED (stats.c) and the rows built afterwards.
 *
 * Visibility follows pg_stat_activity: the text of another role's errors
 * (message, detail, hint, context, object names, statement, internal query)
 * and its client address are shown only to roles that have the privileges
 * of pg_read_all_stats or of the row's role (superusers have both); other
 * roles see the row with those columns NULL.  The rule is applied to the
 * current role, also for the session's own last abort: after SET ROLE a
 * request does not see what another role's request left behind.
 *
 * Encodings.  Each record keeps the encoding of the database it was
 * captured in.  Its texts are converted to the reader's database encoding,
 * as pg_stat_statements converts query texts; a character that cannot be
 * converted (or a non-ASCII byte of an SQL_ASCII database) is replaced
 * with U+FFFD in UTF8 and '?' elsewhere, so that one bad record never
 * makes a whole view fail.
 *
 * IDENTIFICATION
 *	  src/funcs.c
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
#include "shmem.h"
#include "txguard.h"

PG_FUNCTION_INFO_V1(txguard_abort_history);
PG_FUNCTION_INFO_V1(txguard_last_abort);
PG_FUNCTION_INFO_V1(txguard_aborted_sessions);
PG_FUNCTION_INFO_V1(txguard_stats);
PG_FUNCTION_INFO_V1(txguard_statement_stats);
PG_FUNCTION_INFO_V1(txguard_database_stats);
PG_FUNCTION_INFO_V1(txguard_error_codes);
PG_FUNCTION_INFO_V1(txguard_info);
PG_FUNCTION_INFO_V1(txguard_reset);

/* Columns of each result, per version of the SQL objects */
#define ABORT_COLS_1_0		30
#define ABORT_COLS_1_1		35
#define SESSION_COLS_1_0	16
#define SESSION_COLS_1_1	18
#define STATS_COLS_1_0		12
#define STATS_COLS_1_1		15
#define INFO_COLS_1_0		10
#define INFO_COLS_1_1		15
#define STMT_STATS_COLS		17
#define DB_STATS_COLS		9
#define ERRCODE_COLS		5

#define MAX_COLS			35

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
 * Which version of the SQL objects called us: 10 for 1.0, 11 for 1.1,
 * told by the number of columns the declaration expects.
 */
static int
api_version(TupleDesc tupdesc, int cols_1_0, int cols_1_1)
{
	if (tupdesc->natts == cols_1_1)
		return 11;
	if (cols_1_0 > 0 && tupdesc->natts == cols_1_0)
		return 10;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("txguard's SQL objects do not match its library"),
			 errhint("Run ALTER EXTENSION txguard UPDATE.")));
	return 0;					/* keep the compiler quiet */
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

/* ---- abort records ---- */

/* What the record callbacks need */
typedef struct RowState
{
	ReturnSetInfo *rsinfo;
	MemoryContext rowcxt;		/* reset after each row */
	int			version;
	bool		all_stats;
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
}

/*
 * Emit one row of type txguard_abort.
 */
static void
put_abort(RowState *st, const TxgRecord *rec, bool visible)
{
	Datum		values[MAX_COLS];
	bool		nulls[MAX_COLS];
	int			i = 0;
	TimestampTz end;
	MemoryContext old = MemoryContextSwitchTo(st->rowcxt);

	memset(values, 0, sizeof(values));
	memset(nulls, 0, sizeof(nulls));

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
		int			enc = rec->encoding;

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
		set_queryid(values, nulls, i++, rec->queryid);
		i = set_error_class(values, nulls, i, rec->sqlerrcode);
		values[i++] = BoolGetDatum(rec->at_commit);
		Assert(i == ABORT_COLS_1_1);
	}
	else
		Assert(i == ABORT_COLS_1_0);

	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc,
						 values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
}

static void
emit_history_row(const TxgRecord *rec, void *arg)
{
	RowState   *st = (RowState *) arg;

	put_abort(st, rec, can_see(rec->userid, st->all_stats));
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

	txg_require_loaded();
	if (filter && pid <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid process ID %d", pid),
				 errhint("Pass a backend's process ID, or NULL for all backends.")));

	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, ABORT_COLS_1_0, ABORT_COLS_1_1));
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

	txg_require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, ABORT_COLS_1_0, ABORT_COLS_1_1));

	rec = palloc(txg_record_size());
	if (txg_episode_last(rec))
		put_abort(&st, rec, can_see(rec->userid, st.all_stats));
	pfree(rec);
	return (Datum) 0;
}

static void
emit_session_row(const TxgRecord *rec, void *arg)
{
	RowState   *st = (RowState *) arg;
	bool		visible = can_see(rec->userid, st->all_stats);
	Datum		values[MAX_COLS];
	bool		nulls[MAX_COLS];
	int			i = 0;
	MemoryContext old = MemoryContextSwitchTo(st->rowcxt);

	memset(values, 0, sizeof(values));
	memset(nulls, 0, sizeof(nulls));
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
		set_queryid(values, nulls, i++, rec->queryid);
		set_text(values, nulls, i++, txg_condition_name(rec->sqlerrcode));
		Assert(i == SESSION_COLS_1_1);
	}
	else
		Assert(i == SESSION_COLS_1_0);

	tuplestore_putvalues(st->rsinfo->setResult, st->rsinfo->setDesc,
						 values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rowcxt);
}

/*
 * txguard_aborted_sessions(): the backends now in an aborted block.
 */
Datum
txguard_aborted_sessions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RowState	st;

	txg_require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st, fcinfo,
				   api_version(rsinfo->setDesc, SESSION_COLS_1_0,
							   SESSION_COLS_1_1));
	txg_slots_scan(emit_session_row, &st);
	return (Datum) 0;
}

/* ---- statistics ---- */

/*
 * txguard_stats(): counters per database, role and SQLSTATE of the cause.
 */
Datum
txguard_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TxgStatsEntry *entries;
	TimestampTz stats_reset;
	int			n;
	int			version;

	txg_require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	version = api_version(rsinfo->setDesc, STATS_COLS_1_0, STATS_COLS_1_1);

	n = txg_stats_read(&entries, &stats_reset);
	for (int r = 0; r < n; r++)
	{
		TxgStatsEntry *e = &entries[r];
		Datum		values[MAX_COLS];
		bool		nulls[MAX_COLS];
		int			i = 0;

		memset(values, 0, sizeof(values));
		memset(nulls, 0, sizeof(nulls));
		i = set_db_role(values, nulls, i, e->key.dbid, e->key.userid);
		values[i++] = CStringGetTextDatum(unpack_sql_state(e->key.sqlerrcode));
		values[i++] = Int64GetDatum(e->aborts);
		values[i++] = Int64GetDatum(e->aborted_blocks);
		values[i++] = Int64GetDatum(e->ignored_commands);
		values[i++] = Int64GetDatum(e->sessions_terminated);
		set_timestamp(values, nulls, i++, e->first_seen);
		set_timestamp(values, nulls, i++, e->last_seen);
		set_timestamp(values, nulls, i++, stats_reset);
		if (version >= 11)
		{
			i = set_error_class(values, nulls, i, e->key.sqlerrcode);
			Assert(i == STATS_COLS_1_1);
		}
		else
			Assert(i == STATS_COLS_1_0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

typedef struct StmtRowState
{
	RowState	rs;
	TimestampTz stats_reset;
} StmtRowState;

static void
emit_stmtstats_row(const TxgStmtStatsEntry *e, void *arg)
{
	StmtRowState *st = (StmtRowState *) arg;
	Datum		values[MAX_COLS];
	bool		nulls[MAX_COLS];
	int			i = 0;
	MemoryContext old = MemoryContextSwitchTo(st->rs.rowcxt);

	memset(values, 0, sizeof(values));
	memset(nulls, 0, sizeof(nulls));
	i = set_db_role(values, nulls, i, e->key.dbid, e->key.userid);
	set_queryid(values, nulls, i++, e->key.queryid);
	values[i++] = CStringGetTextDatum(unpack_sql_state(e->key.sqlerrcode));
	i = set_error_class(values, nulls, i, e->key.sqlerrcode);
	values[i++] = Int64GetDatum(e->aborts);
	values[i++] = Int64GetDatum(e->aborted_blocks);
	values[i++] = Int64GetDatum(e->ignored_commands);
	values[i++] = Int64GetDatum(e->sessions_terminated);
	set_timestamp(values, nulls, i++, e->first_seen);
	set_timestamp(values, nulls, i++, e->last_seen);
	if (can_see(e->key.userid, st->rs.all_stats))
		set_text_enc(values, nulls, i++, e->text, e->encoding);
	else
		nulls[i++] = true;
	set_timestamp(values, nulls, i++, st->stats_reset);
	Assert(i == STMT_STATS_COLS);

	tuplestore_putvalues(st->rs.rsinfo->setResult, st->rs.rsinfo->setDesc,
						 values, nulls);
	MemoryContextSwitchTo(old);
	MemoryContextReset(st->rs.rowcxt);
}

/*
 * txguard_statement_stats(): counters per database, role, query id and
 * SQLSTATE of the cause, with a sample statement text.
 */
Datum
txguard_statement_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StmtRowState st;

	txg_require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	row_state_init(&st.rs, fcinfo,
				   api_version(rsinfo->setDesc, 0, STMT_STATS_COLS));
	st.stats_reset = 0;
	txg_stmtstats_scan(emit_stmtstats_row, &st, &st.stats_reset);
	return (Datum) 0;
}

/*
 * txguard_database_stats(): every error abort per database.
 */
Datum
txguard_database_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TxgDbStatsEntry *entries;
	TimestampTz stats_reset;
	int			n;

	txg_require_loaded();
	TXG_INIT_MATERIALIZED_SRF(fcinfo);
	(void) api_version(rsinfo->setDesc, 0, DB_STATS_COLS);

	n = txg_dbstats_read(&entries, &stats_reset);
	for (int r = 0; r < n; r++)
	{
		TxgDbStatsEntry *e = &entries[r];
		Datum		values[MAX_COLS];
		bool		nulls[MAX_COLS];
		int			i = 0;

		memset(values, 0, sizeof(values));
		memset(nulls, 0, sizeof(nulls));
		values[i++] = ObjectIdGetDatum(e->dbid);
		set_name(values, nulls, i++, get_database_name(e->dbid));
		values[i++] = Int64GetDatum(e->error_aborts);
		values[i++] = Int64GetDatum(e->savepoint_error_aborts);
		values[i++] = Int64GetDatum(e->aborted_blocks);
		values[i++] = Int64GetDatum(e->ignored_commands);
		values[i++] = Int64GetDatum(e->sessions_terminated);
		set_timestamp(values, nulls, i++, e->last_error);
		set_timestamp(values, nulls, i++, stats_reset);
		Assert(i == DB_STATS_COLS);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
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
	(void) api_version(rsinfo->setDesc, 0, ERRCODE_COLS);

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
	TxgInfo		info;
	Datum		values[MAX_COLS];
	bool		nulls[MAX_COLS];
	int			i = 0;
	int			version;

	txg_require_loaded();
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	version = api_version(tupdesc, INFO_COLS_1_0, INFO_COLS_1_1);

	memset(&info, 0, sizeof(info));
	txg_ring_info(&info);
	txg_stats_info(&info);
	memset(nulls, 0, sizeof(nulls));
	values[i++] = Int32GetDatum(info.history_size);
	values[i++] = Int64GetDatum(info.history_written);
	values[i++] = Int64GetDatum(info.history_overwritten);
	values[i++] = Int64GetDatum(info.history_dropped);
	values[i++] = Int32GetDatum(info.stats_entries);
	values[i++] = Int32GetDatum(info.stats_max);
	values[i++] = Int64GetDatum(info.stats_dropped);
	values[i++] = TimestampTzGetDatum(info.stats_reset);
	values[i++] = CStringGetTextDatum(GetConfigOption("txguard.track",
													  false, false));
	values[i++] = BoolGetDatum(txg_errors_reach_hook());
	if (version >= 11)
	{
		values[i++] = Int32GetDatum(info.statements);
		values[i++] = Int32GetDatum(info.statements_max);
		values[i++] = Int64GetDatum(info.statements_evicted);
		values[i++] = Int64GetDatum(info.databases_dropped);
		set_timestamp(values, nulls, i++, txg_persist_restored_at());
		Assert(i == INFO_COLS_1_1);
	}
	else
		Assert(i == INFO_COLS_1_0);

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
	txg_require_loaded();
	txg_ring_reset();
	txg_stats_reset();
	PG_RETURN_VOID();
}
