import { randomUUID } from 'node:crypto';
import type { AuthUser } from '../auth/token-verifier.js';
import type { Bus, ChatMessage } from '../bus/bus.js';
import type { Database } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { AppError, validationError } from '../errors/app-error.js';
import type { Metrics } from '../metrics/metrics.js';
import { checkSlidingWindow, lockSender } from '../ratelimit/sliding-window.js';
import { findByClientId, insertMessage, isMember, nextSeq, type MessageRow } from './repository.js';

/**
 * Posting a chat message: the one function behind both the WebSocket `message` frame
 * and `POST /{id}/messages`.
 *
 * Invariants:
 * - the message is stored, with the group's next seq, in the same transaction that
 *   checks membership and the rate limit; it is published only after that commits, so
 *   an acknowledgement (the delivered copy, or the 201) always means "stored";
 * - seq is gapless: a refused or failed send rolls its seq bump back;
 * - a repeated client_id of the same sender in the same group stores nothing and
 *   returns the original (the unique index is the final word under races).
 */
export interface PostMessageDeps {
  db: Database;
  bus: Bus;
  metrics: Metrics;
  limits: { maxMessageLength: number; rateLimitMessages: number; rateLimitWindowMs: number };
  log?: { error(obj: object, msg: string): void };
}

export interface PostedMessage {
  message: ChatMessage;
  /** True when client_id matched an earlier message: nothing was stored or delivered. */
  duplicate: boolean;
}

export function toChatMessage(row: MessageRow): ChatMessage {
  return {
    id: row.id,
    groupId: row.group_id,
    seq: row.seq,
    userId: row.sender_id,
    username: row.username,
    content: row.content,
    clientId: row.client_id,
    sentAt: row.sent_at.toISOString(),
  };
}

export function validateContent(content: unknown, maxLength: number): string {
  if (typeof content !== 'string') throw validationError('content', 'must be a string');
  const trimmed = content.trim();
  if (trimmed.length === 0) throw validationError('content', 'must not be empty');
  // Length in characters (code points), as a person counts them.
  const length = [...trimmed].length;
  if (length > maxLength) {
    throw new AppError('message_too_long', `Message is ${length} characters; the limit is ${maxLength}`, {
      errors: [{ field: 'content', message: `must be at most ${maxLength} characters` }],
    });
  }
  return trimmed;
}

export async function postMessage(
  deps: PostMessageDeps,
  user: AuthUser,
  groupId: string,
  input: { content: unknown; clientId?: string | null },
): Promise<PostedMessage> {
  let content: string;
  try {
    content = validateContent(input.content, deps.limits.maxMessageLength);
  } catch (err) {
    deps.metrics.markMessageRejected(err instanceof AppError && err.code === 'message_too_long' ? 'too_long' : 'validation');
    throw err;
  }
  const clientId = input.clientId ?? null;

  let outcome: PostedMessage;
  try {
    outcome = await deps.db.transaction(async (tx) => {
      await lockSender(tx, user.userId);
      if (clientId !== null) {
        const original = await findByClientId(tx, groupId, user.userId, clientId);
        if (original) return { message: toChatMessage(original), duplicate: true };
      }
      const seq = await nextSeq(tx, groupId);
      if (seq === undefined) throw new AppError('group_not_found');
      if (!(await isMember(tx, groupId, user.userId))) throw new AppError('not_member');
      const rate = await checkSlidingWindow(tx, user.userId, deps.limits.rateLimitMessages, deps.limits.rateLimitWindowMs);
      if (!rate.allowed) {
        throw new AppError('rate_limited', `At most ${deps.limits.rateLimitMessages} messages per ${deps.limits.rateLimitWindowMs / 1000} s`, {
          retryAfterSeconds: rate.retryAfterSeconds,
        });
      }
      const row = await insertMessage(tx, { id: randomUUID(), groupId, seq, senderId: user.userId, username: user.username, content, clientId });
      return { message: toChatMessage(row), duplicate: false };
    });
  } catch (err) {
    if (err instanceof AppError) {
      deps.metrics.markMessageRejected(err.code === 'rate_limited' ? 'rate_limited' : err.code === 'not_member' ? 'not_member' : 'validation');
      throw err;
    }
    if (clientId !== null && isUniqueViolation(err)) {
      const original = await findByClientId(deps.db, groupId, user.userId, clientId);
      if (original) return { message: toChatMessage(original), duplicate: true };
    }
    deps.metrics.markMessageRejected('save_failed');
    deps.log?.error({ err }, 'message could not be saved');
    throw new AppError('message_save_failed');
  }

  if (!outcome.duplicate) {
    deps.metrics.markMessageAccepted();
    // Stored is what counts; a lost publish is repaired by receivers from the database (seq gap).
    await deps.bus.publish({ type: 'message', groupId, message: outcome.message, acceptedAtMs: Date.now() }).catch((err: unknown) => {
      deps.log?.error({ err }, 'message stored but not published; receivers will fill the gap');
    });
  }
  return outcome;
}
