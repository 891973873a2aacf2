/*-------------------------------------------------------------------------
 *
 * persist.h
 *	  Statistics and history kept across clean restarts (store/persist.c).
 *
 * IDENTIFICATION
 *	  src/store/persist.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_PERSIST_H
#define TXGUARD_PERSIST_H

#include "datatype/timestamp.h"

/* In the postmaster only */
extern void txg_persist_load(void);
extern void txg_persist_save(int code, Datum arg);

extern TimestampTz txg_persist_restored_at(void);

#endif							/* TXGUARD_PERSIST_H */
