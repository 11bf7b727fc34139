import type { FastifyServerOptions } from 'fastify';
import type { Config } from '../config/config.js';

/**
 * JSON logs. Credentials never reach them: the Authorization header is redacted and the
 * `token` query parameter (WebSocket sign-in) is cut out of logged URLs.
 */
export function loggerOptions(config: Pick<Config, 'logLevel'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'], censor: '[redacted]' },
    serializers: {
      req(request: { method: string; url: string; id: string; ip?: string }) {
        return { method: request.method, url: redactUrl(request.url), id: request.id, remoteAddress: request.ip };
      },
    },
  };
}

export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[redacted]');
}
