import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, BusEvent, ResyncSignal } from '../../src/bus/bus.js';
import { createPostgresBus } from '../../src/bus/postgres-bus.js';
import type { Database } from '../../src/db/database.js';
import { connectServerDatabase } from '../../src/db/server-database.js';
import { ownDatabase, requireDatabase, skipReplicas, sleep, type OwnDatabase } from '../support/replicas.js';

/**
 * The LISTEN/NOTIFY bus between two "replicas" (two bus instances) on the real server.
 * Publishes made at the same moment share one NOTIFY statement; PostgreSQL delivers
 * identical payloads of one transaction once, so each must still arrive, in order.
 */
describe.skipIf(skipReplicas)('PostgreSQL LISTEN/NOTIFY bus', { timeout: 60_000 }, () => {
  let db: Database;
  const log = { warn: () => {} };
  beforeAll(() => {
    db = connectServerDatabase(requireDatabase(), { max: 4 });
  });
  afterAll(async () => db?.close());

  async function pair() {
    const url = requireDatabase();
    const sender = createPostgresBus(db, url, { instanceId: randomUUID(), log });
    const receiver = createPostgresBus(db, url, { instanceId: randomUUID(), log });
    const received: (BusEvent | ResyncSignal)[] = [];
    await sender.subscribe(() => {});
    await receiver.subscribe((e) => received.push(e));
    return { sender, receiver, received };
  }

  async function until(check: () => boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check() && Date.now() < deadline) await sleep(20);
  }

  /** Publishes `events` at once through one bus and expects another to receive them all, in publish order (compared by `key`). */
  async function expectDeliveredInOrder(events: BusEvent[], key: (e: BusEvent | ResyncSignal) => unknown): Promise<void> {
    const { sender, receiver, received } = await pair();
    await Promise.all(events.map((e) => sender.publish(e)));
    await until(() => received.length >= events.length);
    expect(received.map(key)).toEqual(events.map(key));
    await sender.close();
    await receiver.close();
  }

  it('delivers repeated identical events published together, in order', async () => {
    const groupId = randomUUID();
    const presence = (status: 'online' | 'offline'): BusEvent => ({ type: 'presence', groupId, userId: groupId, username: 'x', status });
    await expectDeliveredInOrder([presence('online'), presence('offline'), presence('online'), presence('offline')], (e) => (e as { status: string }).status);
  });

  it('keeps publish order for a burst of 300 concurrent events', async () => {
    const groupId = randomUUID();
    const events: BusEvent[] = Array.from({ length: 300 }, (_, i) => ({ type: 'message_ref', groupId, seq: i + 1 }));
    await expectDeliveredInOrder(events, (e) => (e as { seq: number }).seq);
  });

  it('keeps publish order when one tick fills more notifications than the prepared statements cover', async () => {
    const groupId = randomUUID();
    // About 3 KB each: two to a notification, so 60 events need 30 payloads in one statement.
    const events: BusEvent[] = Array.from({ length: 60 }, (_, i) => ({
      type: 'presence',
      groupId,
      userId: groupId,
      username: `${i}-`.padEnd(3_000, 'u'),
      status: i % 2 ? 'offline' : 'online',
    }));
    await expectDeliveredInOrder(events, (e) => (e as { username: string }).username);
  });
});

/**
 * A replica alone on its database sends no NOTIFY (PostgresPeers). The buses here have a
 * database of their own, so that the listeners of other test files do not count as peers.
 */
describe.skipIf(skipReplicas)('PostgreSQL bus: no NOTIFY while no other replica listens', { timeout: 120_000 }, () => {
  const log = { warn: () => {} };
  let own: OwnDatabase;
  let db: Database;
  let observer: pg.Client;
  /** Every payload on the channel, control ones included. */
  const observed: string[] = [];
  const events = () => observed.filter((p) => !p.startsWith('!'));

  beforeAll(async () => {
    own = await ownDatabase();
    db = connectServerDatabase(own.url, { max: 4 });
    observer = new pg.Client({ connectionString: own.url });
    await observer.connect();
    // Quoted, so not the replicas' exact statement: the observer is not taken for a replica.
    await observer.query('LISTEN "group_chat_events"');
    observer.on('notification', (m) => observed.push(m.payload ?? ''));
  });
  afterAll(async () => {
    await observer?.end();
    await db?.close();
    await own?.drop();
  });

  const groupId = randomUUID();
  const ref = (seq: number): BusEvent => ({ type: 'message_ref', groupId, seq });
  const seqs = (received: (BusEvent | ResyncSignal)[]) => received.map((e) => (e as { seq: number }).seq);

  /** Closed after each test, also when it failed: a bus left listening would be a peer of the next test's. */
  const opened: Bus[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((b) => b.close()));
  });

  async function bus(via: { db: Database; url: string } = { db, url: own.url }) {
    const received: (BusEvent | ResyncSignal)[] = [];
    const b = createPostgresBus(via.db, via.url, { instanceId: randomUUID(), log });
    opened.push(b);
    await b.subscribe((e) => received.push(e));
    return { bus: b, received };
  }

  it('alone: delivers locally and notifies nobody; a second replica gets what follows its start; alone again once it left', async () => {
    const a = await bus();
    await sleep(2_500); // past a reading of who listens
    observed.length = 0;
    await a.bus.publish(ref(1));
    await sleep(300);
    expect(seqs(a.received)).toEqual([1]);
    expect(observed).toEqual([]);

    const b = await bus();
    await a.bus.publish(ref(2));
    const deadline = Date.now() + 5_000;
    while ((b.received.length === 0 || events().length === 0) && Date.now() < deadline) await sleep(10);
    // B said hello, A answered (before B's subscribe returned), then A notified.
    expect(observed.map((p) => p.split(' ')[0])).toEqual(['!hello', '!ack', expect.stringContaining('"seq":2')]);
    expect(seqs(b.received)).toEqual([2]);
    expect(events()).toHaveLength(1);

    await b.bus.close();
    await sleep(2_500);
    observed.length = 0;
    await a.bus.publish(ref(3));
    await sleep(300);
    expect(seqs(a.received)).toEqual([1, 2, 3]);
    expect(observed).toEqual([]);
    await a.bus.close();
  });

  it('a replica starting while a lone one publishes without pause misses nothing published after its start', async () => {
    const a = await bus();
    let next = 1;
    const pump = setInterval(() => {
      for (let k = 0; k < 5; k++) void a.bus.publish(ref(next++));
    }, 2);
    try {
      for (let round = 0; round < 5; round++) {
        // Long enough for A to read that it is alone again, at a different moment of its readings each round.
        await sleep(1_300 + Math.floor(Math.random() * 1_200));
        const b = await bus();
        const firstAfterStart = next;
        await sleep(300);
        const lastBefore = next - 1;
        const deadline = Date.now() + 5_000;
        while (!seqs(b.received).includes(lastBefore) && Date.now() < deadline) await sleep(10);
        const got = seqs(b.received).filter((s) => s >= firstAfterStart && s <= lastBefore);
        expect(got, `round ${round}`).toEqual(Array.from({ length: lastBefore - firstAfterStart + 1 }, (_, i) => firstAfterStart + i));
        await b.bus.close();
      }
    } finally {
      clearInterval(pump);
    }
    // The lone stretches were not notified: the race above was run against a replica that was skipping.
    expect(events().length).toBeGreaterThan(0);
    const notified = events().reduce((n, p) => n + (p.startsWith('[') ? (JSON.parse(p) as unknown[]).length : 1), 0);
    expect(notified).toBeLessThan(next - 1);
    await a.bus.close();
  });

  it('a lone replica that loses its LISTEN connection notifies again', async () => {
    const a = await bus();
    await sleep(2_500);
    observed.length = 0;
    await a.bus.publish(ref(1));
    await sleep(300);
    expect(events()).toEqual([]);

    // Cut its LISTEN backend (found the way other replicas find it) and wait until it noticed.
    const [{ n }] = (await db.query<{ n: number }>(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN group_chat_events'",
    )).rows as [{ n: number }];
    expect(n).toBe(1);
    const deadline = Date.now() + 5_000;
    while (Date.now() < deadline && (await a.bus.check().then(() => true, () => false))) await sleep(5);
    await a.bus.publish(ref(2));
    while (Date.now() < deadline && events().length === 0) await sleep(10);
    expect(events()).toEqual([expect.stringContaining('"seq":2')]);
  });

  it('a backend whose statement it may not read (another role) counts as a possible replica', async () => {
    const suffix = randomUUID().slice(0, 8);
    const [replicaRole, otherRole] = [`gcs_peers_a_${suffix}`, `gcs_peers_b_${suffix}`];
    const asRole = (role: string) => {
      const url = new URL(own.url);
      url.username = role;
      url.password = '';
      return url.toString();
    };
    await db.exec(`CREATE ROLE ${replicaRole} LOGIN; CREATE ROLE ${otherRole} LOGIN`);
    const replicaDb = connectServerDatabase(asRole(replicaRole), { max: 2 });
    const other = new pg.Client({ connectionString: asRole(otherRole) });
    try {
      await other.connect();
      await other.query('SELECT 1');
      const a = await bus({ db: replicaDb, url: asRole(replicaRole) });
      await sleep(2_500);
      observed.length = 0;
      await a.bus.publish(ref(1));
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline && events().length === 0) await sleep(10);
      expect(events()).toEqual([expect.stringContaining('"seq":1')]);

      // Allowed to read every backend's statement, the same replica finds itself alone.
      await db.exec(`GRANT pg_read_all_stats TO ${replicaRole}`);
      await sleep(2_500);
      observed.length = 0;
      await a.bus.publish(ref(2));
      await sleep(300);
      expect(events()).toEqual([]);
      await a.bus.close();
    } finally {
      await other.end().catch(() => {});
      await replicaDb.close();
      await db.exec(`DROP ROLE IF EXISTS ${replicaRole}; DROP ROLE IF EXISTS ${otherRole}`).catch(() => {});
    }
  });
});
