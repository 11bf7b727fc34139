import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroup, expectError, expectFieldError, getGroup, getMembers, ISO_UTC, joinAll, makeUsers } from '../support/api-helpers.js';
import { call, makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

let t: TestService;
let owner: TestUser;

beforeAll(async () => {
  t = await startTestService();
  owner = await makeUser(t.jwks, 'owner');
}, 180_000);
afterAll(async () => t?.stop());

const join = (user: TestUser, id: string) => call('POST', `${t.api}/${id}/join`, { token: user.token });
const leave = (user: TestUser, id: string) => call('DELETE', `${t.api}/${id}/leave`, { token: user.token });
const admins = async (viewer: TestUser, id: string) =>
  (await getMembers(t, viewer, id)).body.members.filter((m: { is_admin: boolean }) => m.is_admin).map((m: { user_id: string }) => m.user_id);

describe('POST /{id}/join', () => {
  it('joins a public group: 200 with the message, counted in the group, listed as a non-admin member', async () => {
    const group = await createGroup(t, owner);
    const bob = await makeUser(t.jwks, 'bob');
    const res = await join(bob, group.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Successfully joined group' });
    expect((await getGroup(t, bob, group.id)).body.member_count).toBe(2);
    const members = await getMembers(t, bob, group.id);
    expect(members.body.members.find((m: { user_id: string }) => m.user_id === bob.id)).toEqual({
      user_id: bob.id,
      username: 'bob',
      joined_at: expect.stringMatching(ISO_UTC),
      is_admin: false,
    });
  });

  it('answers 409 already_member to a member, the creator included', async () => {
    const group = await createGroup(t, owner);
    const bob = await makeUser(t.jwks);
    await joinAll(t, group.id, [bob]);
    expectError(await join(bob, group.id), 409, 'already_member');
    expectError(await join(owner, group.id), 409, 'already_member');
    expect((await getGroup(t, owner, group.id)).body.member_count).toBe(2);
  });

  it('answers 409 group_full once max_members is reached, and reports is_full', async () => {
    const group = await createGroup(t, owner, { max_members: 3 });
    const [a, b, c] = (await makeUsers(t, 3)) as [TestUser, TestUser, TestUser];
    await joinAll(t, group.id, [a, b]);
    expectError(await join(c, group.id), 409, 'group_full');
    expect((await getGroup(t, c, group.id)).body).toMatchObject({ member_count: 3, is_full: true });
    expect((await leave(a, group.id)).status).toBe(200);
    expect((await getGroup(t, c, group.id)).body.is_full).toBe(false);
    expect((await join(c, group.id)).status).toBe(200);
  });

  it('answers 403 group_private to a non-member of a private group, and already_member to a member of it', async () => {
    const group = await createGroup(t, owner, { is_private: true });
    const bob = await makeUser(t.jwks);
    expectError(await join(bob, group.id), 403, 'group_private');
    expectError(await join(owner, group.id), 409, 'already_member');
    expect((await getMembers(t, owner, group.id)).body.total).toBe(1);
  });

  it('answers 404 for an absent group, 422 for a bad id, 401 without a token', async () => {
    expectError(await join(owner, randomUUID()), 404, 'group_not_found');
    expectFieldError(await call('POST', `${t.api}/not-a-uuid/join`, { token: owner.token }), 'params.id');
    const anonymous = await call('POST', `${t.api}/${randomUUID()}/join`);
    expectError(anonymous, 401, 'unauthenticated');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });
});

describe('DELETE /{id}/leave', () => {
  it('leaves: 200 with the message, no longer counted, no longer allowed to list members', async () => {
    const group = await createGroup(t, owner);
    const bob = await makeUser(t.jwks);
    await joinAll(t, group.id, [bob]);
    const res = await leave(bob, group.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ message: 'Successfully left group' });
    expect((await getGroup(t, owner, group.id)).body.member_count).toBe(1);
    expectError(await getMembers(t, bob, group.id), 403, 'not_member');
    expect(await admins(owner, group.id)).toEqual([owner.id]);
  });

  it('answers 404 member_not_found to a non-member, and 404 group_not_found for an absent group', async () => {
    const group = await createGroup(t, owner);
    const bob = await makeUser(t.jwks);
    expectError(await leave(bob, group.id), 404, 'member_not_found');
    expectError(await leave(bob, randomUUID()), 404, 'group_not_found');
    expectFieldError(await call('DELETE', `${t.api}/xyz/leave`, { token: bob.token }), 'params.id');
    expect((await getGroup(t, owner, group.id)).body.member_count).toBe(1);
  });

  it('hands the admin role of a last admin to the longest-standing member', async () => {
    const group = await createGroup(t, owner);
    const [first, second, third] = (await makeUsers(t, 3)) as [TestUser, TestUser, TestUser];
    await joinAll(t, group.id, [first, second, third]);
    expect((await leave(owner, group.id)).status).toBe(200);
    expect(await admins(first, group.id)).toEqual([first.id]);

    // The new admin can act as one; the next in line takes over when they leave too.
    expect((await call('PUT', `${t.api}/${group.id}`, { token: first.token, body: { name: 'renamed' } })).status).toBe(200);
    expect((await leave(first, group.id)).status).toBe(200);
    expect(await admins(second, group.id)).toEqual([second.id]);
    expect((await getMembers(t, third, group.id)).body.total).toBe(2);
  });

  it('keeps the admins as they are when an admin leaves and another stays', async () => {
    const group = await createGroup(t, owner);
    const [first, second] = (await makeUsers(t, 2)) as [TestUser, TestUser];
    await joinAll(t, group.id, [first, second]);
    expect((await call('PATCH', `${t.api}/${group.id}/members/${second.id}`, { token: owner.token, body: { is_admin: true } })).status).toBe(200);
    expect((await leave(owner, group.id)).status).toBe(200);
    expect(await admins(first, group.id)).toEqual([second.id]);
  });

  it('lets the last member leave; the group stays and its next joiner becomes its admin', async () => {
    const solo = await makeUser(t.jwks);
    const group = await createGroup(t, solo);
    expect((await leave(solo, group.id)).status).toBe(200);
    const empty = await getGroup(t, solo, group.id);
    expect(empty.body).toMatchObject({ member_count: 0, is_full: false });
    const next = await makeUser(t.jwks);
    expect((await join(next, group.id)).status).toBe(200);
    expect(await admins(next, group.id)).toEqual([next.id]);
  });
});

describe('GET /{id}/members', () => {
  it('lists members in joining order with preferred_username, ISO joined_at with Z, is_admin and total', async () => {
    const group = await createGroup(t, owner);
    const carol = await makeUser(t.jwks, 'carol');
    const dave = await makeUser(t.jwks, 'dave');
    await joinAll(t, group.id, [carol, dave]);
    const res = await getMembers(t, dave, group.id);
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(3);
    expect(res.body.members.map((m: { username: string; is_admin: boolean }) => [m.username, m.is_admin])).toEqual([
      ['owner', true],
      ['carol', false],
      ['dave', false],
    ]);
    for (const m of res.body.members) {
      expect(Object.keys(m).sort()).toEqual(['is_admin', 'joined_at', 'user_id', 'username']);
      expect(m.joined_at).toMatch(ISO_UTC);
    }
    const times = res.body.members.map((m: { joined_at: string }) => Date.parse(m.joined_at));
    expect([...times].sort((x, y) => x - y)).toEqual(times);
  });

  it('shows the name of the latest token a member signed in with', async () => {
    const group = await createGroup(t, owner);
    const erin = await makeUser(t.jwks, 'erin');
    await joinAll(t, group.id, [erin]);
    const renamed = await t.jwks.sign({ sub: erin.id, username: 'erin-renamed' });
    const res = await call('GET', `${t.api}/${group.id}/members`, { token: renamed });
    expect(res.body.members.find((m: { user_id: string }) => m.user_id === erin.id).username).toBe('erin-renamed');
  });

  it('falls back to email, then to the subject, when preferred_username is missing', async () => {
    const group = await createGroup(t, owner);
    const withEmail = randomUUID();
    const bare = randomUUID();
    const emailToken = await t.jwks.sign({ sub: withEmail, claims: { preferred_username: undefined, email: 'f@example.com' } });
    const bareToken = await t.jwks.sign({ sub: bare, claims: { preferred_username: undefined } });
    expect((await call('POST', `${t.api}/${group.id}/join`, { token: emailToken })).status).toBe(200);
    expect((await call('POST', `${t.api}/${group.id}/join`, { token: bareToken })).status).toBe(200);
    const members = (await getMembers(t, owner, group.id)).body.members;
    expect(members.find((m: { user_id: string }) => m.user_id === withEmail).username).toBe('f@example.com');
    expect(members.find((m: { user_id: string }) => m.user_id === bare).username).toBe(bare);
  });

  it('answers 403 not_member to a non-member (public or private) and 404 for an absent group', async () => {
    const open = await createGroup(t, owner);
    const secret = await createGroup(t, owner, { is_private: true });
    const outsider = await makeUser(t.jwks);
    expectError(await getMembers(t, outsider, open.id), 403, 'not_member');
    expectError(await getMembers(t, outsider, secret.id), 403, 'not_member');
    expectError(await getMembers(t, outsider, randomUUID()), 404, 'group_not_found');
    expectFieldError(await call('GET', `${t.api}/0/members`, { token: outsider.token }), 'params.id');
    expectError(await call('GET', `${t.api}/${open.id}/members`), 401, 'unauthenticated');
  });
});
