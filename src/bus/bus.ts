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
  | { type: 'typing'; groupId: string; userId: string; username: string; isTyping: boolean; timestamp: string }
  | { type: 'group'; groupId: string; event: GroupEvent };

export interface Bus {
  readonly kind: 'in-process' | 'postgres' | 'redis';
  publish(event: BusEvent): Promise<void>;
  /** One subscriber per replica: its chat hub. */
  subscribe(handler: (event: BusEvent) => void): Promise<void>;
  close(): Promise<void>;
}
