import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/database.js';
import { startTestService, usingServerDatabase, type TestService } from '../support/service.js';
import { groupWith, inBatches, sent, sleep, STARTUP_TIMEOUT_MS, users } from '../messages/helpers.js';
import type { TestUser } from '../support/client.js';

/**
 * The rate-limit check runs inside every batch of sends (chat_store_batch). Its cost must
 * not depend on how many messages the sender has written, ever or inside the window: we run
 * the real statement on the real database and count the index entries of `messages` that
 * the transaction read (PostgreSQL's per-transaction statistics).
 */
async function messageIndexReads(tx: Queryable): Promise<number> {
  const { rows } = await tx.query<{ n: number }>(
    `SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(indexrelid)), 0)::int AS n FROM pg_index WHERE indrelid = 'messages'::regclass`,
  );
  return rows[0]!.n;
}

async function storeOne(t: TestService, user: TestUser, groupId: string, limit: number, windowMs: number) {
  return t.service.db.transaction(async (tx) => {
    // make the planner use indexes even on a small table, as it would on a big one
    await tx.query('SET LOCAL enable_seqscan = off');
    const before = await messageIndexReads(tx);
    const { rows } = await tx.query<{ outcome: string; retry_ms: number | null }>(
      `SELECT outcome, retry_ms FROM chat_store_batch(ARRAY[$1]::uuid[], ARRAY[$2]::uuid[], ARRAY[$3]::text[], ARRAY['probe']::text[], ARRAY[NULL]::text[], $4, $5)`,
      [groupId, user.id, user.username, limit, windowMs],
    );
    return { ...rows[0]!, indexReads: (await messageIndexReads(tx)) - before };
  });
}

describe(`rate-limit check cost (${usingServerDatabase ? 'PostgreSQL server' : 'embedded database'})`, { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '100000', RATE_LIMIT_WINDOW: '60' });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  it("reads a constant number of index entries, whatever the sender's history and sending rate", { timeout: 120_000 }, async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    await inBatches(Array.from({ length: 150 }, (_, i) => i), 8, (i) => sent(t, alice!, groupId, `old ${i}`));
    await sleep(300);
    await sent(t, alice!, groupId, 'recent 1');
    await sent(t, alice!, groupId, 'recent 2');

    // 152 messages inside a 60 s window with a high limit: counting them would read 152 entries
    const busy = await storeOne(t, alice!, groupId, 100_000, 60_000);
    expect(busy.outcome).toBe('stored');
    expect(busy.indexReads).toBeLessThanOrEqual(4);

    // a 250 ms window holds the 2 recent messages (3 with the probe above), not the 150 older ones
    const allowed = await storeOne(t, alice!, groupId, 5, 250);
    expect(allowed).toMatchObject({ outcome: 'stored', retry_ms: null });
    expect(allowed.indexReads).toBeLessThanOrEqual(4);

    // and the decision is right at the edge: with a limit of 4 in 60 s the next one is refused
    const refused = await storeOne(t, alice!, groupId, 4, 60_000);
    expect(refused.outcome).toBe('rate_limited');
    expect(refused.retry_ms).toBeGreaterThan(0);
    expect(refused.retry_ms).toBeLessThanOrEqual(60_000);
    expect(refused.indexReads).toBeLessThanOrEqual(4);
  });
});
