/*-------------------------------------------------------------------------
 *
 * txguard.c
 *	  Module load: GUC definitions and hook installation.
 *
 * txguard must be loaded through shared_preload_libraries: it needs shared
 * memory and its hooks in every backend.  Loaded any other way (LOAD, or
 * session_preload_libraries) _PG_init only defines the GUCs, so that
 * CREATE EXTENSION works and every SQL function can say clearly that the
 * library must be preloaded, as pg_stat_statements does.
 *
 * This file takes no locks and keeps no state besides the GUC variables.
 *
 * IDENTIFICATION
 *	  src/txguard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"
#include "txguard.h"

PG_MODULE_MAGIC;

/* GUC variables */
bool		txg_enabled = true;
int			txg_annotate = TXG_ANNOTATE_DETAIL;
bool		txg_log_aborts = true;
int			txg_log_ignored = TXG_LOG_IGNORED_FIRST;
int			txg_max_statement_length = 1024;
int			txg_history_size = 1000;
int			txg_track = TXG_TRACK_BLOCKS;
bool		txg_store_detail = true;
int			txg_idle_timeout = 0;
int			txg_debug_ring_delay = 0;
int			txg_max_statements = 1000;
bool		txg_persist = true;

/* true once _PG_init ran under shared_preload_libraries */
bool		txg_loaded = false;

static const struct config_enum_entry annotate_options[] = {
	{"off", TXG_ANNOTATE_OFF, false},
	{"detail", TXG_ANNOTATE_DETAIL, false},
	{"message", TXG_ANNOTATE_MESSAGE, false},
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

void		_PG_init(void);

/*
 * Size of one TxgRecord including its statement text.  The statement length
 * is fixed at server start, so every record has the same size.
 */
Size
txg_record_size(void)
{
	return MAXALIGN(offsetof(TxgRecord, statement) +
					(Size) txg_max_statement_length + 1);
}

/*
 * Can emit_log_hook see ERRORs?  Core passes a message to the hook only if
 * it goes to the server log, and log_min_messages orders LOG above ERROR.
 */
bool
txg_errors_reach_hook(void)
{
	return log_min_messages != LOG && log_min_messages <= ERROR;
}

/*
 * Raise the error every SQL function raises when the library was not
 * preloaded.
 */
void
txg_require_loaded(void)
{
	if (!txg_loaded || !txg_shmem_available())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("txguard must be loaded via \"shared_preload_libraries\""),
				 errhint("Add txguard to \"shared_preload_libraries\" in postgresql.conf and restart the server.")));
}

static void
define_gucs(bool preloading)
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

	DefineCustomBoolVariable("txguard.log_aborts",
							 "Logs a record naming the cause when an aborted transaction block ends.",
							 NULL,
							 &txg_log_aborts,
							 true,
							 PGC_SUSET,
							 0,
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
							 "Selects which aborts are kept in the shared history and statistics.",
							 "\"blocks\" keeps aborts that leave a transaction block aborted, \"all\" also keeps failed autocommit statements, \"none\" keeps nothing.",
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

	/*
	 * The next two size shared memory and can only be set at server start, so
	 * they exist only when the library is preloaded (as pg_prewarm does).
	 */
	if (!preloading)
	{
		MarkGUCPrefixReserved("txguard");
		return;
	}

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

	MarkGUCPrefixReserved("txguard");
}

/*
 * Module load callback
 */
void
_PG_init(void)
{
	/*
	 * The GUCs are defined however the library is loaded, so that SET and
	 * SHOW behave the same everywhere; the rest needs preloading.
	 */
	define_gucs(process_shared_preload_libraries_in_progress);

	if (!process_shared_preload_libraries_in_progress)
		return;

	txg_shmem_init();
	txg_episode_init();
	txg_hooks_init();

	txg_loaded = true;

	/*
	 * With log_min_messages above error core never passes an ERROR to
	 * emit_log_hook.  Say so once, at start-up.  A LOG line is lost too when
	 * the setting is fatal or panic, so write to stderr then, which is the
	 * server log in every usual set-up.
	 */
	if (!txg_errors_reach_hook())
	{
		if (log_min_messages == LOG)
			ereport(LOG,
					(errmsg("txguard cannot see errors while \"log_min_messages\" is set to \"%s\"",
							GetConfigOption("log_min_messages", false, false)),
					 errhint("Set \"log_min_messages\" to \"error\" or a lower level.")));
		else
			write_stderr("txguard: cannot see errors while \"log_min_messages\" is set to \"%s\"; set it to \"error\" or a lower level\n",
						 GetConfigOption("log_min_messages", false, false));
	}
}
