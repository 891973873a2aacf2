/*-------------------------------------------------------------------------
 *
 * fuzz.h
 *	  What the libFuzzer targets of test/fuzz/ share: the input they are
 *	  given, the check that stops the run, the stand-ins for the backend.
 *
 * Every target is one file, <name>_fuzz.c, that defines fuzz_target().
 * fuzz_main.c turns libFuzzer's bytes into a FuzzInput and calls it; the
 * target runs the code under test and checks what it returns with
 * FUZZ_CHECK, which prints the broken rule and aborts, so that libFuzzer
 * keeps the input as a crash artifact.
 *
 * An input is an 8-byte header, then the text (see fuzz_main.c).  The
 * header sets the parameters a target may use; a target ignores those it
 * has no use for.
 *
 * IDENTIFICATION
 *	  test/fuzz/fuzz.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef TXG_FUZZ_H
#define TXG_FUZZ_H

#include "postgres.h"

#include "mb/pg_wchar.h"

#define FUZZ_HEADER_SIZE 8

typedef struct FuzzInput
{
	bool		scs;			/* standard_conforming_strings */
	int			encoding;		/* PG_UTF8, PG_LATIN1 or PG_EUC_JP */
	bool		partial;		/* for the text cut: an activity text */
	bool		valid;			/* text made valid in 'encoding' */
	bool		near;			/* a number chosen near the text's length */
	unsigned int n1,			/* three numbers, 0 to 65535 */
				n2,
				n3;
	unsigned int pick;			/* one more, 0 to 255 */
	const char *text;			/* exactly len bytes, no terminator after */
	int			len;
} FuzzInput;

/* defined by each target */
extern void fuzz_target(const FuzzInput *in);

/* fuzz_main.c */
extern const FuzzInput *fuzz_current;
extern char fuzz_note[256];		/* what a target adds to a failure report */
extern void fuzz_fail(const char *file, int line, const char *rule,
					  const char *fmt,...) __attribute__((format(printf, 4, 5)));

/* fuzz_backend.c: the backend functions the code under test calls */
extern void fuzz_set_encoding(int encoding);

/*
 * Check a rule; when it does not hold, say which and abort().  The format
 * and arguments describe the values involved.
 */
#define FUZZ_CHECK(rule, ...) \
	do { \
		if (!(rule)) \
			fuzz_fail(__FILE__, __LINE__, #rule, __VA_ARGS__); \
	} while (0)

static inline bool
fuzz_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
		c == '\v';
}

#endif							/* TXG_FUZZ_H */
