/*-------------------------------------------------------------------------
 *
 * table.c
 *	  A bounded hash table of counters in shared memory: at most 'max'
 *	  keys, each with the counters of counters.h and, optionally, a sample
 *	  text.  Every statistics table of txguard is one of these.
 *
 * Layout: the TxgTable header, an open-addressing index of 'nbuckets'
 * int32 (a power of two, at least twice 'max', so probes stay short), then
 * 'max' entries of entry_size bytes.  An index bucket holds an entry
 * number or -1.
 *
 * Eviction.  When a new key arrives and the table is full, the least
 * recently counted key goes, approximately: a clock hand sweeps the
 * entries, and an entry counted since the hand last passed it gets a second
 * chance (its "referenced" flag is cleared); the first entry not counted
 * since is evicted.  At most two sweeps; amortised O(1).  Counting only
 * sets the flag, so it needs no exclusive lock.  Evictions are counted.
 *
 * Locking is the caller's (store/stats.c): every function runs under the
 * statistics LWLock; txg_table_find() and txg_table_add() need it in any
 * mode (the counters and the flag are atomics), txg_table_enter() and
 * txg_table_reset() exclusively.  Nothing here allocates, raises an ERROR
 * or takes a lock: it runs in the abort callbacks.
 *
 * IDENTIFICATION
 *	  src/store/table.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "mb/pg_wchar.h"
#include "storage/shmem.h"

#include "table.h"

struct TxgTable
{
	int			max;			/* entries */
	int			nbuckets;		/* index buckets, a power of two */
	int			key_size;
	int			text_size;		/* 0: no text */
	Size		entry_size;
	int			used;
	int			hand;			/* the clock hand */
	int			free_head;		/* -1 if no entry is free */
	int64		evicted;
};

#define KEY_OFFSET		MAXALIGN(sizeof(TxgTableEntry))

static inline int32 *
table_index(const TxgTable *t)
{
	return (int32 *) ((char *) t + MAXALIGN(sizeof(TxgTable)));
}

static int
buckets_for(int max)
{
	int			b = 16;

	while (b < 2 * max)
		b *= 2;
	return b;
}

static Size
entry_size_for(int key_size, int text_size)
{
	return MAXALIGN(KEY_OFFSET + MAXALIGN(key_size) + text_size);
}

Size
txg_table_size(int max, int key_size, int text_size)
{
	Size		size = MAXALIGN(sizeof(TxgTable));

	size = add_size(size, MAXALIGN(mul_size(buckets_for(max), sizeof(int32))));
	size = add_size(size, mul_size(max, entry_size_for(key_size, text_size)));
	return size;
}

TxgTableEntry *
txg_table_entry(TxgTable *t, int index)
{
	char	   *entries = (char *) table_index(t) +
	MAXALIGN((Size) t->nbuckets * sizeof(int32));

	return (TxgTableEntry *) (entries + (Size) index * t->entry_size);
}

const void *
txg_table_key(const TxgTable *t, const TxgTableEntry *e)
{
	return (const char *) e + KEY_OFFSET;
}

char *
txg_table_text(const TxgTable *t, const TxgTableEntry *e)
{
	if (t->text_size == 0)
		return NULL;
	return (char *) e + KEY_OFFSET + MAXALIGN(t->key_size);
}

int
txg_table_key_size(const TxgTable *t)
{
	return t->key_size;
}

int
txg_table_text_size(const TxgTable *t)
{
	return t->text_size;
}

int
txg_table_max(const TxgTable *t)
{
	return t->max;
}

int
txg_table_used(const TxgTable *t)
{
	return t->used;
}

int64
txg_table_evicted(const TxgTable *t)
{
	return t->evicted;
}

void
txg_table_set_evicted(TxgTable *t, int64 evicted)
{
	t->evicted = evicted;
}

/* Every entry free, the index empty */
void
txg_table_reset(TxgTable *t)
{
	int32	   *index = table_index(t);

	for (int i = 0; i < t->nbuckets; i++)
		index[i] = -1;
	for (int i = 0; i < t->max; i++)
	{
		TxgTableEntry *e = txg_table_entry(t, i);

		e->used = false;
		e->next_free = (i + 1 < t->max) ? i + 1 : -1;
		pg_atomic_write_u32(&e->referenced, 0);
	}
	t->free_head = t->max > 0 ? 0 : -1;
	t->used = 0;
	t->hand = 0;
	t->evicted = 0;
}

void
txg_table_init(TxgTable *t, int max, int key_size, int text_size)
{
	Assert(key_size % sizeof(uint32) == 0);
	t->max = max;
	t->nbuckets = buckets_for(max);
	t->key_size = key_size;
	t->text_size = text_size;
	t->entry_size = entry_size_for(key_size, text_size);
	for (int i = 0; i < max; i++)
	{
		TxgTableEntry *e = txg_table_entry(t, i);

		pg_atomic_init_u32(&e->referenced, 0);
		txg_counters_init(&e->counters);
	}
	txg_table_reset(t);
}

/*
 * Keys are zero-filled structs of whole 32-bit words (keys.h): each word
 * is folded in with a rotate and a multiply, and murmur3's finaliser mixes
 * the result, at a fraction of hash_bytes()' cost on keys this short.
 */
uint32
txg_table_hash(const TxgTable *t, const void *key)
{
	const char *p = key;
	int			n = t->key_size / sizeof(uint32);
	uint32		h = (uint32) t->key_size;

	for (int i = 0; i < n; i++)
	{
		uint32		w;

		memcpy(&w, p + i * sizeof(uint32), sizeof(uint32));
		h = (((h << 5) | (h >> 27)) ^ w) * 0x9e3779b1;
	}
	return murmurhash32(h);
}

/* The entry of a key and its number (-1 if none) */
TxgTableEntry *
txg_table_find(TxgTable *t, const void *key, uint32 hash, int *number)
{
	int32	   *index = table_index(t);
	int			mask = t->nbuckets - 1;

	*number = -1;
	if (t->max == 0)
		return NULL;
	for (int b = hash & mask;; b = (b + 1) & mask)
	{
		int			i = index[b];
		TxgTableEntry *e;

		if (i < 0)
			return NULL;
		e = txg_table_entry(t, i);
		if (e->hash == hash &&
			memcmp(txg_table_key(t, e), key, t->key_size) == 0)
		{
			*number = i;
			return e;
		}
	}
}

/* Remove entry 'victim' from the index (linear probing: shift back) */
static void
index_delete(TxgTable *t, int victim)
{
	int32	   *index = table_index(t);
	int			mask = t->nbuckets - 1;
	int			i = txg_table_entry(t, victim)->hash & mask;
	int			j;

	while (index[i] != victim)
		i = (i + 1) & mask;
	index[i] = -1;
	j = i;
	for (;;)
	{
		int			k;

		j = (j + 1) & mask;
		if (index[j] < 0)
			break;
		k = txg_table_entry(t, index[j])->hash & mask;
		/* move j back to i unless its home k lies cyclically in (i, j] */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j)))
		{
			index[i] = index[j];
			index[j] = -1;
			i = j;
		}
	}
}

/* Free an entry by the clock; returns its number */
static int
evict(TxgTable *t)
{
	for (int step = 0; step < 2 * t->max + 1; step++)
	{
		int			i = t->hand;
		TxgTableEntry *e = txg_table_entry(t, i);

		t->hand = (t->hand + 1) % t->max;
		if (!e->used)
			return i;
		if (pg_atomic_read_u32(&e->referenced) != 0)
		{
			pg_atomic_write_u32(&e->referenced, 0);
			continue;
		}
		index_delete(t, i);
		e->used = false;
		t->used--;
		t->evicted++;
		return i;
	}
	/* not reached: the second sweep finds every flag cleared */
	return t->hand;
}

/*
 * The entry of this key, created if it is new (evicting if the table is
 * full), with zero counters and first_seen unset.  NULL only if max is 0.
 */
TxgTableEntry *
txg_table_enter(TxgTable *t, const void *key, uint32 hash, const char *str,
				bool truncated, int encoding, int *number)
{
	int32	   *index = table_index(t);
	int			mask = t->nbuckets - 1;
	TxgTableEntry *e;
	int			i;
	int			b;

	if (t->max == 0)
	{
		*number = -1;
		return NULL;
	}
	e = txg_table_find(t, key, hash, number);
	if (e != NULL)
		return e;

	if (t->free_head >= 0)
	{
		i = t->free_head;
		t->free_head = txg_table_entry(t, i)->next_free;
	}
	else
		i = evict(t);

	e = txg_table_entry(t, i);
	e->hash = hash;
	e->used = true;
	e->next_free = -1;
	e->text_truncated = false;
	e->encoding = encoding;
	memcpy((char *) e + KEY_OFFSET, key, t->key_size);
	for (int c = 0; c < TXG_NCOUNTERS; c++)
		pg_atomic_write_u64(&e->counters.v[c], 0);
	pg_atomic_write_u32(&e->referenced, 1);

	if (t->text_size > 0)
	{
		char	   *dst = txg_table_text(t, e);
		int			len = str ? strnlen(str, t->text_size) : 0;

		e->text_truncated = truncated;
		if (len >= t->text_size)
		{
			len = pg_encoding_mbcliplen(encoding, str, len, t->text_size - 1);
			e->text_truncated = true;
		}
		if (len > 0)
			memcpy(dst, str, len);
		dst[len] = '\0';
	}

	for (b = hash & mask; index[b] >= 0; b = (b + 1) & mask)
		;
	index[b] = i;
	t->used++;
	*number = i;
	return e;
}
