import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { groupWith, history, inBatches, sent, STARTUP_TIMEOUT_MS, users } from './helpers.js';

/**
 * History pages against an in-memory model of the contract's rules:
 * - filters (sender_id, q: case-insensitive literal substring) select the matching messages;
 *   `total` counts them all, whatever the cursor;
 * - after_seq=N: matching messages with seq > N (and < before_seq), oldest first, skip
 *   `offset`, take `limit`; has_more = newer matches remain beyond the page;
 * - otherwise: matching messages with seq < before_seq, newest first, skip `offset`, take
 *   `limit`, shown oldest → newest; has_more = older matches remain beyond the page.
 */
interface Stored {
  seq: number;
  sender: number;
  content: string;
}
interface Query {
  limit?: number;
  offset?: number;
  before_seq?: number;
  after_seq?: number;
  sender?: number;
  q?: string;
}

function model(messages: Stored[], query: Query, senderIds: string[]) {
  const matching = messages.filter(
    (m) => (query.sender === undefined || m.sender === query.sender) && (query.q === undefined || m.content.toLowerCase().includes(query.q.toLowerCase())),
  );
  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  const below = matching.filter((m) => query.before_seq === undefined || m.seq < query.before_seq);
  let page: Stored[];
  let hasMore: boolean;
  if (query.after_seq !== undefined) {
    const candidates = below.filter((m) => m.seq > query.after_seq!);
    page = candidates.slice(offset, offset + limit);
    hasMore = candidates.length > offset + limit;
  } else {
    const candidates = [...below].reverse();
    page = candidates.slice(offset, offset + limit).reverse();
    hasMore = candidates.length > offset + limit;
  }
  return {
    seqs: page.map((m) => m.seq),
    senders: page.map((m) => senderIds[m.sender]),
    contents: page.map((m) => m.content),
    total: matching.length,
    limit,
    offset,
    has_more: hasMore,
  };
}

/** Characters that trip up naive LIKE handling, with case variants. */
const CHARS = ['a', 'A', 'b', 'B', '%', '_', '\\', 'x'];
const text = (max: number) => fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: max }).map((cs) => cs.join(''));
/** A sender index 0..2, or 3: someone who never posted. */
const queryArb = (n: number, maxLimit = 12) =>
  fc.record(
    {
      limit: fc.integer({ min: 1, max: maxLimit }),
      offset: fc.integer({ min: 0, max: n + 2 }),
      before_seq: fc.integer({ min: 1, max: n + 3 }),
      after_seq: fc.integer({ min: 0, max: n + 2 }),
      sender: fc.integer({ min: 0, max: 3 }),
      q: text(2),
    },
    { requiredKeys: [] },
  );

describe('history pages match the model', { timeout: 120_000 }, () => {
  let t: TestService;
  let members: TestUser[];
  let senderIds: string[];

  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '100000', RATE_LIMIT_WINDOW: '60' });
    members = await users(t, 3);
    senderIds = [...members.map((m) => m.id), randomUUID()];
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  async function check(groupId: string, stored: Stored[], query: Query): Promise<void> {
    const params: Record<string, string | number | undefined> = {
      limit: query.limit,
      offset: query.offset,
      before_seq: query.before_seq,
      after_seq: query.after_seq,
      sender_id: query.sender === undefined ? undefined : senderIds[query.sender],
      q: query.q,
    };
    const res = await history(t, members[0]!, groupId, params);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const actual = {
      seqs: res.body.messages.map((m: any) => m.seq),
      senders: res.body.messages.map((m: any) => m.sender_id),
      contents: res.body.messages.map((m: any) => m.content),
      total: res.body.total,
      limit: res.body.limit,
      offset: res.body.offset,
      has_more: res.body.has_more,
    };
    expect(actual, `query ${JSON.stringify(params)}`).toEqual(model(stored, query, senderIds));
  }

  async function store(groupId: string, specs: { sender: number; content: string }[]): Promise<Stored[]> {
    const out: Stored[] = [];
    // one after another, so seq order is the order of `specs`
    for (const s of specs) {
      const m = await sent(t, members[s.sender]!, groupId, s.content);
      out.push({ seq: m.seq, sender: s.sender, content: m.content });
    }
    return out;
  }

  it('on random message sets, random queries give the model page', { timeout: 240_000 }, async () => {
    const specArb = fc.array(fc.record({ sender: fc.integer({ min: 0, max: 2 }), content: text(4) }), { maxLength: 14 });
    await fc.assert(
      fc.asyncProperty(
        specArb.chain((specs) => fc.tuple(fc.constant(specs), fc.array(queryArb(specs.length), { minLength: 1, maxLength: 6 }))),
        async ([specs, queries]) => {
          const groupId = await groupWith(t, members[0]!, members.slice(1));
          const stored = await store(groupId, specs);
          for (const query of queries) await check(groupId, stored, query);
        },
      ),
      { numRuns: 40, interruptAfterTimeLimit: 200_000, markInterruptAsFailure: true },
    );
  });

  it('on one group of 60 messages, 300 random queries give the model page', { timeout: 240_000 }, async () => {
    const specs = fc.sample(fc.record({ sender: fc.integer({ min: 0, max: 2 }), content: text(5) }), { numRuns: 60, seed: 42 });
    const groupId = await groupWith(t, members[0]!, members.slice(1));
    // concurrent sends get seqs in commit order; read them back to know which is which
    const answers = await inBatches(specs, 6, (s) => sent(t, members[s.sender]!, groupId, s.content));
    const stored = answers
      .map((m, i) => ({ seq: m.seq as number, sender: specs[i]!.sender, content: m.content as string }))
      .sort((a, b) => a.seq - b.seq);
    expect(stored.map((m) => m.seq)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    await fc.assert(
      fc.asyncProperty(fc.oneof(queryArb(60), queryArb(60, 100)), (query) => check(groupId, stored, query)),
      { numRuns: 300, interruptAfterTimeLimit: 200_000, markInterruptAsFailure: true },
    );
  });
});
