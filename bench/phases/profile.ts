import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, sleep } from '../lib/children.js';
import { heapDiff } from '../lib/heap-diff.js';
import { sampleWaits } from '../lib/pg-waits.js';
import { FanoutLoad } from '../lib/ws-fanout.js';
import { cpuWindow, type Ctx } from '../lib/context.js';
import { saturateHttp } from '../lib/http-load.js';
import { withClient } from '../lib/pg.js';
import { summariseProfile } from '../lib/profile-summary.js';
import { createReferenceTables, makeGroups, makeGroupsSql, makeHistoryGroup, type ChatGroup } from '../service/fixture.js';
import { API, startService } from '../service/service.js';
import { saturate, withLoad } from './messages.js';

/**
 * `npm run bench -- --profile`: the service under `node --cpu-prof`, once under the
 * saturated message load and once under GET /{id}; each profile is summarised (self time,
 * by origin, by service function), and the database side of the message load is sampled
 * from pg_stat_activity (the statements as the service sends them today, and what they
 * wait on). Then a heap-snapshot diff of idle sockets, and EXPLAIN ANALYZE of the reads
 * (GET /{id} and its reference, the history pages) on the same data.
 */
const nowUs = () => Number(process.hrtime.bigint() / 1000n);

/** An onWindow hook that notes the window in CLOCK_MONOTONIC µs, the clock of the profile's timestamps. */
function windowRecorder() {
  const window = { fromUs: 0, toUs: 0 };
  return { window, onWindow: (counting: boolean) => void (counting ? (window.fromUs = nowUs()) : (window.toUs = nowUs())) };
}

async function profiled(
  ctx: Ctx,
  label: string,
  dir: string,
  fn: (svc: Awaited<ReturnType<typeof startService>>, onWindow: (counting: boolean) => void) => Promise<void>,
  database: { databaseUrl: string } | { dataDir: string } = { databaseUrl: ctx.dbUrl },
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const { window, onWindow } = windowRecorder();
  const svc = await startService({ name: `service (${label}, profiled)`, ...database, cpuProfDir: dir });
  try {
    await fn(svc, onWindow);
  } finally {
    await svc.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${dir}`);
  process.stdout.write(`\n== ${label}\n${summariseProfile(join(dir, file), window.toUs > 0 ? window : undefined)}\n`);
}

/** Heap snapshots (SIGUSR2) of a fresh service before and after opening idle chat sockets, compared. */
async function idleHeap(ctx: Ctx, dir: string, groups: ChatGroup[], idleGroups: ChatGroup[]): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const svc = await startService({ name: 'service (heap)', databaseUrl: ctx.dbUrl, nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] });
  const snapshot = async (): Promise<string> => {
    const known = new Set(readdirSync(dir));
    process.kill(svc.child.pid, 'SIGUSR2');
    for (let i = 0; i < 600; i++) {
      await sleep(250);
      const file = readdirSync(dir).find((f) => !known.has(f) && f.endsWith('.heapsnapshot'));
      if (!file) continue;
      const size = statSync(join(dir, file)).size;
      await sleep(500);
      if (size > 0 && statSync(join(dir, file)).size === size && (await fetch(`${svc.base}/api/v1/groups/health`)).ok) return join(dir, file);
    }
    throw new Error('no heap snapshot written');
  };
  try {
    const all = [...groups, ...idleGroups].slice(0, 200);
    const urls = all.map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
    (await FanoutLoad.open(urls.slice(0, 10), { concurrency: 100, timeoutMs: 60_000 })).close();
    await sleep(2_000);
    const before = await snapshot();
    const load = await FanoutLoad.open(urls, { concurrency: 100, timeoutMs: 60_000 });
    try {
      await sleep(1_000);
      const after = await snapshot();
      process.stdout.write(`\n== idle chat sockets: heap snapshots (after a full GC) before and after opening ${load.size} sockets (after a warm-up of 100)\n`);
      process.stdout.write(`${heapDiff(before, after, load.size)}\n`);
      for (const file of [before, after]) rmSync(file, { force: true }); // hundreds of MB; the diff above is what is kept
    } finally {
      load.close();
    }
  } finally {
    await svc.stop();
  }
}

export async function profileService(ctx: Ctx): Promise<void> {
  const root = join(ROOT, '.bench', 'profile', new Date().toISOString().replace(/[:.]/g, '-'));
  let groups: ChatGroup[] = [];
  let idleGroups: ChatGroup[] = [];
  let history = { groupId: '', userId: '' };
  const setup = await startService({ name: 'service (fixture)', databaseUrl: ctx.dbUrl });
  try {
    groups = await makeGroups(setup.base, ctx.p.groups, ctx.p.groupSize, 'chat');
    const h = await withClient(ctx.dbUrl, (c) => makeHistoryGroup(setup.base, c, ctx.p.historyMessages));
    history = { groupId: h.groupId, userId: h.owner.userId };
    idleGroups = await withClient(ctx.dbUrl, (c) => makeGroupsSql(setup.base, c, 100, ctx.p.groupSize, 'idle'));
    await withClient(ctx.dbUrl, createReferenceTables);
  } finally {
    await setup.stop();
  }

  let waits: Promise<string> = Promise.resolve('(not sampled)');
  await profiled(ctx, 'message load', join(root, 'messages'), async (svc, onWindow) => {
    const urls = groups.map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
    let sampler: ReturnType<typeof sampleWaits> | undefined;
    const both = (counting: boolean) => {
      onWindow(counting);
      if (counting) sampler = sampleWaits(ctx.dbUrl, ctx.dbName);
      else if (sampler) waits = sampler.stop();
    };
    await withLoad(urls, (load) => saturate(ctx, 'profiled message load', load, { watched: { service: svc.child.pid }, logsOf: svc.child.tail, onWindow: both }));
  });
  process.stdout.write(`\n== database side of the message load\n${await waits}\n`);
  const dataDir = mkdtempSync(join(tmpdir(), 'gcs-bench-embedded-profile-'));
  try {
    await profiled(
      ctx,
      'embedded message load',
      join(root, 'embedded'),
      async (svc, onWindow) => {
        const embeddedGroups = await makeGroups(svc.base, ctx.p.embeddedGroups, ctx.p.groupSize, 'embprof', 8);
        const urls = embeddedGroups.map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
        await withLoad(urls, (load) =>
          saturate(ctx, 'profiled embedded message load', load, { watched: { embedded_service: svc.child.pid }, database: null, logsOf: svc.child.tail, onWindow }),
        );
      },
      { dataDir },
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  await profiled(ctx, 'GET /{id} load', join(root, 'get-group'), async (svc, onWindow) => {
    const requests = Array.from({ length: ctx.p.httpConnections }, (_, i) => {
      const g = groups[i % groups.length]!;
      return { path: `${API}/${g.id}`, headers: { authorization: `Bearer ${g.members[0]!.token}` } };
    });
    const cpu = cpuWindow(ctx, 'profiled GET /{id}', { service: svc.child.pid });
    const r = await saturateHttp(svc.port, requests, { connections: ctx.p.httpConnections, warmupMs: ctx.p.warmupMs, durationMs: ctx.p.durationMs, onWindow: (counting) => {
        onWindow(counting);
        cpu(counting);
      } });
    ctx.log(`  profiled GET /{id}: ${Math.round(r.rps)} req/s`);
  });
  ctx.log(`profiles in ${root} (open them in Chrome DevTools > Performance, or speedscope)`);
  await idleHeap(ctx, join(root, 'heap'), groups, idleGroups);

  const group = groups[0]!;
  const user = group.members[1]!.userId;
  await withClient(ctx.dbUrl, async (c) => {
    const explain = async (title: string, sql: string, params: unknown[]) => {
      const { rows } = await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
      process.stdout.write(`\n-- ${title}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}\n`);
    };
    process.stdout.write(`\n== EXPLAIN ANALYZE: reads (GET /{id} and its reference; history pages in a group of ${ctx.p.historyMessages} messages)\n`);
    const deep = Math.floor(ctx.p.historyMessages / 2);
    await explain(
      'groupSeqForMember',
      `SELECT g.last_seq, EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = $2) AS member FROM groups g WHERE g.id = $1`,
      [history.groupId, history.userId],
    );
    await explain(
      'GET /{id}: one group as its viewer may see it (src/groups/repository.ts, FIND_VISIBLE_GROUP)',
      `SELECT g.id, g.event_id, g.name, g.description, g.max_members, g.is_private,
         to_char(g.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
         to_char(g.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS updated_at, g.member_count
       FROM groups g
       WHERE g.id = $1 AND CASE WHEN g.is_private THEN EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = $2) ELSE true END`,
      [group.id, user],
    );
    await explain(
      'bare_select_route reference',
      'SELECT id, event_id, name, description, max_members, is_private, created_at, updated_at FROM ref_groups WHERE id = $1',
      [group.id],
    );
    const range = 'SELECT id, group_id, seq, sender_id, username, content, client_id, sent_at FROM messages WHERE group_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq';
    await explain('newest page (seq range)', range, [history.groupId, ctx.p.historyMessages - 49, ctx.p.historyMessages]);
    await explain('page 100,000 deep (before_seq or offset: the same seq range)', range, [history.groupId, deep - 49, deep]);
  });
}
