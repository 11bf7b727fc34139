import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, groupBody, makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { closeOf, connectRaw, expectAlive, groupWith } from './helpers.js';

describe('chat membership and group events', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  async function setup(): Promise<{ alice: TestUser; bob: TestUser; groupId: string; a: ChatClient; b: ChatClient }> {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await a.next('presence');
    return { alice, bob, groupId, a, b };
  }

  it('tells connected members when someone joins, and when an admin adds someone', async () => {
    const { alice, groupId, a, b } = await setup();
    const carol = await makeUser(t.jwks, 'carol');
    expect((await call('POST', `${t.api}/${groupId}/join`, { token: carol.token })).status).toBe(200);
    const joined = { type: 'member_joined', user_id: carol.id, username: 'carol' };
    expect(await a.next()).toEqual(joined);
    expect(await b.next()).toEqual(joined);

    const dave = await makeUser(t.jwks, 'dave');
    // Dave's name is known to the service once he has used it.
    expect((await call('GET', `${t.api}?mine=true`, { token: dave.token })).status).toBe(200);
    const added = await call('POST', `${t.api}/${groupId}/members`, { token: alice.token, body: { user_id: dave.id } });
    expect(added.status).toBe(201);
    expect(await a.next()).toEqual({ type: 'member_joined', user_id: dave.id, username: added.body.username });
    expect(await b.next()).toMatchObject({ type: 'member_joined', user_id: dave.id });
    await a.close();
    await b.close();
  });

  it('tells the others when a member leaves, and closes all of the leaver\'s sockets 4403', async () => {
    const { bob, groupId, a, b } = await setup();
    const b2 = await ChatClient.join(t.wsBase, groupId, bob.token);
    expect((await call('DELETE', `${t.api}/${groupId}/leave`, { token: bob.token })).status).toBe(200);
    expect(await a.next()).toEqual({ type: 'member_left', user_id: bob.id, username: 'bob' });
    expect((await closeOf(b)).code).toBe(4403);
    expect((await closeOf(b2)).code).toBe(4403);
    expect(await a.next('presence')).toMatchObject({ user_id: bob.id, status: 'offline' });
    await expectAlive(a);
    // The former member cannot come back in.
    const again = connectRaw(t, groupId, { token: bob.token });
    expect((await closeOf(again)).code).toBe(4403);
    await a.close();
  });

  it('tells the others when an admin removes a member, and closes the removed member\'s sockets 4403', async () => {
    const { alice, bob, groupId, a, b } = await setup();
    const carol = await makeUser(t.jwks, 'carol');
    expect((await call('POST', `${t.api}/${groupId}/join`, { token: carol.token })).status).toBe(200);
    const c = await ChatClient.join(t.wsBase, groupId, carol.token);
    await a.next('member_joined');
    await a.next('presence');
    await b.next('member_joined');
    await b.next('presence');

    expect((await call('DELETE', `${t.api}/${groupId}/members/${bob.id}`, { token: alice.token })).status).toBe(204);
    expect(await a.next()).toEqual({ type: 'member_left', user_id: bob.id, username: 'bob' });
    expect(await c.next()).toEqual({ type: 'member_left', user_id: bob.id, username: 'bob' });
    expect((await closeOf(b)).code).toBe(4403);
    expect(await c.next()).toMatchObject({ type: 'presence', user_id: bob.id, status: 'offline' });
    // The rest carry on.
    await expectAlive(c);
    c.send({ type: 'message', content: 'still here' });
    expect(await a.next('message', { skipOthers: true })).toMatchObject({ content: 'still here', user_id: carol.id });
    await a.close();
    await c.close();
  });

  it('closes the removed member\'s sockets also when the admin used an upper-case group id', async () => {
    const { alice, bob, groupId, a, b } = await setup();
    const res = await call('DELETE', `${t.api}/${groupId.toUpperCase()}/members/${bob.id.toUpperCase()}`, { token: alice.token });
    expect(res.status).toBe(204);
    expect(await a.next()).toEqual({ type: 'member_left', user_id: bob.id, username: 'bob' });
    expect((await closeOf(b)).code).toBe(4403);
    await a.close();
  });

  it('sends group_updated with the whole Group after PUT', async () => {
    const { alice, groupId, a, b } = await setup();
    const updated = await call('PUT', `${t.api}/${groupId}`, { token: alice.token, body: { name: 'Renamed', description: 'new words' } });
    expect(updated.status).toBe(200);
    const atA = await a.next();
    expect(atA).toEqual({ type: 'group_updated', group: updated.body });
    expect(atA.group).toMatchObject({ id: groupId, name: 'Renamed', description: 'new words', member_count: 2 });
    expect(await b.next()).toEqual(atA);

    const upper = await call('PUT', `${t.api}/${groupId.toUpperCase()}`, { token: alice.token, body: { max_members: 20 } });
    expect(upper.status).toBe(200);
    expect(await b.next()).toEqual({ type: 'group_updated', group: upper.body });
    await a.close();
    await b.close();
  });

  it('sends group_deleted then closes every socket 4404 when the group is deleted', async () => {
    const { alice, groupId, a, b } = await setup();
    expect((await call('DELETE', `${t.api}/${groupId}`, { token: alice.token })).status).toBe(204);
    for (const client of [a, b]) {
      expect(await client.next()).toEqual({ type: 'group_deleted', group_id: groupId });
      expect((await closeOf(client)).code).toBe(4404);
    }
    const again = connectRaw(t, groupId, { token: alice.token });
    expect((await closeOf(again)).code).toBe(4404);
  });

  it('sends group_deleted with the canonical id when the admin used an upper-case one', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const created = await call('POST', t.api, { token: alice.token, body: groupBody() });
    const groupId = created.body.id as string;
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    expect((await call('DELETE', `${t.api}/${groupId.toUpperCase()}`, { token: alice.token })).status).toBe(204);
    expect(await a.next()).toEqual({ type: 'group_deleted', group_id: groupId });
    expect((await closeOf(a)).code).toBe(4404);
  });

  it('does not send membership events of one group to another group', async () => {
    const { a, b } = await setup();
    const { alice: other, groupId: otherGroup, a: oa, b: ob } = await setup();
    const carol = await makeUser(t.jwks, 'carol');
    expect((await call('POST', `${t.api}/${otherGroup}/join`, { token: carol.token })).status).toBe(200);
    await oa.next('member_joined');
    expect((await call('PUT', `${t.api}/${otherGroup}`, { token: other.token, body: { name: 'elsewhere' } })).status).toBe(200);
    await oa.next('group_updated');
    expect(await a.quiet(300)).toEqual([]);
    expect(await b.quiet(0)).toEqual([]);
    for (const c of [a, b, oa, ob]) await c.close();
  });
});
