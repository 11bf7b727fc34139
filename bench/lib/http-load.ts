import net from 'node:net';
import { sleep, within } from './children.js';

/**
 * A minimal HTTP/1.1 keep-alive client on raw sockets: each connection sends one request,
 * reads the whole response (Content-Length framed), and sends the next. It costs the
 * load generator far less than a general-purpose client, so the server is what saturates.
 * The same client drives the reference route and the service.
 */
export interface HttpRequestSpec {
  path: string;
  headers?: Record<string, string>;
}

class KeepAliveConnection {
  private socket!: net.Socket;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: ((res: { status: number } | Error) => void) | undefined;

  static async open(port: number): Promise<KeepAliveConnection> {
    const c = new KeepAliveConnection();
    await new Promise<void>((resolve, reject) => {
      c.socket = net.connect({ port, host: '127.0.0.1', noDelay: true }, resolve);
      c.socket.once('error', reject);
    });
    c.socket.on('data', (chunk: Buffer) => c.onData(chunk));
    c.socket.on('error', (err) => c.settle(err));
    c.socket.on('close', () => c.settle(new Error('connection closed')));
    return c;
  }

  request(raw: Buffer): Promise<{ status: number }> {
    return new Promise((resolve, reject) => {
      this.pending = (res) => (res instanceof Error ? reject(res) : resolve(res));
      this.socket.write(raw);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private settle(res: { status: number } | Error): void {
    const p = this.pending;
    this.pending = undefined;
    p?.(res);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    const headerEnd = this.buffer.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const head = this.buffer.toString('latin1', 0, headerEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!length) {
      this.settle(new Error(`response without content-length: ${head.slice(0, 200)}`));
      return;
    }
    const total = headerEnd + 4 + Number(length[1]);
    if (this.buffer.length < total) return;
    this.buffer = this.buffer.subarray(total);
    this.settle({ status: Number(head.slice(9, 12)) });
  }
}

function encode(spec: HttpRequestSpec): Buffer {
  const headers = Object.entries(spec.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  return Buffer.from(`GET ${spec.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers}\r\n`, 'latin1');
}

export interface SaturationResult {
  rps: number;
  ok: number;
  non2xx: number;
  errors: number;
}

/**
 * Closed loop: `connections` keep-alive connections, each with one request in flight, for
 * warmupMs (not counted) then durationMs. Connection i sends requests[i % requests.length].
 */
export async function saturateHttp(
  port: number,
  requests: HttpRequestSpec[],
  o: { connections: number; warmupMs: number; durationMs: number; onWindow?: (counting: boolean) => void },
): Promise<SaturationResult> {
  const conns = await within(Promise.all(Array.from({ length: o.connections }, () => KeepAliveConnection.open(port))), 10_000, 'opening HTTP connections');
  const raws = requests.map(encode);
  let counting = false;
  let stop = false;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  const loops = conns.map(async (c, i) => {
    const raw = raws[i % raws.length]!;
    while (!stop) {
      try {
        const { status } = await c.request(raw);
        if (!counting) continue;
        if (status >= 200 && status < 300) ok++;
        else non2xx++;
      } catch {
        if (counting) errors++;
        return;
      }
    }
  });
  await sleep(o.warmupMs);
  counting = true;
  o.onWindow?.(true);
  const t0 = performance.now();
  await sleep(o.durationMs);
  counting = false;
  o.onWindow?.(false);
  const seconds = (performance.now() - t0) / 1000;
  stop = true;
  await within(Promise.all(loops), 10_000, 'HTTP load draining').catch(() => {});
  for (const c of conns) c.close();
  return { rps: ok / seconds, ok, non2xx, errors };
}

/**
 * Sequential latencies on one keep-alive connection: the requests are taken round-robin,
 * `rounds` times, so every kind sees the same moments of machine noise. Answers the
 * latencies in ms per request index; a non-2xx answer throws.
 */
export async function sequentialLatencies(
  port: number,
  requests: HttpRequestSpec[],
  o: { rounds: number; warmupRounds: number; maxMs: number; onWindow?: (counting: boolean) => void },
): Promise<number[][]> {
  const conn = await KeepAliveConnection.open(port);
  const raws = requests.map(encode);
  const samples = requests.map(() => [] as number[]);
  const deadline = performance.now() + o.maxMs;
  let counting = false;
  try {
    for (let round = 0; round < o.warmupRounds + o.rounds && performance.now() < deadline; round++) {
      if (round === o.warmupRounds) {
        counting = true;
        o.onWindow?.(true);
      }
      for (let i = 0; i < raws.length; i++) {
        const t0 = performance.now();
        const { status } = await within(conn.request(raws[i]!), 10_000, 'history request');
        const ms = performance.now() - t0;
        if (status < 200 || status >= 300) throw new Error(`${requests[i]!.path} answered ${status}`);
        if (round >= o.warmupRounds) samples[i]!.push(ms);
      }
    }
  } finally {
    if (counting) o.onWindow?.(false);
    conn.close();
  }
  return samples;
}
