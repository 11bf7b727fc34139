import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuthUser, TokenVerifier } from '../auth/token-verifier.js';
import { AppError } from '../errors/app-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser;
  }
}

const BEARER_RE = /^Bearer\s+(\S+)\s*$/i;
const BEARER_PREFIX = 'Bearer ';

/** Declares request.user up front, so that setting it does not change every request's shape. */
export function registerRequestUser(app: FastifyInstance): void {
  app.decorateRequest('user', null as unknown as AuthUser);
}

/**
 * A route opts in with `onRequest: authenticate`; there is no list of public URL
 * prefixes. It runs before body parsing and validation, so an anonymous caller learns
 * nothing about the route beyond 401.
 *
 * A token the verifier has already accepted (and that has not expired) is served from its
 * cache without a promise; "Bearer <exactly that token>" is also what the pattern accepts
 * with that token, so the fast path answers as the full one would.
 */
export function createAuthenticate(verifier: TokenVerifier) {
  return function authenticate(request: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void {
    const header = request.headers.authorization;
    if (header !== undefined && header.startsWith(BEARER_PREFIX)) {
      const user = verifier.cached(header.slice(BEARER_PREFIX.length));
      if (user !== undefined) {
        request.user = user;
        done();
        return;
      }
    }
    const match = header ? BEARER_RE.exec(header) : null;
    if (!match) {
      done(new AppError('unauthenticated', header ? 'Authorization header must be "Bearer <token>"' : 'Missing bearer token'));
      return;
    }
    verifier.verify(match[1]!).then(
      (user) => {
        request.user = user;
        done();
      },
      (err: Error) => done(err),
    );
  };
}

export type Authenticate = ReturnType<typeof createAuthenticate>;
