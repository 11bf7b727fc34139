import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { expectAlive, framesOf, groupWith, sleep } from './helpers.js';

describe('chat presence', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  it('announces a user online on their first socket and offline when their last one closes', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);

    const b1 = await ChatClient.join(t.wsBase, groupId, bob.token);
    expect(await a.next()).toEqual({ type: 'presence', user_id: bob.id, username: 'bob', status: 'online' });
    expect(b1.frames[0]!.online).toEqual(expect.arrayContaining([
      { user_id: alice.id, username: 'alice' },
      { user_id: bob.id, username: 'bob' },
    ]));
    // Nobody is told about themselves.
    expect(await b1.quiet(200)).toEqual([]);

    // A second socket of bob: no new presence; its `online` still lists both, once each.
    const b2 = await ChatClient.join(t.wsBase, groupId, bob.token);
    const online = b2.frames[0]!.online as { user_id: string }[];
    expect(online.map((u) => u.user_id).sort()).toEqual([alice.id, bob.id].sort());
    expect(await a.quiet(300)).toEqual([]);

    // Closing one of bob's two sockets changes nothing for the others.
    await b1.close();
    expect(await a.quiet(300)).toEqual([]);
    await expectAlive(b2);

    await b2.close();
    expect(await a.next('presence', { timeoutMs: 5_000 })).toEqual({ type: 'presence', user_id: bob.id, username: 'bob', status: 'offline' });
    await a.close();
  });

  it('lists only users who are online now in `connected.online`', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const carol = await makeUser(t.jwks, 'carol');
    const groupId = await groupWith(t, alice, bob, carol);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await b.close();
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const c = await ChatClient.join(t.wsBase, groupId, carol.token);
    expect((c.frames[0]!.online as { user_id: string }[]).map((u) => u.user_id).sort()).toEqual([alice.id, carol.id].sort());
    await a.close();
    await c.close();
  });
});

describe('chat typing', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  async function trio() {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const a2 = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await a.next('presence');
    await a2.next('presence');
    return { alice, bob, a, a2, b };
  }

  it('relays typing to the others, never to the sender', async () => {
    const { alice, a, a2, b } = await trio();
    a.send({ type: 'typing', is_typing: true });
    const typing = await b.next();
    expect(typing).toEqual({ type: 'typing', user_id: alice.id, username: 'alice', is_typing: true, timestamp: typing.timestamp });
    expect(typing.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    await sleep(1_100);
    a.send({ type: 'typing', is_typing: false });
    expect(await b.next()).toMatchObject({ type: 'typing', user_id: alice.id, is_typing: false });
    // Neither the sending socket nor the sender's other socket hears it.
    expect(await a.quiet(300)).toEqual([]);
    expect(await a2.quiet(0)).toEqual([]);
    for (const c of [a, a2, b]) await c.close();
  });

  it('lets at most a few of a flood of 50 typing frames through, ending on the last state sent', async () => {
    const { a, a2, b } = await trio();
    for (let i = 0; i < 50; i++) a.send({ type: 'typing', is_typing: i % 2 === 0 });
    await expectAlive(a);
    await sleep(1_500);
    const relayed = framesOf(b, 'typing');
    expect(relayed.length).toBeGreaterThanOrEqual(1);
    expect(relayed.length).toBeLessThanOrEqual(4);
    // The flood ended on is_typing=false (i = 49): that is what the others are left with.
    expect(relayed[relayed.length - 1]).toMatchObject({ is_typing: false });
    expect(b.frames.slice(1).every((f) => f.type === 'typing')).toBe(true);
    expect(await a2.quiet(0)).toEqual([]);
    for (const c of [a, a2, b]) await c.close();
  });

  it('relays "stopped typing" even when it came right after the limit was reached', async () => {
    const { a, b } = await trio();
    for (let i = 0; i < 3; i++) a.send({ type: 'typing', is_typing: true });
    a.send({ type: 'typing', is_typing: false });
    // Three pass at once; the change to false follows as soon as the one-second span allows.
    const relayed = await b.collect('typing', 4, 10_000);
    expect(relayed.map((f) => f.is_typing)).toEqual([true, true, true, false]);
    expect(await b.quiet(1_500)).toEqual([]);
    for (const c of [a, b]) await c.close();
  });

  it('holds the typing limit for any one-second span, also across an earlier typing frame', async () => {
    const { a, b } = await trio();
    a.send({ type: 'typing', is_typing: true });
    await b.next('typing');
    await sleep(600);
    // A flood of up to 50 frames over 0.7 s, starting 0.6 s (or more, on a busy machine) after the first frame:
    // whatever the window's phase, no one-second span may let more than 3 through.
    const floodStart = Date.now();
    let sent = 0;
    while (sent < 50 && Date.now() - floodStart < 700) {
      a.send({ type: 'typing', is_typing: true });
      sent += 1;
      await sleep(10);
    }
    await expectAlive(a);
    await sleep(300);
    const fromFlood = framesOf(b, 'typing').length - 1;
    expect(fromFlood, `${sent} frames sent over ${Date.now() - floodStart} ms`).toBeGreaterThanOrEqual(1);
    expect(fromFlood, `${sent} frames sent`).toBeLessThanOrEqual(4);
    for (const c of [a, b]) await c.close();
  });

  it('keeps a user typing within the limit fully relayed', async () => {
    const { a, b } = await trio();
    for (let i = 0; i < 3; i++) {
      a.send({ type: 'typing', is_typing: true });
      expect(await b.next('typing')).toMatchObject({ is_typing: true });
      await sleep(1_100);
    }
    for (const c of [a, b]) await c.close();
  });
});
