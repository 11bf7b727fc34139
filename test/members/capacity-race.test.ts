import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroup, expectError, getGroup, getMembers, joinAll, makeUsers } from '../support/api-helpers.js';
import { call, makeUser, type ApiResponse, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * Concurrency invariants, on whichever database the suite runs against: requests are
 * fired together with Promise.all so that their transactions overlap on a server database.
 */
let t: TestService;

beforeAll(async () => {
  t = await startTestService();
}, 180_000);
afterAll(async () => t?.stop());

const join = (u: TestUser, id: string) => call('POST', `${t.api}/${id}/join`, { token: u.token });
const leave = (u: TestUser, id: string) => call('DELETE', `${t.api}/${id}/leave`, { token: u.token });
const patch = (actor: TestUser, id: string, userId: string, isAdmin: boolean) =>
  call('PATCH', `${t.api}/${id}/members/${userId}`, { token: actor.token, body: { is_admin: isAdmin } });
const statuses = (responses: ApiResponse[]) => responses.map((r) => r.status).sort();
const count = (responses: ApiResponse[], status: number) => responses.filter((r) => r.status === status).length;

/** Members and admins straight from the database, next to what the API says. */
async function snapshot(groupId: string, viewer: TestUser) {
  const { rows } = await t.service.db.query<{ members: number; admins: number }>(
    'SELECT count(*)::int AS members, count(*) FILTER (WHERE is_admin)::int AS admins FROM group_members WHERE group_id = $1',
    [groupId],
  );
  const group = (await getGroup(t, viewer, groupId)).body;
  return { ...rows[0]!, memberCount: group.member_count as number, maxMembers: group.max_members as number, isFull: group.is_full as boolean };
}

describe('capacity', { timeout: 120_000 }, () => {
  it('20 users racing for the last 3 seats: exactly 3 get in, 17 get group_full', async () => {
    for (let round = 0; round < 3; round += 1) {
      const owner = await makeUser(t.jwks);
      const group = await createGroup(t, owner, { max_members: 5 });
      await joinAll(t, group.id, await makeUsers(t, 1));
      const racers = await makeUsers(t, 20);

      const results = await Promise.all(racers.map((u) => join(u, group.id)));
      expect(statuses(results)).toEqual([...Array(3).fill(200), ...Array(17).fill(409)]);
      for (const r of results.filter((x) => x.status === 409)) expectError(r, 409, 'group_full');

      expect(await snapshot(group.id, owner)).toEqual({ members: 5, admins: 1, memberCount: 5, maxMembers: 5, isFull: true });
      const winners = racers.filter((_, i) => results[i]!.status === 200).map((u) => u.id);
      const listed = (await getMembers(t, owner, group.id)).body.members.map((m: { user_id: string }) => m.user_id);
      for (const id of winners) expect(listed).toContain(id);
    }
  });

  it('one user joining five times at once becomes a member once', async () => {
    const owner = await makeUser(t.jwks);
    const group = await createGroup(t, owner);
    const eager = await makeUser(t.jwks);
    const results = await Promise.all(Array.from({ length: 5 }, () => join(eager, group.id)));
    expect(statuses(results)).toEqual([200, 409, 409, 409, 409]);
    for (const r of results.filter((x) => x.status === 409)) expectError(r, 409, 'already_member');
    expect((await snapshot(group.id, owner)).members).toBe(2);
  });

  it('an admin adding and the user joining at once: one wins, the other is told already_member', async () => {
    const owner = await makeUser(t.jwks);
    const group = await createGroup(t, owner);
    const guest = await makeUser(t.jwks);
    const [added, joined] = await Promise.all([
      call('POST', `${t.api}/${group.id}/members`, { token: owner.token, body: { user_id: guest.id } }),
      join(guest, group.id),
    ]);
    expect([added.status === 201, joined.status === 200].filter(Boolean)).toHaveLength(1);
    expect([added.body.code, joined.body.code]).toContain('already_member');
    expect((await snapshot(group.id, owner)).members).toBe(2);
  });

  it('lowering max_members while users join never leaves more members than max_members', async () => {
    for (let round = 0; round < 3; round += 1) {
      const owner = await makeUser(t.jwks);
      const group = await createGroup(t, owner, { max_members: 10 });
      const racers = await makeUsers(t, 8);
      const [put, ...joins] = await Promise.all([
        call('PUT', `${t.api}/${group.id}`, { token: owner.token, body: { max_members: 4 } }),
        ...racers.map((u) => join(u, group.id)),
      ]);
      expect([200, 409]).toContain(put!.status);
      const after = await snapshot(group.id, owner);
      expect(after.members).toBe(1 + count(joins, 200));
      expect(after.memberCount).toBe(after.members);
      expect(after.members).toBeLessThanOrEqual(after.maxMembers);
      if (put!.status === 200) expect(after.maxMembers).toBe(4);
      else expect(after.maxMembers).toBe(10);
    }
  });
});

describe('admins', { timeout: 120_000 }, () => {
  it('two admins demoting each other at once: exactly one succeeds, one admin remains', async () => {
    for (let round = 0; round < 5; round += 1) {
      const [a, b] = (await makeUsers(t, 2)) as [TestUser, TestUser];
      const group = await createGroup(t, a);
      await joinAll(t, group.id, [b]);
      expect((await patch(a, group.id, b.id, true)).status).toBe(200);

      const results = await Promise.all([patch(a, group.id, b.id, false), patch(b, group.id, a.id, false)]);
      expect(statuses(results)).toEqual([200, 403]);
      expectError(results.find((r) => r.status === 403)!, 403, 'not_admin');
      expect((await snapshot(group.id, a)).admins).toBe(1);
    }
  });

  it('two admins stepping down at once: one does, the other gets last_admin', async () => {
    for (let round = 0; round < 5; round += 1) {
      const [a, b] = (await makeUsers(t, 2)) as [TestUser, TestUser];
      const group = await createGroup(t, a);
      await joinAll(t, group.id, [b]);
      expect((await patch(a, group.id, b.id, true)).status).toBe(200);

      const results = await Promise.all([patch(a, group.id, a.id, false), patch(b, group.id, b.id, false)]);
      expect(statuses(results)).toEqual([200, 409]);
      expectError(results.find((r) => r.status === 409)!, 409, 'last_admin');
      expect((await snapshot(group.id, a)).admins).toBe(1);
    }
  });

  it('the only admin and the next in line leaving at once still leave the group an admin', async () => {
    for (let round = 0; round < 5; round += 1) {
      const owner = await makeUser(t.jwks);
      const group = await createGroup(t, owner);
      const [first, second, third] = (await makeUsers(t, 3)) as [TestUser, TestUser, TestUser];
      await joinAll(t, group.id, [first, second, third]);

      const results = await Promise.all([leave(owner, group.id), leave(first, group.id)]);
      expect(statuses(results)).toEqual([200, 200]);
      const after = await snapshot(group.id, second);
      expect(after).toMatchObject({ members: 2, admins: 1, memberCount: 2 });
      const admins = (await getMembers(t, third, group.id)).body.members.filter((m: { is_admin: boolean }) => m.is_admin);
      expect(admins.map((m: { user_id: string }) => m.user_id)).toEqual([second.id]);
    }
  });
});

describe('join and leave together', { timeout: 120_000 }, () => {
  it('keeps member_count equal to the members, within max_members, with an admin', async () => {
    for (let round = 0; round < 3; round += 1) {
      const owner = await makeUser(t.jwks);
      const group = await createGroup(t, owner, { max_members: 5 });
      const leavers = await makeUsers(t, 3);
      await joinAll(t, group.id, leavers);
      const joiners = await makeUsers(t, 6);

      const [leaves, joins] = await Promise.all([
        Promise.all(leavers.map((u) => leave(u, group.id))),
        Promise.all(joiners.map((u) => join(u, group.id))),
      ]);
      expect(statuses(leaves)).toEqual([200, 200, 200]);
      const joined = count(joins, 200);
      expect(joined + count(joins, 409)).toBe(6);
      for (const r of joins.filter((x) => x.status === 409)) expectError(r, 409, 'group_full');
      // At the start one seat was free and at most four were by the end.
      expect(joined).toBeGreaterThanOrEqual(1);
      expect(joined).toBeLessThanOrEqual(4);

      const after = await snapshot(group.id, owner);
      expect(after).toEqual({ members: 1 + joined, admins: 1, memberCount: 1 + joined, maxMembers: 5, isFull: 1 + joined === 5 });
      expect((await getMembers(t, owner, group.id)).body.total).toBe(1 + joined);
    }
  });

  it('an admin removing a member while they leave: one of the two does it, the other gets 404', async () => {
    const owner = await makeUser(t.jwks);
    const group = await createGroup(t, owner);
    const target = await makeUser(t.jwks);
    await joinAll(t, group.id, [target]);
    const [kicked, left] = await Promise.all([
      call('DELETE', `${t.api}/${group.id}/members/${target.id}`, { token: owner.token }),
      leave(target, group.id),
    ]);
    expect([kicked.status, left.status].sort()).toEqual(kicked.status === 204 ? [204, 404] : [200, 404]);
    expectError(kicked.status === 404 ? kicked : left, 404, 'member_not_found');
    expect((await snapshot(group.id, owner)).members).toBe(1);
  });
});
