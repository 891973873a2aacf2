/*-------------------------------------------------------------------------
 *
 * txguard.h
 *	  Declarations shared by the files of txguard.
 *
 * txguard has one backend-local picture of "the error that aborted this
 * transaction" (a TxgRecord), and shared memory that keeps a history of
 * such records, the live state of each backend, and statistics.  Each .c file owns
 * one responsibility:
 *
 *	txguard.c		module load: GUCs, hook installation
 *	hooks.c			every hook and callback; they only report events
 *	stmt.c			the statement tracker: statement N and its text
 *	stmtsplit.c		statement boundaries in a query string (at error time)
 *	episode.c		the life of an aborted episode: cause, ignored commands,
 *					every way it ends
 *	capture.c		copying an error into a record
 *	annotate.c		the text txguard adds to errors and writes to the log
 *	idle_timeout.c	terminating sessions idle in an aborted block
 *	shmem.c			shared memory: request, layout (shmem.h), set-up
 *	ring.c			the history ring (lock-free)
 *	slots.c			one live slot per backend (lock-free)
 *	stats.c			statistics tables (one LWLock)
 *	persist.c		statistics and history saved across clean restarts
 *	errcodes.c		condition names and classes of SQLSTATEs (generated
 *					from the server's errcodes.txt), the retry rule
 *	funcs.c			SQL-callable functions
 *
 * Locking rules are stated in the header comment of each file; the short
 * version: emit_log_hook and the abort callbacks never raise an ERROR,
 * never allocate and never log; the hook never takes a lock; only shmem.c,
 * ring.c, slots.c, stats.c and persist.c touch shared memory.  No mutable
 * global is written from two files.
 *
 * IDENTIFICATION
 *	  src/txguard.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_H
#define TXGUARD_H

#include <signal.h>

#include "datatype/timestamp.h"
#include "utils/elog.h"

/* Sizes of the text fields of a record, terminating NUL included. */
#define TXG_MESSAGE_LEN		512
#define TXG_DETAIL_LEN		512
#define TXG_HINT_LEN		256
#define TXG_CONTEXT_LEN		512
#define TXG_INTERNAL_LEN	256
#define TXG_APPNAME_LEN		64	/* NAMEDATALEN, as application_name */
#define TXG_ADDR_LEN		64
#define TXG_NAME_LEN		64	/* NAMEDATALEN */

/* How an aborted episode ended; stored in TxgRecord.ended_by. */
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

/* txguard.annotate */
typedef enum TxgAnnotateMode
{
	TXG_ANNOTATE_OFF,
	TXG_ANNOTATE_DETAIL,
	TXG_ANNOTATE_MESSAGE
} TxgAnnotateMode;

/* txguard.log_ignored_commands */
typedef enum TxgLogIgnoredMode
{
	TXG_LOG_IGNORED_NONE,
	TXG_LOG_IGNORED_FIRST,
	TXG_LOG_IGNORED_ALL
} TxgLogIgnoredMode;

/* txguard.track */
typedef enum TxgTrackMode
{
	TXG_TRACK_NONE,
	TXG_TRACK_BLOCKS,
	TXG_TRACK_ALL
} TxgTrackMode;

/*
 * One abort episode: the error that aborted a transaction, where and when,
 * and how the aborted state ended.  The same layout serves as the backend's
 * private copy, as a backend's live slot and as a ring entry in shared
 * memory, so that recording is a memcpy.  The statement text is the
 * variable-length tail; txg_record_size() gives the full size.
 */
typedef struct TxgRecord
{
	uint64		seq;			/* ring position, 1-based; 0 if none */
	int32		pid;
	int32		slot;			/* owner's backend slot, -1 if none */
	TimestampTz backend_start;
	Oid			dbid;
	Oid			userid;			/* role that ran the statement */
	int32		encoding;		/* database encoding of the texts */
	uint64		queryid;		/* query id of the statement, 0 if none */
	TimestampTz xact_start;
	TimestampTz stmt_start;
	TimestampTz aborted_at;
	TimestampTz idle_since;		/* last time the client was answered */
	TimestampTz ended_at;
	int64		ignored;		/* commands rejected while aborted */
	int32		sqlerrcode;
	int32		stmt_ordinal;
	uint8		ended_by;		/* TxgEndReason */
	bool		in_block;		/* left a transaction block aborted */
	bool		in_savepoint;	/* aborted inside a savepoint */
	bool		stmt_truncated;
	bool		at_commit;		/* raised when the transaction committed */
	bool		copy_in;		/* raised by COPY FROM STDIN */
	char		appname[TXG_APPNAME_LEN];
	char		client_addr[TXG_ADDR_LEN];
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
	char		statement[FLEXIBLE_ARRAY_MEMBER];
} TxgRecord;

/* Statistics: one entry per (database, role, SQLSTATE of the cause) */
#define TXG_STATS_ENTRIES	4096	/* hash slots */
#define TXG_STATS_MAX		(TXG_STATS_ENTRIES * 3 / 4)	/* keys at most */

typedef struct TxgStatsKey
{
	Oid			dbid;
	Oid			userid;
	int32		sqlerrcode;
} TxgStatsKey;

typedef struct TxgStatsEntry
{
	TxgStatsKey key;
	bool		used;
	int64		aborts;
	int64		aborted_blocks;
	int64		ignored_commands;
	int64		sessions_terminated;
	TimestampTz first_seen;
	TimestampTz last_seen;
} TxgStatsEntry;

/* What txguard_info() reports */
typedef struct TxgInfo
{
	int			history_size;
	int64		history_written;
	int64		history_overwritten;
	int64		history_dropped;
	int			stats_entries;
	int			stats_max;
	int64		stats_dropped;
	TimestampTz stats_reset;
	int			statements;
	int			statements_max;
	int64		statements_evicted;
	int64		databases_dropped;
} TxgInfo;

/* GUC variables (txguard.c) */
extern bool txg_enabled;
extern int	txg_annotate;
extern bool txg_log_aborts;
extern int	txg_log_ignored;
extern int	txg_max_statement_length;
extern int	txg_history_size;
extern int	txg_track;
extern bool txg_store_detail;
extern int	txg_idle_timeout;
extern int	txg_debug_ring_delay;
extern int	txg_max_statements;
extern bool txg_persist;

/* txguard.c */
extern bool txg_loaded;
extern Size txg_record_size(void);
extern void txg_require_loaded(void);
extern bool txg_errors_reach_hook(void);

/* hooks.c */
extern void txg_hooks_init(void);
extern bool txg_is_client_backend(void);

/* What stmt.c tells about the statement an error belongs to */
typedef struct TxgStmtRef
{
	int			ordinal;
	const char *text;			/* not NUL-terminated: len bytes */
	int			len;
	uint64		queryid;
	Oid			userid;
	bool		at_commit;
	bool		copy_in;
	bool		text_partial;	/* may end in the middle of a character */
} TxgStmtRef;

/* Kinds of top-level statements stmt.c tells apart */
typedef enum TxgStmtKind
{
	TXG_STMT_OTHER,
	TXG_STMT_BEGIN,				/* BEGIN / START TRANSACTION */
	TXG_STMT_COMMIT,			/* COMMIT / END / PREPARE TRANSACTION */
	TXG_STMT_COPY_IN			/* COPY ... FROM STDIN */
} TxgStmtKind;

/* stmt.c */
struct QueryDesc;
struct PortalData;
extern void txg_stmt_analyzed(const char *src, int loc, int len,
							  uint64 queryid, bool is_begin);
extern void txg_stmt_run(struct PortalData *portal, struct QueryDesc *qd,
						 const char *src, int loc, int len, uint64 queryid,
						 TxgStmtKind kind, bool limited);
extern void txg_stmt_run_end(struct QueryDesc *qd);
extern void txg_stmt_xact_end(void);
extern void txg_stmt_charge_error(const ErrorData *edata, TxgStmtRef *ref);

/* stmtsplit.c */
extern bool txg_split_rest_is_empty(const char *s, int len, int from);
extern bool txg_split_next(const char *s, int len, int from,
						   int *start, int *end);
extern bool txg_split_at(const char *s, int len, int pos,
						 int *start, int *end);
extern int	txg_split_content_end(const char *s, int len);

/* capture.c */
extern void txg_copy_text(char *dst, const char *src, int dstsize);
extern void txg_capture_record(TxgRecord *rec, const ErrorData *edata,
							   const TxgStmtRef *ref);

/* annotate.c */
extern const char *txg_end_reason_name(TxgEndReason reason);
extern int	txg_format_cause(char *buf, int bufsize, const TxgRecord *cause);
extern Size txg_cause_bufsize(void);
extern void txg_annotate_error(ErrorData *edata, const TxgRecord *cause,
							   const char *cause_text, int cause_len);
extern void txg_annotate_fatal(ErrorData *edata, const TxgRecord *cause,
							   const char *cause_text, int cause_len,
							   bool ours);
extern void txg_log_episode_end(const TxgRecord *episode);
extern bool txg_end_line_emitting;

/* episode.c */
struct TransactionStmt;
extern void txg_episode_init(void);
extern bool txg_episode_is_open(void);
extern bool txg_episode_last(TxgRecord *out);
extern void txg_episode_error(ErrorData *edata);
extern void txg_episode_abort(bool sub);
extern void txg_episode_commit(void);
extern void txg_episode_utility(struct TransactionStmt *tstmt, bool done);
extern void txg_episode_safe_point_work(void);
extern bool txg_episode_attention;

/* A top-level statement starts: a safe place for episode.c's pending work */
static inline void
txg_episode_safe_point(void)
{
	if (unlikely(txg_episode_attention))
		txg_episode_safe_point_work();
}
extern void txg_episode_backend_exit(void);

/* idle_timeout.c */
extern volatile sig_atomic_t txg_timeout_fired;
extern void txg_timeout_register(void);
extern void txg_timeout_arm(void);
extern void txg_timeout_disarm(void);

/* Callbacks of the shared memory readers */
struct TxgStmtStatsEntry;
typedef void (*txg_record_callback) (const TxgRecord *rec, void *arg);
typedef void (*txg_stmtstats_callback) (const struct TxgStmtStatsEntry *e,
										void *arg);

/* shmem.c */
extern void txg_shmem_init(void);
extern bool txg_shmem_available(void);

/* ring.c */
extern void txg_ring_add(TxgRecord *rec);
extern void txg_ring_complete(const TxgRecord *rec);
extern void txg_ring_restore(const TxgRecord *rec, uint64 seq);
extern void txg_ring_scan(int pid, txg_record_callback emit, void *arg);
extern void txg_ring_info(TxgInfo *info);
extern void txg_ring_reset(void);

/* slots.c */
extern int	txg_slot_index(void);
extern void txg_slot_publish(const TxgRecord *rec);
extern void txg_slot_touch(const TxgRecord *rec);
extern void txg_slot_clear(void);
extern void txg_slot_live_counts(TxgRecord *rec);
extern void txg_slots_scan(txg_record_callback emit, void *arg);

/* stats.c */
extern uint64 txg_stats_count_abort(const TxgRecord *rec, bool sub,
									bool tracked);
extern void txg_stats_count_end(const TxgRecord *rec, bool tracked,
								uint64 generation);
extern int	txg_stats_read(TxgStatsEntry **out, TimestampTz *stats_reset);
struct TxgDbStatsEntry;
extern int	txg_dbstats_read(struct TxgDbStatsEntry **out,
							 TimestampTz *stats_reset);
extern void txg_stmtstats_scan(txg_stmtstats_callback emit, void *arg,
							   TimestampTz *stats_reset);
extern void txg_stats_info(TxgInfo *info);
extern void txg_stats_reset(void);

/* errcodes.c */
extern const char *txg_condition_name(int sqlerrcode);
extern const char *txg_class_name(int sqlerrcode);
extern bool txg_retryable(int sqlerrcode);
extern int	txg_errcodes_count(void);
extern const char *txg_errcodes_sqlstate(int i);

/* persist.c */
extern void txg_persist_load(void);
extern void txg_persist_save(int code, Datum arg);
extern TimestampTz txg_persist_restored_at(void);

#endif							/* TXGUARD_H */
