import pg from 'pg';

/**
 * A sampling profile of the database side: every `everyMs`, what each backend of the bench
 * database is doing (pg_stat_activity: state, wait event, the statement's first words).
 * The share of samples per line says where the connections' time goes (running, waiting
 * for a lock, for the WAL flush, idle in a transaction while the client works, …).
 */
export function sampleWaits(url: string, database: string, everyMs = 20): { stop(): Promise<string> } {
  const client = new pg.Client({ connectionString: url });
  const tally = new Map<string, number>();
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      const { rows } = await client.query<{ what: string }>(
        `SELECT state || ' | ' || coalesce(wait_event_type || ':' || wait_event, 'on CPU') || ' | ' ||
                regexp_replace(left(query, 48), '\\s+', ' ', 'g') AS what
         FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
        [database],
      );
      samples++;
      for (const r of rows) tally.set(r.what, (tally.get(r.what) ?? 0) + 1);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop.catch(() => {});
      await client.end().catch(() => {});
      const rows = [...tally.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25);
      return [
        `backends of ${database} by state | wait | statement, mean number of backends over ${samples} samples:`,
        ...rows.map(([what, n]) => `  ${(n / samples).toFixed(2).padStart(6)}  ${what}`),
      ].join('\n');
    },
  };
}
