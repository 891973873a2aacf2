
# Copyright (c) txguard authors
#
# 040_restart.pl -- txguard's statistics and history across restarts:
#
#  * a clean restart keeps them (saved to pg_stat/txguard.stat at shutdown,
#    restored at start-up), history positions go on increasing;
#  * txguard.persist = off: nothing is kept;
#  * a crash restart starts empty and says nothing (the file was removed
#    when it was loaded), as pg_stat_statements; a start after an immediate
#    (unclean) shutdown starts empty with one WARNING, as core's statistics
#    do;
#  * a missing file: empty, no WARNING (the first start of a cluster);
#  * a truncated, damaged or foreign file: one WARNING, empty, the server
#    starts;
#  * a file written with another history_size, max_statement_length and
#    max_statements is loaded as far as it fits;
#  * recording works again after each of them.

use strict;
use warnings;

use Encode qw(encode);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
restart_after_crash = on
txguard.history_size = 8
txguard.max_statements = 8
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
));
my $file = $node->data_dir . '/pg_stat/txguard.stat';

# Two aborted blocks (23505, 22012), one ignored command each.
sub make_aborts
{
	my ($tag) = @_;
	$node->psql('postgres', qq(
SET application_name = '$tag';
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
BEGIN;
SELECT 1/0;
SELECT 1;
ROLLBACK;
), on_error_stop => 0);
}

my $state_sql = q(
SELECT (SELECT count(*) FROM txguard_aborts) || '|' ||
       (SELECT count(*) FROM txguard_stats) || '|' ||
       (SELECT count(*) FROM txguard_statement_stats) || '|' ||
       (SELECT coalesce(sum(error_aborts), 0) FROM txguard_database_stats));
my $rows_sql = q(
SELECT string_agg(application_name || ':' || sqlstate || ':' || ended_by || ':' || ignored_commands, ',' ORDER BY seq)
FROM txguard_aborts);
my $stats_sql = q(
SELECT string_agg(sqlstate || ':' || aborts || ':' || aborted_blocks || ':' || ignored_commands, ',' ORDER BY sqlstate)
FROM txguard_stats);
my $everything_sql = q(
SELECT (SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', seq, pid, sqlstate, statement,
                                 ignored_commands, ended_by, aborted_at, ended_at), ',' ORDER BY seq)
          FROM txguard_aborts) || ' # ' ||
       (SELECT string_agg(format('%s|%s|%s|%s|%s|%s', sqlstate, aborts, aborted_blocks,
                                 ignored_commands, first_seen, last_seen), ',' ORDER BY sqlstate)
          FROM txguard_stats) || ' # ' ||
       (SELECT string_agg(format('%s|%s|%s|%s', sqlstate, aborts, statement, last_seen), ','
                          ORDER BY sqlstate)
          FROM txguard_statement_stats) || ' # ' ||
       (SELECT string_agg(format('%s|%s|%s', datname, error_aborts, ignored_commands), ',')
          FROM txguard_database_stats) || ' # ' ||
       (SELECT stats_reset FROM txguard_info()));

sub check_recording
{
	my ($tag, $expected_state) = @_;
	make_aborts($tag);
	is($node->safe_psql('postgres', $state_sql), $expected_state // '2|2|2|2',
		"$tag: two aborts recorded");
	like($node->safe_psql('postgres', $rows_sql),
		qr/$tag:23505:rollback:1,$tag:22012:rollback:1$/, "$tag: history rows");
}

# Restart (the way given), and return the new part of the log.
sub restart_and_log
{
	my ($how) = @_;
	my $offset = -s $node->logfile;
	if ($how eq 'clean')
	{
		$node->restart;
	}
	elsif ($how eq 'immediate')
	{
		$node->stop('immediate');
		$node->start;
	}
	return slurp_file($node->logfile, $offset);
}

sub warnings_in
{
	my ($log) = @_;
	my @w = ($log =~ /^.*WARNING:.*txguard.*$/mg);
	return scalar(@w);
}

check_recording('before');

# --- clean restart: everything kept ---------------------------------------
my $before = $node->safe_psql('postgres', $everything_sql);
my $max_seq = $node->safe_psql('postgres', 'SELECT max(seq) FROM txguard_aborts');
my $log = restart_and_log('clean');
is($node->safe_psql('postgres', $everything_sql), $before,
	'clean restart: history, statistics, statement and database statistics, stats_reset kept');
like($log, qr/LOG:  txguard restored the statistics and history saved at/,
	'clean restart: the log says what was restored');
is(warnings_in($log), 0, 'clean restart: no WARNING');
ok(!-e $file, 'clean restart: the file is removed once read');
is($node->safe_psql('postgres', 'SELECT restored_at IS NOT NULL FROM txguard_info()'),
	't', 'clean restart: txguard_info() says when it was restored');
make_aborts('after_clean');
ok( $node->safe_psql('postgres',
		"SELECT min(seq) > $max_seq FROM txguard_aborts WHERE application_name = 'after_clean'") eq 't',
	'clean restart: new records get later positions');
is($node->safe_psql('postgres', $stats_sql), '22012:2:2:2,23505:2:2:2',
	'clean restart: new aborts are added to the restored counters');

# --- txguard.persist = off ------------------------------------------------
$node->safe_psql('postgres', 'ALTER SYSTEM SET txguard.persist = off');
$node->reload;
$log = restart_and_log('clean');
ok(!-e $file, 'persist = off: no file');
is($node->safe_psql('postgres', $state_sql), '0|0|0|0', 'persist = off: empty after a restart');
is(warnings_in($log), 0, 'persist = off: no WARNING');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET txguard.persist');
$node->reload;
check_recording('persist_on_again');

# --- crash restart: empty, one WARNING --------------------------------------
# Leave one session aborted (an open episode in shared memory) and kill
# another backend with SIGKILL.
my $aborted = $node->background_psql('postgres', on_error_stop => 0);
$aborted->query_safe('BEGIN');
$aborted->query('SELECT 1/0');
my $victim = $node->background_psql('postgres');
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborted_sessions'),
	'1', 'before the crash: one session is aborted');

my $offset = -s $node->logfile;
is(kill('KILL', $victim_pid), 1, "killed backend $victim_pid with SIGKILL");
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
# (wait for the log first: a psql that finds the server in recovery exits
# before poll_query_until has written its query, a broken pipe on 17)
$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
ok($node->poll_query_until('postgres', 'SELECT 1', '1'),
	'the server accepts connections again after the crash');
$log = slurp_file($node->logfile, $offset);
$victim->{run}->kill_kill;
$aborted->{run}->kill_kill;

is($node->safe_psql('postgres', $state_sql), '0|0|0|0',
	'crash restart: history and statistics are empty');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborted_sessions'),
	'0', 'crash restart: no aborted session listed');
# as pg_stat_statements, txguard says nothing when it finds no file: core
# reports the crash, and the first start of a new cluster is no problem
is(warnings_in($log), 0, 'crash restart: no WARNING');
unlike($log, qr/txguard/, 'crash restart: txguard writes nothing');
check_recording('after_crash');

# --- immediate shutdown: the file of an unclean shutdown is discarded ----------
$log = restart_and_log('immediate');
is($node->safe_psql('postgres', $state_sql), '0|0|0|0', 'unclean shutdown: empty');
is(warnings_in($log), 1, 'unclean shutdown: one WARNING');
like($log, qr/DETAIL:  The server did not shut down cleanly/,
	'unclean shutdown: it says why');
check_recording('after_immediate');

# --- damaged files --------------------------------------------------------
# Stop cleanly, damage the saved file, start: one WARNING, empty, working.
sub damaged
{
	my ($what, $damage, $detail) = @_;
	make_aborts("pre_$what");
	$node->stop;
	ok(-s $file, "$what: the file was saved");
	$damage->();
	$offset = -s $node->logfile;
	$node->start;
	my $l = slurp_file($node->logfile, $offset);
	if (defined $detail)
	{
		is(warnings_in($l), 1, "$what: one WARNING");
		like($l, $detail, "$what: the DETAIL says why");
	}
	else
	{
		is(warnings_in($l), 0, "$what: no WARNING");
		unlike($l, qr/txguard/, "$what: txguard writes nothing");
	}
	is($node->safe_psql('postgres', $state_sql), '0|0|0|0', "$what: empty");
	ok(!-e $file, "$what: the file is removed");
	check_recording("after_$what");
}

sub rewrite_file
{
	my ($sub) = @_;
	my $data = slurp_file($file);
	open(my $fh, '>:raw', $file) or die "could not write $file: $!";
	print $fh $sub->($data);
	close $fh;
}

damaged('missing', sub { unlink $file }, undef);
damaged('truncated', sub { rewrite_file(sub { substr($_[0], 0, int(length($_[0]) / 2)) }) },
	qr/DETAIL:  (It is truncated|Its checksum does not match its contents)\./);
damaged('tiny', sub { rewrite_file(sub { substr($_[0], 0, 10) }) },
	qr/DETAIL:  It is truncated\./);
damaged('flipped', sub {
		rewrite_file(sub {
				my $d = $_[0];
				my $i = int(length($d) * 2 / 3);
				substr($d, $i, 1) = chr(ord(substr($d, $i, 1)) ^ 0x40);
				$d;
			});
	},
	qr/DETAIL:  Its checksum does not match its contents\./);
damaged('foreign', sub { rewrite_file(sub { 'x' x length($_[0]) }) },
	qr/DETAIL:  It is not a txguard statistics file\./);

# --- other sizes: loaded as far as it fits -------------------------------------
# Eight records, long multibyte statements; restart with room for four
# records of 64 bytes and two statements.
$node->safe_psql('postgres', 'SELECT txguard_reset()');
$node->psql('postgres', q(
BEGIN; SELECT * FROM nosuch; ROLLBACK;
BEGIN; SELECT 1/0; ROLLBACK;
BEGIN; INSERT INTO t VALUES (1); ROLLBACK;
), on_error_stop => 0);
for my $i (1 .. 8)
{
	$node->psql('postgres',
		encode('UTF-8',
			"SET application_name = 'size$i';\nBEGIN;\nSELECT 'x$i"
			  . ("\x{e9}" x 40) . "'::int;\nROLLBACK;\n"),
		on_error_stop => 0);
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts'), '8',
	'sizes: eight records before');
is( $node->safe_psql('postgres',
		"SELECT string_agg(sqlstate, ',' ORDER BY last_seen) FROM txguard_statement_stats"),
	'42P01,22012,23505,22P02', 'sizes: four statements before');
$node->stop;
$node->append_conf('postgresql.conf', qq(
txguard.history_size = 4
txguard.max_statement_length = 64
txguard.max_statements = 2
));
$offset = -s $node->logfile;
$node->start;
$log = slurp_file($node->logfile, $offset);
is(warnings_in($log), 0, 'sizes: no WARNING');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(application_name, ',' ORDER BY seq) FROM txguard_aborts"),
	'size5,size6,size7,size8',
	'sizes: the four newest records are kept');
is( $node->safe_psql(
		'postgres',
		"SELECT bool_and(octet_length(statement) <= 64 AND statement LIKE 'SELECT ''x%') FROM txguard_aborts"),
	't',
	'sizes: statements cut to 64 bytes');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM txguard_aborts WHERE convert_to(statement, 'UTF8') IS NOT NULL"),
	'4', 'sizes: the cut statements are valid text');
is( $node->safe_psql('postgres',
		"SELECT string_agg(sqlstate, ',' ORDER BY last_seen) FROM txguard_statement_stats"),
	'23505,22P02', 'sizes: the two most recently seen statements are kept');
check_recording('after_sizes', '4|4|2|13');

# --- txguard.store_detail = off: a DETAIL is kept neither in the history
# nor in the file (not even after the end of a shorter text)
$node->safe_psql('postgres', q(
CREATE TABLE secrets (k text PRIMARY KEY);
INSERT INTO secrets VALUES ('secret' || '-d3t4il-' || 'value');
));
$node->psql('postgres', q(
SET txguard.store_detail = off;
SET application_name = 'nodetail';
BEGIN;
INSERT INTO secrets SELECT 'secret' || '-d3t4il-' || 'value';
SELECT 1;
ROLLBACK;
), on_error_stop => 0);
is( $node->safe_psql(
		'postgres',
		"SELECT sqlstate, detail IS NULL OR detail = '' FROM txguard_aborts WHERE application_name = 'nodetail'"),
	'23505|t',
	'store_detail = off: the history has no DETAIL');
$node->stop;
ok(-e $file, 'store_detail = off: the history was saved');
unlike(slurp_file($file), qr/secret-d3t4il-value/,
	'store_detail = off: the saved file does not hold the DETAIL');
done_testing();
