import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/database.js';
import { checkSlidingWindow, lockSender } from '../../src/ratelimit/sliding-window.js';
import { startTestService, usingServerDatabase, type TestService } from '../support/service.js';
import { groupWith, inBatches, sent, sleep, STARTUP_TIMEOUT_MS, users } from '../messages/helpers.js';

/**
 * The rate-limit check runs inside every send. Its cost must depend on the window, not on
 * how many messages the sender has ever written: we run the real check on the real
 * database under EXPLAIN ANALYZE and count the message rows it reads.
 */
interface PlanNode {
  'Relation Name'?: string;
  'Actual Rows'?: number;
  'Actual Loops'?: number;
  'Rows Removed by Filter'?: number;
  'Rows Removed by Index Recheck'?: number;
  Plans?: PlanNode[];
}

function messageRowsRead(node: PlanNode): number {
  const own =
    node['Relation Name'] === 'messages'
      ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0) + (node['Rows Removed by Index Recheck'] ?? 0)) * (node['Actual Loops'] ?? 1)
      : 0;
  return own + (node.Plans ?? []).reduce((sum, child) => sum + messageRowsRead(child), 0);
}

/** A Queryable that runs each query under EXPLAIN ANALYZE, keeping the plans, then runs it for real. */
function explaining(tx: Queryable, plans: PlanNode[]): Queryable {
  return {
    async query<Row>(sql: string, params?: readonly unknown[]) {
      const explained = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, params);
      const raw = explained.rows[0]!['QUERY PLAN'];
      const json = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { Plan: PlanNode }[];
      plans.push(json[0]!.Plan);
      return tx.query<Row>(sql, params);
    },
    exec: (sql) => tx.exec(sql),
  };
}

describe(`rate-limit check cost (${usingServerDatabase ? 'PostgreSQL server' : 'embedded database'})`, { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '100000', RATE_LIMIT_WINDOW: '60' });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  it('reads only the messages inside the window, not the sender\'s whole history', { timeout: 120_000 }, async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    await inBatches(Array.from({ length: 150 }, (_, i) => i), 8, (i) => sent(t, alice!, groupId, `old ${i}`));
    await sleep(300);
    await sent(t, alice!, groupId, 'recent 1');
    await sent(t, alice!, groupId, 'recent 2');

    const plans: PlanNode[] = [];
    const decision = await t.service.db.transaction(async (tx) => {
      // make the planner use the (sender_id, sent_at) index even on a small table, as it would on a big one
      await tx.query('SET LOCAL enable_seqscan = off');
      await lockSender(tx, alice!.id);
      // a 250 ms window holds the 2 recent messages, not the 150 older ones
      return checkSlidingWindow(explaining(tx, plans), alice!.id, 5, 250);
    });
    expect(decision).toEqual({ allowed: true, retryAfterSeconds: 0 });
    expect(plans).toHaveLength(1);
    expect(messageRowsRead(plans[0]!), JSON.stringify(plans[0])).toBeLessThanOrEqual(5);

    // and the decision itself is right at the edge: 2 in the window with a limit of 2
    const refused = await t.service.db.transaction((tx) => checkSlidingWindow(tx, alice!.id, 2, 60_000));
    expect(refused.allowed).toBe(false);
    expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
  });
});
