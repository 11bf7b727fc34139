import { randomUUID } from 'node:crypto';
import type { AuthUser } from '../auth/token-verifier.js';
import type { Queryable } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import { lockSenders, retryAfterSeconds, windowUsage } from '../ratelimit/sliding-window.js';
import { MESSAGE_COLUMNS, type MessageRow } from './repository.js';

/**
 * Stores a batch of chat sends in ONE transaction (group commit), with the same rules as
 * storing them one by one, in batch order:
 * - senders' advisory locks, then groups' row locks, each taken in one global order (sorted
 *   keys), so concurrent batches on any replica cannot deadlock;
 * - a send to a missing group or by a non-member is refused;
 * - a repeated (group, sender, client_id), in the database or earlier in the batch, stores
 *   nothing and answers the original;
 * - a sender may have at most `limit` stored messages in any `windowMs`: the stored ones
 *   are counted under the sender's lock, then the batch's own accepted sends;
 * - each group's accepted sends take consecutive seqs after its last_seq, in batch order.
 * Work per batch is a fixed number of statements, whatever its size.
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

export async function storeBatch(tx: Queryable, requests: readonly SendRequest[], rate: RateLimit): Promise<SendOutcome[]> {
  const senders = [...new Set(requests.map((r) => r.user.userId))];
  const groups = [...new Set(requests.map((r) => r.groupId))].sort();

  await lockSenders(tx, senders);
  const seqRows = await tx.query<{ id: string; last_seq: number }>('SELECT id, last_seq FROM groups WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE', [groups]);
  const lastSeq = new Map(seqRows.rows.map((r) => [r.id, r.last_seq]));

  const memberRows = await tx.query<{ group_id: string; user_id: string }>(
    `SELECT m.group_id, m.user_id FROM group_members m
     JOIN unnest($1::uuid[], $2::uuid[]) AS t(g, u) ON m.group_id = t.g AND m.user_id = t.u`,
    [requests.map((r) => r.groupId), requests.map((r) => r.user.userId)],
  );
  const members = new Set(memberRows.rows.map((r) => `${r.group_id}|${r.user_id}`));

  const withClientId = requests.filter((r) => r.clientId !== null);
  const originals = new Map<string, MessageRow>();
  if (withClientId.length > 0) {
    const { rows } = await tx.query<MessageRow>(
      `SELECT ${MESSAGE_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')} FROM messages m
       JOIN unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(g, u, c) ON m.group_id = t.g AND m.sender_id = t.u AND m.client_id = t.c`,
      [withClientId.map((r) => r.groupId), withClientId.map((r) => r.user.userId), withClientId.map((r) => r.clientId)],
    );
    for (const row of rows) originals.set(`${row.group_id}|${row.sender_id}|${row.client_id}`, row);
  }

  const usage = await windowUsage(tx, senders, rate.limit, rate.windowMs);
  const budget = new Map(senders.map((u) => {
    const used = usage.get(u) ?? { count: 0, waitMs: rate.windowMs };
    return [u, { left: rate.limit - used.count, retryMs: used.waitMs }];
  }));

  const outcomes: (SendOutcome | { accept: { id: string; seq: number }; request: SendRequest } | { sameAs: string })[] = [];
  const acceptedByKey = new Map<string, string>();
  for (const request of requests) {
    const { userId } = request.user;
    const idemKey = request.clientId === null ? undefined : `${request.groupId}|${userId}|${request.clientId}`;
    const original = idemKey && originals.get(idemKey);
    const earlier = idemKey && acceptedByKey.get(idemKey);
    const last = lastSeq.get(request.groupId);
    const allowance = budget.get(userId)!;
    if (last === undefined) outcomes.push({ error: new AppError('group_not_found') });
    else if (!members.has(`${request.groupId}|${userId}`)) outcomes.push({ error: new AppError('not_member') });
    else if (original) outcomes.push({ row: original, duplicate: true });
    else if (earlier) outcomes.push({ sameAs: earlier });
    else if (allowance.left <= 0) {
      outcomes.push({
        error: new AppError('rate_limited', `At most ${rate.limit} messages per ${rate.windowMs / 1000} s`, {
          retryAfterSeconds: retryAfterSeconds(allowance.retryMs),
        }),
      });
    } else {
      allowance.left -= 1;
      const seq = last + 1;
      lastSeq.set(request.groupId, seq);
      const id = randomUUID();
      if (idemKey) acceptedByKey.set(idemKey, id);
      outcomes.push({ accept: { id, seq }, request });
    }
  }

  const accepted = outcomes.filter((o): o is { accept: { id: string; seq: number }; request: SendRequest } => 'accept' in o);
  const stored = new Map<string, MessageRow>();
  if (accepted.length > 0) {
    const bumped = groups.filter((g) => accepted.some((a) => a.request.groupId === g));
    await tx.query('UPDATE groups g SET last_seq = v.last_seq FROM unnest($1::uuid[], $2::bigint[]) AS v(id, last_seq) WHERE g.id = v.id', [
      bumped,
      bumped.map((g) => lastSeq.get(g)),
    ]);
    // clock_timestamp() per row keeps sent_at non-decreasing with seq; it is stored at the
    // API's precision (milliseconds) so a message's own sent_at finds it as since/until.
    const { rows } = await tx.query<MessageRow>(
      `INSERT INTO messages (id, group_id, seq, sender_id, username, content, client_id, sent_at)
       SELECT id, group_id, seq, sender_id, username, content, client_id, date_trunc('milliseconds', clock_timestamp())
       FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::uuid[], $5::text[], $6::text[], $7::text[])
         AS t(id, group_id, seq, sender_id, username, content, client_id)
       ORDER BY group_id, seq
       RETURNING ${MESSAGE_COLUMNS}`,
      [
        accepted.map((a) => a.accept.id),
        accepted.map((a) => a.request.groupId),
        accepted.map((a) => a.accept.seq),
        accepted.map((a) => a.request.user.userId),
        accepted.map((a) => a.request.user.username),
        accepted.map((a) => a.request.content),
        accepted.map((a) => a.request.clientId),
      ],
    );
    for (const row of rows) stored.set(row.id, row);
  }

  return outcomes.map((o) => {
    if ('accept' in o) return { row: stored.get(o.accept.id)!, duplicate: false };
    if ('sameAs' in o) return { row: stored.get(o.sameAs)!, duplicate: true };
    return o;
  });
}
