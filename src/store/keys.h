/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  The statistics tables and the key of each: what the store counts by.
 *
 * Keys are compared and hashed as bytes, so they are always zero-filled
 * before their fields are set.
 *
 * IDENTIFICATION
 *	  src/store/keys.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXGUARD_KEYS_H
#define TXGUARD_KEYS_H

#include "record.h"

typedef enum TxgStatsTable
{
	TXG_STATS_ROLE,				/* txguard_stats */
	TXG_STATS_STMT,				/* txguard_statement_stats */
	TXG_STATS_DB,				/* txguard_database_stats */
	TXG_STATS_APP,				/* txguard_application_stats */
	TXG_NSTATS
} TxgStatsTable;

typedef struct TxgRoleKey
{
	Oid			dbid;
	Oid			userid;
	int32		sqlerrcode;
} TxgRoleKey;

typedef struct TxgStmtKey
{
	Oid			dbid;
	Oid			userid;
	uint64		queryid;
	int32		sqlerrcode;
	int32		pad;
} TxgStmtKey;

typedef struct TxgDbKey
{
	Oid			dbid;
} TxgDbKey;

typedef struct TxgAppKey
{
	Oid			dbid;
	int32		sqlerrcode;
	char		appname[TXG_APPNAME_LEN];
} TxgAppKey;
#endif							/* TXGUARD_KEYS_H */
