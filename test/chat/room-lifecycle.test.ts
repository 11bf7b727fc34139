import { describe, expect, it } from 'vitest';
import { Room, type RoomStore } from '../../src/chat/room.js';
import { createMetrics } from '../../src/metrics/metrics.js';

/**
 * A room asks the bus for its group's events (watch) before it reads the group's last seq,
 * so no message can be stored between the two without reaching it, and ends that watch
 * exactly once: when it closes, when it cannot start, or at once if it closed while waiting.
 * The store here records the calls; the bus's own side is tested in test/bus/redis-bus.test.ts.
 */
const GROUP = '00000000-0000-4000-8000-000000000001';

function recordingStore(lastSeq: () => Promise<number>) {
  const calls: string[] = [];
  let watched!: () => void;
  const watching = new Promise<void>((resolve) => (watched = resolve));
  const store: RoomStore = {
    lastSeq: async (groupId) => {
      calls.push(`lastSeq ${groupId}`);
      return lastSeq();
    },
    range: async () => [],
    watch: (groupId) => {
      calls.push(`watch ${groupId}`);
      return watching;
    },
    unwatch: (groupId) => void calls.push(`unwatch ${groupId}`),
  };
  return { store, calls, watched };
}

const roomOn = (store: RoomStore) => new Room(GROUP, store, createMetrics(), () => {});

describe('room lifecycle and the bus watch', () => {
  it('reads the last seq only once the watch took, and unwatches once on close', async () => {
    const { store, calls, watched } = recordingStore(async () => 7);
    const room = roomOn(store);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([`watch ${GROUP}`]);

    watched();
    await room.ready;
    expect(room.lastSeq).toBe(7);
    expect(calls).toEqual([`watch ${GROUP}`, `lastSeq ${GROUP}`]);

    room.close();
    room.close();
    expect(calls).toEqual([`watch ${GROUP}`, `lastSeq ${GROUP}`, `unwatch ${GROUP}`]);
  });

  it('unwatches when it cannot read the last seq', async () => {
    const { store, calls, watched } = recordingStore(async () => Promise.reject(new Error('database down')));
    watched();
    const room = roomOn(store);
    await expect(room.ready).rejects.toThrow('database down');
    expect(calls.filter((c) => c.startsWith('unwatch'))).toEqual([`unwatch ${GROUP}`]);
    room.close();
    expect(calls.filter((c) => c.startsWith('unwatch'))).toEqual([`unwatch ${GROUP}`]);
  });

  it('closed while the watch was pending: unwatches when it takes, and never reads the last seq', async () => {
    const { store, calls, watched } = recordingStore(async () => 7);
    const room = roomOn(store);
    room.close();
    expect(calls).toEqual([`watch ${GROUP}`]);
    watched();
    await room.ready;
    expect(calls).toEqual([`watch ${GROUP}`, `unwatch ${GROUP}`]);
  });
});
