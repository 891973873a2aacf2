/*
 * abort_driver.c
 *	  Abort-heavy load for the txguard benchmarks (test/bench/run.sh).
 *
 * pgbench 15 gives up on a client at the first error it cannot retry, so
 * this driver replays, on one connection, N times:
 *
 *	BEGIN
 *	INSERT INTO <table> VALUES (1)		-- 23505, the transaction aborts
 *	SELECT 1							-- 25P02, annotated by txguard
 *	ROLLBACK							-- txguard closes the episode
 *
 * or, with -z, SELECT 1/0 (22012) as the failing statement: the abort-path
 * transaction of BENCHMARKS.md, which writes nothing.
 *
 * each as its own round trip (PQexec, simple protocol; -M extended uses
 * PQexecParams, i.e. Parse/Bind/Execute/Sync), checking every result's
 * SQLSTATE, and prints one machine-readable line:
 *
 *	RESULT iterations=N seconds=S per_iter_us=U tps=T annotated=A backend_cpu_us=C
 *
 * backend_cpu_us is the CPU time the server process spent per iteration
 * (from /proc/PID/schedstat, so the driver must run on the server's machine
 * as a user allowed to read it): unlike the wall clock it does not count
 * the time the backend waited for a CPU that other work on the machine
 * held.  "annotated" counts the 25P02 errors whose DETAIL names the original
 * error (txguard is active).  With -s EVERY it also prints, before the
 * first iteration and after every EVERY iterations, from the same session:
 *
 *	MEM iterations=N context_bytes=B vmrss_kb=R rss_anon_kb=A rss_shmem_kb=S
 *
 * (sum(total_bytes) of pg_backend_memory_contexts, and VmRSS of the
 * backend from /proc with its private (RssAnon) and shared-memory
 * (RssShmem: shared buffers, WAL buffers... as far as this backend touched
 * them) parts).  -m ok runs the same shape without the error
 * (BEGIN; SELECT 1; SELECT 1; ROLLBACK) as a reference.
 *
 * Build: gcc -O2 -I$(pg_config --includedir) -o abort_driver abort_driver.c -lpq
 * Use:   abort_driver [-n N] [-w WARMUP] [-s EVERY] [-M simple|extended]
 *                     [-m abort|ok] [-t TABLE | -z] "conninfo"
 * Without -z the table must exist with a unique key holding the value 1:
 *        CREATE TABLE bench_dup (id int PRIMARY KEY); INSERT INTO bench_dup VALUES (1);
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

static PGconn *conn;
static int	extended = 0;
static long annotated = 0;
static const char *fail_state = "23505";

static void
die(const char *what, PGresult *res)
{
	fprintf(stderr, "abort_driver: %s: %s", what,
			res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	exit(1);
}

static PGresult *
run(const char *sql)
{
	if (extended)
		return PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	return PQexec(conn, sql);
}

/* Run sql and require status ok_status, or the error expect_state. */
static void
step(const char *sql, ExecStatusType ok_status, const char *expect_state)
{
	PGresult   *res = run(sql);

	if (expect_state)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (PQresultStatus(res) != PGRES_FATAL_ERROR || state == NULL ||
			strcmp(state, expect_state) != 0)
		{
			fprintf(stderr, "abort_driver: \"%s\": expected SQLSTATE %s, got status %s state %s\n",
					sql, expect_state, PQresStatus(PQresultStatus(res)),
					state ? state : "(none)");
			exit(1);
		}
		if (strcmp(expect_state, "25P02") == 0)
		{
			const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			if (detail && strstr(detail, fail_state) != NULL)
				annotated++;
		}
	}
	else if (PQresultStatus(res) != ok_status)
		die(sql, res);
	PQclear(res);
}

static void
sample_memory(long iterations)
{
	PGresult   *res;
	char		path[64];
	char		line[256];
	long		rss = -1,
				anon = -1,
				shmem = -1;
	FILE	   *f;

	res = run("SELECT pg_backend_pid(), sum(total_bytes) FROM pg_backend_memory_contexts");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("memory query", res);
	snprintf(path, sizeof(path), "/proc/%s/status", PQgetvalue(res, 0, 0));
	f = fopen(path, "r");
	if (f)
	{
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "VmRSS:", 6) == 0)
				rss = atol(line + 6);
			else if (strncmp(line, "RssAnon:", 8) == 0)
				anon = atol(line + 8);
			else if (strncmp(line, "RssShmem:", 9) == 0)
				shmem = atol(line + 9);
		fclose(f);
	}
	printf("MEM iterations=%ld context_bytes=%s vmrss_kb=%ld rss_anon_kb=%ld rss_shmem_kb=%ld\n",
		   iterations, PQgetvalue(res, 0, 1), rss, anon, shmem);
	fflush(stdout);
	PQclear(res);
}

static void
iteration(int abort_mode, const char *insert_sql)
{
	step("BEGIN", PGRES_COMMAND_OK, NULL);
	if (abort_mode)
	{
		step(insert_sql, PGRES_COMMAND_OK, fail_state);
		step("SELECT 1", PGRES_TUPLES_OK, "25P02");
	}
	else
	{
		step("SELECT 1", PGRES_TUPLES_OK, NULL);
		step("SELECT 1", PGRES_TUPLES_OK, NULL);
	}
	step("ROLLBACK", PGRES_COMMAND_OK, NULL);
}

/* CPU time the backend has used, in ns; -1 if unknown */
static long long
backend_cpu_ns(void)
{
	char		path[64];
	long long	ns = -1;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", PQbackendPID(conn));
	f = fopen(path, "r");
	if (f)
	{
		if (fscanf(f, "%lld", &ns) != 1)
			ns = -1;
		fclose(f);
	}
	return ns;
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	long		n = 10000;
	long		warmup = 500;
	long		every = 0;
	int			abort_mode = 1;
	const char *table = "bench_dup";
	char		insert_sql[256];
	double		t0,
				t1;
	long long	cpu0,
				cpu1;
	int			c;

	int			divzero = 0;

	while ((c = getopt(argc, argv, "n:w:s:M:m:t:z")) != -1)
	{
		switch (c)
		{
			case 'n':
				n = atol(optarg);
				break;
			case 'w':
				warmup = atol(optarg);
				break;
			case 's':
				every = atol(optarg);
				break;
			case 'M':
				extended = strcmp(optarg, "extended") == 0;
				break;
			case 'm':
				abort_mode = strcmp(optarg, "ok") != 0;
				break;
			case 't':
				table = optarg;
				break;
			case 'z':
				divzero = 1;
				break;
			default:
				fprintf(stderr, "usage: %s [-n N] [-w WARMUP] [-s EVERY] [-M simple|extended] [-m abort|ok] [-t TABLE | -z] conninfo\n", argv[0]);
				return 2;
		}
	}
	if (optind >= argc)
	{
		fprintf(stderr, "abort_driver: conninfo missing\n");
		return 2;
	}
	if (divzero)
	{
		snprintf(insert_sql, sizeof(insert_sql), "SELECT 1/0");
		fail_state = "22012";
	}
	else
		snprintf(insert_sql, sizeof(insert_sql), "INSERT INTO %s VALUES (1)", table);

	conn = PQconnectdb(argv[optind]);
	if (PQstatus(conn) != CONNECTION_OK)
		die("connect", NULL);
	/* the notices of the log lines are not wanted here */
	PQclear(PQexec(conn, "SET client_min_messages = error"));

	for (long i = 0; i < warmup; i++)
		iteration(abort_mode, insert_sql);
	annotated = 0;

	if (every > 0)
		sample_memory(0);
	cpu0 = backend_cpu_ns();
	t0 = now();
	for (long i = 1; i <= n; i++)
	{
		iteration(abort_mode, insert_sql);
		if (every > 0 && i % every == 0)
		{
			/* keep the sampling out of the timing */
			long long	c0 = backend_cpu_ns();

			t1 = now();
			sample_memory(i);
			t0 += now() - t1;
			cpu0 += backend_cpu_ns() - c0;
		}
	}
	t1 = now();
	cpu1 = backend_cpu_ns();

	printf("RESULT iterations=%ld seconds=%.3f per_iter_us=%.2f tps=%.1f annotated=%ld backend_cpu_us=%.2f\n",
		   n, t1 - t0, (t1 - t0) * 1e6 / n, n / (t1 - t0), annotated,
		   cpu0 >= 0 && cpu1 >= 0 ? (cpu1 - cpu0) / 1e3 / n : -1.0);
	PQfinish(conn);
	return 0;
}
