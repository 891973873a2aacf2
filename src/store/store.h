/*-------------------------------------------------------------------------
 *
 * store.h
 *	  Setting up txguard's shared memory (store/store.c).
 *
 * IDENTIFICATION
 *	  src/store/store.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_STORE_H
#define TXGUARD_STORE_H

/* From shmem_request_hook (or _PG_init before 15) */
extern void txg_store_request(void);

/* From shmem_startup_hook */
extern void txg_store_startup(void);

/* Does the segment exist in this process? */
extern bool txg_store_available(void);

#endif							/* TXGUARD_STORE_H */
