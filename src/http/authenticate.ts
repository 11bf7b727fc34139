import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuthUser, TokenVerifier } from '../auth/token-verifier.js';
import { AppError } from '../errors/app-error.js';

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser;
  }
}

/**
 * A route opts in with `onRequest: authenticate`; there is no list of public URL
 * prefixes. It runs before body parsing and validation, so an anonymous caller learns
 * nothing about the route beyond 401.
 */
export function createAuthenticate(verifier: TokenVerifier) {
  return async function authenticate(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const header = request.headers.authorization;
    const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!match) throw new AppError('unauthenticated', header ? 'Authorization header must be "Bearer <token>"' : 'Missing bearer token');
    request.user = await verifier.verify(match[1]!);
  };
}

export type Authenticate = ReturnType<typeof createAuthenticate>;
