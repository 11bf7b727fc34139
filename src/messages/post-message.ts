import type { AuthUser } from '../auth/token-verifier.js';
import type { Bus, ChatMessage } from '../bus/bus.js';
import type { Database } from '../db/database.js';
import { isUniqueViolation } from '../db/database.js';
import { AppError, validationError } from '../errors/app-error.js';
import type { Metrics } from '../metrics/metrics.js';
import { findByClientId, isMember, type MessageRow } from './repository.js';
import type { SendBatcher } from './send-batcher.js';

/**
 * Posting a chat message: the one function behind both the WebSocket `message` frame
 * and `POST /{id}/messages`.
 *
 * Invariants:
 * - the message is stored, with the group's next seq, in the same transaction that
 *   checks membership and the rate limit (store-batch.ts; several sends may share that
 *   transaction); it is published only after that commits, so
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
  /** Where sends are stored: group commit, see SendBatcher. */
  store: SendBatcher;
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

const NOTHING_VISIBLE = /^[\s\p{Cc}\p{Default_Ignorable_Code_Point}]+$/u;

export function validateContent(content: unknown, maxLength: number): string {
  if (typeof content !== 'string') throw validationError('content', 'must be a string');
  // PostgreSQL text cannot hold NUL: refused as bad input, not failed as a save.
  if (content.includes('\u0000')) throw validationError('content', 'must not contain NUL characters');
  const trimmed = content.trim();
  if (trimmed.length === 0) throw validationError('content', 'must not be empty');
  // Zero-width spaces, joiners, byte-order marks, control characters: a message of nothing
  // else would show as an empty bubble.
  if (NOTHING_VISIBLE.test(trimmed)) throw validationError('content', 'must contain a visible character');
  // Length in characters (code points), as a person counts them.
  const length = [...trimmed].length;
  if (length > maxLength) {
    throw new AppError('message_too_long', `Message is ${length} characters; the limit is ${maxLength}`, {
      errors: [{ field: 'content', message: `must be at most ${maxLength} characters` }],
    });
  }
  return trimmed;
}

/** client_id: optional, 1..64 characters, no NUL (the transports' schemas say the same; this is the last word). */
export function validateClientId(clientId: unknown): string | null {
  if (clientId === undefined || clientId === null) return null;
  if (typeof clientId !== 'string') throw validationError('client_id', 'must be a string');
  if (clientId.length < 1 || clientId.length > 64) throw validationError('client_id', 'must be 1 to 64 characters');
  if (clientId.includes('\u0000')) throw validationError('client_id', 'must not contain NUL characters');
  return clientId;
}

export async function postMessage(
  deps: PostMessageDeps,
  user: AuthUser,
  anyCaseGroupId: string,
  input: { content: unknown; clientId?: string | null },
): Promise<PostedMessage> {
  const receivedAtMs = Date.now();
  // Ids are compared as text in batches and in rooms: one spelling.
  const groupId = anyCaseGroupId.toLowerCase();
  let content: string;
  let clientId: string | null;
  try {
    content = validateContent(input.content, deps.limits.maxMessageLength);
    clientId = validateClientId(input.clientId);
  } catch (err) {
    deps.metrics.markMessageRejected(err instanceof AppError && err.code === 'message_too_long' ? 'too_long' : 'validation');
    throw err;
  }

  let outcome: PostedMessage;
  try {
    const stored = await deps.store.submit({ user, groupId, content, clientId });
    if ('error' in stored) throw stored.error;
    outcome = { message: toChatMessage(stored.row), duplicate: stored.duplicate };
  } catch (err) {
    if (err instanceof AppError) {
      deps.metrics.markMessageRejected(err.code === 'rate_limited' ? 'rate_limited' : err.code === 'not_member' ? 'not_member' : 'validation');
      throw err;
    }
    if (clientId !== null && isUniqueViolation(err)) {
      const original = await findByClientId(deps.db, groupId, user.userId, clientId);
      if (original) {
        if (await isMember(deps.db, groupId, user.userId)) return { message: toChatMessage(original), duplicate: true };
        deps.metrics.markMessageRejected('not_member');
        throw new AppError('not_member');
      }
    }
    deps.metrics.markMessageRejected('save_failed');
    deps.log?.error({ err }, 'message could not be saved');
    throw new AppError('message_save_failed');
  }

  if (!outcome.duplicate) {
    deps.metrics.markMessageAccepted();
    // Stored is what counts. This replica's members get the message synchronously inside
    // publish; the transport's round trip to other replicas is not waited for, so it does
    // not hold up this sender's next frame. A lost publish is repaired by receivers from the
    // database (seq gap).
    void deps.bus.publish({ type: 'message', groupId, message: outcome.message, acceptedAtMs: receivedAtMs }).catch((err: unknown) => {
      deps.log?.error({ err }, 'message stored but not published; receivers will fill the gap');
    });
  }
  return outcome;
}
