import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { expectAlive, groupWith, history } from './helpers.js';

describe('chat idempotent client_id', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  it('answers a repeated client_id (even with other content) with the original, to the sender only', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await a.next('presence');
    a.send({ type: 'message', content: 'original', client_id: 'dup-1' });
    const original = await a.next('message');
    expect(await b.next('message')).toEqual(original);

    a.send({ type: 'message', content: 'original', client_id: 'dup-1' });
    expect(await a.next()).toEqual(original);
    a.send({ type: 'message', content: 'something else', client_id: 'dup-1' });
    expect(await a.next()).toEqual(original);
    await expectAlive(a);
    expect(await b.quiet(300)).toEqual([]);

    const page = await history(t, groupId, bob.token);
    expect(page.total).toBe(1);
    expect(page.messages[0]).toMatchObject({ id: original.id, content: 'original' });

    // The next new message continues the sequence: nothing was consumed by the repeats.
    a.send({ type: 'message', content: 'next', client_id: 'dup-2' });
    expect(await b.next('message')).toMatchObject({ seq: 2, content: 'next' });
    await a.close();
    await b.close();
  });

  it('scopes client_id to the sender and the group', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const g1 = await groupWith(t, alice, bob);
    const g2 = await groupWith(t, alice);
    const a1 = await ChatClient.join(t.wsBase, g1, alice.token);
    const b1 = await ChatClient.join(t.wsBase, g1, bob.token);
    const a2 = await ChatClient.join(t.wsBase, g2, alice.token);
    a1.send({ type: 'message', content: 'alice in g1', client_id: 'same' });
    expect(await a1.next('message', { skipOthers: true })).toMatchObject({ seq: 1, content: 'alice in g1' });
    b1.send({ type: 'message', content: 'bob in g1', client_id: 'same' });
    expect(await b1.collect('message', 2)).toMatchObject([{ seq: 1 }, { seq: 2, content: 'bob in g1', user_id: bob.id }]);
    a2.send({ type: 'message', content: 'alice in g2', client_id: 'same' });
    expect(await a2.next('message', { skipOthers: true })).toMatchObject({ seq: 1, group_id: g2, content: 'alice in g2' });
    expect((await history(t, g1, alice.token)).total).toBe(2);
    expect((await history(t, g2, alice.token)).total).toBe(1);
    for (const c of [a1, b1, a2]) await c.close();
  });

  it('stores one message when two sockets of one user send the same client_id at once', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    for (let round = 1; round <= 5; round++) {
      const x = await ChatClient.join(t.wsBase, groupId, alice.token);
      const y = await ChatClient.join(t.wsBase, groupId, alice.token);
      x.send({ type: 'message', content: `from x ${round}`, client_id: `race-${round}` });
      y.send({ type: 'message', content: `from y ${round}`, client_id: `race-${round}` });
      const atX = await x.next('message', { skipOthers: true });
      const atY = await y.next('message', { skipOthers: true });
      expect(atY).toEqual(atX);
      expect(atX).toMatchObject({ seq: round, client_id: `race-${round}` });
      await x.close();
      await y.close();
    }
    const atB = (await b.quiet(300)).filter((f) => f.type === 'message');
    expect(atB.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await history(t, groupId, bob.token)).total).toBe(5);
    await b.close();
  });

  it('treats a client_id first used over REST as already sent over the WebSocket, and vice versa', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await a.next('presence');
    const posted = await call('POST', `${t.api}/${groupId}/messages`, { token: alice.token, body: { content: 'rest first', client_id: 'cross-1' } });
    expect(posted.status).toBe(201);
    const live = await a.next('message');
    expect(await b.next('message')).toEqual(live);
    a.send({ type: 'message', content: 'ws repeat', client_id: 'cross-1' });
    expect(await a.next()).toEqual(live);

    a.send({ type: 'message', content: 'ws first', client_id: 'cross-2' });
    const second = await a.next('message');
    expect(await b.next('message')).toEqual(second);
    const repeat = await call('POST', `${t.api}/${groupId}/messages`, { token: alice.token, body: { content: 'rest repeat', client_id: 'cross-2' } });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ id: second.id, seq: 2, content: 'ws first' });
    expect(await a.quiet(300)).toEqual([]);
    expect(await b.quiet(0)).toEqual([]);
    expect((await history(t, groupId, alice.token)).total).toBe(2);
    await a.close();
    await b.close();
  });
});
