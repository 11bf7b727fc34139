import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODES, skipReplicas, startCluster, stopAll, type Cluster, type Mode, type Replica } from '../support/replicas.js';
import type { ChatClient } from '../support/ws-client.js';
import { closeAll, expectConsecutive, groupOf, history, join, messagesOf, post, users, waitForSeq } from './helpers.js';

/**
 * Three real service processes on one database: a message sent through any of them reaches
 * the members connected to every replica once, in strictly consecutive seq order.
 */
describe.skipIf(skipReplicas).each(MODES)('three replicas, $name: delivery', (mode: Mode) => {
  let cluster: Cluster;
  const open: ChatClient[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ count: 3, redis: mode.redis, env: { RATE_LIMIT_MESSAGES: '1000' } });
  }, 420_000);

  afterAll(async () => {
    await closeAll(open);
    await cluster?.stop();
    await stopAll();
  }, 60_000);

  const track = (c: ChatClient) => (open.push(c), c);

  it('3 senders × 30 messages, concurrently over WebSocket and REST through all replicas: every receiver gets each once, in seq order', async () => {
    const [A, B, C] = cluster.replicas as [Replica, Replica, Replica];
    const replicas = [A, B, C];
    const [s0, s1, s2, r0, r1, r2] = await users(cluster, 6, 'd');
    const senders = [s0!, s1!, s2!];
    const groupId = await groupOf(cluster, s0!, [s1!, s2!, r0!, r1!, r2!]);

    // A receiver on each replica, and each sender's own socket on "its" replica.
    const receivers = await Promise.all([join(A, groupId, r0!), join(B, groupId, r1!), join(C, groupId, r2!)]);
    const senderSockets = await Promise.all(senders.map((s, i) => join(replicas[i]!, groupId, s)));
    for (const c of [...receivers, ...senderSockets]) track(c);
    for (const c of [...receivers, ...senderSockets]) expect(c.frames[0]).toMatchObject({ type: 'connected', last_seq: 0 });

    const PER_SENDER = 30;
    const restResults: { status: number; seq?: number }[] = [];
    // Each sender alternates: even messages on its socket (replica i), odd ones over REST to replica i+1.
    await Promise.all(
      senders.map(async (sender, i) => {
        for (let k = 0; k < PER_SENDER; k++) {
          const content = `${sender.username}#${k}`;
          if (k % 2 === 0) senderSockets[i]!.send({ type: 'message', content, client_id: `${i}-${k}` });
          else {
            const res = await post(replicas[(i + 1) % 3]!, sender, groupId, content, `${i}-${k}`);
            restResults.push({ status: res.status, seq: res.body?.seq });
          }
          if (k % 5 === 4) await new Promise((r) => setTimeout(r, 5));
        }
      }),
    );
    expect(restResults.every((r) => r.status === 201), JSON.stringify(restResults.filter((r) => r.status !== 201))).toBe(true);

    const total = PER_SENDER * senders.length;
    const everyone = [...receivers, ...senderSockets];
    await Promise.all(everyone.map((c) => waitForSeq(total, 60_000, c)));
    await new Promise((r) => setTimeout(r, 500)); // room for a stray duplicate to show up

    const stored = await history(A, r0!, groupId);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const byseq = new Map(stored.map((m) => [m.seq, m]));
    for (const [n, c] of everyone.entries()) {
      const got = messagesOf(c);
      expectConsecutive(got, 1, total, `socket ${n}`);
      for (const f of got) expect({ id: f.id, content: f.content }).toEqual({ id: byseq.get(f.seq).id, content: byseq.get(f.seq).content });
      expect(c.frames.filter((f) => f.type === 'error')).toEqual([]);
    }
    // A socket's frames take seqs in send order.
    for (const sender of senders) {
      const viaSocket = stored.filter((m) => m.sender_id === sender.id && Number(m.content.split('#')[1]) % 2 === 0);
      expect(viaSocket.map((m) => Number(m.content.split('#')[1]))).toEqual(Array.from({ length: PER_SENDER / 2 }, (_, k) => 2 * k));
      expect(viaSocket).toHaveLength(PER_SENDER / 2);
    }
  }, 120_000);

  it('a member joining late through another replica with since_seq gets the replay, then live messages, without a gap or duplicate', async () => {
    const [A, B, C] = cluster.replicas as [Replica, Replica, Replica];
    const [alice, bob, carol] = await users(cluster, 3, 'late');
    const groupId = await groupOf(cluster, alice!, [bob!, carol!]);
    const watcher = track(await join(A, groupId, bob!));
    for (let k = 1; k <= 12; k++) expect((await post(k % 2 ? A : B, alice!, groupId, `m${k}`)).status).toBe(201);
    await waitForSeq(12, 20_000, watcher);

    // carol saw up to seq 5 earlier; she comes back through C while alice keeps sending through A.
    const sending = (async () => {
      for (let k = 13; k <= 30; k++) expect((await post(A, alice!, groupId, `m${k}`)).status).toBe(201);
    })();
    const late = track(await join(C, groupId, carol!, { since_seq: 5 }));
    await sending;
    expect(late.frames[0]).toMatchObject({ type: 'connected', recovered: true });
    await waitForSeq(30, 30_000, late, watcher);
    await new Promise((r) => setTimeout(r, 300));
    expectConsecutive(messagesOf(late), 6, 30, 'late joiner');
    expectConsecutive(messagesOf(watcher), 1, 30, 'watcher');
  }, 90_000);
});
