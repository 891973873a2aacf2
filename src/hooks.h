/*-------------------------------------------------------------------------
 *
 * hooks.h
 *	  Installing every hook and callback txguard uses (hooks.c).
 *
 * IDENTIFICATION
 *	  src/hooks.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_HOOKS_H
#define TXGUARD_HOOKS_H

/* From _PG_init, under shared_preload_libraries */
extern void txg_hooks_install(void);

#endif							/* TXGUARD_HOOKS_H */
