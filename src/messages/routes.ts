import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteDeps } from '../http/route-deps.js';
import { errorResponses, GroupIdParams } from '../http/schemas.js';
import { readHistory } from './history.js';
import { HistoryPage, HistoryQuery } from './schemas.js';

const tags = ['messages'];
const security = [{ bearerAuth: [] }];

export function messageRoutes(deps: RouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get('/:id/messages', {
      onRequest: deps.authenticate,
      schema: {
        tags,
        security,
        summary: 'Message history (members)',
        params: GroupIdParams,
        querystring: HistoryQuery,
        response: { 200: HistoryPage, ...errorResponses(401, 403, 404, 422) },
      },
      handler: async (request) => readHistory(deps.db, request.user, request.params.id, request.query),
    });
  };
}
