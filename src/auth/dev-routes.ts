import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses, Uuid } from '../http/schemas.js';
import type { DevAuth } from './dev-auth.js';

/** Registered only in development auth mode; in every other mode these routes do not exist. */
export function devAuthRoutes(devAuth: DevAuth): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.post('/dev/token', {
      schema: {
        tags: ['development'],
        summary: 'Development auth mode only: a signed token for any username',
        body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 100, pattern: '\\S' }) }),
        response: {
          200: Type.Object({ access_token: Type.String(), token_type: Type.String(), expires_in: Type.Integer(), user_id: Uuid }),
          ...errorResponses(400, 422),
        },
      },
      handler: async (request) => devAuth.issueToken(request.body.username.trim()),
    });

    app.get('/dev/jwks', {
      schema: { tags: ['development'], summary: 'Development auth mode only: the public key that signs dev tokens' },
      handler: async () => devAuth.jwks,
    });
  };
}
