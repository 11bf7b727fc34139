import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, ROOT, sleep, startChild, type Child } from '../lib/children.js';

/**
 * The service under test, as a child process: compiled by the project's own tsconfig (into
 * .bench/build, so that the bench neither races with nor clobbers anyone's dist/), and run
 * as `node main.js` with the environment of a benchmark run.
 */
export const BUILD_DIR = join(ROOT, '.bench', 'build');
const STAMP = join(BUILD_DIR, '.built');
export const API = '/api/v1/groups';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Compiles src/ unless the last build is newer than every source file. */
export function buildService(log: (line: string) => void): void {
  const sources = Math.max(newestMtime(join(ROOT, 'src')), statSync(join(ROOT, 'tsconfig.json')).mtimeMs);
  if (existsSync(STAMP) && statSync(STAMP).mtimeMs > sources) {
    log('build: .bench/build is up to date');
    return;
  }
  log('build: tsc -p tsconfig.json --outDir .bench/build');
  const result = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', BUILD_DIR], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  if (result.status !== 0) {
    const detail = `${result.stdout}${result.stderr}`.trim().split('\n').slice(0, 5).join('\n');
    if (!existsSync(join(BUILD_DIR, 'main.js'))) throw new Error(`build failed:\n${detail}`);
    log(`build: tsc reported errors (src is being edited?); running what it emitted:\n${detail}`);
    return;
  }
  writeFileSync(STAMP, new Date().toISOString());
}

export interface ServiceOptions {
  name: string;
  /** PostgreSQL server; without it the service uses the embedded database in dataDir. */
  databaseUrl?: string;
  dataDir?: string;
  redisUrl?: string;
  /** Runs under `node --cpu-prof`, writing the profile into this folder on exit. */
  cpuProfDir?: string;
  /** More node options (e.g. --heapsnapshot-signal). */
  nodeArgs?: string[];
}

export interface RunningService {
  readonly child: Child;
  readonly port: number;
  readonly base: string;
  wsUrl(groupId: string, token: string): string;
  stop(): Promise<void>;
}

export async function startService(o: ServiceOptions): Promise<RunningService> {
  const port = await freePort();
  const args = [...(o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : []), ...(o.nodeArgs ?? []), join(BUILD_DIR, 'main.js')];
  const child = startChild(o.name, args, {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: o.databaseUrl,
    DATA_DIR: o.databaseUrl ? undefined : o.dataDir,
    REDIS_URL: o.redisUrl,
    KEYCLOAK_SERVER_URL: undefined,
    ENVIRONMENT: 'development',
    RATE_LIMIT_MESSAGES: '1000000000',
    RATE_LIMIT_WINDOW: '1',
    LOG_LEVEL: 'ERROR',
    SHUTDOWN_TIMEOUT_SECONDS: '5',
    CORS_ORIGINS: undefined,
  });
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`${o.name} exited with ${child.proc.exitCode}:\n${child.tail()}`);
    try {
      const res = await fetch(`${base}${API}/health`);
      if (res.ok) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${o.name} did not become healthy within 60 s:\n${child.tail()}`);
    }
    await sleep(100);
  }
  return {
    child,
    port,
    base,
    wsUrl: (groupId, token) => `ws://127.0.0.1:${port}/api/v1/ws/groups/${groupId}?token=${token}`,
    stop: () => child.stop(10_000),
  };
}
