
# Copyright (c) txguard authors
#
# 050_concurrency.pl -- 8 clients abort transactions in parallel, with a
# history ring (64) much smaller than the number of aborts, while a reader
# keeps reading the history.  Afterwards the statistics are exact per role
# and SQLSTATE, the ring holds exactly the 64 newest episodes, and no row
# was ever torn (each row's message and statement match its SQLSTATE, seq
# strictly increasing, ended_at >= aborted_at), neither at the end nor in
# any of the reader's snapshots taken during the run.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $NCLIENTS = 8;
my $ITER = 100;
my $RING = 64;

# What each iteration of a client does: abort a block with one statement,
# then send a number of commands that are ignored (25P02), then ROLLBACK.
my %kinds = (
	'23505' => {
		stmt => 'INSERT INTO t VALUES (1)',
		message => 'duplicate key value violates unique constraint "t_pkey"',
		ignored => 2
	},
	'22012' => {
		stmt => 'SELECT 1/0',
		message => 'division by zero',
		ignored => 1
	},
	'42P01' => {
		stmt => 'SELECT * FROM nosuch',
		message => 'relation "nosuch" does not exist',
		ignored => 3
	},);
my @codes = sort keys %kinds;
my $total = $NCLIENTS * $ITER * scalar(@codes);

my $node = PostgreSQL::Test::Cluster->new('cc');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
txguard.history_size = $RING
max_connections = 30
log_statement = none
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
CREATE ROLE regress_txg_c LOGIN;
GRANT INSERT, SELECT ON t TO regress_txg_c;
SELECT txguard_reset();
));
is($node->safe_psql('postgres', 'SELECT history_size FROM txguard_info()'),
	$RING, "history_size is $RING");

# Clients 0-3 connect as postgres, 4-7 as regress_txg_c.
sub role_of { return $_[0] < $NCLIENTS / 2 ? 'postgres' : 'regress_txg_c'; }

# A predicate true for a consistent (untorn) history row (NULL counts as
# inconsistent: callers wrap it in coalesce(..., false)).
my $consistent = join(
	"\n  OR ",
	map {
		my $k = $kinds{$_};
		"(sqlstate = '$_' AND message = "
		  . $node->safe_psql('postgres', "SELECT quote_literal(\$x\$$k->{message}\$x\$)")
		  . " AND statement = "
		  . $node->safe_psql('postgres', "SELECT quote_literal(\$x\$$k->{stmt}\$x\$)")
		  . " AND statement_ordinal = 1 AND in_block AND NOT in_savepoint"
		  . " AND aborted_at >= xact_start"
		  . " AND (ended_by IS NULL AND ignored_commands <= $k->{ignored}"
		  . "      OR ended_by = 'rollback' AND ignored_commands = $k->{ignored}"
		  . "         AND ended_at >= aborted_at))"
	} @codes);

my $tmp = PostgreSQL::Test::Utils::tempdir;

# A barrier: every client and reader waits for this advisory lock before starting.
my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(4242)');

my @clients;
for my $c (0 .. $NCLIENTS - 1)
{
	my $script = "SET application_name = 'txg_cc_$c';\n"
	  . "SELECT 'pid=' || pg_backend_pid();\n"
	  . "SELECT pg_advisory_lock_shared(4242);\n"
	  . "SELECT pg_advisory_unlock_shared(4242);\n";
	for my $i (1 .. $ITER)
	{
		# rotate the order of the kinds between clients and iterations
		for my $j (0 .. $#codes)
		{
			my $k = $kinds{ $codes[ ($c + $i + $j) % @codes ] };
			$script .= "BEGIN;\n$k->{stmt};\n";
			$script .= "SELECT $_;\n" for 1 .. $k->{ignored};
			$script .= "ROLLBACK;\n";
		}
	}
	my $file = "$tmp/client$c.sql";
	append_to_file($file, $script);
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0',
			'-d', $node->connstr('postgres'),
			'-U', role_of($c), '-f', $file
		],
		'>', \$out, '2>', \$err,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @clients, { h => $h, out => \$out, err => \$err };
}

# Readers checking every row they see while the clients run: a plpgsql loop
# that reads txguard_aborts again and again (each call of the VOLATILE
# function reads shared memory afresh) until every abort has been written
# and ended, and counts the snapshots with a torn, duplicated or unnumbered
# row.  Returns "snapshots midrun bad example".
$node->safe_psql('postgres', qq(
CREATE FUNCTION txg_reader(total bigint, maxwait float8) RETURNS text
LANGUAGE plpgsql AS \$f\$
DECLARE
  deadline timestamptz := clock_timestamp() + maxwait * interval '1 s';
  n int := 0; mid int := 0; bad int := 0; example text := '';
  r record;
BEGIN
  LOOP
    SELECT count(*) AS nrows,
           count(*) FILTER (WHERE NOT coalesce(($consistent), false)) AS torn,
           count(DISTINCT seq) AS ndistinct,
           coalesce(bool_and(seq > 0), true) AS numbered,
           coalesce(max(seq), 0) AS maxseq,
           count(*) FILTER (WHERE ended_by IS NULL) AS open,
           string_agg(seq || ':' || sqlstate || ':' || coalesce(message, '?'), ';')
             FILTER (WHERE NOT coalesce(($consistent), false)) AS torn_rows
      INTO r FROM txguard_aborts;
    n := n + 1;
    IF r.torn > 0 OR r.ndistinct <> r.nrows OR NOT r.numbered THEN
      bad := bad + 1;
      example := coalesce(r.torn_rows, 'duplicate or zero seq');
    END IF;
    IF r.maxseq > 0 AND r.maxseq < total THEN
      mid := mid + 1;
    END IF;
    EXIT WHEN (r.maxseq >= total AND r.open = 0) OR clock_timestamp() > deadline;
  END LOOP;
  RETURN n || ' ' || mid || ' ' || bad || ' ' || example;
END \$f\$;
));
my @readers;
for my $rd (1 .. 2)
{
	my ($rout, $rerr) = ('', '');
	my $sql = "SELECT pg_advisory_lock_shared(4242);\n"
	  . "SELECT pg_advisory_unlock_shared(4242);\n"
	  . "SELECT 'reader ' || txg_reader($total, 120);\n";
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$rout, '2>', \$rerr,
		IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
	push @readers, { h => $h, out => \$rout, err => \$rerr };
}

# Start when all clients and readers wait at the gate.
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted",
		$NCLIENTS + 2),
	"all $NCLIENTS clients and 2 readers are waiting at the gate");
$gate->query_safe('SELECT pg_advisory_unlock(4242)');

my %pid_of;
for my $c (0 .. $NCLIENTS - 1)
{
	$clients[$c]{h}->finish;
	my ($pid) = ${ $clients[$c]{out} } =~ /pid=(\d+)/;
	$pid_of{$c} = $pid;
	my $n25p02 = () = ${ $clients[$c]{err} } =~ /ERROR:  current transaction is aborted/g;
	my $want = 0;
	$want += $ITER * $kinds{$_}{ignored} for @codes;
	is($n25p02, $want, "client $c (pid $pid): $want commands ignored with 25P02");
	my $ncause = () = ${ $clients[$c]{err} } =~ /DETAIL:  The transaction was aborted by an earlier error/g;
	is($ncause, $want, "client $c: every 25P02 names its cause");
}
$gate->quit;

foreach my $rd (@readers)
{
	$rd->{h}->finish;
	is(${ $rd->{err} }, '', 'reader: no error');
	my ($n, $mid, $bad, $example) =
	  ${ $rd->{out} } =~ /^reader (\d+) (\d+) (\d+) ?(.*)$/m;
	is($bad, 0, "reader: no torn, duplicated or unnumbered row in $n snapshots")
	  or diag "example: $example";
	cmp_ok($mid // 0, '>', 0,
		'reader: ' . ($mid // 0) . ' snapshots were taken while the clients ran');
}

# --- statistics: exact per role and SQLSTATE ------------------------------------
my $want_stats = '';
for my $role (sort('postgres', 'regress_txg_c'))
{
	for my $code (@codes)
	{
		my $n = ($NCLIENTS / 2) * $ITER;
		$want_stats .= "$role|$code|$n|$n|" . ($n * $kinds{$code}{ignored}) . "|0\n";
	}
}
chomp $want_stats;
is( $node->safe_psql(
		'postgres',
		q(SELECT usename, sqlstate, aborts, aborted_blocks, ignored_commands, sessions_terminated
		  FROM txguard_stats WHERE datname = 'postgres' ORDER BY usename, sqlstate)),
	$want_stats,
	'txguard_stats: exact aborts, aborted_blocks, ignored_commands per role and SQLSTATE');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_stats'),
	2 * @codes, 'txguard_stats: no other entry');

# --- the ring ----------------------------------------------------------------------
is( $node->safe_psql(
		'postgres',
		'SELECT history_written, history_overwritten, history_dropped, stats_entries FROM txguard_info()'),
	join('|', $total, $total - $RING, 0, 2 * @codes),
	"txguard_info: history_written = $total, history_overwritten = " . ($total - $RING));
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts'),
	$RING, "exactly $RING rows in txguard_aborts");
is( $node->safe_psql(
		'postgres', 'SELECT min(seq), max(seq), count(DISTINCT seq) FROM txguard_aborts'),
	join('|', $total - $RING + 1, $total, $RING),
	'the rows are the newest episodes, each seq once');
is( $node->safe_psql(
		'postgres', q(
SELECT count(*) FROM (
  SELECT seq, lag(seq) OVER () AS prev FROM txguard_aborts) s
WHERE prev IS NOT NULL AND seq >= prev)),
	'0',
	'txguard_aborts is ordered by seq, strictly decreasing (newest first)');
is( $node->safe_psql(
		'postgres', qq(
SELECT count(*) FROM txguard_aborts
WHERE NOT coalesce(($consistent), false) OR ended_by IS DISTINCT FROM 'rollback')),
	'0',
	'no torn row: message, statement and ignored_commands match the SQLSTATE; ended_at >= aborted_at');

# Every row belongs to the client (pid, role) named by its application_name,
# and the rows of one client are in its own order.
my $pidmap = join(',', map { "($_, $pid_of{$_}, '" . role_of($_) . "')" } sort keys %pid_of);
is( $node->safe_psql(
		'postgres', qq(
SELECT count(*) FROM txguard_aborts a
LEFT JOIN (VALUES $pidmap) AS c(n, pid, role)
  ON a.application_name = 'txg_cc_' || c.n AND a.pid = c.pid AND a.usename = c.role
WHERE c.n IS NULL)),
	'0',
	'every row has the pid and role of the client named by its application_name');
is( $node->safe_psql(
		'postgres', q(
SELECT count(*) FROM (
  SELECT aborted_at, ended_at,
         lag(ended_at) OVER (PARTITION BY pid ORDER BY seq) AS prev_end
  FROM txguard_aborts) s
WHERE prev_end IS NOT NULL AND aborted_at < prev_end)),
	'0',
	'per client, each episode starts after the previous one ended');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborted_sessions'),
	'0', 'no session is left aborted');

$node->stop;
done_testing();
