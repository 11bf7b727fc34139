import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { JwksServer } from './jwks-server.js';

/**
 * Several real service processes (`node --import tsx src/main.ts`) for the multi-replica
 * tests, plus the servers they share: the PostgreSQL server of TEST_DATABASE_URL, a private
 * redis-server per test file (so killing it never disturbs the shared one), and, for the
 * PostgreSQL restart test, a private PostgreSQL cluster. Every process started here is
 * killed by `stopAll()` (call it in afterAll) and, as a last resort, when the test worker exits.
 */
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

// ---------------------------------------------------------------- gating on PostgreSQL

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL;
/** Without a PostgreSQL server these tests are skipped outside CI; in CI they fail (see `requireDatabase`). */
export const skipReplicas = !TEST_DATABASE_URL && !process.env.CI;
if (skipReplicas) {
  // One line per test run: the first file of this run (this parent process) to load says it;
  // markers of runs that have ended are removed on the way.
  const prefix = 'gcs-replicas-skip-';
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(name.slice(prefix.length));
    if (!name.startsWith(prefix) || pid === process.ppid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      rmSync(join(tmpdir(), name), { recursive: true, force: true });
    }
  }
  const marker = join(tmpdir(), `${prefix}${process.ppid}`);
  let first = true;
  try {
    mkdirSync(marker);
  } catch {
    first = false;
  }
  if (first) process.stderr.write('test/replicas: skipped (set TEST_DATABASE_URL to a PostgreSQL server to run the multi-replica tests)\n');
}

/** In CI a missing TEST_DATABASE_URL is a failure, not a skip. */
export function requireDatabase(): string {
  if (!TEST_DATABASE_URL) throw new Error('TEST_DATABASE_URL is required in CI for the multi-replica tests');
  return TEST_DATABASE_URL;
}

export interface Mode {
  name: string;
  redis: boolean;
}
export const MODES: Mode[] = [
  { name: 'PostgreSQL LISTEN/NOTIFY bus', redis: false },
  { name: 'Redis pub/sub bus', redis: true },
];

// ---------------------------------------------------------------- small utilities

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** Polls `probe` until it returns a truthy value; throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    await sleep(intervalMs);
  }
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', () => r()));
}

/** Sends `signal`, waits up to `graceMs`, then SIGKILLs. */
async function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  const done = exited(child);
  const inTime = await Promise.race([done.then(() => true), sleep(graceMs).then(() => false)]);
  if (!inTime) {
    child.kill('SIGKILL');
    await done;
  }
  children.delete(child);
}

function tail(buffer: { text: string }, chunk: Buffer): void {
  buffer.text = (buffer.text + chunk.toString()).slice(-4000);
}

/** Runs one SQL statement on a short-lived connection. */
export async function adminQuery<Row = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as Row[];
  } finally {
    await client.end().catch(() => {});
  }
}

// ---------------------------------------------------------------- service replicas

export interface Replica {
  readonly name: string;
  /** The PostgreSQL application_name of every connection this replica opens. */
  readonly appName: string;
  readonly pid: number;
  /** http://127.0.0.1:port/api/v1/groups */
  readonly api: string;
  readonly wsBase: string;
  readonly output: { text: string };
  readonly alive: boolean;
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** GET /health/ready: status and per-check body. */
  ready(): Promise<{ status: number; body: any }>;
}

export interface ReplicaOptions {
  name: string;
  databaseUrl: string;
  jwks: JwksServer;
  redisUrl?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
}

function withAppName(url: string, appName: string): string {
  const u = new URL(url);
  u.searchParams.set('application_name', appName);
  return u.toString();
}

export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  const port = await freePort();
  const appName = `gcs-replica-${options.name}-${randomUUID().slice(0, 8)}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'ERROR',
    DATABASE_URL: withAppName(options.databaseUrl, appName),
    KEYCLOAK_SERVER_URL: options.jwks.serverUrl,
    KEYCLOAK_REALM: options.jwks.realm,
    KEYCLOAK_CLIENT_ID: options.jwks.clientId,
    SHUTDOWN_TIMEOUT_SECONDS: '5',
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    ...options.env,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const output = { text: '' };
  child.stdout!.on('data', (c: Buffer) => tail(output, c));
  child.stderr!.on('data', (c: Buffer) => tail(output, c));
  const base = `http://127.0.0.1:${port}`;
  const replica: Replica = {
    name: options.name,
    appName,
    pid: child.pid!,
    api: `${base}/api/v1/groups`,
    wsBase: `ws://127.0.0.1:${port}`,
    output,
    get alive() {
      return child.exitCode === null && child.signalCode === null;
    },
    kill: (signal = 'SIGTERM') => terminate(child, signal, 8_000),
    async ready() {
      const res = await fetch(`${base}/api/v1/groups/health/ready`, { signal: AbortSignal.timeout(5_000) });
      return { status: res.status, body: await res.json().catch(() => undefined) };
    },
  };
  try {
    await waitFor(
      `replica ${options.name} to be ready`,
      async () => {
        if (!replica.alive) throw new Error(`replica ${options.name} exited: ${output.text}`);
        return (await replica.ready().catch(() => ({ status: 0 }))).status === 200;
      },
      options.readyTimeoutMs ?? 180_000,
      250,
    );
  } catch (err) {
    await replica.kill('SIGKILL');
    throw new Error(`${(err as Error).message}; its output: ${output.text.slice(-1500) || '(none)'}`);
  }
  return replica;
}

// ---------------------------------------------------------------- a private redis-server

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** SIGKILL: the server is gone at once, as in a crash. */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty: it saves nothing). */
  start(): Promise<void>;
  /** Runs one command through redis-cli. */
  cli(...args: string[]): string;
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePing(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const server: RedisServer = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      if (child) await terminate(child, 'SIGKILL', 5_000);
      child = undefined;
    },
    async start() {
      const next = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'], { stdio: 'ignore' });
      children.add(next);
      child = next;
      await waitFor(`redis-server on port ${port}`, async () => {
        if (next.exitCode !== null) throw new Error(`redis-server exited with ${next.exitCode}`);
        return redisPing(port);
      }, 15_000);
    },
    cli(...args) {
      const res = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5_000 });
      return res.stdout;
    },
  };
  await server.start();
  return server;
}

// ---------------------------------------------------------------- a private PostgreSQL cluster

export interface PrivatePostgres {
  readonly url: string;
  /** pg_ctl stop -m fast: connections are cut, the server is gone until `start`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  destroy(): void;
}

function pgBin(name: string): string | undefined {
  const found = spawnSync('sh', ['-c', `ls -d /usr/lib/postgresql/*/bin/${name} 2>/dev/null | sort -V | tail -n 1`], { encoding: 'utf8' }).stdout.trim();
  return found || undefined;
}

/** Runs a command as the postgres user without blocking the event loop (sockets keep being read meanwhile). */
function asPostgres(args: string[], timeoutMs = 60_000): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn('runuser', ['-u', 'postgres', '--', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    const out = { text: '' };
    child.stdout!.on('data', (c: Buffer) => tail(out, c));
    child.stderr!.on('data', (c: Buffer) => tail(out, c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      if (code === 0) resolveRun();
      else reject(new Error(`${args.join(' ')} failed (${code}): ${out.text}`));
    });
  });
}

/** Undefined when this machine cannot run one (no initdb, not root, no postgres user). */
export function privatePostgresSupport(): { initdb: string; pgCtl: string } | undefined {
  const initdb = pgBin('initdb');
  const pgCtl = pgBin('pg_ctl');
  if (!initdb || !pgCtl || process.getuid?.() !== 0) return undefined;
  if (spawnSync('id', ['postgres']).status !== 0) return undefined;
  return { initdb, pgCtl };
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bins = privatePostgresSupport();
  if (!bins) throw new Error('a private PostgreSQL cluster cannot be run here');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'gcs-pg-'));
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100`;
  let running = false;
  const cluster: PrivatePostgres = {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      await asPostgres([bins.pgCtl, '-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
      running = false;
    },
    async start() {
      running = true;
      await asPostgres([bins.pgCtl, '-D', data, '-o', options, '-l', join(dir, 'server.log'), '-w', '-t', '30', 'start']);
    },
    destroy() {
      if (running) spawnSync('runuser', ['-u', 'postgres', '--', bins.pgCtl, '-D', data, '-m', 'immediate', '-w', 'stop'], { timeout: 30_000 });
      running = false;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await asPostgres([bins.initdb, '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    await cluster.start();
  } catch (err) {
    cluster.destroy();
    throw err;
  }
  process.on('exit', () => cluster.destroy());
  return cluster;
}

// ---------------------------------------------------------------- a database of one's own

export interface OwnDatabase {
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh database on the server of TEST_DATABASE_URL, dropped afterwards. Replicas of a test
 * share it with nobody else: other test runs on the same server would otherwise reap our dead
 * replica's presence and announce it on their own bus, and the LISTEN connections we cut
 * are surely ours. Leftovers of crashed runs older than two hours are dropped on the way.
 */
export async function ownDatabase(serverUrl: string = requireDatabase()): Promise<OwnDatabase> {
  const name = `gcs_replicas_${Date.now()}_${randomUUID().slice(0, 6)}`;
  const stale = await adminQuery<{ datname: string }>(serverUrl, "SELECT datname FROM pg_database WHERE datname ~ '^gcs_replicas_[0-9]+_'");
  for (const { datname } of stale) {
    if (Number(datname.split('_')[2]) < Date.now() - 2 * 3600_000) await adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
  }
  await adminQuery(serverUrl, `CREATE DATABASE "${name}"`);
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => adminQuery(serverUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).then(() => {}),
  };
}

// ---------------------------------------------------------------- one cluster starting at a time

/**
 * Starting a replica costs a few CPU-seconds (TypeScript on the fly, every module loaded). Test
 * files run side by side on a small machine, so clusters start one at a time (a lock directory
 * in tmpdir naming its holder's pid; a dead holder's lock is taken over), which keeps start-up
 * times within bounds instead of every process starving the others.
 */
async function withStartLock<T>(fn: () => Promise<T>): Promise<T> {
  const dir = join(tmpdir(), 'gcs-replicas-start.lock');
  const deadline = Date.now() + 300_000;
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, 'pid'), String(process.pid));
      break;
    } catch {
      let holder = NaN;
      try {
        holder = Number(readFileSync(join(dir, 'pid'), 'utf8'));
      } catch {
        // being written or removed: look again
      }
      let holderAlive = !Number.isFinite(holder) || holder === 0;
      if (!holderAlive) {
        try {
          process.kill(holder, 0);
          holderAlive = true;
        } catch {
          holderAlive = false;
        }
      }
      if (!holderAlive) rmSync(dir, { recursive: true, force: true });
      if (Date.now() > deadline) break; // start anyway rather than never
      await sleep(250);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      if (Number(readFileSync(join(dir, 'pid'), 'utf8')) === process.pid) rmSync(dir, { recursive: true, force: true });
    } catch {
      // not ours (any more)
    }
  }
}

// ---------------------------------------------------------------- a cluster of replicas

export interface Cluster {
  jwks: JwksServer;
  replicas: Replica[];
  redis: RedisServer | undefined;
  databaseUrl: string;
  stop(): Promise<void>;
}

/** `count` replicas on one database (by default a fresh one of their own), with a private Redis when `redis`. */
export async function startCluster(options: { count: number; redis: boolean; databaseUrl?: string; env?: Record<string, string> }): Promise<Cluster> {
  const own = options.databaseUrl ? undefined : await ownDatabase();
  const databaseUrl = options.databaseUrl ?? own!.url;
  const jwks = await JwksServer.start();
  const started: Replica[] = [];
  let redis: RedisServer | undefined;
  const cluster: Cluster = {
    jwks,
    replicas: started,
    redis: undefined,
    databaseUrl,
    async stop() {
      await Promise.allSettled(started.map((r) => r.kill('SIGTERM')));
      await redis?.kill();
      await jwks.close();
      await own?.drop();
    },
  };
  try {
    if (options.redis) cluster.redis = redis = await startRedis();
    // Side by side, as a deployment starts them (migrations are safe under concurrent start-ups).
    const names = ['A', 'B', 'C', 'D', 'E'].slice(0, options.count);
    const results = await withStartLock(() =>
      Promise.allSettled(names.map((name) => startReplica({ name, databaseUrl, jwks, redisUrl: redis?.url, env: options.env }).then((r) => (started.push(r), r)))),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    started.sort((a, b) => a.name.localeCompare(b.name));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

/** Kills whatever is still running (afterAll safety net). */
export async function stopAll(): Promise<void> {
  await Promise.allSettled([...children].map((c) => terminate(c, 'SIGKILL', 5_000)));
}
