/*-------------------------------------------------------------------------
 *
 * stmtsplit.h
 *	  Statement boundaries in a query string, and the part of a statement
 *	  text a record keeps (capture/stmtsplit.c).
 *
 * IDENTIFICATION
 *	  src/capture/stmtsplit.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_STMTSPLIT_H
#define TXGUARD_STMTSPLIT_H

extern bool txg_split_rest_is_empty(const char *s, int len, int from);
extern bool txg_split_next(const char *s, int len, int from,
						   int *start, int *end);
extern bool txg_split_at(const char *s, int len, int pos,
						 int *start, int *end);
extern int	txg_split_content_end(const char *s, int len);
extern bool txg_split_single(const char *s, int len, int *start, int *end);
extern int	txg_split_cut(const char *s, int len, bool partial, int maxlen,
						  int activity_size, int *start, bool *truncated);

#endif							/* TXGUARD_STMTSPLIT_H */
