/**
 * Reference raw_ws_fanout: a bare `ws` server relaying each message to every socket of
 * its group (the sender included), no database, no auth. The group is the URL path.
 */
import { WebSocketServer, type WebSocket } from 'ws';

const rooms = new Map<string, Set<WebSocket>>();
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });

wss.on('connection', (ws, req) => {
  const group = req.url ?? '/';
  let room = rooms.get(group);
  if (!room) rooms.set(group, (room = new Set()));
  room.add(ws);
  ws.on('message', (data) => {
    for (const peer of room) peer.send(data, { binary: false });
  });
  ws.on('close', () => room.delete(ws));
  ws.send('{"type":"connected"}');
});

wss.on('listening', () => console.log(JSON.stringify({ ready: { port: (wss.address() as { port: number }).port } })));
process.on('SIGTERM', () => process.exit(0));
