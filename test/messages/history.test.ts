import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, expectFieldError } from '../support/api-helpers.js';
import { call, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { groupWith, history, inBatches, sent, sleep, STARTUP_TIMEOUT_MS, users } from './helpers.js';

describe('GET /{id}/messages', { timeout: 120_000 }, () => {
  let t: TestService;
  let alice: TestUser;
  let bob: TestUser;
  /** 12 messages: seq i is "msg i", odd seqs from alice, even from bob. */
  let twelve: string;
  let twelveMessages: any[];

  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_WINDOW: '60' });
    [alice, bob] = (await users(t, 2)) as [TestUser, TestUser];
    twelve = await groupWith(t, alice, [bob]);
    twelveMessages = [];
    for (let i = 1; i <= 12; i++) twelveMessages.push(await sent(t, i % 2 ? alice : bob, twelve, `msg ${i}`));
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  async function page(groupId: string, query: Record<string, string | number | undefined>, user: TestUser = alice) {
    const res = await history(t, user, groupId, query);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    return { seqs: res.body.messages.map((m: { seq: number }) => m.seq), ...res.body };
  }

  it('pages back from the newest: limit=5&offset=5 is seq 3–7', async () => {
    const p = await page(twelve, { limit: 5, offset: 5 });
    expect(p.seqs).toEqual([3, 4, 5, 6, 7]);
    expect(p).toMatchObject({ total: 12, limit: 5, offset: 5, has_more: true });
    expect(p.messages).toEqual(twelveMessages.slice(2, 7));
    expect(await page(twelve, { limit: 5, offset: 7 })).toMatchObject({ seqs: [1, 2, 3, 4, 5], has_more: false });
    expect(await page(twelve, { limit: 5, offset: 10 })).toMatchObject({ seqs: [1, 2], has_more: false });
    expect(await page(twelve, { limit: 5, offset: 12 })).toMatchObject({ seqs: [], has_more: false, total: 12 });
    expect(await page(twelve, { limit: 5, offset: 1000 })).toMatchObject({ seqs: [], has_more: false });
  });

  it('without a cursor returns the newest page, oldest → newest', async () => {
    expect(await page(twelve, { limit: 5 })).toMatchObject({ seqs: [8, 9, 10, 11, 12], has_more: true, offset: 0 });
    const all = await page(twelve, {});
    expect(all).toMatchObject({ seqs: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], total: 12, limit: 50, offset: 0, has_more: false });
    expect(all.messages).toEqual(twelveMessages);
    expect(await page(twelve, { limit: 12 })).toMatchObject({ has_more: false });
    expect(await page(twelve, { limit: 11 })).toMatchObject({ seqs: [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], has_more: true });
  });

  it('before_seq=N&limit=L is the L just before N; after_seq the L just after', async () => {
    expect(await page(twelve, { before_seq: 10, limit: 3 })).toMatchObject({ seqs: [7, 8, 9], has_more: true, total: 12 });
    expect(await page(twelve, { before_seq: 4, limit: 3 })).toMatchObject({ seqs: [1, 2, 3], has_more: false });
    expect(await page(twelve, { before_seq: 3, limit: 5 })).toMatchObject({ seqs: [1, 2], has_more: false });
    expect(await page(twelve, { before_seq: 1 })).toMatchObject({ seqs: [], has_more: false });
    expect(await page(twelve, { before_seq: 500, limit: 2 })).toMatchObject({ seqs: [11, 12], has_more: true });
    expect(await page(twelve, { before_seq: 10, limit: 3, offset: 2 })).toMatchObject({ seqs: [5, 6, 7], has_more: true });
    expect(await page(twelve, { after_seq: 4, limit: 3 })).toMatchObject({ seqs: [5, 6, 7], has_more: true, total: 12 });
    expect(await page(twelve, { after_seq: 0, limit: 2 })).toMatchObject({ seqs: [1, 2], has_more: true });
    expect(await page(twelve, { after_seq: 9, limit: 3 })).toMatchObject({ seqs: [10, 11, 12], has_more: false });
    expect(await page(twelve, { after_seq: 10, limit: 5 })).toMatchObject({ seqs: [11, 12], has_more: false });
    expect(await page(twelve, { after_seq: 12 })).toMatchObject({ seqs: [], has_more: false });
    expect(await page(twelve, { after_seq: 4, limit: 3, offset: 3 })).toMatchObject({ seqs: [8, 9, 10], has_more: true });
    expect(await page(twelve, { after_seq: 2, before_seq: 6 })).toMatchObject({ seqs: [3, 4, 5], has_more: false });
    expect(await page(twelve, { after_seq: 2, before_seq: 9, limit: 3 })).toMatchObject({ seqs: [3, 4, 5], has_more: true });
  });

  it('filters by sender, counting only matches in total and has_more, with cursors and offset', async () => {
    expect(await page(twelve, { sender_id: bob.id })).toMatchObject({ seqs: [2, 4, 6, 8, 10, 12], total: 6, has_more: false });
    expect(await page(twelve, { sender_id: bob.id, limit: 2, offset: 1 })).toMatchObject({ seqs: [8, 10], total: 6, has_more: true });
    expect(await page(twelve, { sender_id: bob.id, limit: 2, offset: 4 })).toMatchObject({ seqs: [2, 4], has_more: false });
    expect(await page(twelve, { sender_id: bob.id, before_seq: 8, limit: 2 })).toMatchObject({ seqs: [4, 6], total: 6, has_more: true });
    expect(await page(twelve, { sender_id: alice.id, after_seq: 3, limit: 2 })).toMatchObject({ seqs: [5, 7], total: 6, has_more: true });
    expect(await page(twelve, { sender_id: alice.id, after_seq: 7, limit: 2, offset: 1 })).toMatchObject({ seqs: [11], has_more: false });
    expect(await page(twelve, { sender_id: randomUUID() })).toMatchObject({ seqs: [], total: 0, has_more: false });
    // filters combine: q and sender
    expect(await page(twelve, { sender_id: bob.id, q: 'MSG 1' })).toMatchObject({ seqs: [10, 12], total: 2 });
    expect(await page(twelve, { q: 'msg 1', before_seq: 12, limit: 2 })).toMatchObject({ seqs: [10, 11], total: 4, has_more: true });
  });

  it('q is a literal, case-insensitive substring: %, _ and \\ are ordinary characters', async () => {
    const groupId = await groupWith(t, alice, [bob]);
    const contents = ['100%', '100 percent', 'a_b', 'axb', 'back\\slash', 'backslash', 'HeLLo World', 'hello', 'ÄRGER', "it's", '50%_off'];
    for (const c of contents) await sent(t, alice, groupId, c);
    const matches = async (q: string) => (await page(groupId, { q })).messages.map((m: { content: string }) => m.content);
    expect(await matches('%')).toEqual(['100%', '50%_off']);
    expect(await matches('_')).toEqual(['a_b', '50%_off']);
    expect(await matches('a_b')).toEqual(['a_b']);
    expect(await matches('\\')).toEqual(['back\\slash']);
    expect(await matches('k\\s')).toEqual(['back\\slash']);
    expect(await matches('%_')).toEqual(['50%_off']);
    expect(await matches('%%')).toEqual([]);
    expect(await matches('hello')).toEqual(['HeLLo World', 'hello']);
    expect(await matches('WORLD')).toEqual(['HeLLo World']);
    expect(await matches("'")).toEqual(["it's"]);
    expect(await matches('ärger')).toEqual(['ÄRGER']);
    expect(await matches('100')).toEqual(['100%', '100 percent']);
    const counted = await page(groupId, { q: '%', limit: 1 });
    expect(counted).toMatchObject({ total: 2, has_more: true, seqs: [11] });
  });

  it('since/until select by timestamp, inclusive, and combine with cursors', async () => {
    const groupId = await groupWith(t, alice, [bob]);
    const early = [await sent(t, alice, groupId, 'e1'), await sent(t, bob, groupId, 'e2')];
    await sleep(60);
    const middle: any[] = [];
    for (const [u, c] of [[alice, 'm1'], [bob, 'm2'], [alice, 'm3']] as const) {
      middle.push(await sent(t, u, groupId, c));
      await sleep(5); // distinct milliseconds, so one message's own sent_at selects it alone
    }
    await sleep(60);
    await sent(t, bob, groupId, 'l1');
    const since = middle[0].sent_at;
    const until = middle[2].sent_at;
    expect(await page(groupId, { since })).toMatchObject({ seqs: [3, 4, 5, 6], total: 4 });
    expect(await page(groupId, { until })).toMatchObject({ seqs: [1, 2, 3, 4, 5], total: 5 });
    expect(await page(groupId, { since, until })).toMatchObject({ seqs: [3, 4, 5], total: 3 });
    expect(await page(groupId, { since: middle[1].sent_at, until: middle[1].sent_at })).toMatchObject({ seqs: [4], total: 1 });
    expect(await page(groupId, { until: early[1].sent_at, limit: 1 })).toMatchObject({ seqs: [2], has_more: true, total: 2 });
    expect(await page(groupId, { since, until, sender_id: alice.id })).toMatchObject({ seqs: [3, 5], total: 2 });
    expect(await page(groupId, { since, limit: 2, offset: 1 })).toMatchObject({ seqs: [4, 5], has_more: true, total: 4 });
    expect(await page(groupId, { since, after_seq: 3, limit: 2 })).toMatchObject({ seqs: [4, 5], has_more: true });
    expect(await page(groupId, { since, before_seq: 5 })).toMatchObject({ seqs: [3, 4], has_more: false });
    // other zone offsets name the same instant
    const plusTwo = new Date(Date.parse(since) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
    expect(await page(groupId, { since: plusTwo })).toMatchObject({ seqs: [3, 4, 5, 6] });
    expect(await page(groupId, { since: '2100-01-01T00:00:00Z' })).toMatchObject({ seqs: [], total: 0, has_more: false });
  });

  it('defaults to 50 and allows 1..100', async () => {
    const groupId = await groupWith(t, alice);
    await inBatches(Array.from({ length: 105 }, (_, i) => i), 8, (i) => sent(t, alice, groupId, `n${i}`));
    const def = await page(groupId, {});
    expect(def).toMatchObject({ limit: 50, total: 105, has_more: true });
    expect(def.seqs).toEqual(Array.from({ length: 50 }, (_, i) => 56 + i));
    const max = await page(groupId, { limit: 100 });
    expect(max.seqs).toEqual(Array.from({ length: 100 }, (_, i) => 6 + i));
    expect(await page(groupId, { limit: 1 })).toMatchObject({ seqs: [105], has_more: true });
  });

  it('refuses bad query values with 422', async () => {
    const huge = '100000000000000000000'; // beyond PostgreSQL's bigint
    for (const query of [
      { limit: 0 }, { limit: 101 }, { limit: 'ten' }, { limit: 2.5 }, { offset: -1 }, { before_seq: 0 }, { before_seq: 'x' },
      { after_seq: -1 }, { sender_id: 'not-a-uuid' }, { since: 'yesterday' }, { until: '2025-13-01T00:00:00Z' }, { q: '' },
      { after_seq: huge, q: 'msg' }, { before_seq: huge, sender_id: bob.id }, { after_seq: huge }, { before_seq: huge },
    ]) {
      const res = await history(t, alice, twelve, query);
      expectError(res, 422, 'validation_error');
      expect(res.body.errors[0].field, JSON.stringify(query)).toBe(`query.${Object.keys(query)[0]}`);
    }
    // the largest accepted cursors still work
    expect(await page(twelve, { after_seq: Number.MAX_SAFE_INTEGER, q: 'msg' })).toMatchObject({ seqs: [], total: 12 });
    expect(await page(twelve, { before_seq: Number.MAX_SAFE_INTEGER, sender_id: bob.id, limit: 1 })).toMatchObject({ seqs: [12], has_more: true });
  });

  it('answers 403 to non-members, 404 for unknown groups, 422 for non-UUID ids, 401 without a token', async () => {
    const [stranger] = await users(t, 1);
    expectError(await history(t, stranger!, twelve), 403, 'not_member');
    expectError(await history(t, alice, randomUUID()), 404, 'group_not_found');
    expectFieldError(await history(t, alice, 'nope'), 'params.id');
    expectError(await call('GET', `${t.api}/${twelve}/messages`), 401, 'unauthenticated');
  });
});
