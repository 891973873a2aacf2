/*-------------------------------------------------------------------------
 *
 * seqlock.h
 *	  The change counter that guards each history ring entry and each
 *	  backend slot (store/ring.c, store/slots.c), as PgBackendStatus's
 *	  st_changecount guards core's activity entries.
 *
 * A writer makes the counter odd with a compare-and-swap from an even
 * value, writes, and makes it even again; a reader copies the entry and
 * keeps the copy only if the counter was even and unchanged across the
 * copy.  Torn reads are impossible, no writer ever waits for a reader, and
 * both give up after a bounded number of tries.  No locks, no allocation,
 * no ERROR: safe in emit_log_hook and the abort callbacks.
 *
 * IDENTIFICATION
 *	  src/store/seqlock.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_SEQLOCK_H
#define TXGUARD_SEQLOCK_H

#include "port/atomics.h"

#include "record.h"

/* Header of a ring entry or backend slot; the TxgRecord follows */
typedef struct TxgEntryHeader
{
	pg_atomic_uint32 changecount;	/* odd while being written */
	bool		active;			/* slots only: an episode is open */
} TxgEntryHeader;

#define TXG_ENTRY_HEADER_SIZE	MAXALIGN(sizeof(TxgEntryHeader))
#define TXG_ENTRY_RECORD(e) \
	((TxgRecord *) ((char *) (e) + TXG_ENTRY_HEADER_SIZE))

/* How often a writer tries to own a busy entry, a reader to copy one */
#define TXG_SEQLOCK_WRITE_TRIES	1000
#define TXG_SEQLOCK_READ_TRIES	100

/* Make the counter odd: true if this backend now owns the entry */
static inline bool
txg_entry_begin_write(TxgEntryHeader *e)
{
	for (int i = 0; i < TXG_SEQLOCK_WRITE_TRIES; i++)
	{
		uint32		cc = pg_atomic_read_u32(&e->changecount);

		/* the compare-and-swap is a full memory barrier */
		if ((cc & 1) == 0 &&
			pg_atomic_compare_exchange_u32(&e->changecount, &cc, cc + 1))
			return true;
		pg_spin_delay();
	}
	return false;
}

static inline void
txg_entry_end_write(TxgEntryHeader *e)
{
	/* the fetch-and-add is a full memory barrier */
	pg_atomic_fetch_add_u32(&e->changecount, 1);
}

/* Copy the first 'size' bytes of an entry consistently; false if it kept changing */
static inline bool
txg_entry_read(TxgEntryHeader *e, char *dst, Size size)
{
	for (int i = 0; i < TXG_SEQLOCK_READ_TRIES; i++)
	{
		uint32		before;
		uint32		after;

		before = pg_atomic_read_u32(&e->changecount);
		pg_read_barrier();
		memcpy(dst, e, size);
		pg_read_barrier();
		after = pg_atomic_read_u32(&e->changecount);
		if (before == after && (before & 1) == 0)
			return true;
		pg_spin_delay();
	}
	return false;
}

#endif							/* TXGUARD_SEQLOCK_H */
