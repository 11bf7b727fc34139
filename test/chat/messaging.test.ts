import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { eventually, expectAlive, groupWith, history } from './helpers.js';

describe('chat messaging', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  it('delivers a message to every member, the sender included, with seq 1', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    a.send({ type: 'message', content: '  Hello!  ', client_id: 'c1' });
    const atA = await a.next('message', { skipOthers: true });
    const atB = await b.next('message', { skipOthers: true });
    expect(atA).toMatchObject({ seq: 1, content: 'Hello!', user_id: alice.id, username: 'alice', group_id: groupId, client_id: 'c1' });
    expect(atB).toEqual(atA);
    expect(atA.timestamp).toMatch(/Z$/);
    const page = await history(t, groupId, bob.token);
    expect(page.messages).toHaveLength(1);
    expect(page.messages[0]).toMatchObject({ id: atA.id, seq: 1, sender_id: alice.id, content: 'Hello!' });
    await a.close();
    await b.close();
  });

  it('sends exactly the contract fields, and no client_id when none was given', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const groupId = await groupWith(t, alice);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    a.send({ type: 'message', content: 'no client id' });
    const frame = await a.next('message');
    expect(Object.keys(frame).sort()).toEqual(['content', 'group_id', 'id', 'seq', 'timestamp', 'type', 'user_id', 'username']);
    expect(frame.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(Number.isNaN(Date.parse(frame.timestamp))).toBe(false);
    await a.close();
  });

  it('numbers messages 1, 2, 3 per group and gives every member identical frames in that order', async () => {
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((n) => makeUser(t.jwks, n)));
    const groupId = await groupWith(t, alice!, bob!, carol!);
    const clients = await Promise.all([alice, bob, carol].map((u) => ChatClient.join(t.wsBase, groupId, u!.token)));
    const [a, b, c] = clients as [ChatClient, ChatClient, ChatClient];
    // Each sender waits for its own copy (its acknowledgement) before the next one sends.
    const acked = (cl: ChatClient, content: string) => eventually(() => cl.frames.some((f) => f.type === 'message' && f.content === content), 10_000, content);
    a.send({ type: 'message', content: 'first' });
    await acked(a, 'first');
    b.send({ type: 'message', content: 'second' });
    await acked(b, 'second');
    c.send({ type: 'message', content: 'third' });
    await acked(c, 'third');
    const seen = await Promise.all(clients.map((cl) => cl.collect('message', 3)));
    for (const frames of seen) {
      expect(frames.map((f) => [f.seq, f.content])).toEqual([[1, 'first'], [2, 'second'], [3, 'third']]);
      expect(frames).toEqual(seen[0]);
    }
    expect(seen[0]!.map((f) => f.user_id)).toEqual([alice!.id, bob!.id, carol!.id]);
    for (const cl of clients) await cl.close();
  });

  it('gives a burst of 20 frames from one socket seqs in send order, to every member', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    for (let i = 1; i <= 20; i++) a.send({ type: 'message', content: `burst ${i}`, client_id: `b-${i}` });
    const atA = await a.collect('message', 20, 20_000);
    const atB = await b.collect('message', 20, 20_000);
    expect(atA.map((f) => f.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(atA.map((f) => f.content)).toEqual(Array.from({ length: 20 }, (_, i) => `burst ${i + 1}`));
    expect(atB).toEqual(atA);
    const page = await history(t, groupId, bob.token);
    expect(page.total).toBe(20);
    expect(page.messages.map((m) => m.content)).toEqual(atA.map((f) => f.content));
    await a.close();
    await b.close();
  });

  it('keeps independent seqs per group', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const g1 = await groupWith(t, alice);
    const g2 = await groupWith(t, alice);
    const a1 = await ChatClient.join(t.wsBase, g1, alice.token);
    const a2 = await ChatClient.join(t.wsBase, g2, alice.token);
    a1.send({ type: 'message', content: 'g1 one' });
    a1.send({ type: 'message', content: 'g1 two' });
    a2.send({ type: 'message', content: 'g2 one' });
    const in1 = await a1.collect('message', 2);
    const in2 = await a2.collect('message', 1);
    expect(in1.map((f) => [f.group_id, f.seq, f.content])).toEqual([[g1, 1, 'g1 one'], [g1, 2, 'g1 two']]);
    expect(in2.map((f) => [f.group_id, f.seq, f.content])).toEqual([[g2, 1, 'g2 one']]);
    // Each socket hears only its own group.
    expect((await a1.quiet(200)).filter((f) => f.type === 'message')).toEqual([]);
    expect((await a2.quiet(0)).filter((f) => f.type === 'message')).toEqual([]);
    await a1.close();
    await a2.close();
  });

  it('answers ping with pong, and only the pinging socket', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await a.next('presence');
    a.send({ type: 'ping' });
    expect(await a.next()).toEqual({ type: 'pong' });
    expect(await b.quiet(200)).toEqual([]);
    await a.close();
    await b.close();
  });

  it('delivers a REST POST /{id}/messages to sockets exactly like a WebSocket send', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    a.send({ type: 'message', content: ' over ws ', client_id: 'ws-1' });
    const viaWs = await b.next('message', { skipOthers: true });
    const posted = await call('POST', `${t.api}/${groupId}/messages`, { token: alice.token, body: { content: ' over rest ', client_id: 'rest-1' } });
    expect(posted.status).toBe(201);
    const viaRestAtB = await b.next('message', { skipOthers: true });
    const viaRestAtA = (await a.collect('message', 2))[1]!;
    expect(Object.keys(viaRestAtB).sort()).toEqual(Object.keys(viaWs).sort());
    expect(viaRestAtB).toEqual({
      type: 'message',
      id: posted.body.id,
      group_id: groupId,
      seq: 2,
      user_id: alice.id,
      username: 'alice',
      content: 'over rest',
      timestamp: viaRestAtB.timestamp,
      client_id: 'rest-1',
    });
    expect(Date.parse(viaRestAtB.timestamp)).toBe(Date.parse(posted.body.sent_at));
    expect(viaRestAtA).toEqual(viaRestAtB);
    await a.close();
    await b.close();
  });

  it('delivers a REST message posted with an upper-case group id', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    const posted = await call('POST', `${t.api}/${groupId.toUpperCase()}/messages`, { token: alice.token, body: { content: 'shouting id' } });
    expect(posted.status).toBe(201);
    expect(await b.next('message', { skipOthers: true, timeoutMs: 5_000 })).toMatchObject({ seq: 1, group_id: groupId, content: 'shouting id' });
    await expectAlive(b);
    await b.close();
  });
});
