import { Redis } from 'ioredis';
import type { Bus } from './bus.js';
import { LocalFirst } from './local-first.js';
import { encode } from './wire.js';

/**
 * Fan-out between replicas over Redis pub/sub. Publishing hands the event to this
 * replica's hub at once (see LocalFirst), then publishes it for the others on a connection
 * that fails fast while Redis is down (the message is already stored; receivers fill the
 * gap later). A second connection subscribes; it reconnects by itself, and each time it is
 * back we SUBSCRIBE again and, once Redis confirmed it, signal `resync`: whatever was
 * published meanwhile was lost, and receivers compare with the database. (ioredis's own
 * re-subscription is off: it announces `ready` before re-subscribing, so a resync run at
 * `ready` could read the database before the subscription is back and miss a message.)
 */
const CHANNEL = 'group-chat:events';
const MAX_PAYLOAD_BYTES = 512 * 1024;

export function createRedisBus(url: string, options: { instanceId: string; log: { warn(obj: object, msg: string): void } }): Bus {
  const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(times * 200, 2_000) };
  const publisher = new Redis(url, { ...common, enableOfflineQueue: false });
  const subscriber = new Redis(url, { ...common, enableOfflineQueue: false, autoResubscribe: false });
  const fanout = new LocalFirst(options.instanceId, options.log);
  let subscribedOnce = false;
  let subscribed = false;
  let warned = false;
  let closed = false;

  for (const connection of [publisher, subscriber]) {
    connection.on('error', (err: Error) => {
      if (!warned) options.log.warn({ err: err.message }, 'bus: Redis unavailable; retrying');
      warned = true;
    });
  }
  subscriber.on('close', () => {
    subscribed = false;
  });
  subscriber.on('ready', () => {
    warned = false;
    subscriber.subscribe(CHANNEL).then(
      () => {
        subscribed = true;
        if (subscribedOnce) fanout.local({ type: 'resync' });
        subscribedOnce = true;
      },
      // The connection dropped again before the subscription took: the next `ready` retries.
      () => {},
    );
  });
  subscriber.on('message', (channel: string, payload: string) => {
    if (channel === CHANNEL) fanout.remote(payload);
  });

  return {
    kind: 'redis',
    async publish(event) {
      fanout.local(event);
      await publisher.publish(CHANNEL, encode(options.instanceId, event, MAX_PAYLOAD_BYTES));
    },
    async subscribe(h) {
      fanout.set(h);
      // Redis being down at start-up is not fatal: messages are stored regardless, readiness
      // reports it, and both connections keep retrying.
      publisher.connect().catch(() => {});
      subscriber.connect().catch(() => {});
    },
    async check() {
      await publisher.ping();
      if (!subscribed) throw new Error('Redis subscriber is not connected');
    },
    async close() {
      if (closed) return;
      closed = true;
      publisher.disconnect();
      subscriber.disconnect();
    },
  };
}
