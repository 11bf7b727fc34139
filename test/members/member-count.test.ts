import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroup, getGroup, getMembers, joinAll, makeUsers } from '../support/api-helpers.js';
import { call, type ApiResponse, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * groups.member_count is a stored column kept by triggers on group_members (migration 005):
 * under any mix of concurrent membership changes, every read of it must equal the rows.
 * Requests are fired together so that their transactions overlap on a server database.
 */
let t: TestService;

beforeAll(async () => {
  t = await startTestService();
}, 180_000);
afterAll(async () => t?.stop());

const join = (u: TestUser, id: string) => call('POST', `${t.api}/${id}/join`, { token: u.token });
const leave = (u: TestUser, id: string) => call('DELETE', `${t.api}/${id}/leave`, { token: u.token });
const kick = (admin: TestUser, id: string, userId: string) => call('DELETE', `${t.api}/${id}/members/${userId}`, { token: admin.token });
const add = (admin: TestUser, id: string, userId: string) => call('POST', `${t.api}/${id}/members`, { token: admin.token, body: { user_id: userId } });

async function rows(groupId: string): Promise<number> {
  const { rows: r } = await t.service.db.query<{ n: number }>('SELECT count(*)::int AS n FROM group_members WHERE group_id = $1', [groupId]);
  return r[0]!.n;
}

async function stored(groupId: string): Promise<number | undefined> {
  const { rows: r } = await t.service.db.query<{ member_count: number }>('SELECT member_count FROM groups WHERE id = $1', [groupId]);
  return r[0]?.member_count;
}

/** Every way the API reports the count, next to the rows. */
async function counts(groupId: string, eventId: string, viewer: TestUser) {
  const one = await getGroup(t, viewer, groupId);
  const listed = await call('GET', `${t.api}?event_id=${eventId}`, { token: viewer.token });
  const members = await getMembers(t, viewer, groupId);
  return {
    rows: await rows(groupId),
    stored: await stored(groupId),
    get: one.body.member_count,
    list: listed.body.groups.find((g: { id: string }) => g.id === groupId)?.member_count,
    members: members.body.total,
    isFull: one.body.is_full,
  };
}

const ok = (r: ApiResponse) => r.status < 300;

describe('member_count under concurrent membership changes', { timeout: 180_000 }, () => {
  it('equals the real rows after many joins, leaves, adds and kicks race on one group', async () => {
    const rounds = 4;
    for (let round = 0; round < rounds; round += 1) {
      const eventId = randomUUID();
      const [owner, coAdmin] = (await makeUsers(t, 2)) as [TestUser, TestUser];
      const group = await createGroup(t, owner, { event_id: eventId, max_members: 12 });
      await joinAll(t, group.id, [coAdmin]);
      expect((await call('PATCH', `${t.api}/${group.id}/members/${coAdmin.id}`, { token: owner.token, body: { is_admin: true } })).status).toBe(200);

      const members = await makeUsers(t, 8);
      await joinAll(t, group.id, members);
      const newcomers = await makeUsers(t, 10);
      const guests = await makeUsers(t, 4);
      const [leavers, kicked, both] = [members.slice(0, 3), members.slice(3, 6), members.slice(6, 8)];

      // 3 leave, 3 are kicked, 2 leave while being kicked, 10 join and 4 are added into the
      // 2 free seats and those the departures open: some of them get group_full.
      const results = await Promise.all([
        ...leavers.map((u) => leave(u, group.id)),
        ...kicked.map((u) => kick(round % 2 ? owner : coAdmin, group.id, u.id)),
        ...both.flatMap((u) => [leave(u, group.id), kick(owner, group.id, u.id)]),
        ...newcomers.map((u) => join(u, group.id)),
        ...guests.map((u) => add(coAdmin, group.id, u.id)),
      ]);
      const departures = results.slice(0, 3 + 3 + 4);
      const arrivals = results.slice(10);
      expect(departures.filter(ok)).toHaveLength(8);
      for (const r of arrivals.filter((x) => !ok(x))) expect(r.body.code).toBe('group_full');
      const admitted = arrivals.filter(ok).length;
      expect(admitted).toBeGreaterThanOrEqual(2);
      expect(admitted).toBeLessThanOrEqual(10);

      const after = await counts(group.id, eventId, owner);
      const expected = 2 + 8 - 8 + admitted;
      expect(after).toEqual({ rows: expected, stored: expected, get: expected, list: expected, members: expected, isFull: expected >= 12 });
    }
  });

  it('equals the real rows when a group fills up, empties and refills under concurrent requests', async () => {
    const eventId = randomUUID();
    const owner = (await makeUsers(t, 1))[0]!;
    const group = await createGroup(t, owner, { event_id: eventId, max_members: 6 });
    const crowd = await makeUsers(t, 12);
    // Everyone joins at once (5 seats beside the owner), then everyone leaves at once, the
    // owner too; then the same into the empty group (6 seats).
    for (let wave = 0; wave < 2; wave += 1) {
      const joins = await Promise.all(crowd.map((u) => join(u, group.id)));
      const inside = crowd.filter((_, i) => ok(joins[i]!));
      expect(inside).toHaveLength(6 - (wave === 0 ? 1 : 0));
      expect(await counts(group.id, eventId, inside[0]!)).toMatchObject({ rows: 6, stored: 6, get: 6, list: 6, members: 6, isFull: true });
      const leaves = await Promise.all([...inside, ...(wave === 0 ? [owner] : [])].map((u) => leave(u, group.id)));
      expect(leaves.every(ok)).toBe(true);
      expect(await rows(group.id)).toBe(0);
      expect(await stored(group.id)).toBe(0);
    }
    // An empty public group stays readable with 0 members; the next to join becomes its admin.
    expect((await getGroup(t, owner, group.id)).body).toMatchObject({ member_count: 0, is_full: false });
  });
});

describe('member_count follows every statement on group_members', () => {
  const newGroup = async (id = randomUUID()) => {
    await t.service.db.query(`INSERT INTO groups (id, event_id, name, max_members) VALUES ($1, $2, 'sql', 50)`, [id, randomUUID()]);
    return id;
  };
  const insertMembers = (pairs: [string, string][]) =>
    t.service.db.query(`INSERT INTO group_members (group_id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])`, [
      pairs.map((p) => p[0]),
      pairs.map((p) => p[1]),
    ]);

  it('counts multi-row inserts and deletes across several groups', async () => {
    const [a, b, c] = [await newGroup(), await newGroup(), await newGroup()];
    const users = Array.from({ length: 7 }, () => randomUUID());
    await insertMembers([...users.map((u): [string, string] => [a, u]), ...users.slice(0, 3).map((u): [string, string] => [b, u])]);
    expect([await stored(a), await stored(b), await stored(c)]).toEqual([7, 3, 0]);
    await t.service.db.query('DELETE FROM group_members WHERE user_id = ANY($1::uuid[])', [users.slice(0, 2)]);
    expect([await stored(a), await stored(b), await stored(c)]).toEqual([5, 1, 0]);
    await t.service.db.query('DELETE FROM group_members WHERE group_id = $1 AND user_id = $2', [c, randomUUID()]);
    expect(await stored(c)).toBe(0);
    // Changing other columns leaves the count alone; moving a member moves the count.
    await t.service.db.query('UPDATE group_members SET is_admin = true WHERE group_id = $1', [a]);
    await t.service.db.query('UPDATE group_members SET group_id = $2 WHERE group_id = $1 AND user_id = $3', [a, c, users[2]]);
    expect([await stored(a), await stored(b), await stored(c)]).toEqual([4, 1, 1]);
    for (const g of [a, b, c]) expect(await stored(g)).toBe(await rows(g));
  });

  it('lets a group be deleted with its members (the cascade)', async () => {
    const g = await newGroup();
    await insertMembers([randomUUID(), randomUUID()].map((u): [string, string] => [g, u]));
    expect(await stored(g)).toBe(2);
    await t.service.db.query('DELETE FROM groups WHERE id = $1', [g]);
    expect(await stored(g)).toBeUndefined();
    expect(await rows(g)).toBe(0);
  });

  it('rolls back with the transaction that changed the members', async () => {
    const g = await newGroup();
    await insertMembers([[g, randomUUID()]]);
    await expect(
      t.service.db.transaction(async (tx) => {
        await tx.query('INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)', [g, randomUUID()]);
        throw new Error('abandon');
      }),
    ).rejects.toThrow('abandon');
    expect(await stored(g)).toBe(1);
    expect(await rows(g)).toBe(1);
  });
});
