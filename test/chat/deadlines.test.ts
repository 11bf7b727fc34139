import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, type Deadlined } from '../../src/chat/deadlines.js';

/** The one timer behind every chat session's expiry. Fake timers; `now` is the fake clock. */
interface Item extends Deadlined {
  name: string;
}
const item = (name: string): Item => ({ name, deadlineMs: 0, deadlineSlot: -1 });

describe('Deadlines', () => {
  let fired: { name: string; at: number }[];
  let deadlines: Deadlines<Item>;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    fired = [];
    deadlines = new Deadlines<Item>((i) => fired.push({ name: i.name, at: Date.now() }));
  });
  afterEach(() => {
    deadlines.stop();
    vi.useRealTimers();
  });

  it('fires each item at its deadline, in deadline order, with one timer for all of them', () => {
    const t0 = Date.now();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    deadlines.set(b, t0 + 2_000);
    deadlines.set(a, t0 + 1_000);
    deadlines.set(c, t0 + 3_000);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(999);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(fired).toEqual([{ name: 'a', at: t0 + 1_000 }]);
    vi.advanceTimersByTime(2_000);
    expect(fired).toEqual([
      { name: 'a', at: t0 + 1_000 },
      { name: 'b', at: t0 + 2_000 },
      { name: 'c', at: t0 + 3_000 },
    ]);
    expect(deadlines.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('moves a deadline later (a refreshed session) or earlier, and forgets a deleted one', () => {
    const t0 = Date.now();
    const [a, b, c] = [item('a'), item('b'), item('c')];
    deadlines.set(a, t0 + 1_000);
    deadlines.set(b, t0 + 2_000);
    deadlines.set(c, t0 + 3_000);
    deadlines.set(a, t0 + 5_000);
    deadlines.set(c, t0 + 500);
    deadlines.delete(b);
    deadlines.delete(b);
    vi.advanceTimersByTime(10_000);
    expect(fired).toEqual([
      { name: 'c', at: t0 + 500 },
      { name: 'a', at: t0 + 5_000 },
    ]);
    expect(a.deadlineSlot).toBe(-1);
  });

  it('fires a deadline already past at once, and never before its time even when the timer comes early', () => {
    const t0 = Date.now();
    const late = item('late');
    deadlines.set(late, t0 - 10);
    vi.advanceTimersByTime(0);
    expect(fired).toEqual([{ name: 'late', at: t0 }]);

    // A clock that runs behind the timers: the item must wait for its own time.
    let skew = -300;
    const skewed = new Deadlines<Item>((i) => fired.push({ name: i.name, at: Date.now() + skew }), () => Date.now() + skew);
    const x = item('x');
    skewed.set(x, t0 + 1_000); // armed for 1_300 ms of timer time
    skew = -600; // the clock fell further behind meanwhile
    vi.advanceTimersByTime(1_300);
    expect(fired.map((f) => f.name)).toEqual(['late']);
    vi.advanceTimersByTime(300);
    expect(fired.at(-1)).toEqual({ name: 'x', at: t0 + 1_000 });
    skewed.stop();
  });

  it('keeps firing the others when one item\'s handler throws', () => {
    const t0 = Date.now();
    const throwing = new Deadlines<Item>((i) => {
      fired.push({ name: i.name, at: Date.now() });
      if (i.name === 'a') throw new Error('boom');
    });
    throwing.set(item('a'), t0 + 10);
    throwing.set(item('b'), t0 + 10);
    vi.advanceTimersByTime(10);
    expect(fired.map((f) => f.name).sort()).toEqual(['a', 'b']);
    throwing.stop();
  });

  it('any sequence of sets, moves and deletes fires exactly the items still scheduled, each once, at its last deadline, in order', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), i: fc.nat(19), at: fc.integer({ min: -50, max: 5_000 }) }),
      fc.record({ kind: fc.constant('delete' as const), i: fc.nat(19) }),
      fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 700 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        fired = [];
        const d = new Deadlines<Item>((i) => fired.push({ name: i.name, at: Date.now() }));
        const items = Array.from({ length: 20 }, (_, i) => item(String(i)));
        const expected = new Map<string, number>(); // name -> deadline, for items still scheduled
        const firedSoFar: { name: string; at: number }[] = [];
        const settle = () => {
          for (const f of fired.splice(0)) {
            const due = expected.get(f.name);
            expect(due, `${f.name} fired but was not scheduled`).toBeDefined();
            expect(f.at).toBeGreaterThanOrEqual(due!);
            expected.delete(f.name);
            firedSoFar.push(f);
          }
          // Nothing overdue is left waiting.
          for (const [name, due] of expected) expect(due > Date.now(), `${name} overdue`).toBe(true);
        };
        for (const o of ops) {
          if (o.kind === 'set') {
            d.set(items[o.i]!, Date.now() + o.at);
            expected.set(String(o.i), Date.now() + o.at);
          } else if (o.kind === 'delete') {
            d.delete(items[o.i]!);
            expected.delete(String(o.i));
          } else {
            vi.advanceTimersByTime(o.ms);
            settle();
          }
          expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
        }
        vi.advanceTimersByTime(6_000);
        settle();
        expect(expected.size).toBe(0);
        expect(d.size).toBe(0);
        const times = firedSoFar.map((f) => f.at);
        expect(times).toEqual([...times].sort((x, y) => x - y));
        d.stop();
      }),
      { numRuns: 200 },
    );
  });
});
