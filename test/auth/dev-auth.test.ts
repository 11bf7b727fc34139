import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { call, groupBody } from '../support/client.js';
import { JwksServer } from '../support/jwks-server.js';
import { startTestService, usingServerDatabase, type TestService } from '../support/service.js';
import { claimsOf, headerOf, withBrokenSignature } from '../support/tokens.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Development auth mode: no KEYCLOAK_SERVER_URL, the service signs its own tokens. */
describe('development auth mode', () => {
  let t: TestService;
  let tokenUrl: string;
  beforeAll(async () => {
    t = await startTestService({ KEYCLOAK_SERVER_URL: undefined });
    tokenUrl = `${t.api}/dev/token`;
  }, 120_000);
  afterAll(async () => t?.stop());

  const issue = (username: unknown) => call('POST', tokenUrl, { body: { username } });

  it('issues a token and a stable user id per username', async () => {
    const alice = await issue('alice');
    expect(alice.status).toBe(200);
    expect(alice.body).toMatchObject({ access_token: expect.any(String), user_id: expect.stringMatching(UUID_RE) });
    const again = await issue('alice');
    expect(again.body.user_id).toBe(alice.body.user_id);
    const bob = await issue('bob');
    expect(bob.body.user_id).toMatch(UUID_RE);
    expect(bob.body.user_id).not.toBe(alice.body.user_id);
    expect(claimsOf(alice.body.access_token).sub).toBe(alice.body.user_id);
  });

  it('trims the username', async () => {
    const padded = await issue('  carol  ');
    expect(padded.body.user_id).toBe((await issue('carol')).body.user_id);
  });

  it('signs with an asymmetric algorithm and an expiry', async () => {
    const { access_token: token } = (await issue('dave')).body;
    expect(headerOf(token).alg).toBe('RS256');
    expect(claimsOf(token).exp).toBeGreaterThan(Date.now() / 1000);
  });

  it('the token works on REST and names its user', async () => {
    const { access_token: token, user_id: userId } = (await issue('erin')).body;
    const created = await call('POST', t.api, { token, body: groupBody() });
    expect(created.status).toBe(201);
    const members = await call('GET', `${t.api}/${created.body.id}/members`, { token });
    expect(members.body.members).toEqual([expect.objectContaining({ user_id: userId, username: 'erin', is_admin: true })]);
  });

  it('REST still requires a token', async () => {
    const res = await call('GET', t.api);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('rejects a token with the dev issuer and kid signed by another key', async () => {
    const { access_token: genuine } = (await issue('frank')).body;
    const rogue = await JwksServer.makeKey();
    const forged = await new SignJWT(claimsOf(genuine)).setProtectedHeader(headerOf(genuine) as { alg: string }).sign(rogue.privateKey);
    const res = await call('GET', t.api, { token: forged });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe('unauthenticated');
  });

  it('rejects a token from the Keycloak test realm and a tampered dev token', async () => {
    expect((await call('GET', t.api, { token: await t.jwks.sign() })).status).toBe(401);
    const { access_token: genuine } = (await issue('grace')).body;
    expect((await call('GET', t.api, { token: withBrokenSignature(genuine) })).status).toBe(401);
  });

  it.each([
    ['missing', {}],
    ['empty', { username: '' }],
    ['blank', { username: '   ' }],
    ['a number', { username: 42 }],
    ['null', { username: null }],
    ['an array', { username: ['alice'] }],
    ['too long', { username: 'x'.repeat(101) }],
  ])('answers 422 when the username is %s', async (_name, body) => {
    const res = await call('POST', tokenUrl, { body });
    expect(res.status).toBe(422);
    expect(res.body).toMatchObject({ code: 'validation_error', errors: expect.arrayContaining([expect.objectContaining({ field: expect.stringMatching(/^body/) })]) });
  });

  it('answers 400 for malformed JSON and 422 for no body', async () => {
    expect((await call('POST', tokenUrl, { rawBody: '{"username":' })).status).toBe(400);
    expect((await call('POST', tokenUrl)).status).toBe(422);
  });

  it('is listed in the OpenAPI document in this mode', async () => {
    const doc = await call('GET', `${t.api}/openapi.json`);
    expect(Object.keys(doc.body.paths)).toContain('/api/v1/groups/dev/token');
  });
});

describe('development auth route in Keycloak mode', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  }, 120_000);
  afterAll(async () => t?.stop());

  it('does not exist', async () => {
    const res = await call('POST', `${t.api}/dev/token`, { body: { username: 'alice' } });
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: expect.any(String), code: 'not_found' });
    expect((await call('GET', `${t.api}/dev/jwks`)).status).toBe(404);
    const doc = await call('GET', `${t.api}/openapi.json`);
    expect(Object.keys(doc.body.paths).filter((p) => p.includes('/dev/'))).toEqual([]);
  });
});

describe.skipIf(!usingServerDatabase)('development signing key shared through the database', () => {
  let a: TestService;
  let b: TestService;
  beforeAll(async () => {
    [a, b] = await Promise.all([startTestService({ KEYCLOAK_SERVER_URL: undefined }), startTestService({ KEYCLOAK_SERVER_URL: undefined })]);
  }, 120_000);
  afterAll(async () => Promise.all([a?.stop(), b?.stop()]));

  it("two services on one database accept each other's tokens", async () => {
    const fromA = await call('POST', `${a.api}/dev/token`, { body: { username: 'shared-alice' } });
    const fromB = await call('POST', `${b.api}/dev/token`, { body: { username: 'shared-bob' } });
    expect((await call('GET', b.api, { token: fromA.body.access_token })).status).toBe(200);
    expect((await call('GET', a.api, { token: fromB.body.access_token })).status).toBe(200);
  });
});
