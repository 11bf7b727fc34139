/**
 * `npm run bench [-- --quick] [-- --json <file>] [-- --profile] [-- --scaling] [-- --only a,b]`
 *
 * Starts everything it measures itself on 127.0.0.1 (the service, the reference servers,
 * a database of its own on the PostgreSQL server), measures the references and the service
 * in the same run, prints one table on stdout (progress goes to stderr), optionally writes
 * the figures as JSON, and stops every process it started, also on error or Ctrl-C.
 */
import { cpus, totalmem } from 'node:os';
import { killAllSync, stopAll } from './lib/children.js';
import { FULL, QUICK, type Ctx } from './lib/context.js';
import { stealSummary } from './lib/cpu.js';
import { createDatabase, databaseUrl, dropDatabase, serverVersion, withClient } from './lib/pg.js';
import { renderTable, Results, writeJson } from './lib/report.js';
import { bareSelectRoute, getGroupRps } from './phases/http.js';
import { history } from './phases/history.js';
import { pgInsertCeiling } from './phases/insert.js';
import { rawWsIdle, serviceIdle } from './phases/idle.js';
import { embeddedMessages, naivePeer, prepareEmbedded, rawWsFanout, rawWsLatency, serviceMessages } from './phases/messages.js';
import { profileService } from './phases/profile.js';
import { scaling } from './phases/scaling.js';
import { createReferenceTables, makeGroups, makeGroupsSql, makeHistoryGroup, type ChatGroup } from './service/fixture.js';
import { buildService, startService, type RunningService } from './service/service.js';

const PHASES = ['insert', 'fanout', 'http', 'history', 'idle', 'embedded'] as const;

function parseArgs(argv: string[]) {
  const o = { quick: false, json: undefined as string | undefined, profile: false, scaling: false, only: new Set<string>(PHASES) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = argv[++i] ?? '';
    else if (a === '--profile') o.profile = true;
    else if (a === '--scaling') o.scaling = true;
    else if (a === '--only') o.only = new Set((argv[++i] ?? '').split(','));
    else if (a === '--help' || a === '-h') {
      process.stdout.write(`usage: npm run bench -- [--quick] [--json <file>] [--profile] [--scaling] [--only ${PHASES.join(',')}]\n`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (o.json === '') throw new Error('--json needs a file name');
  return o;
}

const startedAt = Date.now();
const log = (line: string) => process.stderr.write(`[bench ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)}s] ${line}\n`);
const args = parseArgs(process.argv.slice(2));
const p = args.quick ? QUICK : FULL;
const dbName = `gcs_bench_${process.pid}`;
let dbCreated = false;
let disposeEmbedded: () => Promise<void> = async () => {};
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await disposeEmbedded().catch(() => {});
    await stopAll().catch(() => {});
    if (dbCreated) await dropDatabase(dbName).catch((err: Error) => log(`could not drop ${dbName}: ${err.message}`));
  })();
  return cleaning;
}

process.on('exit', killAllSync);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    log(`${signal}: stopping every process the bench started`);
    void cleanup().finally(() => process.exit(130));
  });
}
const watchdog = setTimeout(() => {
  log(`watchdog: the run exceeded ${p.maxRunMs / 1000} s; stopping`);
  void cleanup().finally(() => process.exit(3));
}, p.maxRunMs);

async function main(): Promise<number> {
  log(`${args.quick ? 'QUICK run (short windows, fewer idle sockets)' : 'full run'}: ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, PostgreSQL ${await serverVersion()}`);
  buildService(log);
  await createDatabase(dbName);
  dbCreated = true;
  const results = new Results();
  const ctx: Ctx = { quick: args.quick, p, results, dbName, dbUrl: databaseUrl(dbName), log, cpu: {} };
  log(`database ${dbName}`);

  if (args.profile) {
    await profileService(ctx);
    return 0;
  }

  // The embedded service initialises its database and gets its users while the main fixture is made.
  const embedded = args.only.has('embedded') ? prepareEmbedded(ctx) : undefined;
  embedded?.catch(() => {}); // its failure is reported when it is measured
  disposeEmbedded = () => embedded?.then((e) => e.dispose(), () => {}) ?? Promise.resolve();
  let svc: RunningService | undefined = await startService({ name: 'service', databaseUrl: ctx.dbUrl });
  const base = svc.base;
  const t0 = Date.now();
  const idleExtra = args.only.has('idle') || args.scaling ? p.idleSockets / p.groupSize - p.groups : 0;
  // The history rows are PostgreSQL's work and the tokens the service's: both go on at once.
  const [groups, hist, idleGroups] = await Promise.all([
    makeGroups(base, p.groups, p.groupSize, 'chat'),
    withClient(ctx.dbUrl, (c) => makeHistoryGroup(base, c, p.historyMessages)),
    idleExtra > 0 ? withClient(ctx.dbUrl, (c) => makeGroupsSql(base, c, idleExtra, p.groupSize, 'idle')) : Promise.resolve([] as ChatGroup[]),
  ]);
  log(
    `fixture in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${p.groups} groups x ${p.groupSize} members (API), a history group of ` +
      `${p.historyMessages.toLocaleString('en-US')} messages (SQL), ${idleExtra} more groups for idle sockets (tokens from the API, rows by SQL)`,
  );
  await withClient(ctx.dbUrl, createReferenceTables);
  // Nothing else may run during the measurements: wait for the embedded set-up to finish.
  if (embedded) await embedded.catch(() => undefined);

  if (args.only.has('insert')) {
    log('pg_insert_ceiling');
    await pgInsertCeiling(ctx);
  }
  if (args.only.has('fanout')) {
    log('raw_ws_fanout, naive_peer, the service (persisted, deliveries, half load), then raw_ws_fanout at the same half load');
    await rawWsFanout(ctx, groups);
    await naivePeer(ctx, groups);
    await serviceMessages(ctx, svc, groups);
    await rawWsLatency(ctx, groups);
  }
  if (args.only.has('http')) {
    log('bare_select_route, then get_group_rps');
    await bareSelectRoute(ctx, groups);
    await getGroupRps(ctx, svc, groups);
  }
  if (args.only.has('history')) {
    log('history pages');
    await history(ctx, svc, hist.groupId, hist.owner.token);
  }
  await svc.stop();
  svc = undefined;

  if (args.only.has('idle')) {
    log(`idle sockets: ${p.idleSockets.toLocaleString('en-US')} each`);
    await rawWsIdle(ctx, p.idleSockets);
    await serviceIdle(ctx, [...groups, ...idleGroups].slice(0, p.idleSockets / p.groupSize));
  }
  if (embedded) {
    log('embedded database');
    await embeddedMessages(ctx, embedded);
  }
  if (args.scaling) {
    log('scaling tables (item 4)');
    await scaling(ctx, groups, idleGroups);
  }

  const figures = results.figures();
  process.stdout.write(`\n${args.quick ? 'QUICK run: ' : ''}${new Date().toISOString()}, ${cpus().length} cores, node ${process.version}\n`);
  process.stdout.write(`${renderTable(figures)}\n`);
  process.stdout.write(`${stealSummary(ctx.cpu)}\n`);
  if (args.json) {
    writeJson(args.json, figures);
    log(`wrote ${args.json}`);
  }
  return Object.values(figures).some((f) => f.value === null) ? 1 : 0;
}

main()
  .then(
    async (code) => {
      await cleanup();
      clearTimeout(watchdog);
      log(`done in ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
      process.exit(code);
    },
    async (err: unknown) => {
      log(`failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      await cleanup();
      process.exit(2);
    },
  );
