import { jsonLine, startTsChild } from '../lib/children.js';
import { cpuWindow, measure, type Ctx } from '../lib/context.js';

/** pg_insert_ceiling: the insert loop runs in its own process (4 connections), timed by itself. */
export async function pgInsertCeiling(ctx: Ctx): Promise<void> {
  await measure(ctx, ['pg_insert_ceiling'], async () => {
    const child = startTsChild('pg_insert_ceiling', 'bench/references/pg-insert-ceiling.ts', {
      DATABASE_URL: ctx.dbUrl,
      CLIENTS: '4',
      WARMUP_MS: String(ctx.p.warmupMs),
      DURATION_MS: String(ctx.p.durationMs),
    });
    try {
      const onWindow = cpuWindow(ctx, 'pg_insert_ceiling', { insert_clients: child.pid });
      const limit = ctx.p.warmupMs + ctx.p.durationMs + 30_000;
      const started = child.waitForLine((l) => l === '{"window":"start"}', limit).then(() => onWindow(true));
      const ended = child.waitForLine((l) => l === '{"window":"end"}', limit).then(() => onWindow(false));
      for (const p of [started, ended]) p.catch(() => {}); // a crash is reported by the result's wait
      const r = await jsonLine<{ rowsPerS: number; rows: number }>(child, 'result', limit);
      await Promise.all([started, ended]);
      ctx.log(`  pg_insert_ceiling: ${Math.round(r.rowsPerS).toLocaleString('en-US')} rows/s from 4 connections`);
      ctx.results.set('pg_insert_ceiling', r.rowsPerS);
    } finally {
      await child.stop();
    }
  });
}
