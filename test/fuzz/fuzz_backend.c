/*-------------------------------------------------------------------------
 *
 * fuzz_backend.c
 *	  The few backend symbols the code under test needs outside a server.
 *
 * The encoding tables and functions are the real ones, from libpgcommon
 * (src/common/wchar.c: pg_wchar_table, pg_encoding_max_length).  What is
 * here comes from the backend, which a fuzzer cannot link:
 * standard_conforming_strings (src/backend/parser/scan.l), and
 * pg_mbcliplen() of src/backend/utils/mb/mbutils.c, copied from PostgreSQL
 * 15 with the database encoding as a variable that each input sets.  Add
 * here what a new target's code calls, copied the same way.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_backend.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include "parser/parser.h"

bool		standard_conforming_strings = true;

static int	database_encoding = PG_UTF8;

void
fuzz_set_encoding(int encoding)
{
	database_encoding = encoding;
}

/* mbutils.c: cliplen() */
static int
cliplen(const char *str, int len, int limit)
{
	int			l = 0;

	len = Min(len, limit);
	while (l < len && str[l])
		l++;
	return l;
}

/* mbutils.c: pg_encoding_mbcliplen() */
int
pg_encoding_mbcliplen(int encoding, const char *mbstr,
					  int len, int limit)
{
	mblen_converter mblen_fn;
	int			clen = 0;
	int			l;

	/* optimization for single byte encoding */
	if (pg_encoding_max_length(encoding) == 1)
		return cliplen(mbstr, len, limit);

	mblen_fn = pg_wchar_table[encoding].mblen;

	while (len > 0 && *mbstr)
	{
		l = (*mblen_fn) ((const unsigned char *) mbstr);
		if ((clen + l) > limit)
			break;
		clen += l;
		if (clen == limit)
			break;
		len -= l;
		mbstr += l;
	}
	return clen;
}

/* mbutils.c: pg_mbcliplen() */
int
pg_mbcliplen(const char *mbstr, int len, int limit)
{
	return pg_encoding_mbcliplen(database_encoding, mbstr, len, limit);
}
