import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BusEvent, ResyncSignal } from '../../src/bus/bus.js';
import { createPostgresBus } from '../../src/bus/postgres-bus.js';
import type { Database } from '../../src/db/database.js';
import { connectServerDatabase } from '../../src/db/server-database.js';
import { requireDatabase, skipReplicas, sleep } from '../support/replicas.js';

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

  it('delivers repeated identical events published together, in order', async () => {
    const { sender, receiver, received } = await pair();
    const groupId = randomUUID();
    const presence = (status: 'online' | 'offline'): BusEvent => ({ type: 'presence', groupId, userId: groupId, username: 'x', status });
    await Promise.all([presence('online'), presence('offline'), presence('online'), presence('offline')].map((e) => sender.publish(e)));
    await until(() => received.length >= 4);
    expect(received.map((e) => (e as { status: string }).status)).toEqual(['online', 'offline', 'online', 'offline']);
    await sender.close();
    await receiver.close();
  });

  it('keeps publish order for a burst of 300 concurrent events', async () => {
    const { sender, receiver, received } = await pair();
    const groupId = randomUUID();
    const events: BusEvent[] = Array.from({ length: 300 }, (_, i) => ({
      type: 'message_ref',
      groupId,
      seq: i + 1,
    }));
    await Promise.all(events.map((e) => sender.publish(e)));
    await until(() => received.length >= 300);
    expect(received.map((e) => (e as { seq: number }).seq)).toEqual(events.map((_, i) => i + 1));
    await sender.close();
    await receiver.close();
  });

  it('keeps publish order when one tick fills more notifications than the prepared statements cover', async () => {
    const { sender, receiver, received } = await pair();
    const groupId = randomUUID();
    // About 3 KB each: two to a notification, so 60 events need 30 payloads in one statement.
    const events: BusEvent[] = Array.from({ length: 60 }, (_, i) => ({
      type: 'presence',
      groupId,
      userId: groupId,
      username: `${i}-`.padEnd(3_000, 'u'),
      status: i % 2 ? 'offline' : 'online',
    }));
    await Promise.all(events.map((e) => sender.publish(e)));
    await until(() => received.length >= 60);
    expect(received.map((e) => (e as { username: string }).username)).toEqual(events.map((e) => (e as { username: string }).username));
    await sender.close();
    await receiver.close();
  });
});
