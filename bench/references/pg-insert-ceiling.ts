/**
 * Reference pg_insert_ceiling: single-row INSERTs, one per transaction (autocommit), into
 * a copy of the messages table (same columns and indexes), from CLIENTS concurrent
 * connections, for WARMUP_MS (not counted) then DURATION_MS. Prints {"window":…} lines at the
 * start and end of the counted window, then {"result": {...}}.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

const clients = Number(process.env.CLIENTS ?? 4);
const warmupMs = Number(process.env.WARMUP_MS ?? 2000);
const durationMs = Number(process.env.DURATION_MS ?? 10000);
const groups = Array.from({ length: 100 }, () => randomUUID());
const content = 'x'.repeat(64);
let seq = 0;
let counting = false;
let stop = false;
let rows = 0;

const conns = await Promise.all(
  Array.from({ length: clients }, async () => {
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    return c;
  }),
);
const loops = conns.map(async (c) => {
  const sender = randomUUID();
  while (!stop) {
    const n = ++seq;
    await c.query(
      `INSERT INTO ref_insert_messages (id, group_id, seq, sender_id, username, content, client_id, sent_at)
       VALUES ($1, $2, $3, $4, $5, $6, NULL, clock_timestamp())`,
      [randomUUID(), groups[n % groups.length], n, sender, 'bench', content],
    );
    if (counting) rows++;
  }
});
await new Promise((r) => setTimeout(r, warmupMs));
counting = true;
console.log('{"window":"start"}');
const t0 = performance.now();
await new Promise((r) => setTimeout(r, durationMs));
counting = false;
console.log('{"window":"end"}');
const seconds = (performance.now() - t0) / 1000;
stop = true;
await Promise.all(loops);
await Promise.all(conns.map((c) => c.end()));
console.log(JSON.stringify({ result: { rowsPerS: rows / seconds, rows, clients } }));
