/*-------------------------------------------------------------------------
 *
 * record.h
 *	  The abort record: what txguard knows about one error that aborted a
 *	  transaction or savepoint, where and when it happened, and how the
 *	  aborted state ended.
 *
 * The same layout serves as the backend's private copy (capture/episode.c),
 * as a backend's live slot and as a history ring entry in shared memory
 * (store/), and in the file that keeps them across restarts
 * (store/persist.c), so that recording is one copy.  Every text is a
 * NUL-terminated array inside the record: a record never points anywhere.
 * What follows a text's NUL in its array is never read: copies into shared
 * memory skip it (txg_record_copy).
 * The statement text is the variable-length tail; txg_record_size() gives
 * the full size, fixed at server start.
 *
 * IDENTIFICATION
 *	  src/common/record.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_RECORD_H
#define TXGUARD_RECORD_H

#include "datatype/timestamp.h"

/* Sizes of the text fields of a record, terminating NUL included */
#define TXG_MESSAGE_LEN		512
#define TXG_DETAIL_LEN		512
#define TXG_HINT_LEN		256
#define TXG_CONTEXT_LEN		512
#define TXG_INTERNAL_LEN	256
#define TXG_APPNAME_LEN		64	/* NAMEDATALEN, as application_name */
#define TXG_ADDR_LEN		64
#define TXG_NAME_LEN		64	/* NAMEDATALEN */
#define TXG_TRACE_ID_LEN	33	/* 32 lower-case hex digits */
#define TXG_SPAN_ID_LEN		17	/* 16 lower-case hex digits */
#define TXG_BLOCKER_TEXT_LEN 256	/* the blocking session's statement */
#define TXG_LOCK_LEN		96	/* what was waited on, in words */

/* How an aborted episode ended; stored in TxgRecord.ended_by */
typedef enum TxgEndReason
{
	TXG_END_NONE = 0,			/* still open */
	TXG_END_ROLLBACK,
	TXG_END_ROLLBACK_TO,
	TXG_END_COMMIT,
	TXG_END_PREPARE,
	TXG_END_DISCONNECT,
	TXG_END_TIMEOUT,			/* txguard's own idle timeout */
	TXG_END_TERMINATED,			/* pg_terminate_backend, shutdown */
	TXG_END_IDLE_TIMEOUT,		/* core's idle_in_transaction_session_timeout */
	TXG_END_FATAL,				/* any other FATAL */
	TXG_END_IMPLICIT,			/* no block was left aborted */
	TXG_END_RECOVERY_CONFLICT	/* FATAL: conflict with recovery (standby) */
} TxgEndReason;

/* What txguard knows of the session that held the lock an error waited for */
typedef enum TxgBlockerState
{
	TXG_BLOCKER_NONE = 0,		/* the error was not about a lock */
	TXG_BLOCKER_PENDING,		/* noted, not looked up yet */
	TXG_BLOCKER_FOUND,			/* the blocker_* fields are filled */
	TXG_BLOCKER_GONE,			/* no session held it any more */
	TXG_BLOCKER_UNKNOWN			/* txguard could not tell what was waited on */
} TxgBlockerState;

typedef struct TxgRecord
{
	uint64		seq;			/* ring position, 1-based; 0 if none */
	int32		pid;
	int32		slot;			/* owner's backend slot, -1 if none */
	TimestampTz backend_start;
	Oid			dbid;
	Oid			userid;			/* the role the client was acting as */
	int32		encoding;		/* database encoding of the texts */
	int32		backend_type;	/* BackendType of the process */
	uint64		queryid;		/* core's query id of the statement, 0 if none */
	TimestampTz xact_start;
	TimestampTz stmt_start;
	TimestampTz aborted_at;
	TimestampTz idle_since;		/* last time the client was answered */
	TimestampTz ended_at;
	int64		ignored;		/* commands rejected while aborted */
	int64		repeats;		/* the same failure again (background workers) */
	int32		sqlerrcode;
	int32		stmt_ordinal;
	uint8		ended_by;		/* TxgEndReason */
	bool		in_block;		/* left a transaction block aborted */
	bool		in_savepoint;	/* aborted inside a savepoint */
	bool		stmt_truncated;
	bool		at_commit;		/* raised when the transaction committed */
	bool		copy_in;		/* raised by a simple Query's COPY FROM STDIN */
	bool		remote;			/* relayed from another server */
	uint8		blocker_state;	/* TxgBlockerState */
	int32		blocker_pid;
	Oid			blocker_userid;
	TimestampTz blocker_backend_start;
	TimestampTz blocker_xact_start;
	char		backend_desc[TXG_NAME_LEN]; /* as
											 * pg_stat_activity.backend_type */
	char		trace_id[TXG_TRACE_ID_LEN];
	char		span_id[TXG_SPAN_ID_LEN];
	char		appname[TXG_APPNAME_LEN];
	char		client_addr[TXG_ADDR_LEN];
	/* from here on, texts copied only up to their end (txg_record_copy) */
	char		message[TXG_MESSAGE_LEN];
	char		detail[TXG_DETAIL_LEN];
	char		hint[TXG_HINT_LEN];
	char		context[TXG_CONTEXT_LEN];
	char		schema_name[TXG_NAME_LEN];
	char		table_name[TXG_NAME_LEN];
	char		column_name[TXG_NAME_LEN];
	char		datatype_name[TXG_NAME_LEN];
	char		constraint_name[TXG_NAME_LEN];
	char		internal_query[TXG_INTERNAL_LEN];
	char		blocker_appname[TXG_APPNAME_LEN];
	char		blocker_statement[TXG_BLOCKER_TEXT_LEN];
	char		lock_waited[TXG_LOCK_LEN];
	char		statement[FLEXIBLE_ARRAY_MEMBER];
} TxgRecord;

/* Size of one record including its statement text (record.c) */
extern Size txg_record_size(void);

/*
 * Copy a record into shared memory: its fixed fields, then each of its
 * longer texts only up to its end (most are empty, and the unused end of a
 * text field is never read).
 */
extern void txg_record_copy(TxgRecord *dst, const TxgRecord *src);
extern void txg_record_tidy(TxgRecord *rec);

/* "rollback", "timeout", ...; NULL for TXG_END_NONE */
extern const char *txg_end_reason_name(TxgEndReason reason);

/*
 * Copy src into dst (dstsize bytes, NUL included), cut at a character
 * boundary of the database encoding.  Never fails.
 */
extern void txg_copy_text(char *dst, const char *src, int dstsize);

#endif							/* TXGUARD_RECORD_H */
