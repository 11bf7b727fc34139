import type { AuthUser, TokenVerifier } from '../auth/token-verifier.js';
import type { Bus, BusEvent, ResyncSignal } from '../bus/bus.js';
import type { Database } from '../db/database.js';
import { CloseCode } from '../errors/catalogue.js';
import type { GroupEvent, GroupEventSink } from '../events/group-events.js';
import { postMessage, toChatMessage, type PostMessageDeps } from '../messages/post-message.js';
import { messagesInSeqRange } from '../messages/repository.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Presence } from '../presence/presence.js';
import { Connection, type ConnectionHost } from './connection.js';
import { Deadlines } from './deadlines.js';
import { serverFrame, wireFrame } from './frames.js';
import { Room } from './room.js';

/**
 * This replica's chat: the rooms of the groups that have connections here, fed by the
 * bus. Everything a socket receives arrives through `onBusEvent`, whether it started on
 * this replica or another, so there is one delivery path. The hub is also the sink of
 * REST membership/group events, which it publishes on the bus.
 */
export interface HubDeps {
  db: Database;
  bus: Bus;
  metrics: Metrics;
  verifier: TokenVerifier;
  messages: PostMessageDeps;
  presence: Presence;
  heartbeatMs: number;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export class ChatHub implements GroupEventSink {
  private readonly rooms = new Map<string, Room>();
  private readonly connections = new Set<Connection>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly presenceOps = new Map<string, Promise<void>>();
  private shuttingDown = false;
  private readonly postDeps: PostMessageDeps;
  /** What every connection of this hub shares (one object, not closures per socket). */
  private readonly host: ConnectionHost;

  constructor(private readonly deps: HubDeps) {
    this.postDeps = deps.messages;
    this.host = {
      verifier: deps.verifier,
      bus: deps.bus,
      post: (user, groupId, content, clientId) => this.post(user, groupId, content, clientId),
      onClosed: (c) => this.detach(c),
      sessions: new Deadlines<Connection>((c) => c.expired()),
      log: deps.log,
    };
  }

  get log(): HubDeps['log'] {
    return this.deps.log;
  }

  async start(): Promise<void> {
    await this.deps.bus.subscribe((event) => this.onBusEvent(event));
    await this.deps.presence.start((groupId, user) => this.announce(groupId, user.user_id, user.username, 'offline'));
    this.heartbeat = setInterval(() => this.beat(), this.deps.heartbeatMs);
    this.heartbeat.unref();
  }

  get accepting(): boolean {
    return !this.shuttingDown;
  }

  post(user: AuthUser, groupId: string, content: unknown, clientId?: string | null) {
    return postMessage(this.postDeps, user, groupId, { content, clientId });
  }

  async publish(event: GroupEvent): Promise<void> {
    // The change is committed: a fan-out failure (bus down) must not turn its REST answer into an error.
    await this.deps.bus.publish({ type: 'group', groupId: event.groupId, event }).catch((err: unknown) => this.deps.log.warn({ err }, 'group event not published'));
  }

  newConnection(ws: ConstructorParameters<typeof Connection>[0], groupId: string): Connection {
    const connection = new Connection(ws, groupId, this.host);
    this.connections.add(connection);
    this.deps.metrics.markSocketOpened();
    return connection;
  }

  /** Puts the connection in its group's room (creating the room), ready to receive events. */
  async attach(connection: Connection): Promise<Room> {
    for (;;) {
      let room = this.rooms.get(connection.groupId);
      if (!room) {
        room = new Room(connection.groupId, this.roomStore, this.deps.metrics, (err, what) => this.deps.log.error({ err }, what));
        this.rooms.set(connection.groupId, room);
      }
      try {
        await room.ready;
      } catch (err) {
        if (this.rooms.get(connection.groupId) === room) this.rooms.delete(connection.groupId);
        throw err;
      }
      if (!connection.isOpen) throw new Error('connection closed while joining');
      if (this.rooms.get(connection.groupId) !== room) continue;
      room.connections.add(connection);
      connection.room = room;
      // One string per group, not one per socket (a copy of the URL's may hold the whole URL, token included).
      connection.groupId = room.groupId;
      connection.beginSync();
      return room;
    }
  }

  /**
   * The connection passed the membership check: it counts as online from now on. Answers
   * the group's online users for the `connected` frame, the connecting user included.
   */
  async activate(connection: Connection): Promise<{ user_id: string; username: string }[]> {
    const room = connection.room!;
    const firstHere = !room.isOnline(connection.userId, connection);
    connection.active = true;
    if (firstHere) {
      const { groupId, userId, username } = connection;
      const arrived = await this.inOrder(groupId, userId, () => this.deps.presence.arrive(groupId, userId, username));
      if (arrived) this.announce(groupId, userId, username, 'online');
    }
    const everywhere = await this.deps.presence.list(connection.groupId);
    const online = everywhere ?? room.online();
    if (!online.some((u) => u.user_id === connection.userId)) online.push({ user_id: connection.userId, username: connection.username });
    return online;
  }

  /** A user's arrivals and departures in a group are recorded in the order they happened here. */
  private inOrder<T>(groupId: string, userId: string, op: () => Promise<T>): Promise<T> {
    const key = `${groupId}:${userId}`;
    const result = (this.presenceOps.get(key) ?? Promise.resolve()).then(op, op);
    const settled = result.then(
      () => {},
      () => {},
    );
    this.presenceOps.set(key, settled);
    void settled.then(() => {
      if (this.presenceOps.get(key) === settled) this.presenceOps.delete(key);
    });
    return result;
  }

  private announce(groupId: string, userId: string, username: string, status: 'online' | 'offline'): void {
    this.deps.bus.publish({ type: 'presence', groupId, userId, username, status }).catch((err: unknown) => {
      this.deps.log.warn({ err }, 'presence change not published');
    });
  }

  private detach(connection: Connection): void {
    if (!this.connections.delete(connection)) return;
    this.deps.metrics.markSocketClosed();
    const room = connection.room;
    if (!room) return;
    room.connections.delete(connection);
    if (connection.active && !room.isOnline(connection.userId)) {
      room.forgetUser(connection.userId);
      const { groupId, userId, username } = connection;
      this.inOrder(groupId, userId, () => this.deps.presence.depart(groupId, userId)).then(
        (gone) => gone && this.announce(groupId, userId, username, 'offline'),
        (err: unknown) => this.deps.log.warn({ err }, 'presence departure not recorded'),
      );
    }
    if (room.connections.size === 0 && this.rooms.get(room.groupId) === room) {
      room.close();
      this.rooms.delete(room.groupId);
    }
  }

  private readonly roomStore = {
    lastSeq: async (groupId: string) => {
      const { rows } = await this.deps.db.query<{ last_seq: number }>('SELECT last_seq FROM groups WHERE id = $1', [groupId]);
      return rows[0]?.last_seq ?? 0;
    },
    range: async (groupId: string, fromSeq: number, toSeq: number) => (await messagesInSeqRange(this.deps.db, groupId, fromSeq, toSeq)).map(toChatMessage),
    watch: (groupId: string) => this.deps.bus.watch(groupId),
    unwatch: (groupId: string) => this.deps.bus.unwatch(groupId),
  };

  onBusEvent(event: BusEvent | ResyncSignal): void {
    if (event.type === 'resync') {
      for (const room of this.rooms.values()) {
        void room.resync();
        void this.recheckAccess(room);
      }
      return;
    }
    // Rooms are keyed by the canonical (lower-case) id; a REST caller may have written it in upper case.
    const room = this.rooms.get(event.groupId.toLowerCase());
    if (!room) return;
    switch (event.type) {
      case 'message':
        room.receive(event.message, event.acceptedAtMs);
        return;
      case 'message_ref':
        room.hint(event.seq);
        return;
      case 'presence':
        room.broadcast(wireFrame(serverFrame.presence(event.userId, event.username, event.status)), event.userId);
        return;
      case 'typing':
        room.broadcast(wireFrame(serverFrame.typing(event.userId, event.username, event.isTyping, event.timestamp)), event.userId);
        return;
      case 'group':
        this.onGroupEvent(room, event.event);
    }
  }

  /** After the bus may have lost a kick or a delete: sockets of users no longer members (or of a deleted group) close as those events would have closed them. */
  private async recheckAccess(room: Room): Promise<void> {
    const userIds = [...new Set([...room.connections].filter((c) => c.active).map((c) => c.userId))];
    if (userIds.length === 0) return;
    try {
      const { rows } = await this.deps.db.query<{ user_id: string | null }>(
        'SELECT m.user_id FROM groups g LEFT JOIN group_members m ON m.group_id = g.id AND m.user_id = ANY($2::uuid[]) WHERE g.id = $1',
        [room.groupId, userIds],
      );
      if (rows.length === 0) return this.onGroupEvent(room, { type: 'group_deleted', groupId: room.groupId });
      const members = new Set(rows.map((r) => r.user_id));
      for (const c of [...room.connections]) if (c.active && !members.has(c.userId)) c.close(CloseCode.forbidden, 'removed from the group');
    } catch (err) {
      this.deps.log.warn({ err }, 'rechecking chat members after a bus resync failed');
    }
  }

  private onGroupEvent(room: Room, event: GroupEvent): void {
    switch (event.type) {
      case 'member_joined':
        room.broadcast(wireFrame(serverFrame.member('member_joined', event.userId, event.username)));
        return;
      case 'member_left': {
        room.broadcast(wireFrame(serverFrame.member('member_left', event.userId, event.username)), event.userId);
        // Leaving or being removed ends that user's chat sessions in the group.
        for (const c of [...room.connections]) {
          if (c.userId === event.userId) c.close(CloseCode.forbidden, event.removed ? 'removed from the group' : 'left the group');
        }
        return;
      }
      case 'group_updated':
        room.broadcast(wireFrame(serverFrame.groupUpdated(event.group)));
        return;
      case 'group_deleted': {
        const frame = wireFrame(serverFrame.groupDeleted(room.groupId));
        for (const c of [...room.connections]) {
          c.sendFrame(frame);
          c.close(CloseCode.notFound, 'group deleted');
        }
      }
    }
  }

  private beat(): void {
    for (const c of this.connections) {
      if (c.missedPongs >= 2) {
        c.ws.terminate();
        continue;
      }
      c.missedPongs += 1;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  /**
   * Graceful stop: no new sockets, frames already received are finished (their
   * messages stored and delivered), then every socket closes 1001.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    this.shuttingDown = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    const drained = Promise.allSettled([...this.connections].map((c) => c.idle));
    await Promise.race([drained, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    for (const c of [...this.connections]) c.close(CloseCode.goingAway, 'server shutting down');
    this.host.sessions.stop();
    for (const room of this.rooms.values()) room.close();
    this.rooms.clear();
    await this.deps.presence.stop();
  }
}
