import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline';

/**
 * Every process the bench starts goes through here, so that it can be stopped by its PID
 * on the way out (normal end, error, SIGINT, watchdog): nothing is left running.
 */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Resolves with the first stdout line that `match` accepts (bounded by timeoutMs). */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  /** The last few KiB of stderr+stdout, for error messages. */
  tail(): string;
  readonly exited: Promise<number | null>;
  stop(timeoutMs?: number): Promise<void>;
}

const running = new Set<Child>();

export const ROOT = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');

export function startChild(name: string, args: string[], env: Record<string, string | undefined> = {}, command = process.execPath): Child {
  const fullEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) fullEnv[k] = v;
  const proc = spawn(command, args, {
    cwd: ROOT,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start`);
  let tail = '';
  const keep = (chunk: string) => {
    tail = (tail + chunk).slice(-4000);
  };
  const lineWaiters = new Set<(line: string) => void>();
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    keep(`${line}\n`);
    for (const w of [...lineWaiters]) w(line);
  });
  proc.stderr!.setEncoding('utf8').on('data', keep);
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));

  const child: Child = {
    name,
    pid: proc.pid,
    proc,
    exited,
    tail: () => tail,
    waitForLine(match, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => finish(new Error(`${name}: no expected output within ${timeoutMs} ms\n${tail}`)), timeoutMs);
        const onLine = (line: string) => {
          if (match(line)) finish(undefined, line);
        };
        const finish = (err?: Error, line?: string) => {
          clearTimeout(timer);
          lineWaiters.delete(onLine);
          if (err) reject(err);
          else resolve(line!);
        };
        lineWaiters.add(onLine);
        void exited.then((code) => finish(new Error(`${name} exited (${code}) before it was ready\n${tail}`)));
      });
    },
    async stop(timeoutMs = 8_000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      running.delete(child);
    },
  };
  running.add(child);
  void exited.then(() => running.delete(child));
  return child;
}

/** Starts a TypeScript file of the bench as a single node process (no tsx wrapper process). */
export function startTsChild(name: string, file: string, env: Record<string, string | undefined> = {}): Child {
  return startChild(name, ['--import', 'tsx', file], env);
}

/** Waits for a child's one-line JSON report on stdout (`{"ready":…}` or `{"result":…}`). */
export async function jsonLine<T>(child: Child, key: string, timeoutMs: number): Promise<T> {
  const line = await child.waitForLine((l) => l.startsWith(`{"${key}"`), timeoutMs);
  return (JSON.parse(line) as Record<string, T>)[key]!;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop(3_000)));
}

/** Last resort on process exit: SIGKILL by PID whatever is still running. */
export function killAllSync(): void {
  for (const c of running) {
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  running.clear();
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** VmRSS of a process, in KiB. */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

/** utime+stime of a process in clock ticks (USER_HZ, 100 on Linux), 0 when it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** PIDs of every running process whose command name is `comm` (e.g. postgres backends). */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}

/** The machine's CPU ticks since boot (all cores, /proc/stat): busy (ours and every other process's), stolen by the hypervisor, and in all. */
export function machineTicks(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  // user nice system idle iowait irq softirq steal (guest time is already counted in user)
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const steal = v[7] ?? 0;
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - idle - steal, steal, total };
}

/**
 * Nanoseconds the threads of `pid` have spent runnable but waiting for a CPU (the second
 * field of each thread's schedstat): the queueing a process meets on a busy machine.
 */
export function runQueueWaitNs(pid: number): number {
  let sum = 0;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[1]);
      } catch {
        // the thread ended meanwhile
      }
    }
  } catch {
    return 0;
  }
  return sum;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves `p`, or rejects after `ms` with a message naming `what`. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: did not finish within ${ms} ms`)), ms);
    }),
  ]);
}
