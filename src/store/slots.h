/*-------------------------------------------------------------------------
 *
 * slots.h
 *	  One live slot per backend: the open episodes (store/slots.c).
 *
 * IDENTIFICATION
 *	  src/store/slots.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_SLOTS_H
#define TXGUARD_SLOTS_H

#include "record.h"
#include "ring.h"

/* The owner: never an ERROR, never a lock, never an allocation */
extern int	txg_slot_index(void);
extern void txg_slot_publish(const TxgRecord *rec);
extern void txg_slot_touch(const TxgRecord *rec);
extern void txg_slot_clear(void);

/* Readers */
extern void txg_slot_live_counts(TxgRecord *rec);
extern void txg_slots_scan(txg_record_callback emit, void *arg);

#endif							/* TXGUARD_SLOTS_H */
