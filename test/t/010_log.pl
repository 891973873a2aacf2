
# Copyright (c) txguard authors
#
# 010_log.pl -- what txguard writes to the server log.
#
#  * the 25P02 in the log carries the same DETAIL the client got;
#  * exactly one "txguard: aborted transaction ended by ..." LOG line per
#    aborted block, with a DETAIL naming the cause, for every way out of the
#    block (rollback, rollback to savepoint, commit, prepare);
#  * txguard.log_aborts = off suppresses that line;
#  * the same two messages as real jsonlog records;
#  * log_min_messages = fatal: emit_log_hook never sees an ERROR, so nothing
#    can be captured; txguard says so to the client once per backend, with
#    a WARNING at the first statement that reaches it after the uncaptured
#    abort of a block, and the 25P02 goes out unannotated.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use Time::HiRes qw(usleep);

my $cause =
    'The transaction was aborted by an earlier error in statement 1: '
  . 'ERROR 23505: duplicate key value violates unique constraint "t_pkey" '
  . '(Key (id)=(1) already exists.) Statement: INSERT INTO t VALUES (1)';
my $msg_25p02 =
  'current transaction is aborted, commands ignored until end of transaction block';

# Run a script in a fresh psql session; errors do not stop it.
sub run_script
{
	my ($node, $sql) = @_;
	my ($stdout, $stderr);
	$node->psql(
		'postgres', $sql,
		on_error_stop => 0,
		stdout => \$stdout,
		stderr => \$stderr);
	return ($stdout, $stderr);
}

# The DETAIL lines that follow a given message in a stderr-format text
# (client stderr or server log).  Returns a list of DETAIL texts.
sub details_after
{
	my ($text, $msgre) = @_;
	my @lines = split /\n/, $text;
	my @found;
	for (my $i = 0; $i < @lines; $i++)
	{
		next unless $lines[$i] =~ $msgre;
		if ($i + 1 < @lines && $lines[ $i + 1 ] =~ /DETAIL:  (.*)$/)
		{
			push @found, $1;
		}
		else
		{
			push @found, undef;
		}
	}
	return @found;
}

sub count_matches
{
	my ($text, $re) = @_;
	my $n = () = $text =~ /$re/g;
	return $n;
}

# ---------------------------------------------------------------------------
# Node 1: stderr log
# ---------------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('log');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
max_prepared_transactions = 2
));
$node->start;
my $server_version_num =
  $node->safe_psql('postgres', 'SHOW server_version_num');
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
));

# --- ROLLBACK -------------------------------------------------------------
my $offset = -s $node->logfile;
my ($out, $err) = run_script($node, q(
SET application_name = 'txg_rollback';
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
));
my @client = details_after($err, qr/ERROR:  \Q$msg_25p02\E$/);
is(scalar(@client), 1, 'client got one 25P02');
is($client[0], $cause, 'client DETAIL of the 25P02 names the cause');

$node->wait_for_log(qr/txguard: aborted transaction ended by/, $offset);
my $log = slurp_file($node->logfile, $offset);
my @server = details_after($log, qr/ERROR:  \Q$msg_25p02\E$/);
is(scalar(@server), 1, 'server log has one 25P02');
is($server[0], $client[0], 'server log DETAIL of the 25P02 equals the client DETAIL');
like($log, qr/txg_rollback ERROR:  duplicate key value violates unique constraint "t_pkey"/,
	'the original 23505 is logged by core');
is( count_matches(
		$log,
		qr/LOG:  txguard: aborted transaction ended by rollback after 1 ignored command and \d+\.\d{3} s aborted\n/
	),
	1,
	'exactly one txguard LOG line for the block, ended by rollback');
is(count_matches($log, qr/txguard: aborted transaction ended by/),
	1, 'no other txguard LOG line');
my @logdetail = details_after($log,
	qr/LOG:  txguard: aborted transaction ended by rollback after 1 ignored command/);
is($logdetail[0], $cause, 'LOG line DETAIL names 23505 and the statement');
unlike($log, qr/LOG:  txguard: aborted transaction ended by[^\n]*\n[^\n]*DETAIL:[^\n]*\n[^\n]*STATEMENT:/,
	'the txguard LOG line carries no STATEMENT');

# --- log_aborts = off -------------------------------------------------------
$offset = -s $node->logfile;
($out, $err) = run_script($node, q(
SET application_name = 'txg_quiet';
SET txguard.log_aborts = off;
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
DO $$BEGIN RAISE LOG 'txg-marker-quiet'; END$$;
));
$node->wait_for_log(qr/txg-marker-quiet/, $offset);
$log = slurp_file($node->logfile, $offset);
like($log, qr/txg_quiet ERROR:  \Q$msg_25p02\E/, 'log_aborts = off: the 25P02 is logged');
@server = details_after($log, qr/ERROR:  \Q$msg_25p02\E$/);
is($server[0], $cause, 'log_aborts = off: the 25P02 is still annotated');
unlike($log, qr/txguard: aborted transaction ended/,
	'log_aborts = off: no txguard LOG line');
is( $node->safe_psql(
		'postgres',
		"SELECT ended_by FROM txguard_aborts WHERE application_name = 'txg_quiet'"),
	'rollback',
	'log_aborts = off: the episode is still recorded');

# --- the other ways out of an aborted block ----------------------------------
my @exits = (
	[
		'rollback to savepoint', q(
BEGIN;
SAVEPOINT a;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK TO SAVEPOINT a;
COMMIT;
)
	],
	[
		'commit', q(
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
COMMIT;
)
	],
	[
		'prepare', q(
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
PREPARE TRANSACTION 'txg_p';
)
	]);
foreach my $case (@exits)
{
	my ($word, $sql) = @$case;
	my $app = 'txg_' . ($word =~ s/ /_/gr);
	$offset = -s $node->logfile;
	($out, $err) = run_script($node, "SET application_name = '$app';\n$sql");
	@client = details_after($err, qr/ERROR:  \Q$msg_25p02\E$/);
	my $stmt1 = $word eq 'rollback to savepoint' ? 2 : 1; # SAVEPOINT counts
	(my $c = $cause) =~ s/in statement 1:/in statement $stmt1:/;
	is($client[0], $c, "$word: client DETAIL names the cause");
	$node->wait_for_log(qr/txguard: aborted transaction ended by/, $offset);
	$log = slurp_file($node->logfile, $offset);
	is( count_matches(
			$log,
			qr/LOG:  txguard: aborted transaction ended by \Q$word\E after 1 ignored command and \d+\.\d{3} s aborted\n/
		),
		1,
		"$word: exactly one LOG line ended by \"$word\"");
	is(count_matches($log, qr/txguard: aborted transaction ended by/),
		1, "$word: no other txguard LOG line");
	@logdetail = details_after($log,
		qr/LOG:  txguard: aborted transaction ended by \Q$word\E after/);
	is($logdetail[0], $c, "$word: LOG DETAIL names the cause");
	is( $node->safe_psql(
			'postgres',
			"SELECT ended_by || ' ' || ignored_commands FROM txguard_aborts WHERE application_name = '$app'"
		),
		"$word 1",
		"$word: history row ended_by \"$word\"");
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_prepared_xacts'),
	'0', 'PREPARE TRANSACTION of an aborted block prepared nothing');
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	'1', 'COMMIT of an aborted block committed nothing');

$node->stop;

SKIP:
{
	skip 'jsonlog needs PostgreSQL 15 or later', 1
	  if $server_version_num < 150000;

	# ---------------------------------------------------------------------------
	# Node 2: jsonlog
	# ---------------------------------------------------------------------------
	my $jnode = PostgreSQL::Test::Cluster->new('jsonlog');
	$jnode->init;
	$jnode->append_conf('postgresql.conf', qq(
	shared_preload_libraries = 'txguard'
	logging_collector = on
	log_destination = 'jsonlog'
	log_directory = 'log'
	));
	$jnode->start;
	$jnode->safe_psql('postgres', q(
	CREATE EXTENSION txguard;
	CREATE TABLE t (id int PRIMARY KEY);
	INSERT INTO t VALUES (1);
	));

	my $jsonfile;
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		$jsonfile = $jnode->safe_psql('postgres', "SELECT pg_current_logfile('jsonlog')");
		last if $jsonfile ne '';
		usleep(100_000);
	}
	ok($jsonfile =~ /\.json$/, "jsonlog file is $jsonfile");
	$jsonfile = $jnode->data_dir . '/' . $jsonfile;

	($out, $err) = run_script($jnode, q(
	SET application_name = 'txg_json';
	BEGIN;
	INSERT INTO t VALUES (1);
	SELECT 1;
	ROLLBACK;
	));
	@client = details_after($err, qr/ERROR:  \Q$msg_25p02\E$/);
	is($client[0], $cause, 'jsonlog node: client DETAIL names the cause');

	# The syslogger writes asynchronously: wait until the LOG record is there.
	my ($jlog, $jerr);
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		my @recs;
		foreach my $line (split /\n/, slurp_file($jsonfile))
		{
			my $r = eval { decode_json($line) };
			die "not a JSON line in $jsonfile: $line" unless defined $r;
			push @recs, $r;
		}
		my @mine = grep { ($_->{application_name} // '') eq 'txg_json' } @recs;
		($jlog) = grep { ($_->{message} // '') =~ /^txguard: aborted transaction ended by/ } @mine;
		($jerr) = grep { ($_->{state_code} // '') eq '25P02' } @mine;
		last if defined $jlog && defined $jerr;
		usleep(100_000);
	}
	ok(defined $jlog, 'jsonlog: the txguard LOG record is there');
	ok(defined $jerr, 'jsonlog: the 25P02 record is there');
	SKIP:
	{
		skip 'records missing', 11 unless defined $jlog && defined $jerr;
		is($jlog->{error_severity}, 'LOG', 'jsonlog LOG: error_severity');
		ok(!exists $jlog->{state_code},
			'jsonlog LOG: no state_code (00000 is omitted by jsonlog)');
		like($jlog->{message},
			qr/^txguard: aborted transaction ended by rollback after 1 ignored command and \d+\.\d{3} s aborted$/,
			'jsonlog LOG: message');
		is($jlog->{detail}, $cause, 'jsonlog LOG: detail names 23505 and the statement');
		ok(!exists $jlog->{statement}, 'jsonlog LOG: no statement field');
		is($jerr->{error_severity}, 'ERROR', 'jsonlog 25P02: error_severity');
		is($jerr->{state_code}, '25P02', 'jsonlog 25P02: state_code');
		is($jerr->{message}, $msg_25p02, 'jsonlog 25P02: message unchanged');
		is($jerr->{detail}, $client[0], 'jsonlog 25P02: detail equals the client DETAIL');
		is($jerr->{statement}, 'SELECT 1;', 'jsonlog 25P02: statement');
		is($jlog->{pid}, $jerr->{pid}, 'jsonlog: both records from the same backend');
	}
	$jnode->stop;
}

# ---------------------------------------------------------------------------
# Node 3: log_min_messages = fatal -- ERRORs never reach emit_log_hook
# ---------------------------------------------------------------------------
my $fnode = PostgreSQL::Test::Cluster->new('fatal');
$fnode->init;
$fnode->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
log_min_messages = fatal
));
$fnode->start;
$fnode->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
));
$offset = -s $fnode->logfile;
($out, $err) = run_script($fnode, q(
SET application_name = 'txg_fatal';
SELECT errors_visible FROM txguard_info();
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
\echo after-25p02
ROLLBACK;
BEGIN;
INSERT INTO t VALUES (1);
SELECT 2;
ROLLBACK;
SELECT count(*) FROM txguard_aborts;
));
is($out, "f\nafter-25p02\n0", 'log_min_messages = fatal: errors_visible is false, nothing recorded');
is(count_matches($err, qr/ERROR:  \Q$msg_25p02\E(?:\n|$)/),
	2, 'log_min_messages = fatal: two 25P02');
unlike($err, qr/The transaction was aborted by/,
	'log_min_messages = fatal: the 25P02 carries no annotation');
is(count_matches($err, qr/WARNING:  txguard cannot see the errors of this session\n/),
	1, 'log_min_messages = fatal: one WARNING per backend');
like(
	$err,
	qr/psql:<stdin>:(\d+): WARNING:  txguard cannot see the errors of this session\nDETAIL:  Errors are not passed to emit_log_hook while "log_min_messages" is set to "fatal".\nHINT:  Set "log_min_messages" to "error" or a lower level.\n/,
	'the WARNING has its DETAIL and HINT');
# psql numbers the lines of its input: the script starts with an empty line.
my ($warn_line) = $err =~ /psql:<stdin>:(\d+): WARNING/;
is($warn_line, 8, 'the WARNING is raised by the ROLLBACK after the first uncaptured abort');
ok( index($err, "ERROR:  $msg_25p02") < index($err, 'WARNING:'),
	'no WARNING before the first abort');

# A new backend warns again (once per backend).
($out, $err) = run_script($fnode, q(
BEGIN;
SELECT 1/0;
ROLLBACK;
));
is(count_matches($err, qr/WARNING:  txguard cannot see the errors of this session/),
	1, 'log_min_messages = fatal: a new backend warns once too');
my $flog = slurp_file($fnode->logfile, $offset);
unlike($flog, qr/txguard/,
	'log_min_messages = fatal: nothing of txguard in the server log (the WARNING is below fatal)');

# The level is the session's: lowered to "error" the errors are captured
# again; "log" is above ERROR for the server log (is_log_level_output), so
# nothing is captured and the WARNING names "log".
($out, $err) = run_script($fnode, q(
SET log_min_messages = error;
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
));
@client = details_after($err, qr/ERROR:  \Q$msg_25p02\E$/);
is($client[0], $cause, 'SET log_min_messages = error: the 25P02 is annotated again');
unlike($err, qr/WARNING/, 'SET log_min_messages = error: no WARNING');
($out, $err) = run_script($fnode, q(
SET log_min_messages = log;
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
));
unlike($err, qr/The transaction was aborted by/,
	'SET log_min_messages = log: the 25P02 carries no annotation');
like(
	$err,
	qr/WARNING:  txguard cannot see the errors of this session\nDETAIL:  Errors are not passed to emit_log_hook while "log_min_messages" is set to "log"\./,
	'SET log_min_messages = log: the WARNING names "log"');

$fnode->stop;

done_testing();
