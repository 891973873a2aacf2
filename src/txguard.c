/*-------------------------------------------------------------------------
 *
 * txguard.c
 *	  Module load: the settings, the records, every hook.
 *
 * txguard must be loaded through shared_preload_libraries: it needs shared
 * memory and its hooks in every backend.  Loaded any other way (LOAD, or
 * session_preload_libraries) _PG_init only defines the settings, so that
 * CREATE EXTENSION works and every SQL function can say clearly that the
 * library must be preloaded, as pg_stat_statements does.
 *
 * The source is layered, and calls only go down:
 *
 *	txguard.c, hooks.c	module load; the hooks, which only report events
 *	sql/				the SQL-callable functions
 *	capture/			statement and episode tracking, what txguard
 *						adds to errors and to the log
 *	store/				shared memory: history, live slots, statistics,
 *						persistence
 *	common/				the record, the settings, SQLSTATE names, the
 *						version switches (compat.h)
 *
 * The rule for memory txguard does not own, stated once: txguard never
 * keeps a pointer into memory it does not own beyond the event that
 * handed it over.  A text is copied (bounded) into txguard's own memory
 * while the event lasts, or read at error time from a source core keeps
 * alive until the error is handled; an address kept to recognise
 * something again is kept as an integer and never dereferenced.  Each
 * file's header lists its state and where it comes from.
 *
 * This file takes no locks and keeps no state.
 *
 * IDENTIFICATION
 *	  src/txguard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"
#include "episode.h"
#include "guc.h"
#include "hooks.h"

PG_MODULE_MAGIC;

extern PGDLLEXPORT void _PG_init(void);

/*
 * Module load callback
 */
void
_PG_init(void)
{
	/*
	 * The settings are defined however the library is loaded, so that SET and
	 * SHOW behave the same everywhere; the rest needs preloading.
	 */
	txg_define_gucs(process_shared_preload_libraries_in_progress);

	if (!process_shared_preload_libraries_in_progress)
		return;

	txg_episode_init();
	txg_hooks_install();

	/*
	 * With log_min_messages above error core never passes an ERROR to
	 * emit_log_hook.  Say so once, at start-up.  A LOG line is lost too when
	 * the setting is fatal or panic, so write to stderr then, which is the
	 * server log in every usual set-up.
	 */
	if (!txg_errors_reach_hook())
	{
		if (txg_server_log_wants(LOG))
			ereport(LOG,
					(errmsg("txguard cannot see errors while \"log_min_messages\" is set to \"%s\"",
							GetConfigOption("log_min_messages", false, false)),
					 errhint("Set \"log_min_messages\" to \"error\" or a lower level.")));
		else
			write_stderr("txguard: cannot see errors while \"log_min_messages\" is set to \"%s\"; set it to \"error\" or a lower level\n",
						 GetConfigOption("log_min_messages", false, false));
	}
}
