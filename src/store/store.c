/*-------------------------------------------------------------------------
 *
 * store.c
 *	  Setting up txguard's shared memory: requesting the segment and its
 *	  LWLock, attaching to it, and in the postmaster initialising it and
 *	  restoring and saving what persist.c keeps across restarts.
 *
 * Locking: the segment is created under AddinShmemInitLock, as every
 * add-in's is.  The postmaster initialises it (and, after a clean
 * shutdown, loads the saved statistics and history) before any backend
 * exists, and registers the save at its own exit.  After a crash restart
 * the postmaster re-creates the segment; the file was removed when it was
 * loaded, so everything starts empty, as core's statistics do.
 *
 * IDENTIFICATION
 *	  src/store/store.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "compat.h"
#include "persist.h"
#include "shmem.h"
#include "store.h"

/* The number of backend slots asked for (all processes with a PGPROC) */
static int	nslots_requested = 0;

void
txg_store_request(void)
{
	nslots_requested = TXG_MAX_BACKENDS();
	RequestAddinShmemSpace(txg_shmem_layout(NULL, nslots_requested, NULL));
	RequestNamedLWLockTranche("txguard", 1);
}

void
txg_store_startup(void)
{
	bool		found;
	char	   *base;
	Size		size = txg_shmem_layout(NULL, nslots_requested, NULL);
	TxgShmem	shm;

	/* a postmaster restarting after a crash attaches anew */
	memset(&txg_shm, 0, sizeof(txg_shm));

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("txguard", size, &found);
	(void) txg_shmem_layout(base, nslots_requested, &shm);
	if (!found)
		txg_shmem_init(&shm, nslots_requested,
					   &(GetNamedLWLockTranche("txguard"))->lock);
	txg_shm = shm;
	LWLockRelease(AddinShmemInitLock);

	/*
	 * The postmaster (or a single-user backend) loads what the last clean
	 * shutdown saved, and saves at its own exit.
	 */
	if (!IsUnderPostmaster)
	{
		on_shmem_exit(txg_persist_save, (Datum) 0);
		if (!found)
			txg_persist_load();
	}
}

bool
txg_store_available(void)
{
	return txg_shm.sh != NULL;
}
