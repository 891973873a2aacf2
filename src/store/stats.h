/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  txguard's statistics tables (store/stats.c).
 *
 * IDENTIFICATION
 *	  src/store/stats.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_STATS_H
#define TXGUARD_STATS_H

#include "counters.h"
#include "keys.h"
#include "record.h"

/* One entry as a reader sees it */
typedef struct TxgStatsRow
{
	const void *key;			/* one of the keys above */
	TxgCountersData counters;
	const char *text;			/* sample statement, or NULL */
	bool		text_truncated;
	int			encoding;		/* of text */
} TxgStatsRow;

typedef void (*txg_stats_callback) (const TxgStatsRow *row, void *arg);

/*
 * Where an abort was counted, so that the end of its episode adds to the
 * same entries without looking them up again (kept by the caller, opaque).
 */
typedef struct TxgStatsRef
{
	uint64		generation;		/* statistics generation; 0: not counted */
	int			n;				/* tables counted in */
	int32		index[TXG_NSTATS];	/* entry in each table, -1 if none */
	uint32		hash[TXG_NSTATS];	/* its key's hash, to check it is still
									 * the same key */
} TxgStatsRef;

/* The abort path: the statistics lock only, never an ERROR or allocation */
extern void txg_stats_count_abort(const TxgRecord *rec, bool sub,
								  bool detailed, TxgStatsRef *ref);
extern void txg_stats_count_end(const TxgRecord *rec, const TxgStatsRef *ref);

/* Readers */
extern void txg_stats_scan(TxgStatsTable which, txg_stats_callback emit,
						   void *arg);
extern void txg_stats_sizes(TxgStatsTable which, int *used, int *max,
							int64 *evicted);
extern TimestampTz txg_stats_reset_time(void);

/* txguard_reset() */
extern void txg_stats_reset(void);

/* The saved statistics (persist.c, in the postmaster) */
extern void txg_stats_restore(TxgStatsTable which, const TxgStatsRow *row);
extern void txg_stats_restore_meta(TimestampTz stats_reset,
								   const int64 *evicted);

#endif							/* TXGUARD_STATS_H */
