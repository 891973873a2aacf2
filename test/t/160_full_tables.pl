
# Copyright (c) txguard authors
#
# 160_full_tables.pl -- no role can push the others out of the statistics.
# For each bounded table -- txguard_stats (per database, role and SQLSTATE),
# txguard_statement_stats (txguard.max_statements) and
# txguard_application_stats (per database, application and SQLSTATE) -- an
# ordinary role fills it with keys of its own (one failing statement each,
# a custom SQLSTATE per key), five beyond its size; it then counts its 6th
# key again.  Another role, under another application, fails with a new
# cause: that cause is counted, with the ignored commands of its block; the
# table evicted its least recently counted keys (the first five, then the
# 7th, never the 6th it had just counted) and txguard_info() counts each
# eviction.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('full_tables');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
txguard.max_statements = 50
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE ROLE regress_txg_flood LOGIN;
CREATE ROLE regress_txg_victim LOGIN;
));

# the n-th key of the flooding role: a custom SQLSTATE (class Y...)
sub code { my ($n) = @_; return sprintf('Y%04d', $n); }

sub fail_with
{
	my ($n) = @_;
	my $c = code($n);
	return "DO \$\$BEGIN RAISE EXCEPTION 'flood' USING ERRCODE = '$c'; END\$\$;\n";
}

# One table: its name in the SQL, and the columns of txguard_info() that
# give its size, its number of keys and its evictions.
sub check_table
{
	my ($view, $max_col, $used_col, $evicted_col) = @_;

	$node->safe_psql('postgres', 'SELECT txguard_reset()');
	my $max = $node->safe_psql('postgres', "SELECT $max_col FROM txguard_info()");
	ok($max > 5, "$view: $max keys at most");

	# the flood: max + 5 keys, one failing statement each, then key 6 again
	my $script = "SET application_name = 'txg_flood';\n";
	$script .= fail_with($_) for (1 .. $max + 5);
	$script .= fail_with(6);
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $script,
		on_error_stop => 0,
		extra_params => [ '-U', 'regress_txg_flood' ]);
	my $errors = () = $stderr =~ /ERROR:  flood/g;
	is($errors, $max + 6, "$view: the flooding role failed " . ($max + 6) . ' times');
	is( $node->safe_psql('postgres',
			"SELECT $used_col || '|' || $evicted_col FROM txguard_info()"),
		"$max|5",
		"$view: full, the 5 keys beyond its size each evicted one");

	# another role and application: a new cause, in a block with 2 ignored commands
	$node->psql(
		'postgres', q(
SET application_name = 'txg_victim';
BEGIN;
SELECT 1/0;
SELECT 1;
SELECT 2;
ROLLBACK;
), on_error_stop => 0, extra_params => [ '-U', 'regress_txg_victim' ]);
	is( $node->safe_psql('postgres',
			"SELECT sum(aborts) || '|' || sum(ignored_commands) FROM $view WHERE sqlstate = '22012'"),
		'1|2',
		"$view: the other role's new cause is counted, with its ignored commands");
	is( $node->safe_psql('postgres',
			"SELECT $used_col || '|' || $evicted_col FROM txguard_info()"),
		"$max|6",
		"$view: its key evicted one more");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(sqlstate || ':' || aborts, ',' ORDER BY sqlstate) FROM $view WHERE sqlstate IN ('"
			  . join("', '", map { code($_) } 1 .. 8) . "')"),
		code(6) . ':2,' . code(8) . ':1',
		"$view: the evicted keys were the least recently counted (" . code(1) . '-' . code(5) . ', ' . code(7) . '), not ' . code(6));
}

check_table('txguard_stats', 'stats_max', 'stats_entries', 'stats_evicted');
check_table('txguard_statement_stats', 'statements_max', 'statements', 'statements_evicted');
check_table('txguard_application_stats', 'applications_max', 'applications', 'applications_evicted');

$node->stop;
done_testing();
