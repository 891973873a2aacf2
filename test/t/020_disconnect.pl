
# Copyright (c) txguard authors
#
# 020_disconnect.pl -- sessions that end while their block is aborted.
#
#  * the client quits (Terminate message) or vanishes (socket closed):
#    ended_by 'disconnect', LOG "ended by disconnect";
#  * pg_terminate_backend: the client sees core's 57P01 FATAL untouched,
#    ended_by 'terminated';
#  * core's idle_in_transaction_session_timeout: core's 25P03 FATAL with a
#    DETAIL naming the cause, ended_by 'idle-in-transaction timeout'.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $cause =
    'The transaction was aborted by an earlier error in statement 1: '
  . 'ERROR 23505: duplicate key value violates unique constraint "t_pkey" '
  . '(Key (id)=(1) already exists.) Statement: INSERT INTO t VALUES (1)';

my $node = PostgreSQL::Test::Cluster->new('disc');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'txguard'");
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
));

# Open a session, leave its block aborted by a 23505; returns (session, pid).
sub aborted_session
{
	my ($app, @pre) = @_;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("\\set VERBOSITY verbose");
	$s->query_safe("SET application_name = '$app'");
	$s->query_safe($_) foreach @pre;
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe('BEGIN');
	my ($out, $failed) = $s->query('INSERT INTO t VALUES (1)');
	ok($failed && $s->{stderr} =~ /ERROR:  23505: duplicate key value/,
		"$app: the block is aborted by a 23505");
	$s->{stderr} = '';
	is( $node->safe_psql(
			'postgres',
			"SELECT sqlstate FROM txguard_aborted_sessions WHERE pid = $pid"),
		'23505',
		"$app: listed in txguard_aborted_sessions");
	return ($s, $pid);
}

sub wait_gone
{
	my ($pid, $what) = @_;
	ok( $node->poll_query_until(
			'postgres',
			"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid)"),
		"$what: backend $pid is gone");
}

# Send one more command on a session whose server side is gone, and collect
# what psql printed before it gave up.
sub last_words
{
	my ($s) = @_;
	$s->{stdin} .= "SELECT 1;\n";
	$s->{run}->finish;
	return $s->{stderr};
}

sub history
{
	my ($pid) = @_;
	return $node->safe_psql('postgres',
		"SELECT ended_by, ignored_commands, ended_at IS NOT NULL, ended_at >= aborted_at "
		  . "FROM txguard_aborts WHERE pid = $pid");
}

# --- the client quits ---------------------------------------------------------
my $offset = -s $node->logfile;
my ($s, $pid) = aborted_session('txg_quit');
$s->query('SELECT 1');    # one ignored command
$s->quit;
wait_gone($pid, 'quit');
is(history($pid), 'disconnect|1|t|t', 'quit: history row ended_by disconnect');
$node->wait_for_log(qr/\[$pid\] txg_quit WARNING:  txguard: aborted transaction ended by disconnect; cause unique_violation SQLSTATE 23505 \(1 ignored command,/,
	$offset);
my $log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/\[$pid\] txg_quit WARNING:  txguard: aborted transaction ended by disconnect; cause unique_violation SQLSTATE 23505 \(1 ignored command, \d+\.\d{3} s aborted, statement 1(?:, query id -?\d+)?; detail "Key \(id\)=\(1\) already exists\."; statement "INSERT INTO t VALUES \(1\)"\): duplicate key value violates unique constraint "t_pkey"\n/,
	'quit: record "ended by disconnect" with the cause');
is(scalar(() = $log =~ /\[$pid\][^\n]*txguard: aborted transaction ended/g),
	1, 'quit: exactly one txguard record');
is($node->safe_psql('postgres', "SELECT count(*) FROM txguard_aborted_sessions WHERE pid = $pid"),
	'0', 'quit: no longer in txguard_aborted_sessions');

# --- the client vanishes (socket closed without a Terminate message) ----------
$offset = -s $node->logfile;
($s, $pid) = aborted_session('txg_vanish');
$s->{run}->kill_kill;
wait_gone($pid, 'vanish');
is(history($pid), 'disconnect|0|t|t', 'vanish: history row ended_by disconnect');
$node->wait_for_log(qr/\[$pid\] txg_vanish WARNING:  txguard: aborted transaction ended by disconnect; cause \S+ SQLSTATE \w{5} \(0 ignored commands,/,
	$offset);
pass('vanish: record "ended by disconnect"');

# --- pg_terminate_backend ----------------------------------------------------------
$offset = -s $node->logfile;
($s, $pid) = aborted_session('txg_term');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"),
	't', 'terminate: pg_terminate_backend');
wait_gone($pid, 'terminate');
my $err = last_words($s);
like(
	$err,
	qr/FATAL:  57P01: terminating connection due to administrator command\n/,
	'terminate: client sees core\'s 57P01 message');
unlike($err, qr/The transaction was aborted|idle-in-aborted|25P03/,
	'terminate: the FATAL is not annotated nor relabelled');
like($err, qr/connection to server was lost|server closed the connection/,
	'terminate: the connection is gone');
is(history($pid), 'terminated|0|t|t', 'terminate: history row ended_by terminated');
$node->wait_for_log(qr/\[$pid\] txg_term WARNING:  txguard: aborted transaction ended by terminated/,
	$offset);
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/\[$pid\] txg_term FATAL:  terminating connection due to administrator command\n(?![^\n]*DETAIL)/,
	'terminate: server log has core\'s FATAL without DETAIL');

# --- core's idle_in_transaction_session_timeout ---------------------------------
# The test needs core's timeout to fire eventually, and only after
# aborted_session() has seen the session listed (one psql run, which took
# more than 500 ms on a loaded machine): 3 s leaves room for that.
$offset = -s $node->logfile;
($s, $pid) = aborted_session('txg_iit', "SET idle_in_transaction_session_timeout = '3s'");
wait_gone($pid, 'idle_in_transaction_session_timeout');
$err = last_words($s);
like(
	$err,
	qr/FATAL:  25P03: terminating connection due to idle-in-transaction timeout\nDETAIL:  \Q$cause\E\n/,
	'idle_in_transaction_session_timeout: core\'s 25P03 FATAL, DETAIL names the cause');
unlike($err, qr/idle-in-aborted-transaction/,
	'idle_in_transaction_session_timeout: not relabelled as txguard\'s timeout');
is( history($pid),
	'idle-in-transaction timeout|0|t|t',
	'idle_in_transaction_session_timeout: history row ended_by "idle-in-transaction timeout"');
$node->wait_for_log(
	qr/\[$pid\] txg_iit WARNING:  txguard: aborted transaction ended by idle-in-transaction timeout/,
	$offset);
$log = slurp_file($node->logfile, $offset);
like(
	$log,
	qr/\[$pid\] txg_iit FATAL:  terminating connection due to idle-in-transaction timeout\n[^\n]*\[$pid\] txg_iit DETAIL:  \Q$cause\E\n/,
	'idle_in_transaction_session_timeout: server log FATAL has the same DETAIL');
is( $node->safe_psql(
		'postgres',
		"SELECT coalesce(sum(sessions_terminated), 0) FROM txguard_stats"),
	'0',
	'no session counted as terminated by txguard\'s own timeout');

$node->stop;
done_testing();
