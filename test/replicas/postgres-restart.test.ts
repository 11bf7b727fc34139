import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { privatePostgresSupport, requireDatabase, skipReplicas, startCluster, startPrivatePostgres, stopAll, waitFor, type Cluster, type PrivatePostgres, type Replica } from '../support/replicas.js';
import type { ChatClient } from '../support/ws-client.js';
import { closeAll, expectConsecutive, groupOf, history, join, messagesOf, post, users, waitForSeq } from './helpers.js';

/**
 * PostgreSQL restarted under load, on a private cluster (the shared server is never touched):
 * sends fail honestly (never an acknowledgement for an unsaved message), readiness is 503,
 * and everything recovers by itself once the database is back.
 */
const canRun = !skipReplicas && privatePostgresSupport() !== undefined;
if (!skipReplicas && !canRun) process.stderr.write('test/replicas/postgres-restart: skipped (no initdb/pg_ctl or not root: a private PostgreSQL cluster cannot be run here)\n');

describe.skipIf(!canRun)('two replicas on a private PostgreSQL cluster: PostgreSQL restarted under load', () => {
  let pg: PrivatePostgres | undefined;
  let cluster: Cluster;
  let A: Replica, B: Replica;
  const open: ChatClient[] = [];
  const track = (c: ChatClient) => (open.push(c), c);

  beforeAll(async () => {
    requireDatabase(); // the same rule as every multi-replica test: in CI, a missing TEST_DATABASE_URL fails
    pg = await startPrivatePostgres();
    cluster = await startCluster({ count: 2, redis: false, databaseUrl: pg.url, env: { RATE_LIMIT_MESSAGES: '100000' } });
    [A, B] = cluster.replicas as [Replica, Replica];
  }, 420_000);

  afterAll(async () => {
    await closeAll(open);
    await cluster?.stop();
    await stopAll();
    pg?.destroy();
  }, 60_000);

  it('sends answer MESSAGE_SAVE_FAILED / 503 while it is down, readiness 503; then it all recovers, nothing acknowledged is lost', async () => {
    const [alice, bob, carol, dave] = await users(cluster, 4, 'pgr');
    const groupId = await groupOf(cluster, alice!, [bob!, carol!, dave!]);
    const senderSocket = track(await join(A, groupId, alice!));
    const onA = track(await join(A, groupId, bob!));
    const onB = track(await join(B, groupId, carol!));
    const leavesDuringOutage = track(await join(B, groupId, dave!));
    for (let k = 1; k <= 5; k++) expect((await post(k % 2 ? A : B, alice!, groupId, `warm-${k}`)).status).toBe(201);
    await Promise.all([senderSocket, onA, onB].map((c) => waitForSeq(5, 15_000, c)));

    // Load: REST through both replicas and the sender's socket, until told to stop.
    const rest: { status: number; code?: string; seq?: number }[] = [];
    const wsSent: string[] = [];
    let loading = true;
    let n = 0;
    const load = (async () => {
      while (loading) {
        n += 1;
        if (n % 3 === 0) {
          wsSent.push(`ws-${n}`);
          senderSocket.send({ type: 'message', content: `load-${n}`, client_id: `ws-${n}` });
        } else {
          const res = await post(n % 2 ? A : B, alice!, groupId, `load-${n}`).catch(() => ({ status: 0, body: undefined as any }));
          rest.push({ status: res.status, code: res.body?.code, seq: res.body?.seq });
        }
        await new Promise((r) => setTimeout(r, 60));
      }
    })();

    try {
      await waitFor('some load to be acknowledged', () => rest.filter((r) => r.status === 201).length >= 10, 30_000, 50);
      const downAt = rest.length;
      await pg!.stop();

      // While it is down: readiness 503 on both, sends refused honestly.
      for (const r of cluster.replicas) {
        let last: unknown;
        const ready = await waitFor(`replica ${r.name} readiness 503`, async () => {
          const res = await r.ready();
          last = res;
          return res.status === 503 ? res : undefined;
        }, 30_000, 200).catch((err: Error) => expect.fail(`${err.message}; last answer ${JSON.stringify(last)}; alive ${r.alive}; output: ${r.output.text.slice(-2500)}`));
        expect(ready.body.checks.database).toBe('error');
      }
      await waitFor('refused sends during the outage', () => rest.slice(downAt).filter((r) => r.status === 503).length >= 5, 20_000, 100);
      await waitFor('a socket send refused with MESSAGE_SAVE_FAILED', () => senderSocket.frames.some((f) => f.type === 'error'), 20_000, 100);
      // dave leaves while his departure cannot be recorded: it must be announced once the database is back.
      await leavesDuringOutage.close();
      // Long enough that every replica's presence heartbeat goes stale meanwhile.
      await new Promise((r) => setTimeout(r, 10_000));

      await pg!.start();
      const backAt = Date.now();
      for (const r of cluster.replicas) await waitFor(`replica ${r.name} readiness 200`, async () => (await r.ready()).status === 200, 20_000, 200);
      const backTo = rest.length;
      await waitFor('sends to succeed again', () => rest.slice(backTo).some((r) => r.status === 201), 20_000, 100);
      expect(Date.now() - backAt).toBeLessThan(25_000);
      await new Promise((r) => setTimeout(r, 1_000));
    } finally {
      loading = false;
      await load;
    }

    // Every answer was an acknowledgement or an honest refusal.
    for (const r of rest) expect([201, 503], JSON.stringify(r)).toContain(r.status);
    for (const r of rest.filter((x) => x.status === 503)) expect(['message_save_failed', 'service_unavailable']).toContain(r.code);
    const wsErrors = senderSocket.frames.filter((f) => f.type === 'error');
    expect(wsErrors.every((e) => e.code === 'MESSAGE_SAVE_FAILED'), JSON.stringify(wsErrors.slice(0, 3))).toBe(true);

    // After recovery: more sends through both replicas, then compare everything with history.
    for (let k = 0; k < 6; k++) expect((await post(k % 2 ? A : B, alice!, groupId, `after-${k}`)).status).toBe(201);
    const stored = await history(B, bob!, groupId);
    const last = stored.at(-1)!.seq;
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    const storedSeqs = new Set(stored.map((m) => m.seq));
    for (const r of rest.filter((x) => x.status === 201)) expect(storedSeqs.has(r.seq!), `acknowledged seq ${r.seq} is stored`).toBe(true);
    const wsAcked = messagesOf(senderSocket).filter((f) => f.user_id === alice!.id && wsSent.includes(f.client_id));
    const storedContents = new Set(stored.map((m) => m.content));
    for (const f of wsAcked) expect(storedContents.has(f.content)).toBe(true);

    await Promise.all([senderSocket, onA, onB].map((c) => waitForSeq(last, 30_000, c)));
    await new Promise((r) => setTimeout(r, 500));
    for (const [name, c] of Object.entries({ senderSocket, onA, onB })) {
      expect(c.isClosed, `${name} stayed open`).toBe(false);
      expectConsecutive(messagesOf(c), 1, last, name);
      expect(messagesOf(c).map((f) => f.id)).toEqual(stored.map((m) => m.id));
    }
    // dave, who left during the outage, is announced offline (to carol, on his replica) once it is over...
    await waitFor('dave to be reported offline', () => onB.frames.some((f) => f.type === 'presence' && f.user_id === dave!.id && f.status === 'offline'), 20_000, 100);
    // ...and nobody else, all connected throughout, is announced offline because of the outage.
    for (const c of [senderSocket, onA, onB]) expect(c.frames.filter((f) => f.type === 'presence' && f.status === 'offline' && f.user_id !== dave!.id)).toEqual([]);
  }, 180_000);
});
