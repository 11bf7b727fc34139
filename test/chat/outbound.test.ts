import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import WebSocket, { WebSocketServer } from 'ws';
import { Connection, type ConnectionHost } from '../../src/chat/connection.js';
import { Deadlines } from '../../src/chat/deadlines.js';
import { PONG_WIRE, serverFrame, wireFrame, wirePayload } from '../../src/chat/frames.js';

/**
 * The outbound path of one chat socket, against a real `ws` server and client on
 * 127.0.0.1: frames are encoded once (WireFrame) and written as they are; writes of one
 * tick are corked into one write; a peer that stops reading is still closed 1008.
 */

const Sender = (wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender;

interface Pair {
  server: WebSocketServer;
  serverWs: WebSocket;
  client: WebSocket;
  received: string[];
  connection: Connection;
  warnings: string[];
  closedByHost: Connection[];
}

const pairs: Pair[] = [];

async function pair(): Promise<Pair> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, clientTracking: false });
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  const received: string[] = [];
  client.on('message', (data) => received.push(data.toString()));
  client.on('error', () => {});
  await once(client, 'open');
  const [serverWs] = (await accepted) as [WebSocket];
  const warnings: string[] = [];
  const closedByHost: Connection[] = [];
  const host: ConnectionHost = {
    verifier: { verify: async () => Promise.reject(new Error('not used')) } as unknown as ConnectionHost['verifier'],
    bus: { kind: 'in-process', publish: async () => {}, subscribe: async () => {}, watch: async () => {}, unwatch: () => {}, check: async () => {}, close: async () => {} },
    post: async () => Promise.reject(new Error('not used')),
    onClosed: (c) => closedByHost.push(c),
    sessions: new Deadlines<Connection>((c) => c.expired()),
    log: { warn: (_obj, msg) => warnings.push(msg), error: (_obj, msg) => warnings.push(msg) },
  };
  const connection = new Connection(serverWs, '00000000-0000-4000-8000-000000000000', host);
  connection.beginSync();
  connection.goLive(0);
  const p = { server, serverWs, client, received, connection, warnings, closedByHost };
  pairs.push(p);
  return p;
}

/** Counts the writes the TCP socket under a server-side ws hands to the kernel. */
function countWrites(ws: WebSocket): { calls: number; chunks: number } {
  const socket = (ws as unknown as { _socket: { _writev: (...a: unknown[]) => unknown; _write: (...a: unknown[]) => unknown } })._socket;
  const counts = { calls: 0, chunks: 0 };
  const writev = socket._writev.bind(socket);
  const write = socket._write.bind(socket);
  socket._writev = (chunks: unknown, cb: unknown) => {
    counts.calls++;
    counts.chunks += (chunks as unknown[]).length;
    return writev(chunks, cb);
  };
  socket._write = (chunk: unknown, encoding: unknown, cb: unknown) => {
    counts.calls++;
    counts.chunks++;
    return write(chunk, encoding, cb);
  };
  return counts;
}

async function until(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const message = (seq: number, content = `m${seq}`) =>
  wireFrame(serverFrame.message({ id: `id-${seq}`, groupId: 'g', seq, userId: 'u', username: 'alice', content, clientId: null, sentAt: '2025-01-01T00:00:00.000Z' }));

afterEach(async () => {
  for (const p of pairs.splice(0)) {
    p.client.terminate();
    p.serverWs.terminate();
    await new Promise((r) => p.server.close(r));
  }
});

describe('wire frames', () => {
  it('are byte for byte what ws itself would frame, for every header size and for non-ASCII text', () => {
    for (const length of [0, 1, 125, 126, 127, 1000, 65_535, 65_536, 70_000]) {
      const json = JSON.stringify({ content: 'x'.repeat(length) }).slice(0, Math.max(2, length));
      const ours = wireFrame(json);
      const theirs = Buffer.concat(Sender.frame(Buffer.from(json), { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false }));
      expect(ours.equals(theirs), `payload of ${Buffer.byteLength(json)} bytes`).toBe(true);
      expect(wirePayload(ours).toString()).toBe(json);
    }
    const unicode = JSON.stringify({ content: 'héllo 👋 \u2028 ✓', lone: '\ud800' });
    expect(wireFrame(unicode).equals(Buffer.concat(Sender.frame(Buffer.from(unicode), { fin: true, opcode: 1, mask: false, readOnly: false })))).toBe(true);
    expect(PONG_WIRE.equals(wireFrame('{"type":"pong"}'))).toBe(true);
  });
});

describe('chat connection outbound', () => {
  it('writes a burst of frames to one socket in one tick as one write, and the peer gets them all, in order', async () => {
    const p = await pair();
    const writes = countWrites(p.serverWs);
    for (let seq = 1; seq <= 50; seq++) p.connection.deliverMessage(seq, message(seq));
    // Corked until the end of the tick: nothing has reached the kernel yet.
    expect(writes.calls).toBe(0);
    await until(() => p.received.length === 50, 10_000, '50 frames');
    expect(writes).toEqual({ calls: 1, chunks: 50 });
    expect(p.received.map((f) => JSON.parse(f).seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('shares one encoded frame between sockets and writes each tick\'s frames at the end of that tick', async () => {
    const [a, b] = [await pair(), await pair()];
    const frame = message(1);
    a.connection.deliverMessage(1, frame);
    b.connection.deliverMessage(1, frame);
    await until(() => a.received.length === 1 && b.received.length === 1, 5_000, 'one frame each');
    expect(a.received).toEqual(b.received);
    // A later tick is not held back by anything: the next frame goes out on its own.
    const writes = countWrites(a.serverWs);
    await new Promise((r) => setImmediate(r));
    a.connection.deliverMessage(2, message(2));
    await until(() => a.received.length === 2, 5_000, 'the second frame');
    expect(writes.calls).toBe(1);
    expect(a.received.map((f) => JSON.parse(f).seq)).toEqual([1, 2]);
  });

  it('never writes a seq twice or out of order, whatever it is handed', async () => {
    const p = await pair();
    for (const seq of [1, 2, 2, 1, 3, 5, 4, 6]) p.connection.deliverMessage(seq, message(seq));
    await until(() => p.received.length >= 5, 5_000, 'frames');
    await new Promise((r) => setTimeout(r, 50));
    expect(p.received.map((f) => JSON.parse(f).seq)).toEqual([1, 2, 3, 5, 6]);
  });

  it('keeps a reading peer that receives megabytes over many ticks', async () => {
    const p = await pair();
    const content = 'z'.repeat(10_000);
    for (let seq = 1; seq <= 300; seq++) {
      p.connection.deliverMessage(seq, message(seq, content));
      if (seq % 5 === 0) await until(() => p.received.length >= seq - 20, 10_000, 'the peer to keep up');
    }
    await until(() => p.received.length === 300, 20_000, 'all 300 frames');
    expect(p.connection.isOpen).toBe(true);
    expect(p.warnings).toEqual([]);
  });

  it('closes 1008 a peer that stops reading once more than 1 MiB is unsent, after an in-order prefix', async () => {
    const p = await pair();
    (p.client as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const content = 'y'.repeat(15_000);
    let seq = 0;
    // One frame per tick, as live messages arrive: the rule must hold while corked per tick.
    while (p.connection.isOpen && seq < 2_000) {
      seq++;
      p.connection.deliverMessage(seq, message(seq, content));
      await new Promise((r) => setImmediate(r));
    }
    expect(p.connection.isOpen).toBe(false);
    expect(p.warnings).toContain('closing a chat socket that stopped reading');
    expect(p.closedByHost).toEqual([p.connection]);
    // Less than the whole of what was sent could have been queued: 1 MiB plus what the kernel holds.
    expect(seq * 15_000).toBeGreaterThan(1024 * 1024);
    const closed = once(p.client, 'close');
    (p.client as unknown as { _socket: { resume(): void } })._socket.resume();
    const [code] = (await closed) as [number];
    expect(code).toBe(1008);
    const seqs = p.received.map((f) => JSON.parse(f).seq);
    expect(seqs.length).toBeLessThan(seq);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
  });

  it('also closes 1008 a stalled peer when a single tick writes far more than 1 MiB to it', async () => {
    const p = await pair();
    (p.client as unknown as { _socket: { pause(): void } })._socket.pause();
    const content = 'w'.repeat(15_000);
    let seq = 0;
    while (p.connection.isOpen && seq < 1_000) {
      seq++;
      p.connection.deliverMessage(seq, message(seq, content));
    }
    expect(p.connection.isOpen).toBe(false);
    // The cork is flushed on the way (every 64 KiB), so the rule is noticed well before the whole run is queued.
    expect(seq).toBeLessThan(1_000);
    const buffered = p.serverWs.bufferedAmount;
    expect(buffered).toBeLessThan(1024 * 1024 + 64 * 1024 + 2 * 15_100 + 16);
  });
});
