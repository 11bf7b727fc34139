import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance } from 'fastify';
import { devAuthRoutes } from './auth/dev-routes.js';
import type { DevAuth } from './auth/dev-auth.js';
import type { TokenVerifier } from './auth/token-verifier.js';
import type { Config } from './config/config.js';
import type { Database } from './db/database.js';
import { AppError } from './errors/app-error.js';
import type { GroupEventSink } from './events/group-events.js';
import { groupRoutes } from './groups/routes.js';
import { healthRoutes, type ReadinessCheck } from './health/routes.js';
import { createAuthenticate, registerRequestUser } from './http/authenticate.js';
import { handleFrameworkError, registerErrorHandler, sendError } from './http/error-handler.js';
import { loggerOptions, requestLoggerFactory } from './http/logger.js';
import { requestIdGenerator } from './http/request-id.js';
import type { RouteDeps } from './http/route-deps.js';
import { registerValidators } from './http/validation.js';
import { memberRoutes } from './members/routes.js';
import { messageRoutes } from './messages/routes.js';
import type { PostMessageDeps } from './messages/post-message.js';
import type { Metrics } from './metrics/metrics.js';
import { registerMetrics } from './metrics/routes.js';

export const API_PREFIX = '/api/v1/groups';
const BODY_LIMIT_BYTES = 64 * 1024;
const REQUEST_ID_RE = /^[\w.:-]{1,128}$/;

export interface AppDeps {
  config: Config;
  db: Database;
  verifier: TokenVerifier;
  devAuth: DevAuth | undefined;
  events: GroupEventSink;
  messages: PostMessageDeps;
  metrics: Metrics;
  readiness: readonly ReadinessCheck[];
  isShuttingDown: () => boolean;
  /** Extra plugins mounted at the root (the chat), given the same route dependencies. */
  plugins?: ((app: FastifyInstance, deps: RouteDeps) => Promise<void>)[];
}

/** Wires the HTTP application: cross-cutting plugins first, then one plugin per feature. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const newRequestId = requestIdGenerator();
  const app = Fastify({
    logger: loggerOptions(deps.config),
    childLoggerFactory: requestLoggerFactory,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    requestIdHeader: false, // genReqId reads and checks x-request-id itself
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID_RE.test(incoming) ? incoming : newRequestId();
    },
    connectionTimeout: 30_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 72_000,
    // Requests that still arrive while closing get the contract's error shape (hook below), not Fastify's own 503 body.
    return503OnClosing: false,
    frameworkErrors: handleFrameworkError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // Closing: requests that still arrive on an open keep-alive connection are turned away, as
  // Fastify's own return503OnClosing would, with the error shape of every other answer.
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  // The request id is set when the request arrives, so every answer of the application
  // (errors and 404s included) carries it; a callback hook costs no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    if (closing) {
      reply.header('connection', 'close');
      void sendError(reply, new AppError('service_unavailable', 'The service is shutting down'));
      return;
    }
    done();
  });
  registerRequestUser(app);
  registerValidators(app);
  registerErrorHandler(app);
  registerMetrics(app, deps.metrics);

  if (deps.config.corsOrigins.length > 0) {
    await app.register(cors, { origin: deps.config.corsOrigins.includes('*') ? true : [...deps.config.corsOrigins], credentials: true });
  }

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'Group & Chat Service', version: '1.0.0', description: 'Groups around events, membership and roles, and real-time chat.' },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: `${API_PREFIX}/docs` });
  app.get(`${API_PREFIX}/openapi.json`, { schema: { hide: true } }, async () => app.swagger());

  const routeDeps: RouteDeps = { db: deps.db, events: deps.events, messages: deps.messages, authenticate: createAuthenticate(deps.verifier) };
  await app.register(healthRoutes(deps.readiness, deps.isShuttingDown), { prefix: API_PREFIX });
  if (deps.devAuth) await app.register(devAuthRoutes(deps.devAuth), { prefix: API_PREFIX });
  await app.register(groupRoutes(routeDeps), { prefix: API_PREFIX });
  await app.register(memberRoutes(routeDeps), { prefix: API_PREFIX });
  await app.register(messageRoutes(routeDeps), { prefix: API_PREFIX });
  for (const plugin of deps.plugins ?? []) await plugin(app, routeDeps);

  return app;
}
