import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { sleep } from './children.js';
import { mapLimit } from './stats.js';

/**
 * The chat load generator, the same for the bare `ws` relay, the naive peer and the
 * service. Sockets are grouped as the server groups them (one array of URLs per group);
 * every socket waits for the server's first frame (`connected`) before the load starts.
 *
 * Each message's content is a unique 64-byte key. A receiver finds it in the frame
 * without parsing the JSON (the same cheap work whatever the server's frame looks like).
 * A message is acknowledged when its sender receives its own copy, and complete when all
 * members of the group (the sender included) have received it.
 */
const KEY_BYTES = 64;
const MARK = Buffer.from('"content":"');
const ERROR_MARK = Buffer.from('"type":"error"');

interface InFlight {
  sender: number;
  /** Sockets that received it (a second copy to one socket is a duplicate). */
  got: Set<number>;
  /** When it was sent (closed loop) or scheduled to be sent (open loop), performance.now() ms. */
  t0: number;
  left: number;
  record: boolean;
}

export interface SaturationResult {
  persistedPerS: number;
  deliveriesPerS: number;
  completed: number;
  errors: number;
  /** Messages still missing a delivery after the drain. */
  unfinished: number;
}

export interface OpenLoopResult {
  p50: number;
  p99: number;
  recorded: number;
  lost: number;
  ratePerS: number;
  errors: number;
}

export class FanoutLoad {
  private readonly sockets: WebSocket[] = [];
  private readonly groupSize: number[] = [];
  private readonly queues: string[][] = [];
  private readonly inflight = new Map<string, InFlight>();
  private readonly prefix = `k${randomBytes(3).toString('hex')}-`;
  private counter = 0;
  private counting = false;
  private closedLoop = false;
  private closing = false;
  private deliveries = 0;
  private completed = 0;
  private errors = 0;
  private latencies: number[] = [];
  unexpectedCloses = 0;
  /** Acknowledgements received over the whole life of this load (never reset). */
  acked = 0;
  /** A message received twice by one socket (the contract says once); never reset. */
  duplicates = 0;
  firstDuplicate: string | undefined;
  private readonly done = new Set<string>();
  firstError: string | undefined;

  /** Opens one socket per URL, `concurrency` handshakes at a time, each bounded in time. */
  static async open(groups: string[][], o: { concurrency: number; timeoutMs: number }): Promise<FanoutLoad> {
    const load = new FanoutLoad();
    const flat = groups.flatMap((urls) => urls.map((url) => ({ url, size: urls.length })));
    try {
      await mapLimit(flat, o.concurrency, async ({ url, size }, i) => {
        load.sockets[i] = await load.connect(url, i, o.timeoutMs);
        load.groupSize[i] = size;
        load.queues[i] = [];
      });
    } catch (err) {
      load.close();
      throw err;
    }
    return load;
  }

  get size(): number {
    return this.sockets.length;
  }

  private connect(url: string, index: number, timeoutMs: number): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`socket ${index}: no first frame within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('message', () => {
        clearTimeout(timer);
        ws.on('message', (data) => this.onFrame(index, data as Buffer));
        resolve(ws);
      });
      ws.on('close', (code) => {
        clearTimeout(timer);
        if (!this.closing) {
          this.unexpectedCloses++;
          this.firstError ??= `socket ${index} closed with ${code}`;
        }
        reject(new Error(`socket ${index} closed (${code}) before its first frame`));
      });
      ws.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  private onFrame(index: number, data: Buffer): void {
    const at = data.indexOf(MARK);
    if (at < 0) {
      if (data.indexOf(ERROR_MARK) >= 0) this.onErrorFrame(index, data.toString());
      return;
    }
    const start = at + MARK.length;
    const key = data.toString('latin1', start, start + KEY_BYTES);
    if (this.counting) this.deliveries++;
    const entry = this.inflight.get(key);
    if (!entry) {
      if (this.done.has(key)) this.duplicate(index, data, 'after all members had it');
      return;
    }
    if (entry.got.has(index)) {
      this.duplicate(index, data, 'second copy to this socket');
      return;
    }
    entry.got.add(index);
    if (entry.sender === index) {
      this.acked++;
      this.onAck(index, key);
    }
    if (--entry.left === 0) {
      this.inflight.delete(key);
      this.done.add(key);
      if (this.counting) this.completed++;
      if (entry.record) this.latencies.push(performance.now() - entry.t0);
    }
  }

  private duplicate(index: number, data: Buffer, how: string): void {
    this.duplicates++;
    this.firstDuplicate ??= `socket ${index} (group of ${this.groupSize[index]}): ${how}: ${data.toString().slice(0, 300)}`;
  }

  private onAck(index: number, key: string): void {
    const queue = this.queues[index]!;
    const at = queue.indexOf(key);
    if (at >= 0) queue.splice(at, 1);
    if (this.closedLoop) this.send(index, performance.now(), false);
  }

  /** The service answers a refused send with an error frame, in frame order: it is the sender's oldest message. */
  private onErrorFrame(index: number, text: string): void {
    this.errors++;
    this.firstError ??= text.slice(0, 200);
    const key = this.queues[index]!.shift();
    if (key !== undefined) this.inflight.delete(key);
    if (this.closedLoop) this.send(index, performance.now(), false);
  }

  private send(index: number, t0: number, record: boolean): void {
    const ws = this.sockets[index]!;
    if (ws.readyState !== WebSocket.OPEN) return;
    // A base-36 counter padded with '_', a character base 36 never uses (so no two keys pad alike).
    const key = `${this.prefix}${(this.counter++).toString(36)}`.padEnd(KEY_BYTES, '_');
    this.inflight.set(key, { sender: index, got: new Set(), t0, left: this.groupSize[index]!, record });
    this.queues[index]!.push(key);
    ws.send(`{"type":"message","content":"${key}"}`);
  }

  /** Waits until every message sent so far is complete, or drainMs passed; answers how many are not. */
  private async drain(drainMs: number): Promise<number> {
    const deadline = performance.now() + drainMs;
    while (this.inflight.size > 0 && performance.now() < deadline) await sleep(20);
    const left = this.inflight.size;
    this.inflight.clear();
    for (const q of this.queues) q.length = 0;
    return left;
  }

  /** Closed loop: each sender keeps `window` messages in flight (it sends the next when its own copy arrives). */
  async saturate(o: {
    warmupMs: number;
    durationMs: number;
    /** The first `sendersPerGroup` members of each group send; every member receives. */
    sendersPerGroup: number;
    window: number;
    drainMs: number;
    onWindow?: (counting: boolean) => void;
  }): Promise<SaturationResult> {
    this.reset();
    this.closedLoop = true;
    const senders = this.groups().flatMap((g) => g.slice(0, o.sendersPerGroup));
    for (const i of senders) for (let w = 0; w < o.window; w++) this.send(i, performance.now(), false);
    await sleep(o.warmupMs);
    this.counting = true;
    o.onWindow?.(true);
    const t0 = performance.now();
    await sleep(o.durationMs);
    this.counting = false;
    o.onWindow?.(false);
    const seconds = (performance.now() - t0) / 1000;
    this.closedLoop = false;
    const unfinished = await this.drain(o.drainMs);
    return { persistedPerS: this.completed / seconds, deliveriesPerS: this.deliveries / seconds, completed: this.completed, errors: this.errors, unfinished };
  }

  /**
   * Open loop at a fixed rate, senders taken round-robin across groups. Latency runs from
   * the moment a message was due (not when the timer got round to it: no coordinated
   * omission) to its delivery to the last member. Messages not complete after the drain
   * count as lost, with infinite latency.
   */
  async openLoop(o: { ratePerS: number; warmupMs: number; durationMs: number; drainMs: number; onWindow?: (counting: boolean) => void }): Promise<OpenLoopResult> {
    this.reset();
    const order = this.roundRobinOrder();
    const start = performance.now();
    const recordFrom = start + o.warmupMs;
    const end = recordFrom + o.durationMs;
    let sent = 0;
    let recordedSent = 0;
    let recording = false;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        if (!recording && now >= recordFrom) {
          recording = true;
          o.onWindow?.(true);
        }
        const due = Math.floor(((Math.min(now, end) - start) * o.ratePerS) / 1000);
        for (; sent < due; sent++) {
          const t = start + (sent * 1000) / o.ratePerS;
          const record = t >= recordFrom;
          if (record) recordedSent++;
          this.send(order[sent % order.length]!, t, record);
        }
        if (now >= end) {
          clearInterval(timer);
          o.onWindow?.(false);
          resolve();
        }
      }, 1);
    });
    await this.drain(o.drainMs);
    const latencies = [...this.latencies].sort((a, b) => a - b);
    const lost = Math.max(0, recordedSent - latencies.length);
    for (let i = 0; i < lost; i++) latencies.push(Number.POSITIVE_INFINITY);
    const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(q * latencies.length) - 1))] ?? Number.NaN;
    return { p50: pick(0.5), p99: pick(0.99), recorded: latencies.length - lost, lost, ratePerS: o.ratePerS, errors: this.errors };
  }

  /** Socket indexes by group. */
  private groups(): number[][] {
    const byGroup: number[][] = [];
    let i = 0;
    while (i < this.sockets.length) {
      const size = this.groupSize[i]!;
      byGroup.push(Array.from({ length: size }, (_, k) => i + k));
      i += size;
    }
    return byGroup;
  }

  /** Socket indexes ordered member-major, so consecutive sends go to different groups. */
  private roundRobinOrder(): number[] {
    const byGroup = this.groups();
    const order: number[] = [];
    const longest = Math.max(...byGroup.map((g) => g.length));
    for (let m = 0; m < longest; m++) for (const g of byGroup) if (m < g.length) order.push(g[m]!);
    return order;
  }

  /**
   * Starts every measurement with the generator's garbage collected (`npm run bench` runs
   * with --expose-gc). Opening a thousand sockets grows its heap, and the major collection
   * that follows otherwise lands in the first half second of the next window: 100–220 ms of
   * latency for the messages then in flight, whichever server is measured.
   */
  private reset(): void {
    (globalThis as { gc?: () => void }).gc?.();
    this.deliveries = 0;
    this.completed = 0;
    this.errors = 0;
    this.latencies = [];
  }

  close(): void {
    this.closing = true;
    for (const ws of this.sockets) ws?.terminate();
  }
}
