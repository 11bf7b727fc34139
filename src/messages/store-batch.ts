import type { AuthUser } from '../auth/token-verifier.js';
import { arrayLiteral } from '../db/array-literal.js';
import type { Queryable } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import { retryAfterSeconds } from '../ratelimit/sliding-window.js';
import type { MessageRow } from './repository.js';

/**
 * Stores a batch of chat sends in ONE statement, hence one transaction and one round trip
 * (group commit): the database function `chat_store_batch` (migrations 006, 007) takes the
 * senders' and groups' locks, checks group, membership, client_id idempotency and the
 * sliding-window rate limit, assigns gapless seqs and inserts, with the same result as
 * storing the sends one by one in batch order. Its header states the rules.
 */
export interface SendRequest {
  user: AuthUser;
  groupId: string;
  content: string;
  clientId: string | null;
}

export type SendOutcome = { row: MessageRow; duplicate: boolean } | { error: AppError };

export interface RateLimit {
  limit: number;
  windowMs: number;
}

interface OutcomeRow extends MessageRow {
  idx: number;
  outcome: 'stored' | 'duplicate' | 'group_not_found' | 'not_member' | 'rate_limited';
  retry_ms: number | null;
}

const STORE_BATCH = 'SELECT * FROM chat_store_batch($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int, $7::int)';

export async function storeBatch(db: Queryable, requests: readonly SendRequest[], rate: RateLimit): Promise<SendOutcome[]> {
  const { rows } = await db.query<OutcomeRow>(
    STORE_BATCH,
    [
      arrayLiteral(requests.map((r) => r.groupId)),
      arrayLiteral(requests.map((r) => r.user.userId)),
      arrayLiteral(requests.map((r) => r.user.username)),
      arrayLiteral(requests.map((r) => r.content)),
      arrayLiteral(requests.map((r) => r.clientId)),
      rate.limit,
      rate.windowMs,
    ],
    { prepared: true },
  );
  if (rows.length !== requests.length) throw new Error(`chat_store_batch answered ${rows.length} rows for ${requests.length} sends`);
  return rows.map((row): SendOutcome => {
    switch (row.outcome) {
      case 'stored':
      case 'duplicate':
        return { row, duplicate: row.outcome === 'duplicate' };
      case 'group_not_found':
      case 'not_member':
        return { error: new AppError(row.outcome) };
      case 'rate_limited':
        return {
          error: new AppError('rate_limited', `At most ${rate.limit} messages per ${rate.windowMs / 1000} s`, {
            retryAfterSeconds: retryAfterSeconds(row.retry_ms ?? rate.windowMs),
          }),
        };
    }
  });
}
