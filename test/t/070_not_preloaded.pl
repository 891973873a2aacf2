# txguard without shared_preload_libraries: CREATE EXTENSION works, and every
# function says clearly that the library must be preloaded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->start;

my ($ret, $stdout, $stderr) =
  $node->psql('postgres', 'CREATE EXTENSION txguard');
is($ret, 0, 'CREATE EXTENSION works without preloading');

foreach my $query (
	'SELECT * FROM txguard_aborts',
	'SELECT * FROM txguard_abort_history(1)',
	'SELECT * FROM txguard_last_abort()',
	'SELECT * FROM txguard_aborted_sessions',
	'SELECT * FROM txguard_stats',
	'SELECT * FROM txguard_info()',
	'SELECT txguard_reset()')
{
	($ret, $stdout, $stderr) = $node->psql('postgres', $query);
	isnt($ret, 0, "$query fails");
	like(
		$stderr,
		qr/ERROR:  txguard must be loaded via "shared_preload_libraries"\nHINT:  Add txguard to "shared_preload_libraries" in postgresql.conf and restart the server\./,
		"$query says txguard must be preloaded");
}

# Loading the library into a session defines the session settings but
# neither hooks nor shared memory: a 25P02 is left as core wrote it.
($ret, $stdout, $stderr) = $node->psql(
	'postgres', q{
LOAD 'txguard';
SET txguard.annotate = message;
SHOW txguard.annotate;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
}, on_error_stop => 0);
like($stdout, qr/^message$/m, 'LOAD defines the session settings');
like(
	$stderr,
	qr/ERROR:  current transaction is aborted, commands ignored until end of transaction block$/m,
	'25P02 without preloading');
unlike($stderr, qr/aborted by an earlier error/,
	'no annotation without preloading');

# The postmaster-level settings do not exist without preloading.
($ret, $stdout, $stderr) =
  $node->psql('postgres', 'LOAD \'txguard\'; SHOW txguard.history_size');
like($stderr, qr/unrecognized configuration parameter "txguard.history_size"/,
	'txguard.history_size exists only when preloaded');

# Preloading later makes the same database work.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'txguard'");
$node->restart;
($ret, $stdout, $stderr) = $node->psql('postgres',
	'SELECT count(*) FROM txguard_aborts');
is($ret, 0, 'after preloading and a restart the views work');
is($stdout, '0', 'and are empty');

$node->stop;
done_testing();
