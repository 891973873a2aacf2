/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  txguard's settings, and the one place that knows which reports the
 *	  server's own log_min_messages lets through.
 *
 * The settings that size shared memory (max_statement_length,
 * history_size, max_statements) can only be set at server start, so they
 * are defined only when the library is preloaded, as pg_prewarm does with
 * its POSTMASTER settings; the others are defined however the library is
 * loaded, so that SET and SHOW behave the same everywhere.
 *
 * This file keeps no state besides the GUC variables and takes no locks.
 *
 * IDENTIFICATION
 *	  src/common/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"

#include "compat.h"
#include "guc.h"

bool		txg_enabled = true;
int			txg_annotate = TXG_ANNOTATE_DETAIL;
int			txg_log_aborts = TXG_LOG_ABORTS_PROBLEMS;
int			txg_log_aborts_min_duration = 1000;
int			txg_log_ignored = TXG_LOG_IGNORED_FIRST;
int			txg_max_statement_length = 1024;
int			txg_history_size = 1000;
int			txg_track = TXG_TRACK_BLOCKS;
bool		txg_store_detail = true;
int			txg_idle_timeout = 0;
int			txg_debug_ring_delay = 0;
int			txg_max_statements = 1000;
bool		txg_persist = true;

static const struct config_enum_entry annotate_options[] = {
	{"off", TXG_ANNOTATE_OFF, false},
	{"detail", TXG_ANNOTATE_DETAIL, false},
	{"message", TXG_ANNOTATE_MESSAGE, false},
	{NULL, 0, false}
};

/*
 * txguard.log_aborts was a boolean up to 1.1: its boolean spellings are
 * still accepted, "on" meaning what it meant then (every block).
 */
static const struct config_enum_entry log_aborts_options[] = {
	{"off", TXG_LOG_ABORTS_OFF, false},
	{"problems", TXG_LOG_ABORTS_PROBLEMS, false},
	{"all", TXG_LOG_ABORTS_ALL, false},
	{"on", TXG_LOG_ABORTS_ALL, true},
	{"true", TXG_LOG_ABORTS_ALL, true},
	{"yes", TXG_LOG_ABORTS_ALL, true},
	{"1", TXG_LOG_ABORTS_ALL, true},
	{"false", TXG_LOG_ABORTS_OFF, true},
	{"no", TXG_LOG_ABORTS_OFF, true},
	{"0", TXG_LOG_ABORTS_OFF, true},
	{NULL, 0, false}
};

static const struct config_enum_entry log_ignored_options[] = {
	{"none", TXG_LOG_IGNORED_NONE, false},
	{"first", TXG_LOG_IGNORED_FIRST, false},
	{"all", TXG_LOG_IGNORED_ALL, false},
	{NULL, 0, false}
};

static const struct config_enum_entry track_options[] = {
	{"none", TXG_TRACK_NONE, false},
	{"blocks", TXG_TRACK_BLOCKS, false},
	{"all", TXG_TRACK_ALL, false},
	{NULL, 0, false}
};

/*
 * Would the server log get a report of this level?  elog.c's
 * is_log_level_output() with log_min_messages, which is static there: LOG
 * ranks between ERROR and FATAL.
 */
bool
txg_server_log_wants(int elevel)
{
	if (elevel == LOG || elevel == LOG_SERVER_ONLY)
		return log_min_messages == LOG || log_min_messages <= ERROR;
	if (log_min_messages == LOG)
		return elevel >= FATAL;
	return elevel >= log_min_messages;
}

/*
 * Core passes a report to emit_log_hook only if it goes to the server log:
 * txguard sees ERRORs only while the log takes them.
 */
bool
txg_errors_reach_hook(void)
{
	return txg_server_log_wants(ERROR);
}

void
txg_define_gucs(bool preloading)
{
	DefineCustomBoolVariable("txguard.enabled",
							 "Enables capturing and annotating the errors that abort transactions.",
							 NULL,
							 &txg_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("txguard.annotate",
							 "Where to name the original error on the errors of an aborted transaction.",
							 "\"detail\" appends it to the DETAIL, \"message\" also appends a short cause to the primary message, \"off\" adds nothing.",
							 &txg_annotate,
							 TXG_ANNOTATE_DETAIL,
							 annotate_options,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("txguard.log_aborts",
							 "Selects the aborted transaction blocks whose end is logged with their cause.",
							 "\"problems\" logs blocks that the client did not end itself or that stayed aborted for txguard.log_aborts_min_duration, \"all\" logs every block, \"off\" none.",
							 &txg_log_aborts,
							 TXG_LOG_ABORTS_PROBLEMS,
							 log_aborts_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("txguard.log_aborts_min_duration",
							"Sets how long a block must stay aborted for its end to be logged when txguard.log_aborts is \"problems\".",
							"Zero logs every aborted block; -1 logs only the blocks the client did not end itself.",
							&txg_log_aborts_min_duration,
							1000,
							-1, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("txguard.log_ignored_commands",
							 "Selects which errors of an aborted transaction go to the server log.",
							 "\"first\" logs the first annotated error of each aborted block and leaves the others out of the server log, \"all\" logs them all, \"none\" none; clients always receive them.",
							 &txg_log_ignored,
							 TXG_LOG_IGNORED_FIRST,
							 log_ignored_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomEnumVariable("txguard.track",
							 "Selects which aborts are kept in the shared history.",
							 "\"blocks\" keeps aborts that leave a transaction block aborted and background workers' failures, \"all\" also keeps failed autocommit statements, \"none\" keeps nothing, not even statistics beyond the per-database counts.",
							 &txg_track,
							 TXG_TRACK_BLOCKS,
							 track_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("txguard.store_detail",
							 "Keeps the DETAIL of the original error in the shared history.",
							 "The DETAIL of an error can contain data values, such as the key of a unique violation.",
							 &txg_store_detail,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("txguard.idle_in_aborted_transaction_timeout",
							"Terminates sessions left idle in an aborted transaction block for longer than this.",
							"Zero disables the timeout.",
							&txg_idle_timeout,
							0,
							0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * For tests only: sleep this long between claiming a ring position and
	 * writing it, to let a test wrap the ring in between.
	 */
	DefineCustomIntVariable("txguard.debug_ring_delay",
							"Delays ring writes, for testing.",
							NULL,
							&txg_debug_ring_delay,
							0,
							0, 60000,
							PGC_SUSET,
							GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							NULL, NULL, NULL);

	if (preloading)
	{
		DefineCustomIntVariable("txguard.max_statement_length",
								"Sets the maximum number of bytes of statement text kept for an abort.",
								"Longer statements are truncated at a character boundary.",
								&txg_max_statement_length,
								1024,
								64, 65536,
								PGC_POSTMASTER,
								GUC_UNIT_BYTE,
								NULL, NULL, NULL);

		DefineCustomIntVariable("txguard.history_size",
								"Sets the number of aborts kept in the shared history.",
								"Zero disables the history; statistics are still kept.",
								&txg_history_size,
								1000,
								0, 100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomIntVariable("txguard.max_statements",
								"Sets the number of statements tracked in txguard_statement_stats.",
								"When the table is full, the least recently seen statement is evicted.",
								&txg_max_statements,
								1000,
								0, 100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

		DefineCustomBoolVariable("txguard.persist",
								 "Saves txguard's statistics and history across clean server restarts.",
								 NULL,
								 &txg_persist,
								 true,
								 PGC_SIGHUP,
								 0,
								 NULL, NULL, NULL);
	}

	MarkGUCPrefixReserved("txguard");
}
