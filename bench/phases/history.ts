import { cpuWindow, measure, type Ctx } from '../lib/context.js';
import { sequentialLatencies } from '../lib/http-load.js';
import { percentile } from '../lib/stats.js';
import { API, type RunningService } from '../service/service.js';

/**
 * History pages in a group of 200,000 messages: the newest page, and the page 100,000
 * messages deep reached by before_seq and by offset. One request at a time on one
 * keep-alive connection, the three kinds interleaved, p99 of each, in the steady state.
 *
 * Warm-up: on a fresh service the first few hundred requests of a route are slower (V8 has
 * not optimised the path yet, and each of the pool's connections plans a statement anew for
 * its first executions). Measured on a slow machine, 3 × 1,000 rounds in a row: requests over
 * 5 ms were 105, 56, 20, 19, 10 per 600 in the first run and 5–23 per 600 after it. With 20
 * warm-up rounds the p99 measured that start, not the service.
 */
const WARMUP_ROUNDS = 300;
export async function history(ctx: Ctx, svc: RunningService, groupId: string, token: string): Promise<void> {
  const names = ['history_p99_ms_newest', 'history_p99_ms_deep_before_seq', 'history_p99_ms_deep_offset'];
  await measure(ctx, names, async () => {
    const deep = Math.floor(ctx.p.historyMessages / 2);
    const headers = { authorization: `Bearer ${token}` };
    const paths = [`?limit=50`, `?before_seq=${deep + 1}&limit=50`, `?offset=${deep}&limit=50`];
    const check = await Promise.all(
      paths.map(async (q) => {
        const res = await fetch(`${svc.base}${API}/${groupId}/messages${q}`, { headers });
        const body = (await res.json()) as { messages: { seq: number }[] };
        return `${q} -> seq ${body.messages[0]?.seq}..${body.messages.at(-1)?.seq}`;
      }),
    );
    ctx.log(`  pages: ${check.join('; ')}`);
    const samples = await sequentialLatencies(svc.port, paths.map((q) => ({ path: `${API}/${groupId}/messages${q}`, headers })), {
      rounds: ctx.p.historyRounds,
      warmupRounds: WARMUP_ROUNDS,
      maxMs: 120_000,
      onWindow: cpuWindow(ctx, 'history pages', { service: svc.child.pid }),
    });
    names.forEach((name, i) => {
      const s = samples[i]!;
      ctx.results.set(name, percentile(s, 0.99));
      ctx.log(`  ${name}: p50 ${percentile(s, 0.5).toFixed(2)} ms, p99 ${percentile(s, 0.99).toFixed(2)} ms over ${s.length} requests`);
    });
  });
}
