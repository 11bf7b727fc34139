/**
 * One timer for many deadlines (the chat sessions' token expiries), instead of a `Timeout`
 * per socket: a binary min-heap of the items ordered by `deadlineMs`, and one unref'd
 * timer armed for the earliest. Each item keeps its own position in the heap
 * (`deadlineSlot`), so moving a deadline (a token refresh) or dropping it (a socket that
 * closed) is O(log n) and nothing stale is kept alive. A deadline fires when the timer
 * finds `Date.now() >= deadlineMs`, never before: the same moment a per-item
 * `setTimeout(deadlineMs - Date.now())` would fire.
 */
export interface Deadlined {
  /** Epoch ms; meaningful while `deadlineSlot >= 0`. */
  deadlineMs: number;
  /** Index in the heap, or -1 when not scheduled. Owned by the Deadlines. */
  deadlineSlot: number;
}

/** setTimeout's longest delay; later deadlines re-arm on the way. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Deadlines<T extends Deadlined> {
  private readonly heap: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (epoch ms), Infinity when none is armed. */
  private armedFor = Number.POSITIVE_INFINITY;
  private stopped = false;

  constructor(
    private readonly onDue: (item: T) => void,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.heap.length;
  }

  /** Schedules `item` at `atMs`, or moves it there if already scheduled. */
  set(item: T, atMs: number): void {
    if (item.deadlineSlot >= 0) {
      const slot = item.deadlineSlot;
      const earlier = atMs < item.deadlineMs;
      item.deadlineMs = atMs;
      if (earlier) this.up(slot);
      else this.down(slot);
    } else {
      item.deadlineMs = atMs;
      item.deadlineSlot = this.heap.length;
      this.heap.push(item);
      this.up(item.deadlineSlot);
    }
    this.arm();
  }

  /** Unschedules `item` (no-op when it is not scheduled). */
  delete(item: T): void {
    const slot = item.deadlineSlot;
    if (slot < 0) return;
    item.deadlineSlot = -1;
    const last = this.heap.pop()!;
    if (last !== item) {
      this.heap[slot] = last;
      last.deadlineSlot = slot;
      this.up(slot);
      this.down(last.deadlineSlot);
    }
    // The timer is left as it is: firing early for a removed head only re-arms.
  }

  /** Drops every deadline and the timer (shutdown). */
  clear(): void {
    for (const item of this.heap) item.deadlineSlot = -1;
    this.heap.length = 0;
    this.disarm();
  }

  stop(): void {
    this.stopped = true;
    this.clear();
  }

  private arm(): void {
    const head = this.heap[0];
    if (!head || this.stopped) return this.disarm();
    if (head.deadlineMs >= this.armedFor) return;
    this.disarm();
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, head.deadlineMs - this.now()));
    this.armedFor = head.deadlineMs;
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (let head = this.heap[0]; head && head.deadlineMs <= now; head = this.heap[0]) {
      this.delete(head);
      try {
        this.onDue(head);
      } catch {
        // one item's failure must not stop the others' deadlines
      }
    }
    this.arm();
  }

  private up(slot: number): void {
    const heap = this.heap;
    const item = heap[slot]!;
    while (slot > 0) {
      const parentSlot = (slot - 1) >> 1;
      const parent = heap[parentSlot]!;
      if (parent.deadlineMs <= item.deadlineMs) break;
      heap[slot] = parent;
      parent.deadlineSlot = slot;
      slot = parentSlot;
    }
    heap[slot] = item;
    item.deadlineSlot = slot;
  }

  private down(slot: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[slot]!;
    for (;;) {
      let child = 2 * slot + 1;
      if (child >= n) break;
      if (child + 1 < n && heap[child + 1]!.deadlineMs < heap[child]!.deadlineMs) child++;
      const c = heap[child]!;
      if (c.deadlineMs >= item.deadlineMs) break;
      heap[slot] = c;
      c.deadlineSlot = slot;
      slot = child;
    }
    heap[slot] = item;
    item.deadlineSlot = slot;
  }
}
