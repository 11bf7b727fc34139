/**
 * PostgreSQL CPU per stored send in `chat_store_batch`, alone: the bench's data (1,000
 * groups of 10 members, 100 of them sending, 200,000 older messages, vacuumed), then a loop
 * of batches on one connection, timed by the backend's own CPU (/proc/<pid>/stat). The
 * backend's pid is printed before the timed loop, for `perf record -g -p <pid>`.
 *
 *   npx tsx bench/tools/store-batch-loop.ts [--batch 100] [--batches 200] [--migrations 7] [--explain]
 *
 * `--migrations N` applies only the first N migrations (6: the function before migration
 * 007), so two versions can be compared in alternating runs. Needs the same PostgreSQL as
 * the bench (BENCH_PG_URL), creates its own database and drops it. `--explain` then prints
 * the plans, actual rows and times of the function's statements for one more batch
 * (auto_explain with nested statements).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { migrations } from '../../src/db/migrations/index.js';
import { connectServerDatabase } from '../../src/db/server-database.js';
import { createDatabase, dropDatabase } from '../lib/pg.js';

const { values } = parseArgs({
  options: { batch: { type: 'string', default: '100' }, batches: { type: 'string', default: '200' }, migrations: { type: 'string' }, explain: { type: 'boolean', default: false } },
});
const BATCH = Number(values.batch);
const BATCHES = Number(values.batches);
const applied = values.migrations === undefined ? migrations : migrations.slice(0, Number(values.migrations));
const WARMUP_BATCHES = 50;
const GROUPS = 100;
const STORE_BATCH = 'SELECT outcome FROM chat_store_batch($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::int, $7::int)';

const name = `gcs_store_loop_${process.pid}`;
const url = await createDatabase(name);
try {
  const db = connectServerDatabase(url);
  await migrate(db, applied);
  await db.close();

  const c = new pg.Client({ connectionString: url });
  await c.connect();
  const groups = Array.from({ length: GROUPS }, () => randomUUID());
  const members = groups.map(() => Array.from({ length: 10 }, () => randomUUID()));
  await c.query(`INSERT INTO groups (id, event_id, name, max_members) SELECT id, gen_random_uuid(), 'loop', 10 FROM unnest($1::uuid[]) AS id`, [groups]);
  await c.query(`INSERT INTO group_members (group_id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])`, [
    groups.flatMap((g) => Array(10).fill(g)),
    members.flat(),
  ]);
  // The idle-socket fixture's 900 groups of 10, and a history group of 200,000 messages.
  await c.query(`WITH g AS (INSERT INTO groups (id, event_id, name, max_members) SELECT gen_random_uuid(), gen_random_uuid(), 'idle', 10 FROM generate_series(1, 900) RETURNING id)
                 INSERT INTO group_members (group_id, user_id) SELECT g.id, gen_random_uuid() FROM g, generate_series(1, 10)`);
  const history = randomUUID();
  await c.query(`INSERT INTO groups (id, event_id, name, max_members, last_seq) VALUES ($1, gen_random_uuid(), 'history', 10, 200000)`, [history]);
  await c.query(
    `INSERT INTO messages (id, group_id, seq, sender_id, username, content, client_id, sent_at)
     SELECT gen_random_uuid(), $1, s, gen_random_uuid(), 'history', rpad('history message ' || s, 64, '.'), NULL, now() - interval '3 days' + s * interval '1 millisecond'
     FROM generate_series(1, 200000) AS s`,
    [history],
  );
  await c.query('VACUUM (ANALYZE)');
  await c.query('CHECKPOINT');

  const pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const cpuMs = () => {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime: clock ticks of 1/100 s
  };
  let sent = 0;
  const run = async (count: number) => {
    for (let b = 0; b < count; b++) {
      const g: string[] = [];
      const u: string[] = [];
      const names: string[] = [];
      const bodies: string[] = [];
      for (let i = 0; i < BATCH; i++, sent++) {
        const k = sent % GROUPS;
        g.push(groups[k]!);
        u.push(members[k]![Math.floor(sent / GROUPS) % 2]!);
        names.push(`user-${k}`);
        bodies.push(`m${sent}`.padEnd(64, '_'));
      }
      const { rows } = await c.query<{ outcome: string }>({
        name: 'store_batch',
        text: STORE_BATCH,
        values: [g, u, names, bodies, Array(BATCH).fill(null), 1_000_000_000, 1_000],
      });
      const refused = rows.find((r) => r.outcome !== 'stored');
      if (refused) throw new Error(`a send was not stored: ${refused.outcome}`);
    }
  };
  await run(WARMUP_BATCHES);
  console.error(`backend pid ${pid}: timing ${BATCHES} batches of ${BATCH}`);
  const cpu0 = cpuMs();
  const t0 = performance.now();
  await run(BATCHES);
  const perSend = (ms: number) => ((ms * 1000) / (BATCHES * BATCH)).toFixed(1);
  console.log(
    `migrations 1..${applied.at(-1)!.version}, batches of ${BATCH}: ${perSend(cpuMs() - cpu0)} µs of PostgreSQL CPU and ${perSend(performance.now() - t0)} µs of wall time per send`,
  );
  if (values.explain) {
    // One more batch under auto_explain: the plan of every statement inside the function, with its actual rows and times.
    c.on('notice', (n) => console.log(n.message));
    await c.query("LOAD 'auto_explain'");
    await c.query('SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_nested_statements = on; SET client_min_messages = log');
    await run(1);
  }
  await c.end();
} finally {
  await dropDatabase(name);
}
