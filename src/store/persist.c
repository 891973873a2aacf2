/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  Keep txguard's statistics and history across a clean restart, as
 *	  pg_stat_statements keeps its own: the postmaster writes them to
 *	  pg_stat/txguard.stat at shutdown and reads them back at start-up.
 *
 * Saving.  At the postmaster's exit (on_shmem_exit, registered by
 * store.c), when txguard.persist is on: the file is written to a temporary
 * name, fsynced, and renamed durably over the old one, so a crash while
 * saving leaves the previous file or none, never half a file.
 *
 * Loading.  When the postmaster creates the segment (store.c), before any
 * backend runs.  The whole file is read and checked before anything is
 * restored: its magic and format version, the layout of the records it
 * holds, the checksum over its contents, and every length against what is
 * left of the buffer, so that a truncated, damaged or foreign file can
 * never be read past its end.  Any problem, or a last shutdown that was not
 * clean (then core discards its statistics too), is reported with one
 * WARNING, and txguard starts empty; a missing file (the first start, or
 * txguard.persist was off) is no problem and says nothing, as with
 * pg_stat_statements.  The file is removed
 * once read, so a crash restart later never brings back old data.
 *
 * A file written with other sizes is loaded as far as it fits: the newest
 * history records that fit txguard.history_size, the most recently counted
 * keys that fit each table, texts cut to txguard.max_statement_length on a
 * character boundary.
 *
 * Both run in the postmaster (or a single-user backend) while no other
 * process uses the segment, so no lock is needed; they may allocate and
 * raise errors like any start-up code, but loading catches nothing: it
 * checks, and never ERRORs on bad data.
 *
 * IDENTIFICATION
 *	  src/store/persist.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "catalog/pg_control.h"
#include "common/controldata_utils.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/pg_crc32c.h"
#include "storage/fd.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "persist.h"
#include "ring.h"
#include "shmem.h"
#include "stats.h"

#define PERSIST_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/txguard.stat"
#define PERSIST_TMPFILE		PERSIST_FILE ".tmp"

#define PERSIST_MAGIC		0x54584753	/* "TXGS" */
#define PERSIST_FORMAT		2	/* 1: txguard 1.1 */

/* Sizes of the fixed parts, to recognise a file of another layout */
#define RECORD_FIXED		offsetof(TxgRecord, statement)

/* The file: this header, then the sections, then a CRC of all before it */
typedef struct PersistHeader
{
	uint32		magic;
	uint32		format;
	uint32		pg_major;		/* PG_VERSION_NUM / 100 */
	uint32		record_fixed;
	uint32		counters_size;
	uint32		key_size[TXG_NSTATS];
	int32		history_size;	/* settings that sized the data */
	int32		max_statement_length;
	int32		max_statements;
	uint64		next_seq;
	TimestampTz stats_reset;
	TimestampTz saved_at;
	int64		history_dropped;
	int64		evicted[TXG_NSTATS];
	uint32		n_records;		/* oldest first */
	uint32		n_rows[TXG_NSTATS]; /* least recently counted first */
} PersistHeader;

/* One saved statistics row: the key, then this, then the text if any */
typedef struct PersistRow
{
	TxgCountersData counters;
	int32		encoding;
	bool		text_truncated;
} PersistRow;

/* When the saved data was restored at start-up, 0 if it was not */
static TimestampTz restored_at = 0;

TimestampTz
txg_persist_restored_at(void)
{
	return restored_at;
}

/* ---- saving ---- */

typedef struct Writer
{
	FILE	   *file;
	pg_crc32c	crc;
	bool		failed;
} Writer;

static void
put(Writer *w, const void *data, Size len)
{
	if (w->failed || len == 0)
		return;
	COMP_CRC32C(w->crc, data, len);
	if (fwrite(data, 1, len, w->file) != len)
		w->failed = true;
}

static void
put_text(Writer *w, const char *str)
{
	int32		len = str ? strlen(str) : 0;

	put(w, &len, sizeof(len));
	put(w, str, len);
}

/* What the postmaster collects before it writes */
typedef struct Collected
{
	int			n;
	int			size;
	char	  **items;			/* palloc'd copies */
	Size		key_size;
} Collected;

static void
collect_record(TxgRecord *rec, void *arg)
{
	Collected  *c = (Collected *) arg;
	Size		len = RECORD_FIXED + strlen(rec->statement) + 1;

	if (c->n == c->size)
	{
		c->size = Max(c->size * 2, 64);
		c->items = c->items ? repalloc(c->items, c->size * sizeof(char *)) :
			palloc(c->size * sizeof(char *));
	}
	c->items[c->n] = palloc(len);
	memcpy(c->items[c->n], rec, len);
	txg_record_tidy((TxgRecord *) c->items[c->n]);
	c->n++;
}

/* A copy of a row: PersistRow, key, text */
static void
collect_row(const TxgStatsRow *row, void *arg)
{
	Collected  *c = (Collected *) arg;
	Size		tlen = row->text ? strlen(row->text) + 1 : 1;
	char	   *p;
	PersistRow *pr;

	if (c->n == c->size)
	{
		c->size = Max(c->size * 2, 64);
		c->items = c->items ? repalloc(c->items, c->size * sizeof(char *)) :
			palloc(c->size * sizeof(char *));
	}
	/* zeroed: PersistRow's padding goes to the file too */
	p = palloc0(sizeof(PersistRow) + c->key_size + tlen);
	pr = (PersistRow *) p;
	pr->counters = row->counters;
	pr->encoding = row->encoding;
	pr->text_truncated = row->text_truncated;
	memcpy(p + sizeof(PersistRow), row->key, c->key_size);
	memcpy(p + sizeof(PersistRow) + c->key_size, row->text ? row->text : "", tlen);
	c->items[c->n++] = p;
}

static int
cmp_last_seen(const void *a, const void *b)
{
	const PersistRow *ra = *(PersistRow *const *) a;
	const PersistRow *rb = *(PersistRow *const *) b;
	int64		la = ra->counters.v[TXG_C_LAST_SEEN];
	int64		lb = rb->counters.v[TXG_C_LAST_SEEN];

	return (la > lb) - (la < lb);
}

static Size
key_size_of(TxgStatsTable which)
{
	return txg_table_key_size(txg_shm.tables[which]);
}

/*
 * on_shmem_exit callback of the postmaster: save everything.
 */
void
txg_persist_save(int code, Datum arg)
{
	Writer		w;
	PersistHeader hdr;
	Collected	records;
	Collected	rows[TXG_NSTATS];

	/* never after a crash, and only if wanted */
	if (code != 0 || txg_shm.sh == NULL)
		return;
	if (!txg_persist)
	{
		unlink(PERSIST_FILE);
		return;
	}

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = PERSIST_MAGIC;
	hdr.format = PERSIST_FORMAT;
	hdr.pg_major = PG_VERSION_NUM / 100;
	hdr.record_fixed = RECORD_FIXED;
	hdr.counters_size = sizeof(TxgCountersData);
	hdr.history_size = txg_shm.sh->history_size;
	hdr.max_statement_length = txg_shm.sh->max_statement_length;
	hdr.max_statements = txg_max_statements;
	hdr.stats_reset = txg_shm.sh->stats_reset;
	hdr.saved_at = GetCurrentTimestamp();
	{
		int			size;
		int64		written;
		int64		overwritten;

		txg_ring_counts(&size, &written, &overwritten, &hdr.history_dropped);
	}
	hdr.next_seq = txg_ring_next_seq();

	memset(&records, 0, sizeof(records));
	txg_ring_scan(0, collect_record, &records);
	hdr.n_records = records.n;
	for (int i = 0; i < TXG_NSTATS; i++)
	{
		memset(&rows[i], 0, sizeof(rows[i]));
		rows[i].key_size = key_size_of((TxgStatsTable) i);
		txg_stats_scan((TxgStatsTable) i, collect_row, &rows[i]);
		if (rows[i].n > 1)
			qsort(rows[i].items, rows[i].n, sizeof(char *), cmp_last_seen);
		hdr.key_size[i] = rows[i].key_size;
		hdr.n_rows[i] = rows[i].n;
		hdr.evicted[i] = txg_table_evicted(txg_shm.tables[i]);
	}

	w.file = AllocateFile(PERSIST_TMPFILE, PG_BINARY_W);
	if (w.file == NULL)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", PERSIST_TMPFILE)));
		return;
	}
	INIT_CRC32C(w.crc);
	w.failed = false;
	put(&w, &hdr, sizeof(hdr));

	for (int r = 0; r < records.n; r++)
	{
		const TxgRecord *rec = (const TxgRecord *) records.items[r];

		put(&w, rec, RECORD_FIXED);
		put_text(&w, rec->statement);
	}
	for (int i = 0; i < TXG_NSTATS; i++)
	{
		bool		has_text = txg_table_text_size(txg_shm.tables[i]) > 0;

		for (int r = 0; r < rows[i].n; r++)
		{
			const char *p = rows[i].items[r];

			put(&w, p, sizeof(PersistRow) + rows[i].key_size);
			if (has_text)
				put_text(&w, p + sizeof(PersistRow) + rows[i].key_size);
		}
	}

	FIN_CRC32C(w.crc);
	if (!w.failed && fwrite(&w.crc, 1, sizeof(w.crc), w.file) != sizeof(w.crc))
		w.failed = true;
	if (FreeFile(w.file) != 0)
		w.failed = true;

	if (w.failed)
	{
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", PERSIST_TMPFILE)));
		unlink(PERSIST_TMPFILE);
		return;
	}
	(void) durable_rename(PERSIST_TMPFILE, PERSIST_FILE, LOG);
}

/* ---- loading ---- */

typedef struct Reader
{
	const char *data;
	Size		len;
	Size		pos;
} Reader;

/* Take n bytes; NULL if fewer are left */
static const char *
take(Reader *r, Size n)
{
	const char *p;

	if (n > r->len - r->pos)
		return NULL;
	p = r->data + r->pos;
	r->pos += n;
	return p;
}

/* A text: its bytes (not NUL-terminated) and length; false if truncated */
static bool
take_text(Reader *r, const char **str, int32 *len)
{
	const char *p = take(r, sizeof(int32));

	if (p == NULL)
		return false;
	memcpy(len, p, sizeof(int32));
	if (*len < 0 || *len > 1024 * 1024)
		return false;
	*str = take(r, *len);
	return *str != NULL;
}

/* Copy a saved text into dst (room for max bytes + NUL), cut to fit */
static bool
fit_text(char *dst, const char *str, int32 len, int max, int encoding)
{
	bool		cut = false;

	len = strnlen(str, len);
	if (len > max)
	{
		len = pg_encoding_mbcliplen(encoding, str, len, max);
		cut = true;
	}
	memcpy(dst, str, len);
	dst[len] = '\0';
	return cut;
}

/* What is wrong with a file, for the WARNING's DETAIL */
typedef enum LoadProblem
{
	LOAD_OK,
	LOAD_MISSING,
	LOAD_UNREADABLE,
	LOAD_UNCLEAN,
	LOAD_TRUNCATED,
	LOAD_CHECKSUM,
	LOAD_FOREIGN,
	LOAD_VERSION,
	LOAD_LAYOUT,
	LOAD_DAMAGED
} LoadProblem;

static void
report(LoadProblem problem, const PersistHeader *hdr)
{
	const char *detail = NULL;

	switch (problem)
	{
		case LOAD_OK:
		case LOAD_MISSING:
			return;
		case LOAD_UNREADABLE:
			detail = "It cannot be read.";
			break;
		case LOAD_UNCLEAN:
			detail = "The server did not shut down cleanly, so the file may be out of date.";
			break;
		case LOAD_TRUNCATED:
			detail = "It is truncated.";
			break;
		case LOAD_CHECKSUM:
			detail = "Its checksum does not match its contents.";
			break;
		case LOAD_FOREIGN:
			detail = "It is not a txguard statistics file.";
			break;
		case LOAD_VERSION:
			ereport(WARNING,
					(errmsg("could not restore txguard's statistics and history from file \"%s\"",
							PERSIST_FILE),
					 errdetail("It was written in format version %u for PostgreSQL %u; this txguard reads format version %d for PostgreSQL %d.",
							   hdr->format, hdr->pg_major, PERSIST_FORMAT,
							   PG_VERSION_NUM / 100),
					 errhint("Nothing needs to be done: txguard starts with empty statistics and history.")));
			return;
		case LOAD_LAYOUT:
			detail = "Its records have another layout.";
			break;
		case LOAD_DAMAGED:
			detail = "Its contents are inconsistent.";
			break;
	}
	ereport(WARNING,
			(errmsg("could not restore txguard's statistics and history from file \"%s\"",
					PERSIST_FILE),
			 errdetail_internal("%s", detail),
			 errhint("Nothing needs to be done: txguard starts with empty statistics and history.")));
}

/* Did the cluster shut down cleanly last time? */
static bool
shut_down_cleanly(void)
{
	bool		crc_ok;
	ControlFileData *cf = get_controlfile(DataDir, &crc_ok);
	bool		clean;

	clean = crc_ok && (cf->state == DB_SHUTDOWNED ||
					   cf->state == DB_SHUTDOWNED_IN_RECOVERY);
	pfree(cf);
	return clean;
}

/* Read the whole file into memory; LOAD_OK or why not */
static LoadProblem
read_file(char **data, Size *len)
{
	struct stat st;
	FILE	   *file;

	if (stat(PERSIST_FILE, &st) != 0)
		return errno == ENOENT ? LOAD_MISSING : LOAD_UNREADABLE;
	if (st.st_size < (off_t) (sizeof(uint32) * 2))
		return LOAD_TRUNCATED;
	if (st.st_size > (off_t) MaxAllocSize)
		return LOAD_DAMAGED;

	file = AllocateFile(PERSIST_FILE, PG_BINARY_R);
	if (file == NULL)
		return LOAD_UNREADABLE;
	*len = (Size) st.st_size;
	*data = palloc(*len);
	if (fread(*data, 1, *len, file) != *len)
	{
		FreeFile(file);
		return LOAD_TRUNCATED;
	}
	FreeFile(file);
	return LOAD_OK;
}

/* Walk one statistics row; false if it does not fit the buffer */
static bool
take_row(Reader *r, uint32 key_size, bool has_text, const char **fixed,
		 const char **str, int32 *tlen)
{
	*fixed = take(r, sizeof(PersistRow) + key_size);
	*str = NULL;
	*tlen = 0;
	if (*fixed == NULL)
		return false;
	return !has_text || take_text(r, str, tlen);
}

/*
 * Check a file read into memory and restore it; nothing is restored unless
 * the whole file is sound.
 */
static LoadProblem
restore(const char *data, Size len, PersistHeader *hdr)
{
	Reader		r;
	pg_crc32c	crc;
	pg_crc32c	saved_crc;
	Size		records_pos;
	uint32		skip;
	uint64		seq;
	bool		has_text[TXG_NSTATS];

	if (len < sizeof(uint32) * 2)
		return LOAD_TRUNCATED;
	memset(hdr, 0, sizeof(PersistHeader));
	memcpy(hdr, data, Min(len, sizeof(PersistHeader)));
	if (hdr->magic != PERSIST_MAGIC)
		return LOAD_FOREIGN;
	if (hdr->format != PERSIST_FORMAT || hdr->pg_major != PG_VERSION_NUM / 100)
		return LOAD_VERSION;
	if (len < sizeof(PersistHeader) + sizeof(pg_crc32c))
		return LOAD_TRUNCATED;
	if (hdr->record_fixed != RECORD_FIXED ||
		hdr->counters_size != sizeof(TxgCountersData))
		return LOAD_LAYOUT;
	for (int i = 0; i < TXG_NSTATS; i++)
	{
		if (hdr->key_size[i] != key_size_of((TxgStatsTable) i))
			return LOAD_LAYOUT;
		has_text[i] = txg_table_text_size(txg_shm.tables[i]) > 0;
	}

	/* the checksum covers everything before it */
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, data, len - sizeof(pg_crc32c));
	FIN_CRC32C(crc);
	memcpy(&saved_crc, data + len - sizeof(pg_crc32c), sizeof(pg_crc32c));
	if (!EQ_CRC32C(crc, saved_crc))
		return LOAD_CHECKSUM;

	/* first pass: every length within the buffer, the counts exact */
	r.data = data;
	r.len = len - sizeof(pg_crc32c);
	r.pos = sizeof(PersistHeader);
	records_pos = r.pos;
	for (uint32 i = 0; i < hdr->n_records; i++)
	{
		const char *str;
		int32		tlen;

		if (take(&r, RECORD_FIXED) == NULL || !take_text(&r, &str, &tlen))
			return LOAD_DAMAGED;
	}
	for (int t = 0; t < TXG_NSTATS; t++)
	{
		for (uint32 i = 0; i < hdr->n_rows[t]; i++)
		{
			const char *fixed;
			const char *str;
			int32		tlen;

			if (!take_row(&r, hdr->key_size[t], has_text[t], &fixed, &str,
						  &tlen))
				return LOAD_DAMAGED;
		}
	}
	if (r.pos != r.len)
		return LOAD_DAMAGED;

	/* second pass: restore, keeping the newest that fit */
	r.pos = records_pos;
	skip = hdr->n_records > (uint32) txg_shm.sh->history_size ?
		hdr->n_records - txg_shm.sh->history_size : 0;
	seq = 0;
	{
		TxgRecord  *rec = palloc0(txg_shm.sh->record_size);

		for (uint32 i = 0; i < hdr->n_records; i++)
		{
			const char *fixed = take(&r, RECORD_FIXED);
			const char *str;
			int32		tlen;

			(void) take_text(&r, &str, &tlen);
			if (i < skip)
				continue;
			memcpy(rec, fixed, RECORD_FIXED);
			txg_record_tidy(rec);
			if (!PG_VALID_BE_ENCODING(rec->encoding))
				rec->encoding = PG_SQL_ASCII;
			if (fit_text(rec->statement, str, tlen,
						 txg_shm.sh->max_statement_length, rec->encoding))
				rec->stmt_truncated = true;
			/* keep the saved positions, in order */
			seq = Max(rec->seq, seq + 1);
			txg_ring_restore(rec, seq);
		}
		pfree(rec);
	}
	txg_ring_restore_counters(hdr->next_seq, hdr->history_dropped);

	for (int t = 0; t < TXG_NSTATS; t++)
	{
		int			max = txg_table_max(txg_shm.tables[t]);
		int			text_size = txg_table_text_size(txg_shm.tables[t]);
		char	   *textbuf = palloc(Max(text_size, 1));

		skip = hdr->n_rows[t] > (uint32) max ? hdr->n_rows[t] - max : 0;
		for (uint32 i = 0; i < hdr->n_rows[t]; i++)
		{
			const char *fixed;
			const char *str;
			int32		tlen;
			PersistRow	pr;
			TxgStatsRow row;

			(void) take_row(&r, hdr->key_size[t], has_text[t], &fixed, &str,
							&tlen);
			if (i < skip)
				continue;
			memcpy(&pr, fixed, sizeof(pr));
			row.key = fixed + sizeof(PersistRow);
			row.counters = pr.counters;
			row.encoding = PG_VALID_BE_ENCODING(pr.encoding) ?
				pr.encoding : PG_SQL_ASCII;
			row.text_truncated = pr.text_truncated;
			row.text = NULL;
			if (has_text[t])
			{
				if (fit_text(textbuf, str, tlen, text_size - 1, row.encoding))
					row.text_truncated = true;
				row.text = textbuf;
			}
			txg_stats_restore((TxgStatsTable) t, &row);
		}
		pfree(textbuf);
	}
	txg_stats_restore_meta(hdr->stats_reset, hdr->evicted);
	return LOAD_OK;
}

/*
 * Called by store.c when the postmaster has created an empty segment.
 */
void
txg_persist_load(void)
{
	char	   *data = NULL;
	Size		len = 0;
	PersistHeader hdr;
	LoadProblem problem;

	if (!txg_persist)
	{
		/* never restore stale data once txguard.persist is turned on again */
		unlink(PERSIST_FILE);
		return;
	}

	memset(&hdr, 0, sizeof(hdr));
	problem = read_file(&data, &len);
	if (problem == LOAD_OK && !shut_down_cleanly())
		problem = LOAD_UNCLEAN;
	if (problem == LOAD_OK)
		problem = restore(data, len, &hdr);

	if (problem == LOAD_OK)
	{
		restored_at = GetCurrentTimestamp();
		ereport(LOG,
				(errmsg("txguard restored the statistics and history saved at %s",
						timestamptz_to_str(hdr.saved_at)),
				 errdetail("History records: %u; statistics keys: %u; statements: %u; databases: %u; applications: %u.",
						   Min(hdr.n_records, (uint32) txg_shm.sh->history_size),
						   Min(hdr.n_rows[TXG_STATS_ROLE], (uint32) TXG_ROLE_STATS_MAX),
						   Min(hdr.n_rows[TXG_STATS_STMT], (uint32) txg_max_statements),
						   Min(hdr.n_rows[TXG_STATS_DB], (uint32) TXG_DB_STATS_MAX),
						   Min(hdr.n_rows[TXG_STATS_APP], (uint32) TXG_APP_STATS_MAX))));
	}
	else
		report(problem, &hdr);

	if (data)
		pfree(data);
	/* never read the same file twice: a crash later starts empty */
	unlink(PERSIST_FILE);
}
