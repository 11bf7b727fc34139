import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RouteDeps } from '../http/route-deps.js';
import { errorResponses, GroupIdParams } from '../http/schemas.js';
import { readHistory } from './history.js';
import { postMessage } from './post-message.js';
import { HistoryPage, HistoryQuery, Message, PostMessageBody } from './schemas.js';

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

    app.post('/:id/messages', {
      onRequest: deps.authenticate,
      schema: {
        tags,
        security,
        summary: 'Send a message (members); delivered to chat sockets like one sent over WebSocket',
        description: 'A repeated client_id answers 200 with the original message and stores nothing.',
        params: GroupIdParams,
        body: PostMessageBody,
        response: { 201: Message, 200: Message, ...errorResponses(400, 401, 403, 404, 422, 429, 503) },
      },
      handler: async (request, reply) => {
        const { message, duplicate } = await postMessage(deps.messages, request.user, request.params.id, {
          content: request.body.content,
          clientId: request.body.client_id,
        });
        return reply.status(duplicate ? 200 : 201).send({
          id: message.id,
          group_id: message.groupId,
          seq: message.seq,
          sender_id: message.userId,
          username: message.username,
          content: message.content,
          sent_at: message.sentAt,
        });
      },
    });
  };
}
