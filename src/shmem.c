/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  txguard's shared memory segment: requesting it, laying it out, and
 *	  initialising it.  The layout is described in shmem.h; each part is
 *	  used by its own file (slots.c, ring.c, stats.c) with its own locking
 *	  rules.
 *
 * Locking: the segment is created under AddinShmemInitLock, as every
 * add-in's is.  The postmaster initialises it (and, after a clean
 * shutdown, loads the saved statistics and history: persist.c) before any
 * backend exists, and registers the save at its own exit.  After a crash
 * restart the postmaster re-creates the segment; the file was removed when
 * it was loaded, so everything starts empty, as core's statistics do.
 *
 * IDENTIFICATION
 *	  src/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "shmem.h"
#include "txguard.h"

TxgShared  *txg_sh = NULL;
char	   *txg_sh_slots = NULL;
char	   *txg_sh_ring = NULL;
TxgStatsEntry *txg_sh_stats = NULL;
TxgDbStatsEntry *txg_sh_dbstats = NULL;
char	   *txg_sh_stmt = NULL;
int32	   *txg_sh_stmt_index = NULL;

#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int	nslots_requested = 0;

static Size
entry_size(void)
{
	return MAXALIGN(ENTRY_HEADER_SIZE + txg_record_size());
}

static Size
stmt_entry_size(void)
{
	return MAXALIGN(offsetof(TxgStmtStatsEntry, text) +
					(Size) txg_max_statement_length + 1);
}

/* Buckets of the statement statistics' hash index: a power of two >= 2n */
static int
stmt_buckets(void)
{
	int			b = 16;

	while (b < 2 * txg_max_statements)
		b *= 2;
	return b;
}

static Size
segment_size(int nslots)
{
	Size		size;

	size = MAXALIGN(sizeof(TxgShared));
	size = add_size(size, mul_size(nslots, entry_size()));
	size = add_size(size, mul_size(txg_history_size, entry_size()));
	size = add_size(size, MAXALIGN(mul_size(TXG_STATS_ENTRIES,
											sizeof(TxgStatsEntry))));
	size = add_size(size, MAXALIGN(mul_size(TXG_DB_ENTRIES,
											sizeof(TxgDbStatsEntry))));
	size = add_size(size, mul_size(txg_max_statements, stmt_entry_size()));
	size = add_size(size, MAXALIGN(mul_size(stmt_buckets(), sizeof(int32))));
	return size;
}

static void
request_shmem(void)
{
	nslots_requested = TXG_MAX_BACKENDS();
	RequestAddinShmemSpace(segment_size(nslots_requested));
	RequestNamedLWLockTranche("txguard", 1);
}

#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static void
txg_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	request_shmem();
}
#endif

/* Set up an empty segment (the caller holds AddinShmemInitLock). */
static void
initialise(char *base)
{
	TxgShared  *sh = (TxgShared *) base;
	int			nentries = nslots_requested + txg_history_size;

	memset(base, 0, segment_size(nslots_requested));
	sh->lock = &(GetNamedLWLockTranche("txguard"))->lock;
	sh->nslots = nslots_requested;
	sh->history_size = txg_history_size;
	sh->max_statements = txg_max_statements;
	sh->stmt_buckets = stmt_buckets();
	sh->max_statement_length = txg_max_statement_length;
	sh->record_size = txg_record_size();
	sh->entry_size = entry_size();
	sh->stmt_entry_size = stmt_entry_size();
	pg_atomic_init_u64(&sh->next_seq, 0);
	pg_atomic_init_u64(&sh->reset_seq, 0);
	pg_atomic_init_u64(&sh->dropped, 0);
	sh->stats_generation = 1;
	sh->stats_reset = GetCurrentTimestamp();

	for (int i = 0; i < nentries; i++)
	{
		TxgEntryHeader *e = (TxgEntryHeader *) (txg_sh_slots +
												i * sh->entry_size);

		pg_atomic_init_u32(&e->changecount, 0);
	}

	/* every statement entry on the free list, the index empty */
	sh->stmt_lru_head = sh->stmt_lru_tail = -1;
	sh->stmt_free = sh->max_statements > 0 ? 0 : -1;
	for (int i = 0; i < sh->max_statements; i++)
	{
		TxgStmtStatsEntry *e = (TxgStmtStatsEntry *) (txg_sh_stmt +
													  (Size) i * sh->stmt_entry_size);

		e->lru_prev = -1;
		e->lru_next = (i + 1 < sh->max_statements) ? i + 1 : -1;
	}
	for (int i = 0; i < sh->stmt_buckets; i++)
		txg_sh_stmt_index[i] = -1;
}

static void
txg_shmem_startup(void)
{
	bool		found;
	char	   *base;
	char	   *p;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	txg_sh = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("txguard", segment_size(nslots_requested), &found);

	p = base + MAXALIGN(sizeof(TxgShared));
	txg_sh_slots = p;
	p += nslots_requested * entry_size();
	txg_sh_ring = p;
	p += txg_history_size * entry_size();
	txg_sh_stats = (TxgStatsEntry *) p;
	p += MAXALIGN(TXG_STATS_ENTRIES * sizeof(TxgStatsEntry));
	txg_sh_dbstats = (TxgDbStatsEntry *) p;
	p += MAXALIGN(TXG_DB_ENTRIES * sizeof(TxgDbStatsEntry));
	txg_sh_stmt = p;
	p += (Size) txg_max_statements * stmt_entry_size();
	txg_sh_stmt_index = (int32 *) p;

	if (!found)
		initialise(base);
	txg_sh = (TxgShared *) base;
	LWLockRelease(AddinShmemInitLock);

	/*
	 * The postmaster (or a single-user backend) loads what the last clean
	 * shutdown saved, and saves at its own exit.
	 */
	if (!IsUnderPostmaster)
	{
		on_shmem_exit(txg_persist_save, (Datum) 0);
		if (!found)
			txg_persist_load();
	}
}

void
txg_shmem_init(void)
{
#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = txg_shmem_request;
#else
	request_shmem();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = txg_shmem_startup;
}

bool
txg_shmem_available(void)
{
	return txg_sh != NULL;
}
