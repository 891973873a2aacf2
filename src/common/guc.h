/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  txguard's settings (the txguard.* GUCs) and what the server's own
 *	  settings let txguard see.
 *
 * IDENTIFICATION
 *	  src/common/guc.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_GUC_H
#define TXGUARD_GUC_H

/* txguard.annotate */
typedef enum TxgAnnotateMode
{
	TXG_ANNOTATE_OFF,
	TXG_ANNOTATE_DETAIL,
	TXG_ANNOTATE_MESSAGE
} TxgAnnotateMode;

/* txguard.log_aborts */
typedef enum TxgLogAbortsMode
{
	TXG_LOG_ABORTS_OFF,
	TXG_LOG_ABORTS_PROBLEMS,
	TXG_LOG_ABORTS_ALL
} TxgLogAbortsMode;

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

/* The settings */
extern bool txg_enabled;
extern int	txg_annotate;
extern int	txg_log_aborts;
extern int	txg_log_aborts_min_duration;
extern int	txg_log_ignored;
extern int	txg_max_statement_length;
extern int	txg_history_size;
extern int	txg_track;
extern bool txg_store_detail;
extern int	txg_idle_timeout;
extern int	txg_debug_ring_delay;
extern int	txg_max_statements;
extern bool txg_persist;

extern void txg_define_gucs(bool preloading);

/* Would the server log get a report of this level (elog.c's rule)? */
extern bool txg_server_log_wants(int elevel);

/* Does emit_log_hook see ERRORs?  (log_min_messages at error or below) */
extern bool txg_errors_reach_hook(void);

#endif							/* TXGUARD_GUC_H */
