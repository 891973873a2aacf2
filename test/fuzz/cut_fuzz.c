/*-------------------------------------------------------------------------
 *
 * cut_fuzz.c
 *	  Fuzz target "cut": txg_split_cut() of src/capture/stmtsplit.c, the
 *	  part of a statement text that a record keeps, on any text with any
 *	  settings, checked against its contract.
 *
 * FUZZ_SOURCES: src/capture/stmtsplit.c
 *
 * Parameters from the header:
 *	- txguard.max_statement_length: 64 (the setting's minimum) + n1 % 2048;
 *	- track_activity_query_size: 100 (the setting's minimum) + n2 % 4096, or
 *	  with 'near' Max(100, len + 1 - n2 % 6), so that the text is just
 *	  shorter or longer than what core keeps;
 *	- partial: the text is an activity text, which core cut to
 *	  track_activity_query_size - 1 bytes without regard to characters (the
 *	  harness cuts it so);
 *	- the database encoding, standard_conforming_strings, valid.
 *
 * Rules checked, with max = txguard.max_statement_length and "the whole
 * text" = the answer without a maximum:
 *	- bounds: start + kept <= len, kept <= max; only blanks before start, a
 *	  non-blank at start, no NUL in the text kept;
 *	- the maximum only cuts: the text kept is a prefix of the whole text;
 *	  'truncated' exactly when the whole text is longer than max; a text
 *	  of at most max bytes is never truncated; a cut loses less than one
 *	  character;
 *	- characters: from a valid text, what is kept is valid, so it never
 *	  ends inside a character (not even when core cut one in two);
 *	- the ends: the whole text ends on a non-blank; nothing but blanks,
 *	  semicolons and comments follows it; it is empty only if the text
 *	  holds no statement;
 *	- an activity text that core may have cut (sent with
 *	  track_activity_query_size - 4 bytes or more) is, as
 *	  test/model/DEFINITION.md says, the text cut on a character boundary
 *	  with the blanks at both ends removed, and nothing else.
 *
 * IDENTIFICATION
 *	  test/fuzz/cut_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "parser/parser.h"

#include "stmtsplit.h"

#define NO_LIMIT (1 << 30)

/* Shared checks of one answer: bounds, blanks before, no NUL inside */
static void
check_bounds(const char *s, int len, int maxlen, int start, int kept)
{
	FUZZ_CHECK(start >= 0 && kept >= 0 && kept <= maxlen && start + kept <= len,
			   "kept [%d, +%d) of %d bytes with a maximum of %d",
			   start, kept, len, maxlen);
	if (kept == 0)
		return;
	for (int i = 0; i < start; i++)
		FUZZ_CHECK(fuzz_is_blank(s[i]), "byte %d (0x%02x) skipped before the text kept at %d",
				   i, (unsigned char) s[i], start);
	FUZZ_CHECK(!fuzz_is_blank(s[start]), "the text kept starts on a blank at %d", start);
	FUZZ_CHECK(memchr(s + start, '\0', kept) == NULL,
			   "a NUL in the text kept [%d, +%d)", start, kept);
}

/*
 * test/model/DEFINITION.md, section 1, on an activity text that core may
 * have cut: cut on a character boundary, then only the blanks at both ends
 * removed.
 */
static void
expected_cut_text(const char *s, int len, int encoding, int *start, int *kept)
{
	int			b = 0,
				e = 0;

	while (e < len)
	{
		int			l = pg_encoding_mblen(encoding, s + e);

		if (e + l > len)
			break;
		e += l;
	}
	while (b < e && fuzz_is_blank(s[b]))
		b++;
	while (e > b && fuzz_is_blank(s[e - 1]))
		e--;
	*start = b;
	*kept = e - b;
}

void
fuzz_target(const FuzzInput *in)
{
	int			maxlen = 64 + in->n1 % 2048;
	int			size;
	int			len;
	int			encmax = pg_encoding_max_length(in->encoding);
	bool		core_cut;
	char	   *s;
	int			start,
				kept,
				fstart,
				fkept;
	bool		trunc,
				ftrunc;

	if (in->near)
		size = Max(100, in->len + 1 - (int) (in->n2 % 6));
	else
		size = 100 + (int) (in->n2 % 4096);
	len = in->partial ? Min(in->len, size - 1) : in->len;
	core_cut = in->partial && in->len >= size - 4;
	s = malloc(len);
	if (len > 0)
		memcpy(s, in->text, len);
	standard_conforming_strings = in->scs;
	snprintf(fuzz_note, sizeof(fuzz_note),
			 "txguard.max_statement_length=%d track_activity_query_size=%d: the text given is its first %d bytes%s",
			 maxlen, size, len, core_cut ? ", which core may have cut" : "");

	/* no text */
	kept = txg_split_cut(NULL, len, in->partial, maxlen, size, &start, &trunc);
	FUZZ_CHECK(kept == 0 && start == 0 && !trunc, "NULL text: kept %d at %d", kept, start);

	kept = txg_split_cut(s, len, in->partial, maxlen, size, &start, &trunc);
	fkept = txg_split_cut(s, len, in->partial, NO_LIMIT, size, &fstart, &ftrunc);

	check_bounds(s, len, maxlen, start, kept);
	check_bounds(s, len, NO_LIMIT, fstart, fkept);
	FUZZ_CHECK(!ftrunc, "truncated without a maximum");
	FUZZ_CHECK(start == fstart, "the text kept starts at %d with a maximum of %d, at %d without",
			   start, maxlen, fstart);

	/* the maximum only cuts */
	FUZZ_CHECK(len > maxlen || !trunc, "a text of %d bytes truncated at %d", len, maxlen);
	if (!trunc)
		FUZZ_CHECK(kept == fkept, "not truncated, but %d bytes kept of %d", kept, fkept);
	else
		FUZZ_CHECK(kept <= fkept && kept > maxlen - encmax,
				   "truncated at %d to %d bytes, of %d", maxlen, kept, fkept);
	FUZZ_CHECK(trunc == (fkept > maxlen),
			   "truncated=%d with a maximum of %d and a text of %d bytes",
			   trunc, maxlen, fkept);

	/* characters */
	if (in->valid)
	{
		FUZZ_CHECK(pg_encoding_verifymbstr(in->encoding, s + start, kept) == kept,
				   "the text kept [%d, +%d) is not valid %s", start, kept,
				   pg_encoding_to_char(in->encoding));
		FUZZ_CHECK(pg_encoding_verifymbstr(in->encoding, s + fstart, fkept) == fkept,
				   "the whole text [%d, +%d) is not valid %s", fstart, fkept,
				   pg_encoding_to_char(in->encoding));
	}

	/* the ends (an invalid partial text may lose an invalid last byte) */
	if (in->valid || !in->partial)
	{
		FUZZ_CHECK(fkept == 0 || !fuzz_is_blank(s[fstart + fkept - 1]),
				   "the text kept [%d, +%d) ends on a blank", fstart, fkept);
		if (!core_cut)
		{
			int			rest = strnlen(s + fstart, len - fstart);

			FUZZ_CHECK(txg_split_rest_is_empty(s + fstart, rest, fkept),
					   "a statement after the text kept [%d, +%d)", fstart, fkept);
			FUZZ_CHECK((fkept == 0) == txg_split_rest_is_empty(s + fstart, rest, 0),
					   "%d bytes kept of a text whose statements are %s",
					   fkept, fkept ? "none" : "there");
		}
	}

	/* an activity text that core may have cut */
	if (in->valid && core_cut)
	{
		int			estart,
					ekept;

		expected_cut_text(s, len, in->encoding, &estart, &ekept);
		FUZZ_CHECK(fkept == ekept && (ekept == 0 || fstart == estart),
				   "a cut activity text: kept [%d, +%d), expected [%d, +%d)",
				   fstart, fkept, estart, ekept);
	}
	free(s);
}
