/** Reference raw_ws_idle: a bare `ws` server that accepts sockets and keeps them open, nothing else. */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
wss.on('connection', (ws) => ws.send('{"type":"connected"}'));
wss.on('listening', () => console.log(JSON.stringify({ ready: { port: (wss.address() as { port: number }).port } })));
process.on('SIGTERM', () => process.exit(0));
