import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { RouteDeps } from '../http/route-deps.js';
import { errorResponses, GroupIdParams, MessageBody } from '../http/schemas.js';
import { AddMemberBody, Member, MemberList, MemberParams, PatchMemberBody } from './schemas.js';
import { addMember, joinGroup, kickMember, leaveGroup, listMembers, setMemberAdmin } from './service.js';

const tags = ['members'];
const security = [{ bearerAuth: [] }];

export function memberRoutes(deps: RouteDeps): FastifyPluginAsyncTypebox {
  return async (app) => {
    const onRequest = deps.authenticate;

    app.post('/:id/join', {
      onRequest,
      schema: { tags, security, summary: 'Join a public group', params: GroupIdParams, response: { 200: MessageBody, ...errorResponses(401, 403, 404, 409, 422) } },
      handler: async (request) => {
        await joinGroup(deps, request.user, request.params.id);
        return { message: 'Successfully joined group' };
      },
    });

    app.delete('/:id/leave', {
      onRequest,
      schema: {
        tags,
        security,
        summary: 'Leave a group (the longest-standing member takes over from a last admin)',
        params: GroupIdParams,
        response: { 200: MessageBody, ...errorResponses(401, 404, 422) },
      },
      handler: async (request) => {
        await leaveGroup(deps, request.user, request.params.id);
        return { message: 'Successfully left group' };
      },
    });

    app.get('/:id/members', {
      onRequest,
      schema: { tags, security, summary: 'List members (members)', params: GroupIdParams, response: { 200: MemberList, ...errorResponses(401, 403, 404, 422) } },
      handler: async (request) => {
        const members = await listMembers(deps, request.user, request.params.id);
        return { members, total: members.length };
      },
    });

    app.post('/:id/members', {
      onRequest,
      schema: {
        tags,
        security,
        summary: 'Add a member (admins; the way into a private group)',
        params: GroupIdParams,
        body: AddMemberBody,
        response: { 201: Member, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
      handler: async (request, reply) => reply.status(201).send(await addMember(deps, request.user, request.params.id, request.body.user_id.toLowerCase())),
    });

    app.patch('/:id/members/:user_id', {
      onRequest,
      schema: {
        tags,
        security,
        summary: 'Promote or demote a member (admins)',
        params: MemberParams,
        body: PatchMemberBody,
        response: { 200: Member, ...errorResponses(400, 401, 403, 404, 409, 422) },
      },
      handler: async (request) => setMemberAdmin(deps, request.user, request.params.id, request.params.user_id.toLowerCase(), request.body.is_admin),
    });

    app.delete('/:id/members/:user_id', {
      onRequest,
      schema: { tags, security, summary: 'Remove a member (admins); their chat sockets close 4403', params: MemberParams, response: { 204: Type.Null({ description: 'Done' }), ...errorResponses(401, 403, 404, 422) } },
      handler: async (request, reply) => {
        await kickMember(deps, request.user, request.params.id, request.params.user_id.toLowerCase());
        return reply.status(204).send(null);
      },
    });
  };
}
