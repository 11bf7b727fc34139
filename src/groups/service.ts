import { randomUUID } from 'node:crypto';
import type { AuthUser } from '../auth/token-verifier.js';
import type { Database } from '../db/database.js';
import { AppError, validationError } from '../errors/app-error.js';
import type { GroupEventSink } from '../events/group-events.js';
import { insertMember } from '../members/repository.js';
import type { GroupReads } from './read-batcher.js';
import {
  deleteGroupRow,
  findGroupForViewer,
  insertGroup,
  listVisibleGroups,
  lockGroupForViewer,
  toGroup,
  updateGroupRow,
  type GroupWithViewer,
} from './repository.js';
import { NAME_MAX_LENGTH, type CreateGroupBody, type Group, type ListGroupsQuery, type UpdateGroupBody } from './schemas.js';

export interface GroupsDeps {
  db: Database;
  events: GroupEventSink;
}

/** Lengths count characters (code points), as the schema and the database do, after trimming. */
function trimmedName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0) throw validationError('body.name', 'must not be blank');
  if ([...trimmed].length > NAME_MAX_LENGTH) throw validationError('body.name', `must be at most ${NAME_MAX_LENGTH} characters`);
  return trimmed;
}

/** A private group is invisible to non-members: they get the same 404 as for a missing group. */
function requireVisible(group: GroupWithViewer | undefined): GroupWithViewer {
  if (!group || (group.is_private && group.viewer_is_admin === null)) throw new AppError('group_not_found');
  return group;
}

function requireAdmin(group: GroupWithViewer | undefined): GroupWithViewer {
  const visible = requireVisible(group);
  if (visible.viewer_is_admin !== true) throw new AppError('not_admin');
  return visible;
}

export async function createGroup(deps: GroupsDeps, user: AuthUser, body: CreateGroupBody): Promise<Group> {
  const id = randomUUID();
  const name = trimmedName(body.name);
  const row = await deps.db.transaction(async (tx) => {
    await insertGroup(tx, {
      id,
      event_id: body.event_id,
      name,
      description: body.description ?? null,
      max_members: body.max_members ?? 10,
      is_private: body.is_private ?? false,
    });
    await insertMember(tx, { groupId: id, userId: user.userId, isAdmin: true });
    return findGroupForViewer(tx, id, user.userId);
  });
  return toGroup(row!);
}

/** A private group is invisible to non-members: the same 404 as for a missing group. */
export function getGroup(reads: GroupReads, user: AuthUser, groupId: string): Promise<Group> {
  return reads.find(groupId, user.userId).then((row) => {
    if (!row) throw new AppError('group_not_found');
    return toGroup(row);
  });
}

export async function listGroups(deps: GroupsDeps, user: AuthUser, query: ListGroupsQuery): Promise<{ groups: Group[]; total: number }> {
  const { rows, total } = await listVisibleGroups(deps.db, {
    userId: user.userId,
    eventId: query.event_id,
    mine: query.mine ?? false,
    limit: query.limit ?? 50,
    offset: query.offset ?? 0,
  });
  return { groups: rows.map(toGroup), total };
}

export async function updateGroup(deps: GroupsDeps, user: AuthUser, groupId: string, body: UpdateGroupBody): Promise<Group> {
  const name = body.name === undefined ? undefined : trimmedName(body.name);
  const group = await deps.db.transaction(async (tx) => {
    const current = requireAdmin(await lockGroupForViewer(tx, groupId, user.userId));
    if (body.max_members !== undefined && body.max_members < current.member_count) {
      throw new AppError('max_members_below_count', `max_members (${body.max_members}) is below the current member count (${current.member_count})`);
    }
    await updateGroupRow(tx, groupId, { ...body, name });
    return toGroup((await findGroupForViewer(tx, groupId, user.userId))!);
  });
  await deps.events.publish({ type: 'group_updated', groupId, group });
  return group;
}

export async function deleteGroup(deps: GroupsDeps, user: AuthUser, groupId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    requireAdmin(await lockGroupForViewer(tx, groupId, user.userId));
    await deleteGroupRow(tx, groupId);
  });
  await deps.events.publish({ type: 'group_deleted', groupId });
}

export { requireAdmin };
