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

/**
 * Several encoded envelopes of one origin as JSON arrays of at most `maxBytes` each, in
 * order: a transport that charges per notification (PostgreSQL NOTIFY) carries a burst
 * of events in a few of them.
 */
export function pack(encoded: readonly string[], maxBytes: number): string[] {
  const out: string[] = [];
  let chunk: string[] = [];
  let bytes = 2;
  for (const text of encoded) {
    const size = Buffer.byteLength(text) + 1;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      out.push(`[${chunk.join(',')}]`);
      chunk = [];
      bytes = 2;
    }
    chunk.push(text);
    bytes += size;
  }
  if (chunk.length > 0) out.push(`[${chunk.join(',')}]`);
  return out;
}

/** How every payload encoded by `origin` begins (encode writes the origin first). */
export function originPrefix(origin: string): string {
  return `{"origin":${JSON.stringify(origin)},`;
}

/** The envelopes of one payload (one envelope, or an array of them from `pack`); unreadable ones are left out. */
export function decode(text: string): Envelope[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return [];
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).filter(isEnvelope);
}

function isEnvelope(value: unknown): value is Envelope {
  const envelope = value as Envelope | null;
  return typeof envelope?.event?.type === 'string' && typeof envelope.event.groupId === 'string' && typeof envelope.origin === 'string';
}
