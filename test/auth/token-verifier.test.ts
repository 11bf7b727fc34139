import { randomUUID } from 'node:crypto';
import { createLocalJWKSet, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier } from '../../src/auth/token-verifier.js';
import { AppError } from '../../src/errors/app-error.js';
import { call, groupBody, type ApiResponse } from '../support/client.js';
import { JwksServer } from '../support/jwks-server.js';
import { startTestService, type TestService } from '../support/service.js';
import { hmacWithPublicKey, nowSeconds, unsignedToken, withBrokenSignature, withPayload } from '../support/tokens.js';

/** Attacks on REST authentication, against the real service and a real JWKS endpoint. */
describe('bearer token verification (Keycloak mode)', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  }, 120_000);
  afterAll(async () => t?.stop());

  const list = (token: string) => call('GET', `${t.api}?limit=1`, { token });

  function expectUnauthenticated(res: ApiResponse): void {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body).toEqual({ detail: expect.any(String), code: 'unauthenticated' });
    expect(res.body.detail.length).toBeGreaterThan(0);
  }

  it('accepts a valid token', async () => {
    const res = await list(await t.jwks.sign());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ groups: expect.any(Array), total: expect.any(Number) });
  });

  it('rejects a missing token with 401 and WWW-Authenticate: Bearer', async () => {
    expectUnauthenticated(await call('GET', t.api));
    expectUnauthenticated(await call('POST', t.api, { body: groupBody() }));
  });

  it.each([
    ['another scheme', 'Basic dXNlcjpwYXNz'],
    ['scheme without token', 'Bearer'],
    ['scheme and blank', 'Bearer    '],
    ['two tokens', 'Bearer a.b.c d.e.f'],
    ['token without scheme', 'eyJhbGciOiJSUzI1NiJ9.e30.sig'],
    ['not a JWT', 'Bearer not-a-jwt'],
    ['JWT with empty parts', 'Bearer ..'],
  ])('rejects a malformed Authorization header: %s', async (_name, header) => {
    expectUnauthenticated(await call('GET', t.api, { headers: { authorization: header } }));
  });

  it('accepts the scheme case-insensitively', async () => {
    const token = await t.jwks.sign();
    expect((await call('GET', t.api, { headers: { authorization: `bearer ${token}` } })).status).toBe(200);
  });

  it('reads the header the same way once the token is cached (fast path) as before', async () => {
    const token = await t.jwks.sign();
    const get = (authorization: string) => call('GET', `${t.api}?limit=1`, { headers: { authorization } });
    for (let round = 0; round < 2; round += 1) {
      // round 0 verifies the token (and caches it); round 1 is served from the cache.
      expect((await get(`Bearer ${token}`)).status).toBe(200);
      expect((await get(`bearer ${token}`)).status).toBe(200);
      expect((await get(`BEARER   ${token}   `)).status).toBe(200);
      for (const bad of [`Bearer ${token}x`, `Bearer ${token} x`, `Bearer x${token}`, `Bearer ${token.slice(0, -1)}`, `Bearer${token}`, `Basic ${token}`]) {
        expectUnauthenticated(await get(bad));
      }
    }
  });

  it('rejects a token expired beyond the 30 s leeway', async () => {
    expectUnauthenticated(await list(await t.jwks.sign({ expiresInSeconds: -45 })));
  });

  it('accepts a token expired within the 30 s leeway', async () => {
    expect((await list(await t.jwks.sign({ expiresInSeconds: -10 }))).status).toBe(200);
  });

  it('rejects a token without exp', async () => {
    expectUnauthenticated(await list(await t.jwks.sign({ claims: { exp: undefined } })));
  });

  it('rejects nbf in the future beyond the leeway, accepts it within', async () => {
    expectUnauthenticated(await list(await t.jwks.sign({ claims: { nbf: nowSeconds() + 120 } })));
    expect((await list(await t.jwks.sign({ claims: { nbf: nowSeconds() + 10 } }))).status).toBe(200);
  });

  it('rejects a wrong or near-miss issuer', async () => {
    for (const iss of [`${t.jwks.serverUrl}/realms/other`, `${t.jwks.issuer}/`, t.jwks.issuer.toUpperCase(), undefined]) {
      expectUnauthenticated(await list(await t.jwks.sign({ claims: { iss } })));
    }
  });

  it('rejects a token whose azp and aud both name another client', async () => {
    expectUnauthenticated(await list(await t.jwks.sign({ claims: { azp: 'other-client', aud: ['account', 'other-client'] } })));
    expectUnauthenticated(await list(await t.jwks.sign({ claims: { azp: undefined, aud: undefined } })));
  });

  it('accepts azp equal to the client id with a foreign aud', async () => {
    expect((await list(await t.jwks.sign({ claims: { azp: t.jwks.clientId, aud: 'account' } }))).status).toBe(200);
  });

  it('accepts aud containing the client id with a foreign or missing azp', async () => {
    expect((await list(await t.jwks.sign({ claims: { azp: 'other-client', aud: ['account', t.jwks.clientId] } }))).status).toBe(200);
    expect((await list(await t.jwks.sign({ claims: { azp: undefined, aud: t.jwks.clientId } }))).status).toBe(200);
  });

  it('rejects alg none', async () => {
    const claims = { iss: t.jwks.issuer, sub: randomUUID(), azp: t.jwks.clientId, exp: nowSeconds() + 300 };
    expectUnauthenticated(await list(unsignedToken(claims, { kid: t.jwks.currentKey.kid })));
    expectUnauthenticated(await list(unsignedToken(claims, { alg: 'NONE', kid: t.jwks.currentKey.kid })));
  });

  it('rejects HS256 signed with the RSA public key as the HMAC secret', async () => {
    const claims = { iss: t.jwks.issuer, sub: randomUUID(), azp: t.jwks.clientId, exp: nowSeconds() + 300 };
    expectUnauthenticated(await list(await hmacWithPublicKey(t.jwks.currentKey, claims)));
  });

  it('rejects a tampered signature', async () => {
    expectUnauthenticated(await list(withBrokenSignature(await t.jwks.sign())));
  });

  it('rejects a tampered payload (another sub) even after the original token was accepted', async () => {
    const token = await t.jwks.sign();
    expect((await list(token)).status).toBe(200);
    expectUnauthenticated(await list(withPayload(token, { sub: randomUUID() })));
    expectUnauthenticated(await list(withPayload(token, { exp: nowSeconds() + 86_400 })));
  });

  it('rejects a token signed by a key the JWKS does not publish, with a known kid', async () => {
    const rogue = await JwksServer.makeKey();
    const token = await t.jwks.sign({ key: { ...rogue, kid: t.jwks.currentKey.kid } });
    expectUnauthenticated(await list(token));
  });

  it.each([['not-a-uuid'], ['12345'], [''], ['00000000-0000-0000-0000-00000000000g']])('rejects sub %j', async (sub) => {
    expectUnauthenticated(await list(await t.jwks.sign({ sub })));
  });

  it('rejects a token without sub', async () => {
    expectUnauthenticated(await list(await t.jwks.sign({ claims: { sub: undefined } })));
  });

  it('checks the token before the path: 401 without one, 422 for a bad id with one', async () => {
    expectUnauthenticated(await call('GET', `${t.api}/not-a-uuid`));
    const res = await call('GET', `${t.api}/not-a-uuid`, { token: await t.jwks.sign() });
    expect(res.status).toBe(422);
  });

  describe('username is preferred_username, else email, else sub', () => {
    async function usernameFor(claims: Record<string, unknown>): Promise<{ sub: string; username: string }> {
      const sub = randomUUID();
      const token = await t.jwks.sign({ sub, claims });
      const created = await call('POST', t.api, { token, body: groupBody() });
      expect(created.status).toBe(201);
      const members = await call('GET', `${t.api}/${created.body.id}/members`, { token });
      expect(members.status).toBe(200);
      expect(members.body.members).toHaveLength(1);
      expect(members.body.members[0].user_id).toBe(sub);
      return { sub, username: members.body.members[0].username };
    }

    it('uses preferred_username when present', async () => {
      expect((await usernameFor({ preferred_username: 'alice', email: 'alice@example.com' })).username).toBe('alice');
    });

    it('falls back to email', async () => {
      expect((await usernameFor({ preferred_username: undefined, email: 'bob@example.com' })).username).toBe('bob@example.com');
    });

    it('falls back to email when preferred_username is blank or not a string', async () => {
      expect((await usernameFor({ preferred_username: '  ', email: 'carol@example.com' })).username).toBe('carol@example.com');
      expect((await usernameFor({ preferred_username: 42, email: 'dave@example.com' })).username).toBe('dave@example.com');
    });

    it('falls back to sub', async () => {
      const { sub, username } = await usernameFor({ preferred_username: undefined, email: undefined });
      expect(username).toBe(sub);
    });

    it('stores the user id in lower case when sub is upper case', async () => {
      const sub = randomUUID().toUpperCase();
      const token = await t.jwks.sign({ sub });
      const created = await call('POST', t.api, { token, body: groupBody() });
      expect(created.status).toBe(201);
      const members = await call('GET', `${t.api}/${created.body.id}/members`, { token });
      expect(members.body.members[0].user_id).toBe(sub.toLowerCase());
    });
  });
});

/** The verifier alone, with a local key set and a clock the test controls. */
describe('createTokenVerifier', () => {
  const issuer = 'https://idp.example.com/realms/crewup';
  const clientId = 'crewup-frontend';

  async function setup() {
    const key = await JwksServer.makeKey();
    let clock = Date.now();
    const verified: string[] = [];
    const verifier = createTokenVerifier({
      keys: createLocalJWKSet({ keys: [key.publicJwk] }),
      issuer,
      clientId,
      now: () => clock,
      onVerified: async (user) => void verified.push(user.userId),
    });
    const sign = (exp: number, sub = randomUUID()) =>
      new SignJWT({ azp: clientId, preferred_username: 'zoe' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid })
        .setIssuer(issuer)
        .setSubject(sub)
        .setExpirationTime(exp)
        .sign(key.privateKey);
    return { verifier, sign, verified, advance: (ms: number) => void (clock += ms), at: () => clock };
  }

  async function rejection(promise: Promise<unknown>): Promise<AppError> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AppError);
    return err as AppError;
  }

  it('returns the user and its expiry (exp plus leeway)', async () => {
    const s = await setup();
    const exp = Math.floor(s.at() / 1000) + 60;
    const sub = randomUUID();
    const user = await s.verifier.verify(await s.sign(exp, sub));
    expect(user).toEqual({ userId: sub, username: 'zoe', expiresAtMs: (exp + 30) * 1000 });
  });

  it('caches a verified token until it expires: onVerified runs once', async () => {
    const s = await setup();
    const token = await s.sign(Math.floor(s.at() / 1000) + 60);
    for (let i = 0; i < 5; i += 1) await s.verifier.verify(token);
    expect(s.verified).toHaveLength(1);
  });

  it('rejects a cached token once exp plus leeway has passed', async () => {
    const s = await setup();
    const exp = Math.floor(s.at() / 1000) + 60;
    const token = await s.sign(exp);
    await s.verifier.verify(token);
    s.advance((exp + 29) * 1000 - s.at());
    await expect(s.verifier.verify(token)).resolves.toMatchObject({ username: 'zoe' });
    s.advance(2_000);
    const err = await rejection(s.verifier.verify(token));
    expect(err.code).toBe('unauthenticated');
    expect(err.message).toMatch(/expired/i);
    // Not resurrected by a second attempt either.
    expect((await rejection(s.verifier.verify(token))).code).toBe('unauthenticated');
  });

  it('cached() answers only for the exact text of a verified, unexpired token', async () => {
    const s = await setup();
    const exp = Math.floor(s.at() / 1000) + 60;
    const token = await s.sign(exp);
    expect(s.verifier.cached(token)).toBeUndefined();
    const user = await s.verifier.verify(token);
    expect(s.verifier.cached(token)).toBe(user);
    // The same signature (so the same tail) under another payload, and a prefix or extension.
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = `${header}.${payload.slice(0, -2)}${payload.endsWith('A') ? 'B' : 'A'}${payload.slice(-1)}.${signature}`;
    for (const other of [forged, token.slice(1), `x${token}`, `${token}x`, token.slice(-32)]) expect(s.verifier.cached(other)).toBeUndefined();
    for (const other of [forged, `x${token}`]) expect((await rejection(s.verifier.verify(other))).code).toBe('unauthenticated');
    // The forged one did not evict the real one.
    expect(s.verifier.cached(token)).toBe(user);
    s.advance((exp + 31) * 1000 - s.at());
    expect(s.verifier.cached(token)).toBeUndefined();
  });

  it('rejects a token whose exp passed before it was first seen, and never calls onVerified for it', async () => {
    const s = await setup();
    const token = await s.sign(Math.floor(s.at() / 1000) + 60);
    s.advance(95_000);
    expect((await rejection(s.verifier.verify(token))).message).toMatch(/expired/i);
    expect(s.verified).toHaveLength(0);
  });
});
