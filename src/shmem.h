/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  The layout of txguard's shared memory segment, private to the files
 *	  that use it: shmem.c (set-up), ring.c, slots.c, stats.c and
 *	  persist.c.
 *
 * One segment named "txguard", sized at server start:
 *
 *	TxgShared						header: sizes, counters, the LWLock
 *	slots[nslots]					one per backend (slots.c)
 *	ring[history_size]				the most recent aborts (ring.c)
 *	stats[TXG_STATS_ENTRIES]		per database, role, SQLSTATE (stats.c)
 *	dbstats[TXG_DB_ENTRIES]			per database (stats.c)
 *	stmt[max_statements]			per database, role, query id, SQLSTATE
 *	stmt_index[stmt_buckets]		its hash index (stats.c)
 *
 * The pointers below are set once by shmem.c at start-up and never change
 * afterwards; the locking rules of each part are in its own file.
 *
 * IDENTIFICATION
 *	  src/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_SHMEM_H
#define TXGUARD_SHMEM_H

#include "port/atomics.h"
#include "storage/lwlock.h"

#include "txguard.h"

/* Header of a ring entry or backend slot; the TxgRecord follows */
typedef struct TxgEntryHeader
{
	pg_atomic_uint32 changecount;	/* seqlock: odd while being written */
	bool		active;			/* slots only: an episode is open */
} TxgEntryHeader;

#define ENTRY_HEADER_SIZE	MAXALIGN(sizeof(TxgEntryHeader))
#define ENTRY_RECORD(e)		((TxgRecord *) ((char *) (e) + ENTRY_HEADER_SIZE))

/* Per-database counters: every error abort, whatever txguard.track says */
#define TXG_DB_ENTRIES		1024	/* hash slots; at most 3/4 are used */

typedef struct TxgDbStatsEntry
{
	Oid			dbid;
	bool		used;
	int64		error_aborts;	/* transactions aborted by an error */
	int64		savepoint_error_aborts; /* savepoints aborted by an error */
	int64		aborted_blocks; /* of both, those that left a block aborted */
	int64		ignored_commands;
	int64		sessions_terminated;
	TimestampTz last_error;
} TxgDbStatsEntry;

/* Per (database, role, query id, SQLSTATE): bounded, least recently seen out */
typedef struct TxgStmtStatsKey
{
	Oid			dbid;
	Oid			userid;
	uint64		queryid;
	int32		sqlerrcode;
	int32		pad;			/* always zero: keys are compared as bytes */
} TxgStmtStatsKey;

typedef struct TxgStmtStatsEntry
{
	TxgStmtStatsKey key;
	int32		lru_prev;		/* more recently seen entry, -1 if none */
	int32		lru_next;		/* less recently seen entry, -1 if none */
	uint32		hash;			/* of key */
	int32		encoding;		/* of text */
	bool		used;
	bool		text_truncated;
	int64		aborts;
	int64		aborted_blocks;
	int64		ignored_commands;
	int64		sessions_terminated;
	TimestampTz first_seen;
	TimestampTz last_seen;
	char		text[FLEXIBLE_ARRAY_MEMBER];	/* max_statement_length + 1 */
} TxgStmtStatsEntry;

typedef struct TxgShared
{
	LWLock	   *lock;			/* protects the statistics tables */

	/* sizes, fixed at start-up */
	int			nslots;
	int			history_size;
	int			max_statements;
	int			stmt_buckets;	/* a power of two */
	int			max_statement_length;
	Size		record_size;
	Size		entry_size;
	Size		stmt_entry_size;

	/* the ring (lock-free) */
	pg_atomic_uint64 next_seq;	/* last ring position handed out */
	pg_atomic_uint64 reset_seq; /* positions up to this one are hidden */
	pg_atomic_uint64 dropped;	/* ring writes given up, since reset */

	/* the rest is protected by lock */
	uint64		stats_generation;	/* bumped by every reset */
	TimestampTz stats_reset;
	int			stats_used;
	int64		stats_dropped;
	int			db_used;
	int64		db_dropped;
	int			stmt_used;
	int64		stmt_evicted;
	int32		stmt_lru_head;	/* most recently seen */
	int32		stmt_lru_tail;	/* least recently seen */
	int32		stmt_free;		/* free list, linked through lru_next */
} TxgShared;

/* Set by shmem.c at start-up; NULL if the segment does not exist */
extern TxgShared *txg_sh;
extern char *txg_sh_slots;
extern char *txg_sh_ring;
extern TxgStatsEntry *txg_sh_stats;
extern TxgDbStatsEntry *txg_sh_dbstats;
extern char *txg_sh_stmt;
extern int32 *txg_sh_stmt_index;

static inline TxgEntryHeader *
txg_slot_entry(int index)
{
	return (TxgEntryHeader *) (txg_sh_slots + index * txg_sh->entry_size);
}

static inline TxgEntryHeader *
txg_ring_entry_at(int index)
{
	return (TxgEntryHeader *) (txg_sh_ring + index * txg_sh->entry_size);
}

static inline TxgStmtStatsEntry *
txg_stmt_entry(int index)
{
	return (TxgStmtStatsEntry *) (txg_sh_stmt +
								  (Size) index * txg_sh->stmt_entry_size);
}

/* restoring saved statistics (stats.c, called by persist.c) */
extern void txg_stats_restore_role(const TxgStatsEntry *saved);
extern void txg_stats_restore_db(const TxgDbStatsEntry *saved);
extern void txg_stats_restore_stmt(const TxgStmtStatsEntry *saved);
extern void txg_stats_restore_counters(TimestampTz stats_reset,
									   int64 stats_dropped,
									   int64 stmt_evicted,
									   int64 db_dropped);

/* seqlock helpers (ring.c) */
extern bool txg_entry_begin_write(TxgEntryHeader *e);
extern void txg_entry_end_write(TxgEntryHeader *e);
extern bool txg_entry_read(TxgEntryHeader *e, char *dst, Size size);

#endif							/* TXGUARD_SHMEM_H */
