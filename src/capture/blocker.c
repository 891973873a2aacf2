/*-------------------------------------------------------------------------
 *
 * blocker.c
 *	  Who held the lock an error waited for: a deadlock, a lock_timeout, a
 *	  statement_timeout or cancel that came while waiting for a lock.
 *
 * What was waited on.  Core tells nobody which lock a statement was
 * waiting for when its lock_timeout or statement_timeout fires: by the
 * time the error is reported the backend has left the lock's wait queue.
 * txguard learns it from core's own log_lock_waits report, "process N
 * still waiting for ShareLock on transaction 739 after 1000.072 ms", which
 * passes through emit_log_hook while the backend still waits: the lock
 * (MyProc->waitLock, which cannot go away while this backend waits on it)
 * and the mode are copied then (txg_blocker_note).  So a lock wait is seen
 * only with log_lock_waits = on, once it lasted deadlock_timeout.  A
 * deadlock needs none of that: core's DETAIL names the processes of the
 * cycle, and the one that blocked this backend is the process named right
 * after it ("Process 12 waits for ...; blocked by process 34."); the
 * numbers are found by the word that precedes this backend's own pid, so
 * that a translated DETAIL works too.
 *
 * Who held it.  At the error (txg_blocker_capture, inside emit_log_hook)
 * txguard takes no lock and allocates nothing: for a deadlock, and for a
 * wait on a transaction id (a row lock: the holder is the backend whose
 * transaction has that id, found by reading the PGPROC array), the
 * blocking session is looked up at once.  So is the holder of any other
 * lock when core's log_lock_waits report named exactly one holder besides
 * this backend (its DETAIL lists them first: sole_holder).  For any other
 * lock the holders are asked of the lock manager (GetLockConflicts, which
 * takes the lock's partition lock) at the next safe point: the end of the
 * block, or of the session (txg_blocker_resolve); inside an aborted block
 * every statement is refused before txguard could look.  The holder may be
 * gone by then: the record then says "gone".
 *
 * What txguard keeps of the blocker: its pid, role, application, backend
 * start and transaction start, and its statement at that moment, read from
 * core's activity entries in shared memory with their change-count
 * protocol (no lock, a bounded copy), as pg_stat_activity reads them; the
 * statement is shown under the visibility rule of its own role.  Without
 * the activity entries (PostgreSQL 13) the blocker's details stay empty.
 *
 * State: the lock noted during the current statement (a plain copy of a
 * LOCKTAG) and the lookup that waits for a safe point.  Backend-local, no
 * pointer into memory txguard does not own.
 *
 * IDENTIFICATION
 *	  src/capture/blocker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "utils/timestamp.h"

#include "blocker.h"
#include "compat.h"

/* A lock this backend was seen waiting for */
typedef struct NotedWait
{
	bool		valid;
	TimestampTz stmt_start;		/* of the statement that waited */
	LOCKTAG		tag;
	LOCKMODE	mode;
	int			holder;			/* the one other holder core named, or 0 */
} NotedWait;

static NotedWait noted;

/* A lookup that needs the lock manager: done at a safe point */
static NotedWait pending;

/* The untranslated messages of core's log_lock_waits reports */
static bool
message_is(const ErrorData *edata, const char *msgid)
{
	return edata->message_id != NULL && strcmp(edata->message_id, msgid) == 0;
}

/*
 * The holder core's report names, if it names exactly one other than this
 * backend: its detail starts with the list of the lock's holders, "Process
 * holding the lock: 12. Wait queue: 34, 56." (pids separated by ", ", in
 * any language), which it read under the lock's partition lock.
 */
static int
sole_holder(const char *detail)
{
	const char *p = detail;
	int			holder = 0;
	int			others = 0;

	if (p == NULL)
		return 0;
	while (*p != '\0' && (*p < '0' || *p > '9'))
		p++;
	while (*p >= '0' && *p <= '9')
	{
		int			pid = atoi(p);

		if (pid != MyProcPid)
		{
			holder = pid;
			others++;
		}
		while (*p >= '0' && *p <= '9')
			p++;
		if (p[0] != ',' || p[1] != ' ')
			break;
		p += 2;
	}
	return others == 1 ? holder : 0;
}

void
txg_blocker_note(const ErrorData *edata)
{
	if (MyProc == NULL)
		return;
	if (message_is(edata, "process %d still waiting for %s on %s after %ld.%03d ms"))
	{
		LOCK	   *lock = MyProc->waitLock;

		if (lock == NULL)
			return;
		noted.tag = lock->tag;
		noted.mode = MyProc->waitLockMode;
		noted.holder = sole_holder(edata->detail_log);
		noted.stmt_start = GetCurrentStatementStartTimestamp();
		noted.valid = true;
	}
	else if (message_is(edata, "process %d acquired %s on %s after %ld.%03d ms"))
		noted.valid = false;
}

/* ---- the blocking session's details ---- */

/*
 * The blocker's statement is kept in this database's encoding, as the
 * record's other texts: from another database (whose encoding may differ)
 * only if it is plain ASCII.  A text core cut in the middle of a character
 * loses that character.
 */
static void
keep_statement(char *str, bool other_db)
{
	int			len = strlen(str);

	if (other_db)
	{
		for (int i = 0; i < len; i++)
		{
			if (IS_HIGHBIT_SET(str[i]))
			{
				str[0] = '\0';
				return;
			}
		}
		return;
	}
	str[pg_mbcliplen(str, len, len)] = '\0';
}

/*
 * Fill rec's blocker fields from the activity entry of 'pid'; false if
 * there is none.  Lock-free: core's change-count protocol, a bounded number
 * of tries.
 */
static bool
fill_from_activity(TxgRecord *rec, int pid)
{
	PgBackendStatus *base = TXG_BE_ARRAY();
	int			n = TXG_MAX_BACKENDS();

	if (base == NULL)
		return false;
	for (int i = 0; i < n; i++)
	{
		volatile PgBackendStatus *be = base + i;

		for (int attempt = 0; attempt < 10; attempt++)
		{
			int			before;
			int			after;
			bool		match;
			bool		other_db = false;

			pgstat_begin_read_activity(be, before);
			match = (be->st_procpid == pid);
			if (match)
			{
				rec->blocker_userid = be->st_userid;
				rec->blocker_backend_start = be->st_proc_start_timestamp;
				rec->blocker_xact_start = be->st_xact_start_timestamp;
				strlcpy(rec->blocker_appname, (char *) be->st_appname,
						sizeof(rec->blocker_appname));
				strlcpy(rec->blocker_statement, (char *) be->st_activity_raw,
						sizeof(rec->blocker_statement));
				other_db = (be->st_databaseid != MyDatabaseId);
			}
			pgstat_end_read_activity(be, after);
			if (pgstat_read_activity_complete(before, after))
			{
				if (match)
				{
					keep_statement(rec->blocker_statement, other_db);
					return true;
				}
				break;
			}
		}
	}
	return false;
}

/*
 * The blocker is 'pid' (0: none could be found).  Without the activity
 * entries (PostgreSQL 13) only its pid is known.
 */
static void
set_found(TxgRecord *rec, int pid)
{
	rec->blocker_pid = pid;
	if (pid != 0 && pid != MyProcPid &&
		(TXG_BE_ARRAY() == NULL || fill_from_activity(rec, pid)))
		rec->blocker_state = TXG_BLOCKER_FOUND;
	else
		rec->blocker_state = TXG_BLOCKER_GONE;
}

/* The backend whose transaction has id 'xid', or 0.  Lock-free reads. */
static int
pid_of_xid(TransactionId xid)
{
	for (uint32 i = 0; i < ProcGlobal->allProcCount; i++)
	{
		volatile PGPROC *proc = &ProcGlobal->allProcs[i];
		int			pid = proc->pid;
		int			nsub;

		if (pid == 0 || pid == MyProcPid)
			continue;
		if (TransactionIdEquals(TXG_PROC_XID(i), xid))
			return pid;
		nsub = Min(TXG_PROC_NSUBXIDS(i), PGPROC_MAX_CACHED_SUBXIDS);
		for (int j = 0; j < nsub; j++)
		{
			if (TransactionIdEquals(proc->subxids.xids[j], xid))
				return pid;
		}
	}
	return 0;
}

/*
 * In core's deadlock DETAIL, the process named right after this backend:
 * "Process <me> waits for ...; blocked by process <pid>."  The word before
 * this backend's own pid is the one before every pid, in any language.
 */
static int
deadlock_partner(const char *detail)
{
	char		mine[16];
	const char *p;
	const char *word;
	int			wlen;

	if (detail == NULL)
		return 0;
	snprintf(mine, sizeof(mine), " %d", MyProcPid);
	for (p = strstr(detail, mine); p != NULL; p = strstr(p + 1, mine))
	{
		const char *after = p + strlen(mine);

		if (*after < '0' || *after > '9')
			break;
	}
	if (p == NULL)
		return 0;
	/* the word before it */
	word = p;
	while (word > detail && word[-1] != ' ' && word[-1] != '\n')
		word--;
	wlen = p - word;
	if (wlen <= 0 || wlen > 64)
		return 0;

	/* the next "<word> <digits>" after our own */
	for (const char *q = p + strlen(mine); *q; q++)
	{
		if (strncasecmp(q, word, wlen) == 0 && q[wlen] == ' ' &&
			q[wlen + 1] >= '0' && q[wlen + 1] <= '9')
		{
			int			pid = atoi(q + wlen + 1);

			if (pid != MyProcPid)
				return pid;
		}
	}
	return 0;
}

/* A lock in words, as pg_locks and core's messages name it */
static void
describe(char *buf, int size, const LOCKTAG *tag, LOCKMODE mode)
{
	const char *m = GetLockmodeName(tag->locktag_lockmethodid, mode);

	switch ((LockTagType) tag->locktag_type)
	{
		case LOCKTAG_RELATION:
			snprintf(buf, size, "%s on relation %u of database %u", m,
					 tag->locktag_field2, tag->locktag_field1);
			break;
		case LOCKTAG_TUPLE:
			snprintf(buf, size, "%s on tuple (%u,%u) of relation %u of database %u",
					 m, tag->locktag_field3, tag->locktag_field4,
					 tag->locktag_field2, tag->locktag_field1);
			break;
		case LOCKTAG_TRANSACTION:
			snprintf(buf, size, "%s on transaction %u", m, tag->locktag_field1);
			break;
		case LOCKTAG_VIRTUALTRANSACTION:
			snprintf(buf, size, "%s on virtual transaction %d/%u", m,
					 tag->locktag_field1, tag->locktag_field2);
			break;
		case LOCKTAG_ADVISORY:
			snprintf(buf, size, "%s on advisory lock [%u,%u,%u,%d]", m,
					 tag->locktag_field1, tag->locktag_field2,
					 tag->locktag_field3, tag->locktag_field4);
			break;
		default:
			snprintf(buf, size, "%s on a lock of type %d", m,
					 (int) tag->locktag_type);
			break;
	}
}

/*
 * An error is about to abort: was it about a lock, and who held it?
 * Inside emit_log_hook: no lock, no allocation, no ERROR.
 */
void
txg_blocker_capture(TxgRecord *rec, const ErrorData *edata)
{
	bool		waited = noted.valid &&
	noted.stmt_start == GetCurrentStatementStartTimestamp();

	pending.valid = false;
	rec->blocker_state = TXG_BLOCKER_NONE;
	rec->lock_waited[0] = '\0';
	if (edata->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED)
	{
		set_found(rec, deadlock_partner(edata->detail));
		if (rec->blocker_pid == 0)
			rec->blocker_state = TXG_BLOCKER_UNKNOWN;
	}
	else if (waited && (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
						edata->sqlerrcode == ERRCODE_QUERY_CANCELED))
	{
		describe(rec->lock_waited, sizeof(rec->lock_waited), &noted.tag,
				 noted.mode);
		if (noted.tag.locktag_type == LOCKTAG_TRANSACTION)
			set_found(rec, pid_of_xid(noted.tag.locktag_field1));
		else if (noted.holder != 0)
			set_found(rec, noted.holder);
		else
		{
			rec->blocker_state = TXG_BLOCKER_PENDING;
			pending = noted;
		}
	}
	else if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
		rec->blocker_state = TXG_BLOCKER_UNKNOWN;
	noted.valid = false;
}

bool
txg_blocker_pending(void)
{
	return pending.valid;
}

/*
 * At a safe point: ask the lock manager who holds the lock noted for rec,
 * and fill in the first holder that is not this backend.
 */
bool
txg_blocker_resolve(TxgRecord *rec)
{
	VirtualTransactionId *vxids;
	int			count = 0;
	int			pid = 0;

	if (!pending.valid)
		return false;
	pending.valid = false;
	if (rec->blocker_state != TXG_BLOCKER_PENDING)
		return false;

	vxids = GetLockConflicts(&pending.tag, pending.mode, &count);
	for (int i = 0; i < count && pid == 0; i++)
	{
		PGPROC	   *proc;

		if (!VirtualTransactionIdIsValid(vxids[i]))
			continue;
		proc = TXG_VXID_PROC(vxids[i]);
		if (proc != NULL && proc->pid != MyProcPid)
			pid = proc->pid;
	}
	set_found(rec, pid);
	return true;
}
