import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, MODES, skipReplicas, startCluster, stopAll, waitFor, type Cluster, type Mode, type Replica } from '../support/replicas.js';
import type { ChatClient } from '../support/ws-client.js';
import { closeAll, expectConsecutive, groupOf, join, messagesOf, pool, post, users, waitForSeq } from './helpers.js';

/**
 * Faults of the fan-out: the bus dropping notifications (its connection cut), and a replica
 * killed with SIGKILL while a sender floods through another one.
 */
describe.skipIf(skipReplicas).each(MODES)('three replicas, $name: faults', (mode: Mode) => {
  let cluster: Cluster;
  let A: Replica, B: Replica, C: Replica;
  const open: ChatClient[] = [];
  const track = (c: ChatClient) => (open.push(c), c);
  const presenceOf = (c: ChatClient, userId: string) => c.frames.filter((f) => f.type === 'presence' && f.user_id === userId).map((f) => f.status);

  beforeAll(async () => {
    cluster = await startCluster({ count: 3, redis: mode.redis, env: { RATE_LIMIT_MESSAGES: '1000' } });
    [A, B, C] = cluster.replicas as [Replica, Replica, Replica];
  }, 420_000);

  afterAll(async () => {
    await closeAll(open);
    await cluster?.stop();
    await stopAll();
  }, 60_000);

  /** Cuts the bus connection that delivers to subscribers: B's LISTEN backend, or every Redis subscriber (each has a room for `groupId`). */
  async function cutBus(groupId: string): Promise<() => Promise<void>> {
    if (!mode.redis) {
      const listenerOfB = `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN%'`;
      const [before] = await adminQuery<{ pid: number }>(cluster.databaseUrl, listenerOfB, [B.appName]);
      expect(before, 'replica B holds a LISTEN connection').toBeDefined();
      const [killed] = await adminQuery<{ ok: boolean }>(cluster.databaseUrl, 'SELECT pg_terminate_backend($1) AS ok', [before!.pid]);
      expect(killed!.ok).toBe(true);
      return async () => {
        await waitFor('replica B to LISTEN again', async () => {
          const rows = await adminQuery<{ pid: number }>(cluster.databaseUrl, listenerOfB, [B.appName]);
          return rows.length === 1 && rows[0]!.pid !== before!.pid;
        }, 20_000, 100);
      };
    }
    const killed = Number(cluster.redis!.cli('CLIENT', 'KILL', 'TYPE', 'pubsub').trim());
    expect(killed, 'every replica had a subscriber connection').toBe(3);
    return async () => {
      const channel = `group-chat:group:${groupId}`;
      await waitFor('every replica to subscribe to the group again', () => Number(cluster.redis!.cli('PUBSUB', 'NUMSUB', channel).trim().split('\n')[1]) === 3, 20_000, 100);
    };
  }

  it('the bus dropping notifications: receivers detect the gap and fill it from the database, in order, once', async () => {
    const [alice, bob, carol, dave, erin] = await users(cluster, 5, 'drop');
    const groupId = await groupOf(cluster, alice!, [bob!, carol!, dave!, erin!]);
    const receivers = [track(await join(A, groupId, bob!)), track(await join(B, groupId, carol!)), track(await join(C, groupId, dave!))];
    for (let k = 1; k <= 3; k++) expect((await post(A, alice!, groupId, `before-${k}`)).status).toBe(201);
    await Promise.all(receivers.map((r) => waitForSeq(3, 15_000, r)));

    // Cut the bus, send while it is down: those notifications are lost for the cut receivers.
    const reconnected = await cutBus(groupId);
    for (let k = 4; k <= 6; k++) expect((await post(A, alice!, groupId, `during-${k}`)).status).toBe(201);
    // A client that saw seq 6 elsewhere comes back through B, whose room has not caught up yet.
    const resumed = track(await join(B, groupId, erin!, { since_seq: 6 }));
    expect(resumed.frames[0]).toMatchObject({ type: 'connected', recovered: true });
    await reconnected();
    // Nothing else is sent: the reconnect alone (resync) must bring the missed messages.
    await Promise.all(receivers.map((r) => waitForSeq(6, 15_000, r)));
    // And what follows continues the sequence.
    for (let k = 7; k <= 9; k++) expect((await post(k % 2 ? B : C, alice!, groupId, `after-${k}`)).status).toBe(201);
    await Promise.all([...receivers, resumed].map((r) => waitForSeq(9, 15_000, r)));
    await new Promise((r) => setTimeout(r, 300));
    for (const [i, r] of receivers.entries()) expectConsecutive(messagesOf(r), 1, 9, `receiver on ${'ABC'[i]}`);
    expectConsecutive(messagesOf(resumed), 7, 9, 'resumed on B with since_seq=6');
  }, 90_000);

  it('kill -9 of a replica under load: its clients reconnect elsewhere with since_seq and lose nothing; its users go offline in bounded time', async () => {
    const [sender, u1, u2, u3, u4] = await users(cluster, 5, 'kill');
    const groupId = await groupOf(cluster, sender!, [u1!, u2!, u3!, u4!]);
    const onA = track(await join(A, groupId, u1!));
    const onB = track(await join(B, groupId, u4!));
    const movingFromC = track(await join(C, groupId, u2!));
    const victimOnC = track(await join(C, groupId, u3!));

    const TOTAL = 160;
    let acked = 0;
    const flood = pool(Array.from({ length: TOTAL }, (_, k) => k), 4, async (k) => {
      const res = await post(A, sender!, groupId, `flood-${k}`);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      acked += 1;
    });
    await waitFor('a third of the flood to be acknowledged', () => acked >= TOTAL / 3, 60_000, 20);
    const killedAt = Date.now();
    await C.kill('SIGKILL');
    expect(C.alive).toBe(false);

    // The client of C notices, and comes back through B from where it was.
    await Promise.race([movingFromC.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('no close after kill -9')), 10_000))]);
    const lastSeen = messagesOf(movingFromC).at(-1)?.seq ?? 0;
    const moved = track(await join(B, groupId, u2!, { since_seq: lastSeen }));
    expect(moved.frames[0]).toMatchObject({ type: 'connected', recovered: true });

    await flood;
    expect(acked).toBe(TOTAL);
    await Promise.all([onA, onB, moved].map((c) => waitForSeq(TOTAL, 60_000, c)));
    await new Promise((r) => setTimeout(r, 500));
    expectConsecutive(messagesOf(onA), 1, TOTAL, 'on A');
    expectConsecutive(messagesOf(onB), 1, TOTAL, 'on B');
    expectConsecutive([...messagesOf(movingFromC), ...messagesOf(moved)], 1, TOTAL, 'moved from C to B (before + after)');
    expect(lastSeen, 'the kill happened mid-flood').toBeLessThan(TOTAL);

    // u3 had a socket on C only: the others see them go offline within the bound.
    await waitFor('u3 to be reported offline', () => presenceOf(onA, u3!.id).includes('offline') && presenceOf(onB, u3!.id).includes('offline'), 25_000, 100);
    expect(Date.now() - killedAt).toBeLessThan(25_000);
    expect(victimOnC.isClosed).toBe(true);
    // u2 moved to B: online all along for the others (no offline, no second online).
    await new Promise((r) => setTimeout(r, 1_500));
    expect(presenceOf(onA, u2!.id)).toEqual(['online']);
    expect(presenceOf(onB, u2!.id)).toEqual(['online']);
  }, 150_000);
});
