import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/client.js';
import { skipReplicas, startCluster, stopAll, waitFor, type Cluster, type Replica } from '../support/replicas.js';
import type { ChatClient } from '../support/ws-client.js';
import { closeAll, expectConsecutive, groupOf, history, join, messagesOf, post, users, waitForSeq } from './helpers.js';

/**
 * Redis (the bus) goes down while members chat: messages are still stored and acknowledged,
 * readiness says Redis is not ok, and once it is back every receiver gets what it missed,
 * in order, once, without anything being sent after it came back.
 */
describe.skipIf(skipReplicas)('three replicas, Redis pub/sub bus: Redis down and back', () => {
  let cluster: Cluster;
  let A: Replica, B: Replica, C: Replica;
  const open: ChatClient[] = [];
  const track = (c: ChatClient) => (open.push(c), c);

  beforeAll(async () => {
    cluster = await startCluster({ count: 3, redis: true, env: { RATE_LIMIT_MESSAGES: '1000' } });
    [A, B, C] = cluster.replicas as [Replica, Replica, Replica];
  }, 420_000);

  afterAll(async () => {
    await closeAll(open);
    await cluster?.stop();
    await stopAll();
  }, 60_000);

  it('sends succeed while Redis is down, readiness is 503 naming redis, and delivery catches up when it is back', async () => {
    const [alice, bob, carol, dave, erin, frank] = await users(cluster, 6, 'rd');
    const groupId = await groupOf(cluster, alice!, [bob!, carol!, dave!, frank!]);
    const kicked = track(await join(B, groupId, frank!));
    const senderSocket = track(await join(A, groupId, alice!));
    const receivers = [track(await join(A, groupId, bob!)), track(await join(B, groupId, carol!)), track(await join(C, groupId, dave!))];
    const everyone = [senderSocket, ...receivers];

    for (let k = 1; k <= 5; k++) expect((await post(B, alice!, groupId, `before-${k}`)).status).toBe(201);
    await Promise.all(everyone.map((c) => waitForSeq(5, 15_000, c)));

    await cluster.redis!.kill();
    for (const r of cluster.replicas) {
      const ready = await waitFor(`replica ${r.name} to report redis down`, async () => {
        const res = await r.ready();
        return res.status === 503 && res.body?.checks?.redis === 'error' ? res : undefined;
      }, 15_000, 200);
      expect(ready.body.checks.database).toBe('ok');
    }

    // While Redis is down: REST sends through every replica are stored and acknowledged...
    const acked: number[] = [];
    for (let k = 6; k <= 15; k++) {
      const res = await post(cluster.replicas[k % 3]!, alice!, groupId, `during-${k}`);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      acked.push(res.body.seq);
    }
    // ...socket sends too (never an error for a stored message), and typing is no error either...
    senderSocket.send({ type: 'typing', is_typing: true });
    for (let k = 16; k <= 20; k++) senderSocket.send({ type: 'message', content: `during-ws-${k}`, client_id: `ws-${k}` });
    // ...and REST changes of membership still answer for what they committed.
    expect((await call('POST', `${C.api}/${groupId}/join`, { token: erin!.token })).status).toBe(200);
    expect((await call('DELETE', `${C.api}/${groupId}/members/${frank!.id}`, { token: alice!.token })).status).toBe(204);
    await waitFor('the socket sends to be stored', async () => (await history(B, bob!, groupId)).length === 20, 20_000, 200);
    expect(senderSocket.frames.filter((f) => f.type === 'error')).toEqual([]);
    // Members on the sender's own replica keep being served meanwhile (the sender's
    // acknowledgements included); what other replicas stored reaches them as seq gaps filled
    // from the database, so this is waited for, with Redis still down.
    await waitForSeq(20, 10_000, senderSocket);
    expect(await receivers[0]!.next('typing', { skipOthers: true, timeoutMs: 5_000 })).toMatchObject({ user_id: alice!.id });

    await cluster.redis!.start();
    for (const r of cluster.replicas) await waitFor(`replica ${r.name} to be ready again`, async () => (await r.ready()).status === 200, 20_000, 200);
    // Nothing is sent after Redis is back: the resync alone brings every missed message,
    // and ends the session of the member removed meanwhile (the kick's event was lost).
    await Promise.all(everyone.map((c) => waitForSeq(20, 20_000, c)));
    const kickClose = await Promise.race([kicked.closed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 15_000))]);
    expect(kickClose?.code, 'the member removed while Redis was down is closed 4403 once it is back').toBe(4403);
    for (let k = 21; k <= 25; k++) expect((await post(k % 2 ? A : C, alice!, groupId, `after-${k}`)).status).toBe(201);
    await Promise.all(everyone.map((c) => waitForSeq(25, 15_000, c)));
    await new Promise((r) => setTimeout(r, 300));

    const stored = await history(A, bob!, groupId);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (const seq of acked) expect(stored.some((m) => m.seq === seq)).toBe(true);
    for (const [i, c] of everyone.entries()) {
      const got = messagesOf(c);
      expectConsecutive(got, 1, 25, `socket ${i}`);
      expect(got.map((f) => f.id)).toEqual(stored.map((m) => m.id));
    }
  }, 120_000);
});
