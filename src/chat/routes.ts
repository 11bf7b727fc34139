import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { AppError } from '../errors/app-error.js';
import { CloseCode, closeCodeFor } from '../errors/catalogue.js';
import type { RouteDeps } from '../http/route-deps.js';
import { groupSeqForMember, messagesInSeqRange } from '../messages/repository.js';
import { toChatMessage } from '../messages/post-message.js';
import type { TokenVerifier } from '../auth/token-verifier.js';
import { serverFrame, wireFrame } from './frames.js';
import type { ChatHub } from './hub.js';
import { sessionEndsAtMs, type Connection } from './connection.js';

export const WS_PATH = '/api/v1/ws/groups/:id';
/** Frames above this close the socket with 1009. */
export const MAX_FRAME_BYTES = 16 * 1024;
/** With `since_seq`, at most this many missed messages are replayed; beyond it the client pages through REST. */
export const MAX_REPLAY = 1000;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * `WS /api/v1/ws/groups/{id}?token=<jwt>[&since_seq=<n>]`. A refused socket completes the
 * upgrade and then closes 4401/4403/4404 so that browsers can read the code.
 *
 * Connect sequence (why in this order): the connection joins its room before the
 * membership check, so a kick committed after the check still reaches it; it takes the
 * room's lastSeq L as its snapshot, replays (since_seq, L] from the database, then takes
 * the room's messages after L, which the room hands on in order: no gap, no duplicate.
 *
 * Nothing of the upgrade request outlives the handler: its URL and headers carry the
 * token, and with the Fastify request, reply and raw response they are most of what an
 * idle socket would otherwise keep (see `release`).
 */
export function chatRoutes(hub: ChatHub, verifier: TokenVerifier) {
  return async (app: FastifyInstance, deps: RouteDeps): Promise<void> => {
    // No compression is offered (frames are written pre-encoded, see Connection), and the
    // hub, not the ws server, keeps track of the sockets.
    await app.register(websocket, { options: { maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, clientTracking: false } });
    app.get(WS_PATH, { websocket: true, schema: { hide: true } }, (socket: WebSocket, request: FastifyRequest) => {
      const { id } = request.params as { id: string };
      const query = request.query as Record<string, string | undefined>;
      const params: OpenParams = { token: copy(query.token), sinceSeq: copy(query.since_seq) };
      release(socket);
      const connection = hub.newConnection(socket, copy(id.toLowerCase())!);
      open(connection, params, deps, hub, verifier).catch((err: unknown) => {
        if (err instanceof AppError) {
          connection.close(closeCodeFor(err.code), err.message);
          return;
        }
        if (!connection.isOpen) return;
        hub.log.error({ err }, 'chat connection failed');
        connection.close(CloseCode.internalError, 'internal error');
      });
    });
  };
}

interface OpenParams {
  token: string | undefined;
  sinceSeq: string | undefined;
}

/** A string of its own: a slice of the request URL would keep the whole URL (and the token) alive. */
function copy(text: string | undefined): string | undefined {
  return text === undefined ? undefined : Buffer.from(text, 'utf8').toString('utf8');
}

/**
 * Lets the upgrade's HTTP objects go. @fastify/websocket leaves the raw ServerResponse
 * attached to the TCP socket (and through it the IncomingMessage, the Fastify request,
 * reply and child logger) and an 'error' listener closing over request and reply; both
 * would live as long as the socket. The connection installs its own 'error' listener.
 */
function release(socket: WebSocket): void {
  socket.removeAllListeners('error');
  const tcp = (socket as unknown as { _socket?: Socket & { _httpMessage?: ServerResponse | null } })._socket;
  const response = tcp?._httpMessage;
  if (tcp && response && typeof response.detachSocket === 'function') response.detachSocket(tcp);
}

async function open(connection: Connection, query: OpenParams, deps: RouteDeps, hub: ChatHub, verifier: TokenVerifier): Promise<void> {
  if (!hub.accepting) {
    connection.close(CloseCode.goingAway, 'server shutting down');
    return;
  }
  if (!query.token) throw new AppError('unauthenticated', 'token query parameter is missing');
  if (!UUID_RE.test(connection.groupId)) throw new AppError('group_not_found');
  const user = await verifier.verify(query.token);
  // A token past its exp (though inside the verifier's leeway) would end the session at once: refuse it before `connected`.
  if (sessionEndsAtMs(user) <= Date.now()) throw new AppError('unauthenticated', 'Token has expired');
  connection.authenticated(user);

  const room = await hub.attach(connection);
  const snapshotSeq = room.lastSeq;
  const access = await groupSeqForMember(deps.db, connection.groupId, user.userId);
  if (!access) throw new AppError('group_not_found');
  if (!access.member) throw new AppError('not_member');
  if (!connection.isOpen) return;

  const sinceSeq = parseSinceSeq(query.sinceSeq);
  const missed = sinceSeq === undefined ? 0 : snapshotSeq - sinceSeq;
  const recovered = sinceSeq !== undefined && missed <= MAX_REPLAY;

  const online = await hub.activate(connection);
  if (!connection.isOpen) return;
  connection.writeDuringSync(
    wireFrame(serverFrame.connected({ groupId: connection.groupId, userId: user.userId, username: user.username, lastSeq: snapshotSeq, online, recovered })),
  );
  if (query.sinceSeq !== undefined && sinceSeq === undefined) {
    connection.writeDuringSync(wireFrame(serverFrame.error('VALIDATION_ERROR', 'since_seq must be a whole number; nothing was replayed')));
  }
  if (recovered && missed > 0) {
    const rows = await messagesInSeqRange(deps.db, connection.groupId, sinceSeq! + 1, snapshotSeq);
    for (const row of rows) connection.writeDuringSync(wireFrame(serverFrame.message(toChatMessage(row))), row.seq);
  }
  // The client already holds everything up to since_seq, even where this replica's room is still behind it;
  // but never more than the group has stored: a since_seq from the future must not silence the socket.
  connection.goLive(recovered ? Math.max(snapshotSeq, Math.min(sinceSeq!, access.lastSeq)) : snapshotSeq);
}

function parseSinceSeq(raw: string | undefined): number | undefined {
  if (raw === undefined || !/^\d{1,15}$/.test(raw)) return undefined;
  return Number(raw);
}
