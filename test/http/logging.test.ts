import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { call } from '../support/client.js';
import { JwksServer } from '../support/jwks-server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * The service as operators run it (`src/main.ts`, LOG_LEVEL=INFO, JSON logs on stdout),
 * in a child process: what it prints is what a log pipeline would store.
 */
describe('request logs', () => {
  let jwks: JwksServer;
  let child: ChildProcess;
  let output = '';
  let base = '';

  beforeAll(async () => {
    jwks = await JwksServer.start();
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'INFO',
        DATA_DIR: 'memory://',
        KEYCLOAK_SERVER_URL: jwks.serverUrl,
        KEYCLOAK_REALM: jwks.realm,
        KEYCLOAK_CLIENT_ID: jwks.clientId,
        ...(process.env.TEST_DATABASE_URL ? { DATABASE_URL: process.env.TEST_DATABASE_URL } : {}),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Compiling and booting can take long on a busy machine.
    base = await waitFor(() => /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1], 110_000);
  }, 120_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    await jwks?.close();
  });

  /** Polls until `probe` yields a value; bounded. */
  async function waitFor<T>(probe: () => T | undefined, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${output.slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const completed = (requestId: string) => waitFor(() => (output.split('\n').some((l) => l.includes(requestId) && l.includes('request completed')) ? true : undefined));

  it('logs JSON lines with the request id, never the bearer token', async () => {
    const token = await jwks.sign();
    const requestId = `log-test-${randomUUID()}`;
    const res = await call('GET', `${base}/api/v1/groups`, { token, headers: { 'x-request-id': requestId } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe(requestId);
    await completed(requestId);
    expect(output).toContain(requestId);
    expect(output).not.toContain(token);
    expect(output).not.toContain(token.split('.')[2]!);
  });

  it('never logs a rejected token or a malformed Authorization header', async () => {
    const forged = `${(await jwks.sign()).slice(0, -10)}AAAAAAAAAA`;
    const secret = `s3cret-${randomUUID()}`;
    const a = await call('GET', `${base}/api/v1/groups`, { token: forged });
    const b = await call('GET', `${base}/api/v1/groups`, { headers: { authorization: `Basic ${secret}` } });
    expect([a.status, b.status]).toEqual([401, 401]);
    await completed(b.headers.get('x-request-id')!);
    expect(output).not.toContain(forged);
    expect(output).not.toContain(secret);
  });

  it('never logs a ?token= query value, however the name is spelled', async () => {
    const tokens = await Promise.all([jwks.sign(), jwks.sign(), jwks.sign()]);
    const urls = [`/api/v1/groups?token=${tokens[0]}&limit=5`, `/api/v1/groups?limit=5&%74oken=${tokens[1]}`, `/api/v1/nope?TOKEN=${tokens[2]}`];
    let last = '';
    for (const url of urls) {
      const res = await call('GET', `${base}${url}`, { token: tokens[0] });
      expect(res.status).toBeLessThan(500);
      last = res.headers.get('x-request-id')!;
    }
    await completed(last);
    for (const token of tokens) expect(output).not.toContain(token);
    expect(output).toContain('token=[redacted]');
  });

  it('never logs the token of a WebSocket sign-in', async () => {
    const token = await jwks.sign();
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/ws/groups/${randomUUID()}?token=${token}`);
    const closed = await new Promise<number>((resolve) => {
      ws.on('close', (code) => resolve(code));
      ws.on('error', () => resolve(-1));
    });
    expect(closed).not.toBe(1000);
    await waitFor(() => (output.includes('/api/v1/ws/groups/') ? true : undefined));
    expect(output).not.toContain(token);
  });

  it('replaces an unusable incoming request id with its own', async () => {
    const res = await call('GET', `${base}/api/v1/groups/health`, { headers: { 'x-request-id': 'has spaces and "quotes"' } });
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});
