/*-------------------------------------------------------------------------
 *
 * counters.h
 *	  The counters every statistics table keeps, and their plain copy.
 *
 * One set of counters serves every statistics table (per role, per
 * statement, per database, per application), the SQL functions that read
 * them and the file that keeps them across restarts: they are an array
 * indexed by TxgCounter, so that nothing is ever copied field by field.
 * In shared memory they are atomics, updated under the statistics lock
 * held in shared mode (store/stats.c).
 *
 * IDENTIFICATION
 *	  src/store/counters.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_COUNTERS_H
#define TXGUARD_COUNTERS_H

#include "port/atomics.h"

typedef enum TxgCounter
{
	TXG_C_ABORTS,				/* errors that aborted a transaction or
								 * savepoint */
	TXG_C_SAVEPOINT_ABORTS,		/* ... of which aborted a savepoint */
	TXG_C_ABORTED_BLOCKS,		/* ... of which left a block aborted */
	TXG_C_IGNORED,				/* commands rejected while aborted */
	TXG_C_TERMINATED,			/* sessions ended by txguard's timeout */
	TXG_C_FIRST_SEEN,			/* TimestampTz of the first abort counted */
	TXG_C_LAST_SEEN,			/* TimestampTz of the latest abort counted */
	TXG_NCOUNTERS
} TxgCounter;

/* In shared memory */
typedef struct TxgCounters
{
	pg_atomic_uint64 v[TXG_NCOUNTERS];
} TxgCounters;

/* A consistent-enough copy: each counter read once */
typedef struct TxgCountersData
{
	int64		v[TXG_NCOUNTERS];
} TxgCountersData;

static inline void
txg_counters_read(TxgCounters *c, TxgCountersData *out)
{
	for (int i = 0; i < TXG_NCOUNTERS; i++)
		out->v[i] = (int64) pg_atomic_read_u64(&c->v[i]);
}

static inline void
txg_counters_write(TxgCounters *c, const TxgCountersData *in)
{
	for (int i = 0; i < TXG_NCOUNTERS; i++)
		pg_atomic_write_u64(&c->v[i], (uint64) in->v[i]);
}

static inline void
txg_counters_init(TxgCounters *c)
{
	for (int i = 0; i < TXG_NCOUNTERS; i++)
		pg_atomic_init_u64(&c->v[i], 0);
}

#endif							/* TXGUARD_COUNTERS_H */
