import WebSocket from 'ws';

/**
 * A real `ws` client that records every frame, so tests can wait for the next frame of
 * a type, assert nothing else arrived, and read the close code.
 */
export interface Frame {
  type: string;
  [key: string]: any;
}

export class ChatClient {
  readonly frames: Frame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  readonly opened: Promise<void>;
  private cursor = 0;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(data.toString()) as Frame);
      this.wake();
    });
    this.opened = new Promise((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        this.wake();
      });
    });
    ws.on('error', () => {});
  }

  static connect(wsBase: string, groupId: string, params: Record<string, string | number | undefined> = {}): ChatClient {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
    const qs = query.toString();
    return new ChatClient(new WebSocket(`${wsBase}/api/v1/ws/groups/${groupId}${qs ? `?${qs}` : ''}`));
  }

  /** Connects and waits for the `connected` frame. */
  static async join(wsBase: string, groupId: string, token: string, params: Record<string, string | number | undefined> = {}): Promise<ChatClient> {
    const client = ChatClient.connect(wsBase, groupId, { token, ...params });
    await client.next('connected');
    return client;
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  get isClosed(): boolean {
    return this.ws.readyState === WebSocket.CLOSED || this.ws.readyState === WebSocket.CLOSING;
  }

  /** The next unread frame (of `type`, skipping others when `skipOthers`), or a timeout error. */
  async next(type?: string, options: { timeoutMs?: number; skipOthers?: boolean } = {}): Promise<Frame> {
    const deadline = Date.now() + (options.timeoutMs ?? 5_000);
    for (;;) {
      while (this.cursor < this.frames.length) {
        const frame = this.frames[this.cursor++]!;
        if (!type || frame.type === type) return frame;
        if (!options.skipOthers) throw new Error(`expected a "${type}" frame, got ${JSON.stringify(frame)}`);
      }
      if (this.isClosed && this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for "${type ?? 'any'}" frame`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for "${type ?? 'any'}" frame; got ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Collects `count` frames of `type`, skipping other types. */
  async collect(type: string, count: number, timeoutMs = 10_000): Promise<Frame[]> {
    const out: Frame[] = [];
    const deadline = Date.now() + timeoutMs;
    while (out.length < count) out.push(await this.next(type, { timeoutMs: Math.max(1, deadline - Date.now()), skipOthers: true }));
    return out;
  }

  /** Frames received but not yet read. */
  unread(): Frame[] {
    return this.frames.slice(this.cursor);
  }

  /** Waits briefly and returns what arrived, for asserting that nothing (else) came. */
  async quiet(ms = 200): Promise<Frame[]> {
    await new Promise((r) => setTimeout(r, ms));
    const rest = this.frames.slice(this.cursor);
    this.cursor = this.frames.length;
    return rest;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.close();
    await this.closed;
  }
}
