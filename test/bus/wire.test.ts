import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BusEvent } from '../../src/bus/bus.js';
import { LocalFirst } from '../../src/bus/local-first.js';
import { encode, pack } from '../../src/bus/wire.js';

const log = { warn() {} };

function message(content: string): BusEvent {
  const groupId = randomUUID();
  return {
    type: 'message',
    groupId,
    message: { id: randomUUID(), groupId, seq: 1, userId: randomUUID(), username: 'ann', content, clientId: null, sentAt: new Date().toISOString() },
    acceptedAtMs: Date.now(),
  };
}

describe('bus envelopes', () => {
  it('drops the echo of its own events and hands on those of other replicas, including oversized ones sent as references', () => {
    const self = randomUUID();
    const other = randomUUID();
    const received: BusEvent[] = [];
    const local = new LocalFirst(self, log);
    local.set((event) => {
      if (event.type !== 'resync') received.push(event);
    });
    const small = message('hello');
    const big = message('x'.repeat(10_000));

    local.remote(encode(self, small, 7_500));
    local.remote(encode(self, big, 7_500));
    expect(received).toEqual([]);

    local.remote(encode(other, small, 7_500));
    local.remote(encode(other, big, 7_500));
    expect(received.map((e) => e.type)).toEqual(['message', 'message_ref']);
    expect(received[0]).toEqual(small);
  });

  it('packs a burst into few payloads under the size limit and unpacks it in order, dropping only its own', () => {
    const self = randomUUID();
    const other = randomUUID();
    const events = Array.from({ length: 300 }, (_, i) => message(`message ${i} ${'y'.repeat(i % 50)}`));
    const packed = pack(events.map((e) => encode(other, e, 7_500)), 7_500);
    expect(packed.length).toBeGreaterThan(1);
    expect(packed.length).toBeLessThan(40);
    for (const payload of packed) expect(Buffer.byteLength(payload)).toBeLessThanOrEqual(7_500);

    const received: BusEvent[] = [];
    const local = new LocalFirst(self, log);
    local.set((event) => {
      if (event.type !== 'resync') received.push(event);
    });
    for (const payload of pack(events.map((e) => encode(self, e, 7_500)), 7_500)) local.remote(payload);
    expect(received).toEqual([]);
    for (const payload of packed) local.remote(payload);
    expect(received).toEqual(events);
  });

  it('ignores payloads it cannot read', () => {
    const received: unknown[] = [];
    const local = new LocalFirst(randomUUID(), log);
    local.set((event) => received.push(event));
    for (const junk of ['', 'not json', '{"origin":1}', '{"event":{"type":"message"}}', '[]', '[1,null]', 'null']) local.remote(junk);
    expect(received).toEqual([]);
  });
});
