import type { Database } from '../../src/db/database.js';
import { loadConfig } from '../../src/config/config.js';
import { startService, type RunningService } from '../../src/server.js';
import { JwksServer } from './jwks-server.js';

/**
 * The real service, listening on a free port of 127.0.0.1, verifying tokens against a
 * real JWKS endpoint. The database is PostgreSQL at TEST_DATABASE_URL when set, else an
 * embedded in-memory one. Tests make their own users and groups, so files can share a
 * server database without cleaning it.
 */
export interface TestService {
  service: RunningService;
  jwks: JwksServer;
  /** http://127.0.0.1:port/api/v1/groups */
  api: string;
  /** ws://127.0.0.1:port */
  wsBase: string;
  stop(): Promise<void>;
}

export async function startTestService(env: Record<string, string | undefined> = {}, jwksServer?: JwksServer): Promise<TestService> {
  const jwks = jwksServer ?? (await JwksServer.start());
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'ERROR',
    DATABASE_URL: process.env.TEST_DATABASE_URL,
    DATA_DIR: 'memory://',
    KEYCLOAK_SERVER_URL: jwks.serverUrl,
    KEYCLOAK_REALM: jwks.realm,
    KEYCLOAK_CLIENT_ID: jwks.clientId,
    REDIS_URL: process.env.REDIS_URL,
    ...env,
  });
  const service = await startService(config);
  return {
    service,
    jwks,
    api: `${service.url}/api/v1/groups`,
    wsBase: service.url.replace(/^http/, 'ws'),
    async stop() {
      await service.stop();
      if (!jwksServer) await jwks.close();
    },
  };
}

/** True when tests run against a PostgreSQL server rather than the embedded database. */
export const usingServerDatabase = Boolean(process.env.TEST_DATABASE_URL);

/**
 * Holds the group's row in a transaction of the service's own database until `release()`,
 * so that a send to the group stalls at its seq: work that is certainly in flight.
 */
export async function holdGroupRow(db: Database, groupId: string): Promise<{ release(): Promise<void> }> {
  let release = () => {};
  const released = new Promise<void>((r) => (release = r));
  let onLocked = () => {};
  const locked = new Promise<void>((r) => (onLocked = r));
  const holder = db.transaction(async (tx) => {
    await tx.query('SELECT id FROM groups WHERE id = $1 FOR UPDATE', [groupId]);
    onLocked();
    await released;
  });
  await Promise.race([locked, holder]);
  return {
    async release() {
      release();
      // A failed commit is not what the callers test (the service may have closed its database by then).
      await holder.catch(() => {});
    },
  };
}
