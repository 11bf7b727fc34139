import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { expectAlive, groupWith, history } from './helpers.js';

/**
 * Refused frames: each answers the sender alone with an error frame, stores nothing,
 * and leaves the socket open (a ping right after still gets its pong).
 */
describe('chat error frames', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ MAX_MESSAGE_LENGTH: '10', RATE_LIMIT_MESSAGES: '3', RATE_LIMIT_WINDOW: '60' });
  }, 180_000);
  afterAll(async () => t?.stop());

  async function pair(): Promise<{ alice: TestUser; groupId: string; a: ChatClient; b: ChatClient }> {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    await a.next('presence');
    return { alice, groupId, a, b };
  }

  /** Sends `raw`, expects the error frame with `code` as the very next frame, then proves the socket alive. */
  async function expectRefused(a: ChatClient, raw: unknown, code: string): Promise<any> {
    a.send(raw);
    const error = await a.next();
    expect(error, `for ${JSON.stringify(raw)}`).toMatchObject({ type: 'error', code });
    expect(typeof error.message).toBe('string');
    expect(error.message.length).toBeGreaterThan(0);
    await expectAlive(a);
    return error;
  }

  it('refuses empty, whitespace-only and invisible content with VALIDATION_ERROR and stores nothing', async () => {
    const { alice, groupId, a, b } = await pair();
    await expectRefused(a, { type: 'message', content: '' }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'message', content: ' \n\t  ' }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'message', content: '\u200b\u200c\u2060' }, 'VALIDATION_ERROR');
    expect(await b.quiet(200)).toEqual([]);
    expect((await history(t, groupId, alice.token)).total).toBe(0);
    await a.close();
    await b.close();
  });

  it('refuses content over MAX_MESSAGE_LENGTH (after trimming) with MESSAGE_TOO_LONG', async () => {
    const { alice, groupId, a, b } = await pair();
    await expectRefused(a, { type: 'message', content: '12345678901' }, 'MESSAGE_TOO_LONG');
    // Exactly the limit, once trimmed, is accepted.
    a.send({ type: 'message', content: '   1234567890   ' });
    expect(await a.next()).toMatchObject({ type: 'message', seq: 1, content: '1234567890' });
    expect(await b.next('message')).toMatchObject({ seq: 1, content: '1234567890' });
    expect((await history(t, groupId, alice.token)).total).toBe(1);
    await a.close();
    await b.close();
  });

  it('refuses wrong field types and an over-long client_id with VALIDATION_ERROR', async () => {
    const { alice, groupId, a, b } = await pair();
    await expectRefused(a, { type: 'message', content: 5 }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'message', content: null }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'message' }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'message', content: 'hi', client_id: 'x'.repeat(65) }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'message', content: 'hi', client_id: 7 }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'typing', is_typing: 'yes' }, 'VALIDATION_ERROR');
    await expectRefused(a, { type: 'auth' }, 'VALIDATION_ERROR');
    expect(await b.quiet(200)).toEqual([]);
    expect((await history(t, groupId, alice.token)).total).toBe(0);
    // A client_id of exactly 64 characters is fine.
    a.send({ type: 'message', content: 'ok', client_id: 'y'.repeat(64) });
    expect(await a.next()).toMatchObject({ type: 'message', seq: 1, client_id: 'y'.repeat(64) });
    await a.close();
    await b.close();
  });

  it('answers text that is not JSON with PARSE_ERROR', async () => {
    const { a, b } = await pair();
    await expectRefused(a, '{"type": "message", "content": ', 'PARSE_ERROR');
    await expectRefused(a, 'hello', 'PARSE_ERROR');
    expect(await b.quiet(200)).toEqual([]);
    await a.close();
    await b.close();
  });

  it('answers a binary frame with PARSE_ERROR, and JSON that is not an object with an error', async () => {
    const { a, b } = await pair();
    a.ws.send(Buffer.from(JSON.stringify({ type: 'ping' })), { binary: true });
    expect(await a.next()).toMatchObject({ type: 'error', code: 'PARSE_ERROR' });
    await expectAlive(a);
    for (const raw of ['5', 'null', '[]', '"ping"']) {
      a.send(raw);
      const error = await a.next();
      expect(error.type, raw).toBe('error');
      expect(['VALIDATION_ERROR', 'INVALID_MESSAGE_TYPE']).toContain(error.code);
      await expectAlive(a);
    }
    expect(await b.quiet(200)).toEqual([]);
    await a.close();
    await b.close();
  });

  it('answers an unknown or missing type with INVALID_MESSAGE_TYPE', async () => {
    const { a, b } = await pair();
    await expectRefused(a, { type: 'shout', content: 'hi' }, 'INVALID_MESSAGE_TYPE');
    await expectRefused(a, { content: 'no type' }, 'INVALID_MESSAGE_TYPE');
    await expectRefused(a, { type: 'pong' }, 'INVALID_MESSAGE_TYPE');
    await expectRefused(a, { type: 'toString' }, 'INVALID_MESSAGE_TYPE');
    expect(await b.quiet(200)).toEqual([]);
    await a.close();
    await b.close();
  });

  it('refuses a message over the rate limit with RATE_LIMIT_EXCEEDED and retry_after, neither storing nor delivering it', async () => {
    const { alice, groupId, a, b } = await pair();
    for (let i = 1; i <= 3; i++) {
      a.send({ type: 'message', content: `m${i}` });
      expect(await a.next()).toMatchObject({ type: 'message', seq: i });
    }
    expect((await b.collect('message', 3)).map((f) => f.seq)).toEqual([1, 2, 3]);
    const error = await expectRefused(a, { type: 'message', content: 'm4' }, 'RATE_LIMIT_EXCEEDED');
    expect(Number.isInteger(error.retry_after)).toBe(true);
    expect(error.retry_after).toBeGreaterThanOrEqual(1);
    expect(error.retry_after).toBeLessThanOrEqual(60);
    expect(await b.quiet(300)).toEqual([]);
    expect((await history(t, groupId, alice.token)).total).toBe(3);
    await a.close();
    await b.close();
  });

  it('does not count refused frames toward the rate limit', async () => {
    const { a, b } = await pair();
    for (let i = 0; i < 5; i++) await expectRefused(a, { type: 'message', content: '   ' }, 'VALIDATION_ERROR');
    for (let i = 0; i < 5; i++) await expectRefused(a, { type: 'message', content: 'far too long here' }, 'MESSAGE_TOO_LONG');
    for (let i = 1; i <= 3; i++) {
      a.send({ type: 'message', content: `ok${i}` });
      expect(await a.next()).toMatchObject({ type: 'message', seq: i });
    }
    await a.close();
    await b.close();
  });
});
