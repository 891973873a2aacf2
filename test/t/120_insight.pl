
# Copyright (c) txguard authors
#
# 120_insight.pl -- which statements abort most, and since when:
#
#  * every abort record (history, live session, last abort) carries the
#    query id of the failing statement, the same value as
#    pg_stat_statements.queryid, and NULL where none exists (a syntax error);
#  * txguard_statement_stats joins pg_stat_statements on (userid, dbid,
#    queryid), with its counters, first/last seen and a sample statement;
#  * condition names, classes and the retry rule come from the server's own
#    errcodes.txt;
#  * txguard_database_stats counts every error abort, in blocks, in
#    savepoints and in autocommit, whatever txguard.track says;
#  * the statement table is bounded: the least recently seen entry is
#    evicted and counted;
#  * the sample statement is shown only under the visibility rule.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
plan skip_all => 'query ids need PostgreSQL 14 or later (compute_query_id)'
  if defined $major && $major < 14;
my $node = PostgreSQL::Test::Cluster->new('insight');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard, pg_stat_statements'
compute_query_id = on
txguard.max_statements = 4
));
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE EXTENSION pg_stat_statements;
CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE);
INSERT INTO users VALUES (1, 'a@x.org');
CREATE ROLE regress_app LOGIN;
CREATE ROLE regress_other LOGIN;
GRANT SELECT, INSERT, UPDATE ON users TO regress_app;
SELECT pg_stat_statements_reset();
SELECT txguard_reset();
));

# The application: a statement that succeeds, then one that fails three
# times with a unique violation (each in its own block), and one deadlock-free
# serialization-class error raised on purpose.
$node->psql('postgres', q(
SET ROLE regress_app;
INSERT INTO users VALUES (2, 'b@x.org');
BEGIN;
INSERT INTO users VALUES (3, 'a@x.org');
SELECT 1;
ROLLBACK;
BEGIN;
INSERT INTO users VALUES (4, 'a@x.org');
ROLLBACK;
BEGIN;
INSERT INTO users VALUES (5, 'a@x.org');
ROLLBACK;
BEGIN;
SELECT * FROM users WHERE id = 1;
DO $$BEGIN RAISE EXCEPTION 'retry me' USING ERRCODE = 'serialization_failure'; END$$;
ROLLBACK;
BEGIN;
SELEC 1;
ROLLBACK;
), on_error_stop => 0);

# the failing INSERT has a query id, and it is pg_stat_statements'
my $pgss_qid = $node->safe_psql('postgres',
	"SELECT queryid FROM pg_stat_statements WHERE query LIKE 'INSERT INTO users VALUES%'");
ok($pgss_qid ne '', "pg_stat_statements knows the INSERT ($pgss_qid)");
is( $node->safe_psql(
		'postgres',
		"SELECT DISTINCT queryid FROM txguard_aborts WHERE sqlstate = '23505'"),
	$pgss_qid,
	'history: the query id of the failing INSERT is pg_stat_statements.queryid');
is( $node->safe_psql('postgres',
		"SELECT queryid IS NULL FROM txguard_aborts WHERE sqlstate = '42601'"),
	't', 'history: a syntax error has no query id');

# the README's question: statements with the most aborts, with their calls
# and mean time
my $top = $node->safe_psql(
	'postgres', q(
SELECT s.usename, s.sqlstate, s.condition_name, s.retryable, s.aborts,
       s.aborted_blocks, s.ignored_commands, p.calls, p.mean_exec_time > 0,
       s.statement
  FROM txguard_statement_stats s
  LEFT JOIN pg_stat_statements p
    ON p.userid = s.userid AND p.dbid = s.datid AND p.queryid = s.queryid
 ORDER BY s.aborts DESC, s.sqlstate
));
is( $top,
	join("\n",
		"regress_app|23505|unique_violation|f|3|3|1|1|t|INSERT INTO users VALUES (3, 'a\@x.org')",
		"regress_app|40001|serialization_failure|t|1|1|0|||DO \$\$BEGIN RAISE EXCEPTION 'retry me' USING ERRCODE = 'serialization_failure'; END\$\$",
		"regress_app|42601|syntax_error|f|1|1|0|||SELEC 1"),
	'statement statistics join pg_stat_statements: aborts, condition, retry class, calls of the one successful INSERT, sample text');
is( $node->safe_psql(
		'postgres',
		"SELECT first_seen < last_seen FROM txguard_statement_stats WHERE sqlstate = '23505'"),
	't', 'statement statistics: first and last seen');

# condition names and classes come from errcodes.txt
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) > 250, count(*) FILTER (WHERE condition_name IS NULL) FROM txguard_error_codes"),
	't|0', 'txguard_error_codes: every code the server knows, each with its name');
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(sqlstate || ':' || condition_name || ':' || error_class || ':' || class_name || ':' || retryable, ',' ORDER BY sqlstate) "
		  . "FROM txguard_error_codes WHERE sqlstate IN ('23505', '40001', '40P01', '55P03', '57014', '08006')"),
	'08006:connection_failure:08:Connection Exception:true,'
	  . '23505:unique_violation:23:Integrity Constraint Violation:false,'
	  . '40001:serialization_failure:40:Transaction Rollback:true,'
	  . '40P01:deadlock_detected:40:Transaction Rollback:true,'
	  . '55P03:lock_not_available:55:Object Not In Prerequisite State:true,'
	  . '57014:query_canceled:57:Operator Intervention:false',
	'condition names, classes and the retry rule');
my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
my %from_file;
open(my $fh, '<', "$sharedir/errcodes.txt") or die "errcodes.txt: $!";
while (<$fh>)
{
	$from_file{$1} = $2 if /^([0-9A-Z]{5})\s+[EWS]\s+\S+\s+(\S+)/;
}
close $fh;
my %from_view = map { split /\|/ } split /\n/,
  $node->safe_psql('postgres', 'SELECT sqlstate, condition_name FROM txguard_error_codes');
is_deeply(\%from_view, \%from_file,
	"txguard_error_codes is exactly the server's errcodes.txt ($sharedir)");

# every error abort per database, whatever track says: blocks, savepoints,
# autocommit (not tracked with track = blocks)
$node->safe_psql('postgres', 'SELECT txguard_reset()');
$node->psql('postgres', q(
INSERT INTO users VALUES (1, 'dup');
SELECT 1/0;
BEGIN;
SAVEPOINT a;
SELECT 1/0;
ROLLBACK TO a;
RELEASE a;
SELECT 1/0;
SELECT 1;
ROLLBACK;
), on_error_stop => 0);
is( $node->safe_psql(
		'postgres',
		"SELECT error_aborts || '|' || savepoint_error_aborts || '|' || aborted_blocks || '|' || ignored_commands FROM txguard_database_stats WHERE datname = 'postgres'"),
	'3|1|2|1',
	'database statistics: 3 transactions and 1 savepoint aborted by an error, 2 blocks left aborted, 1 ignored command');
is($node->safe_psql('postgres', 'SELECT sum(aborts) FROM txguard_stats'),
	'4', 'the detailed statistics count every error abort, autocommit too');
is($node->safe_psql('postgres',
		"SELECT sum(aborts) || '|' || sum(aborted_blocks) || '|' || sum(failed_alone) FROM txguard_statement_stats"),
	'4|2|2', 'statement statistics: 4 failures, 2 left a block aborted, 2 failed on their own');
is($node->safe_psql('postgres', 'SELECT count(*) FROM txguard_aborts'),
	'2', 'with track = blocks the history holds only the blocks');

# the statement table is bounded (max_statements = 4): the least recently
# seen statement is evicted and counted
$node->safe_psql('postgres', 'SELECT txguard_reset()');
# six statements of different shapes (so six query ids): SELECT 1/0, 2, ...
sub shaped { my ($i) = @_; return 'SELECT ' . join(', ', '1/0', 2 .. $i); }
for my $i (1 .. 6)
{
	$node->psql('postgres', "BEGIN;\n" . shaped($i) . ";\nROLLBACK;\n",
		on_error_stop => 0);
}
is( $node->safe_psql('postgres',
		"SELECT statements || '|' || statements_max || '|' || statements_evicted FROM txguard_info()"),
	'4|4|2', 'six distinct statements, four kept, two evicted');
is( $node->safe_psql('postgres',
		"SELECT string_agg(statement, ',' ORDER BY last_seen) FROM txguard_statement_stats"),
	join(',', map { shaped($_) } 3 .. 6),
	'the two least recently seen were evicted');

# the sample statement follows the visibility rule
$node->psql('postgres', "SET ROLE regress_app;\nBEGIN;\nSELECT 7 / 0 AS secret;\nROLLBACK;\n",
	on_error_stop => 0);
is( $node->safe_psql(
		'postgres',
		"SET ROLE regress_other; SELECT count(*) FILTER (WHERE statement IS NULL) || '|' || count(*) FROM txguard_statement_stats WHERE usename = 'regress_app'"),
	'1|1', 'another role sees the row without its statement');
is( $node->safe_psql(
		'postgres',
		"SET ROLE regress_app; SELECT statement FROM txguard_statement_stats WHERE usename = 'regress_app'"),
	'SELECT 7 / 0 AS secret', 'the role itself sees its statement');

# live sessions and the last abort carry the query id too
my $s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe('BEGIN');
$s->query("INSERT INTO users VALUES (9, 'a\@x.org')");
$s->{stderr} = '';
is( $node->safe_psql(
		'postgres',
		"SELECT queryid = $pgss_qid AND condition_name = 'unique_violation' FROM txguard_aborted_sessions"),
	't', 'txguard_aborted_sessions: query id and condition name');
$s->query_safe('ROLLBACK');
is( $s->query_safe(
		"SELECT queryid = $pgss_qid AND retryable = false AND error_class = '23' FROM txguard_last_abort()"),
	't', 'txguard_last_abort(): query id, class, retry rule');
$s->quit;

# A later statement of a query string that fails while it is planned (a
# STABLE function raising while the planner estimates selectivity) is named
# with its own text and its own query id, the one pg_stat_statements gives
# the same statement when it succeeds; so is one after a statement that a
# DO INSTEAD NOTHING rule makes nothing, or after a ROLLBACK of the string.
$node->safe_psql('postgres', q(
CREATE FUNCTION boom_at_plan(int) RETURNS int LANGUAGE plpgsql STABLE AS
$$BEGIN IF $1 = 0 THEN RAISE EXCEPTION 'boom while planning'; END IF; RETURN $1; END$$;
CREATE VIEW users_nothing AS SELECT 1 AS id;
CREATE RULE users_nothing_ins AS ON INSERT TO users_nothing DO INSTEAD NOTHING;
SELECT * FROM users WHERE id = boom_at_plan(1);
));
my $boom_qid = $node->safe_psql('postgres',
	"SELECT queryid FROM pg_stat_statements WHERE query LIKE 'SELECT * FROM users WHERE id = boom_at_plan%'");
ok($boom_qid ne '', "pg_stat_statements knows the planned statement ($boom_qid)");
$node->safe_psql('postgres', 'SELECT txguard_reset()');
$node->psql('postgres',
	'BEGIN; SELECT 7; SELECT * FROM users WHERE id = boom_at_plan(0); SELECT 8');
$node->psql('postgres',
	'BEGIN; INSERT INTO users_nothing VALUES (1); SELECT * FROM users WHERE id = boom_at_plan(0)');
$node->psql('postgres',
	'BEGIN; SELECT 7; ROLLBACK; BEGIN; SELECT * FROM users WHERE id = boom_at_plan(0)');
is( $node->safe_psql(
		'postgres',
		"SELECT statement_ordinal, statement, queryid = $boom_qid FROM txguard_aborts WHERE message = 'boom while planning' ORDER BY aborted_at"
	),
	join("\n",
		'2|SELECT * FROM users WHERE id = boom_at_plan(0)|t',
		'1|SELECT * FROM users WHERE id = boom_at_plan(0)|t',
		'1|SELECT * FROM users WHERE id = boom_at_plan(0)|t'),
	'a statement failing while it is planned: its number, text and query id');

$node->stop;
done_testing();
