/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  The layout of txguard's shared memory segment, private to the store
 *	  (src/store/).
 *
 * One segment named "txguard", sized at server start:
 *
 *	TxgShared					sizes, the ring's counters, the LWLock
 *	slots[nslots]				one per backend (slots.c)
 *	ring[history_size]			the most recent aborts (ring.c)
 *	tables[TXG_NSTATS]			the statistics tables (stats.c, table.c):
 *								per database, role, SQLSTATE; per database,
 *								role, query id, SQLSTATE; per database; per
 *								database, application, SQLSTATE (keys.h)
 *
 * txg_shmem_layout() computes the size of the segment and, given its
 * base, where each part is: the only place that knows the order.  The
 * pointers in txg_shm are set once per process at start-up and never
 * change; the locking rules of each part are in its own file.
 *
 * IDENTIFICATION
 *	  src/store/shmem.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_SHMEM_H
#define TXGUARD_SHMEM_H

#include "port/atomics.h"
#include "storage/lwlock.h"

#include "keys.h"
#include "seqlock.h"
#include "table.h"

/* Keys at most in the fixed-size statistics tables */
#define TXG_ROLE_STATS_MAX	4096
#define TXG_DB_STATS_MAX	1024
#define TXG_APP_STATS_MAX	1024

typedef struct TxgShared
{
	LWLock	   *lock;			/* protects the statistics tables */

	/* sizes, fixed at start-up */
	int			nslots;
	int			history_size;
	int			max_statement_length;
	Size		record_size;
	Size		entry_size;		/* a slot or ring entry: header + record */

	/* the ring (lock-free) */
	pg_atomic_uint64 next_seq;	/* last ring position handed out */
	pg_atomic_uint64 reset_seq; /* positions up to this one are hidden */
	pg_atomic_uint64 dropped;	/* ring writes given up, since reset */

	/* protected by lock */
	uint64		stats_generation;	/* bumped by every reset */
	TimestampTz stats_reset;
} TxgShared;

/* Where each part of the segment is, in this process */
typedef struct TxgShmem
{
	TxgShared  *sh;				/* NULL if there is no segment */
	char	   *slots;
	char	   *ring;
	TxgTable   *tables[TXG_NSTATS];
} TxgShmem;

extern TxgShmem txg_shm;

/* Size of the segment; with a base, also fill 'out' */
extern Size txg_shmem_layout(char *base, int nslots, TxgShmem *out);

/* Initialise an empty segment laid out in 'shm' */
extern void txg_shmem_init(const TxgShmem *shm, int nslots, LWLock *lock);

static inline TxgEntryHeader *
txg_slot_entry(int index)
{
	return (TxgEntryHeader *) (txg_shm.slots +
							   (Size) index * txg_shm.sh->entry_size);
}

static inline TxgEntryHeader *
txg_ring_entry_at(int index)
{
	return (TxgEntryHeader *) (txg_shm.ring +
							   (Size) index * txg_shm.sh->entry_size);
}

#endif							/* TXGUARD_SHMEM_H */
