# Copyright (c) txguard authors
#
# 170_insight_12.pl -- what 1.2 tells beyond the first error, at the
# default settings (only txguard.* defaults; pg_stat_statements preloaded):
#
#  * every failing top-level statement is counted per statement, autocommit,
#    multi-statement strings and cancels included, with "failed alone" and
#    "left a block aborted" apart; joined to pg_stat_statements it gives a
#    failure ratio failures / (calls + failures);
#  * txguard_application_stats tells two services that share a role apart;
#  * a W3C traceparent in a sqlcommenter comment of the failing statement
#    (first or last 8 KB) fills trace_id / span_id; malformed values and
#    look-alikes outside a comment are ignored;
#  * the session that held the lock of a lock_timeout is named in the 25P02
#    DETAIL and in the end-of-block line with the trace id; the line is
#    written by default for a block ended by a disconnect, not for one the
#    client rolled back at once; the blocker's statement follows the
#    visibility rule of the blocker's role; a table lock's only holder,
#    named by core's log_lock_waits report, is in the block's 25P02s and in
#    the history;
#  * a logical replication apply worker failing on a conflicting row of a
#    real subscription: one history record whose repeats grow (ended_at =
#    the latest failure), its process type, every failure counted in
#    txguard_database_stats (as many as core's apply_error_count), and no
#    txguard line in the server log for it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
plan skip_all => 'query ids need PostgreSQL 14 or later (compute_query_id)'
  if defined $major && $major < 14;

my $node = PostgreSQL::Test::Cluster->new('insight12');
$node->init(allows_streaming => 'logical');
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard, pg_stat_statements'
compute_query_id = on
wal_retrieve_retry_interval = '200ms'
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE orders (id int PRIMARY KEY);
INSERT INTO orders SELECT generate_series(1, 3);
CREATE TABLE t (id int PRIMARY KEY, v int);
INSERT INTO t VALUES (1, 0);
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_holder LOGIN;
GRANT SELECT, INSERT, UPDATE ON orders, t TO regress_app, regress_holder;
));
$node->safe_psql('postgres',
	'SELECT pg_stat_statements_reset(), txguard_reset()');

# ---- failures per statement at the defaults, and the failure ratio
#
# "billing" (role regress_app): 7 INSERTs that succeed; the same INSERT
# failing 3 times in autocommit, once inside a block, once inside a
# multi-statement string; a statement cancelled by statement_timeout.
my $billing = join("\n",
	'SET ROLE regress_app;',
	(map { "INSERT INTO orders VALUES ($_);" } 11 .. 17),
	'INSERT INTO orders VALUES (1);',
	'INSERT INTO orders VALUES (2);',
	'INSERT INTO orders VALUES (3);',
	'BEGIN;', 'INSERT INTO orders VALUES (1);', 'ROLLBACK;',
	'SELECT 1 \; INSERT INTO orders VALUES (2) \; SELECT 2;',
	"SET statement_timeout = '100ms';",
	'SELECT pg_sleep(30);',
	'RESET statement_timeout;', '');
# "shipping" (same role): 2 autocommit failures of the INSERT, one block
# aborted by a division by zero
my $shipping = join("\n",
	'SET ROLE regress_app;',
	'INSERT INTO orders VALUES (1);',
	'INSERT INTO orders VALUES (3);',
	'BEGIN;', 'SELECT 1 / 0;', 'ROLLBACK;', '');
$node->psql('postgres', $billing, on_error_stop => 0,
	connstr => $node->connstr('postgres') . ' application_name=billing');
$node->psql('postgres', $shipping, on_error_stop => 0,
	connstr => $node->connstr('postgres') . ' application_name=shipping');

my $insert_qid = $node->safe_psql('postgres',
	"SELECT queryid FROM pg_stat_statements WHERE query = 'INSERT INTO orders VALUES (\$1)'"
);
ok($insert_qid ne '', "pg_stat_statements knows the INSERT ($insert_qid)");

is( $node->safe_psql(
		'postgres', qq(
SELECT aborts, failed_alone, aborted_blocks
  FROM txguard_statement_stats
 WHERE queryid = $insert_qid AND sqlstate = '23505')),
	'7|6|1',
	'statement statistics at the defaults: 7 failures of the INSERT (5 autocommit, 1 in a multi-statement string, 1 in a block)'
);
is( $node->safe_psql(
		'postgres', q(
SELECT aborts, failed_alone, aborted_blocks, statement
  FROM txguard_statement_stats WHERE sqlstate = '57014')),
	'1|1|0|SELECT pg_sleep(30)',
	'a statement cancelled by statement_timeout is counted as a failure');

# The failure ratio: txguard's failures per (database, role, query id), over
# pg_stat_statements' calls (successful executions) plus those failures.
my $ratio_sql = q(
WITH f AS (
  SELECT datid, userid, queryid, sum(aborts) AS failures
    FROM txguard_statement_stats
   WHERE queryid IS NOT NULL
   GROUP BY 1, 2, 3)
SELECT coalesce(p.calls, 0), f.failures,
       round(f.failures / (coalesce(p.calls, 0) + f.failures)::numeric, 4)
  FROM f
  LEFT JOIN pg_stat_statements p
    ON p.dbid = f.datid AND p.userid = f.userid AND p.queryid = f.queryid
       AND p.toplevel
 WHERE f.queryid = %s);
is($node->safe_psql('postgres', sprintf($ratio_sql, $insert_qid)),
	'7|7|0.5000',
	'joined to pg_stat_statements: 7 calls, 7 failures, ratio 7 / (7 + 7)');
my $sleep_qid = $node->safe_psql('postgres',
	"SELECT queryid FROM txguard_statement_stats WHERE sqlstate = '57014'");
is($node->safe_psql('postgres', sprintf($ratio_sql, $sleep_qid)),
	'0|1|1.0000',
	'the cancelled statement never succeeded: ratio 1');

# ---- by application: two services, one role
is( $node->safe_psql(
		'postgres', q(
SELECT string_agg(concat_ws(':', application_name, sqlstate, aborts,
                            aborted_blocks, failed_alone), ','
                  ORDER BY application_name, sqlstate)
  FROM txguard_application_stats WHERE datname = 'postgres')),
	'billing:23505:5:1:4,billing:57014:1:0:1,'
	  . 'shipping:22012:1:1:0,shipping:23505:2:0:2',
	'txguard_application_stats: each service its own failures');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(sqlstate || ':' || aborts, ',' ORDER BY sqlstate) FROM txguard_stats WHERE usename = 'regress_app'"
	),
	'22012:1,23505:7,57014:1',
	'txguard_stats: one role, the services mixed');
is( $node->safe_psql(
		'postgres',
		"SELECT applications || '|' || applications_max || '|' || applications_evicted FROM txguard_info()"
	),
	'4|1024|0',
	'txguard_info: 4 (database, application, SQLSTATE) keys of 1024');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts'),
	'2', 'the history (track = blocks) holds only the two aborted blocks');

# ---- trace context
my $trace = '0af7651916cd43dd8448eb211c80319c';
my $span = 'b7ad6b7169203331';
my $tp = "00-$trace-$span-01";

# the statement of a failing block, and what its history record says
sub traced
{
	my ($stmt) = @_;
	$node->psql('postgres', "BEGIN;\n$stmt;\nROLLBACK;\n", on_error_stop => 0);
	return $node->safe_psql('postgres',
		"SELECT coalesce(trace_id, '-') || '|' || coalesce(span_id, '-') FROM txguard_aborts ORDER BY seq DESC LIMIT 1"
	);
}
is( traced(
		"SELECT 1 / 0 /*action='pay',controller='checkout',framework='django',traceparent='$tp'*/"
	),
	"$trace|$span",
	'a sqlcommenter comment at the end: trace id and span id');
# PostgreSQL 18 starts a statement's text after its leading comments: they
# are searched too
is(traced("/*traceparent='00-$trace-$span-00'*/ SELECT 1 / 0"),
	"$trace|$span", 'a comment at the start, flags 00');
is(traced("SELECT 1 / 0 /*traceparent='00-" . uc($trace) . "-$span-01'*/"),
	'-|-', 'upper-case hex: ignored');
is(traced("SELECT 1 / 0 /*traceparent='00-" . ('0' x 32) . "-$span-01'*/"),
	'-|-', 'an all-zero trace id: ignored');
is(traced("SELECT 1 / 0 /*traceparent='ff-$trace-$span-01'*/"),
	'-|-', 'version ff: ignored');
is(traced("SELECT 1 / 0 /*traceparent='00-$trace-$span-01-extra'*/"),
	'-|-', 'version 00 with more fields: ignored');
is(traced("SELECT 1 / 0 /*traceparent='00-$trace-$span'*/"),
	'-|-', 'no flags: ignored');
is(traced("SELECT 1 / 0, 'traceparent=''$tp'''"),
	'-|-', 'a look-alike in a string literal, not a comment: ignored');
my $pad = 'x' x 10000;
is(traced("SELECT 1 / 0, '$pad', '$pad' /*traceparent='$tp'*/"),
	"$trace|$span", 'a 20 KB statement: the comment in its last 8 KB');
is(traced("SELECT 1 / 0, '$pad' /*traceparent='$tp'*/, '$pad'"),
	'-|-', 'a 20 KB statement: a comment in its middle is not looked for');
$node->psql(
	'postgres',
	"SELECT 1 / 0 /*traceparent='00-$trace-$span-01'*/",
	on_error_stop => 0);

# ---- the blocker of a lock_timeout, in the DETAIL and the end-of-block line
my $holder = $node->background_psql(
	'postgres',
	on_error_stop => 0,
	extra_params => [ '-U', 'regress_holder' ]);
$holder->query_safe("SET application_name = 'inventory'");
my $holder_pid = $holder->query_safe('SELECT pg_backend_pid()');
$holder->query_safe('BEGIN');
$holder->query_safe('UPDATE t SET v = 1 WHERE id = 1');

my $victim = $node->background_psql('postgres', on_error_stop => 0);
$victim->query_safe(
	"SET log_lock_waits = on; SET deadlock_timeout = '10ms'; SET lock_timeout = '2s'"
);
$victim->query_safe("SET ROLE regress_app; SET application_name = 'billing'");
my $victim_pid = $victim->query_safe('SELECT pg_backend_pid()');
my $log_offset = -s $node->logfile;

# a block rolled back at once: no end-of-block line by default
$victim->query_safe('BEGIN');
$victim->query('INSERT INTO orders VALUES (1)');
$victim->{stderr} = '';
$victim->query_safe('ROLLBACK');

$victim->query_safe('BEGIN');
$victim->query("UPDATE t SET v = 2 WHERE id = 1 /*traceparent='$tp'*/");
like(
	$victim->{stderr},
	qr/canceling statement due to lock timeout/,
	'the victim: lock_timeout');
$victim->{stderr} = '';
$victim->query('SELECT 1');
like(
	$victim->{stderr},
	qr/current transaction is aborted.*\nDETAIL:  .*Statement: UPDATE t SET v = 2 WHERE id = 1 .* It was blocked by process $holder_pid \(application "inventory"\)\.$/,
	'the 25P02 DETAIL names the blocking process and its application');
$victim->{stderr} = '';

# visibility: the victim's own role sees its trace, not the statement of
# another role's session; a superuser sees both
my $row_sql =
  "SELECT blocker_state, blocker_pid, blocker_usename, blocker_application_name, "
  . "coalesce(blocker_statement, '-'), trace_id, span_id, "
  . "blocker_xact_start <= aborted_at FROM txguard_aborts WHERE pid = $victim_pid ORDER BY seq DESC LIMIT 1";
is( $node->safe_psql('postgres', $row_sql),
	"found|$holder_pid|regress_holder|inventory|UPDATE t SET v = 1 WHERE id = 1\n;|$trace|$span|t",
	'history: the blocker, its statement and the trace, as a superuser sees them'
);
is( $node->safe_psql('postgres', "SET ROLE regress_app; $row_sql"),
	"found|$holder_pid|regress_holder|inventory|-|$trace|$span|t",
	"the victim's role sees the blocker but not the statement of the blocker's role"
);

# the client disconnects from the aborted block: a "problem" block, logged
$victim->quit;
$node->wait_for_log(qr/txguard: aborted transaction ended by disconnect/,
	$log_offset);
my $log = slurp_file($node->logfile, $log_offset);
my @lines = grep { /txguard: aborted transaction ended by/ } split /\n/, $log;
is(scalar(@lines), 1,
	'log_aborts = problems: one end-of-block line, none for the block rolled back at once'
);
like(
	$lines[0] // '',
	qr/ended by disconnect; cause lock_not_available SQLSTATE 55P03 \(.*; waited for "ShareLock on transaction \d+"; blocked by pid $holder_pid application "inventory" statement "UPDATE t SET v = 1 WHERE id = 1 ;"; trace id $trace span id $span\): canceling statement due to lock timeout$/,
	'the end-of-block line: the lock waited for, the blocker, the trace id');
$holder->query_safe('ROLLBACK');

# a table lock: its holder is asked of the lock manager at the next
# statement, before that statement's 25P02 is annotated
$holder->query_safe('BEGIN');
$holder->query_safe('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
my $reader = $node->background_psql('postgres', on_error_stop => 0);
$reader->query_safe(
	"SET log_lock_waits = on; SET deadlock_timeout = '10ms'; SET lock_timeout = '2s'; SET application_name = 'reports'"
);
$reader->query_safe('BEGIN');
$reader->query('SELECT count(*) FROM orders');
like($reader->{stderr}, qr/canceling statement due to lock timeout/,
	'a reader times out on a table lock');
$reader->{stderr} = '';
$reader->query('SELECT 1');
# core's log_lock_waits report named the table lock's only holder: found at
# the error, before any 25P02 of the block
like(
	$reader->{stderr},
	qr/\nDETAIL:  .*Statement: SELECT count\(\*\) FROM orders It was blocked by process $holder_pid \(application "inventory"\)\.$/,
	"the next statement's 25P02 names the table lock's holder");
$reader->{stderr} = '';
$reader->query_safe('ROLLBACK');
is( $node->safe_psql(
		'postgres',
		"SELECT blocker_state, blocker_pid = $holder_pid, blocker_application_name FROM txguard_aborts WHERE application_name = 'reports' ORDER BY seq DESC LIMIT 1"
	),
	'found|t|inventory',
	'... and once the block ended, the history names it');
$reader->quit;
$holder->query_safe('ROLLBACK');
$holder->quit;

# ---- a logical replication apply worker failing on a real subscription
my $pub = PostgreSQL::Test::Cluster->new('insight12_pub');
$pub->init(allows_streaming => 'logical');
$pub->start;
$pub->safe_psql('postgres', q(
CREATE TABLE items (id int PRIMARY KEY);
CREATE PUBLICATION txg_pub FOR TABLE items;
));
$node->safe_psql('postgres', 'CREATE DATABASE subdb');
$node->safe_psql('subdb', q(
CREATE EXTENSION txguard;
CREATE TABLE items (id int PRIMARY KEY);
INSERT INTO items VALUES (1);
));
my $pub_conn = $pub->connstr . ' dbname=postgres';
$node->safe_psql('subdb',
	"CREATE SUBSCRIPTION txg_sub CONNECTION '$pub_conn' PUBLICATION txg_pub WITH (copy_data = false)"
);
$node->poll_query_until('subdb',
	"SELECT count(*) = 1 FROM pg_stat_subscription WHERE subname = 'txg_sub' AND pid IS NOT NULL"
) or die 'the apply worker did not start';
$node->safe_psql('postgres', 'SELECT txguard_reset()');
$log_offset = -s $node->logfile;

# the conflicting row: every apply attempt fails on it
$pub->safe_psql('postgres', 'INSERT INTO items VALUES (1)');
my $worker_type =
  $major >= 17 ? 'logical replication apply worker' : 'logical replication worker';
# PostgreSQL 18 reports the conflict itself
my $conflict_message =
  $major >= 18
  ? 'conflict detected on relation "public.items": conflict=insert_exists'
  : 'duplicate key value violates unique constraint "items_pkey"';
my $worker_sql = qq(
SELECT count(*), max(repeats), max(ended_at)
  FROM txguard_aborts WHERE backend_type = '$worker_type');
$node->poll_query_until('postgres',
	"SELECT count(*) = 1 AND max(repeats) >= 2 FROM txguard_aborts WHERE backend_type = '$worker_type'"
) or die 'no repeated apply failure';
my ($n1, $rep1, $end1) =
  split /\|/, $node->safe_psql('postgres', $worker_sql);
$node->poll_query_until('postgres',
	"SELECT max(repeats) > $rep1 FROM txguard_aborts WHERE backend_type = '$worker_type'"
) or die 'the apply worker does not fail again';
my ($n2, $rep2, $end2) =
  split /\|/, $node->safe_psql('postgres', $worker_sql);
is($n2, 1, 'a worker retrying the same failure: one history record');
ok($rep2 > $rep1 && $rep1 >= 2,
	"... whose repeats grow with each retry ($rep1, then $rep2)");
is( $node->safe_psql(
		'postgres',
		"SELECT '$end2'::timestamptz > '$end1'::timestamptz AND '$end1'::timestamptz > aborted_at FROM txguard_aborts WHERE backend_type = '$worker_type'"
	),
	't',
	'... and whose ended_at is the latest repeat');
is( $node->safe_psql(
		'postgres', qq(
SELECT datname, sqlstate, in_block, ended_by, statement IS NULL,
       message, application_name
  FROM txguard_aborts WHERE backend_type = '$worker_type')),
	"subdb|23505|f|implicit|t|$conflict_message|",
	'the record: database, cause, no statement (the worker runs none), no block'
);

# stop the retries, then compare every failure with core's own count
$node->safe_psql('subdb', 'ALTER SUBSCRIPTION txg_sub DISABLE');
$node->poll_query_until('subdb',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = '$worker_type'"
) or die 'the apply worker did not stop';
$node->poll_query_until(
	'subdb', qq(
SELECT s.apply_error_count = 1 + a.repeats
  FROM pg_stat_subscription_stats s,
       txguard_aborts a
 WHERE s.subname = 'txg_sub' AND a.backend_type = '$worker_type')
) or diag 'apply_error_count did not match';
is( $node->safe_psql(
		'subdb', qq(
SELECT d.error_aborts = 1 + a.repeats,
       d.error_aborts = s.apply_error_count,
       d.error_aborts >= 4, d.aborted_blocks
  FROM txguard_database_stats d, txguard_aborts a, pg_stat_subscription_stats s
 WHERE d.datname = 'subdb' AND a.backend_type = '$worker_type'
   AND s.subname = 'txg_sub')),
	't|t|t|0',
	"txguard_database_stats counts every failure: the record and its repeats, core's apply_error_count"
);
$log = slurp_file($node->logfile, $log_offset);
my $core_errors = () = $log =~ /ERROR:  \Q$conflict_message\E/g;
# (the test's own statements, logged with log_statement = all, aside)
my @txg_lines =
  grep { /txguard/ && !/ LOG:  statement: / && !/^\t/ } split /\n/, $log;
ok($core_errors >= 4, "core logged each of the $core_errors failures");
is(scalar(@txg_lines), 0, 'txguard wrote no line of its own for them')
  or diag join("\n", @txg_lines);

$node->safe_psql('subdb', 'DROP SUBSCRIPTION txg_sub');
$pub->stop;
$node->stop;
done_testing();
