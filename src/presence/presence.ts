/**
 * Who is online in a group, across replicas. The hub calls `arrive` on a user's first
 * socket in a group on this replica and `depart` on their last one; both answer whether
 * that changed the user's status for the whole deployment, so `presence` frames are sent
 * once per real change, not once per replica.
 */
export interface OnlineUser {
  user_id: string;
  username: string;
}

export interface Presence {
  arrive(groupId: string, userId: string, username: string): Promise<boolean>;
  depart(groupId: string, userId: string): Promise<boolean>;
  /** Online users of the group on every replica; undefined when this replica's rooms are the whole truth. */
  list(groupId: string): Promise<OnlineUser[] | undefined>;
  /** `onExpired` is told of users whose replica died, once their presence there lapsed. */
  start(onExpired: (groupId: string, user: OnlineUser) => void): Promise<void>;
  stop(): Promise<void>;
}

/** One process: its rooms know everyone. */
export const localPresence: Presence = {
  arrive: async () => true,
  depart: async () => true,
  list: async () => undefined,
  start: async () => {},
  stop: async () => {},
};
