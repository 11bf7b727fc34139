import { formatCpu, sampleCpu, type CpuReport } from './cpu.js';
import type { Results } from './report.js';

/** How long and how big: the full run, and --quick (shorter windows, fewer idle sockets, labelled). */
export interface Params {
  warmupMs: number;
  durationMs: number;
  drainMs: number;
  halfLoadWarmupMs: number;
  halfLoadMs: number;
  /** Closed loop: this many members of each group send, one message in flight each. */
  sendersPerGroup: number;
  idleSockets: number;
  /** Idle figures: how long RSS is left to settle before it is read. */
  idleSettleMs: number;
  historyRounds: number;
  httpConnections: number;
  groups: number;
  groupSize: number;
  /** Groups (of groupSize) for the embedded figure. */
  embeddedGroups: number;
  historyMessages: number;
  /** The whole run is stopped past this. */
  maxRunMs: number;
}

export const FULL: Params = {
  warmupMs: 2_000,
  durationMs: 10_000,
  drainMs: 5_000,
  halfLoadWarmupMs: 1_000,
  halfLoadMs: 10_000,
  sendersPerGroup: 2,
  idleSockets: 10_000,
  idleSettleMs: 1_500,
  historyRounds: 1_000,
  httpConnections: 32,
  groups: 100,
  groupSize: 10,
  embeddedGroups: 100,
  historyMessages: 200_000,
  maxRunMs: 20 * 60_000,
};

export const QUICK: Params = {
  ...FULL,
  warmupMs: 750,
  durationMs: 2_500,
  drainMs: 3_000,
  halfLoadWarmupMs: 500,
  halfLoadMs: 2_500,
  idleSockets: 2_000,
  idleSettleMs: 800,
  embeddedGroups: 20,
  historyRounds: 600,
  maxRunMs: 360_000,
};

export interface Ctx {
  quick: boolean;
  p: Params;
  results: Results;
  dbName: string;
  dbUrl: string;
  log(line: string): void;
  /** CPU use per measurement window, for the "what bounds it" notes. */
  cpu: Record<string, CpuReport>;
}

/** An onWindow hook that samples CPU over exactly the counted window and logs it under `label`. */
export function cpuWindow(ctx: Ctx, label: string, watched: Record<string, number>, database: string | undefined = ctx.dbName): (counting: boolean) => void {
  let sampler: ReturnType<typeof sampleCpu> | undefined;
  return (counting) => {
    if (counting) sampler = sampleCpu(database, watched);
    else if (sampler) {
      const report = sampler.stop();
      ctx.cpu[label] = report;
      ctx.log(`  cpu during ${label}: ${formatCpu(report)}`);
    }
  };
}

/** Runs one measurement; a failure is recorded against its figures and the run goes on. */
export async function measure(ctx: Ctx, figures: string[], fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    ctx.log(`  FAILED ${figures.join(', ')}: ${err instanceof Error ? err.message : String(err)}`);
    for (const f of figures) if (ctx.results.get(f) === undefined) ctx.results.fail(f, err);
  }
}
