import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKeycloakVerifier, JWKS_REFETCH_COOLDOWN_MS } from '../../src/auth/keycloak.js';
import { AppError } from '../../src/errors/app-error.js';
import { call } from '../support/client.js';
import { JwksServer } from '../support/jwks-server.js';
import { startTestService, type TestService } from '../support/service.js';

/** The realm's JWKS: fetched over HTTP, cached, refetched once for an unknown kid, at most every 30 s. */
// Starting a service can take long on a busy machine; the hooks allow for it.
const BOOT_TIMEOUT_MS = 120_000;

/**
 * One service, one story in order: the first token fetches the JWKS, many more fetch
 * nothing, a rotated-in key costs one refetch, then a flood of unknown kids costs none
 * (the rotation refetch started the 30 s cooldown).
 */
describe('JWKS against the real service', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  }, BOOT_TIMEOUT_MS);
  afterAll(async () => t?.stop());

  it('fetches the JWKS once, not per request or per token', async () => {
    expect(t.jwks.fetches).toBe(0);
    const tokens = await Promise.all(Array.from({ length: 20 }, () => t.jwks.sign()));
    const first = await Promise.all(tokens.slice(0, 10).map((token) => call('GET', t.api, { token })));
    for (const token of tokens.slice(10)) expect((await call('GET', t.api, { token })).status).toBe(200);
    expect(first.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(t.jwks.fetches).toBe(1);
  });

  it('accepts a token signed by a key added after the first fetch (one refetch)', async () => {
    expect((await call('GET', t.api, { token: await t.jwks.sign() })).status).toBe(200);
    const before = t.jwks.fetches;
    const original = t.jwks.currentKey;
    const rotated = await t.jwks.rotate();
    const res = await call('GET', t.api, { token: await t.jwks.sign({ key: rotated }) });
    expect(res.status).toBe(200);
    expect(t.jwks.fetches).toBe(before + 1);
    // The old key is still published and still accepted, without another fetch.
    expect((await call('GET', t.api, { token: await t.jwks.sign({ key: original }) })).status).toBe(200);
    expect(t.jwks.fetches).toBe(before + 1);
  });

  it('a flood of unknown kids refetches at most once per 30 s', async () => {
    const before = t.jwks.fetches;
    const rogues = await Promise.all(Array.from({ length: 6 }, () => JwksServer.makeKey()));
    const tokens = await Promise.all(rogues.map((key) => t.jwks.sign({ key })));
    const concurrent = await Promise.all(tokens.slice(0, 3).map((token) => call('GET', t.api, { token })));
    const sequential = [];
    for (const token of tokens.slice(3)) sequential.push(await call('GET', t.api, { token }));
    for (const res of [...concurrent, ...sequential]) {
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('unauthenticated');
    }
    expect(t.jwks.fetches - before).toBeLessThanOrEqual(1);
    // Valid tokens keep working throughout.
    expect((await call('GET', t.api, { token: await t.jwks.sign() })).status).toBe(200);
  });
});

describe('JWKS endpoint unreachable', () => {
  let t: TestService;
  let jwks: JwksServer;
  beforeAll(async () => {
    jwks = await JwksServer.start();
    t = await startTestService({}, jwks);
  }, BOOT_TIMEOUT_MS);
  afterAll(async () => t?.stop());

  it('answers 503, not 401, when the JWKS cannot be fetched', async () => {
    const token = await jwks.sign();
    await jwks.close();
    const res = await call('GET', t.api, { token });
    expect(res.status).toBe(503);
    expect(res.body).toEqual({ detail: expect.any(String), code: 'service_unavailable' });
  });
});

/** The verifier with a controlled clock, still fetching from a real JWKS endpoint. */
describe('createKeycloakVerifier timing', () => {
  let jwks: JwksServer;
  let clock: number;
  beforeAll(async () => {
    jwks = await JwksServer.start();
  });
  afterEach(() => {
    jwks.fetches = 0;
  });
  afterAll(async () => jwks?.close());

  const verifier = () => {
    clock = Date.now();
    return createKeycloakVerifier({ serverUrl: jwks.serverUrl, realm: jwks.realm, clientId: jwks.clientId }, undefined, { now: () => clock });
  };
  const failure = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as AppError);

  it('allows the next unknown-kid refetch only after the cooldown', async () => {
    const v = verifier();
    await v.verify(await jwks.sign());
    const rogue = await JwksServer.makeKey();
    expect((await failure(v.verify(await jwks.sign({ key: rogue }))))?.code).toBe('unauthenticated');
    expect(jwks.fetches).toBe(2);
    clock += JWKS_REFETCH_COOLDOWN_MS - 1_000;
    expect((await failure(v.verify(await jwks.sign({ key: rogue }))))?.code).toBe('unauthenticated');
    expect(jwks.fetches).toBe(2);
    clock += 2_000;
    expect((await failure(v.verify(await jwks.sign({ key: rogue }))))?.code).toBe('unauthenticated');
    expect(jwks.fetches).toBe(3);
  });

  it('refreshes keys after ten minutes even when every kid is known', async () => {
    const v = verifier();
    await v.verify(await jwks.sign());
    clock += 11 * 60_000;
    await v.verify(await jwks.sign({ sub: randomUUID(), expiresInSeconds: 3600 }));
    expect(jwks.fetches).toBe(2);
  });

  it('keeps using cached keys when a scheduled refresh fails', async () => {
    const own = await JwksServer.start();
    clock = Date.now();
    const v = createKeycloakVerifier({ serverUrl: own.serverUrl, realm: own.realm, clientId: own.clientId }, undefined, { now: () => clock });
    await v.verify(await own.sign());
    const later = await own.sign({ expiresInSeconds: 3600 });
    await own.close();
    clock += 11 * 60_000;
    const user = await v.verify(later);
    expect(user.username).toEqual(expect.any(String));
  });

  it('a key unknown at the start is found by the one refetch, and concurrent verifies share it', async () => {
    const v = verifier();
    await v.verify(await jwks.sign());
    const rotated = await jwks.rotate();
    const tokens = await Promise.all(Array.from({ length: 5 }, () => jwks.sign({ key: rotated })));
    const users = await Promise.all(tokens.map((token) => v.verify(token)));
    expect(users).toHaveLength(5);
    expect(jwks.fetches).toBe(2);
  });
});
