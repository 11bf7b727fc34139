import { Redis } from 'ioredis';
import type { Bus } from './bus.js';
import { LocalFirst } from './local-first.js';
import { encode } from './wire.js';

/**
 * Fan-out between replicas over Redis pub/sub, one channel per group. Publishing hands the
 * event to this replica's hub at once (see LocalFirst), then publishes it on the group's
 * channel for the others, on a connection that fails fast while Redis is down (the message
 * is already stored; receivers fill the gap later). A second connection subscribes to the
 * channels of the groups this replica has rooms for (`watch`), so a replica receives only
 * what it can deliver, and the bus's work per replica follows its own sockets, not the
 * whole cluster's traffic. The subscriber reconnects by itself; each time it is back we
 * SUBSCRIBE again to every watched channel and, once Redis confirmed it, signal `resync`:
 * whatever was published meanwhile was lost, and receivers compare with the database.
 * (ioredis's own re-subscription is off: it announces `ready` before re-subscribing, so a
 * resync run at `ready` could read the database before the subscription is back and miss
 * a message.)
 */
const CHANNEL_PREFIX = 'group-chat:group:';
const MAX_PAYLOAD_BYTES = 512 * 1024;

/** Rooms and REST callers may spell a group id in either case; a channel has one spelling. */
export const channelOf = (groupId: string) => `${CHANNEL_PREFIX}${groupId.toLowerCase()}`;

export function createRedisBus(url: string, options: { instanceId: string; log: { warn(obj: object, msg: string): void } }): Bus {
  const common = { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: (times: number) => Math.min(times * 200, 2_000) };
  const publisher = new Redis(url, { ...common, enableOfflineQueue: false });
  const subscriber = new Redis(url, { ...common, enableOfflineQueue: false, autoResubscribe: false });
  const fanout = new LocalFirst(options.instanceId, options.log);
  let subscribedOnce = false;
  let subscribed = false;
  let warned = false;
  let closed = false;
  /** Watched channels: how many rooms of this replica watch each, and when its subscription took. */
  const watched = new Map<string, { rooms: number; subscription: Promise<void> }>();
  const ignore = () => {};

  /** Subscribes to every watched channel, including those watched while it ran. */
  async function subscribeAll(): Promise<number> {
    const done = new Set<string>();
    for (;;) {
      const missing = [...watched.keys()].filter((c) => !done.has(c));
      if (missing.length === 0) return done.size;
      await subscriber.subscribe(...missing);
      for (const c of missing) done.add(c);
    }
  }

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
    subscribeAll().then(
      (channels) => {
        // From here on, a new watch subscribes by itself.
        subscribed = true;
        // Rooms opened before this (or before an outage) may have read their seq before
        // their channel delivered: they compare with the database.
        if (subscribedOnce || channels > 0) fanout.local({ type: 'resync' });
        subscribedOnce = true;
      },
      // The connection dropped again before the subscription took: the next `ready` retries.
      ignore,
    );
  });
  subscriber.on('message', (channel: string, payload: string) => {
    if (channel.startsWith(CHANNEL_PREFIX)) fanout.remote(payload);
  });

  return {
    kind: 'redis',
    async publish(event) {
      fanout.local(event);
      await publisher.publish(channelOf(event.groupId), encode(options.instanceId, event, MAX_PAYLOAD_BYTES));
    },
    watch(groupId) {
      const channel = channelOf(groupId);
      const entry = watched.get(channel);
      if (entry) {
        entry.rooms += 1;
        return entry.subscription;
      }
      // While the subscriber is down, or coming back, the next `ready` subscribes to every
      // watched channel and then resyncs. Commands on one connection run in order, so this
      // SUBSCRIBE follows the UNSUBSCRIBE of an earlier room of the group.
      const subscription = subscribed ? subscriber.subscribe(channel).then(ignore, ignore) : Promise.resolve();
      watched.set(channel, { rooms: 1, subscription });
      return subscription;
    },
    unwatch(groupId) {
      const channel = channelOf(groupId);
      const entry = watched.get(channel);
      if (!entry) return;
      if (--entry.rooms > 0) return;
      watched.delete(channel);
      subscriber.unsubscribe(channel).catch(ignore);
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
