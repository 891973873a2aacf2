/*-------------------------------------------------------------------------
 *
 * traceparent.h
 *	  The W3C trace context of a statement (capture/traceparent.c).
 *
 * IDENTIFICATION
 *	  src/capture/traceparent.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_TRACEPARENT_H
#define TXGUARD_TRACEPARENT_H

/* Bytes looked at from each end of a statement */
#define TXG_TRACEPARENT_WINDOW	8192

/*
 * Find a valid traceparent in a sqlcommenter comment of text[0..len).
 * On success fills trace_id (33 bytes) and span_id (17 bytes) with
 * NUL-terminated lower-case hex and returns true.
 */
extern bool txg_find_traceparent(const char *text, int len,
								 char *trace_id, char *span_id);

#endif							/* TXGUARD_TRACEPARENT_H */
