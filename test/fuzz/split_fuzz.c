/*-------------------------------------------------------------------------
 *
 * split_fuzz.c
 *	  Fuzz target "split": the statement splitter of src/capture/stmtsplit.c
 *	  (txg_split_next, txg_split_at, txg_split_rest_is_empty,
 *	  txg_split_content_end, txg_split_single) on any text, checked
 *	  against its contract.
 *
 * FUZZ_SOURCES: src/capture/stmtsplit.c
 *
 * The text is split from its start, statement by statement, as stmt.c does,
 * and every answer is checked:
 *	- bounds: from <= start < end <= len; every call makes progress;
 *	- what separates statements: only blanks and semicolons lie between the
 *	  end of a statement and the start of the next (comments before a
 *	  statement belong to it), a statement starts on a non-blank, and ends at
 *	  its semicolon or at the end of the text; it holds a token (it is not
 *	  only comments);
 *	- the functions agree: txg_split_next finds a statement exactly when
 *	  txg_split_rest_is_empty says there is one; splitting again from a
 *	  statement's start finds the same statement; txg_split_at returns one of
 *	  the statements found, the one whose span (up to and including its
 *	  semicolon) holds the position, or the next one for a position between
 *	  them; false only past the last terminated statement;
 *	- txg_split_content_end: ends inside the last statement, after its
 *	  start, on a non-blank; nothing but blanks, semicolons and comments
 *	  after it; 0 exactly when there is no statement;
 *	- txg_split_single, when it answers, gives txg_split_next's first
 *	  statement;
 *	- a statement's span does not depend on the text after its semicolon;
 *	- without a backslash, standard_conforming_strings changes nothing;
 *	- on valid UTF8, every offset is on a character boundary.
 *
 * Parameters from the header: scs; encoding and valid (only the UTF8
 * boundary check uses them); n1 a position for txg_split_at, n2 a 'from'
 * for txg_split_next, both from -2 to len + 2; pick a statement.
 *
 * IDENTIFICATION
 *	  test/fuzz/split_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include <stdlib.h>

#include "parser/parser.h"

#include "stmtsplit.h"

typedef struct Span
{
	int			start;
	int			end;
} Span;

/* Split s[0..len) from its start; checks each answer; returns the count */
static int
split_all(const char *s, int len, Span *spans)
{
	int			n = 0;
	int			from = 0;
	int			start,
				end;

	while (txg_split_next(s, len, from, &start, &end))
	{
		FUZZ_CHECK(n < len, "more statements (%d) than bytes (%d)", n + 1, len);
		FUZZ_CHECK(from <= start && start < end && end <= len,
				   "from %d: statement [%d, %d) of a text of %d bytes",
				   from, start, end, len);
		FUZZ_CHECK(!txg_split_rest_is_empty(s, len, from),
				   "from %d: a statement [%d, %d) where the rest is empty",
				   from, start, end);
		for (int i = from; i < start; i++)
			FUZZ_CHECK(fuzz_is_blank(s[i]) || s[i] == ';',
					   "from %d: byte %d (0x%02x) skipped before statement [%d, %d)",
					   from, i, (unsigned char) s[i], start, end);
		FUZZ_CHECK(!fuzz_is_blank(s[start]),
				   "statement [%d, %d) starts on a blank", start, end);
		FUZZ_CHECK(end == len || s[end] == ';',
				   "statement [%d, %d) ends on 0x%02x, not a semicolon",
				   start, end, (unsigned char) s[end]);
		FUZZ_CHECK(!txg_split_rest_is_empty(s, end, start),
				   "statement [%d, %d) holds nothing but comments", start, end);

		{
			int			start2,
						end2;

			FUZZ_CHECK(txg_split_next(s, len, start, &start2, &end2) &&
					   start2 == start && end2 == end,
					   "statement [%d, %d) split again from its start", start, end);
		}
		spans[n].start = start;
		spans[n].end = end;
		n++;
		from = end;
	}
	FUZZ_CHECK(txg_split_rest_is_empty(s, len, from),
			   "no statement after %d, but the rest is not empty", from);
	return n;
}

/* txg_split_at(pos) against the statements found */
static void
check_at(const char *s, int len, const Span *spans, int n, int pos)
{
	int			start,
				end,
				k;

	if (!txg_split_at(s, len, pos, &start, &end))
	{
		FUZZ_CHECK(n == 0 || (spans[n - 1].end < len && pos >= spans[n - 1].end),
				   "no statement at %d, but %d statements, the last [%d, %d)",
				   pos, n, n ? spans[n - 1].start : -1, n ? spans[n - 1].end : -1);
		return;
	}
	FUZZ_CHECK(n > 0, "statement [%d, %d) at %d in a text without any", start, end, pos);
	for (k = 0; k < n; k++)
		if (spans[k].start == start && spans[k].end == end)
			break;
	FUZZ_CHECK(k < n, "statement [%d, %d) at %d is not one of the %d found",
			   start, end, pos, n);
	FUZZ_CHECK(k == 0 || pos >= spans[k - 1].end,
			   "position %d, before the end %d of statement %d, given to statement %d",
			   pos, spans[k - 1].end, k - 1, k);
	FUZZ_CHECK(k == n - 1 || pos < spans[k + 1].start,
			   "position %d, at or after the start %d of statement %d, given to statement %d",
			   pos, spans[k + 1].start, k + 1, k);
}

static int
check_content_end(const char *s, int len, const Span *spans, int n)
{
	int			ce = txg_split_content_end(s, len);

	FUZZ_CHECK(ce >= 0 && ce <= len, "content end %d of %d bytes", ce, len);
	FUZZ_CHECK((ce == 0) == (n == 0), "content end %d with %d statements", ce, n);
	if (n > 0)
		FUZZ_CHECK(ce > spans[n - 1].start && ce <= spans[n - 1].end,
				   "content end %d outside the last statement [%d, %d)",
				   ce, spans[n - 1].start, spans[n - 1].end);
	FUZZ_CHECK(ce == 0 || !fuzz_is_blank(s[ce - 1]),
			   "content end %d after a blank", ce);
	FUZZ_CHECK(txg_split_rest_is_empty(s, len, ce),
			   "content end %d, but a statement follows", ce);
	return ce;
}

/* In valid UTF8, is offset i on a character boundary? */
static bool
on_boundary(const char *s, int len, int i)
{
	return i <= 0 || i >= len || ((unsigned char) s[i] & 0xc0) != 0x80;
}

void
fuzz_target(const FuzzInput *in)
{
	const char *s = in->text;
	int			len = in->len;
	Span	   *spans = malloc(sizeof(Span) * (len + 1));
	int			n;
	int			ce;
	int			pos;

	standard_conforming_strings = in->scs;
	n = split_all(s, len, spans);
	ce = check_content_end(s, len, spans, n);

	/* txg_split_at: at the header's position, and around a statement */
	check_at(s, len, spans, n, (int) (in->n1 % (len + 5)) - 2);
	if (n > 0)
	{
		int			k = in->pick % n;
		int			start,
					end;

		check_at(s, len, spans, n, spans[k].start);
		check_at(s, len, spans, n, spans[k].end - 1);
		check_at(s, len, spans, n, spans[k].end);
		/* an error at the semicolon belongs to the statement it ends */
		if (spans[k].end < len)
			FUZZ_CHECK(txg_split_at(s, len, spans[k].end, &start, &end) &&
					   start == spans[k].start && end == spans[k].end,
					   "the semicolon at %d of statement %d [%d, %d) given to [%d, %d)",
					   spans[k].end, k, spans[k].start, spans[k].end, start, end);

		/* the text after a statement's semicolon does not move it */
		if (spans[k].end < len)
		{
			Span	   *pre = malloc(sizeof(Span) * (spans[k].end + 2));
			int			m = split_all(s, spans[k].end + 1, pre);

			FUZZ_CHECK(m == k + 1, "the text up to statement %d's semicolon at %d has %d statements",
					   k, spans[k].end, m);
			for (int i = 0; i < m; i++)
				FUZZ_CHECK(pre[i].start == spans[i].start && pre[i].end == spans[i].end,
						   "statement %d is [%d, %d) in the text up to %d, [%d, %d) in the whole",
						   i, pre[i].start, pre[i].end, spans[k].end + 1,
						   spans[i].start, spans[i].end);
			free(pre);
		}
	}

	/* txg_split_next from any 'from', even outside the text */
	pos = (int) (in->n2 % (len + 5)) - 2;
	{
		int			start,
					end;
		bool		found = txg_split_next(s, len, pos, &start, &end);

		FUZZ_CHECK(found == (pos <= len && !txg_split_rest_is_empty(s, len, pos)),
				   "from %d: txg_split_next says %d, txg_split_rest_is_empty the opposite",
				   pos, found);
		if (found)
			FUZZ_CHECK(Max(pos, 0) <= start && start < end && end <= len,
					   "from %d: statement [%d, %d) of %d bytes", pos, start, end, len);
	}

	/* the shortcut for a one-statement text answers as the scanner does */
	{
		int			start,
					end,
					start0,
					end0;

		if (txg_split_single(s, len, &start, &end))
			FUZZ_CHECK(txg_split_next(s, len, 0, &start0, &end0) &&
					   start == start0 && end == end0,
					   "txg_split_single says [%d, %d), txg_split_next [%d, %d)",
					   start, end, start0, end0);
	}

	/* without a backslash, the two string syntaxes are the same */
	if (memchr(s, '\\', len) == NULL)
	{
		Span	   *other = malloc(sizeof(Span) * (len + 1));
		int			m;

		standard_conforming_strings = !in->scs;
		m = split_all(s, len, other);
		FUZZ_CHECK(m == n, "%d statements with standard_conforming_strings %s, %d with it %s",
				   n, in->scs ? "on" : "off", m, in->scs ? "off" : "on");
		for (int i = 0; i < n; i++)
			FUZZ_CHECK(other[i].start == spans[i].start && other[i].end == spans[i].end,
					   "statement %d moves with standard_conforming_strings", i);
		FUZZ_CHECK(txg_split_content_end(s, len) == ce,
				   "the content end moves with standard_conforming_strings");
		standard_conforming_strings = in->scs;
		free(other);
	}

	/* valid UTF8: offsets on character boundaries */
	if (in->valid && in->encoding == PG_UTF8)
	{
		for (int i = 0; i < n; i++)
			FUZZ_CHECK(on_boundary(s, len, spans[i].start) &&
					   on_boundary(s, len, spans[i].end),
					   "statement [%d, %d) not on UTF8 character boundaries",
					   spans[i].start, spans[i].end);
		FUZZ_CHECK(on_boundary(s, len, ce),
				   "content end %d not on a UTF8 character boundary", ce);
	}
	free(spans);
}
