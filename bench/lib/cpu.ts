import { readFileSync } from 'node:fs';
import { cpuTicks, machineTicks, pidsNamed, runQueueWaitNs } from './children.js';

/**
 * Where the CPU went during a measurement window: each watched process (in % of one
 * core), the PostgreSQL backends serving the bench database (found by their process
 * title, which names the database), PostgreSQL's shared background processes, this load
 * generator, and the whole machine (% of all cores; other users of the machine show here).
 * Beside each process, the time it was runnable but waited for a CPU ("waited", % of one
 * core): on a machine whose cores are shared by the server, PostgreSQL and the load
 * generator, this queueing is what lengthens latency long before the cores are all busy.
 * The hypervisor's steal is reported apart: cores it took ran nothing of ours.
 */
const TICKS_PER_S = 100;
const WAITED = '_waited';
/** Steal below this share of the machine is within the noise of a quiet run. */
const STEAL_WORTH_NAMING = 5;

function pgBackends(database: string): { mine: number[]; background: number[] } {
  const mine: number[] = [];
  const background: number[] = [];
  for (const pid of pidsNamed('postgres')) {
    let title = '';
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (title.includes(` ${database} `)) mine.push(pid);
    else if (/postgres: (\S+ )?(walwriter|wal writer|checkpointer|background writer|autovacuum|logical replication|stats)/.test(title)) background.push(pid);
  }
  return { mine, background };
}

export interface CpuReport {
  [what: string]: number;
}

export function sampleCpu(database: string | undefined, watched: Record<string, number>): { stop(): CpuReport } {
  const t0 = Date.now();
  const m0 = machineTicks();
  const self0 = process.cpuUsage();
  const start = new Map<number, { ticks: number; waitNs: number }>();
  const pg0 = database ? pgBackends(database) : { mine: [], background: [] };
  for (const pid of [process.pid, ...Object.values(watched), ...pg0.mine, ...pg0.background]) start.set(pid, { ticks: cpuTicks(pid), waitNs: runQueueWaitNs(pid) });
  return {
    stop() {
      const seconds = (Date.now() - t0) / 1000;
      const pct = (ticks: number) => Math.round((ticks / TICKS_PER_S / seconds) * 100);
      const waitedPct = (pids: number[]) =>
        Math.round((pids.reduce((s, pid) => s + Math.max(0, runQueueWaitNs(pid) - (start.get(pid)?.waitNs ?? 0)), 0) / 1e9 / seconds) * 100);
      const delta = (pid: number) => cpuTicks(pid) - (start.get(pid)?.ticks ?? 0);
      const report: CpuReport = {};
      for (const [name, pid] of Object.entries(watched)) {
        report[name] = pct(delta(pid));
        report[`${name}${WAITED}`] = waitedPct([pid]);
      }
      if (database) {
        const pg1 = pgBackends(database);
        const mine = [...new Set([...pg0.mine, ...pg1.mine])];
        report.postgres_backends = pct(mine.reduce((s, pid) => s + Math.max(0, delta(pid)), 0));
        report[`postgres_backends${WAITED}`] = waitedPct(mine);
        report.postgres_background = pct(pg0.background.reduce((s, pid) => s + Math.max(0, delta(pid)), 0));
      }
      const self = process.cpuUsage(self0);
      report.load_generator = Math.round(((self.user + self.system) / 1e6 / seconds) * 100);
      report[`load_generator${WAITED}`] = waitedPct([process.pid]);
      const m1 = machineTicks();
      const total = Math.max(1, m1.total - m0.total);
      report.machine_busy_of_all_cores = Math.round(((m1.busy - m0.busy) / total) * 100);
      report.machine_stolen_of_all_cores = Math.round(((m1.steal - m0.steal) / total) * 100);
      return report;
    },
  };
}

/** `service 55% (waited 40%), …`: a process's share of one core, then its wait for a CPU. */
export function formatCpu(report: CpuReport): string {
  return Object.entries(report)
    .filter(([k]) => !k.endsWith(WAITED))
    .map(([k, v]) => {
      const waited = report[`${k}${WAITED}`];
      return waited === undefined ? `${k} ${v}%` : `${k} ${v}% (waited ${waited}%)`;
    })
    .join(', ');
}

/**
 * One line under the table: the hypervisor's steal in each measured window that had any worth
 * naming. Figures of a window with much steal were measured on a machine that ran less.
 */
export function stealSummary(windows: Record<string, CpuReport>): string {
  const stolen = Object.entries(windows).map(([label, r]) => [label, r.machine_stolen_of_all_cores ?? 0] as const);
  const worst = Math.max(0, ...stolen.map(([, v]) => v));
  const named = stolen.filter(([, v]) => v >= STEAL_WORTH_NAMING).map(([label, v]) => `${label} ${v}%`);
  return named.length === 0
    ? `Hypervisor steal: at most ${worst}% of the cores in any measured window.`
    : `Hypervisor steal (% of all cores) in the windows where it reached ${STEAL_WORTH_NAMING}%: ${named.join(', ')}. Figures of those windows were measured on a machine that ran less.`;
}
