
# Copyright (c) txguard authors
#
# 090_standby.pl -- txguard on a hot standby.
#
# A primary and a streaming hot standby, txguard preloaded on both, the
# extension created on the primary (it replicates).  On the standby:
#
#  * an aborted read-only transaction (a write attempted: 25006; division by
#    zero: 22012) is named on the following 25P02, in the client's DETAIL and
#    in the end-of-block record;
#  * it is kept in the standby's own txguard_aborts / txguard_stats; the
#    primary's history does not see it, nor the standby the primary's (no
#    shared state between servers);
#  * txguard.idle_in_aborted_transaction_timeout ends an idle aborted session;
#  * a recovery conflict that cancels a statement in a transaction block
#    (the primary drops a table the standby's transaction has read) is
#    recorded as the cause (40001), and the 25P02s after it carry whatever
#    DETAIL core gives them followed by txguard's sentence;
#  * a recovery conflict that ends an idle aborted session with a FATAL is
#    labelled ended_by = 'recovery conflict': the primary drops the
#    session's database (57P04), and the primary drops a table that the
#    outer transaction of an aborted savepoint has read (40001);
#  * nothing txguard does on the standby tries to write: every ERROR and
#    FATAL in the standby's log is one the test provoked, none names txguard,
#    no "read-only transaction" error other than the provoked one;
#  * the startup process, the walreceiver, the walsender and the other
#    background processes get no slot, are never annotated or terminated:
#    txguard_aborted_sessions and txguard_aborts list only client backends,
#    and with the timeout set server-wide those processes keep their pids.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $GUC = 'txguard.idle_in_aborted_transaction_timeout';
my $MSG_25P02 =
  'current transaction is aborted, commands ignored until end of transaction block';

sub cause_re
{
	my ($ordinal, $sqlstate, $message, $detail, $stmt) = @_;
	my $d = defined $detail ? qr/ \(\Q$detail\E\)/ : qr//;
	return
	  qr/The transaction was aborted by an earlier error in statement $ordinal: ERROR $sqlstate: \Q$message\E$d Statement: \Q$stmt\E/;
}

# A background psql session: verbose errors (with SQLSTATE), an application
# name, and its pid.
sub session
{
	my ($node, $app, $db) = @_;
	my $s = $node->background_psql($db // 'postgres', on_error_stop => 0);
	$s->set_query_timer_restart;
	$s->query_safe("\\set VERBOSITY verbose");
	$s->query_safe("SET application_name = '$app'");
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	return ($s, $pid);
}

# Run SQL in a session; returns (stdout, stderr of this SQL only).
sub run
{
	my ($s, $sql) = @_;
	$s->{stderr} = '';
	my $out = $s->query($sql);
	my $err = $s->{stderr};
	$s->{stderr} = '';
	return ($out, $err);
}

# The DETAIL line that follows "ERROR:  <sqlstate>: <message>" in psql's
# verbose stderr.
sub detail_after
{
	my ($text, $sqlstate) = @_;
	return $1 if $text =~ /(?:ERROR|FATAL):  $sqlstate: [^\n]*\nDETAIL:  ([^\n]*)\n/;
	return undef;
}

# Wait until a backend has gone from pg_stat_activity.
sub wait_gone
{
	my ($node, $pid) = @_;
	return $node->poll_query_until('postgres',
		"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid)");
}

# What psql prints when it next talks to a server that has closed the
# session (the FATAL the server sent before closing).
sub last_words
{
	my ($s) = @_;
	$s->{stderr} = '';
	$s->{stdin} .= "SELECT 1;\n";
	eval { $s->{run}->finish; };
	return $s->{stderr};
}

# ---------------------------------------------------------------------------
# Primary and standby
# ---------------------------------------------------------------------------
my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
# a record for every aborted block: the tests read them
txguard.log_aborts = all
max_connections = 30
# nothing but the test prunes tables behind the standby's back
autovacuum = off
# the standby cancels conflicting queries at once, without waiting
max_standby_streaming_delay = 0
max_standby_archive_delay = 0
hot_standby_feedback = off
));
$primary->start;
$primary->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
CREATE TABLE conflict_cancel_1 (id int);
INSERT INTO conflict_cancel_1 VALUES (1);
CREATE TABLE conflict_cancel_2 (LIKE conflict_cancel_1);
INSERT INTO conflict_cancel_2 VALUES (1);
CREATE TABLE conflict_cancel_3 (LIKE conflict_cancel_1);
INSERT INTO conflict_cancel_3 VALUES (1);
CREATE TABLE conflict_cancel_4 (LIKE conflict_cancel_1);
INSERT INTO conflict_cancel_4 VALUES (1);
CREATE TABLE conflict_cancel_5 (LIKE conflict_cancel_1);
INSERT INTO conflict_cancel_5 VALUES (1);
CREATE TABLE conflict_sub (id int);
INSERT INTO conflict_sub VALUES (1);
CREATE DATABASE doomed;
));

$primary->backup('bkp');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'bkp', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'the standby is in recovery');
is($standby->safe_psql('postgres', 'SHOW shared_preload_libraries'),
	'txguard', 'txguard is preloaded on the standby');
is( $standby->safe_psql('postgres',
		"SELECT extversion IS NOT NULL FROM pg_extension WHERE extname = 'txguard'"),
	't', 'the extension replicated to the standby');
is($standby->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts'),
	'0', 'the standby\'s history starts empty');

# The processes that are not client backends, before anything happens.
my $others_q = q(SELECT string_agg(backend_type || '=' || pid, ',' ORDER BY backend_type, pid)
	FROM pg_stat_activity WHERE backend_type <> 'client backend');
my $standby_others = $standby->safe_psql('postgres', $others_q);
like($standby_others, qr/startup=\d+/, 'the standby has a startup process');
like($standby_others, qr/walreceiver=\d+/, 'the standby has a walreceiver');
my $primary_others = $primary->safe_psql('postgres', $others_q);
like($primary_others, qr/walsender=\d+/, 'the primary has a walsender');

my $standby_log_start = 0;    # the whole standby log is checked at the end
my @client_pids;              # every client session the test opened on the standby

# ---------------------------------------------------------------------------
# Aborted read-only transactions are annotated and kept locally
# ---------------------------------------------------------------------------
my $primary_aborts_before =
  $primary->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts');
{
	my $offset = -s $standby->logfile;
	my ($s, $pid) = session($standby, 'txg_ro_write');
	push @client_pids, $pid;
	run($s, 'BEGIN');
	my (undef, $err) = run($s, 'INSERT INTO t VALUES (2)');
	like($err, qr/ERROR:  25006: cannot execute INSERT in a read-only transaction/,
		'read-only write: the INSERT fails with 25006');
	my $cause = cause_re(1, '25006', 'cannot execute INSERT in a read-only transaction',
		undef, 'INSERT INTO t VALUES (2)');
	(undef, $err) = run($s, 'SELECT 1');
	like($err, qr/ERROR:  25P02: \Q$MSG_25P02\E/, 'read-only write: SELECT 1 gets 25P02');
	like(detail_after($err, '25P02') // '', qr/^$cause$/,
		'read-only write: the 25P02 DETAIL names the 25006 and the INSERT');
	(undef, $err) = run($s, 'ROLLBACK');
	is($err, '', 'read-only write: ROLLBACK works');
	$standby->wait_for_log(qr/\[$pid\] txg_ro_write WARNING:  txguard: aborted transaction ended by rollback/,
		$offset);
	my $log = slurp_file($standby->logfile, $offset);
	like($log,
		qr/\[$pid\] txg_ro_write WARNING:  txguard: aborted transaction ended by rollback; cause read_only_sql_transaction SQLSTATE 25006 \(/,
		'read-only write: the standby logs txguard\'s end-of-block record with the cause');
	is( $standby->safe_psql('postgres',
			"SELECT sqlstate, statement, ended_by, ignored_commands, in_block FROM txguard_aborts WHERE pid = $pid"),
		'25006|INSERT INTO t VALUES (2)|rollback|1|t',
		'read-only write: the standby\'s txguard_aborts has it');

	# division by zero, in the same session
	run($s, 'BEGIN');
	run($s, 'SELECT count(*) FROM t');
	(undef, $err) = run($s, 'SELECT 1/0');
	like($err, qr/ERROR:  22012: division by zero/, 'division by zero on the standby');
	(undef, $err) = run($s, 'SELECT 2');
	like(detail_after($err, '25P02') // '',
		qr/^@{[cause_re(2, '22012', 'division by zero', undef, 'SELECT 1\/0')]}$/,
		'division by zero: the 25P02 DETAIL names it as statement 2');
	run($s, 'ROLLBACK');
	$s->quit;
	ok( $standby->poll_query_until('postgres',
			"SELECT count(*) = 2 FROM txguard_aborts WHERE pid = $pid AND ended_by = 'rollback'"),
		'the standby\'s history has both aborts');
	is( $standby->safe_psql('postgres',
			"SELECT string_agg(sqlstate || ':' || aborts || ':' || aborted_blocks || ':' || ignored_commands, ',' ORDER BY sqlstate) FROM txguard_stats"),
		'22012:1:1:1,25006:1:1:1',
		'the standby\'s txguard_stats counts them');
}
is($primary->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts'),
	$primary_aborts_before, 'the primary\'s history does not see the standby\'s aborts');
is( $primary->safe_psql('postgres',
		"SELECT count(*) FROM txguard_stats WHERE sqlstate IN ('25006', '22012')"),
	'0', 'the primary\'s txguard_stats does not count them');

# and the other way round
{
	my ($stdout, $stderr);
	$primary->psql('postgres',
		"SET application_name = 'txg_on_primary'; BEGIN; INSERT INTO t VALUES (1); SELECT 1; ROLLBACK;",
		on_error_stop => 0, stdout => \$stdout, stderr => \$stderr);
	like($stderr, qr/DETAIL:  The transaction was aborted by an earlier error in statement 1: ERROR 23505/,
		'an abort on the primary is annotated there');
	ok( $primary->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM txguard_aborts WHERE application_name = 'txg_on_primary'"),
		'the primary\'s history has it');
	$primary->wait_for_catchup($standby);
	is( $standby->safe_psql('postgres',
			"SELECT count(*) FROM txguard_aborts WHERE application_name = 'txg_on_primary' OR sqlstate = '23505'"),
		'0', 'the standby\'s history does not see the primary\'s abort');
}

# ---------------------------------------------------------------------------
# Idle-in-aborted-transaction timeout on the standby
# ---------------------------------------------------------------------------
{
	my $offset = -s $standby->logfile;
	my ($s, $pid) = session($standby, 'txg_idle');
	push @client_pids, $pid;
	run($s, "SET $GUC = '1s'");
	run($s, 'BEGIN');
	my (undef, $err) = run($s, 'SELECT 1/0');
	like($err, qr/22012/, 'timeout: the block is aborted');
	ok(wait_gone($standby, $pid), 'timeout: the idle aborted session is terminated');
	my $words = last_words($s);
	like($words,
		qr/FATAL:  25P03: terminating connection due to idle-in-aborted-transaction timeout\nDETAIL:  @{[cause_re(1, '22012', 'division by zero', undef, 'SELECT 1\/0')]} The session was idle for \d+\.\d{3} s\.\n/,
		'timeout: the client gets the FATAL 25P03 naming the cause');
	ok( $standby->poll_query_until('postgres',
			"SELECT ended_by = 'timeout' FROM txguard_aborts WHERE pid = $pid"),
		'timeout: history ended_by timeout');
	is($standby->safe_psql('postgres', "SELECT sessions_terminated FROM txguard_stats WHERE sqlstate = '22012'"),
		'1', 'timeout: txguard_stats counts the terminated session');
	$standby->wait_for_log(qr/\[$pid\] txg_idle WARNING:  txguard: aborted transaction ended by timeout/, $offset);
	pass('timeout: the standby logs the end of the block');
}

# ---------------------------------------------------------------------------
# A recovery conflict cancels a statement in a transaction block
# ---------------------------------------------------------------------------
# A race in core (15's postgres.c and standby.c): until the conflicting
# backend's virtual transaction is gone, the startup process signals it
# again every 5 ms.  A second signal that lands after the backend took the
# first one (the 40001) but before its abort made the block "aborted" is
# not ignored, and core ends the session with a FATAL as soon as it waits
# for its client: the block never reaches a 25P02.  On a loaded machine
# that happened (the FATAL 5 ms after the 40001).  Such a try says nothing
# about txguard: it is made again, with a new session and a new table, up
# to 5 times.
{
	my ($s, $pid, $offset, $err, $err1, $core_detail, $table);
	foreach my $try (1 .. 5)
	{
		$table = "conflict_cancel_$try";
		$offset = -s $standby->logfile;
		($s, $pid) = session($standby, 'txg_conflict_cancel');
		push @client_pids, $pid;
		run($s, 'BEGIN');
		my ($out) = run($s, "SELECT count(*) FROM $table");
		is($out, '1', "conflict cancel: the transaction has read $table (and holds its lock)");
		# statement 2 runs while the primary drops the table
		$s->{stderr} = '';
		$s->{stdin} .= "SELECT pg_sleep(300);\n\\echo sleep_ended\n";
		$s->{run}->pump_nb;
		ok( $standby->poll_query_until('postgres',
				"SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid AND state = 'active' AND query LIKE 'SELECT pg_sleep(300)%')"),
			'conflict cancel: the standby session is running pg_sleep');
		$primary->safe_psql('postgres', "DROP TABLE $table");
		$s->query_until(qr/sleep_ended\n/, '');
		$err = $s->{stderr};
		# the DROP's lock, or (should the primary prune a catalog page first) a snapshot
		like($err,
			qr/ERROR:  40001: canceling statement due to conflict with recovery\nDETAIL:  (?:User was holding a relation lock for too long|User query might have needed to see row versions that must be removed)\.\n/,
			'conflict cancel: core cancels the statement with 40001');
		$core_detail = detail_after($err, '40001') // 'none';
		$primary->wait_for_catchup($standby);
		# the first command after the cancel: a 25P02, or core's late FATAL
		$err1 = eval { (run($s, 'SELECT 1'))[1] };
		last if defined $err1 && $err1 !~ /FATAL:  40001: terminating connection due to conflict with recovery/;
		note("conflict cancel, try $try: core ended the session after the 40001 (its "
			  . "second signal); trying again\n" . ($err1 // $s->{stderr}));
		ok(wait_gone($standby, $pid), "conflict cancel, try $try: the session ended");
		eval { $s->{run}->finish; };
	}
	my $cause = cause_re(2, '40001', 'canceling statement due to conflict with recovery',
		$core_detail, 'SELECT pg_sleep(300)');
	my @details;
	foreach my $q ('SELECT 1', 'SELECT 2')
	{
		$err = $q eq 'SELECT 1' ? $err1 // '' : (run($s, $q))[1];
		like($err, qr/ERROR:  25P02: \Q$MSG_25P02\E/, "conflict cancel: $q gets 25P02");
		push @details, detail_after($err, '25P02') // '';
	}
	# Core's own DETAIL for such a 25P02 is "abort reason: recovery conflict",
	# when MyProc->recoveryConflictPending is still set; txguard's sentence
	# comes after it.  PostgreSQL 15 clears the flag when the transaction
	# aborts, so there the DETAIL is txguard's sentence alone.
	foreach my $i (0, 1)
	{
		like($details[$i], qr/^(?:[Aa]bort reason: recovery conflict\. )?$cause$/,
			"conflict cancel: 25P02 #" . ($i + 1) . ": core's DETAIL (if any), then txguard's sentence naming the 40001");
	}
	note("conflict cancel: 25P02 DETAIL: $details[0]");
	(undef, $err) = run($s, 'ROLLBACK');
	is($err, '', 'conflict cancel: ROLLBACK works');
	$s->quit;
	ok( $standby->poll_query_until('postgres',
			"SELECT sqlstate = '40001' AND ended_by = 'rollback' AND ignored_commands = 2 AND statement = 'SELECT pg_sleep(300)' FROM txguard_aborts WHERE pid = $pid"),
		'conflict cancel: history: cause 40001, ended by rollback, 2 ignored commands');
	my $log = slurp_file($standby->logfile, $offset);
	# the cause's SQLSTATE on the record's message line
	like($log, qr/\[$pid\] txg_conflict_cancel WARNING:  txguard: aborted transaction ended by rollback; cause serialization_failure SQLSTATE 40001 \(/,
		'conflict cancel: the record names the 40001');
}

# ---------------------------------------------------------------------------
# A recovery conflict ends an idle aborted session (FATAL)
# ---------------------------------------------------------------------------
# The conflict reaches only the sessions the startup process has to remove:
# core ignores a conflict with a top-level transaction that has already
# aborted (it holds no snapshot and no lock), but not with an aborted
# savepoint whose outer transaction still holds them, and a dropped
# database ends every session connected to it.
{
	my $offset = -s $standby->logfile;
	my ($s, $pid) = session($standby, 'txg_conflict_db', 'doomed');
	push @client_pids, $pid;
	run($s, 'BEGIN');
	my (undef, $err) = run($s, 'SELECT 1/0');
	like($err, qr/22012/, 'conflict FATAL (database): the block is aborted');
	$primary->safe_psql('postgres', 'DROP DATABASE doomed');
	ok(wait_gone($standby, $pid), 'conflict FATAL (database): the session is terminated');
	my $words = last_words($s);
	like($words,
		qr/FATAL:  57P04: terminating connection due to conflict with recovery\nDETAIL:  User was connected to a database that must be dropped\. @{[cause_re(1, '22012', 'division by zero', undef, 'SELECT 1\/0')]}\n/,
		'conflict FATAL (database): the client gets core\'s FATAL 57P04 with the cause appended');
	ok( $standby->poll_query_until('postgres',
			"SELECT ended_by FROM txguard_aborts WHERE pid = $pid", 'recovery conflict'),
		'conflict FATAL (database): history ended_by = recovery conflict');
	$standby->wait_for_log(
		qr/\[$pid\] txg_conflict_db WARNING:  txguard: aborted transaction ended by recovery conflict/,
		$offset);
	pass('conflict FATAL (database): the record says "ended by recovery conflict"');
}
{
	my $offset = -s $standby->logfile;
	my ($s, $pid) = session($standby, 'txg_conflict_sub');
	push @client_pids, $pid;
	run($s, 'BEGIN');
	run($s, 'SELECT count(*) FROM conflict_sub');
	run($s, 'SAVEPOINT a');
	my (undef, $err) = run($s, 'SELECT 1/0');
	like($err, qr/22012/, 'conflict FATAL (savepoint): the savepoint is aborted');
	$primary->safe_psql('postgres', 'DROP TABLE conflict_sub');
	ok(wait_gone($standby, $pid), 'conflict FATAL (savepoint): the session is terminated');
	my $words = last_words($s);
	like($words,
		qr/FATAL:  40001: terminating connection due to conflict with recovery\nDETAIL:  User was holding a relation lock for too long\. @{[cause_re(2, '22012', 'division by zero', undef, 'SELECT 1\/0')]}\n/,
		'conflict FATAL (savepoint): the client gets core\'s FATAL 40001 with the cause appended');
	ok( $standby->poll_query_until('postgres',
			"SELECT ended_by FROM txguard_aborts WHERE pid = $pid", 'recovery conflict'),
		'conflict FATAL (savepoint): history ended_by = recovery conflict');
	$standby->wait_for_log(
		qr/\[$pid\] txg_conflict_sub WARNING:  txguard: aborted transaction ended by recovery conflict/,
		$offset);
	pass('conflict FATAL (savepoint): the record says "ended by recovery conflict"');
}

# ---------------------------------------------------------------------------
# Only client backends: slots, history, termination
# ---------------------------------------------------------------------------
{
	# Everyone on the standby gets the timeout now, then two aborted sessions.
	$standby->append_conf('postgresql.conf', "$GUC = '1s'");
	$standby->reload;
	ok($standby->poll_query_until('postgres', "SELECT current_setting('$GUC') = '1s'"),
		'the timeout is set for the whole standby');
	my @s;
	foreach my $i (1, 2)
	{
		my ($s, $pid) = session($standby, "txg_slot$i");
		push @client_pids, $pid;
		run($s, "SET $GUC = 0");    # these two stay until checked
		run($s, 'BEGIN');
		run($s, 'SELECT 1/0');
		push @s, [ $s, $pid ];
	}
	my $pids = join(',', map { $_->[1] } @s);
	is( $standby->safe_psql('postgres',
			"SELECT string_agg(a.pid || ':' || coalesce(p.backend_type, '?'), ',' ORDER BY a.pid) FROM txguard_aborted_sessions a LEFT JOIN pg_stat_activity p USING (pid)"),
		join(',', map { "$_:client backend" } sort { $a <=> $b } map { $_->[1] } @s),
		'txguard_aborted_sessions lists exactly the two aborted client backends');
	run($_->[0], 'ROLLBACK') foreach @s;
	$_->[0]->quit foreach @s;

	# every pid in the standby's history is one of the test's client sessions
	my %mine = map { $_ => 1 } @client_pids;
	my @hist = split /\n/, $standby->safe_psql('postgres', 'SELECT DISTINCT pid FROM txguard_aborts');
	my @foreign = grep { !$mine{$_} } @hist;
	is("@foreign", '', 'the standby\'s history holds only the test\'s client sessions');

	# Rather than a fixed sleep: a client session aborted now, with the
	# server-wide timeout, is terminated; the other processes have had the
	# setting since before its abort, so a timer armed for any of them
	# would have expired by then.
	my ($c, $cpid) = session($standby, 'txg_control');
	push @client_pids, $cpid;
	run($c, 'BEGIN');
	run($c, 'SELECT 1/0');
	ok(wait_gone($standby, $cpid),
		'a client session left in an aborted block is terminated by the server-wide timeout');
	last_words($c);
	is($standby->safe_psql('postgres', $others_q), $standby_others,
		'startup, walreceiver and the other background processes of the standby kept their pids');
	is($primary->safe_psql('postgres', $others_q), $primary_others,
		'the primary\'s walsender and background processes kept their pids');
	$primary->safe_psql('postgres', 'INSERT INTO t VALUES (100)');
	$primary->wait_for_catchup($standby);
	is($standby->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id = 100'),
		'1', 'the standby still replays');
}

# ---------------------------------------------------------------------------
# A restart of the standby keeps the standby's own history (txguard.persist)
# ---------------------------------------------------------------------------
SKIP:
{
	skip 'txguard.persist does not exist in this build', 4
	  unless $standby->safe_psql('postgres',
		"SELECT count(*) FROM pg_settings WHERE name = 'txguard.persist'") eq '1';
	my $before = $standby->safe_psql('postgres',
		'SELECT string_agg(pid || sqlstate || ended_by, \',\' ORDER BY seq) FROM txguard_aborts');
	# a restartpoint after the DROP DATABASE, so that it is not replayed again
	$primary->safe_psql('postgres', 'CHECKPOINT');
	$primary->wait_for_catchup($standby);
	my $offset = -s $standby->logfile;
	$standby->restart;
	$standby->wait_for_log(qr/LOG:  txguard restored the statistics and history/, $offset);
	pass('standby restart: txguard restored what the standby saved at shutdown');
	is( $standby->safe_psql('postgres',
			'SELECT string_agg(pid || sqlstate || ended_by, \',\' ORDER BY seq) FROM txguard_aborts'),
		$before, 'standby restart: the same history as before');
	is( $standby->safe_psql('postgres',
			"SELECT count(*) FROM txguard_aborts WHERE sqlstate = '23505'"),
		'0', 'standby restart: still none of the primary\'s aborts');
	is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't',
		'standby restart: still a standby');
	$primary->wait_for_catchup($standby);
}

# ---------------------------------------------------------------------------
# Nothing txguard did on the standby tried to write
# ---------------------------------------------------------------------------
{
	my $log = slurp_file($standby->logfile, $standby_log_start);
	my @expected = (
		# txguard.persist at the first start (there is no saved file yet)
		qr/^WARNING:  txguard found no saved statistics and history, and starts empty$/,
		# txguard's end-of-block records
		qr/^WARNING:  txguard: aborted transaction ended by /,
		# the restart above
		qr/^FATAL:  terminating walreceiver process due to administrator command$/,
		qr/^ERROR:  cannot execute INSERT in a read-only transaction$/,
		qr/^ERROR:  division by zero$/,
		qr/^ERROR:  \Q$MSG_25P02\E$/,
		qr/^ERROR:  canceling statement due to conflict with recovery$/,
		qr/^FATAL:  terminating connection due to idle-in-aborted-transaction timeout$/,
		qr/^FATAL:  terminating connection due to conflict with recovery$/);
	my @unexpected;
	foreach my $line (split /\n/, $log)
	{
		next unless $line =~ /\b((?:ERROR|FATAL|PANIC|WARNING):  .*)$/;
		my $m = $1;
		push @unexpected, $line unless grep { $m =~ $_ } @expected;
	}
	is(join("\n", @unexpected), '', 'the standby\'s log has no ERROR, FATAL or WARNING the test did not provoke');
	my $ro = () = $log =~ /ERROR:  cannot execute [^\n]* in a read-only transaction/g;
	is($ro, 1, 'the only "read-only transaction" error is the provoked INSERT');
	unlike($log, qr/(?:ERROR|FATAL|PANIC):  [^\n]*txguard/, 'no txguard error on the standby');
	unlike($log, qr/could not (?:write|create|open|rename|fsync) file/,
		'no failed file write on the standby');
	unlike($log, qr/(?:ERROR|FATAL|PANIC):  [^\n]*(?:recovery is in progress|during recovery|WAL)/,
		'no write or WAL error on the standby');
	unlike($log, qr/terminated by signal|server process .* exited with exit code [^01]/,
		'no backend of the standby crashed');
}

$standby->stop;
$primary->stop;
done_testing();
