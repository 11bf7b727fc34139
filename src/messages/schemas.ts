import { Type, type Static } from 'typebox';
import { Timestamp, Uuid } from '../http/schemas.js';

export const Message = Type.Object({
  id: Uuid,
  group_id: Uuid,
  seq: Type.Integer({ minimum: 1 }),
  sender_id: Uuid,
  username: Type.String(),
  content: Type.String(),
  sent_at: Timestamp,
});
export type Message = Static<typeof Message>;

export const HistoryQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, default: 0 })),
  // Bounded so that every accepted cursor fits the BIGINT seq column (beyond it: 422, not a database error).
  before_seq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'the messages just before this seq' })),
  after_seq: Type.Optional(Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'the messages just after this seq' })),
  sender_id: Type.Optional(Uuid),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'case-insensitive literal substring' })),
  since: Type.Optional(Timestamp),
  until: Type.Optional(Timestamp),
});
export type HistoryQuery = Static<typeof HistoryQuery>;

export const HistoryPage = Type.Object({
  messages: Type.Array(Message),
  total: Type.Integer(),
  limit: Type.Integer(),
  offset: Type.Integer(),
  has_more: Type.Boolean({ description: 'more matching messages beyond the page, in the direction of paging (older; newer with after_seq)' }),
});
export type HistoryPage = Static<typeof HistoryPage>;

export const PostMessageBody = Type.Object({
  content: Type.String({ description: '1..MAX_MESSAGE_LENGTH characters after trimming, at least one of them visible' }),
  client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'idempotency key: a repeat returns the original' })),
});
export type PostMessageBody = Static<typeof PostMessageBody>;
