
# Copyright (c) txguard authors
#
# 030_timeout.pl -- txguard.idle_in_aborted_transaction_timeout.
#
# Precision.  A minimal protocol-level client (below, RawPg) talks to the
# server and gives the exact fields of the FATAL (SQLSTATE, message,
# DETAIL).  Each bound is measured between events that enclose what it
# bounds, so that a loaded machine cannot make a correct timer fail:
#  * not too early: from the moment the client sent its last command
#    (before the command's end arms the timer) to the moment it saw the
#    connection close (after the timer fired) must be >= timeout;
#  * not too late: in the server's own log, from the statement line of that
#    last command (written when it starts, before its end arms the timer)
#    to txguard's FATAL (written when the timer has fired) must be
#    <= timeout * 1.1 + 50 ms.  The client's clock is not used for this:
#    on a loaded machine its round trips and wake-ups added 100 ms and more.
#  * the idle time the DETAIL reports, the server's own measure, in both.
#
# Covered: the timeout fires (psql and protocol view, server log, history,
# statistics); it does not fire after ROLLBACK, ROLLBACK TO SAVEPOINT,
# COMMIT, an autocommit error, or in a healthy idle block; every ignored
# command restarts the clock; the timer survives core's error recovery
# (disable_all_timeouts) after a failing command; track_activities = off;
# ALTER ROLE ... SET applies and an ordinary role can neither change nor
# escape it; interplay with core's idle_in_transaction_session_timeout; a hot
# standby session; walsenders and background workers are never terminated.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Time::Local qw(timegm);

$SIG{PIPE} = 'IGNORE';

# ---------------------------------------------------------------------------
# RawPg: just enough of the v3 protocol (trust auth, simple query).
# ---------------------------------------------------------------------------
package RawPg;

use IO::Select;
use IO::Socket::UNIX;
use Time::HiRes qw(time);

sub new
{
	my ($class, $node, %p) = @_;
	# where this session's lines start in the server log
	my $log_offset = -s $node->logfile;
	# raw_connect() is missing from the test modules of older majors
	my $sock =
	  $node->can('raw_connect')
	  ? $node->raw_connect
	  : IO::Socket::UNIX->new(
		Type => IO::Socket::UNIX::SOCK_STREAM(),
		Peer => $node->host . '/.s.PGSQL.' . $node->port)
	  || die "cannot connect to $node->{name}: $!";
	my $self = bless { sock => $sock, buf => '', eof => 0, log_offset => $log_offset },
	  $class;
	my %params = (
		user => $p{user} // 'postgres',
		database => 'postgres',
		application_name => $p{app} // 'rawpg');
	$params{options} = $p{options} if defined $p{options};
	$params{replication} = $p{replication} if defined $p{replication};
	my $body =
	  pack('N', 196608)
	  . join('', map { "$_\0$params{$_}\0" } sort keys %params) . "\0";
	$self->send_raw(pack('N', 4 + length $body) . $body);
	$self->{startup} = $self->read_until_ready(60);
	return $self;
}

sub send_raw
{
	my ($self, $data) = @_;
	while (length $data)
	{
		my $n = syswrite($self->{sock}, $data);
		return 0 unless defined $n;    # EPIPE: the server is gone
		substr($data, 0, $n) = '';
	}
	return 1;
}

sub parse_fields
{
	my ($payload) = @_;
	my %f;
	while ($payload =~ /\G([^\0])([^\0]*)\0/gc) { $f{$1} = $2; }
	return \%f;
}

# Next message (type, payload), or () at EOF.  Dies at the deadline.
sub read_msg
{
	my ($self, $deadline) = @_;
	while (1)
	{
		if (length($self->{buf}) >= 5)
		{
			my ($type, $len) = unpack('a N', $self->{buf});
			if (length($self->{buf}) >= 1 + $len)
			{
				my $payload = substr($self->{buf}, 5, $len - 4);
				substr($self->{buf}, 0, 1 + $len) = '';
				return ($type, $payload);
			}
		}
		return () if $self->{eof};
		my $left = $deadline - time;
		die "RawPg: timed out\n" if $left <= 0;
		next unless IO::Select->new($self->{sock})->can_read($left);
		my $n = sysread($self->{sock}, my $chunk, 65536);
		if (!$n)
		{
			$self->{eof} = 1;
			$self->{eof_at} = time;
			next;
		}
		$self->{buf} .= $chunk;
	}
}

# Read until ReadyForQuery or EOF.  Returns { errors, notices, rows, status }
# (status undef at EOF).
sub read_until_ready
{
	my ($self, $timeout) = @_;
	my $deadline = time + $timeout;
	my $r = { errors => [], notices => [], rows => [], status => undef };
	while (my ($type, $payload) = $self->read_msg($deadline))
	{
		if ($type eq 'E') { push @{ $r->{errors} }, parse_fields($payload); }
		elsif ($type eq 'N') { push @{ $r->{notices} }, parse_fields($payload); }
		elsif ($type eq 'K') { ($self->{pid}) = unpack('N', $payload); }
		elsif ($type eq 'D')
		{
			my $ncols = unpack('n', $payload);
			my $pos = 2;
			my @vals;
			for (1 .. $ncols)
			{
				my $len = unpack('N', substr($payload, $pos, 4));
				$pos += 4;
				if ($len == 0xFFFFFFFF) { push @vals, undef; next; }
				push @vals, substr($payload, $pos, $len);
				$pos += $len;
			}
			push @{ $r->{rows} }, \@vals;
		}
		elsif ($type eq 'Z')
		{
			$r->{status} = $payload;
			return $r;
		}
	}
	return $r;
}

# Simple query; remembers when it was sent.
sub query
{
	my ($self, $sql) = @_;
	$self->{sent_at} = time;
	$self->send_raw('Q' . pack('N', 4 + length($sql) + 1) . $sql . "\0");
	return $self->read_until_ready(60);
}

# The first value of the first row of a query that must succeed.
sub value
{
	my ($self, $sql) = @_;
	my $r = $self->query($sql);
	die "RawPg: $sql failed: $r->{errors}[0]{M}\n" if @{ $r->{errors} };
	return $r->{rows}[0][0];
}

# Wait (at most $timeout s) for the server to close the connection.
# Returns the result (errors received meanwhile), with eof_at set, or undef.
sub wait_eof
{
	my ($self, $timeout) = @_;
	my $r = eval { $self->read_until_ready($timeout) };
	return undef unless defined $r && $self->{eof};
	return $r;
}

sub close { my ($self) = @_; $self->{sock}->close; }

package main;

my $T_FACTOR = 1.1;
my $T_SLACK = 0.05;
my $GUC = 'txguard.idle_in_aborted_transaction_timeout';

sub cause_re
{
	my ($ordinal, $sqlstate, $message, $stmt) = @_;
	return
	  qr/The transaction was aborted by an earlier error in statement $ordinal: ERROR $sqlstate: \Q$message\E(?: \(.*\))? Statement: \Q$stmt\E/;
}
my $dup_cause = cause_re(1, '23505',
	'duplicate key value violates unique constraint "t_pkey"',
	'INSERT INTO t VALUES (1)');
my $div_cause = cause_re(1, '22012', 'division by zero', 'SELECT 1/0');

# Open a raw session, SET things, and abort a block with $abort_sql.
sub aborted_raw
{
	my ($node, $app, $pre, $abort_sql, %p) = @_;
	my $s = RawPg->new($node, app => $app, %p);
	die "cannot connect: $s->{startup}{errors}[0]{M}"
	  unless defined $s->{startup}{status};
	foreach my $sql (@$pre)
	{
		my $r = $s->query($sql);
		die "$app: $sql: $r->{errors}[0]{M}" if @{ $r->{errors} };
	}
	$s->query('BEGIN');
	my $r = $s->query($abort_sql);
	die "$app: $abort_sql did not abort the block"
	  unless @{ $r->{errors} } && ($r->{status} // '') eq 'E';
	return $s;
}

# Seconds (with milliseconds) of a log line's %m timestamp; only differences
# between two lines of one log are used, so the zone does not matter.
sub log_time
{
	my ($stamp) = @_;
	my ($y, $mo, $d, $h, $mi, $sec, $ms) =
	  $stamp =~ /^(\d+)-(\d+)-(\d+) (\d+):(\d+):(\d+)\.(\d{3})$/
	  or die "not a log timestamp: $stamp";
	return timegm($sec, $mi, $h, $d, $mo - 1, $y) + $ms / 1000;
}

# In the server log, from the last line of the last command session $s sent
# to the line of the FATAL $fatal_re that ended it: seconds (or undef when a
# line is missing).  log_line_prefix is '%m [%p] %q%a ' in every cluster of
# the test modules, with log_statement = all: a command has its statement
# line when it starts, or (a syntax error, never logged as a statement) its
# ERROR line, written just after the error re-armed the timer.
sub server_span
{
	my ($node, $s, $fatal_re) = @_;
	my $pid = $s->{pid};
	$node->wait_for_log(qr/\[$pid\] [^\n]*FATAL:  $fatal_re/, $s->{log_offset});
	my $log = slurp_file($node->logfile, $s->{log_offset});
	my ($t_cmd, $t_fatal);
	foreach my $line (split /\n/, $log)
	{
		next unless $line =~ /^(\S+ \S+) \S+ \[$pid\] /;
		my $stamp = $1;
		$t_cmd = log_time($stamp) if $line =~ /\b(?:LOG:  statement|ERROR): /;
		if ($line =~ /FATAL:  $fatal_re/)
		{
			$t_fatal = log_time($stamp);
			last;
		}
	}
	return undef unless defined $t_cmd && defined $t_fatal;
	return $t_fatal - $t_cmd;
}

# The session must be terminated by txguard's timeout, $timeout_s seconds
# after the last command it sent.  $cause: regex for the cause sentence.
my %fired_on;
sub check_fired
{
	my ($node, $name, $s, $timeout_s, $cause, $ignored) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $pid = $s->{pid};
	# "it fires at all": a generous deadline, only a broken timer reaches it
	my $r = $s->wait_eof($timeout_s * 3 + 30);
	ok(defined $r, "$name: the server closed the connection");
	return unless defined $r;
	my $elapsed = $s->{eof_at} - $s->{sent_at};
	cmp_ok($elapsed, '>=', $timeout_s,
		"$name: not terminated before the timeout (${timeout_s}s; client: "
		  . sprintf('%.3f', $elapsed) . ' s from sending the last command)');
	my $span = server_span($node, $s,
		qr/terminating connection due to idle-in-aborted-transaction timeout/);
	ok( defined $span && $span <= $timeout_s * $T_FACTOR + $T_SLACK,
		"$name: terminated within timeout + 10% + 50 ms (server log: "
		  . (defined $span ? sprintf('%.3f', $span) : 'no lines')
		  . ' s from the last command to the FATAL)');
	my @fatal = grep { ($_->{V} // '') eq 'FATAL' } @{ $r->{errors} };
	is(scalar(@fatal), 1, "$name: one FATAL");
	is($fatal[0]{C}, '25P03', "$name: SQLSTATE 25P03");
	is( $fatal[0]{M},
		'terminating connection due to idle-in-aborted-transaction timeout',
		"$name: message");
	like(
		$fatal[0]{D},
		qr/^$cause The session was idle for \d+\.\d{3} s\.$/,
		"$name: DETAIL names the cause and the idle time");
	my ($idle) = ($fatal[0]{D} // '') =~ /for (\d+\.\d{3}) s\.$/;
	ok( defined $idle
		  && $idle >= $timeout_s
		  && $idle <= $timeout_s * $T_FACTOR + $T_SLACK,
		"$name: idle time in DETAIL (" . ($idle // 'none') . " s) is the time since the last command");
	ok( $node->poll_query_until(
			'postgres',
			"SELECT ended_by = 'timeout' AND ignored_commands = $ignored FROM txguard_aborts WHERE pid = $pid"),
		"$name: history row ended_by timeout, $ignored ignored commands");
	$fired_on{ $node->name }++;
	return $fatal[0];
}

# ---------------------------------------------------------------------------
# Primary
# ---------------------------------------------------------------------------
my $node = PostgreSQL::Test::Cluster->new('primary');
$node->init(allows_streaming => 1);
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
max_connections = 30
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE TABLE t (id int PRIMARY KEY);
INSERT INTO t VALUES (1);
CREATE ROLE regress_txg_user LOGIN;
GRANT SELECT ON t TO regress_txg_user;
SELECT txguard_reset();
));
is($node->safe_psql('postgres', "SHOW $GUC"), '0', 'timeout is off by default');

# --- fires: what psql shows, the server log, history, statistics --------------
{
	my $offset = -s $node->logfile;
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("\\set VERBOSITY verbose");
	$s->query_safe("SET application_name = 'txg_fires'");
	$s->query_safe("SET $GUC = '1s'");
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	$s->query_safe('BEGIN');
	$s->query('INSERT INTO t VALUES (1)');
	ok( $node->poll_query_until(
			'postgres',
			"SELECT NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $pid)"),
		'psql: the aborted session is terminated');
	$s->{stderr} = '';
	$s->{stdin} .= "SELECT 1;\n";
	$s->{run}->finish;
	like(
		$s->{stderr},
		qr/FATAL:  25P03: terminating connection due to idle-in-aborted-transaction timeout\nDETAIL:  $dup_cause The session was idle for \d+\.\d{3} s\.\n/,
		'psql: client sees FATAL 25P03 with the cause and the idle time');
	my ($client_detail) = $s->{stderr} =~ /\nDETAIL:  (.*)\n/;
	like($s->{stderr}, qr/connection to server was lost|server closed the connection/,
		'psql: the connection is gone');

	$node->wait_for_log(qr/\[$pid\] txg_fires WARNING:  txguard: aborted transaction ended by timeout/,
		$offset);
	my $log = slurp_file($node->logfile, $offset);
	like(
		$log,
		qr/\[$pid\] txg_fires FATAL:  terminating connection due to idle-in-aborted-transaction timeout\n[^\n]*\[$pid\] txg_fires DETAIL:  \Q$client_detail\E\n/,
		'server log: the same FATAL and DETAIL');
	like(
		$log,
		qr/\[$pid\] txg_fires WARNING:  txguard: aborted transaction ended by timeout; cause unique_violation SQLSTATE 23505 \(0 ignored commands, 1\.\d{3} s aborted, statement 1(?:, query id -?\d+)?; detail "Key \(id\)=\(1\) already exists\."; statement "INSERT INTO t VALUES \(1\)"\): duplicate key value violates unique constraint "t_pkey"\n(?![^\n]*(?:DETAIL|STATEMENT|CONTEXT))/,
		'server log: record ended by timeout');
	is( $node->safe_psql(
			'postgres',
			"SELECT ended_by, sqlstate, ignored_commands, aborted_seconds >= 1.0 FROM txguard_aborts WHERE pid = $pid"),
		'timeout|23505|0|t',
		'history: ended_by timeout');
	is( $node->safe_psql(
			'postgres',
			"SELECT aborts, aborted_blocks, sessions_terminated FROM txguard_stats WHERE sqlstate = '23505'"),
		'1|1|1',
		'txguard_stats: sessions_terminated = 1');
	$fired_on{primary}++;
}

# --- precision ------------------------------------------------------------
{
	my $s = aborted_raw($node, 'txg_precise', ["SET $GUC = '1s'"],
		'INSERT INTO t VALUES (1)');
	check_fired($node, 'precision', $s, 1, $dup_cause, 0);
}

# --- does not fire -------------------------------------------------------------
{
	my %cases = (
		rollback => [ 'BEGIN', 'INSERT INTO t VALUES (1)', 'ROLLBACK' ],
		rollback_to => [
			'BEGIN', 'SAVEPOINT a',
			'INSERT INTO t VALUES (1)', 'ROLLBACK TO SAVEPOINT a'
		],
		commit => [ 'BEGIN', 'INSERT INTO t VALUES (1)', 'COMMIT' ],
		rollback_and_chain =>
		  [ 'BEGIN', 'INSERT INTO t VALUES (1)', 'ROLLBACK AND CHAIN' ],
		autocommit => ['INSERT INTO t VALUES (1)'],
		healthy_block => [ 'BEGIN', 'SELECT 1' ],
		never_aborted => ['SELECT 1'],);
	# Each case also with track_activities = off: txguard then cannot check
	# the session's state when the timer fires, so only the disarming at the
	# end of the block keeps the timer quiet.
	foreach my $case (sort keys %cases)
	{
		$cases{"$case (track_activities off)"} =
		  [ 'SET track_activities = off', @{ $cases{$case} } ];
	}
	my %s;
	foreach my $case (sort keys %cases)
	{
		$s{$case} = RawPg->new($node, app => 'txg_nf');
		$s{$case}->query("SET $GUC = '1s'");
		$s{$case}->query($_) foreach @{ $cases{$case} };
	}
	# Rather than a fixed sleep: a control session with the same timeout,
	# aborted after every case above sent its last command.  Once txguard
	# has terminated it, a timer wrongly left armed in any case has expired
	# too (armed earlier, for as long).  One more timeout period on top
	# covers a timer armed as late as one period after the control's.
	my $control = aborted_raw($node, 'txg_nf_control', ["SET $GUC = '1s'"],
		'INSERT INTO t VALUES (1)');
	check_fired($node, 'does not fire: the control session', $control, 1,
		$dup_cause, 0);
	usleep(1_000_000);
	foreach my $case (sort keys %cases)
	{
		my $r = $s{$case}->query('SELECT 42');
		ok( !$s{$case}{eof}
			  && !@{ $r->{errors} }
			  && ($r->{rows}[0][0] // '') eq '42',
			"does not fire: $case: the session is alive after the control session's timeout fired, and 1 s more");
		$s{$case}->close;
	}
}

# --- every ignored command restarts the clock ------------------------------------
# A 3 s timeout and commands 1.2 s apart: a stall of up to 1.8 s between two
# commands still leaves the session alive, and the three commands span
# 3.6 s, more than the timeout, so a clock that they do not restart fires
# before the last one.
{
	my $s = aborted_raw($node, 'txg_restart', ["SET $GUC = '3s'"],
		'INSERT INTO t VALUES (1)');
	my $t0 = time;
	my $alive = 1;
	my @cmds = ('SELECT 1', 'ROLLBACK TO SAVEPOINT nosuch', 'SELECT 2');
	foreach my $cmd (@cmds)
	{
		usleep(1_200_000);
		my $r = $s->query($cmd);
		$alive &&= (($r->{status} // '') eq 'E' && @{ $r->{errors} } == 1);
	}
	ok($alive, 'restart: alive and still aborted after 3 ignored commands 1.2 s apart');
	cmp_ok($s->{sent_at} - $t0, '>', 3, 'restart: longer than the timeout since the abort');
	check_fired($node, 'restart', $s, 3, $dup_cause, 3);
}

# --- "lost timer": core cancels all timers when a command fails while aborted --
# The command comes 0.5 s after the abort, so that a timer still counting
# from the abort would fire 0.5 s too early; the 2 s timeout leaves 1.5 s
# for a stall before the command.
foreach my $cmd ('SELECT 1', 'ROLLBACK TO SAVEPOINT nosuch', 'SELEC 1')
{
	my $s = aborted_raw($node, 'txg_lost', ["SET $GUC = '2s'"],
		'INSERT INTO t VALUES (1)');
	usleep(500_000);
	my $r = $s->query($cmd);
	ok(($r->{status} // '') eq 'E', "lost timer ($cmd): the command failed");
	check_fired($node, "lost timer ($cmd)", $s, 2, $dup_cause, 1);
}

# --- 17+: transaction_timeout is switched off by the abort ---------------------------
# With 0 < transaction_timeout <= idle_in_transaction_session_timeout core
# arms no timer at all for an aborted block (transaction_timeout stops in
# AbortTransaction, the idle timeout is ignored as the longer one): only
# txguard ends the session.
SKIP:
{
	my $vnum = $node->safe_psql('postgres', 'SHOW server_version_num');
	skip 'transaction_timeout exists from PostgreSQL 17 on', 1
	  if $vnum < 170000;
	my $s = aborted_raw(
		$node,
		'txg_xact_timeout',
		[
			"SET transaction_timeout = '500ms'",
			"SET idle_in_transaction_session_timeout = '10s'",
			"SET $GUC = '1500ms'"
		],
		'SELECT 1/0');
	check_fired($node, 'transaction_timeout switched off by the abort',
		$s, 1.5, $div_cause, 0);
}

# --- track_activities = off --------------------------------------------------------
{
	my $s = aborted_raw($node, 'txg_notrack',
		[ 'SET track_activities = off', "SET $GUC = '1s'" ], 'SELECT 1/0');
	check_fired($node, 'track_activities = off', $s, 1, $div_cause, 0);
}

# --- ALTER ROLE ... SET; an ordinary role can neither change nor escape it ------
{
	$node->safe_psql('postgres',
		"ALTER ROLE regress_txg_user SET $GUC = '1s'");
	my $s = RawPg->new($node, app => 'txg_role', user => 'regress_txg_user');
	is($s->value("SHOW $GUC"), '1s', 'ALTER ROLE: the setting applies at login');
	is($s->value("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"),
		'f', 'ALTER ROLE: the role is an ordinary role');
	foreach my $sql (
		"SET $GUC = 0",
		"SET SESSION $GUC = '1h'",
		"RESET $GUC",
		"SELECT set_config('$GUC', '0', false)",
		"ALTER ROLE regress_txg_user SET $GUC = 0",
		"ALTER ROLE regress_txg_user RESET $GUC")
	{
		my $r = $s->query($sql);
		my $e = $r->{errors}[0] // {};
		ok( ($e->{C} // '') eq '42501'
			  && ($e->{M} // '') =~ /permission denied/,
			"ordinary role: \"$sql\" is refused (42501 permission denied)")
		  or diag explain $e;
	}
	# These succeed, but leave the setting alone (checked below): ALTER ROLE
	# ... RESET ALL skips what the role may not reset; RESET ALL and DISCARD
	# ALL reset only what was SET in the session.
	my $r;
	foreach my $sql ('ALTER ROLE regress_txg_user RESET ALL', 'RESET ALL', 'DISCARD ALL')
	{
		$r = $s->query($sql);
		is($s->value("SHOW $GUC"), '1s', "ordinary role: \"$sql\" leaves the setting");
	}
	$r = $s->query("BEGIN; SET LOCAL $GUC = 0");
	ok(($r->{errors}[0]{C} // '') eq '42501', 'ordinary role: SET LOCAL is refused');
	$s->query('ROLLBACK');
	is($s->value("SHOW $GUC"), '1s', 'ordinary role: the setting is unchanged');
	is( $node->safe_psql(
			'postgres',
			"SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting WHERE setrole = 'regress_txg_user'::regrole"),
		"$GUC=1s",
		'ordinary role: the ALTER ROLE setting is unchanged');
	$s->close;

	my $c = RawPg->new(
		$node,
		app => 'txg_role_opt',
		user => 'regress_txg_user',
		options => "-c $GUC=0");
	my $e = $c->{startup}{errors}[0] // {};
	ok( !defined $c->{startup}{status}
		  && ($e->{V} // '') eq 'FATAL'
		  && ($e->{C} // '') eq '42501',
		'ordinary role: a connection option setting it is refused')
	  or diag explain $e;

	$s = aborted_raw($node, 'txg_role', [], 'SELECT 1/0',
		user => 'regress_txg_user');
	check_fired($node, 'ALTER ROLE setting', $s, 1, $div_cause, 0);
	is( $node->safe_psql(
			'postgres',
			"SELECT usename FROM txguard_aborts WHERE pid = $s->{pid}"),
		'regress_txg_user',
		'ALTER ROLE setting: history names the role');
}

# --- core's idle_in_transaction_session_timeout ------------------------------------
{
	my $s = aborted_raw($node, 'txg_iit_larger',
		[ "SET $GUC = '1s'", "SET idle_in_transaction_session_timeout = '3s'" ],
		'INSERT INTO t VALUES (1)');
	check_fired($node, 'core timeout larger', $s, 1, $dup_cause, 0);

	$s = aborted_raw($node, 'txg_iit_smaller',
		[ "SET $GUC = '3s'", "SET idle_in_transaction_session_timeout = '1s'" ],
		'INSERT INTO t VALUES (1)');
	my $r = $s->wait_eof(30);
	ok(defined $r, 'core timeout smaller: the server closed the connection');
	# not before core's 1 s (client clock: sent before the timer was armed),
	# and before txguard's 3 s (server log, from the command to the FATAL)
	my $elapsed = $s->{eof_at} - $s->{sent_at};
	my $span = server_span($node, $s,
		qr/terminating connection due to idle-in-transaction timeout/);
	ok( $elapsed >= 1 && defined $span && $span < 3,
		"core timeout smaller: core's timeout fired first (client: "
		  . sprintf('%.3f', $elapsed) . ' s, server log: '
		  . (defined $span ? sprintf('%.3f', $span) : 'no lines') . ' s)');
	my ($f) = grep { ($_->{V} // '') eq 'FATAL' } @{ $r->{errors} };
	is($f->{C}, '25P03', 'core timeout smaller: SQLSTATE 25P03');
	is( $f->{M},
		'terminating connection due to idle-in-transaction timeout',
		'core timeout smaller: core\'s message');
	like($f->{D}, qr/^$dup_cause$/, 'core timeout smaller: DETAIL names the cause');
	ok( $node->poll_query_until(
			'postgres',
			"SELECT ended_by = 'idle-in-transaction timeout' FROM txguard_aborts WHERE pid = $s->{pid}"),
		'core timeout smaller: history ended_by "idle-in-transaction timeout"');
}

is( $node->safe_psql(
		'postgres', 'SELECT sum(sessions_terminated) FROM txguard_stats'),
	$fired_on{primary},
	"txguard_stats counts every session txguard terminated ($fired_on{primary})");

# ---------------------------------------------------------------------------
# Hot standby
# ---------------------------------------------------------------------------
$node->backup('bkp');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($node, 'bkp', has_streaming => 1);
$standby->start;
$node->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'),
	't', 'standby is in recovery');
{
	my $s = aborted_raw($standby, 'txg_standby', ["SET $GUC = '1s'"],
		'SELECT 1/0');
	check_fired($standby, 'hot standby', $s, 1, $div_cause, 0);
}

# ---------------------------------------------------------------------------
# Walsenders and background workers are never terminated
# ---------------------------------------------------------------------------
{
	my $procs = q(SELECT string_agg(backend_type || '=' || pid, ',' ORDER BY backend_type)
		FROM pg_stat_activity
		WHERE backend_type IN ('walsender', 'logical replication launcher', 'autovacuum launcher'));
	my $before_repl = $node->safe_psql('postgres',
		"SELECT pid || ' ' || state FROM pg_stat_replication");
	like($before_repl, qr/^\d+ streaming$/, 'the standby\'s walsender is streaming');
	my $before = $node->safe_psql('postgres', $procs);

	# Everyone gets the timeout now.
	$node->safe_psql('postgres', "ALTER SYSTEM SET $GUC = '1s'");
	$node->reload;
	ok($node->poll_query_until('postgres', "SELECT current_setting('$GUC') = '1s'"),
		'the timeout is set for the whole server');

	# A database walsender can run SQL: leave its block aborted.
	my $w = RawPg->new($node, app => 'txg_walsender', replication => 'database');
	ok(defined $w->{startup}{status}, 'replication=database connection');
	is($node->safe_psql('postgres', "SELECT backend_type FROM pg_stat_activity WHERE pid = $w->{pid}"),
		'walsender', 'it is a walsender');
	is($w->value("SHOW $GUC"), '1s', 'the walsender has the timeout set');
	$w->query('BEGIN');
	my $r = $w->query('SELECT 1/0');
	is($r->{status}, 'E', 'the walsender\'s SQL block is aborted');

	# A client backend with the server-wide setting, aborted after the
	# walsender, is terminated: a timer armed for the walsender's block
	# would have expired first.  One more timeout period on top covers a
	# timer armed as late as one period after the client's.
	my $s = aborted_raw($node, 'txg_global', [], 'SELECT 1/0');
	check_fired($node, 'server-wide setting', $s, 1, $div_cause, 0);
	usleep(1_000_000);

	$r = $w->query('SELECT 1');
	ok(!$w->{eof} && ($r->{errors}[0]{C} // '') eq '25P02',
		'walsender: still connected and aborted after a client backend\'s timeout fired, and 1 s more');
	$r = $w->query('ROLLBACK');
	is($r->{status}, 'I', 'walsender: ROLLBACK works');
	is($w->value('SELECT 42'), '42', 'walsender: still usable');
	$w->close;

	is($node->safe_psql('postgres', "SELECT pid || ' ' || state FROM pg_stat_replication"),
		$before_repl, 'the standby\'s walsender was not terminated');
	is($node->safe_psql('postgres', $procs), $before,
		'no walsender or background worker was terminated');
	$node->wait_for_catchup($standby);
	pass('the standby still streams');
	my $log = slurp_file($node->logfile);
	foreach my $p ($w->{pid}, $before =~ /=(\d+)/g, $before_repl =~ /^(\d+)/)
	{
		unlike($log, qr/\[$p\][^\n]*FATAL/, "no FATAL for process $p in the log");
	}
}

$standby->stop;
$node->stop;
done_testing();
