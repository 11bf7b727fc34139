import type { GroupEvent } from '../events/group-events.js';

/**
 * What crosses between replicas. Every chat frame a socket can receive starts as one of
 * these, published by whichever replica did the work and delivered to the hub of every
 * replica (its own included), so local and remote members take the same path.
 */
export interface ChatMessage {
  id: string;
  groupId: string;
  seq: number;
  userId: string;
  username: string;
  content: string;
  clientId: string | null;
  sentAt: string;
}

export type BusEvent =
  | { type: 'message'; groupId: string; message: ChatMessage; acceptedAtMs: number }
  /** A message too large for the transport: receivers read it from the database. */
  | { type: 'message_ref'; groupId: string; seq: number }
  | { type: 'typing'; groupId: string; userId: string; username: string; isTyping: boolean; timestamp: string }
  | { type: 'presence'; groupId: string; userId: string; username: string; status: 'online' | 'offline' }
  | { type: 'group'; groupId: string; event: GroupEvent };

/**
 * Delivered to the subscriber (never published) after the transport reconnected:
 * anything sent meanwhile may be lost, so receivers compare with the database.
 */
export interface ResyncSignal {
  type: 'resync';
}

export interface Bus {
  readonly kind: 'in-process' | 'postgres' | 'redis';
  publish(event: BusEvent): Promise<void>;
  /** One subscriber per replica: its chat hub. */
  subscribe(handler: (event: BusEvent | ResyncSignal) => void): Promise<void>;
  /**
   * This replica has a room for the group: the group's events must reach it from now on.
   * Resolves once the transport delivers them, or at once while the transport is down (its
   * return is signalled by `resync`). Counted: each watch is ended by one `unwatch`. A
   * transport may deliver more than the watched groups' events; the hub drops the rest.
   */
  watch(groupId: string): Promise<void>;
  unwatch(groupId: string): void;
  /** Throws when the transport cannot be reached (readiness). */
  check(): Promise<void>;
  close(): Promise<void>;
}
