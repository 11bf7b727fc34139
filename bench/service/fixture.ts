import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { mapLimit } from '../lib/stats.js';
import { API } from './service.js';

/**
 * What the measurements need in the service, made through its public API (development
 * auth mode): users with real RS256 tokens, groups whose creator is the first member, and
 * the other members joining. Only the 200,000-message history is written with SQL.
 */
export interface User {
  username: string;
  userId: string;
  token: string;
}

export interface ChatGroup {
  id: string;
  members: User[];
}

async function call<T>(base: string, method: string, path: string, token?: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${API}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 200)}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

export async function issueToken(base: string, username: string): Promise<User> {
  const t = await call<{ access_token: string; user_id: string }>(base, 'POST', '/dev/token', undefined, { username });
  return { username, userId: t.user_id, token: t.access_token };
}

export async function createGroup(base: string, owner: User, maxMembers: number): Promise<string> {
  const g = await call<{ id: string }>(base, 'POST', '/', owner.token, { event_id: randomUUID(), name: `bench ${owner.username}`, max_members: maxMembers });
  return g.id;
}

/** `count` groups of `size` members each; usernames start with `prefix`. */
export async function makeGroups(base: string, count: number, size: number, prefix: string, concurrency = 16): Promise<ChatGroup[]> {
  const names = Array.from({ length: count * size }, (_, i) => `${prefix}-g${Math.floor(i / size)}-m${i % size}`);
  const users = await mapLimit(names, concurrency, (name) => issueToken(base, name));
  const groups: ChatGroup[] = Array.from({ length: count }, (_, g) => ({ id: '', members: users.slice(g * size, (g + 1) * size) }));
  await mapLimit(groups, concurrency, async (group) => {
    group.id = await createGroup(base, group.members[0]!, Math.max(2, Math.min(50, size)));
  });
  const joins = groups.flatMap((group) => group.members.slice(1).map((m) => ({ group, m })));
  await mapLimit(joins, concurrency, ({ group, m }) => call(base, 'POST', `/${group.id}/join`, m.token));
  return groups;
}

/**
 * Like makeGroups, but the groups and memberships are inserted with SQL (the tokens still
 * come from the API): for the thousands of groups of the idle-socket figure, where the
 * API would spend most of the run on set-up.
 */
export async function makeGroupsSql(base: string, db: pg.Client, count: number, size: number, prefix: string, concurrency = 16): Promise<ChatGroup[]> {
  const names = Array.from({ length: count * size }, (_, i) => `${prefix}-g${Math.floor(i / size)}-m${i % size}`);
  const users = await mapLimit(names, concurrency, (name) => issueToken(base, name));
  const groups: ChatGroup[] = Array.from({ length: count }, (_, g) => ({ id: randomUUID(), members: users.slice(g * size, (g + 1) * size) }));
  await db.query(
    `INSERT INTO groups (id, event_id, name, max_members) SELECT id, gen_random_uuid(), 'bench idle', $2 FROM unnest($1::uuid[]) AS id`,
    [groups.map((g) => g.id), Math.max(2, Math.min(50, size))],
  );
  const rows = groups.flatMap((g) => g.members.map((m, i) => ({ group: g.id, user: m.userId, admin: i === 0 })));
  await db.query(
    `INSERT INTO group_members (group_id, user_id, is_admin) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bool[])`,
    [rows.map((r) => r.group), rows.map((r) => r.user), rows.map((r) => r.admin)],
  );
  return groups;
}

/** New groups of `size` over existing users (each user may be in several groups), inserted with SQL. */
export async function regroupSql(db: pg.Client, users: User[], size: number): Promise<ChatGroup[]> {
  const groups: ChatGroup[] = [];
  for (let i = 0; i + size <= users.length; i += size) groups.push({ id: randomUUID(), members: users.slice(i, i + size) });
  await db.query(
    `INSERT INTO groups (id, event_id, name, max_members) SELECT id, gen_random_uuid(), $2, $3 FROM unnest($1::uuid[]) AS id`,
    [groups.map((g) => g.id), `bench size ${size}`, Math.min(size, 50)],
  );
  const rows = groups.flatMap((g) => g.members.map((m, i) => ({ group: g.id, user: m.userId, admin: i === 0 })));
  await db.query(`INSERT INTO group_members (group_id, user_id, is_admin) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bool[])`, [
    rows.map((r) => r.group),
    rows.map((r) => r.user),
    rows.map((r) => r.admin),
  ]);
  return groups;
}

/**
 * A group holding `count` messages (seq 1..count, 64-byte contents, one a millisecond over
 * the past days) inserted with generate_series, its counter set to match, then VACUUM
 * ANALYZE: as a table that grew over time would be, not with autovacuum's first pass over
 * 200,000 fresh rows running during the measurements.
 */
export async function makeHistoryGroup(base: string, db: pg.Client, count: number): Promise<{ groupId: string; owner: User }> {
  const owner = await issueToken(base, 'history-owner');
  const groupId = await createGroup(base, owner, 10);
  await db.query(
    `INSERT INTO messages (id, group_id, seq, sender_id, username, content, client_id, sent_at)
     SELECT gen_random_uuid(), $1, s, $2, $3, rpad('history message ' || s, 64, '.'), NULL,
            now() - interval '3 days' + s * interval '1 millisecond'
     FROM generate_series(1, $4::int) AS s`,
    [groupId, owner.userId, owner.username, count],
  );
  await db.query('UPDATE groups SET last_seq = $2 WHERE id = $1', [groupId, count]);
  await db.query('VACUUM (ANALYZE) messages');
  return { groupId, owner };
}

/**
 * The references' tables, copies of the service's (same columns and indexes, no foreign
 * keys): messages for pg_insert_ceiling and naive_peer, groups (with its rows) for
 * bare_select_route. Then a CHECKPOINT, so that the fixture's writes are not flushed
 * during a measurement.
 */
export async function createReferenceTables(db: pg.Client): Promise<void> {
  await db.query(`CREATE TABLE ref_insert_messages (LIKE messages INCLUDING ALL);
                  CREATE TABLE ref_naive_messages (LIKE messages INCLUDING ALL);
                  CREATE TABLE ref_groups (LIKE groups INCLUDING ALL);
                  INSERT INTO ref_groups SELECT * FROM groups;
                  ANALYZE ref_groups;
                  CHECKPOINT;`);
}
