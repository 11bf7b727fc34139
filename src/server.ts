import type { FastifyInstance } from 'fastify';
import { createDevAuth } from './auth/dev-auth.js';
import { createKeycloakVerifier } from './auth/keycloak.js';
import type { AuthUser } from './auth/token-verifier.js';
import { buildApp } from './app.js';
import type { Config } from './config/config.js';
import type { Database } from './db/database.js';
import { openDatabase } from './db/open.js';
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { openBus } from './bus/open.js';
import { loggerOptions } from './http/logger.js';
import { chatRoutes } from './chat/routes.js';
import { ChatHub } from './chat/hub.js';
import { rememberUsername } from './members/repository.js';
import { SendBatcher } from './messages/send-batcher.js';
import { createMetrics } from './metrics/metrics.js';

export interface RunningService {
  readonly app: FastifyInstance;
  readonly db: Database;
  /** http://host:port the service listens on. */
  readonly url: string;
  /** Graceful stop: readiness turns 503, open work drains, then the database closes. */
  stop(): Promise<void>;
}

/** Composes the service from its configuration and starts listening. */
export async function startService(config: Config): Promise<RunningService> {
  const db = await openDatabase(config);
  let shuttingDown = false;
  try {
    const onVerified = (user: AuthUser) => rememberUsername(db, user.userId, user.username);
    const devAuth = config.keycloak ? undefined : await createDevAuth(db, { realm: config.keycloakRealm, clientId: config.keycloakClientId, onVerified });
    const verifier = config.keycloak ? createKeycloakVerifier(config.keycloak, onVerified) : devAuth!.verifier;
    const metrics = createMetrics();
    const log = pino({ ...(loggerOptions(config) as object), name: 'chat' });
    const { bus, presence } = openBus(config, db, randomUUID(), log);
    const messages = {
      db,
      bus,
      metrics,
      limits: { maxMessageLength: config.maxMessageLength, rateLimitMessages: config.rateLimitMessages, rateLimitWindowMs: config.rateLimitWindowMs },
      store: new SendBatcher(db, { limit: config.rateLimitMessages, windowMs: config.rateLimitWindowMs }),
      log,
    };
    const hub = new ChatHub({ db, bus, metrics, verifier, messages, presence, heartbeatMs: config.wsHeartbeatMs, log });
    await hub.start();
    const app: FastifyInstance = await buildApp({
      config,
      db,
      verifier,
      devAuth,
      events: hub,
      messages,
      metrics,
      plugins: [chatRoutes(hub, verifier)],
      readiness: [
        { name: 'database', check: async () => void (await db.query('SELECT 1')) },
        ...(bus.kind === 'in-process' ? [] : [{ name: bus.kind === 'redis' ? 'redis' : 'bus', check: () => bus.check() }]),
      ],
      isShuttingDown: () => shuttingDown,
    });
    const address = await app.listen({ port: config.port, host: config.host });
    const port = (app.server.address() as { port: number }).port;
    app.log.info({ address, database: db.kind, bus: bus.kind, auth: devAuth ? 'development' : 'keycloak' }, 'group-service listening');
    return {
      app,
      db,
      url: `http://127.0.0.1:${port}`,
      async stop() {
        shuttingDown = true;
        // Leave a margin of the shutdown budget for closing the server and the database.
        await hub.shutdown(Math.max(500, config.shutdownTimeoutMs - 2_000));
        await app.close();
        await bus.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}
