import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, expectFieldError } from '../support/api-helpers.js';
import { call, makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { allMessages, groupWith, history, ISO_Z, postMessage, sent, STARTUP_TIMEOUT_MS, users, UUID_RE } from './helpers.js';

const MAX = 20;

describe('POST /{id}/messages', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000', RATE_LIMIT_WINDOW: '60', MAX_MESSAGE_LENGTH: String(MAX) });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  it('answers 201 with the stored Message, trimmed, and numbers messages 1, 2, 3', async () => {
    const [alice, bob] = await users(t, 2);
    const groupId = await groupWith(t, alice!, [bob!]);
    const res = await postMessage(t, alice!, groupId, '  \n Hello there\t ');
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['content', 'group_id', 'id', 'sender_id', 'sent_at', 'seq', 'username'].sort());
    expect(res.body).toMatchObject({ group_id: groupId, seq: 1, sender_id: alice!.id, username: alice!.username, content: 'Hello there' });
    expect(res.body.id).toMatch(UUID_RE);
    expect(res.body.sent_at).toMatch(ISO_Z);
    expect(Math.abs(Date.parse(res.body.sent_at) - Date.now())).toBeLessThan(60_000);

    const second = await sent(t, bob!, groupId, 'two');
    const third = await sent(t, alice!, groupId, 'three');
    expect([second.seq, third.seq]).toEqual([2, 3]);
    expect(second.sender_id).toBe(bob!.id);
    const stored = await allMessages(t, bob!, groupId);
    expect(stored).toEqual([res.body, second, third]);
  });

  it('delivers a REST message to sockets exactly like one sent over WebSocket', async () => {
    const [alice, bob] = await users(t, 2);
    const groupId = await groupWith(t, alice!, [bob!]);
    const b = await ChatClient.join(t.wsBase, groupId, bob!.token);
    try {
      const m = await sent(t, alice!, groupId, ' via rest ', 'rest-1');
      const frame = await b.next('message', { skipOthers: true });
      expect(frame).toEqual({
        type: 'message', id: m.id, group_id: groupId, seq: m.seq, user_id: alice!.id, username: alice!.username,
        content: 'via rest', timestamp: m.sent_at, client_id: 'rest-1',
      });
    } finally {
      await b.close();
    }
  });

  it('refuses empty, whitespace-only, too long and non-string content with 422, storing nothing', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    expectError(await postMessage(t, alice!, groupId, ''), 422, 'validation_error');
    expectError(await postMessage(t, alice!, groupId, ' \n\t  '), 422, 'validation_error');
    // Nothing visible: zero-width space, word joiner, zero-width joiner, byte-order mark, a control character.
    const invisible = await postMessage(t, alice!, groupId, ' \u200b\u2060\u200d\ufeff\u0007 ');
    expectError(invisible, 422, 'validation_error');
    expect(invisible.body.errors).toEqual([{ field: 'content', message: 'must contain a visible character' }]);
    const tooLong = await postMessage(t, alice!, groupId, 'x'.repeat(MAX + 1));
    expectError(tooLong, 422, 'message_too_long');
    expect(tooLong.body.errors.map((e: { field: string }) => e.field)).toEqual(['content']);
    for (const bad of [42, null, true, ['a'], { text: 'a' }]) expectFieldError(await postMessage(t, alice!, groupId, bad), 'body.content');
    expectFieldError(await call('POST', `${t.api}/${groupId}/messages`, { token: alice!.token, body: {} }), 'body.content');
    expectFieldError(await postMessage(t, alice!, groupId, 'ok', ''), 'body.client_id');
    expectFieldError(await postMessage(t, alice!, groupId, 'ok', 'c'.repeat(65)), 'body.client_id');
    expectError(await call('POST', `${t.api}/${groupId}/messages`, { token: alice!.token, rawBody: '{"content":' }), 400, 'malformed_json');
    expect((await history(t, alice!, groupId)).body).toMatchObject({ messages: [], total: 0 });
    // seq stays gapless after all those refusals; a visible character among invisible ones is content.
    expect((await sent(t, alice!, groupId, 'first')).seq).toBe(1);
    expect(await sent(t, alice!, groupId, '\u200bx\u200b')).toMatchObject({ seq: 2, content: '\u200bx\u200b' });
  });

  it('refuses NUL characters as bad input over WebSocket and REST, not as a failed save', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    const c = await ChatClient.join(t.wsBase, groupId, alice!.token);
    try {
      c.send({ type: 'message', content: 'a\u0000b' });
      expect(await c.next('error', { skipOthers: true })).toMatchObject({ code: 'VALIDATION_ERROR' });
      c.send({ type: 'message', content: 'fine', client_id: 'k\u0000' });
      expect(await c.next('error', { skipOthers: true })).toMatchObject({ code: 'VALIDATION_ERROR' });
      c.send({ type: 'message', content: 'stored' });
      expect(await c.next('message', { skipOthers: true })).toMatchObject({ seq: 1, content: 'stored' });
    } finally {
      await c.close();
    }
    expectFieldError(await postMessage(t, alice!, groupId, 'a\u0000b'), 'body.content');
    expectFieldError(await postMessage(t, alice!, groupId, 'ok', 'k\u0000'), 'body.client_id');
    expect((await allMessages(t, alice!, groupId)).map((m) => m.content)).toEqual(['stored']);
  });

  it('measures length after trimming, in characters', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    expect((await sent(t, alice!, groupId, `   ${'y'.repeat(MAX)}   `)).content).toBe('y'.repeat(MAX));
    // 20 emoji are 40 UTF-16 units but 20 characters
    expect((await sent(t, alice!, groupId, '😀'.repeat(MAX))).content).toBe('😀'.repeat(MAX));
    expectError(await postMessage(t, alice!, groupId, '😀'.repeat(MAX + 1)), 422, 'message_too_long');
  });

  it('answers a repeated client_id with 200 and the original, even with other content, storing nothing', async () => {
    const [alice, bob] = await users(t, 2);
    const groupId = await groupWith(t, alice!, [bob!]);
    const original = await sent(t, alice!, groupId, 'original', 'k1');
    const b = await ChatClient.join(t.wsBase, groupId, bob!.token);
    try {
      const again = await postMessage(t, alice!, groupId, 'something else', 'k1');
      expect(again.status).toBe(200);
      expect(again.body).toEqual(original);
      // the same client_id of another user, or in another group, is a new message
      const bobs = await sent(t, bob!, groupId, 'bob k1', 'k1');
      expect(bobs.seq).toBe(2);
      const other = await groupWith(t, alice!);
      expect((await sent(t, alice!, other, 'elsewhere', 'k1')).seq).toBe(1);
      // bob's socket saw only his own new message, not a second copy of the original
      const frames = await b.quiet(300);
      expect(frames.filter((f) => f.type === 'message').map((f) => f.seq)).toEqual([2]);
      expect((await allMessages(t, alice!, groupId)).map((m) => m.content)).toEqual(['original', 'bob k1']);
    } finally {
      await b.close();
    }
  });

  it('stores one message when the same client_id is sent 10 times at once', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => postMessage(t, alice!, groupId, `attempt ${i}`, 'same-key')));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 201]);
    const ids = new Set(answers.map((a) => a.body.id));
    expect(ids.size).toBe(1);
    const stored = await allMessages(t, alice!, groupId);
    expect(stored).toHaveLength(1);
    expect(stored[0].id).toBe([...ids][0]);
    for (const a of answers) expect(a.body).toEqual(stored[0]);
  });

  it('refuses non-members (403), unknown groups (404), non-UUID ids (422) and missing tokens (401)', async () => {
    const [alice, stranger] = await users(t, 2);
    const groupId = await groupWith(t, alice!);
    expectError(await postMessage(t, stranger!, groupId, 'hi'), 403, 'not_member');
    expectError(await postMessage(t, stranger!, groupId, 'hi', 'x1'), 403, 'not_member');
    expectError(await postMessage(t, alice!, randomUUID(), 'hi'), 404, 'group_not_found');
    expectFieldError(await postMessage(t, alice!, 'not-a-uuid', 'hi'), 'params.id');
    const anonymous = await call('POST', `${t.api}/${groupId}/messages`, { body: { content: 'hi' } });
    expectError(anonymous, 401, 'unauthenticated');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectError(await call('POST', `${t.api}/${groupId}/messages`, { token: 'garbage', body: { content: 'hi' } }), 401, 'unauthenticated');
    // a user who left can no longer post, and the refusals left no trace
    const leaver = await makeUser(t.jwks);
    await call('POST', `${t.api}/${groupId}/join`, { token: leaver.token });
    await sent(t, leaver, groupId, 'bye', 'bye-1');
    expect((await postMessage(t, leaver, groupId, 'bye', 'bye-1')).status).toBe(200);
    expect((await call('DELETE', `${t.api}/${groupId}/leave`, { token: leaver.token })).status).toBe(200);
    expectError(await postMessage(t, leaver, groupId, 'again'), 403, 'not_member');
    // not even a repeated client_id: a non-member gets nothing back from the group
    expectError(await postMessage(t, leaver, groupId, 'bye', 'bye-1'), 403, 'not_member');
    expect((await sent(t, alice!, groupId, 'next')).seq).toBe(2);
  });
});
