/*-------------------------------------------------------------------------
 *
 * history.c
 *	  txguard's shared memory: the ring of recent aborts, one live slot per
 *	  backend, and the statistics table.
 *
 * This is the only file that touches shared memory.  Layout, sized at
 * server start:
 *
 *	TxgSharedState
 *	slots[MaxBackends]			one per backend, indexed by its proc number
 *	ring[txguard.history_size]	the most recent abort episodes
 *	stats[TXG_STATS_ENTRIES]	counters per (database, role, SQLSTATE)
 *
 * Concurrency protocol
 *
 * Ring and slots are written without locks, so that a writer on the abort
 * path never waits for a reader.  Each entry starts with a change counter
 * (a seqlock, as PgBackendStatus.st_changecount): a writer makes it odd
 * with a compare-and-swap from an even value, writes, then makes it even
 * again; a reader copies the entry and accepts the copy only if the counter
 * was even and unchanged across the copy, otherwise it retries (a bounded
 * number of times, then skips the entry: one that changes that often is
 * being overwritten).  Torn reads are therefore impossible.
 *
 *	- A ring position is claimed with an atomic fetch-and-add on next_seq;
 *	  the entry is (seq - 1) % history_size.  Two writers meet on one entry
 *	  only if the ring wrapped during a write; the later one spins briefly
 *	  and, if the entry is still busy, drops its record and counts it in
 *	  "dropped".  The owner of a record updates it when its episode ends
 *	  only if the entry still holds its seq.
 *	- A slot has a single writer, its backend; a new backend in the slot
 *	  clears it first.
 *	- txguard_reset() hides the ring by moving reset_seq up to next_seq, so
 *	  it too never waits.
 *
 * The statistics table is an open-addressing hash protected by the named
 * LWLock "txguard": readers copy it under LW_SHARED, writers (abort
 * callbacks, after LWLockReleaseAll(); the end of an episode) update it
 * under LW_EXCLUSIVE.  A writer never acquires the lock while it already
 * holds it, and nothing raises an ERROR while it is held.  emit_log_hook
 * never takes it.
 *
 * After a crash restart the postmaster reinitialises shared memory, so the
 * history and statistics start empty; they are not kept across restarts.
 *
 * IDENTIFICATION
 *	  src/history.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "txguard.h"

/* Header of a ring entry or backend slot; the TxgRecord follows */
typedef struct TxgEntryHeader
{
	pg_atomic_uint32 changecount;
	bool		active;			/* slots only: an episode is open */
} TxgEntryHeader;

#define ENTRY_HEADER_SIZE	MAXALIGN(sizeof(TxgEntryHeader))
#define ENTRY_RECORD(e)		((TxgRecord *) ((char *) (e) + ENTRY_HEADER_SIZE))

typedef struct TxgSharedState
{
	LWLock	   *lock;			/* protects the statistics table */
	int			history_size;
	int			nslots;
	Size		record_size;
	Size		entry_size;
	pg_atomic_uint64 next_seq;	/* last ring position handed out */
	pg_atomic_uint64 reset_seq; /* positions up to this one are hidden */
	pg_atomic_uint64 dropped;	/* ring writes given up, since reset */
	/* the rest is protected by lock */
	uint64		stats_generation;	/* bumped by every reset */
	TimestampTz stats_reset;
	int			stats_used;
	int64		stats_dropped;
} TxgSharedState;

static TxgSharedState *txg_shared = NULL;
static char *txg_slots = NULL;
static char *txg_ring = NULL;
static TxgStatsEntry *txg_stats = NULL;

#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static int	nslots_requested = 0;

static Size
entry_size(void)
{
	return MAXALIGN(ENTRY_HEADER_SIZE + txg_record_size());
}

static Size
txg_shmem_size(int nslots)
{
	Size		size;

	size = MAXALIGN(sizeof(TxgSharedState));
	size = add_size(size, mul_size(nslots, entry_size()));
	size = add_size(size, mul_size(txg_history_size, entry_size()));
	size = add_size(size, mul_size(TXG_STATS_ENTRIES, sizeof(TxgStatsEntry)));
	return size;
}

static void
request_shmem(void)
{
	nslots_requested = TXG_MAX_BACKENDS();
	RequestAddinShmemSpace(txg_shmem_size(nslots_requested));
	RequestNamedLWLockTranche("txguard", 1);
}

#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
static void
txg_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	request_shmem();
}
#endif

static void
txg_shmem_startup(void)
{
	bool		found;
	char	   *ptr;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	txg_shared = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	ptr = ShmemInitStruct("txguard", txg_shmem_size(nslots_requested), &found);
	txg_shared = (TxgSharedState *) ptr;
	txg_slots = ptr + MAXALIGN(sizeof(TxgSharedState));
	txg_ring = txg_slots + nslots_requested * entry_size();
	txg_stats = (TxgStatsEntry *) (txg_ring + txg_history_size * entry_size());

	if (!found)
	{
		memset(ptr, 0, txg_shmem_size(nslots_requested));
		txg_shared->lock = &(GetNamedLWLockTranche("txguard"))->lock;
		txg_shared->history_size = txg_history_size;
		txg_shared->nslots = nslots_requested;
		txg_shared->record_size = txg_record_size();
		txg_shared->entry_size = entry_size();
		pg_atomic_init_u64(&txg_shared->next_seq, 0);
		pg_atomic_init_u64(&txg_shared->reset_seq, 0);
		pg_atomic_init_u64(&txg_shared->dropped, 0);
		txg_shared->stats_reset = GetCurrentTimestamp();
		txg_shared->stats_generation = 1;
		for (int i = 0; i < nslots_requested + txg_history_size; i++)
		{
			TxgEntryHeader *e = (TxgEntryHeader *) (txg_slots + i * entry_size());

			pg_atomic_init_u32(&e->changecount, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
txg_history_request(void)
{
#ifdef TXG_HAVE_SHMEM_REQUEST_HOOK
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = txg_shmem_request;
#else
	request_shmem();
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = txg_shmem_startup;
}

bool
txg_history_available(void)
{
	return txg_shared != NULL;
}

/* ---- seqlock helpers ---- */

/*
 * Make the entry's counter odd: true if this backend now owns the entry.
 * Spins a bounded number of times while another writer owns it.
 */
static bool
entry_begin_write(TxgEntryHeader *e)
{
	for (int i = 0; i < 1000; i++)
	{
		uint32		cc = pg_atomic_read_u32(&e->changecount);

		/* the compare-and-swap is a full memory barrier */
		if ((cc & 1) == 0 &&
			pg_atomic_compare_exchange_u32(&e->changecount, &cc, cc + 1))
			return true;
		pg_spin_delay();
	}
	return false;
}

static void
entry_end_write(TxgEntryHeader *e)
{
	/* the fetch-and-add is a full memory barrier */
	pg_atomic_fetch_add_u32(&e->changecount, 1);
}

/*
 * Copy an entry consistently into dst (entry_size() bytes).  False if it
 * kept changing.
 */
static bool
entry_read(TxgEntryHeader *e, char *dst)
{
	Size		size = txg_shared->entry_size;

	for (int i = 0; i < 100; i++)
	{
		uint32		before;
		uint32		after;

		before = pg_atomic_read_u32(&e->changecount);
		pg_read_barrier();
		memcpy(dst, e, size);
		pg_read_barrier();
		after = pg_atomic_read_u32(&e->changecount);
		if (before == after && (before & 1) == 0)
			return true;
		pg_spin_delay();
	}
	return false;
}

static TxgEntryHeader *
ring_entry(uint64 seq)
{
	return (TxgEntryHeader *) (txg_ring +
							   ((seq - 1) % txg_shared->history_size) *
							   txg_shared->entry_size);
}

static TxgEntryHeader *
slot_entry(int index)
{
	return (TxgEntryHeader *) (txg_slots + index * txg_shared->entry_size);
}

static TxgEntryHeader *
my_slot(void)
{
	int			index = TXG_MY_PROC_INDEX();

	if (txg_shared == NULL || index < 0 || index >= txg_shared->nslots)
		return NULL;
	return slot_entry(index);
}

/* ---- statistics ---- */

static TxgStatsEntry *
stats_lookup(Oid dbid, Oid userid, int sqlerrcode, bool create)
{
	TxgStatsKey key;
	uint32		h;

	memset(&key, 0, sizeof(key));
	key.dbid = dbid;
	key.userid = userid;
	key.sqlerrcode = sqlerrcode;
	h = hash_bytes((const unsigned char *) &key, sizeof(key));

	for (int i = 0; i < TXG_STATS_ENTRIES; i++)
	{
		TxgStatsEntry *entry = &txg_stats[(h + i) % TXG_STATS_ENTRIES];

		if (!entry->used)
		{
			if (!create || txg_shared->stats_used >= TXG_STATS_ENTRIES * 3 / 4)
				return NULL;
			memset(entry, 0, sizeof(*entry));
			entry->key = key;
			entry->used = true;
			txg_shared->stats_used++;
			return entry;
		}
		if (memcmp(&entry->key, &key, sizeof(key)) == 0)
			return entry;
	}
	return NULL;
}

/*
 * Count a new abort of rec's (database, role, SQLSTATE).  Returns the
 * statistics generation it was counted in.
 */
static uint64
stats_add_abort(const TxgRecord *rec)
{
	LWLock	   *lock = txg_shared->lock;
	TxgStatsEntry *entry;
	uint64		generation;

	if (LWLockHeldByMe(lock))
		return 0;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	generation = txg_shared->stats_generation;
	entry = stats_lookup(rec->dbid, rec->userid, rec->sqlerrcode, true);
	if (entry == NULL)
		txg_shared->stats_dropped++;
	else
	{
		entry->aborts++;
		if (rec->in_block)
			entry->aborted_blocks++;
		if (entry->first_seen == 0)
			entry->first_seen = rec->aborted_at;
		entry->last_seen = rec->aborted_at;
	}
	LWLockRelease(lock);
	return generation;
}

/*
 * An episode counted in 'generation' ended: add its ignored commands and a
 * termination to its entry.  Nothing is added if the statistics were reset
 * since (the abort belongs to the forgotten period), or if the abort itself
 * could not be counted (it was counted in stats_dropped then).
 */
static void
stats_add_end(const TxgRecord *rec, uint64 generation)
{
	LWLock	   *lock = txg_shared->lock;
	TxgStatsEntry *entry;

	if (LWLockHeldByMe(lock))
		return;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (generation != 0 && generation == txg_shared->stats_generation)
	{
		entry = stats_lookup(rec->dbid, rec->userid, rec->sqlerrcode, false);
		if (entry != NULL)
		{
			entry->ignored_commands += rec->ignored;
			if (rec->ended_by == TXG_END_TIMEOUT)
				entry->sessions_terminated++;
		}
	}
	LWLockRelease(lock);
}

/* ---- writers (abort path) ---- */

/*
 * Record a new abort: claim a ring position for it and count it.  Sets
 * rec->seq (0 if not in the ring) and rec->slot.  Returns the statistics
 * generation, for txg_history_end().
 */
uint64
txg_history_record(TxgRecord *rec, bool tracked)
{
	TxgEntryHeader *slot = my_slot();

	rec->seq = 0;
	rec->slot = slot ? TXG_MY_PROC_INDEX() : -1;
	if (txg_shared == NULL || !tracked)
		return 0;

	if (txg_shared->history_size > 0)
	{
		uint64		seq = pg_atomic_add_fetch_u64(&txg_shared->next_seq, 1);
		TxgEntryHeader *e = ring_entry(seq);
		bool		written = false;

		rec->seq = seq;
		if (unlikely(txg_debug_ring_delay > 0))
			pg_usleep(txg_debug_ring_delay * 1000L);
		if (entry_begin_write(e))
		{
			/*
			 * A writer delayed between claiming its position and getting
			 * here may find the ring wrapped past it: never overwrite a newer
			 * record with an older one.
			 */
			if (ENTRY_RECORD(e)->seq < seq)
			{
				memcpy(ENTRY_RECORD(e), rec, txg_shared->record_size);
				if (!txg_store_detail)
					ENTRY_RECORD(e)->detail[0] = '\0';
				written = true;
			}
			entry_end_write(e);
		}
		if (!written)
		{
			pg_atomic_fetch_add_u64(&txg_shared->dropped, 1);
			rec->seq = 0;
		}
	}

	return stats_add_abort(rec);
}

/*
 * An episode ended: complete its ring record (if it is still there) and
 * count its ignored commands and a termination.
 */
void
txg_history_end(const TxgRecord *rec, bool tracked, uint64 stats_generation)
{
	if (txg_shared == NULL || !tracked)
		return;

	if (rec->seq != 0 && txg_shared->history_size > 0)
	{
		TxgEntryHeader *e = ring_entry(rec->seq);

		if (entry_begin_write(e))
		{
			TxgRecord  *dst = ENTRY_RECORD(e);

			if (dst->seq == rec->seq)
			{
				dst->ended_at = rec->ended_at;
				dst->ended_by = rec->ended_by;
				dst->ignored = rec->ignored;
				dst->idle_since = rec->idle_since;
			}
			entry_end_write(e);
		}
	}

	stats_add_end(rec, stats_generation);
}

/* Publish the open episode in this backend's slot. */
void
txg_slot_publish(const TxgRecord *rec)
{
	TxgEntryHeader *e = my_slot();

	if (e == NULL || !entry_begin_write(e))
		return;
	memcpy(ENTRY_RECORD(e), rec, txg_shared->record_size);
	e->active = true;
	entry_end_write(e);
}

/* Update the ignored-command count and idle clock of this backend's slot. */
void
txg_slot_touch(const TxgRecord *rec)
{
	TxgEntryHeader *e = my_slot();

	if (e == NULL || !entry_begin_write(e))
		return;
	ENTRY_RECORD(e)->ignored = rec->ignored;
	ENTRY_RECORD(e)->idle_since = rec->idle_since;
	entry_end_write(e);
}

void
txg_slot_clear(void)
{
	TxgEntryHeader *e = my_slot();

	if (e == NULL || !entry_begin_write(e))
		return;
	e->active = false;
	entry_end_write(e);
}

/* ---- readers (SQL functions; may raise errors, hold no lock then) ---- */

/*
 * Copy the visible ring records into a palloc'd array; returns the count.
 * An open episode's ignored-command count is taken live from its owner's
 * slot.
 */
int
txg_history_read(TxgRecord ***out)
{
	int			n = 0;
	int			size = txg_shared->history_size;
	uint64		reset_seq = pg_atomic_read_u64(&txg_shared->reset_seq);
	char	   *buf = palloc(txg_shared->entry_size);
	char	   *slotbuf = palloc(txg_shared->entry_size);
	TxgRecord **recs = palloc(sizeof(TxgRecord *) * Max(size, 1));

	for (int i = 0; i < size; i++)
	{
		TxgEntryHeader *e = (TxgEntryHeader *) (txg_ring + i * txg_shared->entry_size);
		TxgRecord  *rec = ENTRY_RECORD(buf);

		if (!entry_read(e, buf) || rec->seq == 0 || rec->seq <= reset_seq)
			continue;

		if (rec->ended_by == TXG_END_NONE && rec->slot >= 0 &&
			rec->slot < txg_shared->nslots &&
			entry_read(slot_entry(rec->slot), slotbuf))
		{
			TxgEntryHeader *sh = (TxgEntryHeader *) slotbuf;
			TxgRecord  *live = ENTRY_RECORD(slotbuf);

			if (sh->active && live->seq == rec->seq && live->pid == rec->pid)
			{
				rec->ignored = live->ignored;
				rec->idle_since = live->idle_since;
			}
		}

		recs[n] = palloc(txg_shared->record_size);
		memcpy(recs[n], rec, txg_shared->record_size);
		n++;
	}
	pfree(buf);
	pfree(slotbuf);
	*out = recs;
	return n;
}

/* Copy the open episodes of live backends; returns the count. */
int
txg_slots_read(TxgRecord ***out)
{
	int			n = 0;
	char	   *buf = palloc(txg_shared->entry_size);
	TxgRecord **recs = palloc(sizeof(TxgRecord *) * txg_shared->nslots);

	for (int i = 0; i < txg_shared->nslots; i++)
	{
		if (!entry_read(slot_entry(i), buf) || !((TxgEntryHeader *) buf)->active)
			continue;
		recs[n] = palloc(txg_shared->record_size);
		memcpy(recs[n], ENTRY_RECORD(buf), txg_shared->record_size);
		n++;
	}
	pfree(buf);
	*out = recs;
	return n;
}

/* Copy the statistics table; returns the number of entries. */
int
txg_stats_read(TxgStatsEntry **out, TimestampTz *stats_reset)
{
	TxgStatsEntry *copy = palloc(sizeof(TxgStatsEntry) * TXG_STATS_ENTRIES);
	int			n = 0;

	LWLockAcquire(txg_shared->lock, LW_SHARED);
	for (int i = 0; i < TXG_STATS_ENTRIES; i++)
	{
		if (txg_stats[i].used)
			copy[n++] = txg_stats[i];
	}
	*stats_reset = txg_shared->stats_reset;
	LWLockRelease(txg_shared->lock);

	*out = copy;
	return n;
}

void
txg_history_info(TxgInfo *info)
{
	uint64		next = pg_atomic_read_u64(&txg_shared->next_seq);
	uint64		reset = pg_atomic_read_u64(&txg_shared->reset_seq);
	uint64		written = next - reset;

	info->history_size = txg_shared->history_size;
	info->history_written = (int64) written;
	info->history_overwritten = written > (uint64) txg_shared->history_size ?
		(int64) (written - txg_shared->history_size) : 0;
	info->history_dropped = (int64) pg_atomic_read_u64(&txg_shared->dropped);

	LWLockAcquire(txg_shared->lock, LW_SHARED);
	info->stats_entries = txg_shared->stats_used;
	info->stats_dropped = txg_shared->stats_dropped;
	info->stats_reset = txg_shared->stats_reset;
	LWLockRelease(txg_shared->lock);
	info->stats_max = TXG_STATS_ENTRIES * 3 / 4;
}

/*
 * Forget the history and the statistics.  The ring is hidden, not wiped,
 * so that concurrent writers never wait.
 */
void
txg_history_reset(void)
{
	pg_atomic_write_u64(&txg_shared->reset_seq,
						pg_atomic_read_u64(&txg_shared->next_seq));
	pg_atomic_write_u64(&txg_shared->dropped, 0);

	LWLockAcquire(txg_shared->lock, LW_EXCLUSIVE);
	memset(txg_stats, 0, sizeof(TxgStatsEntry) * TXG_STATS_ENTRIES);
	txg_shared->stats_generation++;
	txg_shared->stats_used = 0;
	txg_shared->stats_dropped = 0;
	txg_shared->stats_reset = GetCurrentTimestamp();
	LWLockRelease(txg_shared->lock);
}
