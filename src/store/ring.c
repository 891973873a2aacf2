/*-------------------------------------------------------------------------
 *
 * ring.c
 *	  The history ring: the most recent aborts of all backends, in shared
 *	  memory, written lock-free on the abort path and read one entry at a
 *	  time by the SQL functions.
 *
 * Concurrency protocol.  Each entry starts with a change counter (a
 * seqlock, as PgBackendStatus.st_changecount): a writer makes it odd with a
 * compare-and-swap from an even value, writes, then makes it even again; a
 * reader copies the entry and accepts the copy only if the counter was even
 * and unchanged across the copy, otherwise it retries (a bounded number of
 * times, then skips the entry: one that changes that often is being
 * overwritten).  Torn reads are impossible, and no writer ever waits for a
 * reader.
 *
 *	- A position is claimed with an atomic fetch-and-add on next_seq; the
 *	  entry is (seq - 1) % history_size.  Two writers meet on one entry only
 *	  if the ring wrapped during a write; the later one spins briefly and,
 *	  if the entry is still busy, or already holds a newer record (its
 *	  writer was delayed between claiming and writing), drops its record
 *	  and counts it in "dropped".
 *	- The owner of a record completes it when its episode ends, only if the
 *	  entry still holds its seq.
 *	- txguard_reset() hides the ring by moving reset_seq up to next_seq, so
 *	  it too never waits.
 *
 * Readers (txg_ring_scan) copy one entry at a time into a buffer of their
 * own and hand it to a callback, which may raise errors: nothing is held
 * then.  The live counters of an episode still open are its owner's
 * slot's (slots.c); the SQL functions merge them.  An entry the filter rejects is skipped after reading its fixed
 * header only.  The abort path here never raises an ERROR and never
 * allocates.
 *
 * IDENTIFICATION
 *	  src/store/ring.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "port/atomics.h"

#include "guc.h"
#include "ring.h"
#include "shmem.h"

static TxgEntryHeader *
ring_entry(uint64 seq)
{
	return txg_ring_entry_at((int) ((seq - 1) % txg_shm.sh->history_size));
}

/* ---- writers (abort path) ---- */

/*
 * Put a new record in the ring.  Sets rec->seq (0 if it could not be
 * written).
 */
void
txg_ring_add(TxgRecord *rec)
{
	uint64		seq;
	TxgEntryHeader *e;
	bool		written = false;

	rec->seq = 0;
	if (txg_shm.sh == NULL || txg_shm.sh->history_size == 0)
		return;

	seq = pg_atomic_add_fetch_u64(&txg_shm.sh->next_seq, 1);
	e = ring_entry(seq);
	if (unlikely(txg_debug_ring_delay > 0))
		pg_usleep(txg_debug_ring_delay * 1000L);
	if (txg_entry_begin_write(e))
	{
		/*
		 * A writer delayed between claiming its position and getting here may
		 * find the ring wrapped past it: never overwrite a newer record with
		 * an older one.
		 */
		if (TXG_ENTRY_RECORD(e)->seq < seq)
		{
			txg_record_copy(TXG_ENTRY_RECORD(e), rec);
			TXG_ENTRY_RECORD(e)->seq = seq;
			if (!txg_store_detail)
				memset(TXG_ENTRY_RECORD(e)->detail, 0,
					   sizeof(TXG_ENTRY_RECORD(e)->detail));
			written = true;
		}
		txg_entry_end_write(e);
	}
	if (written)
		rec->seq = seq;
	else
		pg_atomic_fetch_add_u64(&txg_shm.sh->dropped, 1);
}

/*
 * A background worker failed again the way a recent record says (same
 * process type, database, role, SQLSTATE and message): count a repeat in
 * that record instead of writing a new one, so that a worker retrying the
 * same failure every few seconds does not flood the history.  Looks at the
 * newest TXG_RING_REPEAT_WINDOW positions only.  Sets rec->seq and returns
 * true if it found one.  Abort path: no lock, no allocation.
 */
bool
txg_ring_repeat(TxgRecord *rec)
{
	/* room for the fixed part; only the part up to the message is copied */
	union
	{
		char		c[TXG_ENTRY_HEADER_SIZE + sizeof(TxgRecord)];
		TxgEntryHeader h;
	}			u;
	char	   *buf = u.c;
	Size		size = TXG_ENTRY_HEADER_SIZE + offsetof(TxgRecord, message) +
	TXG_MESSAGE_LEN;
	const TxgRecord *old = TXG_ENTRY_RECORD(buf);
	uint64		next;

	if (txg_shm.sh == NULL || txg_shm.sh->history_size == 0)
		return false;
	next = pg_atomic_read_u64(&txg_shm.sh->next_seq);
	for (uint64 seq = next;
		 seq > 0 && seq + TXG_RING_REPEAT_WINDOW > next &&
		 seq + txg_shm.sh->history_size > next &&
		 seq > pg_atomic_read_u64(&txg_shm.sh->reset_seq);
		 seq--)
	{
		TxgEntryHeader *e = ring_entry(seq);

		if (!txg_entry_read(e, buf, size) || old->seq != seq)
			continue;
		buf[size - 1] = '\0';
		if (old->backend_type != rec->backend_type ||
			old->dbid != rec->dbid || old->userid != rec->userid ||
			old->sqlerrcode != rec->sqlerrcode ||
			old->ended_by != TXG_END_IMPLICIT ||
			strcmp(old->backend_desc, rec->backend_desc) != 0 ||
			strcmp(old->message, rec->message) != 0)
			continue;
		if (!txg_entry_begin_write(e))
			return false;
		if (TXG_ENTRY_RECORD(e)->seq == seq)
		{
			TXG_ENTRY_RECORD(e)->repeats++;
			TXG_ENTRY_RECORD(e)->ended_at = rec->aborted_at;
			rec->seq = seq;
		}
		txg_entry_end_write(e);
		return rec->seq == seq;
	}
	return false;
}

/*
 * Own the ring entry of rec's position for writing, if it still holds that
 * record: returns the entry's record (end with txg_entry_end_write on *e),
 * or NULL.
 */
static TxgRecord *
begin_update(const TxgRecord *rec, TxgEntryHeader **e)
{
	if (txg_shm.sh == NULL || txg_shm.sh->history_size == 0 || rec->seq == 0)
		return NULL;
	*e = ring_entry(rec->seq);
	if (!txg_entry_begin_write(*e))
		return NULL;
	if (TXG_ENTRY_RECORD(*e)->seq != rec->seq)
	{
		txg_entry_end_write(*e);
		return NULL;
	}
	return TXG_ENTRY_RECORD(*e);
}

/*
 * An episode ended: complete its ring record, if it is still there.
 */
void
txg_ring_complete(const TxgRecord *rec)
{
	TxgEntryHeader *e;
	TxgRecord  *dst = begin_update(rec, &e);

	if (dst == NULL)
		return;
	dst->ended_at = rec->ended_at;
	dst->ended_by = rec->ended_by;
	dst->ignored = rec->ignored;
	dst->idle_since = rec->idle_since;
	txg_entry_end_write(e);
}

/*
 * The blocking session of a record was looked up after it was written:
 * copy what was found into its ring entry, if it is still there.
 */
void
txg_ring_update_blocker(const TxgRecord *rec)
{
	TxgEntryHeader *e;
	TxgRecord  *dst = begin_update(rec, &e);

	if (dst == NULL)
		return;
	dst->blocker_state = rec->blocker_state;
	dst->blocker_pid = rec->blocker_pid;
	dst->blocker_userid = rec->blocker_userid;
	dst->blocker_backend_start = rec->blocker_backend_start;
	dst->blocker_xact_start = rec->blocker_xact_start;
	memcpy(dst->blocker_appname, rec->blocker_appname,
		   sizeof(dst->blocker_appname));
	memcpy(dst->blocker_statement, rec->blocker_statement,
		   sizeof(dst->blocker_statement));
	txg_entry_end_write(e);
}

/*
 * Restore a saved record (persist.c, in the postmaster before any backend
 * runs): written at position 'seq'.
 */
void
txg_ring_restore(const TxgRecord *rec, uint64 seq)
{
	TxgEntryHeader *e = ring_entry(seq);

	txg_record_copy(TXG_ENTRY_RECORD(e), rec);
	TXG_ENTRY_RECORD(e)->seq = seq;
	TXG_ENTRY_RECORD(e)->slot = -1;
	if (pg_atomic_read_u64(&txg_shm.sh->next_seq) < seq)
		pg_atomic_write_u64(&txg_shm.sh->next_seq, seq);
}

/* ---- readers ---- */

/*
 * Call 'emit' for every visible record of the ring, oldest position first,
 * each copied consistently into one buffer.  If 'pid' is not 0, records of
 * other processes are skipped without copying them.  The callback may
 * raise errors; nothing is held while it runs.
 */
void
txg_ring_scan(int pid, txg_record_callback emit, void *arg)
{
	Size		esize = txg_shm.sh->entry_size;
	Size		head = TXG_ENTRY_HEADER_SIZE + offsetof(TxgRecord, backend_start);
	char	   *buf = palloc(esize);
	TxgRecord  *rec = TXG_ENTRY_RECORD(buf);
	uint64		reset_seq = pg_atomic_read_u64(&txg_shm.sh->reset_seq);
	uint64		next = pg_atomic_read_u64(&txg_shm.sh->next_seq);
	uint64		first;

	/* the positions that can still be in the ring, oldest first */
	first = next > (uint64) txg_shm.sh->history_size ?
		next - txg_shm.sh->history_size + 1 : 1;
	if (first <= reset_seq)
		first = reset_seq + 1;

	for (uint64 seq = first; seq <= next; seq++)
	{
		TxgEntryHeader *e = ring_entry(seq);

		CHECK_FOR_INTERRUPTS();

		/* the fixed header first: seq and pid decide whether to copy */
		if (!txg_entry_read(e, buf, head) || rec->seq != seq ||
			(pid != 0 && rec->pid != pid))
			continue;
		if (!txg_entry_read(e, buf, esize) || rec->seq != seq)
			continue;

		emit(rec, arg);
	}
	pfree(buf);
}

/* Counters of the ring for txguard_info() */
void
txg_ring_counts(int *size, int64 *written, int64 *overwritten, int64 *dropped)
{
	uint64		next = pg_atomic_read_u64(&txg_shm.sh->next_seq);
	uint64		reset = pg_atomic_read_u64(&txg_shm.sh->reset_seq);
	uint64		n = next - reset;

	*size = txg_shm.sh->history_size;
	*written = (int64) n;
	*overwritten = n > (uint64) txg_shm.sh->history_size ?
		(int64) (n - txg_shm.sh->history_size) : 0;
	*dropped = (int64) pg_atomic_read_u64(&txg_shm.sh->dropped);
}

/* Hide the whole ring (txguard_reset). */
void
txg_ring_reset(void)
{
	pg_atomic_write_u64(&txg_shm.sh->reset_seq,
						pg_atomic_read_u64(&txg_shm.sh->next_seq));
	pg_atomic_write_u64(&txg_shm.sh->dropped, 0);
}

/* The last position handed out (persist.c) */
uint64
txg_ring_next_seq(void)
{
	return pg_atomic_read_u64(&txg_shm.sh->next_seq);
}

/*
 * After restoring saved records (persist.c, in the postmaster before any
 * backend runs): go on from the saved position, with the saved count of
 * dropped writes.
 */
void
txg_ring_restore_counters(uint64 next_seq, int64 dropped)
{
	if (pg_atomic_read_u64(&txg_shm.sh->next_seq) < next_seq)
		pg_atomic_write_u64(&txg_shm.sh->next_seq, next_seq);
	pg_atomic_write_u64(&txg_shm.sh->dropped, (uint64) Max(dropped, 0));
}
