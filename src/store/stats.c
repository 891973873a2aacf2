/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  txguard's statistics in shared memory, one bounded table each
 *	  (table.c, keys.h):
 *
 *	- per database, role and SQLSTATE of the cause (txguard_stats);
 *	- per database, role, query id and SQLSTATE, with a sample statement
 *	  text (txguard_statement_stats), txguard.max_statements at most;
 *	- per database, application and SQLSTATE
 *	  (txguard_application_stats);
 *	- per database (txguard_database_stats): every error abort, whatever
 *	  txguard.track says, so that monitoring can compare them with
 *	  pg_stat_database's transactions.
 *
 * When a table is full the least recently counted key is evicted (table.c)
 * and the eviction counted, as pg_stat_statements deallocates: no role can
 * keep the others' new causes from being counted.
 *
 * Locking.  The tables are protected by the named LWLock "txguard".
 * Counting an abort takes it in shared mode, finds the keys and adds to
 * their counters with atomic operations, so concurrent aborts never wait
 * for each other; only a key not seen before takes it exclusively, to
 * insert (and perhaps evict).  The writers run in the abort callbacks
 * (after LWLockReleaseAll()) and at the end of an episode: they never take
 * the lock when they hold it already, never raise an ERROR and never
 * allocate.  emit_log_hook never takes it.  Readers copy a batch of
 * entries under LW_SHARED into memory of their own, release, and only then
 * hand them out, so a slow reader holds an inserting writer up for one
 * batch at most.  A reset and the insertion of a key take it exclusively.
 *
 * A reset bumps the statistics generation: an episode counted before the
 * reset adds nothing when it ends after it.
 *
 * IDENTIFICATION
 *	  src/store/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "shmem.h"
#include "stats.h"

/* A table and the key an abort is counted under in it */
typedef struct Counted
{
	TxgTable   *table;
	const void *key;
	uint32		hash;
	const char *str;			/* for a new entry of a table with texts */
} Counted;

/* The keys of a record in each table; returns how many apply */
typedef struct RecordKeys
{
	TxgDbKey	db;
	TxgRoleKey	role;
	TxgStmtKey	stmt;
	TxgAppKey	app;
} RecordKeys;

/* The tables in the order record_keys() lists them */
static void
table_order(Counted *out)
{
	out[0].table = txg_shm.tables[TXG_STATS_DB];
	out[1].table = txg_shm.tables[TXG_STATS_ROLE];
	out[2].table = txg_shm.tables[TXG_STATS_STMT];
	out[3].table = txg_shm.tables[TXG_STATS_APP];
}

static int
record_keys(const TxgRecord *rec, bool detailed, RecordKeys *k, Counted *out)
{
	int			n = 0;

	memset(k, 0, sizeof(*k));
	k->db.dbid = rec->dbid;
	out[n].table = txg_shm.tables[TXG_STATS_DB];
	out[n].key = &k->db;
	out[n++].str = NULL;
	if (detailed)
	{
		k->role.dbid = rec->dbid;
		k->role.userid = rec->userid;
		k->role.sqlerrcode = rec->sqlerrcode;
		out[n].table = txg_shm.tables[TXG_STATS_ROLE];
		out[n].key = &k->role;
		out[n++].str = NULL;

		k->stmt.dbid = rec->dbid;
		k->stmt.userid = rec->userid;
		k->stmt.queryid = rec->queryid;
		k->stmt.sqlerrcode = rec->sqlerrcode;
		out[n].table = txg_shm.tables[TXG_STATS_STMT];
		out[n].key = &k->stmt;
		out[n++].str = rec->statement;

		k->app.dbid = rec->dbid;
		k->app.sqlerrcode = rec->sqlerrcode;
		strlcpy(k->app.appname, rec->appname, sizeof(k->app.appname));
		out[n].table = txg_shm.tables[TXG_STATS_APP];
		out[n].key = &k->app;
		out[n++].str = NULL;
	}
	for (int i = 0; i < n; i++)
		out[i].hash = txg_table_hash(out[i].table, out[i].key);
	return n;
}

/*
 * Add to the counters of the keys that exist already, noting where they
 * are in 'ref'; returns a mask of those that do not.  The caller holds the
 * lock in shared mode.
 */
static inline void
count_abort_in(TxgTableEntry *e, bool sub, bool in_block, TimestampTz seen)
{
	txg_table_add(e, TXG_C_ABORTS, 1);
	if (sub)
		txg_table_add(e, TXG_C_SAVEPOINT_ABORTS, 1);
	if (in_block)
		txg_table_add(e, TXG_C_ABORTED_BLOCKS, 1);
	txg_table_touch(e, seen);
}

static uint32
count_existing(const Counted *todo, int n, bool sub, bool in_block,
			   TimestampTz seen, TxgStatsRef *ref)
{
	uint32		missing = 0;

	for (int i = 0; i < n; i++)
	{
		int			index;
		TxgTableEntry *e = txg_table_find(todo[i].table, todo[i].key,
										  todo[i].hash, &index);

		ref->index[i] = index;
		ref->hash[i] = todo[i].hash;
		if (e != NULL)
			count_abort_in(e, sub, in_block, seen);
		else
			missing |= 1 << i;
	}
	return missing;
}

/*
 * Count a new abort.  'sub': it aborted a savepoint's subtransaction.
 * 'detailed': counted per role, statement and application too (else per
 * database only).  Fills 'ref' with where it was counted, for
 * txg_stats_count_end (generation 0 if nothing could be counted).
 */
void
txg_stats_count_abort(const TxgRecord *rec, bool sub, bool detailed,
					  TxgStatsRef *ref)
{
	TxgShared  *sh = txg_shm.sh;
	RecordKeys	keys;
	Counted		todo[TXG_NSTATS];
	uint32		missing;
	int			n;

	ref->generation = 0;
	ref->n = 0;
	if (sh == NULL || LWLockHeldByMe(sh->lock))
		return;

	n = record_keys(rec, detailed, &keys, todo);
	ref->n = n;

	LWLockAcquire(sh->lock, LW_SHARED);
	ref->generation = sh->stats_generation;
	missing = count_existing(todo, n, sub, rec->in_block, rec->aborted_at,
							 ref);
	LWLockRelease(sh->lock);

	if (missing == 0)
		return;

	/* keys not seen before: insert them */
	LWLockAcquire(sh->lock, LW_EXCLUSIVE);
	ref->generation = sh->stats_generation;
	for (int i = 0; i < n; i++)
	{
		TxgTableEntry *e;

		if ((missing & (1 << i)) == 0)
			continue;
		e = txg_table_enter(todo[i].table, todo[i].key, todo[i].hash,
							todo[i].str, rec->stmt_truncated, rec->encoding,
							&ref->index[i]);
		if (e == NULL)
			continue;
		if (pg_atomic_read_u64(&e->counters.v[TXG_C_FIRST_SEEN]) == 0)
			pg_atomic_write_u64(&e->counters.v[TXG_C_FIRST_SEEN],
								(uint64) rec->aborted_at);
		count_abort_in(e, sub, rec->in_block, rec->aborted_at);
	}
	LWLockRelease(sh->lock);
}

/*
 * An episode whose abort was counted where 'ref' says ended: add its
 * ignored commands and a termination by the timeout to the same entries.
 * Nothing is added if the statistics were reset since (the abort belongs to
 * the forgotten period), or to an entry that was evicted (and perhaps
 * reused by another key: its hash tells) since.  An episode that ignored
 * nothing and was not terminated costs nothing here.
 */
void
txg_stats_count_end(const TxgRecord *rec, const TxgStatsRef *ref)
{
	TxgShared  *sh = txg_shm.sh;
	Counted		todo[TXG_NSTATS];
	uint64		ignored = (uint64) Max(rec->ignored, 0);
	bool		terminated = (rec->ended_by == TXG_END_TIMEOUT);

	if (sh == NULL || ref->generation == 0 || LWLockHeldByMe(sh->lock))
		return;
	if (ignored == 0 && !terminated)
		return;
	table_order(todo);

	LWLockAcquire(sh->lock, LW_SHARED);
	if (ref->generation == sh->stats_generation)
	{
		for (int i = 0; i < ref->n; i++)
		{
			TxgTableEntry *e;

			if (ref->index[i] < 0)
				continue;
			e = txg_table_entry(todo[i].table, ref->index[i]);
			if (e->used && e->hash == ref->hash[i])
			{
				if (ignored != 0)
					txg_table_add(e, TXG_C_IGNORED, ignored);
				if (terminated)
					txg_table_add(e, TXG_C_TERMINATED, 1);
				txg_table_touch(e, 0);
			}
		}
	}
	LWLockRelease(sh->lock);
}

/* ---- readers ---- */

/*
 * Call 'emit' for every entry of a table, copied in batches under
 * LW_SHARED; the callback runs with nothing held and may raise errors.  In
 * the postmaster (persist.c, at shutdown) nothing else runs and no lock is
 * taken.
 */
void
txg_stats_scan(TxgStatsTable which, txg_stats_callback emit, void *arg)
{
#define BATCH 32
	TxgTable   *t = txg_shm.tables[which];
	LWLock	   *lock = IsUnderPostmaster ? txg_shm.sh->lock : NULL;
	int			key_size = txg_table_key_size(t);
	int			text_size = txg_table_text_size(t);
	int			max = txg_table_max(t);
	Size		slot;
	char	   *buf;
	int			next = 0;

	slot = MAXALIGN(sizeof(TxgStatsRow)) + MAXALIGN(key_size) + text_size;
	buf = palloc(slot * BATCH);

	while (next < max)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		if (lock)
			LWLockAcquire(lock, LW_SHARED);
		while (next < max && n < BATCH)
		{
			TxgTableEntry *e = txg_table_entry(t, next++);
			char	   *p = buf + slot * n;
			TxgStatsRow *row = (TxgStatsRow *) p;
			char	   *key = p + MAXALIGN(sizeof(TxgStatsRow));
			char	   *str = key + MAXALIGN(key_size);

			if (!e->used)
				continue;
			memcpy(key, txg_table_key(t, e), key_size);
			row->key = key;
			txg_counters_read(&e->counters, &row->counters);
			row->text = NULL;
			row->text_truncated = e->text_truncated;
			row->encoding = e->encoding;
			if (text_size > 0)
			{
				memcpy(str, txg_table_text(t, e), text_size);
				str[text_size - 1] = '\0';
				row->text = str;
			}
			n++;
		}
		if (lock)
			LWLockRelease(lock);

		for (int i = 0; i < n; i++)
			emit((TxgStatsRow *) (buf + slot * i), arg);
	}
	pfree(buf);
#undef BATCH
}

void
txg_stats_sizes(TxgStatsTable which, int *used, int *max, int64 *evicted)
{
	TxgTable   *t = txg_shm.tables[which];

	LWLockAcquire(txg_shm.sh->lock, LW_SHARED);
	*used = txg_table_used(t);
	*max = txg_table_max(t);
	*evicted = txg_table_evicted(t);
	LWLockRelease(txg_shm.sh->lock);
}

TimestampTz
txg_stats_reset_time(void)
{
	TimestampTz ts;

	LWLockAcquire(txg_shm.sh->lock, LW_SHARED);
	ts = txg_shm.sh->stats_reset;
	LWLockRelease(txg_shm.sh->lock);
	return ts;
}

/* Forget every statistic (txguard_reset). */
void
txg_stats_reset(void)
{
	LWLockAcquire(txg_shm.sh->lock, LW_EXCLUSIVE);
	for (int i = 0; i < TXG_NSTATS; i++)
		txg_table_reset(txg_shm.tables[i]);
	txg_shm.sh->stats_generation++;
	txg_shm.sh->stats_reset = GetCurrentTimestamp();
	LWLockRelease(txg_shm.sh->lock);
}

/* ---- restoring saved statistics (persist.c, in the postmaster) ---- */

void
txg_stats_restore(TxgStatsTable which, const TxgStatsRow *row)
{
	TxgTable   *t = txg_shm.tables[which];
	TxgTableEntry *e;
	int			number;

	e = txg_table_enter(t, row->key, txg_table_hash(t, row->key), row->text,
						row->text_truncated, row->encoding, &number);
	if (e != NULL)
		txg_counters_write(&e->counters, &row->counters);
}

void
txg_stats_restore_meta(TimestampTz stats_reset, const int64 *evicted)
{
	txg_shm.sh->stats_reset = stats_reset;
	for (int i = 0; i < TXG_NSTATS; i++)
		txg_table_set_evicted(txg_shm.tables[i], evicted[i]);
}
