import { freePort, startChild, sleep } from '../lib/children.js';
import { measure, type Ctx } from '../lib/context.js';
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
 * the group id of the URL would place them), with groups of 2, 10, 50 and
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

async function replicas(ctx: Ctx, groups: ChatGroup[], redis: boolean, placement: Placement = 'spread'): Promise<void> {
  const key = `replicas3_${redis ? 'redis' : 'pg'}${placement === 'spread' ? '' : `_${placement}`}`;
  await measure(ctx, [`${key}_persisted_msgs_per_s`], async () => {
    let redisChild: ReturnType<typeof startChild> | undefined;
    const services: RunningService[] = [];
    try {
      let redisUrl: string | undefined;
      if (redis) {
        // A private Redis: pub/sub channels are global to a server, and the machine's Redis is shared with other test runs.
        const port = await freePort();
        redisChild = startChild('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {}, 'redis-server');
        await redisChild.waitForLine((l) => l.includes('Ready to accept connections'), 15_000);
        redisUrl = `redis://127.0.0.1:${port}`;
      }
      for (let i = 0; i < 3; i++) services.push(await startService({ name: `replica ${i + 1}`, databaseUrl: ctx.dbUrl, redisUrl }));
      await messageRow(ctx, key, services, groups, ctx.p.sendersPerGroup, placement);
    } finally {
      await Promise.all(services.map((s) => s.stop()));
      await redisChild?.stop();
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
  await openSockets(ctx, groups, idleGroups);
}
