import { jsonLine, startTsChild } from '../lib/children.js';
import { cpuWindow, measure, type Ctx } from '../lib/context.js';
import { saturateHttp, type HttpRequestSpec } from '../lib/http-load.js';
import type { ChatGroup } from '../service/fixture.js';
import { API, type RunningService } from '../service/service.js';

/**
 * Request rate of a 1-row read: the bare Fastify + pg route, then the service's
 * authenticated GET /{id}. Connection i reads group i mod 100 as member i div 100, so
 * requests carry many users' tokens (each verified once, then served from the verifier's cache).
 */
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function run(ctx: Ctx, label: string, port: number, requests: HttpRequestSpec[], watched: Record<string, number>): Promise<number> {
  const r = await saturateHttp(port, requests, {
    connections: ctx.p.httpConnections,
    warmupMs: ctx.p.warmupMs,
    durationMs: ctx.p.durationMs,
    onWindow: cpuWindow(ctx, label, watched),
  });
  ctx.log(`  ${label}: ${fmt(r.rps)} req/s (${ctx.p.httpConnections} connections), non-2xx ${r.non2xx}, errors ${r.errors}`);
  if (r.non2xx > 0 || r.errors > 0 || r.ok === 0) throw new Error(`${label}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
  return r.rps;
}

export async function bareSelectRoute(ctx: Ctx, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['bare_select_route'], async () => {
    const child = startTsChild('bare_select_route', 'bench/references/bare-select-route.ts', { DATABASE_URL: ctx.dbUrl });
    try {
      const { port } = await jsonLine<{ port: number }>(child, 'ready', 30_000);
      const requests = Array.from({ length: ctx.p.httpConnections }, (_, i) => ({ path: `/groups/${groups[i % groups.length]!.id}` }));
      ctx.results.set('bare_select_route', await run(ctx, 'bare_select_route', port, requests, { bare_select_route: child.pid }));
    } finally {
      await child.stop();
    }
  });
}

export async function getGroupRps(ctx: Ctx, svc: RunningService, groups: ChatGroup[]): Promise<void> {
  await measure(ctx, ['get_group_rps'], async () => {
    const requests = Array.from({ length: ctx.p.httpConnections }, (_, i) => {
      const group = groups[i % groups.length]!;
      const member = group.members[Math.floor(i / groups.length) % group.members.length]!;
      return { path: `${API}/${group.id}`, headers: { authorization: `Bearer ${member.token}` } };
    });
    ctx.results.set('get_group_rps', await run(ctx, 'get_group_rps', svc.port, requests, { service: svc.child.pid }));
  });
}
