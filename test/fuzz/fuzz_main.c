/*-------------------------------------------------------------------------
 *
 * fuzz_main.c
 *	  libFuzzer's entry point for every target of test/fuzz/: turn the
 *	  input bytes into a FuzzInput and call the target.
 *
 * An input is an 8-byte header, then the text:
 *
 *	byte 0		flags: 0x01 standard_conforming_strings off, 0x02 partial,
 *				0x04 raw (the text is left as it is; otherwise every byte that
 *				is not part of a valid character of the encoding is replaced,
 *				a NUL by a blank), 0x18 the encoding (0 and 3 UTF8, 1 LATIN1,
 *				2 EUC_JP), 0x20 'near'
 *	bytes 1-6	n1, n2, n3: little-endian 16-bit numbers
 *	byte 7		pick
 *
 * A shorter input is padded with zero bytes.  The text is copied into a
 * buffer of exactly its length, so that AddressSanitizer reports a read
 * past its end.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz_main.c
 *
 *-------------------------------------------------------------------------
 */
#include "fuzz.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

const FuzzInput *fuzz_current = NULL;
char		fuzz_note[256];

static const int encodings[4] = {PG_UTF8, PG_LATIN1, PG_EUC_JP, PG_UTF8};

/*
 * Replace what is not a valid character of 'encoding': an invalid byte by
 * its low 7 bits (a '?' for 0x80), a NUL by a blank.
 */
static void
make_valid(int encoding, char *s, int len)
{
	int			i = 0;

	while (i < len)
	{
		int			l;

		if (s[i] == '\0')
		{
			s[i++] = ' ';
			continue;
		}
		l = pg_encoding_verifymbchar(encoding, s + i, len - i);
		if (l > 0)
		{
			i += l;
			continue;
		}
		s[i] = (s[i] & 0x7f) ? (s[i] & 0x7f) : '?';
		i++;
	}
	FUZZ_CHECK(pg_encoding_verifymbstr(encoding, s, len) == len,
			   "the harness could not make the text valid in %s",
			   pg_encoding_to_char(encoding));
}

/* The text, printable: C escapes for what is not printable ASCII */
static void
print_text(FILE *f, const char *s, int len, int limit)
{
	for (int i = 0; i < len && i < limit; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '\\')
			fputs("\\\\", f);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c >= 0x20 && c < 0x7f)
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
	if (len > limit)
		fprintf(f, "... (%d more bytes)", len - limit);
}

void
fuzz_fail(const char *file, int line, const char *rule, const char *fmt,...)
{
	va_list		ap;
	const FuzzInput *in = fuzz_current;

	fprintf(stderr, "\nfuzz: RULE BROKEN at %s:%d: %s\nfuzz: ", file, line, rule);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (in != NULL)
	{
		fprintf(stderr,
				"fuzz: input: standard_conforming_strings=%s encoding=%s partial=%d valid=%d near=%d n1=%u n2=%u n3=%u pick=%u len=%d\n"
				"fuzz: text: \"",
				in->scs ? "on" : "off", pg_encoding_to_char(in->encoding),
				in->partial, in->valid, in->near, in->n1, in->n2, in->n3,
				in->pick, in->len);
		print_text(stderr, in->text, in->len, 600);
		fputs("\"\n", stderr);
	}
	if (fuzz_note[0] != '\0')
		fprintf(stderr, "fuzz: %s\n", fuzz_note);
	fflush(stderr);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FuzzInput	in;
	unsigned char h[FUZZ_HEADER_SIZE] = {0};
	char	   *buf;
	int			len;

	if (size > (1 << 24))
		return 0;
	memcpy(h, data, Min(size, FUZZ_HEADER_SIZE));
	len = size > FUZZ_HEADER_SIZE ? (int) (size - FUZZ_HEADER_SIZE) : 0;
	buf = malloc(len);
	if (buf == NULL && len > 0)
		abort();
	if (len > 0)
		memcpy(buf, data + FUZZ_HEADER_SIZE, len);

	in.scs = (h[0] & 0x01) == 0;
	in.partial = (h[0] & 0x02) != 0;
	in.valid = (h[0] & 0x04) == 0;
	in.encoding = encodings[(h[0] >> 3) & 3];
	in.near = (h[0] & 0x20) != 0;
	in.n1 = h[1] | (h[2] << 8);
	in.n2 = h[3] | (h[4] << 8);
	in.n3 = h[5] | (h[6] << 8);
	in.pick = h[7];
	in.text = buf;
	in.len = len;

	fuzz_current = &in;
	fuzz_note[0] = '\0';
	if (in.valid)
		make_valid(in.encoding, buf, len);
	fuzz_set_encoding(in.encoding);
	fuzz_target(&in);
	fuzz_current = NULL;
	free(buf);
	return 0;
}
