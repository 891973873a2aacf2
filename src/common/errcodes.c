/*-------------------------------------------------------------------------
 *
 * errcodes.c
 *	  What a SQLSTATE means: its condition name (unique_violation), its
 *	  class (23, Integrity Constraint Violation) and whether retrying the
 *	  transaction can succeed unchanged.
 *
 * The names come from errcodes_table.h, which the build generates from the
 * server's own errcodes.txt (src/common/gen_errcodes.pl): no hand-kept copy.
 *
 * The retry rule (the README's "Error classes") follows PostgreSQL's
 * documentation on serialization failure handling and what retry
 * frameworks retry: the transaction can succeed unchanged if it failed
 * because of other transactions or of the server's state, not because of
 * what it does:
 *	- class 40, transaction rollback: serialization_failure (40001, also a
 *	  query canceled by a recovery conflict on a standby),
 *	  deadlock_detected (40P01), transaction_rollback (40000),
 *	  statement_completion_unknown (40003); not
 *	  transaction_integrity_constraint_violation (40002);
 *	- lock_not_available (55P03: lock_timeout, NOWAIT);
 *	- class 08, connection exception, and the server going away or not
 *	  accepting connections yet: admin_shutdown (57P01), crash_shutdown
 *	  (57P02), cannot_connect_now (57P03), too_many_connections (53300).
 * unique_violation (23505) and exclusion_violation (23P01) are sometimes
 * worth retrying too (a concurrent insert of the same key), but only the
 * application can tell: they are not marked retryable.
 *
 * Pure functions: no state, no locks, never an ERROR.
 *
 * IDENTIFICATION
 *	  src/common/errcodes.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/elog.h"

#include "errcodes.h"

typedef struct TxgErrcode
{
	const char *sqlstate;
	const char *name;
} TxgErrcode;

typedef struct TxgErrclass
{
	const char *class_code;
	const char *name;
} TxgErrclass;

#include "errcodes_table.h"

static int
cmp_errcode(const void *key, const void *elem)
{
	return strcmp((const char *) key, ((const TxgErrcode *) elem)->sqlstate);
}

static int
cmp_errclass(const void *key, const void *elem)
{
	return strncmp((const char *) key,
				   ((const TxgErrclass *) elem)->class_code, 2);
}

/* The condition name of a SQLSTATE, or NULL if the server has none */
const char *
txg_condition_name(int sqlerrcode)
{
	const char *s = unpack_sql_state(sqlerrcode);
	const TxgErrcode *e;

	e = bsearch(s, txg_errcodes, lengthof(txg_errcodes),
				sizeof(TxgErrcode), cmp_errcode);
	return e ? e->name : NULL;
}

/* The name of a SQLSTATE's class, or NULL if the server has none */
const char *
txg_class_name(int sqlerrcode)
{
	const char *s = unpack_sql_state(sqlerrcode);
	const TxgErrclass *c;

	c = bsearch(s, txg_errclasses, lengthof(txg_errclasses),
				sizeof(TxgErrclass), cmp_errclass);
	return c ? c->name : NULL;
}

/* Can retrying the transaction succeed unchanged?  See the file header. */
bool
txg_retryable(int sqlerrcode)
{
	switch (sqlerrcode)
	{
		case ERRCODE_TRANSACTION_ROLLBACK:
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
		case ERRCODE_T_R_DEADLOCK_DETECTED:
		case ERRCODE_T_R_STATEMENT_COMPLETION_UNKNOWN:
		case ERRCODE_LOCK_NOT_AVAILABLE:
		case ERRCODE_ADMIN_SHUTDOWN:
		case ERRCODE_CRASH_SHUTDOWN:
		case ERRCODE_CANNOT_CONNECT_NOW:
		case ERRCODE_TOO_MANY_CONNECTIONS:
			return true;
		default:
			return ERRCODE_TO_CATEGORY(sqlerrcode) ==
				ERRCODE_CONNECTION_EXCEPTION;
	}
}

/* Every SQLSTATE the server knows, for txguard_error_codes() */
int
txg_errcodes_count(void)
{
	return lengthof(txg_errcodes);
}

const char *
txg_errcodes_sqlstate(int i)
{
	return txg_errcodes[i].sqlstate;
}
