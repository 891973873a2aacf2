/*-------------------------------------------------------------------------
 *
 * table.h
 *	  A bounded hash table of counters in shared memory, the shape every
 *	  statistics table of txguard has (store/table.c).
 *
 * IDENTIFICATION
 *	  src/store/table.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_TABLE_H
#define TXGUARD_TABLE_H

#include "datatype/timestamp.h"

#include "counters.h"

typedef struct TxgTable TxgTable;

typedef struct TxgTableEntry
{
	uint32		hash;			/* of the key */
	bool		used;
	bool		text_truncated;
	int32		encoding;		/* of the text */
	int32		next_free;		/* free list link, -1 at its end */
	pg_atomic_uint32 referenced;	/* counted since the clock hand passed */
	TxgCounters counters;
	/* the key (key_size bytes), then the text (text_size bytes), follow */
} TxgTableEntry;

extern Size txg_table_size(int max, int key_size, int text_size);
extern void txg_table_init(TxgTable *t, int max, int key_size, int text_size);

/* Under the statistics lock in any mode */
extern uint32 txg_table_hash(const TxgTable *t, const void *key);
extern TxgTableEntry *txg_table_find(TxgTable *t, const void *key, uint32 hash,
									 int *number);
extern int	txg_table_max(const TxgTable *t);
extern int	txg_table_used(const TxgTable *t);
extern int64 txg_table_evicted(const TxgTable *t);
extern TxgTableEntry *txg_table_entry(TxgTable *t, int index);
extern const void *txg_table_key(const TxgTable *t, const TxgTableEntry *e);
extern char *txg_table_text(const TxgTable *t, const TxgTableEntry *e);
extern int	txg_table_key_size(const TxgTable *t);
extern int	txg_table_text_size(const TxgTable *t);

/*
 * Add n to counter c of an entry (under the lock in any mode: atomics).
 */
static inline void
txg_table_add(TxgTableEntry *e, int c, uint64 n)
{
	pg_atomic_fetch_add_u64(&e->counters.v[c], n);
}

/* An entry was counted now, at time 'seen' (0: keep the last one) */
static inline void
txg_table_touch(TxgTableEntry *e, TimestampTz seen)
{
	if (seen != 0)
		pg_atomic_write_u64(&e->counters.v[TXG_C_LAST_SEEN], (uint64) seen);
	if (pg_atomic_read_u32(&e->referenced) == 0)
		pg_atomic_write_u32(&e->referenced, 1);
}

/* Under the statistics lock held exclusively */
extern TxgTableEntry *txg_table_enter(TxgTable *t, const void *key, uint32 hash,
									  const char *text, bool truncated,
									  int encoding, int *number);
extern void txg_table_reset(TxgTable *t);
extern void txg_table_set_evicted(TxgTable *t, int64 evicted);

#endif							/* TXGUARD_TABLE_H */
