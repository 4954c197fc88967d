// Drives fstore with node-postgres (`pg`) and `pg-copy-streams`: DDL, a
// parameterised INSERT, COPY in, reads of a feature group, a feature view
// and online.* (node-postgres reads text), errors by SQLSTATE.
//
// Usage: node client.js PORT
'use strict';

const assert = require('node:assert/strict');
const { pipeline } = require('node:stream/promises');
const { Readable } = require('node:stream');
const { Client } = require('pg');
const { from: copyFrom } = require('pg-copy-streams');

async function main() {
  const port = Number(process.argv[2]);
  const client = new Client({ host: '127.0.0.1', port, user: 'node', database: 'fstore' });
  await client.connect();
  try {
    await client.query(`CREATE FEATURE GROUP sessions (
        user_id BIGINT NOT NULL, started_at TIMESTAMP NOT NULL, pages BIGINT, browser TEXT,
        PRIMARY KEY (user_id), EVENT TIME (started_at)) ONLINE`);
    await client.query(`CREATE FEATURE GROUP plans (
        user_id BIGINT NOT NULL, since TIMESTAMP NOT NULL, plan TEXT,
        PRIMARY KEY (user_id), EVENT TIME (since))`);

    const inserted = await client.query(
      'INSERT INTO sessions VALUES ($1, $2, $3, $4)', [1, '2026-01-01 10:00:00', 3, 'firefox']);
    assert.equal(inserted.rowCount, 1);

    const copy = client.query(copyFrom('COPY sessions FROM STDIN (FORMAT csv)'));
    await pipeline(Readable.from([
      '2,2026-01-02 11:00:00,7,chrome\n',
      '1,2026-01-03 12:00:00,9,safari\n',
    ]), copy);
    assert.equal(copy.rowCount, 2);
    await client.query("INSERT INTO plans VALUES (1, '2025-06-01', 'pro'), (2, '2025-06-01', 'free')");
    await client.query(`CREATE FEATURE VIEW engagement AS
        SELECT s.user_id, s.started_at, s.pages, p.plan FROM sessions s
        ASOF LEFT JOIN plans p ON s.user_id = p.user_id AND s.started_at >= p.since`);

    const offline = await client.query('SELECT user_id, pages FROM sessions ORDER BY started_at');
    assert.deepEqual(offline.rows, [
      { user_id: '1', pages: '3' }, { user_id: '2', pages: '7' }, { user_id: '1', pages: '9' }]);

    const batch = await client.query('SELECT user_id, plan FROM engagement WHERE user_id = $1 ORDER BY started_at', [1]);
    assert.deepEqual(batch.rows.map((r) => r.plan), ['pro', 'pro']);

    const latest = await client.query({
      name: 'latest-session',
      text: 'SELECT browser, pages, started_at FROM online.sessions WHERE user_id = $1',
      values: [1],
    });
    assert.equal(latest.rows[0].browser, 'safari');
    assert.equal(latest.rows[0].pages, '9');
    assert.equal(latest.rows[0].started_at.getTime(), new Date(2026, 0, 3, 12).getTime());
    const again = await client.query({ name: 'latest-session', values: [2] });
    assert.equal(again.rows[0].browser, 'chrome');

    const many = await client.query('SELECT user_id FROM online.sessions WHERE user_id = ANY($1)', [[2, 1, 99]]);
    assert.deepEqual(many.rows.map((r) => r.user_id), ['2', '1']);

    // node-postgres reads results in text only: its binary mode
    // (`binary: true`) cannot decode int8 or timestamps with any server
    // (pg-types hands its binary parsers strings), so it is not exercised.

    await assert.rejects(client.query('SELECT * FROM missing_group'), (e) => e.code === '42P01');
    await assert.rejects(
      client.query('SELECT * FROM online.sessions WHERE user_id = $1', ['not a number']),
      (e) => e.code === '22P02');
    // The connection is still usable after errors.
    const count = await client.query('SELECT count(*) AS n FROM sessions');
    assert.equal(count.rows[0].n, '3');
  } finally {
    await client.end();
  }
  console.log('node: ok');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
