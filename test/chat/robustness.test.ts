import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { closeOf, connectRaw, eventually, expectAlive, groupWith, metric } from './helpers.js';

describe('chat robustness', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '100000', MAX_MESSAGE_LENGTH: '16000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  it('closes 1009 on a frame over 16 KiB, and takes one just under it', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    await b.next('presence');

    const envelope = JSON.stringify({ type: 'message', content: '' }).length;
    // 16 KiB exactly: accepted as a frame, refused as a message (16 367 characters > MAX_MESSAGE_LENGTH).
    a.send(JSON.stringify({ type: 'message', content: 'x'.repeat(16 * 1024 - envelope) }));
    expect(await a.next()).toMatchObject({ type: 'error', code: 'MESSAGE_TOO_LONG' });
    await expectAlive(a);

    const before = await metric(t, 'chat_open_sockets');
    a.send(JSON.stringify({ type: 'message', content: 'x'.repeat(16 * 1024 - envelope + 1) }));
    expect((await closeOf(a)).code).toBe(1009);
    expect(await b.next('presence')).toMatchObject({ user_id: alice.id, status: 'offline' });
    await eventually(async () => (await metric(t, 'chat_open_sockets')) === before - 1, 5_000, 'the socket count to drop');
    await expectAlive(b);
    await b.close();
  });

  it('closes a member that stops reading with 1008 while a healthy member receives every message', async () => {
    const [alice, slow, carol] = await Promise.all(['alice', 'slow', 'carol'].map((n) => makeUser(t.jwks, n)));
    const groupId = await groupWith(t, alice!, slow!, carol!);
    const healthy = await ChatClient.join(t.wsBase, groupId, carol!.token);
    const stalled = await ChatClient.join(t.wsBase, groupId, slow!.token);
    expect(await healthy.next('presence')).toMatchObject({ user_id: slow!.id, status: 'online' });
    const openBefore = await metric(t, 'chat_open_sockets');

    // The stalled peer's TCP socket stops reading: what the server sends piles up.
    (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const content = 'y'.repeat(15_000);
    const dropped = () => healthy.frames.some((f) => f.type === 'presence' && f.user_id === slow!.id && f.status === 'offline');
    let posted = 0;
    const deadline = Date.now() + 90_000;
    while (!dropped() && posted < 3_000 && Date.now() < deadline) {
      const batch = await Promise.all(
        Array.from({ length: 4 }, (_, i) => call('POST', `${t.api}/${groupId}/messages`, { token: alice!.token, body: { content: `${posted + i} ${content}` } })),
      );
      for (const res of batch) expect(res.status).toBe(201);
      posted += batch.length;
    }
    expect(dropped(), `the stalled socket was not dropped after ${posted} messages of 15 kB`).toBe(true);
    expect(await metric(t, 'chat_open_sockets')).toBe(openBefore - 1);

    // The healthy member got every message, in order, with nothing missing.
    const received = await healthy.collect('message', posted, 30_000);
    expect(received.map((f) => f.seq)).toEqual(Array.from({ length: posted }, (_, i) => i + 1));
    await expectAlive(healthy);

    // Once it reads again, the stalled peer finds what was queued for it, then the 1008 close.
    (stalled.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    expect((await closeOf(stalled, 20_000)).code).toBe(1008);
    const seqs = stalled.frames.filter((f) => f.type === 'message').map((f) => f.seq);
    expect(seqs.length).toBeLessThan(posted);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    await healthy.close();
  });

  // Last in this file: it takes the identity provider down for good.
  it('closes 1011 after the upgrade when a dependency fails while connecting, and keeps open sockets going', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const groupId = await groupWith(t, alice);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    await t.jwks.close();
    // A token signed by a key the service has not seen: the service must fetch the keys, and cannot.
    const key = await t.jwks.rotate();
    const refused = connectRaw(t, groupId, { token: await t.jwks.sign({ sub: alice.id, username: 'alice', key }) });
    await refused.opened;
    expect((await closeOf(refused)).code).toBe(1011);
    expect(refused.frames).toEqual([]);
    await expectAlive(a);
    await a.close();
  });
});
