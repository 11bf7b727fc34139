import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findGroupsVisibleTo, findGroupVisibleTo } from '../../src/groups/repository.js';
import { createGroup, expectError, getGroup, joinAll, makeUsers } from '../support/api-helpers.js';
import { call, type ApiResponse, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

/**
 * GET /{id} under concurrency: reads that arrive together share statements
 * (src/groups/read-batcher.ts). Each caller must still get exactly its own answer, and a
 * read that starts after a change was acknowledged must see it.
 */
let t: TestService;

beforeAll(async () => {
  t = await startTestService();
}, 180_000);
afterAll(async () => t?.stop());

describe('GET /{id} with many requests at once', { timeout: 180_000 }, () => {
  it('answers each caller for its own group and its own membership', async () => {
    const [owner, member, outsider] = (await makeUsers(t, 3)) as [TestUser, TestUser, TestUser];
    const publics = await Promise.all(Array.from({ length: 5 }, (_, i) => createGroup(t, owner, { max_members: 10 + i })));
    const privates = await Promise.all(Array.from({ length: 3 }, () => createGroup(t, owner, { is_private: true })));
    for (const p of privates) expect((await call('POST', `${t.api}/${p.id}/members`, { token: owner.token, body: { user_id: member.id } })).status).toBe(201);
    await joinAll(t, publics[1]!.id, [member]);
    // What each group looks like now, read one at a time.
    const expected = new Map<string, unknown>();
    for (const g of [...publics, ...privates]) expected.set(g.id, (await getGroup(t, owner, g.id)).body);

    const missing = randomUUID();
    const asks: { viewer: TestUser; id: string; status: number }[] = [];
    for (let round = 0; round < 12; round++) {
      for (const g of publics) for (const viewer of [owner, member, outsider]) asks.push({ viewer, id: g.id, status: 200 });
      for (const g of privates) {
        asks.push({ viewer: owner, id: g.id, status: 200 }, { viewer: member, id: g.id, status: 200 }, { viewer: outsider, id: g.id, status: 404 });
      }
      asks.push({ viewer: member, id: missing, status: 404 });
    }
    const answers = await Promise.all(asks.map((a) => getGroup(t, a.viewer, a.id)));
    answers.forEach((res, i) => {
      const ask = asks[i]!;
      if (ask.status === 200) {
        expect(res.status).toBe(200);
        expect(res.body).toEqual(expected.get(ask.id));
      } else {
        expectError(res, 404, 'group_not_found');
      }
    });
  });

  it('sees every change acknowledged before the read, while other reads keep the statements busy', async () => {
    const [owner, ...others] = (await makeUsers(t, 7)) as [TestUser, ...TestUser[]];
    const secret = await createGroup(t, owner, { is_private: true, max_members: 10 });
    const open = await createGroup(t, owner, { max_members: 10 });
    let busy = true;
    const background = (async () => {
      let n = 0;
      while (busy && n < 2_000) {
        await Promise.all(Array.from({ length: 16 }, () => getGroup(t, owner, open.id)));
        n += 16;
      }
    })();
    try {
      for (const [i, user] of others.entries()) {
        expectError(await getGroup(t, user, secret.id), 404, 'group_not_found');
        expect((await call('POST', `${t.api}/${secret.id}/members`, { token: owner.token, body: { user_id: user.id } })).status).toBe(201);
        const seen: ApiResponse = await getGroup(t, user, secret.id);
        expect(seen.status).toBe(200);
        expect(seen.body.member_count).toBe(i + 2);
        expect((await call('POST', `${t.api}/${open.id}/join`, { token: user.token })).status).toBe(200);
        expect((await getGroup(t, owner, open.id)).body.member_count).toBe(i + 2);
        expect((await call('PUT', `${t.api}/${open.id}`, { token: owner.token, body: { name: `renamed ${i}` } })).status).toBe(200);
        expect((await getGroup(t, user, open.id)).body.name).toBe(`renamed ${i}`);
      }
      const leaver = others[0]!;
      expect((await call('DELETE', `${t.api}/${secret.id}/leave`, { token: leaver.token })).status).toBe(200);
      expectError(await getGroup(t, leaver, secret.id), 404, 'group_not_found');
      expect((await call('DELETE', `${t.api}/${secret.id}`, { token: owner.token })).status).toBe(204);
      expectError(await getGroup(t, owner, secret.id), 404, 'group_not_found');
    } finally {
      busy = false;
      await background;
    }
  });

  it('reads many (group, viewer) pairs in one statement exactly as one at a time', async () => {
    const [owner, member, outsider] = (await makeUsers(t, 3)) as [TestUser, TestUser, TestUser];
    const open = await createGroup(t, owner, { max_members: 3 });
    const secret = await createGroup(t, owner, { is_private: true });
    await joinAll(t, open.id, [member, outsider]);
    expect((await call('POST', `${t.api}/${secret.id}/members`, { token: owner.token, body: { user_id: member.id } })).status).toBe(201);
    const missing = randomUUID();
    const pairs: [string, string][] = [];
    for (const id of [open.id, secret.id, missing, secret.id, open.id]) for (const viewer of [owner, member, outsider]) pairs.push([id, viewer.id]);
    pairs.push([secret.id, randomUUID()], [open.id, randomUUID()]);

    const batched = await findGroupsVisibleTo(t.service.db, pairs.map((p) => p[0]), pairs.map((p) => p[1]));
    const oneByOne = await Promise.all(pairs.map(([g, u]) => findGroupVisibleTo(t.service.db, g, u)));
    expect(batched).toHaveLength(pairs.length);
    expect(batched.map((r) => r && { ...r, i: undefined })).toEqual(oneByOne.map((r) => r && { ...r, i: undefined }));
    expect(batched.map((r) => r?.id ?? null)).toEqual(
      pairs.map(([g, u]) => (g === missing || (g === secret.id && u !== owner.id && u !== member.id) ? null : g)),
    );
    expect(batched[0]).toMatchObject({ member_count: 3, max_members: 3 });
  });
});
