import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonLine, startTsChild } from '../lib/children.js';
import { cpuWindow, measure, type Ctx } from '../lib/context.js';
import { withClient } from '../lib/pg.js';
import { FanoutLoad, type SaturationResult } from '../lib/ws-fanout.js';
import { makeGroups, type ChatGroup } from '../service/fixture.js';
import { startService, type RunningService } from '../service/service.js';

/**
 * Message figures: the same closed-loop load (every member of every group keeps one
 * message in flight, waiting for its own copy) against the bare `ws` relay, the naive
 * peer and the service; then an open loop at half the service's saturation for latency.
 */
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export async function withLoad<T>(urls: string[][], fn: (load: FanoutLoad) => Promise<T>): Promise<T> {
  const load = await FanoutLoad.open(urls, { concurrency: 50, timeoutMs: 30_000 });
  try {
    return await fn(load);
  } finally {
    load.close();
  }
}

export interface SaturateOptions {
  /** Processes whose CPU is reported for the window (name -> pid). */
  watched: Record<string, number>;
  /** The database whose PostgreSQL backends are counted; none for the embedded service. */
  database?: string | null;
  /** The server's output, shown when it refused or closed something. */
  logsOf?: () => string;
  onWindow?: (counting: boolean) => void;
  sendersPerGroup?: number;
}

export async function saturate(ctx: Ctx, label: string, load: FanoutLoad, o: SaturateOptions): Promise<SaturationResult> {
  const { p } = ctx;
  const logsOf = o.logsOf;
  const cpu = cpuWindow(ctx, label, o.watched, o.database === null ? undefined : (o.database ?? ctx.dbName));
  const onWindow = (counting: boolean) => {
    cpu(counting);
    o.onWindow?.(counting);
  };
  const r = await load.saturate({ warmupMs: p.warmupMs, durationMs: p.durationMs, sendersPerGroup: o.sendersPerGroup ?? p.sendersPerGroup, window: 1, drainMs: p.drainMs, onWindow });
  ctx.log(
    `  ${label}: ${fmt(r.persistedPerS)} msgs/s delivered to every member, ${fmt(r.deliveriesPerS)} deliveries/s; ` +
      `errors ${r.errors}, unfinished after drain ${r.unfinished}, duplicates ${load.duplicates}, server closes ${load.unexpectedCloses}`,
  );
  if (load.unexpectedCloses > 0 && logsOf) ctx.log(`  ${label}: server log tail:\n${logsOf().slice(-1500)}`);
  if (load.unexpectedCloses > 0) throw new Error(`${label}: the server closed ${load.unexpectedCloses} sockets (${load.firstError})`);
  if (r.completed === 0) throw new Error(`${label}: no message completed (${load.firstError ?? 'no error frame'})`);
  if (r.errors > 0) ctx.log(`  ${label}: first error frame: ${load.firstError}`);
  if (load.duplicates > 0) ctx.log(`  ${label}: WARNING duplicate delivery: ${load.firstDuplicate}`);
  if (r.errors > 0 && logsOf) ctx.log(`  ${label}: server log tail:\n${logsOf().slice(-1500)}`);
  return r;
}

async function reference(ctx: Ctx, name: string, file: string, env: Record<string, string>, urls: (port: number) => string[][]): Promise<SaturationResult> {
  const child = startTsChild(name, file, env);
  try {
    const { port } = await jsonLine<{ port: number }>(child, 'ready', 30_000);
    return await withLoad(urls(port), (load) => saturate(ctx, name, load, { watched: { [name]: child.pid }, logsOf: child.tail }));
  } finally {
    await child.stop();
  }
}

export async function rawWsFanout(ctx: Ctx, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['raw_ws_fanout'], async () => {
    const r = await reference(ctx, 'raw_ws_fanout', 'bench/references/raw-ws-fanout.ts', {}, (port) =>
      groups.map((g, gi) => g.members.map(() => `ws://127.0.0.1:${port}/g${gi}`)),
    );
    ctx.results.set('raw_ws_fanout', r.deliveriesPerS);
  });
}

/**
 * The bare relay driven by the same open loop at the same rate as the service's half load:
 * the latency this machine and the load generator add with no database and no work per
 * message, against which the service's p50 and p99 are read.
 */
export async function rawWsLatency(ctx: Ctx, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['raw_ws_p50_ms_at_half_load', 'raw_ws_p99_ms_at_half_load'], async () => {
    const persisted = ctx.results.get('persisted_msgs_per_s');
    if (persisted === undefined) throw new Error('the service\'s saturation (persisted_msgs_per_s) was not measured');
    const rate = persisted / 2;
    const child = startTsChild('raw_ws_fanout', 'bench/references/raw-ws-fanout.ts', {});
    try {
      const { port } = await jsonLine<{ port: number }>(child, 'ready', 30_000);
      const urls = groups.map((g, gi) => g.members.map(() => `ws://127.0.0.1:${port}/g${gi}`));
      const onWindow = cpuWindow(ctx, 'raw_ws_fanout at half load', { raw_ws_fanout: child.pid });
      const o = await withLoad(urls, (load) => load.openLoop({ ratePerS: rate, warmupMs: ctx.p.halfLoadWarmupMs, durationMs: ctx.p.halfLoadMs, drainMs: ctx.p.drainMs, onWindow }));
      ctx.log(`  raw_ws_fanout at the same ${fmt(rate)} msgs/s open loop: p50 ${o.p50.toFixed(1)} ms, p99 ${o.p99.toFixed(1)} ms over ${fmt(o.recorded)} messages, lost ${o.lost}`);
      if (o.recorded === 0) throw new Error('raw relay at half load: no message completed');
      ctx.results.set('raw_ws_p50_ms_at_half_load', o.p50);
      ctx.results.set('raw_ws_p99_ms_at_half_load', o.p99);
    } finally {
      await child.stop();
    }
  });
}

export async function naivePeer(ctx: Ctx, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['naive_peer'], async () => {
    const r = await reference(ctx, 'naive_peer', 'bench/references/naive-peer.ts', { DATABASE_URL: ctx.dbUrl }, (port) =>
      groups.map((g) => g.members.map((m) => `ws://127.0.0.1:${port}/${g.id}?user=${m.userId}&name=${encodeURIComponent(m.username)}`)),
    );
    ctx.results.set('naive_peer', r.persistedPerS);
  });
}

export async function serviceMessages(ctx: Ctx, svc: RunningService, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['persisted_msgs_per_s', 'deliveries_per_s', 'p50_ms_at_half_load', 'p99_ms_at_half_load'], async () => {
    const urls = groups.map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
    await withLoad(urls, async (load) => {
      const r = await saturate(ctx, 'persisted_msgs_per_s', load, { watched: { service: svc.child.pid }, logsOf: svc.child.tail });
      ctx.results.set('persisted_msgs_per_s', r.persistedPerS);
      ctx.results.set('deliveries_per_s', r.deliveriesPerS);
      const stored = await withClient(ctx.dbUrl, async (c) => {
        const { rows } = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM messages WHERE group_id = ANY($1::uuid[])', [groups.map((g) => g.id)]);
        return rows[0]!.n;
      });
      ctx.log(`  stored rows ${fmt(stored)} for ${fmt(load.acked)} acknowledgements${stored < load.acked ? '  <-- WARNING: acknowledged but not stored' : ''}`);

      const rate = r.persistedPerS / 2;
      const onWindow = cpuWindow(ctx, 'half load', { service: svc.child.pid });
      const o = await load.openLoop({ ratePerS: rate, warmupMs: ctx.p.halfLoadWarmupMs, durationMs: ctx.p.halfLoadMs, drainMs: ctx.p.drainMs, onWindow });
      ctx.log(`  half load ${fmt(rate)} msgs/s open loop: p50 ${o.p50.toFixed(1)} ms, p99 ${o.p99.toFixed(1)} ms over ${fmt(o.recorded)} messages, lost ${o.lost}, errors ${o.errors}`);
      if (o.recorded === 0) throw new Error('half load: no message completed');
      ctx.results.set('p50_ms_at_half_load', o.p50);
      ctx.results.set('p99_ms_at_half_load', o.p99);
    });
  });
}

/** The embedded service with its own fixture, started early (its database initialises meanwhile), measured later. */
export interface EmbeddedService {
  svc: RunningService;
  groups: ChatGroup[];
  dispose(): Promise<void>;
}

export async function prepareEmbedded(ctx: Ctx): Promise<EmbeddedService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gcs-bench-embedded-'));
  const dispose = async (svc?: RunningService) => {
    await svc?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  let svc: RunningService | undefined;
  try {
    svc = await startService({ name: 'embedded service', dataDir });
    const t0 = Date.now();
    const groups = await makeGroups(svc.base, ctx.p.embeddedGroups, ctx.p.groupSize, 'emb', 8);
    ctx.log(`  embedded fixture: ${groups.length} groups x ${ctx.p.groupSize} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const running = svc;
    return { svc, groups, dispose: () => dispose(running) };
  } catch (err) {
    await dispose(svc);
    throw err;
  }
}

export async function embeddedMessages(ctx: Ctx, prepared: Promise<EmbeddedService>): Promise<void> {
  await measure(ctx, ['embedded_persisted_msgs_per_s'], async () => {
    const { svc, groups, dispose } = await prepared;
    try {
      const urls = groups.map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
      const r = await withLoad(urls, (load) =>
        saturate(ctx, 'embedded_persisted_msgs_per_s', load, { watched: { embedded_service: svc.child.pid }, database: null, logsOf: svc.child.tail }),
      );
      ctx.results.set('embedded_persisted_msgs_per_s', r.persistedPerS, ctx.p.embeddedGroups !== ctx.p.groups ? `msgs/s @${groups.length} groups` : undefined);
    } finally {
      await dispose();
    }
  });
}
