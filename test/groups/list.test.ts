import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroup, expectError, expectFieldError, joinAll, makeUsers } from '../support/api-helpers.js';
import { call, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

let t: TestService;
let owner: TestUser;
let viewer: TestUser;

beforeAll(async () => {
  t = await startTestService();
  [owner, viewer] = (await makeUsers(t, 2)) as [TestUser, TestUser];
}, 180_000);
afterAll(async () => t?.stop());

const list = (user: TestUser, query: string) => call('GET', `${t.api}?${query}`, { token: user.token });
const ids = (res: { body: { groups: { id: string }[] } }) => res.body.groups.map((g) => g.id);

/** Groups are created one after another, so the newest comes first in a listing. */
async function createMany(user: TestUser, eventId: string, count: number, overrides: Record<string, unknown> = {}) {
  const groups = [];
  for (let i = 0; i < count; i += 1) groups.push(await createGroup(t, user, { event_id: eventId, name: `g${i}`, ...overrides }));
  return groups;
}

describe('GET / filters', () => {
  it('filters by event_id and lists the newest first', async () => {
    const eventId = randomUUID();
    const mine = await createMany(owner, eventId, 3);
    await createGroup(t, owner);
    const res = await list(viewer, `event_id=${eventId}`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(3);
    expect(ids(res)).toEqual(mine.map((g) => g.id).reverse());
    expect(res.body.groups[0]).toEqual(mine[2]);
  });

  it('returns an empty page for an event without groups', async () => {
    expect((await list(viewer, `event_id=${randomUUID()}`)).body).toEqual({ groups: [], total: 0 });
  });

  it('lists private groups only to their members', async () => {
    const eventId = randomUUID();
    const open = await createGroup(t, owner, { event_id: eventId });
    const secret = await createGroup(t, owner, { event_id: eventId, is_private: true });
    expect(ids(await list(owner, `event_id=${eventId}`)).sort()).toEqual([open.id, secret.id].sort());
    const outside = await list(viewer, `event_id=${eventId}`);
    expect(outside.body).toEqual({ groups: [open], total: 1 });

    expect((await call('POST', `${t.api}/${secret.id}/members`, { token: owner.token, body: { user_id: viewer.id } })).status).toBe(201);
    const inside = await list(viewer, `event_id=${eventId}`);
    expect(inside.body.total).toBe(2);
    expect(inside.body.groups.find((g: { id: string }) => g.id === secret.id)).toMatchObject({ is_private: true, member_count: 2 });
  });

  it('mine=true lists only the caller’s groups, private ones included', async () => {
    const eventId = randomUUID();
    const [a, b] = (await makeUsers(t, 2)) as [TestUser, TestUser];
    const own = await createGroup(t, a, { event_id: eventId });
    const joined = await createGroup(t, b, { event_id: eventId });
    const ownPrivate = await createGroup(t, a, { event_id: eventId, is_private: true });
    await createGroup(t, b, { event_id: eventId });
    await joinAll(t, joined.id, [a]);

    const res = await list(a, 'mine=true');
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(3);
    expect(ids(res)).toEqual([ownPrivate.id, joined.id, own.id]);
    expect((await list(a, 'mine=false&event_id=' + eventId)).body.total).toBe(4);
    expect((await list(b, `mine=true&event_id=${eventId}`)).body.total).toBe(2);

    const left = await call('DELETE', `${t.api}/${joined.id}/leave`, { token: a.token });
    expect(left.status).toBe(200);
    expect(ids(await list(a, 'mine=true'))).toEqual([ownPrivate.id, own.id]);
  });

  it('combines mine=true with event_id', async () => {
    const u = (await makeUsers(t, 1))[0]!;
    const eventId = randomUUID();
    const here = await createGroup(t, u, { event_id: eventId });
    await createGroup(t, u);
    expect((await list(u, `mine=true&event_id=${eventId}`)).body).toEqual({ groups: [here], total: 1 });
  });
});

describe('GET / paging', () => {
  it('pages with limit and offset while total counts every match', async () => {
    const eventId = randomUUID();
    const all = (await createMany(owner, eventId, 7)).map((g) => g.id).reverse();
    const first = await list(viewer, `event_id=${eventId}&limit=3`);
    const second = await list(viewer, `event_id=${eventId}&limit=3&offset=3`);
    const last = await list(viewer, `event_id=${eventId}&limit=3&offset=6`);
    const beyond = await list(viewer, `event_id=${eventId}&limit=3&offset=50`);
    expect([first, second, last, beyond].map((r) => r.body.total)).toEqual([7, 7, 7, 7]);
    expect([...ids(first), ...ids(second), ...ids(last)]).toEqual(all);
    expect(ids(beyond)).toEqual([]);
  });

  it('defaults to 50 and allows 100', async () => {
    const eventId = randomUUID();
    await createMany(owner, eventId, 51);
    const byDefault = await list(viewer, `event_id=${eventId}`);
    expect(byDefault.body.groups).toHaveLength(50);
    expect(byDefault.body.total).toBe(51);
    expect((await list(viewer, `event_id=${eventId}&limit=100`)).body.groups).toHaveLength(51);
  }, 120_000);

  it.each([
    ['limit=101', 'query.limit'],
    ['limit=0', 'query.limit'],
    ['limit=-1', 'query.limit'],
    ['limit=ten', 'query.limit'],
    ['limit=2.5', 'query.limit'],
    ['offset=-1', 'query.offset'],
    ['offset=x', 'query.offset'],
    ['event_id=abc', 'query.event_id'],
    [`event_id=urn:uuid:${randomUUID()}`, 'query.event_id'],
    ['mine=maybe', 'query.mine'],
  ])('refuses %s with 422', async (query, field) => {
    expectFieldError(await list(viewer, query), field);
  });

  it('answers 401 without a token', async () => {
    const res = await call('GET', t.api);
    expectError(res, 401, 'unauthenticated');
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });
});

describe('GET / member counts', () => {
  it('lists 100 groups with varied membership in one request, each with its own count', async () => {
    const eventId = randomUUID();
    const joiners = await makeUsers(t, 5);
    const expected = new Map<string, { count: number; max: number }>();
    for (let i = 0; i < 100; i += 1) {
      const max = 2 + (i % 5);
      const group = await createGroup(t, owner, { event_id: eventId, max_members: max, is_private: i % 10 === 3 });
      // 0..(max - 1) extra members: group i ends with 1 + (i % max) members, full when i % max = max - 1.
      const extra = i % max;
      if (i % 10 === 3) {
        for (const u of joiners.slice(0, extra)) {
          expect((await call('POST', `${t.api}/${group.id}/members`, { token: owner.token, body: { user_id: u.id } })).status).toBe(201);
        }
      } else {
        await joinAll(t, group.id, joiners.slice(0, extra));
      }
      expected.set(group.id, { count: 1 + extra, max });
    }

    const res = await list(owner, `event_id=${eventId}&limit=100`);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(100);
    expect(res.body.groups).toHaveLength(100);
    for (const g of res.body.groups) {
      const want = expected.get(g.id)!;
      expect({ id: g.id, count: g.member_count, full: g.is_full, max: g.max_members }).toEqual({
        id: g.id,
        count: want.count,
        full: want.count >= want.max,
        max: want.max,
      });
    }
    expect(new Set(res.body.groups.map((g: { member_count: number }) => g.member_count)).size).toBeGreaterThan(3);

    // The private tenth is visible to the owner but not to someone outside.
    expect((await list(viewer, `event_id=${eventId}&limit=100`)).body.total).toBe(90);
  }, 180_000);
});
