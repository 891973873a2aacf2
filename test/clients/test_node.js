// node-postgres (pg from npm): what err.detail / err.message show on the 25P02.
'use strict';
const { Client } = require('pg');

const CORE_MSG = 'current transaction is aborted, commands ignored until end of transaction block';
// txguard adds a HINT only when the error aborted a savepoint
const HINT = undefined;
const DUP = 'duplicate key value violates unique constraint';
const TABLE = 'txg_node';
const INSERT = `INSERT INTO ${TABLE} VALUES (1, 'dup')`;
const PARAM_INSERT = `INSERT INTO ${TABLE} VALUES ($1, $2)`;
const detailFor = (stmt) =>
  `The transaction was aborted by an earlier error in statement 2: ERROR 23505: ${DUP} "${TABLE}_pkey" ` +
  `(Key (id)=(1) already exists.) Statement: ${stmt}`;

let passed = 0, failed = 0;
function report(ok, label, shown) {
  if (ok) { passed++; console.log(`  ok: ${label}`); }
  else { failed++; console.log(`  FAIL: ${label}\n        client shows: ${JSON.stringify(shown)}`); }
  return ok;
}
const eq = (label, actual, expected) =>
  report(actual === expected, actual === expected ? label : `${label}\n        expected:     ${JSON.stringify(expected)}`, actual);
function contains(label, text, ...needles) {
  const missing = needles.filter((n) => !String(text === undefined ? '' : text).includes(n));
  return report(missing.length === 0, missing.length ? `${label} (missing ${JSON.stringify(missing)})` : label, text);
}
function lacks(label, text, ...needles) {
  const present = needles.filter((n) => String(text === undefined ? '' : text).includes(n));
  return report(present.length === 0, present.length ? `${label} (unexpectedly present ${JSON.stringify(present)})` : label, text);
}

// statement 1: SELECT, statement 2: duplicate INSERT (caught), then a SELECT -> 25P02
async function provoke(client, label, insert) {
  let dup = null, err = null;
  await client.query('BEGIN');
  await client.query(`SELECT count(*) FROM ${TABLE}`);
  try {
    if (insert === PARAM_INSERT) await client.query(insert, [1, 'dup']);
    else await client.query(insert);
  } catch (e) { dup = e; }
  try { await client.query(`SELECT note FROM ${TABLE} WHERE id = $1`, [1]); } catch (e) { err = e; }
  await client.query('ROLLBACK');
  console.log(`[${label}] err.message=${JSON.stringify(err && err.message)}`);
  console.log(`[${label}] err.detail=${JSON.stringify(err && err.detail)}`);
  report(dup && dup.code === '23505', `[${label}] the duplicate INSERT failed with 23505`, dup && dup.code);
  report(err !== null, `[${label}] the next query failed`, err);
  if (err) eq(`[${label}] err.code stays 25P02`, err.code, '25P02');
  return err;
}

async function main() {
  const client = new Client({
    host: process.env.PGHOST || '127.0.0.1', port: Number(process.env.PGPORT || 55441),
    user: process.env.PGUSER || 'postgres', database: process.env.PGDATABASE || 'postgres',
    application_name: 'txguard-client-test-node',
  });
  await client.connect();
  console.log('pg', require('pg/package.json').version, 'node', process.version);
  await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await client.query(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, note text)`);
  await client.query(`INSERT INTO ${TABLE} VALUES (1, 'first')`);

  // annotate = detail (default): simple query protocol, then the extended protocol (parameters)
  for (const [label, insert] of [['detail/simple', INSERT], ['detail/extended', PARAM_INSERT]]) {
    const err = await provoke(client, label, insert);
    if (!err) continue;
    eq(`[${label}] err.message is core's message`, err.message, CORE_MSG);
    contains(`[${label}] err.detail names 23505, the duplicate key error and the INSERT`,
      err.detail, '23505', DUP, insert);
    if (insert === INSERT) eq(`[${label}] err.detail`, err.detail, detailFor(insert));
    else contains(`[${label}] err.detail (statement 2, the cause, the server-side statement text)`,
      err.detail, detailFor(insert));
    eq(`[${label}] err.hint`, err.hint, HINT);
  }

  // annotate = message: err.message carries the short cause
  await client.query('SET txguard.annotate = message');
  let err = await provoke(client, 'message', INSERT);
  if (err) {
    eq('[message] err.message carries the short cause', err.message,
      `${CORE_MSG} (aborted by earlier error 23505: ${DUP} "${TABLE}_pkey")`);
  }

  // annotate = off: nothing added (proves the difference)
  await client.query('SET txguard.annotate = off');
  err = await provoke(client, 'off', INSERT);
  if (err) {
    eq('[off] err.message is core\'s message', err.message, CORE_MSG);
    eq('[off] err.detail is undefined', err.detail, undefined);
    eq('[off] err.hint is undefined', err.hint, undefined);
    lacks('[off] nothing names the cause', `${err.message} ${err.detail}`, '23505', DUP);
  }
  await client.end();
}

main().catch((e) => { console.log(e); report(false, 'unexpected exception', String(e)); })
  .finally(() => {
    console.log(`node: ${passed} checks passed, ${failed} failed`);
    process.exitCode = failed || !passed ? 1 : 0;
  });
