import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import type { BusEvent } from '../../src/bus/bus.js';
import { channelOf } from '../../src/bus/redis-bus.js';
import { encode } from '../../src/bus/wire.js';
import { freePort, startChild, sleep } from '../lib/children.js';
import { cpuWindow, measure, type Ctx } from '../lib/context.js';
import { withClient } from '../lib/pg.js';
import type { FigureSpec } from '../lib/report.js';
import { FanoutLoad } from '../lib/ws-fanout.js';
import { regroupSql, type ChatGroup } from '../service/fixture.js';
import { startService, type RunningService } from '../service/service.js';
import { saturate, withLoad } from './messages.js';

/**
 * Item 4 of the issue (`--scaling`): the message figures (saturated throughput, p99 at half
 * of it) with 3 replicas over PostgreSQL only and over Redis (each group's members spread
 * over the replicas, or every socket of a group on one replica, as a load balancer hashing
 * the group id of the URL would place them; and the CPU an idle replica spends on other
 * groups' events over Redis), with groups of 2, 10, 50 and
 * 200 members (1,000 sockets in all), and with 1k/5k/10k open sockets (the same 100×10
 * load, the rest idle). Each row is shown against the baseline of the same block
 * (group_size_10: 1 replica, 100 groups of 10, 1,000 sockets), measured minutes apart.
 */
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
/** Messages in flight in the closed loop, whatever the group size. */
const IN_FLIGHT = 200;

/** Which replica a member's socket goes to: spread over all of them, or every socket of a group to one. */
type Placement = 'spread' | 'by_group';

async function messageRow(ctx: Ctx, key: string, services: RunningService[], groups: ChatGroup[], senders: number, placement: Placement = 'spread'): Promise<void> {
  const replicaOf = (gi: number, mi: number) => (placement === 'spread' ? gi + mi : gi) % services.length;
  const urls = groups.map((g, gi) => g.members.map((m, mi) => services[replicaOf(gi, mi)]!.wsUrl(g.id, m.token)));
  const watched = Object.fromEntries(services.map((s, i) => [`service_${i + 1}`, s.child.pid]));
  await withLoad(urls, async (load) => {
    const logsOf = () => services.map((s) => s.child.tail()).join('\n');
    const r = await saturate(ctx, `${key}_persisted_msgs_per_s`, load, { watched, logsOf, sendersPerGroup: senders });
    ctx.results.extra(spec(key, 'persisted_msgs_per_s', 'msgs/s'), r.persistedPerS);
    ctx.results.extra(spec(key, 'deliveries_per_s', 'deliveries/s'), r.deliveriesPerS);
    const o = await load.openLoop({ ratePerS: r.persistedPerS / 2, warmupMs: ctx.p.halfLoadWarmupMs, durationMs: ctx.p.halfLoadMs, drainMs: ctx.p.drainMs });
    ctx.log(`  ${key} half load ${fmt(r.persistedPerS / 2)} msgs/s: p50 ${o.p50.toFixed(1)} ms, p99 ${o.p99.toFixed(1)} ms, lost ${o.lost}`);
    ctx.results.extra(spec(key, 'p99_ms_at_half_load', 'ms'), o.p99);
  });
}

/** Every row is compared with the baseline measured in the same block: 1 replica, 100 groups of 10, 1,000 sockets. */
const BASELINE = 'group_size_10';

function spec(key: string, figure: string, unit: string): FigureSpec {
  return { name: `${key}_${figure}`, unit, reference: key === BASELINE ? null : `${BASELINE}_${figure}` };
}

/** A private Redis: pub/sub channels are global to a server, and the machine's Redis is shared with other test runs. */
async function privateRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await freePort();
  const child = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, 'redis-server');
  try {
    await child.waitForLine((l) => l.includes('Ready to accept connections'), 15_000);
  } catch (err) {
    await child.stop();
    throw err;
  }
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.stop() };
}

async function replicas(ctx: Ctx, groups: ChatGroup[], redis: boolean, placement: Placement = 'spread'): Promise<void> {
  const key = `replicas3_${redis ? 'redis' : 'pg'}${placement === 'spread' ? '' : `_${placement}`}`;
  await measure(ctx, [`${key}_persisted_msgs_per_s`], async () => {
    let privateServer: Awaited<ReturnType<typeof privateRedis>> | undefined;
    const services: RunningService[] = [];
    try {
      if (redis) privateServer = await privateRedis();
      for (let i = 0; i < 3; i++) services.push(await startService({ name: `replica ${i + 1}`, databaseUrl: ctx.dbUrl, redisUrl: privateServer?.url }));
      await messageRow(ctx, key, services, groups, ctx.p.sendersPerGroup, placement);
    } finally {
      await Promise.all(services.map((s) => s.stop()));
      await privateServer?.stop();
    }
  });
}

/** Events per second that the rest of a cluster publishes, in the foreign-events row. */
const FOREIGN_EVENTS_PER_S = 10_000;
const FOREIGN_WINDOW_MS = 4_000;

/**
 * What the rest of a cluster's traffic costs a replica over Redis: one replica with no
 * socket, while this process publishes typing events of 1,000 other groups, as other
 * replicas would, for a few seconds. With a channel per group the replica has subscribed to
 * none of them; with one shared channel it would read and drop every one.
 */
async function foreignEvents(ctx: Ctx): Promise<void> {
  const key = 'redis_idle_replica_cpu_with_foreign_events';
  await measure(ctx, [key], async () => {
    const server = await privateRedis();
    let svc: RunningService | undefined;
    const publisher = new Redis(server.url);
    try {
      svc = await startService({ name: 'replica (foreign events)', databaseUrl: ctx.dbUrl, redisUrl: server.url });
      const groups = Array.from({ length: 1_000 }, () => randomUUID());
      const origin = `bench-${randomUUID()}`;
      const onWindow = cpuWindow(ctx, key, { replica: svc.child.pid });
      onWindow(true);
      const t0 = performance.now();
      let sent = 0;
      while (performance.now() - t0 < FOREIGN_WINDOW_MS) {
        const due = Math.floor(((performance.now() - t0) * FOREIGN_EVENTS_PER_S) / 1000);
        const batch = publisher.pipeline();
        for (; sent < due; sent++) {
          const groupId = groups[sent % groups.length]!;
          const event: BusEvent = { type: 'typing', groupId, userId: origin, username: 'bench', isTyping: true, timestamp: new Date().toISOString() };
          batch.publish(channelOf(groupId), encode(origin, event, 64 * 1024));
        }
        await batch.exec();
        await sleep(10);
      }
      onWindow(false);
      const pct = ctx.cpu[key]!.replica!;
      ctx.log(`  ${key}: ${Math.round(sent / ((performance.now() - t0) / 1000)).toLocaleString('en-US')} events/s of other groups`);
      ctx.results.extra({ name: key, unit: `% of a core @${FOREIGN_EVENTS_PER_S.toLocaleString('en-US')} events/s`, reference: null }, pct);
    } finally {
      publisher.disconnect();
      await svc?.stop();
      await server.stop();
    }
  });
}

async function groupSizes(ctx: Ctx, users: ChatGroup['members']): Promise<void> {
  for (const size of [2, 10, 50, 200]) {
    const key = `group_size_${size}`;
    await measure(ctx, [`${key}_persisted_msgs_per_s`], async () => {
      const groups = await withClient(ctx.dbUrl, (c) => regroupSql(c, users, size));
      const svc = await startService({ name: `service (groups of ${size})`, databaseUrl: ctx.dbUrl });
      try {
        const senders = Math.min(size, Math.max(1, Math.ceil(IN_FLIGHT / groups.length)));
        ctx.log(`  ${groups.length} groups of ${size}, ${senders} senders each`);
        await messageRow(ctx, key, [svc], groups, senders);
      } finally {
        await svc.stop();
      }
    });
  }
}

async function openSockets(ctx: Ctx, groups: ChatGroup[], idleGroups: ChatGroup[]): Promise<void> {
  const base = groups.length * ctx.p.groupSize;
  const total = base + idleGroups.length * ctx.p.groupSize;
  for (const sockets of [...new Set([Math.min(5_000, total), total])].filter((n) => n > base)) {
    const key = `open_sockets_${sockets / 1000}k`;
    await measure(ctx, [`${key}_persisted_msgs_per_s`], async () => {
      const svc = await startService({ name: `service (${sockets} sockets)`, databaseUrl: ctx.dbUrl });
      let idle: FanoutLoad | undefined;
      try {
        const idleUrls = idleGroups.slice(0, (sockets - base) / ctx.p.groupSize).map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
        idle = await FanoutLoad.open(idleUrls, { concurrency: 100, timeoutMs: 60_000 });
        await sleep(1_000);
        await messageRow(ctx, key, [svc], groups, ctx.p.sendersPerGroup);
      } finally {
        idle?.close();
        await svc.stop();
      }
    });
  }
}

export async function scaling(ctx: Ctx, groups: ChatGroup[], idleGroups: ChatGroup[]): Promise<void> {
  await groupSizes(
    ctx,
    groups.flatMap((g) => g.members),
  );
  await replicas(ctx, groups, false);
  await replicas(ctx, groups, false, 'by_group');
  await replicas(ctx, groups, true);
  await replicas(ctx, groups, true, 'by_group');
  await foreignEvents(ctx);
  await openSockets(ctx, groups, idleGroups);
}
