import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/client.js';
import { startTestService, usingServerDatabase, type TestService } from '../support/service.js';

describe('health endpoints', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  }, 120_000);
  afterAll(async () => t?.stop());

  it('GET /health answers 200 with the exact liveness body, without a token', async () => {
    const res = await call('GET', `${t.api}/health`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'healthy', service: 'group-service' });
  });

  it('GET /health/ready answers 200 with checks.database "ok"', async () => {
    const res = await call('GET', `${t.api}/health/ready`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: 'ready', checks: { database: 'ok' } });
    expect(Object.values(res.body.checks).every((v) => v === 'ok')).toBe(true);
  });

  it('lists a redis check when REDIS_URL is configured', async () => {
    const res = await call('GET', `${t.api}/health/ready`);
    if (process.env.REDIS_URL) expect(res.body.checks.redis).toBe('ok');
    else expect(res.body.checks.redis).toBeUndefined();
  });
});

/**
 * A TCP relay between the service and PostgreSQL that the test can cut, as a network
 * partition or a database restart would: nothing in the service is mocked.
 */
class Relay {
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  up = true;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = createServer((client) => {
      if (!this.up) return void client.destroy();
      const upstream = connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe.skipIf(!usingServerDatabase)('readiness when the database is unreachable', () => {
  let t: TestService;
  let relay: Relay;
  beforeAll(async () => {
    const url = new URL(process.env.TEST_DATABASE_URL!);
    relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
    await relay.start();
    url.hostname = '127.0.0.1';
    url.port = String(relay.port);
    t = await startTestService({ DATABASE_URL: url.toString() });
  }, 120_000);
  afterAll(async () => {
    relay?.restore();
    await t?.stop();
    await relay?.close();
  });

  it('turns 503 with checks.database "error" while cut off, and 200 again once back', async () => {
    expect((await call('GET', `${t.api}/health/ready`)).status).toBe(200);
    relay.cut();
    const down = await call('GET', `${t.api}/health/ready`);
    expect(down.status).toBe(503);
    expect(down.body).toMatchObject({ status: 'not_ready', checks: { database: 'error' } });
    // Liveness touches no dependency.
    expect((await call('GET', `${t.api}/health`)).status).toBe(200);
    relay.restore();
    // The database answers at once; listeners (the bus) reconnect on their own schedule.
    let up = await call('GET', `${t.api}/health/ready`);
    expect(up.body.checks.database).toBe('ok');
    for (let i = 0; i < 60 && up.status !== 200; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      up = await call('GET', `${t.api}/health/ready`);
    }
    expect(up.status, JSON.stringify(up.body)).toBe(200);
  });

  it('a REST request needing the database answers 503 {detail, code} while cut off', async () => {
    const token = await t.jwks.sign();
    expect((await call('GET', t.api, { token })).status).toBe(200);
    relay.cut();
    try {
      const res = await call('GET', t.api, { token: await t.jwks.sign() });
      expect(res.status).toBe(503);
      expect(res.body).toEqual({ detail: expect.any(String), code: 'service_unavailable' });
    } finally {
      relay.restore();
    }
  });
});
