
# Copyright (c) txguard authors
#
# 040_restart.pl -- txguard's history and statistics live in shared memory:
# they are empty after a clean restart and after a crash restart (the
# postmaster reinitialises shared memory), and recording works again.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('restart');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
restart_after_crash = on
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
));

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
       (SELECT history_written FROM txguard_info()) || '|' ||
       (SELECT stats_entries FROM txguard_info()));
my $rows_sql = q(
SELECT string_agg(application_name || ':' || sqlstate || ':' || ended_by || ':' || ignored_commands, ',' ORDER BY seq)
FROM txguard_aborts);
my $stats_sql = q(
SELECT string_agg(sqlstate || ':' || aborts || ':' || aborted_blocks || ':' || ignored_commands, ',' ORDER BY sqlstate)
FROM txguard_stats);

sub check_recording
{
	my ($tag) = @_;
	make_aborts($tag);
	is($node->safe_psql('postgres', $state_sql), '2|2|2|2', "$tag: two aborts recorded");
	is( $node->safe_psql('postgres', $rows_sql),
		"$tag:23505:rollback:1,$tag:22012:rollback:1",
		"$tag: history rows");
	is($node->safe_psql('postgres', $stats_sql),
		'22012:1:1:1,23505:1:1:1', "$tag: statistics");
}

check_recording('before');

# --- clean restart ------------------------------------------------------------
my $reset_before = $node->safe_psql('postgres', 'SELECT stats_reset FROM txguard_info()');
$node->restart;
is($node->safe_psql('postgres', $state_sql), '0|0|0|0',
	'clean restart: history and statistics are empty');
ok( $node->safe_psql('postgres',
		"SELECT stats_reset > '$reset_before' FROM txguard_info()") eq 't',
	'clean restart: stats_reset moved on');
check_recording('after_restart');

# --- crash restart ---------------------------------------------------------------
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
$reset_before = $node->safe_psql('postgres', 'SELECT stats_reset FROM txguard_info()');
is(kill('KILL', $victim_pid), 1, "killed backend $victim_pid with SIGKILL");
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset);
ok($node->poll_query_until('postgres', 'SELECT 1', '1'),
	'the server accepts connections again after the crash');
$node->wait_for_log(qr/database system is ready to accept connections/, $offset);

# The killed sessions' psql processes are gone with their connections.
$victim->{run}->kill_kill;
$aborted->{run}->kill_kill;

is($node->safe_psql('postgres', $state_sql), '0|0|0|0',
	'crash restart: history and statistics are empty');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborted_sessions'),
	'0', 'crash restart: no aborted session listed');
ok( $node->safe_psql('postgres',
		"SELECT stats_reset > '$reset_before' FROM txguard_info()") eq 't',
	'crash restart: stats_reset moved on');
check_recording('after_crash');

$node->stop;
done_testing();
