import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Queryable, QueryResult } from '../../src/db/database.js';
import { GroupReads } from '../../src/groups/read-batcher.js';

/**
 * GroupReads against a scripted database: which statements it sends, when, and how the
 * rows find their requests. (test/groups/get-concurrent.test.ts runs it on real databases.)
 */
interface Sent {
  sql: string;
  params: unknown[];
  finish(rows?: Record<string, unknown>[] | Error): void;
}

function scriptedDb() {
  const sent: Sent[] = [];
  const db: Queryable = {
    query<Row>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
      return new Promise((resolve, reject) => {
        sent.push({
          sql,
          params: [...params],
          finish: (rows = []) => (rows instanceof Error ? reject(rows) : resolve({ rows: rows as Row[], rowCount: rows.length })),
        });
      });
    },
    exec: async () => {},
  };
  return { db, sent };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const isBatch = (s: Sent) => s.sql.includes('unnest');
const row = (id: string, extra: Record<string, unknown> = {}) => ({ id, name: `n-${id.slice(0, 4)}`, member_count: 1, max_members: 10, ...extra });

describe('GroupReads', () => {
  it('reads a lone request at once with the one-row statement', async () => {
    const { db, sent } = scriptedDb();
    const reads = new GroupReads(db);
    const [g, u] = [randomUUID(), randomUUID()];
    const answer = reads.find(g, u);
    expect(sent).toHaveLength(1);
    expect(isBatch(sent[0]!)).toBe(false);
    expect(sent[0]!.params).toEqual([g, u]);
    sent[0]!.finish([row(g)]);
    await expect(answer).resolves.toMatchObject({ id: g });
  });

  it('runs at most 4 reads at once; what arrives meanwhile shares the next statement, each request getting its own row', async () => {
    const { db, sent } = scriptedDb();
    const reads = new GroupReads(db);
    const first = Array.from({ length: 4 }, () => [randomUUID(), randomUUID()] as const);
    const firstAnswers = first.map(([g, u]) => reads.find(g, u));
    expect(sent).toHaveLength(4);

    // 6 more arrive while the 4 run: none is sent yet.
    const groups = Array.from({ length: 3 }, () => randomUUID());
    const waiting = [
      [groups[0]!, randomUUID()],
      [groups[1]!, randomUUID()],
      [groups[0]!, randomUUID()], // the same group for another viewer
      [groups[2]!, randomUUID()], // private, not theirs (no row comes back)
      [randomUUID(), randomUUID()], // absent
      [groups[1]!, randomUUID()],
    ] as const;
    const waitingAnswers = waiting.map(([g, u]) => reads.find(g, u));
    await tick();
    expect(sent).toHaveLength(4);

    sent[2]!.finish([row(first[2]![0])]);
    await tick();
    expect(sent).toHaveLength(5);
    const batch = sent[4]!;
    expect(isBatch(batch)).toBe(true);
    expect(batch.params).toEqual([waiting.map((w) => w[0]), waiting.map((w) => w[1])]);
    // Rows in any order, keyed by the 1-based position of their request.
    batch.finish([
      row(groups[1]!, { i: 6, name: 'six' }),
      row(groups[0]!, { i: 1, name: 'one' }),
      row(groups[1]!, { i: 2, name: 'two' }),
      row(groups[0]!, { i: 3, name: 'three' }),
    ]);
    const results = await Promise.all(waitingAnswers);
    expect(results.map((r) => r?.name)).toEqual(['one', 'two', 'three', undefined, undefined, 'six']);

    for (const i of [0, 1, 3]) sent[i]!.finish([]);
    expect(await Promise.all(firstAnswers)).toEqual([undefined, undefined, row(first[2]![0]), undefined]);
  });

  it('fails every request of a failed statement with its error, and goes on with the next ones', async () => {
    const { db, sent } = scriptedDb();
    const reads = new GroupReads(db);
    const blockers = Array.from({ length: 4 }, () => reads.find(randomUUID(), randomUUID()));
    const doomed = [reads.find(randomUUID(), randomUUID()), reads.find(randomUUID(), randomUUID())];
    sent[0]!.finish(new Error('connection lost'));
    await expect(blockers[0]).rejects.toThrow('connection lost');
    await tick();
    expect(sent).toHaveLength(5);
    sent[4]!.finish(new Error('still down'));
    for (const d of doomed) await expect(d).rejects.toThrow('still down');

    const g = randomUUID();
    const later = reads.find(g, randomUUID());
    await tick();
    expect(sent).toHaveLength(6);
    sent[5]!.finish([row(g)]);
    await expect(later).resolves.toMatchObject({ id: g });
    for (const i of [1, 2, 3]) sent[i]!.finish([]);
    await Promise.all(blockers.slice(1));
  });

  it('splits a long queue into statements of at most 128 requests', async () => {
    const { db, sent } = scriptedDb();
    const reads = new GroupReads(db);
    const blockers = Array.from({ length: 4 }, () => reads.find(randomUUID(), randomUUID()));
    const queued = Array.from({ length: 300 }, () => reads.find(randomUUID(), randomUUID()));
    for (let i = 0; i < 4; i++) sent[i]!.finish([]);
    await Promise.all(blockers);
    await tick();
    const batches = sent.slice(4);
    expect(batches.map((b) => (b.params[0] as string[]).length)).toEqual([128, 128, 44]);
    for (const b of batches) b.finish([]);
    expect((await Promise.all(queued)).every((r) => r === undefined)).toBe(true);
  });
});
