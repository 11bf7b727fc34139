import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bus, BusEvent, ResyncSignal } from '../../src/bus/bus.js';
import { createRedisBus } from '../../src/bus/redis-bus.js';
import { startRedis, stopAll, waitFor, type RedisServer } from '../support/replicas.js';

/**
 * The Redis bus delivers to a replica only the events of the groups it has rooms for (one
 * channel per group), counts the rooms watching a group, and after Redis comes back
 * subscribes again to every watched group, those watched during the outage included.
 * Two buses on a private redis-server stand for two replicas.
 */
const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;
const skipRedis = !hasRedisServer && !process.env.CI;
if (skipRedis) console.warn('redis-server is not on the PATH: the Redis bus tests are skipped (in CI they run)');

const quiet = { warn: () => {} };

interface Replica {
  bus: Bus;
  received: (BusEvent | ResyncSignal)[];
}

function typing(groupId: string, userId: string): BusEvent {
  return { type: 'typing', groupId, userId, username: 'u', isTyping: true, timestamp: new Date().toISOString() };
}

const usersOf = (r: Replica, groupId: string) =>
  r.received.filter((e): e is Extract<BusEvent, { type: 'typing' }> => e.type === 'typing' && e.groupId.toLowerCase() === groupId).map((e) => e.userId);

describe.skipIf(skipRedis)('Redis bus: one channel per group', () => {
  let redis: RedisServer;
  let A: Replica;
  let B: Replica;

  const replica = async (name: string): Promise<Replica> => {
    const r: Replica = { bus: createRedisBus(redis.url, { instanceId: `${name}-${randomUUID()}`, log: quiet }), received: [] };
    await r.bus.subscribe((e) => r.received.push(e));
    await waitFor(`bus ${name} connected`, () => r.bus.check().then(() => true, () => false), 15_000, 50);
    return r;
  };

  /** Publishes `marker` from A on a group B watches and waits for it: whatever A published before it has reached B by then. */
  const flush = async (groupId: string) => {
    const marker = `marker-${randomUUID()}`;
    await A.bus.publish(typing(groupId, marker));
    await waitFor('the marker at B', async () => usersOf(B, groupId).includes(marker), 10_000, 10);
  };

  beforeAll(async () => {
    redis = await startRedis();
    A = await replica('A');
    B = await replica('B');
  }, 60_000);

  afterAll(async () => {
    await A?.bus.close();
    await B?.bus.close();
    await redis?.kill();
    await stopAll();
  });

  it('a replica receives the events of the groups it watches, and only those', async () => {
    const [watched, other] = [randomUUID(), randomUUID()];
    await B.bus.watch(watched);
    await A.bus.publish(typing(other, 'not-for-B'));
    await A.bus.publish(typing(watched, 'for-B'));
    await A.bus.publish(typing(watched.toUpperCase(), 'upper-case-id'));
    await flush(watched);
    expect(usersOf(B, watched).slice(0, 2)).toEqual(['for-B', 'upper-case-id']);
    expect(usersOf(B, other)).toEqual([]);
    // A replica's own events reach its hub by the local path only, never twice.
    expect(usersOf(A, watched).filter((u) => u === 'for-B')).toEqual(['for-B']);
    B.bus.unwatch(watched);
  });

  it('counts the rooms watching a group: the events stop after the last unwatch only', async () => {
    const [group, marker] = [randomUUID(), randomUUID()];
    await B.bus.watch(marker);
    await B.bus.watch(group);
    await B.bus.watch(group);
    B.bus.unwatch(group);
    await A.bus.publish(typing(group, 'one-room-left'));
    await flush(marker);
    expect(usersOf(B, group)).toEqual(['one-room-left']);

    B.bus.unwatch(group);
    await A.bus.publish(typing(group, 'no-room-left'));
    await flush(marker);
    expect(usersOf(B, group)).toEqual(['one-room-left']);

    // Watched again: the SUBSCRIBE follows the UNSUBSCRIBE on the connection.
    await B.bus.watch(group);
    await A.bus.publish(typing(group, 'watched-again'));
    await flush(marker);
    expect(usersOf(B, group)).toEqual(['one-room-left', 'watched-again']);
    B.bus.unwatch(group);
    B.bus.unwatch(marker);
  });

  it('after an outage, subscribes again to every watched group, those watched during it included, then signals resync', async () => {
    const [before, during] = [randomUUID(), randomUUID()];
    await B.bus.watch(before);
    await redis.kill();
    await waitFor('B to notice the outage', () => B.bus.check().then(() => false, () => true), 15_000, 50);

    // A room opened during the outage is not held up by it.
    const t0 = Date.now();
    await B.bus.watch(during);
    expect(Date.now() - t0).toBeLessThan(1_000);

    const resyncsBefore = B.received.filter((e) => e.type === 'resync').length;
    await redis.start();
    await waitFor('B to resync', async () => B.received.filter((e) => e.type === 'resync').length > resyncsBefore, 20_000, 50);
    await waitFor('A to reconnect', () => A.bus.check().then(() => true, () => false), 20_000, 50);

    await A.bus.publish(typing(before, 'after-outage'));
    await A.bus.publish(typing(during, 'after-outage'));
    await flush(during);
    expect(usersOf(B, before)).toEqual(['after-outage']);
    expect(usersOf(B, during).filter((u) => u === 'after-outage')).toEqual(['after-outage']);
    B.bus.unwatch(before);
    B.bus.unwatch(during);
  }, 60_000);
});
