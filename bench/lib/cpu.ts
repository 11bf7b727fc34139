import { readFileSync } from 'node:fs';
import { cpuTicks, machineTicks, pidsNamed } from './children.js';

/**
 * Where the CPU went during a measurement window: each watched process (in % of one
 * core), the PostgreSQL backends serving the bench database (found by their process
 * title, which names the database), PostgreSQL's shared background processes, this load
 * generator, and the whole machine (% of all cores; other users of the machine show here).
 */
const TICKS_PER_S = 100;

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
  const start = new Map<number, number>();
  const pg0 = database ? pgBackends(database) : { mine: [], background: [] };
  for (const pid of [...Object.values(watched), ...pg0.mine, ...pg0.background]) start.set(pid, cpuTicks(pid));
  return {
    stop() {
      const seconds = (Date.now() - t0) / 1000;
      const pct = (ticks: number) => Math.round((ticks / TICKS_PER_S / seconds) * 100);
      const delta = (pid: number) => cpuTicks(pid) - (start.get(pid) ?? 0);
      const report: CpuReport = {};
      for (const [name, pid] of Object.entries(watched)) report[name] = pct(delta(pid));
      if (database) {
        const pg1 = pgBackends(database);
        const mine = new Set([...pg0.mine, ...pg1.mine]);
        report.postgres_backends = pct([...mine].reduce((s, pid) => s + Math.max(0, delta(pid)), 0));
        report.postgres_background = pct(pg0.background.reduce((s, pid) => s + Math.max(0, delta(pid)), 0));
      }
      const self = process.cpuUsage(self0);
      report.load_generator = Math.round(((self.user + self.system) / 1e6 / seconds) * 100);
      const m1 = machineTicks();
      report.machine_busy_of_all_cores = Math.round(((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100);
      return report;
    },
  };
}

export function formatCpu(report: CpuReport): string {
  return Object.entries(report)
    .map(([k, v]) => `${k} ${v}%`)
    .join(', ');
}
