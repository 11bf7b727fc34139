import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroup, expectError, expectFieldError, getGroup, getMembers, joinAll, makeUsers } from '../support/api-helpers.js';
import { call, makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

let t: TestService;
let owner: TestUser;
let member: TestUser;
let outsider: TestUser;

beforeAll(async () => {
  t = await startTestService();
  [owner, member, outsider] = (await makeUsers(t, 3)) as [TestUser, TestUser, TestUser];
}, 180_000);
afterAll(async () => t?.stop());

const url = (id: string) => `${t.api}/${id}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('GET /{id}', () => {
  it('returns a public group to anyone signed in', async () => {
    const group = await createGroup(t, owner, { description: 'public' });
    const res = await getGroup(t, outsider, group.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual(group);
  });

  it('answers 404 for a group that does not exist', async () => {
    expectError(await getGroup(t, owner, randomUUID()), 404, 'group_not_found');
  });

  it('hides a private group from non-members with the same 404, and shows it to members', async () => {
    const group = await createGroup(t, owner, { is_private: true });
    const hidden = await getGroup(t, outsider, group.id);
    const absent = await getGroup(t, outsider, randomUUID());
    expectError(hidden, 404, 'group_not_found');
    expect(hidden.body).toEqual(absent.body);

    const added = await call('POST', `${url(group.id)}/members`, { token: owner.token, body: { user_id: member.id } });
    expect(added.status).toBe(201);
    const seen = await getGroup(t, member, group.id);
    expect(seen.status).toBe(200);
    expect(seen.body).toMatchObject({ id: group.id, is_private: true, member_count: 2 });
  });

  it('answers 422 for an id that is not a UUID', async () => {
    for (const id of ['abc', '123', `urn:uuid:${randomUUID()}`, `${randomUUID()}x`]) {
      expectFieldError(await call('GET', url(id), { token: owner.token }), 'params.id');
    }
  });

  it('accepts an upper-case UUID', async () => {
    const group = await createGroup(t, owner);
    const res = await getGroup(t, owner, group.id.toUpperCase());
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(group.id);
  });

  it('answers 401 with WWW-Authenticate: Bearer without a valid token', async () => {
    const group = await createGroup(t, owner);
    const expired = await t.jwks.sign({ sub: randomUUID(), expiresInSeconds: -120 });
    const variants: Record<string, string>[] = [{}, { authorization: 'Bearer not-a-jwt' }, { authorization: `Basic ${btoa('a:b')}` }, { authorization: `Bearer ${expired}` }];
    for (const headers of variants) {
      const res = await call('GET', url(group.id), { headers });
      expectError(res, 401, 'unauthenticated');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    }
  });
});

describe('PUT /{id}', () => {
  it('changes only the given fields, trims the name and moves updated_at', async () => {
    const group = await createGroup(t, owner, { name: 'Before', description: 'keep me', max_members: 5 });
    await sleep(5);
    const res = await call('PUT', url(group.id), { token: owner.token, body: { name: '  After  ' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ...group, name: 'After', updated_at: expect.any(String) });
    expect(Date.parse(res.body.updated_at)).toBeGreaterThan(Date.parse(group.updated_at));
    expect(res.body.created_at).toBe(group.created_at);
    expect((await getGroup(t, owner, group.id)).body).toEqual(res.body);
  });

  it('updates max_members, is_private and description, and sets description to null', async () => {
    const group = await createGroup(t, owner, { description: 'old' });
    const res = await call('PUT', url(group.id), { token: owner.token, body: { max_members: 2, is_private: true, description: 'new' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ name: group.name, max_members: 2, is_private: true, description: 'new', is_full: false });

    const cleared = await call('PUT', url(group.id), { token: owner.token, body: { description: null } });
    expect(cleared.status).toBe(200);
    expect(cleared.body).toMatchObject({ description: null, max_members: 2, is_private: true, name: group.name });
  });

  it('accepts an empty patch and changes nothing but updated_at', async () => {
    const group = await createGroup(t, owner, { description: 'same' });
    const res = await call('PUT', url(group.id), { token: owner.token, body: {} });
    expect(res.status).toBe(200);
    expect({ ...res.body, updated_at: group.updated_at }).toEqual(group);
  });

  it('answers 403 not_admin to a member and to an outsider of a public group', async () => {
    const group = await createGroup(t, owner);
    await joinAll(t, group.id, [member]);
    expectError(await call('PUT', url(group.id), { token: member.token, body: { name: 'mine now' } }), 403, 'not_admin');
    expectError(await call('PUT', url(group.id), { token: outsider.token, body: { name: 'mine now' } }), 403, 'not_admin');
    expect((await getGroup(t, owner, group.id)).body.name).toBe(group.name);
  });

  it('answers 404 for an absent group and for a private group the caller is not in', async () => {
    const hidden = await createGroup(t, owner, { is_private: true });
    expectError(await call('PUT', url(randomUUID()), { token: owner.token, body: { name: 'x' } }), 404, 'group_not_found');
    expectError(await call('PUT', url(hidden.id), { token: outsider.token, body: { name: 'x' } }), 404, 'group_not_found');
  });

  it('answers 409 when max_members would fall below the member count, and allows exactly the count', async () => {
    const group = await createGroup(t, owner, { max_members: 5 });
    await joinAll(t, group.id, await makeUsers(t, 2));
    expectError(await call('PUT', url(group.id), { token: owner.token, body: { max_members: 2 } }), 409, 'max_members_below_count');
    expect((await getGroup(t, owner, group.id)).body.max_members).toBe(5);
    const exact = await call('PUT', url(group.id), { token: owner.token, body: { max_members: 3 } });
    expect(exact.status).toBe(200);
    expect(exact.body).toMatchObject({ max_members: 3, member_count: 3, is_full: true });
  });

  it.each([
    ['a blank name', { name: '  ' }, 'body.name'],
    ['a null name', { name: null }, 'body.name'],
    ['a name of 101 characters', { name: 'y'.repeat(101) }, 'body.name'],
    ['a NUL in the name', { name: 'x\u0000' }, 'body.name'],
    ['a NUL in the description', { description: '\u0000' }, 'body.description'],
    ['a description of 501 characters', { description: 'y'.repeat(501) }, 'body.description'],
    ['max_members 1', { max_members: 1 }, 'body.max_members'],
    ['max_members 51', { max_members: 51 }, 'body.max_members'],
    ['is_private null', { is_private: null }, 'body.is_private'],
  ])('refuses %s with 422 and changes nothing', async (_label, body, field) => {
    const group = await createGroup(t, owner);
    expectFieldError(await call('PUT', url(group.id), { token: owner.token, body }), field);
    expect((await getGroup(t, owner, group.id)).body).toEqual(group);
  });

  it('answers 400 to malformed JSON and 422 to a non-UUID id', async () => {
    const group = await createGroup(t, owner);
    expectError(await call('PUT', url(group.id), { token: owner.token, rawBody: '{"name":' }), 400, 'malformed_json');
    expectFieldError(await call('PUT', url('nope'), { token: owner.token, body: { name: 'x' } }), 'params.id');
  });
});

describe('DELETE /{id}', () => {
  it('deletes the group with its members and messages: 204, then 404 everywhere', async () => {
    const group = await createGroup(t, owner);
    await joinAll(t, group.id, [member]);
    // No REST route writes messages in this module; put two straight into the real database.
    for (const seq of [1, 2]) {
      await t.service.db.query('INSERT INTO messages (id, group_id, sender_id, content, seq, username) VALUES ($1, $2, $3, $4, $5, $6)', [
        randomUUID(),
        group.id,
        owner.id,
        `hello ${seq}`,
        seq,
        'owner',
      ]);
    }
    const counts = () =>
      t.service.db.query<{ members: number; messages: number }>(
        `SELECT (SELECT count(*) FROM group_members WHERE group_id = $1)::int AS members,
                (SELECT count(*) FROM messages WHERE group_id = $1)::int AS messages`,
        [group.id],
      );
    expect((await counts()).rows[0]).toEqual({ members: 2, messages: 2 });
    expect((await call('GET', `${url(group.id)}/messages`, { token: member.token })).status).toBe(200);

    const res = await call('DELETE', url(group.id), { token: owner.token });
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();

    expectError(await getGroup(t, owner, group.id), 404, 'group_not_found');
    expectError(await getMembers(t, member, group.id), 404, 'group_not_found');
    expectError(await call('GET', `${url(group.id)}/messages`, { token: member.token }), 404, 'group_not_found');
    expectError(await call('DELETE', url(group.id), { token: owner.token }), 404, 'group_not_found');
    expect((await counts()).rows[0]).toEqual({ members: 0, messages: 0 });
    const mine = await call('GET', `${t.api}?mine=true&event_id=${group.event_id}`, { token: member.token });
    expect(mine.body).toEqual({ groups: [], total: 0 });
  });

  it('leaves no message behind when sends race the deletion', async () => {
    const group = await createGroup(t, owner);
    await joinAll(t, group.id, [member]);
    const sends = Array.from({ length: 40 }, (_, i) =>
      call('POST', `${url(group.id)}/messages`, { token: i % 2 ? member.token : owner.token, body: { content: `racing ${i}` } }),
    );
    await sleep(5);
    const deleted = call('DELETE', url(group.id), { token: owner.token });
    const answers = await Promise.all(sends);
    expect((await deleted).status).toBe(204);
    for (const res of answers) expect([201, 404]).toContain(res.status);
    const { rows } = await t.service.db.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE group_id = $1', [group.id]);
    expect(rows[0]!.n).toBe(0);
  });

  it('answers 403 not_admin to a member and an outsider, and keeps the group', async () => {
    const group = await createGroup(t, owner);
    await joinAll(t, group.id, [member]);
    expectError(await call('DELETE', url(group.id), { token: member.token }), 403, 'not_admin');
    expectError(await call('DELETE', url(group.id), { token: outsider.token }), 403, 'not_admin');
    expect((await getGroup(t, owner, group.id)).body.member_count).toBe(2);
  });

  it('lets any admin delete, not only the creator', async () => {
    const group = await createGroup(t, owner);
    const second = await makeUser(t.jwks);
    await joinAll(t, group.id, [second]);
    expect((await call('PATCH', `${url(group.id)}/members/${second.id}`, { token: owner.token, body: { is_admin: true } })).status).toBe(200);
    expect((await call('DELETE', url(group.id), { token: second.token })).status).toBe(204);
  });

  it('answers 404 for an absent or hidden group, 422 for a bad id, 401 without a token', async () => {
    const hidden = await createGroup(t, owner, { is_private: true });
    expectError(await call('DELETE', url(randomUUID()), { token: owner.token }), 404, 'group_not_found');
    expectError(await call('DELETE', url(hidden.id), { token: outsider.token }), 404, 'group_not_found');
    expectFieldError(await call('DELETE', url('1'), { token: owner.token }), 'params.id');
    expectError(await call('DELETE', url(hidden.id)), 401, 'unauthenticated');
    expect((await getGroup(t, owner, hidden.id)).status).toBe(200);
  });
});
