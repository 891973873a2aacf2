/*-------------------------------------------------------------------------
 *
 * episode.h
 *	  The life of an aborted transaction and the transaction boundaries
 *	  (capture/episode.c).
 *
 * IDENTIFICATION
 *	  src/capture/episode.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_EPISODE_H
#define TXGUARD_EPISODE_H

#include "utils/elog.h"

#include "record.h"

struct TransactionStmt;

/* _PG_init: the records, allocated once */
extern void txg_episode_init(void);

/* Is this a process whose errors txguard follows? */
extern bool txg_is_client_backend(void);

/* Events reported by hooks.c */
extern void txg_episode_backend_start(void);
extern void txg_episode_report(ErrorData *edata);
extern void txg_episode_abort(bool sub);
extern void txg_episode_commit(void);
extern void txg_episode_utility_start(struct TransactionStmt *tstmt);
extern void txg_episode_utility_done(struct TransactionStmt *tstmt);
extern void txg_episode_backend_exit(void);
extern void txg_episode_statement_start_work(void);

/* A safe point has work to do (read by the fast path below) */
extern bool txg_episode_attention;

/* A top-level statement starts: a safe place for pending work */
static inline void
txg_episode_statement_start(void)
{
	if (unlikely(txg_episode_attention))
		txg_episode_statement_start_work();
}

/* For the SQL functions */
extern bool txg_episode_is_open(void);
extern bool txg_episode_last(TxgRecord *out);

#endif							/* TXGUARD_EPISODE_H */
