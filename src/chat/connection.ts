import type { Socket } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { CLOCK_LEEWAY_SECONDS, type AuthUser, type TokenVerifier } from '../auth/token-verifier.js';
import type { Bus } from '../bus/bus.js';
import { AppError } from '../errors/app-error.js';
import { CloseCode, closeCodeFor, ERRORS } from '../errors/catalogue.js';
import type { PostedMessage } from '../messages/post-message.js';
import type { Deadlined, Deadlines } from './deadlines.js';
import { isProblem, parseClientFrame, PONG_WIRE, serverFrame, wireFrame, wirePayload, type ClientFrame, type WireFrame } from './frames.js';
import type { Room } from './room.js';

/**
 * One chat socket.
 *
 * Outbound: until the `connected` frame and any replay have been written the connection
 * is `syncing` and queues what its room hands it; then it is `live`. Messages carry their
 * seq and are written only when newer than the last one written (`sentSeq`), so replay
 * and live delivery never duplicate. Frames arrive already encoded (WireFrame: the same
 * bytes for every socket) and are written straight to the TCP socket, which is corked
 * from its first write in a tick until the end of that tick (process.nextTick, after the
 * microtasks that deliver a batch of messages): a burst to one socket becomes one write.
 *
 * Slow readers: a peer that stops reading is closed 1008 once its unsent bytes pass
 * MAX_BUFFERED_BYTES, so it cannot grow our memory or hold up its room. "Unsent" is what
 * the kernel had not taken when this tick's writes began (`unsentAtCork`): bytes written
 * into the cork in this tick have not had their chance yet. A tick that writes more than
 * FLUSH_BYTES to one socket flushes on the way and measures again, so the cork never holds
 * more than that and the rule reads the same as for uncorked writes.
 *
 * Inbound: frames are handled one at a time in arrival order (a burst of messages gets
 * seqs in send order); at most MAX_INBOUND_QUEUE wait, beyond that the peer is closed 1008.
 *
 * Memory: an idle socket costs this object and no closure or timer of its own. The ws
 * listeners are shared functions that find the connection on the socket; the session's
 * expiry is an entry in the hub's Deadlines (one timer for all sockets); the heartbeat
 * is the hub's one interval.
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const FLUSH_BYTES = 64 * 1024;
const MAX_INBOUND_QUEUE = 256;
const OPEN = 1; // WebSocket.OPEN
const NOT_CORKED = -1;

export interface ConnectionHost {
  readonly verifier: TokenVerifier;
  readonly bus: Bus;
  post(user: AuthUser, groupId: string, content: unknown, clientId: string | undefined): Promise<PostedMessage>;
  onClosed(connection: Connection): void;
  /** Session expiries of every connection of the hub: one timer. */
  readonly sessions: Deadlines<Connection>;
  readonly log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * When a chat session on this token ends: at the token's own exp. The verifier's leeway
 * forgives clock skew for single requests; a session is not extended by it.
 */
export function sessionEndsAtMs(user: AuthUser): number {
  return user.expiresAtMs - CLOCK_LEEWAY_SECONDS * 1000;
}

// ---- corking: every connection written to in this tick, uncorked together at its end ----

let corked: Connection[] = [];
let spare: Connection[] = [];
let flushScheduled = false;

function flushCorked(): void {
  flushScheduled = false;
  const list = corked;
  corked = spare;
  spare = list;
  for (let i = 0; i < list.length; i++) {
    try {
      list[i]!.uncork();
    } catch {
      // a socket that fails here is reported through its own 'error'; the others must still go out
    }
  }
  list.length = 0;
}

// ---- ws listeners: shared by every socket, `this` is the socket ----

const kConnection = Symbol('chat connection');
type ChatSocket = WebSocket & { [kConnection]?: Connection; _socket?: Socket };

function onSocketMessage(this: ChatSocket, data: RawData, isBinary: boolean): void {
  this[kConnection]?.received(isBinary ? null : data.toString());
}
function onSocketPong(this: ChatSocket): void {
  const connection = this[kConnection];
  if (connection) connection.missedPongs = 0;
}
function onSocketClose(this: ChatSocket): void {
  this[kConnection]?.closed();
}
function onSocketError(this: ChatSocket, err: Error): void {
  // ws has already started the close it owes the peer (e.g. 1009 for a frame too large); the
  // socket is then cut, as @fastify/websocket's default handler did. What is corked goes first.
  const connection = this[kConnection];
  connection?.host.log.warn({ err: { message: err.message, code: (err as { code?: string }).code } }, 'chat socket error');
  connection?.uncork();
  connection?.closed();
  this.terminate();
}

export class Connection implements Deadlined {
  active = false;
  room: Room | undefined;
  missedPongs = 0;
  /** Session expiry, kept by host.sessions. */
  deadlineMs = 0;
  deadlineSlot = -1;
  private user: AuthUser | undefined;
  private state: 'connecting' | 'syncing' | 'live' | 'closed' = 'connecting';
  private sentSeq = 0;
  /** Frames handed over while syncing (and their seqs, -1 for non-messages); allocated when needed. */
  private syncFrames: WireFrame[] | undefined;
  private syncSeqs: number[] | undefined;
  /** Inbound frames not yet handled; allocated on the first frame. */
  private inbox: (string | null)[] | undefined;
  private handling = false;
  private idleWaiters: (() => void)[] | undefined;
  /** The TCP socket under ws, written to directly when no extension transforms frames. */
  private readonly socket: Socket | undefined;
  private readonly direct: boolean;
  private unsentAtCork = NOT_CORKED;
  private corkedBytes = 0;

  constructor(
    readonly ws: WebSocket,
    public groupId: string,
    readonly host: ConnectionHost,
  ) {
    const chatSocket = ws as ChatSocket;
    chatSocket[kConnection] = this;
    this.socket = chatSocket._socket;
    // With no extension negotiated (the server offers none) a frame is its bytes as they are.
    this.direct = this.socket !== undefined && ws.extensions === '';
    ws.on('message', onSocketMessage);
    ws.on('pong', onSocketPong);
    ws.on('close', onSocketClose);
    ws.on('error', onSocketError);
  }

  get userId(): string {
    return this.user?.userId ?? '';
  }

  get username(): string {
    return this.user?.username ?? '';
  }

  get isOpen(): boolean {
    return this.state !== 'closed';
  }

  /** Frames already queued or being handled, for a graceful shutdown to wait on. */
  get idle(): Promise<void> {
    if (this.state !== 'live' || (!this.handling && !this.inbox?.length)) return Promise.resolve();
    return new Promise<void>((resolve) => (this.idleWaiters ??= []).push(resolve));
  }

  authenticated(user: AuthUser): void {
    this.user = user;
    if (this.state !== 'closed') this.host.sessions.set(this, sessionEndsAtMs(user));
  }

  /** The session's time is up (host.sessions). */
  expired(): void {
    this.close(CloseCode.unauthenticated, 'token expired');
  }

  /** Called when `connected` has been written: from here frames are handled and events flow. */
  goLive(sentSeq: number): void {
    if (this.state === 'closed') return;
    this.sentSeq = Math.max(this.sentSeq, sentSeq);
    this.state = 'live';
    const frames = this.syncFrames;
    const seqs = this.syncSeqs;
    this.syncFrames = undefined;
    this.syncSeqs = undefined;
    if (frames && seqs) {
      for (let i = 0; i < frames.length; i++) {
        if (seqs[i]! < 0) this.write(frames[i]!);
        else this.deliverMessage(seqs[i]!, frames[i]!);
      }
    }
    if (this.inbox?.length && !this.handling) void this.pump();
  }

  /** Writes directly, before going live: the `connected` frame and replayed messages. */
  writeDuringSync(frame: WireFrame, seq?: number): void {
    if (seq !== undefined) {
      if (seq <= this.sentSeq) return;
      this.sentSeq = seq;
    }
    this.write(frame);
  }

  beginSync(): void {
    if (this.state === 'connecting') this.state = 'syncing';
  }

  deliverMessage(seq: number, frame: WireFrame): void {
    if (this.state === 'live') {
      if (seq <= this.sentSeq) return;
      this.sentSeq = seq;
      this.write(frame);
    } else if (this.state !== 'closed') {
      this.queueDuringSync(frame, seq);
    }
  }

  sendFrame(frame: WireFrame): void {
    if (this.state === 'live') this.write(frame);
    else if (this.state !== 'closed') this.queueDuringSync(frame, -1);
  }

  close(code: number, reason = ''): void {
    if (this.state === 'closed') return;
    this.closed();
    try {
      this.ws.close(code, reason.slice(0, 120));
    } catch {
      this.ws.terminate();
    }
    // A peer that never answers the close handshake is cut off.
    const ws = this.ws;
    setTimeout(() => ws.terminate(), 5_000).unref();
  }

  /** A frame from the peer (null: a binary one). */
  received(raw: string | null): void {
    if (this.state === 'closed') return;
    const inbox = (this.inbox ??= []);
    if (inbox.length >= MAX_INBOUND_QUEUE) {
      this.close(CloseCode.policyViolation, 'too many frames in flight');
      return;
    }
    inbox.push(raw);
    if (this.state === 'live' && !this.handling) void this.pump();
  }

  /** End of the tick's writes: what is corked goes out in one write. */
  uncork(): void {
    if (this.unsentAtCork === NOT_CORKED) return;
    this.unsentAtCork = NOT_CORKED;
    this.corkedBytes = 0;
    this.socket!.uncork();
  }

  /** The socket went away, or we closed it: nothing more is written or handled. */
  closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.syncFrames = undefined;
    this.syncSeqs = undefined;
    this.inbox = undefined;
    this.host.sessions.delete(this);
    this.wakeIdle();
    this.host.onClosed(this);
  }

  private queueDuringSync(frame: WireFrame, seq: number): void {
    (this.syncFrames ??= []).push(frame);
    (this.syncSeqs ??= []).push(seq);
  }

  private write(frame: WireFrame): void {
    const ws = this.ws;
    if (ws.readyState !== OPEN) return;
    const socket = this.socket;
    if (socket && this.unsentAtCork === NOT_CORKED) {
      this.unsentAtCork = ws.bufferedAmount;
      socket.cork();
      corked.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        process.nextTick(flushCorked);
      }
    }
    const unsent = socket ? this.unsentAtCork : ws.bufferedAmount;
    if (unsent > MAX_BUFFERED_BYTES) {
      this.host.log.warn({ groupId: this.groupId, buffered: unsent }, 'closing a chat socket that stopped reading');
      // The close frame queues behind the unread bytes; close() cuts the socket if it is never read.
      this.close(CloseCode.policyViolation, 'slow consumer');
      return;
    }
    if (this.direct) socket!.write(frame);
    else ws.send(wirePayload(frame), { binary: false });
    if (!socket) return;
    this.corkedBytes += frame.length;
    if (this.corkedBytes >= FLUSH_BYTES) {
      // A long run of writes in one tick (a replay, a flood): let the kernel take what it can, then measure again.
      socket.uncork();
      this.unsentAtCork = ws.bufferedAmount;
      this.corkedBytes = 0;
      socket.cork();
    }
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    if (!waiters) return;
    this.idleWaiters = undefined;
    for (const wake of waiters) wake();
  }

  /** Handles queued frames one at a time, in arrival order, while live. */
  private async pump(): Promise<void> {
    this.handling = true;
    try {
      for (let raw = this.inbox?.shift(); raw !== undefined; raw = this.state === 'live' ? this.inbox?.shift() : undefined) {
        try {
          await this.handle(raw);
        } catch (err) {
          this.host.log.error({ err, groupId: this.groupId }, 'chat frame failed');
          this.write(wireFrame(serverFrame.error('INTERNAL_ERROR', 'Internal error')));
        }
      }
    } finally {
      this.handling = false;
      this.wakeIdle();
    }
  }

  private async handle(raw: string | null): Promise<void> {
    if (raw === null) {
      this.write(wireFrame(serverFrame.error('PARSE_ERROR', 'Binary frames are not accepted; send JSON text')));
      return;
    }
    const frame = parseClientFrame(raw);
    if (isProblem(frame)) {
      this.write(wireFrame(serverFrame.error(frame.code, frame.message)));
      return;
    }
    await this.dispatch(frame);
  }

  private async dispatch(frame: ClientFrame): Promise<void> {
    const user = this.user!;
    switch (frame.type) {
      case 'ping':
        this.write(PONG_WIRE);
        return;
      case 'typing':
        this.room?.typing(user.userId, frame.is_typing, Date.now(), (isTyping) => {
          void this.host.bus
            .publish({ type: 'typing', groupId: this.groupId, userId: user.userId, username: user.username, isTyping, timestamp: new Date().toISOString() })
            .catch(() => {}); // ephemeral: while the bus is down, other replicas just miss it; not the typist's error
        });
        return;
      case 'auth':
        return this.refresh(frame.token);
      case 'message':
        return this.send(user, frame.content, frame.client_id);
    }
  }

  private async refresh(token: string): Promise<void> {
    let fresh: AuthUser;
    try {
      fresh = await this.host.verifier.verify(token);
    } catch {
      this.close(CloseCode.unauthenticated, 'token invalid');
      return;
    }
    if (fresh.userId !== this.user!.userId) {
      this.close(CloseCode.unauthenticated, 'token is for another user');
      return;
    }
    this.authenticated(fresh);
  }

  private async send(user: AuthUser, content: string, clientId: string | undefined): Promise<void> {
    try {
      const posted = await this.host.post(user, this.groupId, content, clientId);
      // The stored copy reaches every member, this socket included, through the room;
      // a repeat of a client_id answers the sender alone with the original.
      if (posted.duplicate) this.write(wireFrame(serverFrame.message(posted.message)));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === 'not_member' || err.code === 'group_not_found') {
        this.close(closeCodeFor(err.code), err.message);
        return;
      }
      this.write(wireFrame(serverFrame.error(ERRORS[err.code].ws, err.message, err.retryAfterSeconds)));
    }
  }
}
