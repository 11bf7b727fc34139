import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { openEmbeddedDatabase } from '../../src/db/embedded-database.js';
import { migrate } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { connectServerDatabase } from '../../src/db/server-database.js';

/**
 * Migration 005 adds groups.member_count to a database that already has groups and members:
 * the count is backfilled from the rows, and the triggers keep it from then on. Runs on a
 * database of its own (a fresh embedded one, or a scratch database on the server).
 */
const serverUrl = process.env.TEST_DATABASE_URL;
const upTo = (version: number) => migrations.filter((m) => m.version <= version);

let db: Database;
let dropScratch: (() => Promise<void>) | undefined;

beforeAll(async () => {
  if (serverUrl) {
    const name = `gcs_member_count_${Date.now()}_${randomUUID().slice(0, 6)}`;
    const admin = connectServerDatabase(serverUrl, { max: 1 });
    await admin.query(`CREATE DATABASE "${name}"`);
    const url = new URL(serverUrl);
    url.pathname = `/${name}`;
    db = connectServerDatabase(url.toString(), { max: 4 });
    dropScratch = async () => {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await admin.close();
    };
  } else {
    db = await openEmbeddedDatabase('memory://');
  }
}, 60_000);

afterAll(async () => {
  await db?.close();
  await dropScratch?.();
});

describe('migration 005 (member_count)', () => {
  it('backfills the count of existing groups, then keeps it', async () => {
    expect(await migrate(db, upTo(4))).toEqual([1, 2, 3, 4]);
    const groups = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of groups) await db.query(`INSERT INTO groups (id, event_id, name) VALUES ($1, $2, 'old')`, [id, randomUUID()]);
    const sizes = [3, 1, 0];
    for (const [i, id] of groups.entries()) {
      for (let n = 0; n < sizes[i]!; n++) await db.query('INSERT INTO group_members (group_id, user_id, is_admin) VALUES ($1, $2, $3)', [id, randomUUID(), n === 0]);
    }

    expect(await migrate(db, upTo(5))).toEqual([5]);
    const count = async (id: string) => (await db.query<{ member_count: number }>('SELECT member_count FROM groups WHERE id = $1', [id])).rows[0]!.member_count;
    expect(await Promise.all(groups.map(count))).toEqual(sizes);

    await db.query('INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)', [groups[2], randomUUID()]);
    await db.query('DELETE FROM group_members WHERE group_id = $1 AND NOT is_admin', [groups[0]]);
    expect(await Promise.all(groups.map(count))).toEqual([1, 1, 1]);

    // The rest of the migrations apply on top, and a second run applies nothing.
    const rest = migrations.filter((m) => m.version > 5).map((m) => m.version);
    expect(await migrate(db)).toEqual(rest);
    expect(await migrate(db)).toEqual([]);
  });
});
