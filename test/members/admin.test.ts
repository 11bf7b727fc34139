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

const add = (actor: TestUser, groupId: string, body: unknown) => call('POST', `${t.api}/${groupId}/members`, { token: actor.token, body });
const patch = (actor: TestUser, groupId: string, userId: string, body: unknown) =>
  call('PATCH', `${t.api}/${groupId}/members/${userId}`, { token: actor.token, body });
const kick = (actor: TestUser, groupId: string, userId: string) => call('DELETE', `${t.api}/${groupId}/members/${userId}`, { token: actor.token });
const adminIds = async (groupId: string, viewer = owner) =>
  (await getMembers(t, viewer, groupId)).body.members.filter((m: { is_admin: boolean }) => m.is_admin).map((m: { user_id: string }) => m.user_id);

describe('POST /{id}/members', () => {
  it('adds a member to a private group: 201 Member; the new member can then see the group', async () => {
    const group = await createGroup(t, owner, { is_private: true });
    const gina = await makeUser(t.jwks, 'gina');
    expectError(await getGroup(t, gina, group.id), 404, 'group_not_found');
    // gina has signed in once (that request fails), so her name is known.
    const res = await add(owner, group.id, { user_id: gina.id });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ user_id: gina.id, username: 'gina', joined_at: expect.stringMatching(ISO_UTC), is_admin: false });
    expect((await getGroup(t, gina, group.id)).body).toMatchObject({ id: group.id, member_count: 2 });
    expect((await getMembers(t, gina, group.id)).body.total).toBe(2);
  });

  it('adds to a public group too, and normalises an upper-case user_id', async () => {
    const group = await createGroup(t, owner);
    const id = randomUUID();
    const res = await add(owner, group.id, { user_id: id.toUpperCase() });
    expect(res.status).toBe(201);
    expect(res.body.user_id).toBe(id);
    expectError(await add(owner, group.id, { user_id: id }), 409, 'already_member');
  });

  it('answers 409 already_member and 409 group_full', async () => {
    const group = await createGroup(t, owner, { max_members: 2 });
    expectError(await add(owner, group.id, { user_id: owner.id }), 409, 'already_member');
    expect((await add(owner, group.id, { user_id: randomUUID() })).status).toBe(201);
    expectError(await add(owner, group.id, { user_id: randomUUID() }), 409, 'group_full');
    expect((await getGroup(t, owner, group.id)).body).toMatchObject({ member_count: 2, is_full: true });
  });

  it('answers 403 not_admin to a member, and to an outsider of a public group', async () => {
    const group = await createGroup(t, owner);
    const [member, outsider] = (await makeUsers(t, 2)) as [TestUser, TestUser];
    await joinAll(t, group.id, [member]);
    expectError(await add(member, group.id, { user_id: randomUUID() }), 403, 'not_admin');
    expectError(await add(outsider, group.id, { user_id: outsider.id }), 403, 'not_admin');
    expect((await getGroup(t, owner, group.id)).body.member_count).toBe(2);
  });

  it('answers 404 for an absent group and for a private group the caller is not in', async () => {
    const secret = await createGroup(t, owner, { is_private: true });
    const outsider = await makeUser(t.jwks);
    expectError(await add(owner, randomUUID(), { user_id: randomUUID() }), 404, 'group_not_found');
    expectError(await add(outsider, secret.id, { user_id: outsider.id }), 404, 'group_not_found');
  });

  it.each([
    ['a user_id that is not a UUID', { user_id: 'bob' }],
    ['a urn:uuid: user_id', { user_id: `urn:uuid:${randomUUID()}` }],
    ['a numeric user_id', { user_id: 5 }],
    ['no user_id', {}],
  ])('answers 422 to %s', async (_label, body) => {
    const group = await createGroup(t, owner);
    expectFieldError(await add(owner, group.id, body), 'body.user_id');
  });

  it('answers 400 to malformed JSON and 422 to a bad group id', async () => {
    const group = await createGroup(t, owner);
    expectError(await call('POST', `${t.api}/${group.id}/members`, { token: owner.token, rawBody: '{"user_id"' }), 400, 'malformed_json');
    expectFieldError(await add(owner, 'nope', { user_id: randomUUID() }), 'params.id');
  });
});

describe('PATCH /{id}/members/{user_id}', () => {
  it('promotes and demotes a member: 200 Member', async () => {
    const group = await createGroup(t, owner);
    const hank = await makeUser(t.jwks, 'hank');
    await joinAll(t, group.id, [hank]);
    const promoted = await patch(owner, group.id, hank.id, { is_admin: true });
    expect(promoted.status).toBe(200);
    expect(promoted.body).toEqual({ user_id: hank.id, username: 'hank', joined_at: expect.stringMatching(ISO_UTC), is_admin: true });
    expect((await adminIds(group.id)).sort()).toEqual([owner.id, hank.id].sort());

    // The promoted member can act as an admin, including demoting the creator.
    const demoted = await patch(hank, group.id, owner.id, { is_admin: false });
    expect(demoted.status).toBe(200);
    expect(demoted.body).toMatchObject({ user_id: owner.id, is_admin: false });
    expect(await adminIds(group.id)).toEqual([hank.id]);
    expectError(await patch(owner, group.id, hank.id, { is_admin: false }), 403, 'not_admin');
  });

  it('is idempotent: promoting an admin leaves them admin', async () => {
    const group = await createGroup(t, owner);
    const res = await patch(owner, group.id, owner.id, { is_admin: true });
    expect(res.status).toBe(200);
    expect(res.body.is_admin).toBe(true);
  });

  it('answers 409 last_admin when the change would leave no admin', async () => {
    const group = await createGroup(t, owner);
    const ivy = await makeUser(t.jwks);
    await joinAll(t, group.id, [ivy]);
    expectError(await patch(owner, group.id, owner.id, { is_admin: false }), 409, 'last_admin');
    expect(await adminIds(group.id)).toEqual([owner.id]);
    // With a second admin, stepping down is fine.
    expect((await patch(owner, group.id, ivy.id, { is_admin: true })).status).toBe(200);
    expect((await patch(owner, group.id, owner.id, { is_admin: false })).status).toBe(200);
    expect(await adminIds(group.id)).toEqual([ivy.id]);
  });

  it('answers 404 member_not_found for a target who is not a member', async () => {
    const group = await createGroup(t, owner);
    expectError(await patch(owner, group.id, randomUUID(), { is_admin: true }), 404, 'member_not_found');
    expectError(await patch(owner, randomUUID(), owner.id, { is_admin: true }), 404, 'group_not_found');
  });

  it('answers 403 to a non-admin member and 422 to bad input', async () => {
    const group = await createGroup(t, owner);
    const jack = await makeUser(t.jwks);
    await joinAll(t, group.id, [jack]);
    expectError(await patch(jack, group.id, jack.id, { is_admin: true }), 403, 'not_admin');
    expect(await adminIds(group.id)).toEqual([owner.id]);
    expectFieldError(await patch(owner, group.id, jack.id, {}), 'body.is_admin');
    expectFieldError(await patch(owner, group.id, jack.id, { is_admin: 'yes' }), 'body.is_admin');
    expectFieldError(await patch(owner, group.id, 'jack', { is_admin: true }), 'params.user_id');
    expectFieldError(await patch(owner, 'group', jack.id, { is_admin: true }), 'params.id');
  });
});

describe('DELETE /{id}/members/{user_id}', () => {
  it('removes a member: 204; they lose access and the seat frees up', async () => {
    const group = await createGroup(t, owner, { max_members: 2 });
    const kim = await makeUser(t.jwks);
    await joinAll(t, group.id, [kim]);
    const res = await kick(owner, group.id, kim.id);
    expect(res.status).toBe(204);
    expect(res.body).toBeUndefined();
    expectError(await getMembers(t, kim, group.id), 403, 'not_member');
    expect((await getGroup(t, owner, group.id)).body).toMatchObject({ member_count: 1, is_full: false });
    // Removal is not a ban: a public group can be joined again.
    expect((await call('POST', `${t.api}/${group.id}/join`, { token: kim.token })).status).toBe(200);
  });

  it('answers 403 not_admin to a member, and 404 member_not_found for a target outside the group', async () => {
    const group = await createGroup(t, owner);
    const [lee, max] = (await makeUsers(t, 2)) as [TestUser, TestUser];
    await joinAll(t, group.id, [lee, max]);
    expectError(await kick(lee, group.id, max.id), 403, 'not_admin');
    expectError(await kick(lee, group.id, owner.id), 403, 'not_admin');
    expectError(await kick(owner, group.id, randomUUID()), 404, 'member_not_found');
    expectError(await kick(owner, randomUUID(), lee.id), 404, 'group_not_found');
    expectFieldError(await kick(owner, group.id, 'lee'), 'params.user_id');
    expect((await getMembers(t, owner, group.id)).body.total).toBe(3);
  });

  it('when the only admin removes themself, the longest-standing member takes over', async () => {
    const group = await createGroup(t, owner);
    const [first, second] = (await makeUsers(t, 2)) as [TestUser, TestUser];
    await joinAll(t, group.id, [first, second]);
    expect((await kick(owner, group.id, owner.id)).status).toBe(204);
    expect(await adminIds(group.id, second)).toEqual([first.id]);
  });
});
