/*-------------------------------------------------------------------------
 *
 * ring.h
 *	  The history ring of aborts (store/ring.c).
 *
 * IDENTIFICATION
 *	  src/store/ring.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_RING_H
#define TXGUARD_RING_H

#include "record.h"

/* Called with each record a reader copies; may raise errors */
typedef void (*txg_record_callback) (TxgRecord *rec, void *arg);

/* How far back a background worker's failure is looked for again */
#define TXG_RING_REPEAT_WINDOW	16

/* The abort path: never an ERROR, never a lock, never an allocation */
extern void txg_ring_add(TxgRecord *rec);
extern bool txg_ring_repeat(TxgRecord *rec);

/* Later, when the episode ends or the blocker is known: the same rules */
extern void txg_ring_complete(const TxgRecord *rec);
extern void txg_ring_update_blocker(const TxgRecord *rec);

/* Readers */
extern void txg_ring_scan(int pid, txg_record_callback emit, void *arg);
extern void txg_ring_counts(int *size, int64 *written, int64 *overwritten,
							int64 *dropped);

/* txguard_reset(), and the saved history (persist.c) */
extern void txg_ring_reset(void);
extern void txg_ring_restore(const TxgRecord *rec, uint64 seq);
extern uint64 txg_ring_next_seq(void);
extern void txg_ring_restore_counters(uint64 next_seq, int64 dropped);

#endif							/* TXGUARD_RING_H */
