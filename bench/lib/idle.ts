import { rssKiB, sleep } from './children.js';
import { FanoutLoad } from './ws-fanout.js';

/**
 * Memory per idle socket: the server's VmRSS (read from /proc, the server being a child
 * process) settled before the sockets open and after they are all open and idle, divided
 * by their number, after a warm-up of 100 sockets opened and closed. The same procedure
 * for the bare `ws` server and for the service.
 */
export interface IdleResult {
  sockets: number;
  rssBeforeKiB: number;
  rssAfterKiB: number;
  kibPerSocket: number;
}

async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    samples.push(rssKiB(pid));
    await sleep(250);
  }
  return samples.sort((a, b) => a - b)[1]!;
}

export async function measureIdle(pid: number, groups: string[][], o: { settleMs: number; concurrency: number; timeoutMs: number }): Promise<IdleResult> {
  // Warm-up: the first connections load and compile code paths, which is not per-socket memory.
  const warm = await FanoutLoad.open(groups.slice(0, 10), o);
  warm.close();
  const before = await settledRss(pid, o.settleMs);
  const load = await FanoutLoad.open(groups, { concurrency: o.concurrency, timeoutMs: o.timeoutMs });
  try {
    const after = await settledRss(pid, o.settleMs);
    if (load.unexpectedCloses > 0) throw new Error(`${load.unexpectedCloses} idle sockets were closed by the server (${load.firstError})`);
    return { sockets: load.size, rssBeforeKiB: before, rssAfterKiB: after, kibPerSocket: (after - before) / load.size };
  } finally {
    load.close();
  }
}
