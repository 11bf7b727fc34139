import pg from 'pg';

/**
 * The bench's own database on the PostgreSQL server: created at the start of a run and
 * dropped at its end (BENCH_PG_URL names the server's maintenance database).
 */
export const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function createDatabase(name: string): Promise<string> {
  await withClient(ADMIN_URL, (c) => c.query(`CREATE DATABASE ${name}`));
  return databaseUrl(name);
}

export async function dropDatabase(name: string): Promise<void> {
  await withClient(ADMIN_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

export async function serverVersion(): Promise<string> {
  return withClient(ADMIN_URL, async (c) => (await c.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version);
}
