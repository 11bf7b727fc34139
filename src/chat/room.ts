import type { ChatMessage } from '../bus/bus.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Connection } from './connection.js';
import { serverFrame, wireFrame, type WireFrame } from './frames.js';

/**
 * One group's chat on this replica: its connections, and the order of its messages.
 *
 * Ordering invariant: the room hands connections the group's messages strictly in seq
 * order, each once. Messages can reach the room out of order (concurrent commits publish
 * in any order; a bus can drop or delay), so the room keeps `lastSeq` (the newest seq
 * handed on) and buffers what runs ahead of it. seq N is only ever published after it
 * committed, and N commits after N-1 (the group row lock), so a gap can always be filled
 * from the database; the room waits GAP_WAIT_MS for the missing message to arrive on its
 * own first, then reads it.
 *
 * Lifecycle: created when the first connection of the group arrives on this replica,
 * `ready` once the bus delivers the group's events (`watch`) and then lastSeq is read from
 * the database (in that order, so no message falls between the two), dropped when its last
 * connection leaves (`unwatch`).
 */
const GAP_WAIT_MS = 30;
const GAP_RETRY_MS = 500;
const TYPING_PER_SECOND = 3;

export interface RoomStore {
  lastSeq(groupId: string): Promise<number>;
  range(groupId: string, fromSeq: number, toSeq: number): Promise<ChatMessage[]>;
  /** The bus's watch and unwatch of the group (see Bus). */
  watch(groupId: string): Promise<void>;
  unwatch(groupId: string): void;
}

/** One user's typing relay: when frames were relayed in the last second, and the newest one held back. */
interface TypingGate {
  relayedAt: number[];
  lastRelayed: boolean | undefined;
  held: { isTyping: boolean; relay: (isTyping: boolean) => void } | undefined;
  timer: NodeJS.Timeout | undefined;
}

interface Pending {
  message: ChatMessage;
  acceptedAtMs: number | undefined;
}

export class Room {
  readonly connections = new Set<Connection>();
  readonly ready: Promise<void>;
  lastSeq = 0;
  private initialized = false;
  private readonly pending = new Map<number, Pending>();
  private gapTimer: NodeJS.Timeout | undefined;
  private filling = false;
  /** The newest seq known to be stored without its message having arrived (see hint). */
  private hintedSeq = 0;
  private closed = false;
  /** Between the bus's watch of the group and its unwatch. */
  private watching = false;
  private readonly typingGates = new Map<string, TypingGate>();

  constructor(
    readonly groupId: string,
    private readonly store: RoomStore,
    private readonly metrics: Metrics,
    private readonly onError: (err: unknown, what: string) => void,
  ) {
    this.ready = this.init();
  }

  private async init(): Promise<void> {
    await this.store.watch(this.groupId);
    this.watching = true;
    if (this.closed) return this.unwatch();
    for (let attempt = 0; ; attempt++) {
      try {
        this.lastSeq = await this.store.lastSeq(this.groupId);
        break;
      } catch (err) {
        if (attempt >= 2) {
          this.unwatch();
          throw err;
        }
        await new Promise((r) => setTimeout(r, 100 * (attempt + 1)));
      }
    }
    this.initialized = true;
    this.drain();
  }

  /** Ends this room's watch of the group on the bus, once. */
  private unwatch(): void {
    if (!this.watching) return;
    this.watching = false;
    this.store.unwatch(this.groupId);
  }

  receive(message: ChatMessage, acceptedAtMs?: number): void {
    if (this.closed || message.seq <= this.lastSeq) return;
    this.pending.set(message.seq, { message, acceptedAtMs });
    if (this.initialized) this.drain();
  }

  /** Hands on every buffered message that continues the sequence; schedules a fill for a gap. */
  private drain(): void {
    let next = this.pending.get(this.lastSeq + 1);
    while (next) {
      this.pending.delete(next.message.seq);
      this.deliver(next);
      next = this.pending.get(this.lastSeq + 1);
    }
    for (const seq of this.pending.keys()) if (seq <= this.lastSeq) this.pending.delete(seq);
    if (this.hintedSeq > this.lastSeq) this.scheduleFill(0);
    else if (this.pending.size > 0) this.scheduleFill(GAP_WAIT_MS);
    else if (this.gapTimer) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    }
  }

  private deliver({ message, acceptedAtMs }: Pending): void {
    this.lastSeq = message.seq;
    if (this.connections.size === 0) return;
    // Encoded once; every socket gets the same bytes.
    const frame = wireFrame(serverFrame.message(message));
    for (const connection of this.connections) connection.deliverMessage(message.seq, frame);
    if (acceptedAtMs !== undefined) this.metrics.observeDeliveryLatency((Date.now() - acceptedAtMs) / 1000);
  }

  private scheduleFill(delayMs: number): void {
    if (this.gapTimer || this.filling || this.closed) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined;
      void this.fill();
    }, delayMs);
  }

  private async fill(): Promise<void> {
    if (this.closed || (this.pending.size === 0 && this.hintedSeq <= this.lastSeq)) return;
    this.filling = true;
    const upTo = this.pending.size > 0 ? Math.min(...this.pending.keys()) - 1 : this.hintedSeq;
    try {
      const missing = await this.store.range(this.groupId, this.lastSeq + 1, upTo);
      for (const message of missing) if (message.seq > this.lastSeq) this.pending.set(message.seq, { message, acceptedAtMs: undefined });
      this.filling = false;
      this.drain();
    } catch (err) {
      this.filling = false;
      this.onError(err, 'filling a seq gap from the database');
      this.scheduleFill(GAP_RETRY_MS);
    }
  }

  /** A seq is known to exist (a reference, or a resync): read what is missing up to it. */
  hint(seq: number): void {
    if (this.closed || seq <= this.lastSeq) return;
    this.hintedSeq = Math.max(this.hintedSeq, seq);
    if (this.initialized) this.scheduleFill(0);
  }

  /** After the bus may have lost events: compare with the database and fill what is missing. */
  async resync(): Promise<void> {
    if (!this.initialized || this.closed) return;
    try {
      this.hint(await this.store.lastSeq(this.groupId));
    } catch (err) {
      this.onError(err, 'resyncing a room');
    }
  }

  broadcast(frame: WireFrame, exceptUserId?: string): void {
    for (const connection of this.connections) {
      if (connection.userId !== exceptUserId) connection.sendFrame(frame);
    }
  }

  /** Active connections' users, each once, in the order they came online here. */
  online(): { user_id: string; username: string }[] {
    const seen = new Map<string, string>();
    for (const c of this.connections) if (c.active && !seen.has(c.userId)) seen.set(c.userId, c.username);
    return [...seen].map(([user_id, username]) => ({ user_id, username }));
  }

  isOnline(userId: string, except?: Connection): boolean {
    for (const c of this.connections) if (c !== except && c.active && c.userId === userId) return true;
    return false;
  }

  /**
   * Typing floods are thinned: at most TYPING_PER_SECOND typing frames per user are relayed
   * in any one-second span (a sliding window over the times of the frames relayed; fixed
   * windows would let twice as many through around a window's edge). A frame held back is
   * not simply lost: the user's latest state is relayed as soon as the span allows, if it
   * differs from the last one relayed, so "stopped typing" always reaches the others.
   */
  typing(userId: string, isTyping: boolean, nowMs: number, relay: (isTyping: boolean) => void): void {
    if (this.closed) return;
    let gate = this.typingGates.get(userId);
    if (!gate) {
      gate = { relayedAt: [], lastRelayed: undefined, held: undefined, timer: undefined };
      this.typingGates.set(userId, gate);
    }
    gate.relayedAt = gate.relayedAt.filter((t) => nowMs - t < 1000);
    if (gate.relayedAt.length < TYPING_PER_SECOND) {
      // Newer than anything held back: it replaces it.
      gate.held = undefined;
      if (gate.timer) clearTimeout(gate.timer);
      gate.timer = undefined;
      gate.relayedAt.push(nowMs);
      gate.lastRelayed = isTyping;
      relay(isTyping);
      return;
    }
    gate.held = { isTyping, relay };
    if (!gate.timer) {
      const held = gate;
      gate.timer = setTimeout(() => {
        held.timer = undefined;
        const frame = held.held;
        held.held = undefined;
        if (frame && frame.isTyping !== held.lastRelayed && this.typingGates.get(userId) === held) this.typing(userId, frame.isTyping, Date.now(), frame.relay);
      }, gate.relayedAt[0]! + 1000 - nowMs + 1);
      gate.timer.unref();
    }
  }

  forgetUser(userId: string): void {
    const gate = this.typingGates.get(userId);
    if (gate?.timer) clearTimeout(gate.timer);
    this.typingGates.delete(userId);
  }

  close(): void {
    this.closed = true;
    this.unwatch();
    if (this.gapTimer) clearTimeout(this.gapTimer);
    for (const userId of [...this.typingGates.keys()]) this.forgetUser(userId);
    this.pending.clear();
  }
}
