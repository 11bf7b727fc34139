import type { Queryable } from '../db/database.js';

/**
 * Whether any other replica listens, so that a replica alone on its database sends no NOTIFY.
 * A NOTIFY nobody else reads still costs a database-wide lock at commit, the queue write, the
 * delivery to our own LISTEN connection and the parsing of the echo: about 30 % of
 * PostgreSQL's CPU per stored message and 20 % of the service's (bench, one replica).
 *
 * The replicas are the backends of this database whose last statement is our `LISTEN`: a
 * listening connection runs nothing after it, and replicas of earlier versions are seen too.
 * The answer is "alone" only when that reading is trustworthy: our own LISTEN backend is in it
 * (track_activities on, and we can read our own rows) and no backend of this database hides
 * its statement from us (another role without pg_read_all_stats could be a replica).
 *
 * A starting replica must not miss a message that a replica, believing itself alone, would
 * not notify. So once it LISTENs, a replica names the listeners it sees, announces itself
 * (`!hello <pid>` on the channel) and waits until each of them answered (`!ack <pid> <pid>`)
 * before it subscribes its hub, which is before it accepts any socket. A replica turns
 * "not alone" before it answers, so everything it stores from then on is notified; what it
 * stored before was committed before the newcomer served anyone, who reads it from the
 * database. A reading that started before a hello arrived is discarded, and losing our own
 * LISTEN connection counts as not alone. A peer that does not answer in time (stuck, or of an
 * earlier version, which notifies anyway) is not waited for; its next reading sees us. Seq gaps
 * repair anything else from the database, as for a lost notification.
 */
export const CONTROL_PREFIX = '!';
const READING_INTERVAL_MS = 1_000;
const HELLO_TIMEOUT_MS = 3_000;

export class PostgresPeers {
  /** Until a reading says otherwise, other replicas may listen. */
  private alone = false;
  private listenerPid: number | undefined;
  /** Bumped by every hello and lost listener, so that a reading taken before it is discarded. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private reading = false;
  private readonly awaitingAcks = new Map<number, () => void>();

  constructor(
    private readonly db: Queryable,
    private readonly channel: string,
    private readonly listenStatement: string,
    private readonly log: { warn(obj: object, msg: string): void },
  ) {}

  /** Whether a publish must be sent to other replicas. */
  get othersMayListen(): boolean {
    return !this.alone;
  }

  /**
   * Our LISTEN connection (backend `pid`) is up: introduce ourselves to the listeners already
   * there and wait for their answers (bounded), then keep reading who listens.
   */
  async listening(pid: number): Promise<void> {
    this.listenerPid = pid;
    const { peers } = await this.read().catch((err: unknown) => {
      this.log.warn({ err }, 'bus: could not list the other replicas; waiting for none');
      return { peers: [] as number[] };
    });
    if (peers.length > 0) {
      const answered = peers.map((peer) => new Promise<void>((resolve) => this.awaitingAcks.set(peer, resolve)));
      await this.notify(`hello ${pid}`);
      let timeout: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timeout = setTimeout(resolve, HELLO_TIMEOUT_MS)));
      await Promise.race([Promise.all(answered), late]);
      clearTimeout(timeout);
      const silent = [...this.awaitingAcks.keys()];
      this.awaitingAcks.clear();
      if (silent.length > 0) this.log.warn({ silent }, 'bus: listeners did not answer the hello in time; not waiting for them');
    }
    this.timer ??= setInterval(() => void this.refresh(), READING_INTERVAL_MS);
    this.timer.unref();
  }

  /** Our LISTEN connection is gone: we cannot hear a newcomer's hello, so assume others listen. */
  lostListener(): void {
    this.listenerPid = undefined;
    this.generation += 1;
    this.alone = false;
  }

  /** A control payload from the channel (it starts with CONTROL_PREFIX). */
  control(payload: string): void {
    const [kind, a, b] = payload.slice(CONTROL_PREFIX.length).split(' ');
    const from = Number(a);
    if (kind === 'hello' && Number.isInteger(from) && from !== this.listenerPid) {
      this.generation += 1;
      this.alone = false;
      if (this.listenerPid !== undefined) void this.notify(`ack ${from} ${this.listenerPid}`);
    } else if (kind === 'ack' && from === this.listenerPid) {
      const peer = Number(b);
      this.awaitingAcks.get(peer)?.();
      this.awaitingAcks.delete(peer);
    }
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.alone = false;
  }

  private async refresh(): Promise<void> {
    if (this.reading || this.listenerPid === undefined) return;
    this.reading = true;
    const generation = this.generation;
    try {
      const { peers, trustworthy } = await this.read();
      if (generation === this.generation) this.alone = trustworthy && peers.length === 0;
    } catch {
      if (generation === this.generation) this.alone = false;
    } finally {
      this.reading = false;
    }
  }

  private async read(): Promise<{ peers: number[]; trustworthy: boolean }> {
    // Every row is either a listener or a backend whose statement we cannot read.
    const { rows } = await this.db.query<{ pid: number; listening: boolean }>(
      `SELECT pid, coalesce(query = $1, false) AS listening
         FROM pg_stat_activity
        WHERE datname = current_database()
          -- A backend we may not read shows neither its statement nor its type.
          AND (backend_type = 'client backend' OR backend_type IS NULL)
          AND (query = $1 OR query IS NULL OR query = '<insufficient privilege>')`,
      [this.listenStatement],
      { prepared: true },
    );
    const own = this.listenerPid;
    const peers = rows.filter((r) => r.listening && r.pid !== own).map((r) => r.pid);
    const trustworthy = rows.some((r) => r.listening && r.pid === own) && rows.every((r) => r.listening);
    return { peers, trustworthy };
  }

  private notify(text: string): Promise<void> {
    return this.db
      .query('SELECT pg_notify($1, $2)', [this.channel, `${CONTROL_PREFIX}${text}`])
      .then(() => undefined)
      .catch((err: unknown) => this.log.warn({ err }, 'bus: could not send a control notification'));
  }
}
