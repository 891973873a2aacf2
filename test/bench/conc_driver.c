/*
 * conc_driver.c
 *	  Abort-heavy load from many clients at once, with wait-event sampling,
 *	  for the concurrency part of the txguard benchmarks (test/bench/run.sh).
 *
 * pgbench 15 ends a client at its first error that is not a serialization
 * failure or a deadlock, so it cannot drive a workload in which every
 * transaction aborts.  This driver opens C connections and drives them from
 * one thread with libpq's asynchronous API (as pgbench does), each client
 * repeating, one round trip per statement (simple protocol):
 *
 *	BEGIN
 *	<failing statement>		-- one of NFAIL below, in turn: the transaction aborts
 *	SELECT 1				-- 25P02, annotated by txguard
 *	ROLLBACK
 *
 * checking every result's status and SQLSTATE (any other outcome ends the
 * run with exit status 1).  The failing statements differ so that the
 * statistics of the extension measured hold a handful of keys, not one.
 *
 * The run lasts WARMUP + SECONDS; only the last SECONDS count.  During them
 * a separate connection samples pg_stat_activity every SAMPLE_MS (default
 * 10) and counts, per wait_event_type/wait_event, the driver's active
 * backends ("CPU -" for an active backend waiting on nothing).  The CPU
 * time of the driver's backends over the measured window is read from
 * /proc/PID/schedstat (the driver must run on the server's machine as a
 * user allowed to read it).  Output, one line each:
 *
 *	RESULT clients=C seconds=S xacts=X tps=T backend_cpu_s=B cpu_us_per_xact=U
 *	       annotated=A samples=N active=M
 *	WAIT <type> <event> <count>
 *
 * "annotated" counts the 25P02 errors whose DETAIL names the SQLSTATE of the
 * failing statement (txguard's annotation).
 *
 * Build: gcc -O2 -I$(pg_config --includedir) -o conc_driver conc_driver.c -lpq
 * Use:   conc_driver [-c CLIENTS] [-T SECONDS] [-W WARMUP] [-i SAMPLE_MS]
 *                    [-a APPLICATION_NAME] "conninfo"
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

/* The failing statements and the SQLSTATE each must raise */
static const struct
{
	const char *sql;
	const char *state;
}			fails[] = {
	{"SELECT 1/0", "22012"},	/* division_by_zero, folded at planning */
	{"SELECT 'x'::int", "22P02"},	/* invalid_text_representation */
	{"SELECT 2147483647 + 1", "22003"}, /* numeric_value_out_of_range */
	{"SELECT * FROM txguard_bench_missing", "42P01"},	/* parse analysis */
	{"SELECT count(*) / (count(*) - count(*)) FROM pg_class", "22012"}, /* executor */
};
#define NFAIL ((int) (sizeof(fails) / sizeof(fails[0])))

typedef struct Client
{
	PGconn	   *conn;
	int			pid;
	int			step;			/* 0 BEGIN, 1 failing, 2 SELECT 1, 3 ROLLBACK */
	int			fail;			/* index into fails[] of this transaction */
	long		xacts;			/* completed in the measured window */
	long long	cpu0;
} Client;

typedef struct Wait
{
	char		type[64];
	char		event[64];
	long		count;
} Wait;

static Client *clients;
static int	nclients = 1;
static long annotated;
static int	measuring;
static Wait waits[128];
static int	nwaits;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
fail(PGconn *conn, const char *what)
{
	fprintf(stderr, "conc_driver: %s: %s", what, PQerrorMessage(conn));
	exit(1);
}

/* CPU time a process has used, in ns; -1 if unknown */
static long long
cpu_ns(int pid)
{
	char		path[64];
	long long	ns = -1;
	FILE	   *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f)
	{
		if (fscanf(f, "%lld", &ns) != 1)
			ns = -1;
		fclose(f);
	}
	return ns;
}

static const char *
step_sql(Client *c)
{
	switch (c->step)
	{
		case 0:
			return "BEGIN";
		case 1:
			return fails[c->fail].sql;
		case 2:
			return "SELECT 1";
		default:
			return "ROLLBACK";
	}
}

static void
send_step(Client *c)
{
	if (!PQsendQuery(c->conn, step_sql(c)))
		fail(c->conn, "send");
}

/* Check one result of the client's current step */
static void
check_result(Client *c, PGresult *res)
{
	ExecStatusType st = PQresultStatus(res);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *want = NULL;
	ExecStatusType want_ok = PGRES_COMMAND_OK;

	if (c->step == 1)
		want = fails[c->fail].state;
	else if (c->step == 2)
		want = "25P02";
	if (want)
	{
		if (st != PGRES_FATAL_ERROR || state == NULL || strcmp(state, want) != 0)
		{
			fprintf(stderr, "conc_driver: \"%s\": expected SQLSTATE %s, got %s %s %s",
					step_sql(c), want, PQresStatus(st), state ? state : "",
					PQresultErrorMessage(res));
			exit(1);
		}
		if (c->step == 2 && measuring)
		{
			const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

			if (detail && strstr(detail, fails[c->fail].state) != NULL)
				annotated++;
		}
	}
	else if (st != want_ok)
	{
		fprintf(stderr, "conc_driver: \"%s\": %s %s", step_sql(c), PQresStatus(st),
				PQresultErrorMessage(res));
		exit(1);
	}
}

/* The client's step is complete: go on to the next */
static void
advance(Client *c)
{
	if (++c->step == 4)
	{
		if (measuring)
			c->xacts++;
		c->step = 0;
		c->fail = (c->fail + 1) % NFAIL;
	}
	send_step(c);
}

/* Read what arrived for a client; true if its query is complete */
static int
drain(PGconn *conn, void (*on_result) (void *, PGresult *), void *arg)
{
	PGresult   *res;

	if (!PQconsumeInput(conn))
		fail(conn, "read");
	while (!PQisBusy(conn))
	{
		res = PQgetResult(conn);
		if (res == NULL)
			return 1;
		on_result(arg, res);
		PQclear(res);
	}
	return 0;
}

static void
client_result(void *arg, PGresult *res)
{
	check_result((Client *) arg, res);
}

static void
sample_result(void *arg, PGresult *res)
{
	long	   *active = arg;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "conc_driver: sampler: %s", PQresultErrorMessage(res));
		exit(1);
	}
	for (int r = 0; r < PQntuples(res); r++)
	{
		const char *type = PQgetvalue(res, r, 0);
		const char *event = PQgetvalue(res, r, 1);
		long		n = atol(PQgetvalue(res, r, 2));
		int			i;

		for (i = 0; i < nwaits; i++)
			if (strcmp(waits[i].type, type) == 0 && strcmp(waits[i].event, event) == 0)
				break;
		if (i == nwaits)
		{
			if (nwaits == (int) (sizeof(waits) / sizeof(waits[0])))
				continue;
			snprintf(waits[i].type, sizeof(waits[i].type), "%s", type);
			snprintf(waits[i].event, sizeof(waits[i].event), "%s", event);
			waits[i].count = 0;
			nwaits++;
		}
		waits[i].count += n;
		*active += n;
	}
}

static PGconn *
connect_one(const char *conninfo, const char *appname)
{
	const char *keys[] = {"dbname", "application_name", NULL};
	const char *vals[] = {conninfo, appname, NULL};
	PGconn	   *conn = PQconnectdbParams(keys, vals, 1);

	if (PQstatus(conn) != CONNECTION_OK)
		fail(conn, "connect");
	/* txguard's end-of-block WARNINGs, if any, are not wanted here */
	PQclear(PQexec(conn, "SET client_min_messages = error"));
	return conn;
}

int
main(int argc, char **argv)
{
	double		seconds = 5,
				warmup = 1,
				sample_ms = 10;
	const char *appname = "txguard_conc";
	PGconn	   *sampler;
	char		sample_sql[512];
	int			sampling = 0;
	long		samples = 0,
				active = 0;
	struct pollfd *fds;
	double		t_start,
				t_measure,
				t_end,
				next_sample,
				t;
	long long	cpu = 0;
	long		xacts = 0;
	int			c;

	while ((c = getopt(argc, argv, "c:T:W:i:a:")) != -1)
	{
		switch (c)
		{
			case 'c':
				nclients = atoi(optarg);
				break;
			case 'T':
				seconds = atof(optarg);
				break;
			case 'W':
				warmup = atof(optarg);
				break;
			case 'i':
				sample_ms = atof(optarg);
				break;
			case 'a':
				appname = optarg;
				break;
			default:
				fprintf(stderr, "usage: %s [-c CLIENTS] [-T SECONDS] [-W WARMUP] [-i SAMPLE_MS] [-a APPNAME] conninfo\n", argv[0]);
				return 2;
		}
	}
	if (optind >= argc || nclients < 1)
	{
		fprintf(stderr, "conc_driver: conninfo missing\n");
		return 2;
	}

	clients = calloc(nclients, sizeof(Client));
	fds = calloc(nclients + 1, sizeof(struct pollfd));
	for (int i = 0; i < nclients; i++)
	{
		clients[i].conn = connect_one(argv[optind], appname);
		clients[i].pid = PQbackendPID(clients[i].conn);
		clients[i].fail = i % NFAIL;
	}
	sampler = connect_one(argv[optind], "txguard_conc_sampler");
	snprintf(sample_sql, sizeof(sample_sql),
			 "SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, '-'), count(*) "
			 "FROM pg_stat_activity WHERE application_name = '%s' AND state = 'active' "
			 "GROUP BY 1, 2", appname);

	for (int i = 0; i < nclients; i++)
	{
		if (PQsetnonblocking(clients[i].conn, 1) != 0)
			fail(clients[i].conn, "nonblocking");
		send_step(&clients[i]);
	}

	t_start = now();
	t_measure = t_start + warmup;
	t_end = t_measure + seconds;
	next_sample = t_measure;
	for (;;)
	{
		int			timeout;

		t = now();
		if (!measuring && t >= t_measure)
		{
			measuring = 1;
			for (int i = 0; i < nclients; i++)
				clients[i].cpu0 = cpu_ns(clients[i].pid);
		}
		if (t >= t_end)
			break;
		if (measuring && !sampling && t >= next_sample)
		{
			if (!PQsendQuery(sampler, sample_sql))
				fail(sampler, "sampler send");
			sampling = 1;
			samples++;
			while (next_sample <= t)
				next_sample += sample_ms / 1000.0;
		}

		for (int i = 0; i < nclients; i++)
		{
			fds[i].fd = PQsocket(clients[i].conn);
			fds[i].events = POLLIN;
		}
		fds[nclients].fd = sampling ? PQsocket(sampler) : -1;
		fds[nclients].events = POLLIN;

		timeout = (int) (((measuring ? (sampling ? t_end : next_sample) : t_measure) - t) * 1000) + 1;
		if (timeout < 0)
			timeout = 0;
		if (poll(fds, nclients + 1, timeout) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("conc_driver: poll");
			return 1;
		}
		for (int i = 0; i < nclients; i++)
			if (fds[i].revents)
				if (drain(clients[i].conn, client_result, &clients[i]))
					advance(&clients[i]);
		if (sampling && fds[nclients].revents)
			if (drain(sampler, sample_result, &active))
				sampling = 0;
	}

	for (int i = 0; i < nclients; i++)
	{
		long long	c1 = cpu_ns(clients[i].pid);

		if (c1 >= 0 && clients[i].cpu0 >= 0)
			cpu += c1 - clients[i].cpu0;
		xacts += clients[i].xacts;
	}
	printf("RESULT clients=%d seconds=%.3f xacts=%ld tps=%.1f backend_cpu_s=%.3f cpu_us_per_xact=%.2f annotated=%ld samples=%ld active=%ld\n",
		   nclients, seconds, xacts, xacts / seconds, cpu / 1e9,
		   xacts > 0 ? cpu / 1e3 / xacts : -1.0, annotated, samples, active);
	for (int i = 0; i < nwaits; i++)
		printf("WAIT %s %s %ld\n", waits[i].type, waits[i].event, waits[i].count);
	/* the clients may be in the middle of a statement: just go */
	for (int i = 0; i < nclients; i++)
		PQfinish(clients[i].conn);
	PQfinish(sampler);
	return 0;
}
