import pg from 'pg';
import type { Database } from '../db/database.js';
import type { Bus, BusEvent, ResyncSignal } from './bus.js';
import { decode, encode } from './wire.js';

/**
 * Fan-out between replicas over PostgreSQL LISTEN/NOTIFY: the deployment needs nothing
 * beyond its database. Publishing is one `pg_notify` through the pool; receiving holds
 * one dedicated connection that LISTENs. When that connection drops, it reconnects with
 * backoff and then signals `resync`, because notifications sent meanwhile are lost.
 */
const CHANNEL = 'group_chat_events';
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD_BYTES = 7_500;

export function createPostgresBus(
  db: Database,
  url: string,
  options: { instanceId: string; log: { warn(obj: object, msg: string): void } },
): Bus {
  let handler: ((event: BusEvent | ResyncSignal) => void) | undefined;
  let client: pg.Client | undefined;
  let closed = false;
  let connected = false;
  let retryTimer: NodeJS.Timeout | undefined;

  async function connect(isReconnect: boolean): Promise<void> {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, keepAlive: true });
    next.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      const envelope = decode(msg.payload);
      if (envelope) handler?.(envelope.event);
    });
    next.on('error', () => lost(next));
    next.on('end', () => lost(next));
    await next.connect();
    await next.query(`LISTEN ${CHANNEL}`);
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    connected = true;
    if (isReconnect) handler?.({ type: 'resync' });
  }

  function lost(which: pg.Client): void {
    if (which !== client || closed) return;
    connected = false;
    client = undefined;
    which.end().catch(() => {});
    options.log.warn({}, 'bus: LISTEN connection lost; reconnecting');
    scheduleReconnect(250);
  }

  function scheduleReconnect(delayMs: number): void {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      connect(true).catch(() => scheduleReconnect(Math.min(delayMs * 2, 5_000)));
    }, delayMs);
    retryTimer.unref();
  }

  return {
    kind: 'postgres',
    async publish(event) {
      await db.query('SELECT pg_notify($1, $2)', [CHANNEL, encode(options.instanceId, event, MAX_PAYLOAD_BYTES)]);
    },
    async subscribe(h) {
      handler = h;
      await connect(false);
    },
    async check() {
      if (!connected) throw new Error('bus listener is not connected');
    },
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
