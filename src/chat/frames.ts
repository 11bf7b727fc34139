import { Type, type Static } from 'typebox';
import type { ChatMessage } from '../bus/bus.js';
import type { Group } from '../groups/schemas.js';
import { compileStrict } from '../http/validation.js';

/** Client → server frames: a union discriminated on `type`, validated like REST bodies. */
export const MessageFrame = Type.Object({
  type: Type.Literal('message'),
  content: Type.String(),
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export const TypingFrame = Type.Object({ type: Type.Literal('typing'), is_typing: Type.Boolean() });
export const AuthFrame = Type.Object({ type: Type.Literal('auth'), token: Type.String({ minLength: 1 }) });
export const PingFrame = Type.Object({ type: Type.Literal('ping') });

export type MessageFrame = Static<typeof MessageFrame>;
export type TypingFrame = Static<typeof TypingFrame>;
export type AuthFrame = Static<typeof AuthFrame>;
export type ClientFrame = MessageFrame | TypingFrame | AuthFrame | { type: 'ping' };

const validators = {
  message: compileStrict<MessageFrame>(MessageFrame),
  typing: compileStrict<TypingFrame>(TypingFrame),
  auth: compileStrict<AuthFrame>(AuthFrame),
  ping: compileStrict<{ type: 'ping' }>(PingFrame),
};

export type FrameProblem = { code: 'PARSE_ERROR' | 'INVALID_MESSAGE_TYPE' | 'VALIDATION_ERROR'; message: string };

export function parseClientFrame(raw: string): ClientFrame | FrameProblem {
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return { code: 'PARSE_ERROR', message: 'Frame is not valid JSON' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    return { code: 'VALIDATION_ERROR', message: 'Frame must be a JSON object with a "type"' };
  }
  const type = (data as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.hasOwn(validators, type)) {
    return { code: 'INVALID_MESSAGE_TYPE', message: `Unknown frame type ${JSON.stringify(type ?? null)}; expected message, typing, auth or ping` };
  }
  const validate = validators[type as keyof typeof validators];
  if (!validate(data)) {
    const first = validate.errors?.[0];
    const field = first ? (first.instancePath.replace(/^\//, '') || (first.params as { missingProperty?: string }).missingProperty || 'frame') : 'frame';
    return { code: 'VALIDATION_ERROR', message: `${field}: ${first?.message ?? 'is invalid'}` };
  }
  return data as ClientFrame;
}

export function isProblem(frame: ClientFrame | FrameProblem): frame is FrameProblem {
  return 'code' in frame;
}

/** Server → client frames. Built once per event and sent as the same string to every socket. */
export const serverFrame = {
  message(m: ChatMessage): string {
    return JSON.stringify({
      type: 'message',
      id: m.id,
      group_id: m.groupId,
      seq: m.seq,
      user_id: m.userId,
      username: m.username,
      content: m.content,
      timestamp: m.sentAt,
      ...(m.clientId !== null ? { client_id: m.clientId } : {}),
    });
  },
  connected(p: { groupId: string; userId: string; username: string; lastSeq: number; online: { user_id: string; username: string }[]; recovered: boolean }): string {
    return JSON.stringify({
      type: 'connected',
      group_id: p.groupId,
      user_id: p.userId,
      username: p.username,
      last_seq: p.lastSeq,
      online: p.online,
      recovered: p.recovered,
    });
  },
  typing: (userId: string, username: string, isTyping: boolean, timestamp: string) =>
    JSON.stringify({ type: 'typing', user_id: userId, username, is_typing: isTyping, timestamp }),
  presence: (userId: string, username: string, status: 'online' | 'offline') => JSON.stringify({ type: 'presence', user_id: userId, username, status }),
  member: (type: 'member_joined' | 'member_left', userId: string, username: string) => JSON.stringify({ type, user_id: userId, username }),
  groupUpdated: (group: Group) => JSON.stringify({ type: 'group_updated', group }),
  groupDeleted: (groupId: string) => JSON.stringify({ type: 'group_deleted', group_id: groupId }),
  error: (code: string, message: string, retryAfter?: number) =>
    JSON.stringify({ type: 'error', code, message, ...(retryAfter !== undefined ? { retry_after: retryAfter } : {}) }),
  pong: () => '{"type":"pong"}',
};
