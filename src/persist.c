/*-------------------------------------------------------------------------
 *
 * persist.c
 *	  Keep txguard's statistics and history across a clean restart, as
 *	  pg_stat_statements keeps its own: the postmaster writes them to
 *	  pg_stat/txguard.stat at shutdown and reads them back at start-up.
 *
 * Saving.  At the postmaster's exit (on_shmem_exit, registered by
 * shmem.c), when txguard.persist is on: the file is written to a temporary
 * name, fsynced, and renamed durably over the old one, so a crash while
 * saving leaves the previous file or none, never half a file.
 *
 * Loading.  When the postmaster creates the segment (shmem.c), before any
 * backend runs.  The whole file is read and checked before anything is
 * restored: its magic and format version, the layout of the records it
 * holds, the checksum over its contents, and every length against what is
 * left of the buffer, so that a truncated, damaged or foreign file can
 * never be read past its end.  Any problem, a missing file, or a last
 * shutdown that was not clean (then core discards its statistics too) is
 * reported with one WARNING, and txguard starts empty.  The file is removed
 * once read, so a crash restart later never brings back old data.
 *
 * A file written with other sizes is loaded as far as it fits: the newest
 * history records that fit txguard.history_size, the most recently seen
 * statements that fit txguard.max_statements, texts cut to
 * txguard.max_statement_length on a character boundary.
 *
 * Both run in the postmaster (or a single-user backend) while no other
 * process uses the segment, so no lock is needed; they may allocate and
 * raise errors like any start-up code, but loading catches nothing: it
 * checks, and never ERRORs on bad data.
 *
 * IDENTIFICATION
 *	  src/persist.c
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

#include "compat.h"
#include "shmem.h"
#include "txguard.h"

#define PERSIST_FILE		PGSTAT_STAT_PERMANENT_DIRECTORY "/txguard.stat"
#define PERSIST_TMPFILE		PERSIST_FILE ".tmp"

#define PERSIST_MAGIC		0x54584753	/* "TXGS" */
#define PERSIST_FORMAT		1

/* Sizes of the fixed parts, to recognise a file of another layout */
#define RECORD_FIXED		offsetof(TxgRecord, statement)
#define STMT_FIXED			offsetof(TxgStmtStatsEntry, text)

/* The file: this header, then the sections, then a CRC of all before it */
typedef struct PersistHeader
{
	uint32		magic;
	uint32		format;
	uint32		pg_major;		/* PG_VERSION_NUM / 100 */
	uint32		record_fixed;
	uint32		stmt_fixed;
	uint32		stats_entry_size;
	uint32		db_entry_size;
	int32		history_size;	/* settings that sized the data */
	int32		max_statement_length;
	int32		max_statements;
	uint64		next_seq;
	TimestampTz stats_reset;
	TimestampTz saved_at;
	int64		history_dropped;
	int64		stats_dropped;
	int64		stmt_evicted;
	int64		db_dropped;
	uint32		n_records;		/* oldest first */
	uint32		n_stats;
	uint32		n_db;
	uint32		n_stmt;			/* least recently seen first */
} PersistHeader;

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
put_text(Writer *w, const char *text)
{
	int32		len = strlen(text);

	put(w, &len, sizeof(len));
	put(w, text, len);
}

/*
 * on_shmem_exit callback of the postmaster: save everything.
 */
void
txg_persist_save(int code, Datum arg)
{
	Writer		w;
	PersistHeader hdr;
	uint64		next;
	uint64		first;
	char	   *buf;

	/* never after a crash, and only if wanted */
	if (code != 0 || txg_sh == NULL)
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
	hdr.stmt_fixed = STMT_FIXED;
	hdr.stats_entry_size = sizeof(TxgStatsEntry);
	hdr.db_entry_size = sizeof(TxgDbStatsEntry);
	hdr.history_size = txg_sh->history_size;
	hdr.max_statement_length = txg_sh->max_statement_length;
	hdr.max_statements = txg_sh->max_statements;
	hdr.stats_reset = txg_sh->stats_reset;
	hdr.saved_at = GetCurrentTimestamp();
	hdr.history_dropped = (int64) pg_atomic_read_u64(&txg_sh->dropped);
	hdr.stats_dropped = txg_sh->stats_dropped;
	hdr.stmt_evicted = txg_sh->stmt_evicted;
	hdr.db_dropped = txg_sh->db_dropped;

	/* the visible ring records, oldest first */
	next = pg_atomic_read_u64(&txg_sh->next_seq);
	hdr.next_seq = next;
	first = next > (uint64) txg_sh->history_size ?
		next - txg_sh->history_size + 1 : 1;
	if (first <= pg_atomic_read_u64(&txg_sh->reset_seq))
		first = pg_atomic_read_u64(&txg_sh->reset_seq) + 1;
	buf = palloc(txg_sh->entry_size);
	for (uint64 seq = first; seq <= next; seq++)
	{
		TxgEntryHeader *e = txg_ring_entry_at((int) ((seq - 1) % txg_sh->history_size));

		if (txg_entry_read(e, buf, txg_sh->entry_size) &&
			ENTRY_RECORD(buf)->seq == seq)
			hdr.n_records++;
	}
	for (int i = 0; i < TXG_STATS_ENTRIES; i++)
		hdr.n_stats += txg_sh_stats[i].used ? 1 : 0;
	for (int i = 0; i < TXG_DB_ENTRIES; i++)
		hdr.n_db += txg_sh_dbstats[i].used ? 1 : 0;
	hdr.n_stmt = txg_sh->stmt_used;

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

	for (uint64 seq = first; seq <= next; seq++)
	{
		TxgEntryHeader *e = txg_ring_entry_at((int) ((seq - 1) % txg_sh->history_size));
		TxgRecord  *rec = ENTRY_RECORD(buf);

		if (!txg_entry_read(e, buf, txg_sh->entry_size) || rec->seq != seq)
			continue;
		put(&w, rec, RECORD_FIXED);
		put_text(&w, rec->statement);
	}
	for (int i = 0; i < TXG_STATS_ENTRIES; i++)
		if (txg_sh_stats[i].used)
			put(&w, &txg_sh_stats[i], sizeof(TxgStatsEntry));
	for (int i = 0; i < TXG_DB_ENTRIES; i++)
		if (txg_sh_dbstats[i].used)
			put(&w, &txg_sh_dbstats[i], sizeof(TxgDbStatsEntry));
	for (int i = txg_sh->stmt_lru_tail; i >= 0; i = txg_stmt_entry(i)->lru_prev)
	{
		TxgStmtStatsEntry *e = txg_stmt_entry(i);

		put(&w, e, STMT_FIXED);
		put_text(&w, e->text);
	}

	FIN_CRC32C(w.crc);
	if (!w.failed && fwrite(&w.crc, 1, sizeof(w.crc), w.file) != sizeof(w.crc))
		w.failed = true;
	if (FreeFile(w.file) != 0)
		w.failed = true;
	pfree(buf);

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
take_text(Reader *r, const char **text, int32 *len)
{
	const char *p = take(r, sizeof(int32));

	if (p == NULL)
		return false;
	memcpy(len, p, sizeof(int32));
	if (*len < 0 || *len > 1024 * 1024)
		return false;
	*text = take(r, *len);
	return *text != NULL;
}

/* Copy a saved text into dst (room for max bytes + NUL), cut to fit */
static bool
fit_text(char *dst, const char *text, int32 len, int max, int encoding)
{
	bool		cut = false;

	len = strnlen(text, len);
	if (len > max)
	{
		len = pg_encoding_mbcliplen(encoding, text, len, max);
		cut = true;
	}
	memcpy(dst, text, len);
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
			return;
		case LOAD_MISSING:
			ereport(WARNING,
					(errmsg("txguard found no saved statistics and history, and starts empty"),
					 errdetail("File \"%s\" does not exist, as at the first start and after a crash.",
							   PERSIST_FILE)));
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
					 errhint("txguard starts with empty statistics and history.")));
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
			 errhint("txguard starts with empty statistics and history.")));
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
	if (st.st_size < (off_t) (sizeof(PersistHeader) + sizeof(pg_crc32c)))
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
	uint32		skip_records;
	uint32		skip_stmt;
	uint64		seq;

	memcpy(hdr, data, sizeof(PersistHeader));
	if (hdr->magic != PERSIST_MAGIC)
		return LOAD_FOREIGN;
	if (hdr->format != PERSIST_FORMAT || hdr->pg_major != PG_VERSION_NUM / 100)
		return LOAD_VERSION;
	if (hdr->record_fixed != RECORD_FIXED || hdr->stmt_fixed != STMT_FIXED ||
		hdr->stats_entry_size != sizeof(TxgStatsEntry) ||
		hdr->db_entry_size != sizeof(TxgDbStatsEntry))
		return LOAD_LAYOUT;

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
		const char *text;
		int32		tlen;

		if (take(&r, RECORD_FIXED) == NULL || !take_text(&r, &text, &tlen))
			return LOAD_DAMAGED;
	}
	if (take(&r, (Size) hdr->n_stats * sizeof(TxgStatsEntry)) == NULL ||
		take(&r, (Size) hdr->n_db * sizeof(TxgDbStatsEntry)) == NULL)
		return LOAD_DAMAGED;
	for (uint32 i = 0; i < hdr->n_stmt; i++)
	{
		const char *text;
		int32		tlen;

		if (take(&r, STMT_FIXED) == NULL || !take_text(&r, &text, &tlen))
			return LOAD_DAMAGED;
	}
	if (r.pos != r.len)
		return LOAD_DAMAGED;

	/* second pass: restore, keeping the newest that fit */
	r.pos = records_pos;
	skip_records = hdr->n_records > (uint32) txg_sh->history_size ?
		hdr->n_records - txg_sh->history_size : 0;
	seq = 0;
	{
		TxgRecord  *rec = palloc0(txg_sh->record_size);

		for (uint32 i = 0; i < hdr->n_records; i++)
		{
			const char *fixed = take(&r, RECORD_FIXED);
			const char *text;
			int32		tlen;

			(void) take_text(&r, &text, &tlen);
			if (i < skip_records)
				continue;
			memcpy(rec, fixed, RECORD_FIXED);
			if (!PG_VALID_BE_ENCODING(rec->encoding))
				rec->encoding = PG_SQL_ASCII;
			if (fit_text(rec->statement, text, tlen,
						 txg_sh->max_statement_length, rec->encoding))
				rec->stmt_truncated = true;
			/* keep the saved positions, in order */
			seq = Max(rec->seq, seq + 1);
			txg_ring_restore(rec, seq);
		}
		pfree(rec);
	}
	if (pg_atomic_read_u64(&txg_sh->next_seq) < hdr->next_seq)
		pg_atomic_write_u64(&txg_sh->next_seq, hdr->next_seq);
	pg_atomic_write_u64(&txg_sh->dropped, (uint64) Max(hdr->history_dropped, 0));

	for (uint32 i = 0; i < hdr->n_stats; i++)
	{
		TxgStatsEntry e;

		memcpy(&e, take(&r, sizeof(e)), sizeof(e));
		txg_stats_restore_role(&e);
	}
	for (uint32 i = 0; i < hdr->n_db; i++)
	{
		TxgDbStatsEntry e;

		memcpy(&e, take(&r, sizeof(e)), sizeof(e));
		txg_stats_restore_db(&e);
	}
	skip_stmt = hdr->n_stmt > (uint32) txg_sh->max_statements ?
		hdr->n_stmt - txg_sh->max_statements : 0;
	{
		TxgStmtStatsEntry *e = palloc0(txg_sh->stmt_entry_size);

		for (uint32 i = 0; i < hdr->n_stmt; i++)
		{
			const char *fixed = take(&r, STMT_FIXED);
			const char *text;
			int32		tlen;

			(void) take_text(&r, &text, &tlen);
			if (i < skip_stmt)
				continue;
			memcpy(e, fixed, STMT_FIXED);
			if (!PG_VALID_BE_ENCODING(e->encoding))
				e->encoding = PG_SQL_ASCII;
			if (fit_text(e->text, text, tlen, txg_sh->max_statement_length,
						 e->encoding))
				e->text_truncated = true;
			txg_stats_restore_stmt(e);
		}
		pfree(e);
	}
	txg_stats_restore_counters(hdr->stats_reset, hdr->stats_dropped,
							   hdr->stmt_evicted, hdr->db_dropped);
	return LOAD_OK;
}

/*
 * Called by shmem.c when the postmaster has created an empty segment.
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
				 errdetail("History records: %u; statistics keys: %u; statements: %u; databases: %u.",
						   Min(hdr.n_records, (uint32) txg_sh->history_size),
						   hdr.n_stats,
						   Min(hdr.n_stmt, (uint32) txg_sh->max_statements),
						   hdr.n_db)));
	}
	else
		report(problem, &hdr);

	if (data)
		pfree(data);
	/* never read the same file twice: a crash later starts empty */
	unlink(PERSIST_FILE);
}
