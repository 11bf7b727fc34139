import type { WebSocket } from 'ws';
import { CLOCK_LEEWAY_SECONDS, type AuthUser, type TokenVerifier } from '../auth/token-verifier.js';
import type { Bus } from '../bus/bus.js';
import { AppError } from '../errors/app-error.js';
import { CloseCode, closeCodeFor, ERRORS } from '../errors/catalogue.js';
import type { PostedMessage } from '../messages/post-message.js';
import { isProblem, parseClientFrame, serverFrame, type ClientFrame } from './frames.js';
import type { Room } from './room.js';

/**
 * One chat socket.
 *
 * Outbound: until the `connected` frame and any replay have been written the connection
 * is `syncing` and queues what its room hands it; then it is `live`. Messages carry their
 * seq and are written only when newer than the last one written (`sentSeq`), so replay
 * and live delivery never duplicate. A peer that stops reading is closed 1008 once its
 * unsent bytes pass MAX_BUFFERED_BYTES: it cannot grow our memory or hold up its room.
 *
 * Inbound: frames are handled one at a time in arrival order (a burst of messages gets
 * seqs in send order); at most MAX_INBOUND_QUEUE wait, beyond that the peer is closed 1008.
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;
const MAX_INBOUND_QUEUE = 256;
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ConnectionDeps {
  verifier: TokenVerifier;
  bus: Bus;
  post(user: AuthUser, groupId: string, content: unknown, clientId: string | undefined): Promise<PostedMessage>;
  onClosed(connection: Connection): void;
  log: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

/**
 * When a chat session on this token ends: at the token's own exp. The verifier's leeway
 * forgives clock skew for single requests; a session is not extended by it.
 */
export function sessionEndsAtMs(user: AuthUser): number {
  return user.expiresAtMs - CLOCK_LEEWAY_SECONDS * 1000;
}

export class Connection {
  active = false;
  room: Room | undefined;
  missedPongs = 0;
  private user: AuthUser | undefined;
  private state: 'connecting' | 'syncing' | 'live' | 'closed' = 'connecting';
  private sentSeq = 0;
  private syncQueue: { seq: number | undefined; frame: string }[] = [];
  private inbound: Promise<void>;
  private inboundWaiting = 0;
  private startInbound!: () => void;
  private expiryTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly ws: WebSocket,
    readonly groupId: string,
    private readonly deps: ConnectionDeps,
  ) {
    this.inbound = new Promise<void>((resolve) => {
      this.startInbound = resolve;
    });
    ws.on('message', (data, isBinary) => this.enqueue(isBinary ? null : data.toString()));
    ws.on('pong', () => {
      this.missedPongs = 0;
    });
    ws.on('close', () => this.closed());
    ws.on('error', () => this.closed());
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
    return this.state === 'live' ? this.inbound : Promise.resolve();
  }

  authenticated(user: AuthUser): void {
    this.user = user;
    this.armExpiry();
  }

  /** Called when `connected` has been written: from here frames are handled and events flow. */
  goLive(sentSeq: number): void {
    if (this.state === 'closed') return;
    this.sentSeq = Math.max(this.sentSeq, sentSeq);
    this.state = 'live';
    const queued = this.syncQueue;
    this.syncQueue = [];
    for (const item of queued) {
      if (item.seq === undefined) this.write(item.frame);
      else this.deliverMessage(item.seq, item.frame);
    }
    this.startInbound();
  }

  /** Writes directly, before going live: the `connected` frame and replayed messages. */
  writeDuringSync(frame: string, seq?: number): void {
    if (seq !== undefined) {
      if (seq <= this.sentSeq) return;
      this.sentSeq = seq;
    }
    this.write(frame);
  }

  beginSync(): void {
    if (this.state === 'connecting') this.state = 'syncing';
  }

  deliverMessage(seq: number, frame: string): void {
    if (this.state === 'live') {
      if (seq <= this.sentSeq) return;
      this.sentSeq = seq;
      this.write(frame);
    } else if (this.state !== 'closed') {
      this.syncQueue.push({ seq, frame });
    }
  }

  sendFrame(frame: string): void {
    if (this.state === 'live') this.write(frame);
    else if (this.state !== 'closed') this.syncQueue.push({ seq: undefined, frame });
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
    setTimeout(() => this.ws.terminate(), 5_000).unref();
  }

  private write(frame: string): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.deps.log.warn({ groupId: this.groupId, buffered: this.ws.bufferedAmount }, 'closing a chat socket that stopped reading');
      // The close frame queues behind the unread bytes; close() cuts the socket if it is never read.
      this.close(CloseCode.policyViolation, 'slow consumer');
      return;
    }
    this.ws.send(frame);
  }

  private closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.syncQueue = [];
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.startInbound();
    this.deps.onClosed(this);
  }

  private armExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const expMs = sessionEndsAtMs(this.user!);
    this.expiryTimer = setTimeout(() => this.close(CloseCode.unauthenticated, 'token expired'), Math.min(MAX_TIMER_MS, Math.max(0, expMs - Date.now())));
    this.expiryTimer.unref();
  }

  private enqueue(raw: string | null): void {
    if (this.state === 'closed') return;
    if (this.inboundWaiting >= MAX_INBOUND_QUEUE) {
      this.close(CloseCode.policyViolation, 'too many frames in flight');
      return;
    }
    this.inboundWaiting += 1;
    this.inbound = this.inbound.then(async () => {
      this.inboundWaiting -= 1;
      if (this.state !== 'live') return;
      try {
        await this.handle(raw);
      } catch (err) {
        this.deps.log.error({ err, groupId: this.groupId }, 'chat frame failed');
        this.write(serverFrame.error('INTERNAL_ERROR', 'Internal error'));
      }
    });
  }

  private async handle(raw: string | null): Promise<void> {
    if (raw === null) {
      this.write(serverFrame.error('PARSE_ERROR', 'Binary frames are not accepted; send JSON text'));
      return;
    }
    const frame = parseClientFrame(raw);
    if (isProblem(frame)) {
      this.write(serverFrame.error(frame.code, frame.message));
      return;
    }
    await this.dispatch(frame);
  }

  private async dispatch(frame: ClientFrame): Promise<void> {
    const user = this.user!;
    switch (frame.type) {
      case 'ping':
        this.write(serverFrame.pong());
        return;
      case 'typing':
        this.room?.typing(user.userId, frame.is_typing, Date.now(), (isTyping) => {
          void this.deps.bus
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
      fresh = await this.deps.verifier.verify(token);
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
      const posted = await this.deps.post(user, this.groupId, content, clientId);
      // The stored copy reaches every member, this socket included, through the room;
      // a repeat of a client_id answers the sender alone with the original.
      if (posted.duplicate) this.write(serverFrame.message(posted.message));
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === 'not_member' || err.code === 'group_not_found') {
        this.close(closeCodeFor(err.code), err.message);
        return;
      }
      this.write(serverFrame.error(ERRORS[err.code].ws, err.message, err.retryAfterSeconds));
    }
  }
}
