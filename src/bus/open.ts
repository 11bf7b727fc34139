import type { Config } from '../config/config.js';
import type { Database } from '../db/database.js';
import { createPostgresPresence } from '../presence/postgres-presence.js';
import { localPresence, type Presence } from '../presence/presence.js';
import type { Bus } from './bus.js';
import { createInProcessBus } from './in-process-bus.js';
import { createPostgresBus } from './postgres-bus.js';
import { createRedisBus } from './redis-bus.js';

/**
 * Picks the fan-out for the deployment: Redis pub/sub when REDIS_URL is set, else
 * PostgreSQL LISTEN/NOTIFY when the database is a server (replicas need nothing new),
 * else in-process (the embedded database admits one process). Presence is shared
 * through PostgreSQL whenever the database is a server.
 */
export function openBus(config: Pick<Config, 'redisUrl' | 'databaseUrl'>, db: Database, instanceId: string, log: { warn(obj: object, msg: string): void }): { bus: Bus; presence: Presence } {
  const presence = db.kind === 'server' ? createPostgresPresence(db, instanceId, log) : localPresence;
  if (config.redisUrl) return { bus: createRedisBus(config.redisUrl, { instanceId, log }), presence };
  if (config.databaseUrl && db.kind === 'server') return { bus: createPostgresBus(db, config.databaseUrl, { instanceId, log }), presence };
  return { bus: createInProcessBus(), presence };
}
