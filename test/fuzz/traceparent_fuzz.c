/*-------------------------------------------------------------------------
 *
 * traceparent_fuzz.c
 *	  Fuzz target "traceparent": txg_find_traceparent() of
 *	  src/capture/traceparent.c, the W3C trace context of a sqlcommenter
 *	  comment, on any statement text, checked against its contract.
 *
 * FUZZ_SOURCES: src/capture/traceparent.c
 * FUZZ_MAX_LEN: 20000 (texts longer than the two 8192-byte windows)
 *
 * Rules checked:
 *	- nothing found: both ids are empty strings;
 *	- found: the trace id is 32 and the span id 16 lower-case hex digits,
 *	  neither all zeros, and the text holds them in a whole value as the
 *	  W3C grammar has it: "traceparent='", a version of two lower-case hex
 *	  digits but not "ff", "-<trace id>-<span id>-", two digits of flags,
 *	  then the closing quote, or a '-' if the version is not "00";
 *	- with pick & 1, the harness appends to the text a comment closer, then
 *	  a comment holding traceparent='00-<trace id>-<span id>-01' (ids made
 *	  of n1, n2, n3 and pick): then a traceparent is always found, and when
 *	  the text had no "traceparent='" of its own, it is this one.
 *
 * IDENTIFICATION
 *	  test/fuzz/traceparent_fuzz.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>

#include "traceparent.h"

/* Does s[0..len) hold the NUL-terminated needle? */
static bool
holds(const char *s, int len, const char *needle)
{
	int			n = strlen(needle);

	for (int i = 0; i + n <= len; i++)
		if (memcmp(s + i, needle, n) == 0)
			return true;
	return false;
}

static bool
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Does s[0..len) hold the ids in a whole traceparent value? */
static bool
holds_value(const char *s, int len, const char *trace_id, const char *span_id)
{
	static const char key[] = "traceparent='";
	const int	klen = sizeof(key) - 1;

	for (int k = 0; k + klen + 56 <= len; k++)
	{
		const char *v = s + k + klen;

		if (memcmp(s + k, key, klen) != 0)
			continue;
		if (!is_lower_hex(v[0]) || !is_lower_hex(v[1]) ||
			(v[0] == 'f' && v[1] == 'f'))
			continue;
		if (v[2] != '-' || memcmp(v + 3, trace_id, 32) != 0 || v[35] != '-' ||
			memcmp(v + 36, span_id, 16) != 0 || v[52] != '-' ||
			!is_lower_hex(v[53]) || !is_lower_hex(v[54]))
			continue;
		if (v[55] == '\'' ||
			(v[55] == '-' && !(v[0] == '0' && v[1] == '0')))
			return true;
	}
	return false;
}

static void
check_id(const char *id, int digits, const char *what)
{
	bool		nonzero = false;

	FUZZ_CHECK((int) strnlen(id, digits + 1) == digits,
			   "the %s \"%s\" is not %d characters", what, id, digits);
	for (int i = 0; i < digits; i++)
	{
		FUZZ_CHECK(is_lower_hex(id[i]),
				   "the %s \"%s\" is not lower-case hex", what, id);
		if (id[i] != '0')
			nonzero = true;
	}
	FUZZ_CHECK(nonzero, "the %s is all zeros", what);
}

void
fuzz_target(const FuzzInput *in)
{
	bool		append = (in->pick & 1) != 0;
	int			len = strnlen(in->text, in->len);
	char		want_trace[33],
				want_span[17],
				tail[128];
	char		trace_id[33],
				span_id[17];
	char	   *s;
	int			slen;
	bool		found;

	/* the ids to append: from the header's numbers, never all zeros */
	snprintf(want_trace, sizeof(want_trace), "%04x%04x%04x%04x%04x%04x%04x%02x01",
			 in->n1, in->n2, in->n3, in->pick, in->n3, in->n2, in->n1, in->pick);
	snprintf(want_span, sizeof(want_span), "%04x%04x%04x%04x",
			 in->n2, in->n1 | 1, in->n3, in->n1);
	FUZZ_CHECK(strlen(want_trace) == 32 && strlen(want_span) == 16,
			   "the harness made ids of %d and %d digits",
			   (int) strlen(want_trace), (int) strlen(want_span));
	snprintf(tail, sizeof(tail), " */ /*traceparent='00-%s-%s-01'*/",
			 want_trace, want_span);

	slen = len + (append ? (int) strlen(tail) : 0);
	s = malloc(slen);
	if (len > 0)
		memcpy(s, in->text, len);
	if (append)
		memcpy(s + len, tail, slen - len);
	snprintf(fuzz_note, sizeof(fuzz_note), "the text is the input's first %d bytes%s",
			 len, append ? " and the comment appended" : "");

	/* poison the ids: the function must set them either way */
	memset(trace_id, 'X', sizeof(trace_id));
	memset(span_id, 'X', sizeof(span_id));
	found = txg_find_traceparent(s, slen, trace_id, span_id);
	if (!found)
		FUZZ_CHECK(trace_id[0] == '\0' && span_id[0] == '\0',
				   "nothing found, but the ids are not empty");
	else
	{
		check_id(trace_id, 32, "trace id");
		check_id(span_id, 16, "span id");
		FUZZ_CHECK(holds_value(s, slen, trace_id, span_id),
				   "found %s-%s, which no whole traceparent value of the text holds",
				   trace_id, span_id);
	}
	if (append)
	{
		FUZZ_CHECK(found, "the appended traceparent was not found");
		if (!holds(s, len, "traceparent='"))
			FUZZ_CHECK(strcmp(trace_id, want_trace) == 0 &&
					   strcmp(span_id, want_span) == 0,
					   "found %s-%s, not the appended %s-%s",
					   trace_id, span_id, want_trace, want_span);
	}
	free(s);
}
