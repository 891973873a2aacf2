
# Copyright (c) txguard authors
#
# 150_remote.pl -- errors relayed from another server by dblink and
# postgres_fdw (here a loopback connection to another database of the same
# server, which runs txguard too):
#
#  * a relayed error is marked remote (txguard_aborts.remote), with the
#    remote SQLSTATE;
#  * a relayed 25P02 is the consequence of an earlier error on the remote
#    server: its cause is the one the remote txguard names in the DETAIL
#    (SQLSTATE and message), which is what txguard_stats counts, and what
#    the local 25P02s name;
#  * when the remote server names no cause (txguard.annotate = off there),
#    the record keeps the 25P02, marked remote;
#  * a unique violation raised on a foreign table's server is remote, 23505.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('remote');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
));
$node->start;

# contrib may be missing (a PostgreSQL built from source without it)
my %have = map { $_ => 1 } split /\n/,
  $node->safe_psql('postgres',
	"SELECT name FROM pg_available_extensions WHERE name IN ('dblink', 'postgres_fdw')");
plan skip_all => 'neither dblink nor postgres_fdw is installed'
  unless %have;

# the remote side: database "remote" of the same server
$node->safe_psql('postgres', 'CREATE DATABASE remote');
$node->safe_psql('remote', q(
CREATE EXTENSION txguard;
CREATE TABLE items (id int PRIMARY KEY);
INSERT INTO items VALUES (1);
));
my $remote = 'host=' . $node->host . ' port=' . $node->port . ' dbname=remote';
$node->safe_psql('postgres', 'CREATE EXTENSION txguard');
$node->safe_psql('postgres', 'CREATE EXTENSION dblink') if $have{dblink};
$node->safe_psql('postgres', qq(
CREATE EXTENSION postgres_fdw;
CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '@{[ $node->host ]}', port '@{[ $node->port ]}', dbname 'remote');
CREATE USER MAPPING FOR CURRENT_USER SERVER loopback;
CREATE FOREIGN TABLE remote_items (id int) SERVER loopback
    OPTIONS (table_name 'items');
)) if $have{postgres_fdw};

# one local session's statements, in one psql; returns (stdout, stderr)
sub local_psql
{
	my ($sql) = @_;
	my ($ret, $stdout, $stderr) = $node->psql('postgres', $sql, on_error_stop => 0);
	return ($stdout, $stderr);
}

# the local record of the error (one row), as sqlstate|message|remote
my $record = q(SELECT sqlstate || '|' || message || '|' || remote
  FROM txguard_aborts WHERE datname = 'postgres');

my ($out, $err);

SKIP:
{
	skip 'dblink is not installed', 12 unless $have{dblink};

	# ---------------------------------------------------------------------
	# a remote error relayed by dblink
	$node->safe_psql('postgres', 'SELECT txguard_reset()');
	($out, $err) = local_psql(qq(
SELECT dblink_connect('c', '$remote');
BEGIN;
SELECT dblink_exec('c', 'SELECT 1/0');
ROLLBACK;
));
	is($out, 'OK', 'dblink: connected');
	is($node->safe_psql('postgres', $record), '22012|division by zero|true',
		'dblink: the relayed error is remote, with its SQLSTATE');

	# ---------------------------------------------------------------------
	# a remote 25P02: the remote block was aborted by a division by zero (not
	# raised locally: fail = false), then the next remote command fails
	$node->safe_psql('postgres', 'SELECT txguard_reset()');
	($out, $err) = local_psql(qq(
SELECT dblink_connect('c', '$remote');
SELECT dblink_exec('c', 'BEGIN');
SELECT dblink_exec('c', 'SELECT 1/0', false);
BEGIN;
SELECT dblink_exec('c', 'SELECT 1');
SELECT 'ignored';
ROLLBACK;
SELECT sqlstate || '|' || message || '|' || remote FROM txguard_last_abort();
));
	like($out, qr/^OK\nBEGIN\nERROR\n/, 'dblink: connected, remote block begun and aborted');
	$out =~ s/^OK\nBEGIN\nERROR\n//;
	like($err,
		qr/ERROR:  current transaction is aborted, commands ignored until end of transaction block\nDETAIL:  The transaction was aborted by an earlier error in statement 1: ERROR 22012: division by zero Statement: SELECT 1\/0\nCONTEXT:  while executing command on dblink connection named "c"/,
		'dblink: the remote 25P02 reaches the client, naming the remote cause');
	is($out, '22012|division by zero|true',
		'dblink: the session\'s last abort is the remote cause');
	is($node->safe_psql('postgres', $record), '22012|division by zero|true',
		'dblink: the history records the remote cause, marked remote');
	like($err,
		qr/ERROR:  current transaction is aborted, commands ignored until end of transaction block\nDETAIL:  The transaction was aborted by an earlier error in statement 1: ERROR 22012: division by zero .*Statement: SELECT dblink_exec\('c', 'SELECT 1'\)$/m,
		'dblink: the local 25P02 names the remote cause and the local statement');
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(sqlstate || ':' || aborts, ',' ORDER BY sqlstate) FROM txguard_stats WHERE datname = 'postgres'"
		),
		'22012:1',
		'dblink: txguard_stats counts the remote cause, never a 25P02');

	# ---------------------------------------------------------------------
	# the remote server names no cause: the record keeps the 25P02
	$node->safe_psql('postgres', 'SELECT txguard_reset()');
	($out, $err) = local_psql(qq(
SELECT dblink_connect('c', '$remote options=-ctxguard.annotate=off');
SELECT dblink_exec('c', 'BEGIN');
SELECT dblink_exec('c', 'SELECT 1/0', false);
BEGIN;
SELECT dblink_exec('c', 'SELECT 1');
ROLLBACK;
));
	is($out, "OK\nBEGIN\nERROR", 'annotate = off remotely: connected, remote block begun and aborted');
	like($err,
		qr/ERROR:  current transaction is aborted, commands ignored until end of transaction block\nCONTEXT:  while executing command on dblink connection named "c"/,
		'annotate = off remotely: the remote 25P02 names no cause');
	is( $node->safe_psql('postgres', $record),
		'25P02|current transaction is aborted, commands ignored until end of transaction block|true',
		'annotate = off remotely: the record keeps the 25P02, marked remote');
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(sqlstate || ':' || aborts, ',' ORDER BY sqlstate) FROM txguard_stats WHERE datname = 'postgres'"
		),
		'25P02:1',
		'annotate = off remotely: counted under 25P02');
}

SKIP:
{
	skip 'postgres_fdw is not installed', 2 unless $have{postgres_fdw};

	# ---------------------------------------------------------------------
	# postgres_fdw: a unique violation on the foreign table's server
	$node->safe_psql('postgres', 'SELECT txguard_reset()');
	($out, $err) = local_psql(q(
BEGIN;
INSERT INTO remote_items VALUES (1);
ROLLBACK;
));
	like($err, qr/duplicate key value violates unique constraint "items_pkey"/,
		'postgres_fdw: the remote unique violation reached the client');
	is( $node->safe_psql('postgres', $record),
		'23505|duplicate key value violates unique constraint "items_pkey"|true',
		'postgres_fdw: the relayed error is remote, 23505');
}

# a local error is not remote
$node->safe_psql('postgres', 'SELECT txguard_reset()');
local_psql("BEGIN;\nSELECT 1/0;\nROLLBACK;\n");
is($node->safe_psql('postgres', $record), '22012|division by zero|false',
	'a local error is not remote');

$node->stop;
done_testing();
