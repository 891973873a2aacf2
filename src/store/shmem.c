/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The layout of txguard's shared memory segment (shmem.h) and the
 *	  initialisation of an empty one.
 *
 * Both run in the postmaster (or a single-user backend) before any
 * backend uses the segment, under AddinShmemInitLock taken by store.c; the
 * layout also runs in every process that attaches.  No other locks.
 *
 * IDENTIFICATION
 *	  src/store/shmem.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "keys.h"
#include "record.h"
#include "shmem.h"

TxgShmem	txg_shm;

/* The size of each statistics table */
typedef struct TableShape
{
	int			max;
	int			key_size;
	int			text_size;
} TableShape;

static TableShape
table_shape(TxgStatsTable which)
{
	TableShape	t = {0, 0, 0};

	switch (which)
	{
		case TXG_STATS_ROLE:
			t.max = TXG_ROLE_STATS_MAX;
			t.key_size = sizeof(TxgRoleKey);
			break;
		case TXG_STATS_STMT:
			t.max = txg_max_statements;
			t.key_size = sizeof(TxgStmtKey);
			t.text_size = txg_max_statement_length + 1;
			break;
		case TXG_STATS_DB:
			t.max = TXG_DB_STATS_MAX;
			t.key_size = sizeof(TxgDbKey);
			break;
		case TXG_STATS_APP:
			t.max = TXG_APP_STATS_MAX;
			t.key_size = sizeof(TxgAppKey);
			break;
		case TXG_NSTATS:
			break;
	}
	return t;
}

static Size
entry_size(void)
{
	return MAXALIGN(TXG_ENTRY_HEADER_SIZE + txg_record_size());
}

/* Reserve 'size' bytes at *offset; returns where they start */
static char *
reserve(char *base, Size *offset, Size size)
{
	char	   *p = base ? base + *offset : NULL;

	*offset = add_size(*offset, MAXALIGN(size));
	return p;
}

Size
txg_shmem_layout(char *base, int nslots, TxgShmem *out)
{
	Size		off = 0;
	TxgShmem	l;

	l.sh = (TxgShared *) reserve(base, &off, sizeof(TxgShared));
	l.slots = reserve(base, &off, mul_size(nslots, entry_size()));
	l.ring = reserve(base, &off, mul_size(txg_history_size, entry_size()));
	for (int i = 0; i < TXG_NSTATS; i++)
	{
		TableShape	t = table_shape((TxgStatsTable) i);

		l.tables[i] = (TxgTable *)
			reserve(base, &off, txg_table_size(t.max, t.key_size, t.text_size));
	}
	if (out != NULL)
		*out = l;
	return off;
}

static void
init_entry(TxgEntryHeader *e, Size size)
{
	memset(e, 0, size);
	pg_atomic_init_u32(&e->changecount, 0);
}

void
txg_shmem_init(const TxgShmem *shm, int nslots, LWLock *lock)
{
	TxgShared  *sh = shm->sh;

	memset(sh, 0, sizeof(TxgShared));
	sh->lock = lock;
	sh->nslots = nslots;
	sh->history_size = txg_history_size;
	sh->max_statement_length = txg_max_statement_length;
	sh->record_size = txg_record_size();
	sh->entry_size = entry_size();
	pg_atomic_init_u64(&sh->next_seq, 0);
	pg_atomic_init_u64(&sh->reset_seq, 0);
	pg_atomic_init_u64(&sh->dropped, 0);
	sh->stats_generation = 1;
	sh->stats_reset = GetCurrentTimestamp();

	for (int i = 0; i < nslots; i++)
		init_entry((TxgEntryHeader *) (shm->slots + (Size) i * sh->entry_size),
				   sh->entry_size);
	for (int i = 0; i < txg_history_size; i++)
		init_entry((TxgEntryHeader *) (shm->ring + (Size) i * sh->entry_size),
				   sh->entry_size);

	for (int i = 0; i < TXG_NSTATS; i++)
	{
		TableShape	t = table_shape((TxgStatsTable) i);

		txg_table_init(shm->tables[i], t.max, t.key_size, t.text_size);
	}
}
