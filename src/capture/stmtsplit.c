/*-------------------------------------------------------------------------
 *
 * stmtsplit.c
 *	  Find statement boundaries in a query string, the way psql splits a
 *	  script.
 *
 * PostgreSQL tells txguard where each statement of a query string starts
 * once the statement has been parsed.  When an error comes before that (a
 * syntax error, which rejects the whole string, or a parse-analysis error
 * in the second statement of a string), txguard finds the failing
 * statement itself with the small scanner below: semicolons end statements
 * except inside quotes ('...', E'...', "..."), dollar quotes ($$...$$,
 * $tag$...$tag$), comments (-- to the end of the line, and nested C-style
 * comments) and the BEGIN ATOMIC ... END body of CREATE FUNCTION or CREATE
 * PROCEDURE, which psql tracks the same way.
 *
 * txg_split_cut() uses the scanner to choose the part of a statement text
 * that a record keeps (capture.c copies it).
 *
 * These functions run inside emit_log_hook: they only read the string, never
 * allocate, never raise an error, and every index is checked against the
 * length, so that any input, however malformed, is safe.  They take no
 * locks and keep no state.  test/fuzz/ runs them on arbitrary input under
 * AddressSanitizer and checks what they return.
 *
 * IDENTIFICATION
 *	  src/capture/stmtsplit.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "parser/parser.h"

#include "stmtsplit.h"

static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

/* A character that can continue an identifier (high-bit bytes included) */
static inline bool
is_ident_cont(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '$' ||
		(unsigned char) c >= 0x80;
}

static inline bool
is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		(unsigned char) c >= 0x80;
}

/* Does the word at s[0..wlen) equal kw (lower case), case-insensitively? */
static bool
word_is(const char *s, int wlen, const char *kw)
{
	int			i;

	for (i = 0; i < wlen; i++)
	{
		char		c = s[i];

		if (kw[i] == '\0')
			return false;
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != kw[i])
			return false;
	}
	return kw[i] == '\0';
}

/*
 * Skip a comment starting at i, if there is one.  Returns the index after
 * it, or i.
 */
static int
skip_comment(const char *s, int len, int i)
{
	if (i + 1 < len && s[i] == '-' && s[i + 1] == '-')
	{
		i += 2;
		while (i < len && s[i] != '\n' && s[i] != '\r')
			i++;
		return i;
	}
	if (i + 1 < len && s[i] == '/' && s[i + 1] == '*')
	{
		int			depth = 1;

		i += 2;
		while (i < len && depth > 0)
		{
			if (i + 1 < len && s[i] == '/' && s[i + 1] == '*')
			{
				depth++;
				i += 2;
			}
			else if (i + 1 < len && s[i] == '*' && s[i + 1] == '/')
			{
				depth--;
				i += 2;
			}
			else
				i++;
		}
		return i;
	}
	return i;
}

/*
 * Scan one statement starting at 'from'.  Returns the index of the
 * semicolon that ends it, or len if it runs to the end of the string.
 */
static int
scan_statement(const char *s, int len, int from)
{
	int			i = from;
	int			nwords = 0;		/* keywords seen, for CREATE FUNCTION */
	bool		routine = false;	/* CREATE [OR REPLACE] FUNCTION/PROCEDURE */
	int			begin_depth = 0;	/* BEGIN ATOMIC ... END nesting */

	while (i < len)
	{
		char		c = s[i];
		int			j;

		j = skip_comment(s, len, i);
		if (j != i)
		{
			i = j;
			continue;
		}

		if (c == ';')
		{
			if (begin_depth == 0)
				return i;
			i++;
			continue;
		}

		if (c == '\'')
		{
			/* E'...' (or e'...') allows backslash escapes */
			bool		backslash = !standard_conforming_strings ||
			(i > from && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
			 (i - 1 == from || !is_ident_cont(s[i - 2])));

			i++;
			while (i < len)
			{
				if (backslash && s[i] == '\\' && i + 1 < len)
					i += 2;
				else if (s[i] == '\'')
				{
					if (i + 1 < len && s[i + 1] == '\'')
						i += 2;
					else
						break;
				}
				else
					i++;
			}
			i++;				/* closing quote (or past the end) */
			continue;
		}

		if (c == '"')
		{
			i++;
			while (i < len)
			{
				if (s[i] == '"')
				{
					if (i + 1 < len && s[i + 1] == '"')
						i += 2;
					else
						break;
				}
				else
					i++;
			}
			i++;
			continue;
		}

		if (c == '$' && (i == from || !is_ident_cont(s[i - 1])))
		{
			/* a dollar quote: $$ or $tag$ (a tag does not start with a digit) */
			int			t = i + 1;

			if (t < len && is_ident_start(s[t]))
			{
				while (t < len && is_ident_cont(s[t]) && s[t] != '$')
					t++;
			}
			if (t < len && s[t] == '$')
			{
				int			taglen = t - i + 1;
				int			k = t + 1;

				/* find the same tag again */
				while (k + taglen <= len && memcmp(s + k, s + i, taglen) != 0)
					k++;
				i = (k + taglen <= len) ? k + taglen : len;
				continue;
			}
			i++;				/* a parameter like $1, or a lone $ */
			continue;
		}

		if (is_ident_start(c))
		{
			int			w = i;

			while (i < len && is_ident_cont(s[i]))
				i++;
			nwords++;

			/* CREATE [OR REPLACE] FUNCTION|PROCEDURE ... BEGIN ATOMIC */
			if (nwords == 1)
				routine = word_is(s + w, i - w, "create");
			else if (routine && nwords <= 4)
			{
				if (word_is(s + w, i - w, "function") ||
					word_is(s + w, i - w, "procedure"))
					nwords = 100;	/* header seen: stop checking the words */
				else if (!(nwords == 2 && word_is(s + w, i - w, "or")) &&
						 !(nwords == 3 && word_is(s + w, i - w, "replace")))
					routine = false;
			}
			else if (routine && nwords > 4)
			{
				if (word_is(s + w, i - w, "begin"))
					begin_depth++;
				else if (begin_depth > 0 && word_is(s + w, i - w, "case"))
					begin_depth++;
				else if (begin_depth > 0 && word_is(s + w, i - w, "end"))
					begin_depth--;
			}
			continue;
		}

		if (c >= '0' && c <= '9')
		{
			/* a number: do not take its digits for an identifier's */
			while (i < len && (is_ident_cont(s[i]) || s[i] == '.'))
				i++;
			continue;
		}

		i++;
	}
	return len;
}

/*
 * Skip blanks, comments and semicolons from 'from'; returns the index of
 * the first character of the next statement, or len.
 */
static int
skip_between(const char *s, int len, int from)
{
	int			i = from;

	while (i < len)
	{
		int			j;

		if (is_space(s[i]) || s[i] == ';')
		{
			i++;
			continue;
		}
		j = skip_comment(s, len, i);
		if (j == i)
			break;
		i = j;
	}
	return i;
}

/*
 * Is there nothing but blanks, comments and semicolons from 'from' on?
 */
bool
txg_split_rest_is_empty(const char *s, int len, int from)
{
	if (from < 0)
		from = 0;
	return skip_between(s, len, from) >= len;
}

/*
 * The statement that follows the one ending at 'from' (the byte after its
 * last character, or the start of the string): its text runs from *start
 * to *end.  A statement starts right after the previous semicolon, as
 * PostgreSQL's statement locations do; leading blanks are skipped but
 * comments are kept.  False if no statement follows.
 */
bool
txg_split_next(const char *s, int len, int from, int *start, int *end)
{
	int			i;
	int			first;

	if (from < 0)
		from = 0;
	if (from > len)
		return false;

	/* the semicolon that ends the previous statement, if it is next */
	i = from;
	while (i < len && is_space(s[i]))
		i++;
	while (i < len && s[i] == ';')
	{
		i++;
		while (i < len && is_space(s[i]))
			i++;
	}

	/* an empty statement is no statement: find the first real token */
	first = skip_between(s, len, i);
	if (first >= len)
		return false;

	/* comments right before the statement belong to it */
	*start = i;
	while (*start < first && is_space(s[*start]))
		(*start)++;
	*end = scan_statement(s, len, first);
	return true;
}

/*
 * The statement of the string that holds byte offset pos (for example an
 * error's cursor position).  A statement holds its text and what follows
 * it up to and including its terminating semicolon: "syntax error at or
 * near ";"" points at that semicolon.  False if pos is beyond the last
 * statement.
 */
bool
txg_split_at(const char *s, int len, int pos, int *start, int *end)
{
	int			from = 0;

	while (txg_split_next(s, len, from, start, end))
	{
		int			owned = *end;

		/* blanks and comments, then the semicolon that ends the statement */
		for (;;)
		{
			int			j;

			while (owned < len && is_space(s[owned]))
				owned++;
			j = skip_comment(s, len, owned);
			if (j == owned)
				break;
			owned = j;
		}
		if (owned < len && s[owned] == ';')
			owned++;
		else
			owned = *end;

		if (pos < owned || *end >= len)
			return true;
		from = *end;
	}
	return false;
}

/*
 * Where the text s[0..len) really ends: after its last statement, so that
 * the semicolons, blanks and comments that follow the last statement are
 * left out (a comment inside a statement, before its end, stays).
 */
int
txg_split_content_end(const char *s, int len)
{
	int			from = 0;
	int			start,
				end;
	int			last = 0;
	bool		comments = false;

	/*
	 * Without comments, the text ends at its last character that is not a
	 * blank or a semicolon (a semicolon inside quotes is never the last
	 * character of a statement that parses).  Only texts with comments need
	 * the scanner.
	 */
	for (int i = 0; i + 1 < len; i++)
	{
		/* one test for the common character: neither - nor / */
		if ((unsigned char) (s[i] - '-') > ('/' - '-'))
			continue;
		if ((s[i] == '-' && s[i + 1] == '-') || (s[i] == '/' && s[i + 1] == '*'))
		{
			comments = true;
			break;
		}
	}
	if (!comments)
	{
		while (len > 0 && (is_space(s[len - 1]) || s[len - 1] == ';'))
			len--;
		return len;
	}

	while (txg_split_next(s, len, from, &start, &end))
	{
		last = end;
		if (end >= len)
			break;
		from = end;
	}
	while (last > 0 && is_space(s[last - 1]))
		last--;
	return last;
}

/*
 * txg_split_next(s, len, 0, ...) for a string that plainly holds one
 * statement, without the scanner: no comment, and no semicolon but,
 * perhaps, those that end it, with no quote or BEGIN (ATOMIC) before them
 * that could hide one.  False when it cannot tell (the caller then scans).
 */
bool
txg_split_single(const char *s, int len, int *start, int *end)
{
	const char *semi = memchr(s, ';', len);
	int			stop = semi != NULL ? semi - s : len;
	int			i;

	for (i = stop; i < len; i++)
	{
		if (s[i] != ';' && !is_space(s[i]))
			return false;
	}
	for (i = 0; i < stop; i++)
	{
		char		c = s[i];

		/* a BEGIN ATOMIC body may end with a semicolon before its END */
		if (semi != NULL && (c | 0x20) == 'b' && i + 5 <= stop &&
			pg_strncasecmp(s + i, "begin", 5) == 0)
			return false;
		/* one test for the common character: none of - / ' " $ */
		if ((unsigned char) (c - '"') > ('/' - '"'))
			continue;
		if ((c == '-' || c == '/') && i + 1 < stop &&
			(s[i + 1] == '-' || s[i + 1] == '*'))
			return false;
		if (semi != NULL && (c == '\'' || c == '"' || c == '$'))
			return false;
	}
	i = 0;
	while (i < stop && is_space(s[i]))
		i++;
	if (i >= stop)
		return false;
	*start = i;
	*end = stop;
	return true;
}

/*
 * The part of the statement text s[0..len) that a record keeps: leading
 * blanks skipped; it ends where its (last) statement ends, without the
 * semicolons, blanks and comments after it; cut to maxlen bytes on a
 * character boundary of the database encoding.  A NUL ends the text (it
 * cannot be in a query string, but be safe).
 *
 * 'partial': the text is the backend's activity text, which core cut at
 * activity_size - 1 bytes (activity_size is track_activity_query_size)
 * without regard to characters: it may end in the middle of a character,
 * which is left out.
 *
 * Sets *start to the offset in s of the text kept and *truncated to whether
 * it was cut at maxlen; returns its length, at most maxlen.  NULL or an
 * empty text keeps nothing.
 */
int
txg_split_cut(const char *s, int len, bool partial, int maxlen,
			  int activity_size, int *start, bool *truncated)
{
	const char *str = s;
	bool		cut;

	*start = 0;
	*truncated = false;
	if (str == NULL || len <= 0)
		return 0;

	/* whether core cut it: judged on the whole text, blanks included */
	cut = partial && strnlen(str, len) >=
		activity_size - MAX_MULTIBYTE_CHAR_LEN;

	while (len > 0 && is_space(*str))
	{
		str++;
		len--;
	}
	*start = str - s;
	/* a NUL inside (it cannot be in a query string, but be safe) */
	len = strnlen(str, len);

	/*
	 * No partial last character: left out before the blanks are trimmed, so
	 * that a blank before it does not end the text.
	 */
	if (partial)
		len = pg_mbcliplen(str, len, len);

	/*
	 * An activity text cut at track_activity_query_size may end inside a
	 * comment or a quote: keep it as it is, but for trailing blanks, rather
	 * than let the scanner trim it to nothing.
	 */
	if (cut)
	{
		while (len > 0 && is_space(str[len - 1]))
			len--;
	}
	else
		len = txg_split_content_end(str, len);

	if (len > maxlen)
	{
		len = pg_mbcliplen(str, len, maxlen);
		*truncated = true;
	}
	return len;
}
