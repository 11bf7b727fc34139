import { jsonLine, startTsChild } from '../lib/children.js';
import { measure, type Ctx } from '../lib/context.js';
import { measureIdle, type IdleResult } from '../lib/idle.js';
import type { ChatGroup } from '../service/fixture.js';
import { startService } from '../service/service.js';

/**
 * KiB of server RSS per idle socket: N bare `ws` sockets to a fresh bare server, then N
 * authenticated chat sockets (N distinct users, groups of 10) to a freshly started service.
 */
const options = (ctx: Ctx) => ({ settleMs: ctx.p.idleSettleMs, concurrency: 100, timeoutMs: 60_000 });

function logIdle(ctx: Ctx, label: string, r: IdleResult): void {
  ctx.log(`  ${label}: ${r.sockets} sockets, RSS ${(r.rssBeforeKiB / 1024).toFixed(1)} -> ${(r.rssAfterKiB / 1024).toFixed(1)} MiB, ${r.kibPerSocket.toFixed(2)} KiB/socket`);
}

function unit(ctx: Ctx, sockets: number): string | undefined {
  return ctx.quick ? `KiB/socket @${sockets.toLocaleString('en-US')}` : undefined;
}

export async function rawWsIdle(ctx: Ctx, sockets: number): Promise<void> {
  await measure(ctx, ['raw_ws_idle'], async () => {
    const child = startTsChild('raw_ws_idle', 'bench/references/raw-ws-idle.ts');
    try {
      const { port } = await jsonLine<{ port: number }>(child, 'ready', 30_000);
      const groups = Array.from({ length: Math.ceil(sockets / 10) }, (_, g) => Array.from({ length: 10 }, () => `ws://127.0.0.1:${port}/g${g}`));
      const r = await measureIdle(child.pid, groups, options(ctx));
      logIdle(ctx, 'raw_ws_idle', r);
      ctx.results.set('raw_ws_idle', r.kibPerSocket, unit(ctx, r.sockets));
    } finally {
      await child.stop();
    }
  });
}

export async function serviceIdle(ctx: Ctx, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['kib_per_idle_socket'], async () => {
    const svc = await startService({ name: 'service (idle)', databaseUrl: ctx.dbUrl });
    try {
      const urls = groups.map((g) => g.members.map((m) => svc.wsUrl(g.id, m.token)));
      const r = await measureIdle(svc.child.pid, urls, options(ctx));
      logIdle(ctx, 'kib_per_idle_socket', r);
      ctx.results.set('kib_per_idle_socket', r.kibPerSocket, unit(ctx, r.sockets));
    } finally {
      await svc.stop();
    }
  });
}
