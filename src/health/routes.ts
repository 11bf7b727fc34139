import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';

export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;

async function run(check: ReadinessCheck): Promise<'ok' | 'error'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), CHECK_TIMEOUT_MS);
  });
  try {
    await Promise.race([check.check(), timeout]);
    return 'ok';
  } catch {
    return 'error';
  } finally {
    clearTimeout(timer);
  }
}

/** Liveness touches nothing; readiness asks every dependency and turns 503 while shutting down. */
export function healthRoutes(checks: readonly ReadinessCheck[], isShuttingDown: () => boolean): FastifyPluginAsync {
  return async (app) => {
    app.get('/health', {
      schema: { tags: ['health'], summary: 'Liveness', response: { 200: Type.Object({ status: Type.String(), service: Type.String() }) } },
      handler: async () => ({ status: 'healthy', service: 'group-service' }),
    });

    app.get('/health/ready', {
      schema: {
        tags: ['health'],
        summary: 'Readiness: the database (and Redis when configured) answer',
        response: {
          200: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
          503: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
        },
      },
      handler: async (_request, reply) => {
        const results = await Promise.all(checks.map(async (c) => [c.name, await run(c)] as const));
        const status: Record<string, string> = Object.fromEntries(results);
        if (isShuttingDown()) status.shutdown = 'in progress';
        const ready = !isShuttingDown() && results.every(([, r]) => r === 'ok');
        return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: status });
      },
    });
  };
}
