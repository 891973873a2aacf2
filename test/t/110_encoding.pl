
# Copyright (c) txguard authors
#
# 110_encoding.pl -- texts are shown valid in the reader's database
# encoding: converted from the encoding of the database they were captured
# in; what cannot be converted is replaced (U+FFFD in UTF8, '?' elsewhere),
# never passed through, and never an ERROR for the whole view.
#
# Captured in LATIN1, SQL_ASCII (with arbitrary bytes) and EUC_JP, read
# from UTF8; captured in UTF8, read from LATIN1.

use strict;
use warnings;

use Encode qw(decode encode FB_CROAK);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('enc');
$node->init(extra => [ '--encoding=UTF8', '--locale=C' ]);
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'txguard'");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION txguard');
for my $enc ('LATIN1', 'SQL_ASCII', 'EUC_JP')
{
	my $db = lc "db_$enc";
	$node->safe_psql('postgres',
		"CREATE DATABASE $db ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0");
	$node->safe_psql($db, 'CREATE EXTENSION txguard');
}

# Run a script of raw bytes in a database with the given client encoding.
sub run_bytes
{
	my ($db, $client_encoding, $bytes) = @_;
	my ($stdout, $stderr);
	local $ENV{PGCLIENTENCODING} = $client_encoding;
	IPC::Run::run(
		[ 'psql', '-X', '-q', '-d', $node->connstr($db), '-f', '-' ],
		'<', \$bytes, '>', \$stdout, '2>', \$stderr);
	return $stderr;
}

# An aborted block whose statement and message hold the given text.
sub abort_with
{
	my ($app, $text_bytes) = @_;
	return "SET application_name = '$app';\nBEGIN;\nSELECT '$text_bytes'::int;\nROLLBACK;\n";
}

my $e_acute = "\x{e9}";          # é
my $nihon = "\x{65e5}\x{672c}";  # 日本

# LATIN1: the client sends UTF8, the server stores LATIN1
run_bytes('db_latin1', 'UTF8', encode('UTF-8', abort_with('enc_latin1', "caf$e_acute")));
# SQL_ASCII: raw bytes, including ones that are not UTF8 at all
run_bytes('db_sql_ascii', 'SQL_ASCII',
	abort_with('enc_sqlascii', "bad\xff\xfe" . encode('UTF-8', $e_acute)));
# EUC_JP: the client sends UTF8, the server stores EUC_JP
run_bytes('db_euc_jp', 'UTF8', encode('UTF-8', abort_with('enc_eucjp', $nihon)));
# UTF8, to be read from LATIN1
run_bytes('postgres', 'UTF8', encode('UTF-8', abort_with('enc_utf8', "caf$e_acute $nihon")));

# Read raw bytes of a query's output in a database and client encoding.
sub read_bytes
{
	my ($db, $client_encoding, $sql) = @_;
	my ($stdout, $stderr);
	local $ENV{PGCLIENTENCODING} = $client_encoding;
	my $ok = IPC::Run::run(
		[ 'psql', '-X', '-A', '-t', '-d', $node->connstr($db), '-c', $sql ],
		'>', \$stdout, '2>', \$stderr);
	chomp $stdout;
	return ($ok, $stdout, $stderr);
}

# Readers in UTF8
my ($ok, $out, $err) = read_bytes('postgres', 'UTF8',
	"SELECT application_name || ' | ' || statement || ' | ' || message "
	  . "FROM txguard_aborts ORDER BY seq");
ok($ok, 'the whole view is read from UTF8 without an error') or diag($err);
my $text = eval { decode('UTF-8', $out, FB_CROAK) };
ok(defined $text, 'what a UTF8 reader gets is valid UTF8') or diag($out);
$text //= '';
# PostgreSQL 13 has no pg_do_encoding_conversion_buf(): there a reader in
# another encoding gets the ASCII characters only (README, Compatibility)
my $converts =
  $node->safe_psql('postgres', 'SHOW server_version_num') >= 140000;
SKIP:
{
skip 'PostgreSQL 13 does not convert between encodings', 1 unless $converts;
like($text,
	qr/^enc_latin1 \| SELECT 'caf\x{e9}'::int \| invalid input syntax for type integer: "caf\x{e9}"$/m,
	'LATIN1 text is converted to UTF8');
}
like($text,
	qr/^enc_sqlascii \| SELECT 'bad\x{fffd}\x{fffd}\x{fffd}\x{fffd}'::int \| /m,
	'SQL_ASCII bytes above 127 are replaced with U+FFFD, never passed through');
SKIP:
{
skip 'PostgreSQL 13 does not convert between encodings', 1 unless $converts;
like($text,
	qr/^enc_eucjp \| SELECT '\x{65e5}\x{672c}'::int \| invalid input syntax for type integer: "\x{65e5}\x{672c}"$/m,
	'EUC_JP text is converted to UTF8');
}

# txguard_aborted_sessions and txguard_last_abort() convert as well: a
# LATIN1 session left aborted, seen from UTF8
SKIP:
{
	skip 'PostgreSQL 13 does not convert between encodings', 1 unless $converts;
	my $s = $node->background_psql('db_latin1', on_error_stop => 0);
	$s->query_safe("SET client_encoding = 'UTF8'");
	$s->query_safe('BEGIN');
	$s->query(encode('UTF-8', "SELECT 'd${e_acute}j${e_acute}'::int"));
	$s->{stderr} = '';
	($ok, $out, $err) = read_bytes('postgres', 'UTF8',
		"SELECT statement FROM txguard_aborted_sessions WHERE datname = 'db_latin1'");
	is(eval { decode('UTF-8', $out, FB_CROAK) },
		"SELECT 'd${e_acute}j${e_acute}'::int",
		'txguard_aborted_sessions converts a LATIN1 session\'s statement');
	$s->query_safe('ROLLBACK');
	$s->quit;
}

# A reader in LATIN1: UTF8 and EUC_JP text converted, what LATIN1 cannot
# hold replaced with '?'
($ok, $out, $err) = read_bytes('db_latin1', 'LATIN1',
	"SELECT application_name || ' | ' || statement FROM txguard_aborts "
	  . "WHERE application_name IN ('enc_utf8', 'enc_eucjp') ORDER BY seq");
ok($ok, 'the view is read from LATIN1 without an error') or diag($err);
SKIP:
{
skip 'PostgreSQL 13 does not convert between encodings', 1 unless $converts;
is($out,
	"enc_eucjp | SELECT '??'::int\nenc_utf8 | SELECT 'caf\xe9 ??'::int",
	'UTF8 and EUC_JP text read from LATIN1: converted, the rest replaced with ?');
}

$node->stop;
done_testing();
