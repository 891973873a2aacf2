
# Copyright (c) txguard authors
#
# 010_log.pl -- what txguard writes to the server log.
#
#  * the 25P02 in the log carries the same DETAIL the client got;
#  * exactly one "txguard: aborted transaction ended by ..." record per
#    aborted block: a WARNING, one line with everything on it (how it
#    ended, the cause's condition, SQLSTATE and message, ignored commands,
#    time aborted, statement ordinal and query id, the cause's detail and
#    the statement text), parsed back field by field, for every way out of
#    the block (rollback, rollback to savepoint, commit, prepare);
#  * the record never reaches the client, at WARNING nor, with
#    log_min_messages = error, at LOG;
#  * txguard.log_aborts = off suppresses that record; "problems" (the
#    default) writes it only for blocks the client did not end itself or
#    that stayed aborted for txguard.log_aborts_min_duration; the nodes
#    below set "all" for the tests of the record's form;
#  * txguard.log_ignored_commands: by default only the first annotated
#    25P02 of a block reaches the server log, the client gets them all, and
#    the record counts them all; "all" and "none";
#  * the same facts as fields of real jsonlog and csvlog records (the
#    record's SQLSTATE is the cause's);
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

# Parse txguard's end-of-block record back into its fields; undef if it
# does not have the documented form.
my $quoted = qr/"((?:[^"]|"")*)"/;
sub parse_end_line
{
	my ($msg) = @_;
	return undef
	  unless $msg =~ /^txguard: aborted transaction ended by (.+?); cause (\S+) SQLSTATE (\w{5}) \((\d+) ignored commands?, (\d+\.\d{3}) s aborted, statement (\d+)(?:, query id (-?\d+))?(?:; detail $quoted)?(?:; (truncated )?statement $quoted)?\): (.*)$/;
	my %f = (
		how => $1, condition => $2, sqlstate => $3, ignored => $4,
		seconds => $5, ordinal => $6, queryid => $7, detail => $8,
		truncated => defined $9 ? 1 : 0, statement => $10, message => $11);
	for my $k (qw(detail statement))
	{
		$f{$k} =~ s/""/"/g if defined $f{$k};
	}
	return \%f;
}

# Records of a csvlog file: a list of array refs (quoted fields, "" inside)
sub parse_csv
{
	my ($text) = @_;
	my (@recs, @fields);
	my ($field, $inq) = ('', 0);
	for (my $i = 0; $i < length($text); $i++)
	{
		my $ch = substr($text, $i, 1);
		if ($inq)
		{
			if ($ch eq '"' && substr($text, $i + 1, 1) eq '"')
			{
				$field .= '"';
				$i++;
			}
			elsif ($ch eq '"') { $inq = 0; }
			else { $field .= $ch; }
		}
		elsif ($ch eq '"') { $inq = 1; }
		elsif ($ch eq ',') { push @fields, $field; $field = ''; }
		elsif ($ch eq "\n")
		{
			push @fields, $field;
			push @recs, [@fields];
			@fields = ();
			$field = '';
		}
		else { $field .= $ch; }
	}
	return @recs;
}

# txguard's end-of-block records in a stderr-format log: [message, level]
# of each
sub end_lines
{
	my ($text) = @_;
	my @r;
	while ($text =~ /(WARNING|LOG):  (txguard: aborted transaction ended by [^\n]*)/g)
	{
		push @r, [ $2, $1 ];
	}
	return @r;
}

# ---------------------------------------------------------------------------
# Node 1: stderr log
# ---------------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('log');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
max_prepared_transactions = 2
txguard.max_statement_length = 64
# a record for every block, to test its form; "problems" is tested below
txguard.log_aborts = all
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
my @end = end_lines($log);
is(scalar(@end), 1, 'exactly one txguard record for the block');
is($end[0][1], 'WARNING', 'the record is a WARNING (pgBadger reports WARNING and above)');
my $f = parse_end_line($end[0][0] // '');
ok(defined $f, 'the record has the documented form') or diag(explain($end[0]));
$f //= {};
is_deeply(
	[ @$f{qw(how ignored condition sqlstate ordinal message detail statement truncated)} ],
	[
		'rollback', 1, 'unique_violation', '23505', 1,
		'duplicate key value violates unique constraint "t_pkey"',
		'Key (id)=(1) already exists.', 'INSERT INTO t VALUES (1)', 0
	],
	'the record gives how it ended, the ignored count, the cause and the statement');
like($log, qr/txg_rollback WARNING:  txguard: aborted transaction ended by rollback; cause unique_violation SQLSTATE 23505 \(1 ignored command, \d+\.\d{3} s aborted, statement 1(?:, query id -?\d+)?; detail "Key \(id\)=\(1\) already exists\."; statement "INSERT INTO t VALUES \(1\)"\): duplicate key value violates unique constraint "t_pkey"\n/,
	'one line has how it ended, the cause, the numbers, the texts and the message');
unlike($log, qr/txguard: aborted transaction ended by[^\n]*\n[^\n]*(DETAIL|STATEMENT|CONTEXT):/,
	'the record is one line: no DETAIL, STATEMENT or CONTEXT');
unlike($err, qr/txguard: aborted transaction ended/, 'the client does not get the record');

# At log_min_messages = error the record is a LOG (LOG ranks above ERROR in
# the server log), still never sent to the client.
$offset = -s $node->logfile;
($out, $err) = run_script($node, q(
SET application_name = 'txg_loglevel';
SET log_min_messages = error;
SET client_min_messages = debug5;
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
ROLLBACK;
));
$node->wait_for_log(qr/txg_loglevel LOG:  txguard: aborted transaction ended by/, $offset);
@end = end_lines(slurp_file($node->logfile, $offset));
is(scalar(@end), 1, 'log_min_messages = error: one record');
is($end[0][1], 'LOG', 'log_min_messages = error: the record is a LOG');
$f = parse_end_line($end[0][0] // '') // {};
is_deeply([ @$f{qw(how ignored sqlstate statement)} ],
	[ 'rollback', 1, '23505', 'INSERT INTO t VALUES (1)' ],
	'log_min_messages = error: the record has the documented form');
unlike($err, qr/txguard: aborted transaction ended/,
	'client_min_messages = debug5: the client does not get the record');

# --- texts with quotes and line breaks stay on the one line ------------------
$offset = -s $node->logfile;
run_script($node, qq(
SET application_name = 'txg_quotes';
BEGIN;
SELECT 1 /* "a" */ +\n  'x"y'::int;
ROLLBACK;
));
$node->wait_for_log(qr/txguard: aborted transaction ended by/, $offset);
@end = end_lines(slurp_file($node->logfile, $offset));
$f = parse_end_line($end[0][0] // '') // {};
is_deeply(
	[ @$f{qw(sqlstate condition message statement)} ],
	[
		'22P02', 'invalid_text_representation',
		'invalid input syntax for type integer: "x"y"',
		q{SELECT 1 /* "a" */ +   'x"y'::int}
	],
	'texts parse back: quotes doubled, line breaks turned into spaces');

# A message with a line break stays on the one line
$offset = -s $node->logfile;
run_script($node, qq(
SET application_name = 'txg_newline';
BEGIN;
DO \$\$BEGIN RAISE EXCEPTION E'two\\nlines'; END\$\$;
ROLLBACK;
));
$node->wait_for_log(qr/txguard: aborted transaction ended by/, $offset);
@end = end_lines(slurp_file($node->logfile, $offset));
$f = parse_end_line($end[0][0] // '') // {};
is_deeply([ @$f{qw(sqlstate condition message)} ],
	[ 'P0001', 'raise_exception', 'two lines' ],
	'a line break in the cause\'s message becomes a space');

# --- a statement cut at txguard.max_statement_length (64 bytes here) ---------
my $long = 'INSERT INTO t /* ' . ('x' x 80) . ' */ VALUES (1)';
$offset = -s $node->logfile;
run_script($node, qq(
SET application_name = 'txg_long';
BEGIN;
$long;
ROLLBACK;
));
$node->wait_for_log(qr/txguard: aborted transaction ended by/, $offset);
@end = end_lines(slurp_file($node->logfile, $offset));
$f = parse_end_line($end[0][0] // '') // {};
is_deeply([ @$f{qw(sqlstate truncated statement message)} ],
	[
		'23505', 1, substr($long, 0, 64),
		'duplicate key value violates unique constraint "t_pkey"'
	],
	'a statement cut at max_statement_length: "truncated statement" and its first 64 bytes');

# --- log_ignored_commands -------------------------------------------------------
foreach my $case ([ 'first', 1 ], [ 'all', 5 ], [ 'none', 0 ])
{
	my ($mode, $in_log) = @$case;
	$offset = -s $node->logfile;
	($out, $err) = run_script($node, qq(
SET application_name = 'txg_flood_$mode';
SET txguard.log_ignored_commands = '$mode';
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
SELECT 2;
SELECT 3;
SELECT 4;
SELECT 5;
ROLLBACK;
));
	@client = details_after($err, qr/ERROR:  \Q$msg_25p02\E$/);
	is(scalar(grep { defined $_ && $_ eq $cause } @client), 5,
		"log_ignored_commands = $mode: the client gets five annotated 25P02s");
	$node->wait_for_log(qr/txg_flood_$mode WARNING:  txguard: aborted transaction ended by/, $offset);
	$log = slurp_file($node->logfile, $offset);
	is(count_matches($log, qr/txg_flood_$mode ERROR:  \Q$msg_25p02\E/), $in_log,
		"log_ignored_commands = $mode: $in_log of them in the server log");
	like($log, qr/txg_flood_$mode WARNING:  txguard: aborted transaction ended by rollback; cause unique_violation SQLSTATE 23505 \(5 ignored commands,/,
		"log_ignored_commands = $mode: the record counts all five");
}
is($node->safe_psql('postgres', 'SHOW txguard.log_ignored_commands'), 'first',
	'log_ignored_commands defaults to first');

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
	'log_aborts = off: no txguard record');
is( $node->safe_psql(
		'postgres',
		"SELECT ended_by FROM txguard_aborts WHERE application_name = 'txg_quiet'"),
	'rollback',
	'log_aborts = off: the episode is still recorded');

# --- log_aborts = problems (the default) -------------------------------------
# A block the client rolls back at once gets no record, whatever it
# ignored: its first 25P02 already names the cause in the log.  One the
# client does not end itself (a disconnect) gets one, and so does one that
# stayed aborted for txguard.log_aborts_min_duration.  The wait below is a
# lower bound of the time aborted (the client sleeps it between the error
# and the ROLLBACK), so a slow machine only makes it longer.
is($node->safe_psql('postgres', q(SELECT reset_val FROM pg_settings WHERE name = 'txguard.log_aborts')),
	'all', 'this node sets log_aborts = all');
{
	my $pre = q(SET txguard.log_aborts = problems; SET txguard.log_aborts_min_duration = -1;);
	$offset = -s $node->logfile;
	run_script($node, qq(
SET application_name = 'txg_problems_quick';
$pre
BEGIN;
INSERT INTO t VALUES (1);
SELECT 1;
SELECT 2;
ROLLBACK;
DO \$\$BEGIN RAISE LOG 'txg-marker-problems-quick'; END\$\$;
));
	$node->wait_for_log(qr/txg-marker-problems-quick/, $offset);
	$log = slurp_file($node->logfile, $offset);
	like($log, qr/txg_problems_quick ERROR:  \Q$msg_25p02\E/,
		'problems: the first 25P02 is logged, with the cause');
	unlike($log, qr/txg_problems_quick WARNING:  txguard: aborted transaction ended/,
		'problems: no record for a block the client rolled back itself');

	# a disconnect ends the block: a record
	$offset = -s $node->logfile;
	run_script($node, qq(
SET application_name = 'txg_problems_gone';
$pre
BEGIN;
INSERT INTO t VALUES (1);
));
	$node->wait_for_log(
		qr/txg_problems_gone WARNING:  txguard: aborted transaction ended by disconnect/,
		$offset);
	pass('problems: a record for a block ended by a disconnect');

	# stayed aborted for at least 0.5 s with a minimum of 0.1 s: a record
	$offset = -s $node->logfile;
	my $bg = $node->background_psql('postgres', on_error_stop => 0);
	$bg->query_safe(q(SET application_name = 'txg_problems_slow'));
	$bg->query_safe(q(SET txguard.log_aborts = problems));
	$bg->query_safe(q(SET txguard.log_aborts_min_duration = 100));
	$bg->query_safe('BEGIN');
	$bg->query('INSERT INTO t VALUES (1)');
	usleep(500_000);
	$bg->query('ROLLBACK');
	$bg->quit;
	$node->wait_for_log(
		qr/txg_problems_slow WARNING:  txguard: aborted transaction ended by rollback/,
		$offset);
	pass('problems: a record for a block that stayed aborted past log_aborts_min_duration');

	# log_aborts_min_duration = 0: every block
	$offset = -s $node->logfile;
	run_script($node, q(
SET application_name = 'txg_problems_zero';
SET txguard.log_aborts = problems;
SET txguard.log_aborts_min_duration = 0;
BEGIN;
INSERT INTO t VALUES (1);
ROLLBACK;
));
	$node->wait_for_log(
		qr/txg_problems_zero WARNING:  txguard: aborted transaction ended by rollback/,
		$offset);
	pass('problems with log_aborts_min_duration = 0: a record for every block');
	is($node->safe_psql('postgres', 'SHOW txguard.log_aborts_min_duration'), '1s',
		'log_aborts_min_duration defaults to 1 s');
}

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
	my $stmt1 = 1;				# SAVEPOINT is not a statement
	my $c = $cause;
	is($client[0], $c, "$word: client DETAIL names the cause");
	$node->wait_for_log(qr/txguard: aborted transaction ended by/, $offset);
	$log = slurp_file($node->logfile, $offset);
	my @e = end_lines($log);
	is(scalar(@e), 1, "$word: exactly one txguard record");
	my $ef = parse_end_line($e[0][0] // '') // {};
	is_deeply([ @$ef{qw(how ignored sqlstate ordinal statement)} ],
		[ $word, 1, '23505', $stmt1, 'INSERT INTO t VALUES (1)' ],
		"$word: the record says how it ended and names the cause");
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
	txguard.log_aborts = all
	logging_collector = on
	log_destination = 'jsonlog,csvlog'
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

	# The syslogger writes asynchronously: wait until the records are there.
	my ($jlog, $jerr);
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		my @recs;
		# the syslogger may be writing the last line: read whole lines only
		(my $text = slurp_file($jsonfile)) =~ s/[^\n]*\z//;
		foreach my $line (split /\n/, $text)
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
	ok(defined $jlog, 'jsonlog: the txguard record is there');
	ok(defined $jerr, 'jsonlog: the 25P02 record is there');
	SKIP:
	{
		skip 'records missing', 13 unless defined $jlog && defined $jerr;
		is($jlog->{error_severity}, 'WARNING', 'jsonlog record: error_severity');
		is($jlog->{state_code}, '23505', 'jsonlog record: state_code is the cause\'s');
		my $jf = parse_end_line($jlog->{message}) // {};
		is_deeply([ @$jf{qw(how ignored sqlstate ordinal message detail statement)} ],
			[
				'rollback', 1, '23505', 1,
				'duplicate key value violates unique constraint "t_pkey"',
				'Key (id)=(1) already exists.', 'INSERT INTO t VALUES (1)'
			],
			'jsonlog record: the message field has every fact');
		ok(!exists $jlog->{detail}, 'jsonlog record: no detail field');
		ok(!exists $jlog->{statement}, 'jsonlog record: no statement field');
		ok(!exists $jlog->{context}, 'jsonlog record: no context field');
		is($jerr->{error_severity}, 'ERROR', 'jsonlog 25P02: error_severity');
		is($jerr->{state_code}, '25P02', 'jsonlog 25P02: state_code');
		is($jerr->{message}, $msg_25p02, 'jsonlog 25P02: message unchanged');
		is($jerr->{detail}, $client[0], 'jsonlog 25P02: detail equals the client DETAIL');
		is($jerr->{statement}, 'SELECT 1;', 'jsonlog 25P02: statement');
		is($jlog->{pid}, $jerr->{pid}, 'jsonlog: both records from the same backend');
	}

	# csvlog: the same record; columns 14 and 15 are message and detail,
	# 13 the SQLSTATE (PostgreSQL's csvlog layout)
	my $csvfile = $jnode->data_dir . '/'
	  . $jnode->safe_psql('postgres', "SELECT pg_current_logfile('csvlog')");
	my $csvrec;
	for (my $i = 0; $i < 10 * $PostgreSQL::Test::Utils::timeout_default; $i++)
	{
		foreach my $rec (parse_csv(slurp_file($csvfile)))
		{
			$csvrec = $rec
			  if ($rec->[22] // '') eq 'txg_json'
			  && ($rec->[13] // '') =~ /^txguard: aborted transaction ended by/;
		}
		last if defined $csvrec;
		usleep(100_000);
	}
	ok(defined $csvrec, 'csvlog: the txguard record is there');
	SKIP:
	{
		skip 'csvlog record missing', 5 unless defined $csvrec;
		is($csvrec->[11], 'WARNING', 'csvlog record: error_severity');
		is($csvrec->[12], '23505', 'csvlog record: sql_state_code is the cause\'s');
		my $cf = parse_end_line($csvrec->[13]) // {};
		is_deeply([ @$cf{qw(how ignored sqlstate ordinal message detail statement)} ],
			[
				'rollback', 1, '23505', 1,
				'duplicate key value violates unique constraint "t_pkey"',
				'Key (id)=(1) already exists.', 'INSERT INTO t VALUES (1)'
			],
			'csvlog record: the message column has every fact');
		is($csvrec->[14], '', 'csvlog record: no detail');
		is($csvrec->[19], '', 'csvlog record: no query column');
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
	qr/psql:<stdin>:(\d+): WARNING:  txguard cannot see the errors of this session\nDETAIL:  The server log does not take errors while "log_min_messages" is set to "fatal", and txguard sees only what goes there.\nHINT:  Set "log_min_messages" to "error" or a lower level.\n/,
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
	qr/WARNING:  txguard cannot see the errors of this session\nDETAIL:  The server log does not take errors while "log_min_messages" is set to "log", and txguard sees only what goes there\./,
	'SET log_min_messages = log: the WARNING names "log"');

$fnode->stop;

done_testing();
