import type { Queryable } from '../db/database.js';

/**
 * Sliding-window rate limit over the messages table itself: a user may have at most
 * `limit` accepted messages in ANY window of `windowMs`, across every group, socket,
 * replica and the REST route. Only stored messages count, so a refused or failed send
 * never uses up the allowance.
 *
 * Atomicity: the caller holds this user's transaction-scoped advisory lock (see
 * lockSender) from this check until its insert commits, so concurrent sends of one user
 * are checked one after another, on any number of replicas.
 */
export interface RateDecision {
  allowed: boolean;
  /** Whole seconds until a send would be allowed again (when refused). */
  retryAfterSeconds: number;
}

export async function lockSender(tx: Queryable, userId: string): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('chat-sender:' || $1))", [userId]);
}

export async function checkSlidingWindow(tx: Queryable, userId: string, limit: number, windowMs: number): Promise<RateDecision> {
  const { rows } = await tx.query<{ n: number; wait_ms: number | null }>(
    `SELECT count(*)::int AS n,
            ceil(extract(epoch FROM (min(sent_at) + $2::int * interval '1 millisecond' - clock_timestamp())) * 1000)::int AS wait_ms
     FROM (SELECT sent_at FROM messages
           WHERE sender_id = $1 AND sent_at > clock_timestamp() - $2::int * interval '1 millisecond'
           ORDER BY sent_at DESC LIMIT $3) recent`,
    [userId, windowMs, limit],
  );
  const row = rows[0]!;
  if (row.n < limit) return { allowed: true, retryAfterSeconds: 0 };
  return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((row.wait_ms ?? windowMs) / 1000)) };
}
