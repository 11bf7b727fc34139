import type { Queryable } from '../db/database.js';

/**
 * Sliding-window rate limit over the messages table itself: a user may have at most
 * `limit` accepted messages in ANY window of `windowMs`, across every group, socket,
 * replica and the REST route. Only stored messages count, so a refused or failed send
 * never uses up the allowance.
 *
 * Atomicity: the caller holds the sender's transaction-scoped advisory lock (see
 * lockSenders) from this check until its insert commits, so concurrent sends of one user
 * are checked one after another, on any number of replicas.
 */
export interface RateDecision {
  allowed: boolean;
  /** Whole seconds until a send would be allowed again (when refused). */
  retryAfterSeconds: number;
}

/** A sender's advisory-lock key: 60 bits of the user id, the same on every replica. */
export function senderLockKey(userId: string): bigint {
  return BigInt(`0x${userId.replace(/-/g, '').slice(0, 15)}`);
}

/**
 * Takes the senders' transaction-scoped locks in ascending key order, so that concurrent
 * transactions locking several senders (batches, on any replica) cannot deadlock.
 */
export async function lockSenders(tx: Queryable, userIds: readonly string[]): Promise<void> {
  const keys = [...new Set(userIds.map(senderLockKey))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  await tx.query('SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) WITH ORDINALITY AS t(k, i) ORDER BY i', [keys.map(String)]);
}

export async function lockSender(tx: Queryable, userId: string): Promise<void> {
  await lockSenders(tx, [userId]);
}

export interface WindowUsage {
  /** Stored messages in the window, counting at most `limit`. */
  count: number;
  /** Milliseconds until the oldest of those leaves the window (the whole window when none). */
  waitMs: number;
}

/**
 * How much of each sender's window is used, in one statement for any number of senders.
 * The window's start is computed once (a scalar subquery, i.e. an InitPlan): written
 * inline, the volatile clock_timestamp() would be re-evaluated per row, could not bound
 * the (sender_id, sent_at) index scan, and every send would read the sender's whole history.
 */
export async function windowUsage(tx: Queryable, userIds: readonly string[], limit: number, windowMs: number): Promise<Map<string, WindowUsage>> {
  const { rows } = await tx.query<{ sender_id: string; n: number; wait_ms: number | null }>(
    `SELECT t.u AS sender_id, r.n, r.wait_ms FROM unnest($1::uuid[]) AS t(u)
     CROSS JOIN LATERAL (
       SELECT count(*)::int AS n,
              ceil(extract(epoch FROM (min(sent_at) + $2::int * interval '1 millisecond' - clock_timestamp())) * 1000)::int AS wait_ms
       FROM (SELECT sent_at FROM messages
             WHERE sender_id = t.u AND sent_at > (SELECT clock_timestamp() - $2::int * interval '1 millisecond')
             ORDER BY sent_at DESC LIMIT $3) recent) r`,
    [[...new Set(userIds)], windowMs, limit],
  );
  return new Map(rows.map((r) => [r.sender_id, { count: r.n, waitMs: r.n > 0 ? Math.max(0, r.wait_ms ?? windowMs) : windowMs }]));
}

export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

export async function checkSlidingWindow(tx: Queryable, userId: string, limit: number, windowMs: number): Promise<RateDecision> {
  const usage = (await windowUsage(tx, [userId], limit, windowMs)).get(userId.toLowerCase()) ?? { count: 0, waitMs: windowMs };
  if (usage.count < limit) return { allowed: true, retryAfterSeconds: 0 };
  return { allowed: false, retryAfterSeconds: retryAfterSeconds(usage.waitMs) };
}
