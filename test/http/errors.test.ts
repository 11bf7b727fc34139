import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, groupBody, makeUser, type ApiResponse, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

/** The cross-cutting REST error contract: `{detail, code}`, the right status, never a 500 for bad input. */
describe('REST errors', () => {
  let t: TestService;
  let user: TestUser;
  let groupId: string;
  beforeAll(async () => {
    t = await startTestService();
    user = await makeUser(t.jwks);
    const created = await call('POST', t.api, { token: user.token, body: groupBody() });
    expect(created.status).toBe(201);
    groupId = created.body.id;
  }, 120_000);
  afterAll(async () => t?.stop());

  function expectError(res: ApiResponse, status: number, code: string): void {
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ detail: expect.any(String), code });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(JSON.stringify(res.body)).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack trace
  }

  /** The shape every error answer has; successes are left alone. */
  function expectWellFormed(res: ApiResponse): void {
    expect(res.status).toBeLessThan(500);
    if (res.status >= 400) {
      expect(typeof res.body?.detail, JSON.stringify(res.body)).toBe('string');
      expect(typeof res.body?.code, JSON.stringify(res.body)).toBe('string');
    }
  }

  it('malformed JSON → 400 malformed_json', async () => {
    for (const rawBody of ['{"name":', '{name: 1}', "{'a':1}", '[1,]', 'nul', '{"a":1}}']) {
      expectError(await call('POST', t.api, { token: user.token, rawBody }), 400, 'malformed_json');
    }
  });

  it('a prototype-poisoning body is refused, not merged', async () => {
    const res = await call('POST', t.api, { token: user.token, rawBody: JSON.stringify(groupBody()).replace('{', '{"__proto__":{"isAdmin":true},') });
    expect([400, 422]).toContain(res.status);
    expectWellFormed(res);
  });

  it('an empty body with Content-Type: application/json is no body: 422 where one is needed, fine where not', async () => {
    expectError(await call('POST', t.api, { token: user.token, rawBody: '' }), 422, 'validation_error');
    const owner = await makeUser(t.jwks);
    const created = await call('POST', t.api, { token: owner.token, body: groupBody() });
    const joined = await call('POST', `${t.api}/${created.body.id}/join`, { token: user.token, rawBody: '' });
    expect(joined.status).toBe(200);
  });

  it('a body over 64 KiB → 413 payload_too_large', async () => {
    const body = groupBody({ description: 'x'.repeat(70 * 1024) });
    expectError(await call('POST', t.api, { token: user.token, body }), 413, 'payload_too_large');
  });

  it('a body just under 64 KiB is read (and then validated)', async () => {
    const res = await call('POST', t.api, { token: user.token, body: groupBody({ description: 'x'.repeat(60 * 1024) }) });
    expectError(res, 422, 'validation_error');
  });

  it.each([['text/plain'], ['application/xml'], ['application/x-www-form-urlencoded'], ['multipart/form-data; boundary=x']])(
    'Content-Type %s → 415 unsupported_media_type',
    async (contentType) => {
      const res = await call('POST', t.api, { token: user.token, rawBody: JSON.stringify(groupBody()), headers: { 'content-type': contentType } });
      expectError(res, 415, 'unsupported_media_type');
    },
  );

  it('application/json with a charset is accepted', async () => {
    const res = await call('POST', t.api, { token: user.token, rawBody: JSON.stringify(groupBody()), headers: { 'content-type': 'application/json; charset=utf-8' } });
    expect(res.status).toBe(201);
  });

  it('a non-UUID path id → 422 with errors[].field "params.id"', async () => {
    for (const path of ['/not-a-uuid', '/123', '/not-a-uuid/members', '/not-a-uuid/messages', '/not-a-uuid/join']) {
      const method = path.endsWith('/join') ? 'POST' : 'GET';
      const res = await call(method, `${t.api}${path}`, { token: user.token });
      expectError(res, 422, 'validation_error');
      expect(res.body.errors).toContainEqual({ field: 'params.id', message: expect.any(String) });
    }
  });

  it('a non-UUID member id → 422 naming params.user_id', async () => {
    const res = await call('DELETE', `${t.api}/${groupId}/members/nope`, { token: user.token });
    expectError(res, 422, 'validation_error');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('params.user_id');
  });

  it('a bad query value → 422 naming query.<name>', async () => {
    const res = await call('GET', `${t.api}?limit=abc`, { token: user.token });
    expectError(res, 422, 'validation_error');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('query.limit');
  });

  it('an invalid body field → 422 naming body.<name>', async () => {
    const res = await call('POST', t.api, { token: user.token, body: { name: 'x' } });
    expectError(res, 422, 'validation_error');
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain('body.event_id');
  });

  it('a NUL character (which PostgreSQL cannot store) → 422 naming the field, not 500', async () => {
    const body = await call('POST', t.api, { token: user.token, body: groupBody({ name: 'a\u0000b' }) });
    expectError(body, 422, 'validation_error');
    expect(body.body.errors).toContainEqual({ field: 'body.name', message: expect.any(String) });
    const query = await call('GET', `${t.api}/${groupId}/messages?q=%00`, { token: user.token });
    expectError(query, 422, 'validation_error');
    expect(query.body.errors).toContainEqual({ field: 'query.q', message: expect.any(String) });
  });

  it('an unknown route → 404 {detail, code}', async () => {
    for (const [method, url] of [
      ['GET', `${t.service.url}/nope`],
      ['GET', `${t.api}/${groupId}/nope`],
      ['POST', `${t.api}/${groupId}/members/${randomUUID()}/extra`],
      ['PATCH', t.api],
    ] as const) {
      const res = await call(method, url, { token: user.token });
      expectError(res, 404, 'not_found');
      expect(Object.keys(res.body).sort()).toEqual(['code', 'detail']);
      expect(res.headers.get('x-request-id')).toBeTruthy();
    }
  });

  it('a path that cannot be percent-decoded → 400 {detail, code}', async () => {
    for (const id of ['%', '%E0%A4%A', '%zz']) {
      const res = await call('GET', `${t.api}/${id}`, { token: user.token });
      expectError(res, 400, 'bad_request');
      expect(res.headers.get('x-request-id')).toBeTruthy();
    }
  });

  it('an over-long path id → 422 {detail, code, errors}', async () => {
    const res = await call('GET', `${t.api}/${'a'.repeat(300)}`, { token: user.token });
    expectError(res, 422, 'validation_error');
    expect(res.body.errors).toEqual([{ field: 'params', message: expect.any(String) }]);
  });

  describe('fuzz: never a 500 for bad input', { timeout: 120_000 }, () => {
    // Arbitrary code points, plus a small alphabet dense in what breaks parsers: %, NUL, \\, surrogates.
    const nasty = fc.constantFrom('%', '%0', '%zz', '\u0000', '\\', '_', 'a', 'F', '0', '-', ' ', '\ud800', 'é', '🙂', '"', "'", '{', '..', ':', 'T', 'Z');
    const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: nasty, maxLength: 12 }));
    const runs = { numRuns: 120 };

    it('random JSON values as a create-group body', async () => {
      const value = fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.record(
          { event_id: fc.oneof(fc.uuid(), text), name: fc.oneof(text, fc.integer()), description: fc.oneof(text, fc.constant(null)), max_members: fc.oneof(fc.integer(), fc.double(), text), is_private: fc.oneof(fc.boolean(), text) },
          { requiredKeys: [] },
        ),
      );
      await fc.assert(fc.asyncProperty(value, async (body) => expectWellFormed(await call('POST', t.api, { token: user.token, body }))), runs);
    });

    it('random strings as a raw JSON body', async () => {
      await fc.assert(fc.asyncProperty(text, async (rawBody) => expectWellFormed(await call('POST', t.api, { token: user.token, rawBody }))), runs);
    });

    it('random strings as path ids', async () => {
      await fc.assert(
        fc.asyncProperty(text, fc.constantFrom('', '/members', '/messages', '/join'), async (id, suffix) => {
          const method = suffix === '/join' ? 'POST' : 'GET';
          expectWellFormed(await call(method, `${t.api}/${encodeURIComponent(Buffer.from(id).toString())}${suffix}`, { token: user.token }));
          expectWellFormed(await call(method, `${t.api}/${id.replace(/[/?#.\\]/g, '')}${suffix}`, { token: user.token }));
        }),
        runs,
      );
    });

    it('random strings as query parameters', async () => {
      const names = fc.constantFrom('event_id', 'mine', 'limit', 'offset', 'before_seq', 'after_seq', 'sender_id', 'q', 'since', 'until');
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(names, text), { maxLength: 4 }), async (pairs) => {
          const query = new URLSearchParams(pairs).toString();
          expectWellFormed(await call('GET', `${t.api}?${query}`, { token: user.token }));
          expectWellFormed(await call('GET', `${t.api}/${groupId}/messages?${query}`, { token: user.token }));
        }),
        runs,
      );
    });
  });
});
