import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Queryable, QueryResult } from '../../src/db/database.js';
import { SendBatcher } from '../../src/messages/send-batcher.js';
import type { SendRequest } from '../../src/messages/store-batch.js';

/**
 * SendBatcher against a scripted database: when each batch's statement is sent, relative to
 * the settling of the previous batch's sends. (test/messages/seq.test.ts and the chat tests
 * run it on real databases.)
 */
interface Sent {
  groupIds: string;
  finish(result: 'stored' | Error): void;
}

function scriptedDb() {
  const sent: Sent[] = [];
  const db: Queryable = {
    query<Row>(_sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      return new Promise((resolve, reject) => {
        const groupIds = String(params[0]).replaceAll('"', '');
        const count = groupIds.split(',').length;
        sent.push({
          groupIds,
          finish: (result) => {
            if (result instanceof Error) return reject(result);
            const rows = Array.from({ length: count }, (_, i) => ({
              idx: i + 1,
              outcome: result,
              retry_ms: null,
              id: randomUUID(),
              group_id: 'g',
              seq: i + 1,
              sender_id: 'u',
              username: 'alice',
              content: 'hi',
              client_id: null,
              sent_at: new Date(),
            }));
            resolve({ rows: rows as Row[], rowCount: rows.length });
          },
        });
      });
    },
    exec: async () => {},
  };
  return { db, sent };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const user = { userId: randomUUID(), username: 'alice', expiresAtMs: Date.now() + 60_000 };
const request = (groupId: string): SendRequest => ({ user, groupId, content: 'hi', clientId: null });
const rate = { limit: 30, windowMs: 60_000 };

/** A lone send ('a') stored, while two more ('b', 'c') wait for it: they form the second batch, sent but not answered. */
async function pairBehindALead() {
  const { db, sent } = scriptedDb();
  const batcher = new SendBatcher(db, rate);
  const lead = batcher.submit(request('a'));
  const pair = Promise.allSettled([batcher.submit(request('b')), batcher.submit(request('c'))]);
  sent[0]!.finish('stored');
  await lead;
  return { batcher, sent, pair };
}

describe('SendBatcher', () => {
  it('stores a lone send at once, and what arrives meanwhile in one next batch', async () => {
    const { db, sent } = scriptedDb();
    const batcher = new SendBatcher(db, rate);
    const first = batcher.submit(request('a'));
    expect(sent).toHaveLength(1);
    const rest = ['b', 'c', 'd'].map((g) => batcher.submit(request(g)));
    await tick();
    expect(sent).toHaveLength(1);
    sent[0]!.finish('stored');
    await first;
    await tick();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.groupIds).toBe('{b,c,d}');
    sent[1]!.finish('stored');
    await expect(Promise.all(rest)).resolves.toHaveLength(3);
  });

  it('sends the next batch before the committed batch\'s sends are settled, so their fan-out overlaps its round trip', async () => {
    const { db, sent } = scriptedDb();
    const batcher = new SendBatcher(db, rate);
    const seenAtSettle: number[] = [];
    const first = batcher.submit(request('a')).then(() => seenAtSettle.push(sent.length));
    void batcher.submit(request('b'));
    sent[0]!.finish('stored');
    await first;
    // The first send's continuation (where its fan-out runs) already found the second batch sent.
    expect(seenAtSettle).toEqual([2]);
  });

  it('retries a failed batch one send per transaction before it starts the next batch', async () => {
    const { batcher, sent, pair } = await pairBehindALead();
    const later = batcher.submit(request('d'));
    await tick();
    expect(sent.map((s) => s.groupIds)).toEqual(['{a}', '{b,c}']);

    sent[1]!.finish(new Error('deadlock detected'));
    await tick();
    expect(sent.map((s) => s.groupIds)).toEqual(['{a}', '{b,c}', '{b}']);
    sent[2]!.finish(new Error('value too long'));
    await tick();
    expect(sent.map((s) => s.groupIds)).toEqual(['{a}', '{b,c}', '{b}', '{c}']);
    sent[3]!.finish('stored');
    const [b, c] = await pair;
    expect(b).toMatchObject({ status: 'rejected', reason: new Error('value too long') });
    expect(c).toMatchObject({ status: 'fulfilled', value: { duplicate: false } });
    await tick();
    expect(sent.map((s) => s.groupIds)).toEqual(['{a}', '{b,c}', '{b}', '{c}', '{d}']);
    sent[4]!.finish('stored');
    await expect(later).resolves.toMatchObject({ duplicate: false });
  });

  it('fails every send of a batch at once when the database is unreachable', async () => {
    const { batcher, sent, pair } = await pairBehindALead();
    sent[1]!.finish(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }));
    expect((await pair).map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(sent).toHaveLength(2);
  });
});
