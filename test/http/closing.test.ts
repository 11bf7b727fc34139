import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { call, groupBody, makeUser } from '../support/client.js';
import { holdGroupRow, startTestService } from '../support/service.js';

/** Resolves once the port refuses new connections: the server has stopped listening. */
async function untilRefused(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const refused = await new Promise<boolean>((resolve) => {
      const probe = connect(port, '127.0.0.1');
      probe.once('connect', () => {
        probe.destroy();
        resolve(false);
      });
      probe.once('error', () => resolve(true));
    });
    if (refused) return;
    await sleep(20);
  }
  throw new Error(`port ${port} still accepts connections`);
}

function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.once('end', () => resolve(text));
    socket.once('error', reject);
  });
}

describe('requests that arrive while the service closes', { timeout: 60_000 }, () => {
  it('finish what was in flight and answer later ones on the same connection 503 in the error shape', async () => {
    const t = await startTestService({ SHUTDOWN_TIMEOUT_SECONDS: '30' });
    let lock: { release(): Promise<void> } | undefined;
    try {
      const alice = await makeUser(t.jwks, 'alice');
      const created = await call('POST', t.api, { token: alice.token, body: groupBody() });
      expect(created.status).toBe(201);
      const groupId: string = created.body.id;
      const { port } = new URL(t.api);

      // Hold the group's row lock, so that a send over REST stays in flight while the service closes.
      lock = await holdGroupRow(t.service.db, groupId);

      const socket = connect(Number(port), '127.0.0.1');
      const answers = readAll(socket);
      const body = JSON.stringify({ content: 'in flight' });
      socket.write(
        `POST /api/v1/groups/${groupId}/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice.token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Time for the send to reach the batch that waits on the lock.
      await sleep(300);

      const stopping = t.service.stop();
      await untilRefused(Number(port), 10_000);
      socket.write(`GET /api/v1/groups/${groupId} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${alice.token}\r\n\r\n`);
      await sleep(100);
      await lock.release();
      const text = await answers;
      await stopping;

      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
      expect(statuses).toEqual([201, 503]);
      const second = text.slice(text.lastIndexOf('HTTP/1.1 '));
      expect(second).toMatch(/^connection: close\r$/im);
      expect(JSON.parse(second.slice(second.indexOf('\r\n\r\n') + 4))).toEqual({ detail: 'The service is shutting down', code: 'service_unavailable' });
    } finally {
      await lock?.release();
      await t.jwks.close();
    }
  });
});
