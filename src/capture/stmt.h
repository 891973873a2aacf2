/*-------------------------------------------------------------------------
 *
 * stmt.h
 *	  The statement tracker: statement N of its transaction and its text
 *	  (capture/stmt.c).
 *
 * IDENTIFICATION
 *	  src/capture/stmt.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_STMT_H
#define TXGUARD_STMT_H

#include "utils/elog.h"

struct PortalData;
struct QueryDesc;

/* Kinds of top-level statements the tracker tells apart */
typedef enum TxgStmtKind
{
	TXG_STMT_OTHER,
	TXG_STMT_BEGIN,				/* BEGIN / START TRANSACTION */
	TXG_STMT_SAVEPOINT,			/* SAVEPOINT, RELEASE, ROLLBACK TO */
	TXG_STMT_COMMIT,			/* COMMIT / END / PREPARE TRANSACTION */
	TXG_STMT_COPY_IN			/* COPY ... FROM STDIN */
} TxgStmtKind;

/*
 * What the tracker tells about the statement an error belongs to.  'text'
 * points into memory the tracker does not own (the message being
 * processed, the backend's activity entry, or a constant) and is valid
 * only until the error has been captured: the caller copies it at once.
 */
typedef struct TxgStmtRef
{
	int			ordinal;
	const char *text;			/* not NUL-terminated: len bytes */
	int			len;
	const char *lead;			/* what comes before it in its string, after
								 * the previous statement: lead_len bytes */
	int			lead_len;
	uint64		queryid;
	Oid			userid;
	bool		at_commit;
	bool		copy_in;
	bool		text_partial;	/* may end in the middle of a character */
} TxgStmtRef;

/* Events reported by hooks.c, for top-level work only */
extern void txg_stmt_planning(const char *text, int loc, int len);
extern void txg_stmt_query_runs(const struct QueryDesc *qd, bool limited);
extern void txg_stmt_utility_runs(int loc, int len, uint64 queryid,
								  TxgStmtKind kind);
extern void txg_stmt_query_end(const struct QueryDesc *qd);
extern void txg_stmt_utility_end(void);

/* Reported by episode.c, which owns transaction boundaries */
extern void txg_stmt_xact_end(void);
extern void txg_stmt_charge_error(const ErrorData *edata, TxgStmtRef *ref);

#endif							/* TXGUARD_STMT_H */
