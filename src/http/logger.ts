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

/** Query parameters that carry credentials, compared after percent-decoding and lower-casing. */
const CREDENTIAL_PARAMS = new Set(['token', 'access_token']);

export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const pairs = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      return CREDENTIAL_PARAMS.has(decodeName(name).toLowerCase()) ? `${name}=[redacted]` : pair;
    });
  return `${url.slice(0, q)}?${pairs.join('&')}`;
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}
