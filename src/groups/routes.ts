import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { RouteDeps } from '../http/route-deps.js';
import { errorResponses, GroupIdParams } from '../http/schemas.js';
import { GroupReads } from './read-batcher.js';
import { CreateGroupBody, Group, GroupList, ListGroupsQuery, UpdateGroupBody } from './schemas.js';
import { createGroup, deleteGroup, getGroup, listGroups, updateGroup } from './service.js';

const tags = ['groups'];
const security = [{ bearerAuth: [] }];

export function groupRoutes(deps: RouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const onRequest = deps.authenticate;
    const reads = new GroupReads(deps.db);

    app.post('/', {
      onRequest,
      schema: { tags, security, summary: 'Create a group (the creator becomes its admin)', body: CreateGroupBody, response: { 201: Group, ...errorResponses(400, 401, 422) } },
      handler: async (request, reply) => reply.status(201).send(await createGroup(deps, request.user, request.body)),
    });

    app.get('/', {
      onRequest,
      schema: { tags, security, summary: 'List groups visible to the caller', querystring: ListGroupsQuery, response: { 200: GroupList, ...errorResponses(401, 422) } },
      handler: async (request) => listGroups(deps, request.user, request.query),
    });

    app.get('/:id', {
      onRequest,
      schema: { tags, security, summary: 'Get a group', params: GroupIdParams, response: { 200: Group, ...errorResponses(401, 404, 422) } },
      handler: (request) => getGroup(reads, request.user, request.params.id),
    });

    app.put('/:id', {
      onRequest,
      schema: {
        tags,
        security,
        summary: 'Update a group (admins)',
        params: GroupIdParams,
        body: UpdateGroupBody,
        response: { 200: Group, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
      handler: async (request) => updateGroup(deps, request.user, request.params.id, request.body),
    });

    app.delete('/:id', {
      onRequest,
      schema: { tags, security, summary: 'Delete a group with its members and messages (admins)', params: GroupIdParams, response: { 204: Type.Null({ description: 'Done' }), ...errorResponses(401, 403, 404, 422) } },
      handler: async (request, reply) => {
        await deleteGroup(deps, request.user, request.params.id);
        return reply.status(204).send(null);
      },
    });
  };
}
