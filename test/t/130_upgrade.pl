
# Copyright (c) txguard authors
#
# 130_upgrade.pl -- the 1.2 library serves the SQL objects of a database
# still at 1.0 or 1.1 (as pg_stat_statements serves its older API
# versions), and ALTER EXTENSION txguard UPDATE brings 1.1, then 1.2, with
# the data in place.  txguard--1.0.sql and txguard--1.0--1.1.sql are the
# frozen released scripts.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'txguard'");
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard VERSION '1.0';
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
));
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'txguard'"),
	'1.0', 'the database uses 1.0');

$node->psql('postgres', q(
SET application_name = 'before_update';
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
), on_error_stop => 0);

# 1.0's objects, served by the 1.2 library
my %cols_1_0 = (
	'txguard_aborts' => 30,
	'txguard_aborted_sessions' => 16,
	'txguard_stats' => 12,
	'txguard_info()' => 10,
	'txguard_last_abort()' => 30);
foreach my $obj (sort keys %cols_1_0)
{
	my ($out, $err) = ('', '');
	$node->psql('postgres', "SELECT * FROM $obj", stdout => \$out, stderr => \$err);
	is($err, '', "1.0: SELECT * FROM $obj works on the 1.2 library");
}
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM information_schema.columns WHERE table_name = 'txguard_aborts'"),
	'30', '1.0: txguard_aborts has its 30 columns');
is( $node->safe_psql('postgres',
		"SELECT sqlstate || ' ' || statement_ordinal || ' ' || ignored_commands || ' ' || ended_by FROM txguard_aborts WHERE application_name = 'before_update'"),
	'23505 1 1 rollback', '1.0: the history row');
is($node->safe_psql('postgres', 'SELECT aborts FROM txguard_stats'), '1', '1.0: statistics');
is( $node->safe_psql('postgres',
		"SELECT to_regclass('txguard_statement_stats') IS NULL AND to_regclass('txguard_database_stats') IS NULL"),
	't', '1.0: the 1.1 views do not exist yet');

# a user object on a txguard view survives only if the update does not need
# to drop that view: here, none, so the update must work as is
$node->safe_psql('postgres', "ALTER EXTENSION txguard UPDATE TO '1.1'");
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'txguard'"),
	'1.1', "ALTER EXTENSION txguard UPDATE TO '1.1': now 1.1");

is( $node->safe_psql('postgres',
		"SELECT count(*) FROM information_schema.columns WHERE table_name = 'txguard_aborts'"),
	'35', '1.1: txguard_aborts has 35 columns');
is( $node->safe_psql('postgres',
		"SELECT sqlstate || ' ' || statement_ordinal || ' ' || ignored_commands || ' ' || ended_by || ' ' || condition_name || ' ' || retryable FROM txguard_aborts WHERE application_name = 'before_update'"),
	'23505 1 1 rollback unique_violation false',
	'1.1: the history recorded before the update is in place, with the new columns');
is( $node->safe_psql('postgres',
		"SELECT aborts || ' ' || condition_name FROM txguard_stats"),
	'1 unique_violation', '1.1: the statistics are in place');
is( $node->safe_psql('postgres',
		"SELECT aborts || ' ' || statement FROM txguard_statement_stats"),
	'1 INSERT INTO t VALUES (1)', '1.1: statement statistics (counted since start)');
is($node->safe_psql('postgres', 'SELECT error_aborts FROM txguard_database_stats'),
	'1', '1.1: database statistics');
is( $node->safe_psql('postgres',
		'SELECT statements FROM txguard_info()'),
	'1', '1.1: txguard_info() has the new columns');
is( $node->safe_psql('postgres',
		"SELECT has_function_privilege('public', 'txguard_reset()', 'EXECUTE')"),
	'f', '1.1: txguard_reset() is still revoked from PUBLIC');
is( $node->safe_psql('postgres',
		"SELECT bool_and(has_table_privilege('public', c.oid, 'SELECT')) FROM pg_class c JOIN pg_depend d ON d.objid = c.oid JOIN pg_extension e ON d.refobjid = e.oid WHERE e.extname = 'txguard' AND c.relkind = 'v'"),
	't', '1.1: every view of the extension is readable by PUBLIC');

# 1.1's objects on the 1.2 library, then the update to 1.2
foreach my $obj ('txguard_aborts', 'txguard_aborted_sessions', 'txguard_stats',
	'txguard_statement_stats', 'txguard_database_stats', 'txguard_info()',
	'txguard_last_abort()')
{
	my ($out, $err) = ('', '');
	$node->psql('postgres', "SELECT * FROM $obj", stdout => \$out, stderr => \$err);
	is($err, '', "1.1: SELECT * FROM $obj works on the 1.2 library");
}
$node->safe_psql('postgres', 'ALTER EXTENSION txguard UPDATE');
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'txguard'"),
	'1.2', 'ALTER EXTENSION txguard UPDATE: now 1.2');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM information_schema.columns WHERE table_name = 'txguard_aborts'"),
	'49', '1.2: txguard_aborts has 49 columns');
is( $node->safe_psql('postgres',
		"SELECT sqlstate || ' ' || statement_ordinal || ' ' || ended_by || ' ' || remote || ' ' || repeats FROM txguard_aborts WHERE application_name = 'before_update'"),
	'23505 1 rollback false 0',
	'1.2: the history recorded before the updates is in place, with the new columns');
is( $node->safe_psql('postgres',
		"SELECT aborts || ' ' || failed_alone || ' ' || statement FROM txguard_statement_stats"),
	'1 0 INSERT INTO t VALUES (1)', '1.2: statement statistics, with failed_alone');
is( $node->safe_psql('postgres',
		"SELECT application_name || ' ' || aborts FROM txguard_application_stats"),
	'before_update 1', '1.2: statistics by application (counted since start)');
is( $node->safe_psql('postgres',
		"SELECT stats_evicted || ' ' || databases || ' ' || applications FROM txguard_info()"),
	'0 1 1', '1.2: txguard_info() has the new columns');
is( $node->safe_psql('postgres',
		"SELECT has_function_privilege('public', 'txguard_reset()', 'EXECUTE')"),
	'f', '1.2: txguard_reset() is still revoked from PUBLIC');
is( $node->safe_psql('postgres',
		"SELECT bool_and(has_table_privilege('public', c.oid, 'SELECT')) FROM pg_class c JOIN pg_depend d ON d.objid = c.oid JOIN pg_extension e ON d.refobjid = e.oid WHERE e.extname = 'txguard' AND c.relkind = 'v'"),
	't', '1.2: every view of the extension is readable by PUBLIC');

# a fresh database gets 1.2 directly, with the same objects as the updates
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION txguard');
my $objects = q(
SELECT string_agg(pg_describe_object(classid, objid, 0), ', ' ORDER BY 1)
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'txguard')
   AND deptype = 'e');
is($node->safe_psql('fresh', $objects), $node->safe_psql('postgres', $objects),
	'CREATE EXTENSION and 1.0 + UPDATEs give the same objects');
my $coldefs = q(
SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, ordinal_position)
  FROM information_schema.columns WHERE table_name LIKE 'txguard%');
is($node->safe_psql('fresh', $coldefs), $node->safe_psql('postgres', $coldefs),
	'... with the same columns');

# the 1.0 script is the frozen one: the file shipped is byte for byte the
# released 1.0 (its SHA-256 as released)
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my $sum = `sha256sum $sharedir/extension/txguard--1.0.sql`;
like($sum, qr/^d24809bc1a977cc1d9da308c2777a5381eff9c81af13fdd65bb019e28d352dbe /,
	'txguard--1.0.sql is the released 1.0 script');
$sum = `sha256sum $sharedir/extension/txguard--1.0--1.1.sql`;
like($sum, qr/^2c5b08cc45960d10ae755a4c08ff6c19a5d6125d068e53e476bf1ba252395b01 /,
	'txguard--1.0--1.1.sql is the released 1.1 script');

$node->stop;
done_testing();
