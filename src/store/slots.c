/*-------------------------------------------------------------------------
 *
 * slots.c
 *	  One slot per backend in shared memory: the open episode of each
 *	  backend whose transaction block is aborted right now
 *	  (txguard_aborted_sessions), with its live counters.
 *
 * A slot has a single writer, the backend it belongs to (indexed by its
 * proc number); a new backend in the slot clears it first.  Writers and
 * readers use the entry's seqlock (ring.c): writing never waits for a
 * reader and never takes a lock, so it is safe in emit_log_hook and in the
 * abort callbacks (seqlock.h).  Readers copy one slot at a time into a buffer of their
 * own and hand it to a callback, which may raise errors.
 *
 * IDENTIFICATION
 *	  src/store/slots.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"

#include "compat.h"
#include "shmem.h"
#include "slots.h"

/* This backend's slot index, or -1 */
int
txg_slot_index(void)
{
	int			index = TXG_MY_PROC_INDEX();

	if (txg_shm.sh == NULL || index < 0 || index >= txg_shm.sh->nslots)
		return -1;
	return index;
}

static TxgEntryHeader *
my_slot(void)
{
	int			index = txg_slot_index();

	return index < 0 ? NULL : txg_slot_entry(index);
}

/* Publish the open episode in this backend's slot. */
void
txg_slot_publish(const TxgRecord *rec)
{
	TxgEntryHeader *e = my_slot();

	if (e == NULL || !txg_entry_begin_write(e))
		return;
	txg_record_copy(TXG_ENTRY_RECORD(e), rec);
	e->active = true;
	txg_entry_end_write(e);
}

/* Update the ignored-command count and idle clock of this backend's slot. */
void
txg_slot_touch(const TxgRecord *rec)
{
	TxgEntryHeader *e = my_slot();

	if (e == NULL || !txg_entry_begin_write(e))
		return;
	TXG_ENTRY_RECORD(e)->ignored = rec->ignored;
	TXG_ENTRY_RECORD(e)->idle_since = rec->idle_since;
	txg_entry_end_write(e);
}

void
txg_slot_clear(void)
{
	TxgEntryHeader *e = my_slot();

	if (e == NULL || !txg_entry_begin_write(e))
		return;
	e->active = false;
	txg_entry_end_write(e);
}

/*
 * Take the live counters of an open episode's ring record from its owner's
 * slot (the history's readers call this for records not ended yet).
 */
void
txg_slot_live_counts(TxgRecord *rec)
{
	/* the slot's header and record up to the ignored-command count */
	char		buf[TXG_ENTRY_HEADER_SIZE + offsetof(TxgRecord, ignored) + sizeof(int64)];
	const char *r = buf + TXG_ENTRY_HEADER_SIZE;
	bool		active;
	uint64		seq;
	int32		pid;

	if (rec->slot < 0 || rec->slot >= txg_shm.sh->nslots)
		return;
	if (!txg_entry_read(txg_slot_entry(rec->slot), buf, sizeof(buf)))
		return;
	memcpy(&active, buf + offsetof(TxgEntryHeader, active), sizeof(active));
	memcpy(&seq, r + offsetof(TxgRecord, seq), sizeof(seq));
	memcpy(&pid, r + offsetof(TxgRecord, pid), sizeof(pid));
	if (active && seq == rec->seq && pid == rec->pid)
	{
		memcpy(&rec->ignored, r + offsetof(TxgRecord, ignored),
			   sizeof(rec->ignored));
		memcpy(&rec->idle_since, r + offsetof(TxgRecord, idle_since),
			   sizeof(rec->idle_since));
	}
}

/*
 * Call 'emit' for the open episode of every backend that has one, each
 * copied consistently into one buffer.
 */
void
txg_slots_scan(txg_record_callback emit, void *arg)
{
	char	   *buf = palloc(txg_shm.sh->entry_size);

	for (int i = 0; i < txg_shm.sh->nslots; i++)
	{
		if (!txg_entry_read(txg_slot_entry(i), buf, TXG_ENTRY_HEADER_SIZE) ||
			!((TxgEntryHeader *) buf)->active)
			continue;
		if (!txg_entry_read(txg_slot_entry(i), buf, txg_shm.sh->entry_size) ||
			!((TxgEntryHeader *) buf)->active)
			continue;
		emit(TXG_ENTRY_RECORD(buf), arg);
	}
	pfree(buf);
}
