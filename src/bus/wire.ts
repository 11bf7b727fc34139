import type { BusEvent } from './bus.js';

/**
 * The bus's wire format, shared by the PostgreSQL and Redis adapters: JSON with the
 * publishing replica's id. A message whose JSON would exceed `maxBytes` travels as a
 * reference (group, seq) that receivers resolve from the database.
 */
export interface Envelope {
  origin: string;
  /**
   * The publisher's running count. PostgreSQL delivers identical payloads sent in one
   * transaction only once, so without it "online, offline, online" batched together
   * would arrive as "online, offline".
   */
  n: number;
  event: BusEvent;
}

let published = 0;

export function encode(origin: string, event: BusEvent, maxBytes: number): string {
  const n = ++published;
  const text = JSON.stringify({ origin, n, event } satisfies Envelope);
  if (Buffer.byteLength(text) <= maxBytes || event.type !== 'message') return text;
  return JSON.stringify({ origin, n, event: { type: 'message_ref', groupId: event.groupId, seq: event.message.seq } } satisfies Envelope);
}

export function decode(text: string): Envelope | undefined {
  try {
    const envelope = JSON.parse(text) as Envelope;
    if (typeof envelope?.event?.type !== 'string' || typeof envelope.event.groupId !== 'string') return undefined;
    return envelope;
  } catch {
    return undefined;
  }
}
