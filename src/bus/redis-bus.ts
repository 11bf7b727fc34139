import { Redis } from 'ioredis';
import type { Bus, BusEvent, ResyncSignal } from './bus.js';
import { decode, encode } from './wire.js';

/**
 * Fan-out between replicas over Redis pub/sub. Two connections: one publishes (failing
 * fast while Redis is down: the message is already stored, receivers fill the gap
 * later), one subscribes and reconnects by itself, signalling `resync` when it is back.
 */
const CHANNEL = 'group-chat:events';
const MAX_PAYLOAD_BYTES = 512 * 1024;

export function createRedisBus(url: string, options: { instanceId: string; log: { warn(obj: object, msg: string): void } }): Bus {
  const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(times * 200, 2_000) };
  const publisher = new Redis(url, { ...common, enableOfflineQueue: false });
  const subscriber = new Redis(url, { ...common, enableOfflineQueue: true });
  let handler: ((event: BusEvent | ResyncSignal) => void) | undefined;
  let wasReady = false;
  let warned = false;

  for (const connection of [publisher, subscriber]) {
    connection.on('error', (err: Error) => {
      if (!warned) options.log.warn({ err: err.message }, 'bus: Redis unavailable; retrying');
      warned = true;
    });
  }
  subscriber.on('ready', () => {
    warned = false;
    if (wasReady) handler?.({ type: 'resync' });
    wasReady = true;
  });
  subscriber.on('message', (channel: string, payload: string) => {
    if (channel !== CHANNEL) return;
    const envelope = decode(payload);
    if (envelope) handler?.(envelope.event);
  });

  return {
    kind: 'redis',
    async publish(event) {
      await publisher.publish(CHANNEL, encode(options.instanceId, event, MAX_PAYLOAD_BYTES));
    },
    async subscribe(h) {
      handler = h;
      // Redis being down at start-up is not fatal: messages are stored regardless, readiness
      // reports it, and both connections keep retrying. ioredis re-subscribes after reconnects.
      publisher.connect().catch(() => {});
      subscriber.connect().catch(() => {});
      void subscriber.subscribe(CHANNEL).catch(() => {});
    },
    async check() {
      await publisher.ping();
      if (subscriber.status !== 'ready') throw new Error('Redis subscriber is not connected');
    },
    async close() {
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
