
# Copyright (c) txguard authors
#
# 140_attribution.pl -- whose rows the live sessions and the query ids are:
#
#  * a session left in an aborted block by another role's SECURITY DEFINER
#    function (raising while the statement is planned) is listed in
#    txguard_aborted_sessions under the session's own role: the function's
#    owner sees it without its texts, the role itself with them;
#  * the query ids of other roles' rows are NULL in txguard_aborts,
#    txguard_statement_stats and txguard_aborted_sessions, unless the
#    reader is a superuser, a member of pg_read_all_stats, or has the
#    privileges of the row's role (a NOINHERIT member has not), as
#    pg_stat_statements shows them.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my ($major) = `pg_config --version` =~ /PostgreSQL (\d+)/;
my $with_query_ids = !defined $major || $major >= 14;
my $node = PostgreSQL::Test::Cluster->new('attribution');
$node->init;
$node->append_conf('postgresql.conf', qq(
shared_preload_libraries = 'txguard'
));
$node->append_conf('postgresql.conf', 'compute_query_id = on')
  if $with_query_ids;
$node->start;
$node->safe_psql('postgres', q(
CREATE EXTENSION txguard;
CREATE ROLE regress_txg_alice LOGIN;
CREATE ROLE regress_txg_bob LOGIN;
CREATE ROLE regress_txg_bob_member LOGIN IN ROLE regress_txg_bob;
CREATE ROLE regress_txg_bob_noinherit LOGIN NOINHERIT IN ROLE regress_txg_bob;
CREATE ROLE regress_txg_monitor LOGIN IN ROLE pg_read_all_stats;
CREATE SCHEMA alice AUTHORIZATION regress_txg_alice;
GRANT USAGE ON SCHEMA alice TO PUBLIC;
SET ROLE regress_txg_alice;
CREATE FUNCTION alice.check_fold(int) RETURNS int
    LANGUAGE plpgsql IMMUTABLE SECURITY DEFINER AS
$$ BEGIN RAISE EXCEPTION 'alice rejects %', $1; END $$;
RESET ROLE;
SELECT txguard_reset();
));

# psql as one role; returns stdout
sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql,
		extra_params => [ '-U', $role ]);
}

# ---------------------------------------------------------------------
# bob's session is left aborted by alice's function, folded at plan time
my $bob = $node->background_psql('postgres',
	on_error_stop => 0,
	extra_params => [ '-U', 'regress_txg_bob' ]);
$bob->query_safe("SET application_name = 'txg_bob_fold'");
$bob->query_safe('BEGIN');
$bob->query("SELECT 'bob secret', alice.check_fold(42)");
like($bob->{stderr}, qr/alice rejects 42/, 'bob\'s statement failed in alice\'s function');
$bob->{stderr} = '';

my $live = q(SELECT usename || '|' || coalesce(message, '<hidden>') || '|'
  || coalesce(statement, '<hidden>') FROM txguard_aborted_sessions
 WHERE application_name = 'txg_bob_fold');
is(as_role('regress_txg_alice', $live),
	'regress_txg_bob|<hidden>|<hidden>',
	'aborted session: bob\'s, and its texts are hidden from alice, the function\'s owner');
is(as_role('regress_txg_bob', $live),
	"regress_txg_bob|alice rejects 42|SELECT 'bob secret', alice.check_fold(42)",
	'aborted session: bob sees his own texts');
$bob->query_safe('ROLLBACK');
$bob->quit;

# ---------------------------------------------------------------------
# query ids of other roles' rows
SKIP:
{
	skip 'query ids need PostgreSQL 14 or later (compute_query_id)', 8
	  unless $with_query_ids;

	$node->safe_psql('postgres', 'SELECT txguard_reset()');
	# bob's block stays aborted: a live session, and an open history record
	$bob = $node->background_psql('postgres',
		on_error_stop => 0,
		extra_params => [ '-U', 'regress_txg_bob' ]);
	$bob->query_safe('BEGIN');
	$bob->query('SELECT 1/g FROM generate_series(0, 0) g');
	like($bob->{stderr}, qr/division by zero/, 'bob\'s block is aborted');
	$bob->{stderr} = '';

	my $qid = $node->safe_psql('postgres',
		"SELECT queryid FROM txguard_aborts WHERE usename = 'regress_txg_bob'");
	like($qid, qr/^-?\d+$/, "the superuser sees the query id of bob's row ($qid)");

	# for each view: the query id seen (NULL shown as "null"), or "no row"
	my $seen = qq(SELECT
  coalesce((SELECT coalesce(queryid::text, 'null') FROM txguard_aborts
             WHERE usename = 'regress_txg_bob'), 'no row') || '|' ||
  coalesce((SELECT coalesce(queryid::text, 'null') FROM txguard_statement_stats
             WHERE usename = 'regress_txg_bob'), 'no row') || '|' ||
  coalesce((SELECT coalesce(queryid::text, 'null') FROM txguard_aborted_sessions
             WHERE usename = 'regress_txg_bob'), 'no row'));
	my $superuser = $node->safe_psql('postgres', 'SELECT current_user');
	my %want = (
		$superuser => "$qid|$qid|$qid",
		'regress_txg_bob' => "$qid|$qid|$qid",
		'regress_txg_bob_member' => "$qid|$qid|$qid",
		'regress_txg_monitor' => "$qid|$qid|$qid",
		'regress_txg_alice' => 'null|null|null',
		'regress_txg_bob_noinherit' => 'null|null|null');
	for my $reader (sort keys %want)
	{
		is(as_role($reader, $seen), $want{$reader},
			"query ids of bob's rows (aborts|statement stats|aborted sessions) as $reader");
	}
	$bob->query_safe('ROLLBACK');
	$bob->quit;
}

$node->stop;
done_testing();
