# Bad txguard settings in postgresql.conf: at start-up every one is reported
# in the server log and the setting keeps its default (the way PostgreSQL
# treats every extension's settings); at a reload the old value is kept and
# the rejection is logged.  Never a crash, never a silently different value.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('bad_config');
$node->init;
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'txguard'
txguard.history_size = -5
txguard.max_statement_length = 10
txguard.annotate = loud
txguard.track = everything
txguard.enabled = maybe
txguard.log_aborts = 2
txguard.store_detail = ''
txguard.idle_in_aborted_transaction_timeout = -1
txguard.max_statements = -1
txguard.log_ignored_commands = some
txguard.persist = sometimes
txguard.typo = 1
});
$node->start;

my $log = slurp_file($node->logfile);
my %expect = (
	'txguard.history_size' =>
	  qr/WARNING:  -5 is outside the valid range for parameter "txguard.history_size" \(0 \.\. 100000\)/,
	'txguard.max_statement_length' =>
	  qr/WARNING:  10 B is outside the valid range for parameter "txguard.max_statement_length" \(64( B)? \.\. 65536( B)?\)/,
	'txguard.annotate' =>
	  qr/WARNING:  invalid value for parameter "txguard.annotate": "loud"/,
	'txguard.track' =>
	  qr/WARNING:  invalid value for parameter "txguard.track": "everything"/,
	'txguard.enabled' =>
	  qr/WARNING:  parameter "txguard.enabled" requires a Boolean value/,
	'txguard.log_aborts' =>
	  qr/WARNING:  invalid value for parameter "txguard.log_aborts": "2"/,
	'txguard.store_detail' =>
	  qr/WARNING:  parameter "txguard.store_detail" requires a Boolean value/,
	'txguard.idle_in_aborted_transaction_timeout' =>
	  qr/WARNING:  -1 ms is outside the valid range for parameter "txguard.idle_in_aborted_transaction_timeout"/,
	'txguard.max_statements' =>
	  qr/WARNING:  -1 is outside the valid range for parameter "txguard.max_statements" \(0 \.\. 100000\)/,
	'txguard.log_ignored_commands' =>
	  qr/WARNING:  invalid value for parameter "txguard.log_ignored_commands": "some"/,
	'txguard.persist' =>
	  qr/WARNING:  parameter "txguard.persist" requires a Boolean value/,
	'txguard.typo' =>
	  qr/WARNING:  invalid configuration parameter name "txguard.typo", removing it/,);
# 13 and 14 do not reserve the prefix: a misspelt name is kept there
my $vnum = $node->safe_psql('postgres', 'SHOW server_version_num');
delete $expect{'txguard.typo'} if $vnum < 150000;
foreach my $name (sort keys %expect)
{
	like($log, $expect{$name}, "start-up reports the bad value of $name");
}

is( $node->safe_psql(
		'postgres',
		q{SELECT string_agg(name || '=' || setting, ',' ORDER BY name)
		    FROM pg_settings WHERE name LIKE 'txguard.%'}),
	'txguard.annotate=detail,txguard.enabled=on,txguard.history_size=1000,'
	  . 'txguard.idle_in_aborted_transaction_timeout=0,txguard.log_aborts=problems,'
	  . 'txguard.log_aborts_min_duration=1000,'
	  . 'txguard.log_ignored_commands=first,'
	  . 'txguard.max_statement_length=1024,txguard.max_statements=1000,'
	  . 'txguard.persist=on,txguard.store_detail=on,txguard.track=blocks',
	'every rejected setting has its default, none a wrong value');

# txguard works with those defaults
$node->safe_psql('postgres', 'CREATE EXTENSION txguard');
my ($ret, $stdout, $stderr) = $node->psql(
	'postgres', q{
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
}, on_error_stop => 0);
like($stderr, qr/DETAIL:  The transaction was aborted by an earlier error in statement 1: ERROR 23505/,
	'the 25P02 is annotated');

# A reload with good values applies them; a reload with a bad value keeps
# the value in force and logs the rejection.
# (a later line of postgresql.conf overrides an earlier one)
$node->append_conf('postgresql.conf',
	"txguard.annotate = 'message'\ntxguard.idle_in_aborted_transaction_timeout = '5min'");
$node->reload;
ok( $node->poll_query_until(
		'postgres', q{SELECT current_setting('txguard.annotate') = 'message'}),
	'a good value is applied at reload');
is($node->safe_psql('postgres', q{SHOW txguard.idle_in_aborted_transaction_timeout}),
	'5min', 'the timeout is applied at reload');

my $offset = -s $node->logfile;
$node->append_conf('postgresql.conf',
	"txguard.idle_in_aborted_transaction_timeout = '-3s'\ntxguard.annotate = 'loud'");
$node->reload;
ok( $node->wait_for_log(
		qr/-3000 ms is outside the valid range for parameter "txguard.idle_in_aborted_transaction_timeout"/,
		$offset),
	'a bad timeout at reload is logged');
$node->wait_for_log(qr/invalid value for parameter "txguard.annotate": "loud"/, $offset);
is($node->safe_psql('postgres', q{SHOW txguard.idle_in_aborted_transaction_timeout}),
	'5min', 'the timeout in force is kept');
is($node->safe_psql('postgres', q{SHOW txguard.annotate}),
	'message', 'the annotate mode in force is kept');

$node->stop;
done_testing();
