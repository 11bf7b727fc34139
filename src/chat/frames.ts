import { Type, type Static } from 'typebox';
import * as wsModule from 'ws';
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

/**
 * A server frame as it goes on the wire: the complete WebSocket text frame (unmasked
 * header + UTF-8 payload), encoded once per event and written as the same bytes to every
 * socket it is for (see Connection.write). JSON.stringify output is well-formed UTF-16
 * (lone surrogates are escaped), so the payload is valid UTF-8 as a text frame requires.
 */
export type WireFrame = Buffer;

/** ws's own framing (ws exports its Sender; its type definitions do not declare it). */
const { Sender } = wsModule as unknown as {
  Sender: { frame(data: Buffer, options: { fin: boolean; opcode: number; mask: boolean; readOnly: boolean; rsv1: boolean }): Buffer[] };
};

export function wireFrame(json: string): WireFrame {
  // Unmasked, as a server's frames are: [header, payload], joined once.
  return Buffer.concat(Sender.frame(Buffer.from(json), { fin: true, opcode: 0x1, mask: false, readOnly: true, rsv1: false }));
}

/** The payload of a wire frame (its JSON text as bytes), for a socket that has to be written through `ws.send`. */
export function wirePayload(wire: WireFrame): Buffer {
  const len7 = wire[1]! & 0x7f;
  return wire.subarray(len7 < 126 ? 2 : len7 === 126 ? 4 : 10);
}

/** Server → client frames as JSON text (wrap with wireFrame to send). */
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

/** The one pong frame, shared by every socket. */
export const PONG_WIRE = wireFrame(serverFrame.pong());
