/**
 * Reference naive_peer: the common stack. Each chat frame is one INSERT (autocommit,
 * through a `pg` pool of the service's size), then the stored message is broadcast to
 * the sockets of its group, the sender included. No auth, no ordering guarantee across
 * concurrent inserts, no rate limit, no membership check. URL: /<group uuid>?user=<uuid>&name=<name>.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { WebSocketServer, type WebSocket } from 'ws';

const TABLE = process.env.TABLE ?? 'ref_naive_messages';
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 20 });
pool.on('error', () => {});
const rooms = new Map<string, Set<WebSocket>>();
const seqs = new Map<string, number>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });

wss.on('connection', (ws, req) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const groupId = url.pathname.slice(1);
  const userId = url.searchParams.get('user') ?? randomUUID();
  const username = url.searchParams.get('name') ?? 'anonymous';
  let room = rooms.get(groupId);
  if (!room) rooms.set(groupId, (room = new Set()));
  room.add(ws);
  ws.on('close', () => room.delete(ws));
  ws.on('message', async (data) => {
    let frame: { type?: unknown; content?: unknown };
    try {
      frame = JSON.parse(data.toString());
    } catch {
      ws.send('{"type":"error","code":"PARSE_ERROR"}');
      return;
    }
    if (frame.type !== 'message' || typeof frame.content !== 'string') return;
    const id = randomUUID();
    const seq = (seqs.get(groupId) ?? 0) + 1;
    seqs.set(groupId, seq);
    try {
      const { rows } = await pool.query<{ sent_at: Date }>(
        `INSERT INTO ${TABLE} (id, group_id, seq, sender_id, username, content, sent_at)
         VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp()) RETURNING sent_at`,
        [id, groupId, seq, userId, username, frame.content],
      );
      const out = JSON.stringify({ type: 'message', id, group_id: groupId, seq, user_id: userId, username, content: frame.content, timestamp: rows[0]!.sent_at.toISOString() });
      for (const peer of room) peer.send(out);
    } catch {
      ws.send('{"type":"error","code":"MESSAGE_SAVE_FAILED"}');
    }
  });
  ws.send('{"type":"connected"}');
});

wss.on('listening', () => console.log(JSON.stringify({ ready: { port: (wss.address() as { port: number }).port } })));
process.on('SIGTERM', () => {
  wss.close();
  void pool.end().finally(() => process.exit(0));
});
