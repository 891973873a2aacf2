/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  txguard's statistics in shared memory:
 *
 *	- per database, role and SQLSTATE of the cause (txguard_stats): a
 *	  fixed open-addressing table; when it is full, further keys are not
 *	  counted and show up in stats_dropped;
 *	- per database, role, query id and SQLSTATE (txguard_statement_stats):
 *	  at most txguard.max_statements entries, each with a sample statement
 *	  text; when it is full the least recently seen entry is evicted (as
 *	  pg_stat_statements deallocates) and counted in statements_evicted;
 *	- per database (txguard_database_stats): every error abort, whatever
 *	  txguard.track says, so that monitoring can compare them with
 *	  pg_stat_database's transactions.
 *
 * The first two count what txguard.track selects.
 *
 * Locking.  All three tables are protected by the named LWLock "txguard".
 * Writers (the abort callbacks, after LWLockReleaseAll(); the end of an
 * episode) take it exclusively, for a bounded amount of work: a hash probe,
 * a few counters, O(1) LRU moves and eviction, and at most one copy of a
 * statement text.  They never take it when they already hold it, never
 * raise an ERROR and never allocate while holding it.  emit_log_hook never
 * takes it.  Readers copy a table (or a batch of statement entries) under
 * LW_SHARED into memory of their own, release, and only then build tuples,
 * so a slow reader holds writers up for one batch at most.
 *
 * A reset bumps the statistics generation: an episode counted before the
 * reset adds nothing when it ends after it.
 *
 * IDENTIFICATION
 *	  src/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "shmem.h"
#include "txguard.h"

/* ---- per database, role, SQLSTATE ---- */

static TxgStatsEntry *
role_lookup(Oid dbid, Oid userid, int sqlerrcode, bool create)
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
		TxgStatsEntry *entry = &txg_sh_stats[(h + i) % TXG_STATS_ENTRIES];

		if (!entry->used)
		{
			if (!create || txg_sh->stats_used >= TXG_STATS_MAX)
				return NULL;
			memset(entry, 0, sizeof(*entry));
			entry->key = key;
			entry->used = true;
			txg_sh->stats_used++;
			return entry;
		}
		if (memcmp(&entry->key, &key, sizeof(key)) == 0)
			return entry;
	}
	return NULL;
}

/* ---- per database ---- */

static TxgDbStatsEntry *
db_lookup(Oid dbid, bool create)
{
	uint32		h = hash_bytes_uint32((uint32) dbid);

	for (int i = 0; i < TXG_DB_ENTRIES; i++)
	{
		TxgDbStatsEntry *entry = &txg_sh_dbstats[(h + i) % TXG_DB_ENTRIES];

		if (!entry->used)
		{
			if (!create || txg_sh->db_used >= TXG_DB_ENTRIES * 3 / 4)
				return NULL;
			memset(entry, 0, sizeof(*entry));
			entry->dbid = dbid;
			entry->used = true;
			txg_sh->db_used++;
			return entry;
		}
		if (entry->dbid == dbid)
			return entry;
	}
	return NULL;
}

/* ---- per database, role, query id, SQLSTATE ---- */

static void
lru_unlink(TxgStmtStatsEntry *e)
{
	if (e->lru_prev >= 0)
		txg_stmt_entry(e->lru_prev)->lru_next = e->lru_next;
	else
		txg_sh->stmt_lru_head = e->lru_next;
	if (e->lru_next >= 0)
		txg_stmt_entry(e->lru_next)->lru_prev = e->lru_prev;
	else
		txg_sh->stmt_lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = -1;
}

static void
lru_push_head(int index)
{
	TxgStmtStatsEntry *e = txg_stmt_entry(index);

	e->lru_prev = -1;
	e->lru_next = txg_sh->stmt_lru_head;
	if (txg_sh->stmt_lru_head >= 0)
		txg_stmt_entry(txg_sh->stmt_lru_head)->lru_prev = index;
	txg_sh->stmt_lru_head = index;
	if (txg_sh->stmt_lru_tail < 0)
		txg_sh->stmt_lru_tail = index;
}

/* Bucket of the hash index holding entry 'index' (it must be there) */
static int
bucket_of(int index)
{
	int			mask = txg_sh->stmt_buckets - 1;
	int			b = txg_stmt_entry(index)->hash & mask;

	while (txg_sh_stmt_index[b] != index)
		b = (b + 1) & mask;
	return b;
}

/* Remove entry 'index' from the hash index (linear probing: shift back) */
static void
index_delete(int index)
{
	int			mask = txg_sh->stmt_buckets - 1;
	int			i = bucket_of(index);
	int			j = i;

	txg_sh_stmt_index[i] = -1;
	for (;;)
	{
		int			k;

		j = (j + 1) & mask;
		if (txg_sh_stmt_index[j] < 0)
			break;
		k = txg_stmt_entry(txg_sh_stmt_index[j])->hash & mask;
		/* move j back to i unless its home k lies cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j)))
		{
			txg_sh_stmt_index[i] = txg_sh_stmt_index[j];
			txg_sh_stmt_index[j] = -1;
			i = j;
		}
	}
}

/* Evict the least recently seen entry; returns its index, now free */
static int
stmt_evict(void)
{
	int			victim = txg_sh->stmt_lru_tail;
	TxgStmtStatsEntry *e = txg_stmt_entry(victim);

	lru_unlink(e);
	index_delete(victim);
	e->used = false;
	txg_sh->stmt_used--;
	txg_sh->stmt_evicted++;
	return victim;
}

static TxgStmtStatsEntry *
stmt_lookup(const TxgStmtStatsKey *key, uint32 h, int *index_out)
{
	int			mask = txg_sh->stmt_buckets - 1;

	for (int b = h & mask;; b = (b + 1) & mask)
	{
		int			idx = txg_sh_stmt_index[b];
		TxgStmtStatsEntry *e;

		if (idx < 0)
			return NULL;
		e = txg_stmt_entry(idx);
		if (e->hash == h && memcmp(&e->key, key, sizeof(*key)) == 0)
		{
			*index_out = idx;
			return e;
		}
	}
}

/* Copy a statement text into an entry, cut to the entry's size */
static void
stmt_set_text(TxgStmtStatsEntry *e, const char *text, bool truncated,
			  int encoding)
{
	int			max = txg_sh->max_statement_length;
	int			len = strnlen(text, max + 1);

	e->text_truncated = truncated;
	if (len > max)
	{
		len = pg_encoding_mbcliplen(encoding, text, len, max);
		e->text_truncated = true;
	}
	memcpy(e->text, text, len);
	e->text[len] = '\0';
	e->encoding = encoding;
}

/*
 * The entry of this key, created (evicting the least recently seen one if
 * the table is full) when 'create'.  NULL if there is none.
 */
static TxgStmtStatsEntry *
stmt_get(Oid dbid, Oid userid, uint64 queryid, int sqlerrcode, bool create,
		 const char *text, bool truncated, int encoding)
{
	TxgStmtStatsKey key;
	uint32		h;
	int			index;
	int			mask;
	int			b;
	TxgStmtStatsEntry *e;

	if (txg_sh->max_statements == 0)
		return NULL;

	memset(&key, 0, sizeof(key));
	key.dbid = dbid;
	key.userid = userid;
	key.queryid = queryid;
	key.sqlerrcode = sqlerrcode;
	h = hash_bytes((const unsigned char *) &key, sizeof(key));

	e = stmt_lookup(&key, h, &index);
	if (e != NULL || !create)
		return e;

	if (txg_sh->stmt_free >= 0)
	{
		index = txg_sh->stmt_free;
		txg_sh->stmt_free = txg_stmt_entry(index)->lru_next;
	}
	else
		index = stmt_evict();

	e = txg_stmt_entry(index);
	memset(e, 0, offsetof(TxgStmtStatsEntry, text));
	e->key = key;
	e->hash = h;
	e->used = true;
	e->lru_prev = e->lru_next = -1;
	stmt_set_text(e, text, truncated, encoding);

	mask = txg_sh->stmt_buckets - 1;
	for (b = h & mask; txg_sh_stmt_index[b] >= 0; b = (b + 1) & mask)
		;
	txg_sh_stmt_index[b] = index;
	lru_push_head(index);
	txg_sh->stmt_used++;
	return e;
}

/* Make an entry the most recently seen */
static void
stmt_touch(TxgStmtStatsEntry *e)
{
	int			index = (int) (((char *) e - txg_sh_stmt) /
							   (Size) txg_sh->stmt_entry_size);

	if (txg_sh->stmt_lru_head == index)
		return;
	lru_unlink(e);
	lru_push_head(index);
}

/* ---- writers ---- */

/*
 * Count a new abort.  'sub': it aborted a savepoint's subtransaction.
 * 'tracked': txguard.track selects it for the detailed statistics.
 * Returns the statistics generation it was counted in (for
 * txg_stats_count_end), or 0 if nothing could be counted.
 */
uint64
txg_stats_count_abort(const TxgRecord *rec, bool sub, bool tracked)
{
	LWLock	   *lock;
	uint64		generation;
	TxgDbStatsEntry *db;

	if (txg_sh == NULL)
		return 0;
	lock = txg_sh->lock;
	if (LWLockHeldByMe(lock))
		return 0;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	generation = txg_sh->stats_generation;

	db = db_lookup(rec->dbid, true);
	if (db == NULL)
		txg_sh->db_dropped++;
	else
	{
		if (sub)
			db->savepoint_error_aborts++;
		else
			db->error_aborts++;
		if (rec->in_block)
			db->aborted_blocks++;
		db->last_error = rec->aborted_at;
	}

	if (tracked)
	{
		TxgStatsEntry *entry;
		TxgStmtStatsEntry *se;

		entry = role_lookup(rec->dbid, rec->userid, rec->sqlerrcode, true);
		if (entry == NULL)
			txg_sh->stats_dropped++;
		else
		{
			entry->aborts++;
			if (rec->in_block)
				entry->aborted_blocks++;
			if (entry->first_seen == 0)
				entry->first_seen = rec->aborted_at;
			entry->last_seen = rec->aborted_at;
		}

		se = stmt_get(rec->dbid, rec->userid, rec->queryid, rec->sqlerrcode,
					  true, rec->statement, rec->stmt_truncated,
					  rec->encoding);
		if (se != NULL)
		{
			se->aborts++;
			if (rec->in_block)
				se->aborted_blocks++;
			if (se->first_seen == 0)
				se->first_seen = rec->aborted_at;
			se->last_seen = rec->aborted_at;
			stmt_touch(se);
		}
	}
	LWLockRelease(lock);
	return generation;
}

/*
 * An episode counted in 'generation' ended: add its ignored commands and a
 * termination by the timeout.  Nothing is added if the statistics were
 * reset since (the abort belongs to the forgotten period), or to an entry
 * the abort could not create (it was counted as dropped then).
 */
void
txg_stats_count_end(const TxgRecord *rec, bool tracked, uint64 generation)
{
	LWLock	   *lock;
	int64		terminated = (rec->ended_by == TXG_END_TIMEOUT) ? 1 : 0;

	if (txg_sh == NULL || generation == 0)
		return;
	lock = txg_sh->lock;
	if (LWLockHeldByMe(lock))
		return;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (generation == txg_sh->stats_generation)
	{
		TxgDbStatsEntry *db = db_lookup(rec->dbid, false);

		if (db != NULL)
		{
			db->ignored_commands += rec->ignored;
			db->sessions_terminated += terminated;
		}
		if (tracked)
		{
			TxgStatsEntry *entry;
			TxgStmtStatsEntry *se;

			entry = role_lookup(rec->dbid, rec->userid, rec->sqlerrcode, false);
			if (entry != NULL)
			{
				entry->ignored_commands += rec->ignored;
				entry->sessions_terminated += terminated;
			}
			se = stmt_get(rec->dbid, rec->userid, rec->queryid,
						  rec->sqlerrcode, false, NULL, false, 0);
			if (se != NULL)
			{
				se->ignored_commands += rec->ignored;
				se->sessions_terminated += terminated;
			}
		}
	}
	LWLockRelease(lock);
}

/* ---- readers ---- */

/* Copy the per-role table; returns the number of entries */
int
txg_stats_read(TxgStatsEntry **out, TimestampTz *stats_reset)
{
	TxgStatsEntry *copy = palloc(sizeof(TxgStatsEntry) * TXG_STATS_ENTRIES);
	int			n = 0;

	LWLockAcquire(txg_sh->lock, LW_SHARED);
	for (int i = 0; i < TXG_STATS_ENTRIES; i++)
	{
		if (txg_sh_stats[i].used)
			copy[n++] = txg_sh_stats[i];
	}
	*stats_reset = txg_sh->stats_reset;
	LWLockRelease(txg_sh->lock);

	*out = copy;
	return n;
}

/* Copy the per-database table; returns the number of entries */
int
txg_dbstats_read(TxgDbStatsEntry **out, TimestampTz *stats_reset)
{
	TxgDbStatsEntry *copy = palloc(sizeof(TxgDbStatsEntry) * TXG_DB_ENTRIES);
	int			n = 0;

	LWLockAcquire(txg_sh->lock, LW_SHARED);
	for (int i = 0; i < TXG_DB_ENTRIES; i++)
	{
		if (txg_sh_dbstats[i].used)
			copy[n++] = txg_sh_dbstats[i];
	}
	*stats_reset = txg_sh->stats_reset;
	LWLockRelease(txg_sh->lock);

	*out = copy;
	return n;
}

/*
 * Call 'emit' for every statement entry, copied in batches of a few under
 * LW_SHARED; the callback runs with nothing held.
 */
void
txg_stmtstats_scan(txg_stmtstats_callback emit, void *arg,
				   TimestampTz *stats_reset)
{
#define BATCH 32
	Size		esize;
	char	   *buf;
	int			next = 0;

	if (txg_sh->max_statements == 0)
	{
		*stats_reset = txg_sh->stats_reset;
		return;
	}
	esize = txg_sh->stmt_entry_size;
	buf = palloc(esize * BATCH);

	while (next < txg_sh->max_statements)
	{
		int			n = 0;

		CHECK_FOR_INTERRUPTS();
		LWLockAcquire(txg_sh->lock, LW_SHARED);
		*stats_reset = txg_sh->stats_reset;
		while (next < txg_sh->max_statements && n < BATCH)
		{
			TxgStmtStatsEntry *e = txg_stmt_entry(next++);

			if (e->used)
				memcpy(buf + esize * n++, e, esize);
		}
		LWLockRelease(txg_sh->lock);

		for (int i = 0; i < n; i++)
			emit((TxgStmtStatsEntry *) (buf + esize * i), arg);
	}
	pfree(buf);
#undef BATCH
}

void
txg_stats_info(TxgInfo *info)
{
	LWLockAcquire(txg_sh->lock, LW_SHARED);
	info->stats_entries = txg_sh->stats_used;
	info->stats_dropped = txg_sh->stats_dropped;
	info->stats_reset = txg_sh->stats_reset;
	info->statements = txg_sh->stmt_used;
	info->statements_evicted = txg_sh->stmt_evicted;
	info->databases_dropped = txg_sh->db_dropped;
	LWLockRelease(txg_sh->lock);
	info->stats_max = TXG_STATS_MAX;
	info->statements_max = txg_sh->max_statements;
}

/* Forget every statistic (txguard_reset). */
void
txg_stats_reset(void)
{
	LWLockAcquire(txg_sh->lock, LW_EXCLUSIVE);
	memset(txg_sh_stats, 0, sizeof(TxgStatsEntry) * TXG_STATS_ENTRIES);
	memset(txg_sh_dbstats, 0, sizeof(TxgDbStatsEntry) * TXG_DB_ENTRIES);
	for (int i = 0; i < txg_sh->max_statements; i++)
	{
		TxgStmtStatsEntry *e = txg_stmt_entry(i);

		e->used = false;
		e->lru_prev = -1;
		e->lru_next = (i + 1 < txg_sh->max_statements) ? i + 1 : -1;
	}
	for (int i = 0; i < txg_sh->stmt_buckets; i++)
		txg_sh_stmt_index[i] = -1;
	txg_sh->stmt_free = txg_sh->max_statements > 0 ? 0 : -1;
	txg_sh->stmt_lru_head = txg_sh->stmt_lru_tail = -1;
	txg_sh->stmt_used = 0;
	txg_sh->stmt_evicted = 0;
	txg_sh->stats_generation++;
	txg_sh->stats_used = 0;
	txg_sh->stats_dropped = 0;
	txg_sh->db_used = 0;
	txg_sh->db_dropped = 0;
	txg_sh->stats_reset = GetCurrentTimestamp();
	LWLockRelease(txg_sh->lock);
}

/* ---- restoring saved statistics (persist.c, in the postmaster) ---- */

void
txg_stats_restore_role(const TxgStatsEntry *saved)
{
	TxgStatsEntry *e = role_lookup(saved->key.dbid, saved->key.userid,
								   saved->key.sqlerrcode, true);

	if (e == NULL)
		return;
	e->aborts = saved->aborts;
	e->aborted_blocks = saved->aborted_blocks;
	e->ignored_commands = saved->ignored_commands;
	e->sessions_terminated = saved->sessions_terminated;
	e->first_seen = saved->first_seen;
	e->last_seen = saved->last_seen;
}

void
txg_stats_restore_db(const TxgDbStatsEntry *saved)
{
	TxgDbStatsEntry *e = db_lookup(saved->dbid, true);

	if (e == NULL)
		return;
	e->error_aborts = saved->error_aborts;
	e->savepoint_error_aborts = saved->savepoint_error_aborts;
	e->aborted_blocks = saved->aborted_blocks;
	e->ignored_commands = saved->ignored_commands;
	e->sessions_terminated = saved->sessions_terminated;
	e->last_error = saved->last_error;
}

/* Restored least recently seen first: each becomes the most recent */
void
txg_stats_restore_stmt(const TxgStmtStatsEntry *saved)
{
	TxgStmtStatsEntry *e;

	e = stmt_get(saved->key.dbid, saved->key.userid, saved->key.queryid,
				 saved->key.sqlerrcode, true, saved->text,
				 saved->text_truncated, saved->encoding);
	if (e == NULL)
		return;
	e->aborts = saved->aborts;
	e->aborted_blocks = saved->aborted_blocks;
	e->ignored_commands = saved->ignored_commands;
	e->sessions_terminated = saved->sessions_terminated;
	e->first_seen = saved->first_seen;
	e->last_seen = saved->last_seen;
	stmt_touch(e);
}

void
txg_stats_restore_counters(TimestampTz stats_reset, int64 stats_dropped,
						   int64 stmt_evicted, int64 db_dropped)
{
	txg_sh->stats_reset = stats_reset;
	txg_sh->stats_dropped = stats_dropped;
	txg_sh->stmt_evicted = stmt_evicted;
	txg_sh->db_dropped = db_dropped;
}
