import pg from 'pg';
import type { Database } from '../db/database.js';
import type { Bus } from './bus.js';
import { LocalFirst } from './local-first.js';
import { CONTROL_PREFIX, PostgresPeers } from './postgres-peers.js';
import { encode, pack } from './wire.js';

/**
 * Fan-out between replicas over PostgreSQL LISTEN/NOTIFY: the deployment needs nothing
 * beyond its database. Publishing hands the event to this replica's hub at once (see
 * LocalFirst), then sends one `pg_notify` through the pool for the others, unless there are
 * none (PostgresPeers: a lone replica notifies nobody); receiving holds
 * one dedicated connection that LISTENs. When that connection drops, it reconnects with
 * backoff, LISTENs again and only then signals `resync`, because notifications sent
 * meanwhile are lost and the receivers must compare with the database.
 */
const CHANNEL = 'group_chat_events';
const LISTEN = `LISTEN ${CHANNEL}`;
/** NOTIFY payloads must stay under 8000 bytes. */
const MAX_PAYLOAD_BYTES = 7_500;
const MAX_BACKOFF_MS = 5_000;

export function createPostgresBus(
  db: Database,
  url: string,
  options: { instanceId: string; log: { warn(obj: object, msg: string): void } },
): Bus {
  const fanout = new LocalFirst(options.instanceId, options.log);
  const peers = new PostgresPeers(db, CHANNEL, LISTEN, options.log);
  let client: pg.Client | undefined;
  let closed = false;
  let connected = false;
  let retryTimer: NodeJS.Timeout | undefined;

  async function connect(isReconnect: boolean): Promise<void> {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000, keepAlive: true });
    next.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      if (msg.payload.startsWith(CONTROL_PREFIX)) peers.control(msg.payload);
      else fanout.remote(msg.payload);
    });
    let gone = false;
    const onGone = () => {
      gone = true;
      lost(next);
    };
    next.on('error', onGone);
    next.on('end', onGone);
    try {
      await next.connect();
      // Nothing else runs on this connection: its last statement is how other replicas find it (PostgresPeers).
      await next.query(LISTEN);
      await peers.listening((next as unknown as { processID: number }).processID);
      if (gone) throw new Error('bus: the LISTEN connection was lost while starting');
    } catch (err) {
      peers.lostListener();
      await next.end().catch(() => {});
      throw err;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    connected = true;
    if (isReconnect) {
      options.log.warn({}, 'bus: LISTEN connection restored; resyncing');
      fanout.local({ type: 'resync' });
    }
  }

  function lost(which: pg.Client): void {
    if (which !== client || closed) return;
    peers.lostListener();
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
      connect(true).catch(() => scheduleReconnect(Math.min(delayMs * 2, MAX_BACKOFF_MS)));
    }, delayMs);
    retryTimer.unref();
  }

  const notifier = new CoalescingNotifier(db);

  return {
    kind: 'postgres',
    async publish(event) {
      fanout.local(event);
      if (peers.othersMayListen) await notifier.send(encode(options.instanceId, event, MAX_PAYLOAD_BYTES));
    },
    async subscribe(h) {
      fanout.set(h);
      await connect(false);
    },
    // One channel carries every group's events (they are packed several to a NOTIFY): the
    // LISTEN already delivers whatever group a room is opened for.
    async watch() {},
    unwatch() {},
    async check() {
      if (!connected) throw new Error('bus listener is not connected');
    },
    async close() {
      closed = true;
      peers.close();
      if (retryTimer) clearTimeout(retryTimer);
      const c = client;
      client = undefined;
      connected = false;
      await c?.end().catch(() => {});
    },
  };
}

/**
 * Every NOTIFY takes a database-wide lock at commit, so one statement per event makes
 * concurrent publishers queue on it, and every notification costs the sender and each
 * listening backend. Payloads published in one tick (the messages of one stored batch) and
 * while a statement runs go out together in the next statement, packed several to a
 * notification, in publish order (one statement in flight at a time; the notifications of
 * one transaction are delivered in the order they were sent).
 *
 * Each packed payload is its own text parameter: JSON is full of quotes, which a text[]
 * parameter would have to escape one by one (`pg` did, with two regular expressions per
 * element: 5 % of the service's thread under the bench's message load).
 */
class CoalescingNotifier {
  private queue: { payload: string; resolve(): void; reject(err: unknown): void }[] = [];
  private flushing = false;

  constructor(private readonly db: Database) {}

  send(payload: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ payload, resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        process.nextTick(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 2_000);
      try {
        const payloads = pack(batch.map((b) => b.payload), MAX_PAYLOAD_BYTES);
        await this.db.query(notifyStatement(payloads.length), [CHANNEL, ...payloads], { prepared: payloads.length <= PREPARED_UP_TO });
        for (const b of batch) b.resolve();
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.flushing = false;
  }
}

const PREPARED_UP_TO = 16;
const notifyStatements: string[] = [];

/** `SELECT pg_notify($1, p) …` over $2..$(count+1), in parameter order (volatile functions run after the sort). */
function notifyStatement(count: number): string {
  let sql = notifyStatements[count];
  if (sql === undefined) {
    const rows = Array.from({ length: count }, (_, i) => `($${i + 2}::text, ${i})`).join(', ');
    sql = `SELECT pg_notify($1, t.p) FROM (VALUES ${rows}) AS t(p, i) ORDER BY t.i`;
    if (count <= PREPARED_UP_TO) notifyStatements[count] = sql;
  }
  return sql;
}
