import type { Group } from '../groups/schemas.js';

/**
 * What REST changes tell the chat: the domain publishes these after its transaction
 * commits; the chat turns them into frames and socket closes on every replica.
 */
export type GroupEvent =
  | { type: 'member_joined'; groupId: string; userId: string; username: string }
  | { type: 'member_left'; groupId: string; userId: string; username: string; removed: boolean }
  | { type: 'group_updated'; groupId: string; group: Group }
  | { type: 'group_deleted'; groupId: string };

export interface GroupEventSink {
  publish(event: GroupEvent): Promise<void>;
}
