/*-------------------------------------------------------------------------
 *
 * traceparent.c
 *	  Find the W3C trace context that OpenTelemetry instrumentation puts
 *	  into a sqlcommenter comment of a statement: a C-style comment holding
 *	  key='value' pairs such as
 *
 *	  controller='x',traceparent='00-<32 hex>-<16 hex>-01'
 *
 * so that the record of an abort carries the trace id and span id of the
 * failing statement.
 *
 * Only the abort path calls it, on the statement's text, and it is
 * bounded: it looks at the first and the last TXG_TRACEPARENT_WINDOW bytes
 * (sqlcommenter appends its comment; some agents prepend it), only inside
 * C-style comments, and accepts a value only if it is a valid traceparent
 * (https://www.w3.org/TR/trace-context/): version two lower-case hex digits
 * but not "ff", a 32-digit trace id and a 16-digit parent id that are not
 * all zeros, two digits of flags, then the closing quote (version 00) or,
 * for a later version, a '-' before it.  Anything else is ignored, never
 * an error.  No allocation, no state, no locks.
 *
 * IDENTIFICATION
 *	  src/capture/traceparent.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "traceparent.h"

static inline bool
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* n lower-case hex digits at p, not all zeros if 'nonzero' */
static bool
hex_field(const char *p, int n, bool nonzero)
{
	bool		any = false;

	for (int i = 0; i < n; i++)
	{
		if (!is_lower_hex(p[i]))
			return false;
		if (p[i] != '0')
			any = true;
	}
	return any || !nonzero;
}

/*
 * A traceparent value at v (end excluded at 'end'): "vv-trace-span-ff"
 * followed by the closing quote.
 */
static bool
parse_value(const char *v, const char *end, char *trace_id, char *span_id)
{
	/* 2 + 1 + 32 + 1 + 16 + 1 + 2 characters, then the quote */
	if (end - v < 56)
		return false;
	if (!hex_field(v, 2, false) || (v[0] == 'f' && v[1] == 'f') ||
		v[2] != '-' || !hex_field(v + 3, 32, true) || v[35] != '-' ||
		!hex_field(v + 36, 16, true) || v[52] != '-' ||
		!hex_field(v + 53, 2, false))
		return false;
	if (!(v[55] == '\'' || (v[55] == '-' && !(v[0] == '0' && v[1] == '0'))))
		return false;
	memcpy(trace_id, v + 3, 32);
	trace_id[32] = '\0';
	memcpy(span_id, v + 36, 16);
	span_id[16] = '\0';
	return true;
}

/* Look for the key inside the comments of s[from..to) */
static bool
scan(const char *s, int from, int to, char *trace_id, char *span_id)
{
	static const char key[] = "traceparent='";
	const int	klen = sizeof(key) - 1;
	int			i = from;

	while (i + 1 < to)
	{
		int			start;
		int			stop;

		if (!(s[i] == '/' && s[i + 1] == '*'))
		{
			const char *slash = memchr(s + i + 1, '/', to - i - 1);

			if (slash == NULL)
				break;
			i = slash - s;
			continue;
		}
		start = i + 2;
		for (stop = start; stop + 1 < to; stop++)
		{
			if (s[stop] == '*' && s[stop + 1] == '/')
				break;
		}
		if (stop + 1 >= to)
			stop = to;
		for (int k = start; k + klen <= stop; k++)
		{
			if (s[k] == 't' && memcmp(s + k, key, klen) == 0 &&
				parse_value(s + k + klen, s + stop, trace_id, span_id))
				return true;
		}
		i = stop + 2;
	}
	return false;
}

bool
txg_find_traceparent(const char *str, int len, char *trace_id, char *span_id)
{
	trace_id[0] = '\0';
	span_id[0] = '\0';
	if (str == NULL || len <= 0)
		return false;
	len = strnlen(str, len);
	if (len <= 2 * TXG_TRACEPARENT_WINDOW)
		return scan(str, 0, len, trace_id, span_id);
	return scan(str, len - TXG_TRACEPARENT_WINDOW, len, trace_id, span_id) ||
		scan(str, 0, TXG_TRACEPARENT_WINDOW, trace_id, span_id);
}
