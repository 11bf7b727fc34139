import type { AuthUser } from '../auth/token-verifier.js';
import type { Queryable } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import { lockGroupForViewer, type GroupWithViewer } from '../groups/repository.js';
import { requireAdmin, type GroupsDeps } from '../groups/service.js';
import {
  countAdmins,
  deleteMember,
  findMember,
  hasAdmin,
  insertMember,
  listMembers as listMemberRows,
  promoteLongestStanding,
  setAdmin,
  usernameOf,
} from './repository.js';
import type { Member } from './schemas.js';

/**
 * Membership rules. Every change runs in one transaction holding the group's row lock
 * (see lockGroupForViewer), which makes these invariants hold under any concurrency:
 * - a group never has more members than max_members;
 * - a group with members always has at least one admin (the longest-standing member
 *   takes over when the last admin leaves or is removed; the first to join an empty
 *   group becomes its admin).
 */

async function lockExisting(tx: Queryable, groupId: string, userId: string): Promise<GroupWithViewer> {
  const group = await lockGroupForViewer(tx, groupId, userId);
  if (!group) throw new AppError('group_not_found');
  return group;
}

async function admitMember(tx: Queryable, group: GroupWithViewer, userId: string): Promise<void> {
  if (group.member_count >= group.max_members) throw new AppError('group_full', `Group is full (${group.max_members} members)`);
  await insertMember(tx, { groupId: group.id, userId, isAdmin: !(await hasAdmin(tx, group.id)) });
}

/** Removes a member and, if that left the group without an admin, hands the role over. */
async function removeMember(tx: Queryable, groupId: string, userId: string): Promise<void> {
  if (!(await deleteMember(tx, groupId, userId))) throw new AppError('member_not_found');
  if (!(await hasAdmin(tx, groupId))) await promoteLongestStanding(tx, groupId);
}

export async function joinGroup(deps: GroupsDeps, user: AuthUser, groupId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const group = await lockExisting(tx, groupId, user.userId);
    if (group.viewer_is_admin !== null) throw new AppError('already_member');
    if (group.is_private) throw new AppError('group_private');
    await admitMember(tx, group, user.userId);
  });
  await deps.events.publish({ type: 'member_joined', groupId, userId: user.userId, username: user.username });
}

export async function leaveGroup(deps: GroupsDeps, user: AuthUser, groupId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await lockExisting(tx, groupId, user.userId);
    await removeMember(tx, groupId, user.userId);
  });
  await deps.events.publish({ type: 'member_left', groupId, userId: user.userId, username: user.username, removed: false });
}

export async function listMembers(deps: GroupsDeps, user: AuthUser, groupId: string): Promise<Member[]> {
  await requireMember(deps.db, groupId, user.userId);
  return listMemberRows(deps.db, groupId);
}

export async function addMember(deps: GroupsDeps, user: AuthUser, groupId: string, userId: string): Promise<Member> {
  const member = await deps.db.transaction(async (tx) => {
    const group = requireAdmin(await lockExisting(tx, groupId, user.userId));
    if (await findMember(tx, groupId, userId)) throw new AppError('already_member', 'That user is already a member of this group');
    await admitMember(tx, group, userId);
    return (await findMember(tx, groupId, userId))!;
  });
  await deps.events.publish({ type: 'member_joined', groupId, userId, username: member.username });
  return member;
}

export async function setMemberAdmin(deps: GroupsDeps, user: AuthUser, groupId: string, userId: string, isAdmin: boolean): Promise<Member> {
  return deps.db.transaction(async (tx) => {
    requireAdmin(await lockExisting(tx, groupId, user.userId));
    const target = await findMember(tx, groupId, userId);
    if (!target) throw new AppError('member_not_found');
    if (target.is_admin && !isAdmin && (await countAdmins(tx, groupId)) <= 1) throw new AppError('last_admin');
    if (target.is_admin !== isAdmin) await setAdmin(tx, groupId, userId, isAdmin);
    return { ...target, is_admin: isAdmin };
  });
}

export async function kickMember(deps: GroupsDeps, user: AuthUser, groupId: string, userId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    requireAdmin(await lockExisting(tx, groupId, user.userId));
    await removeMember(tx, groupId, userId);
  });
  const username = await usernameOf(deps.db, userId);
  await deps.events.publish({ type: 'member_left', groupId, userId, username, removed: true });
}

/** Members-only reads: 404 when the group does not exist, 403 when the caller is not in it. */
export async function requireMember(db: Queryable, groupId: string, userId: string): Promise<void> {
  const { rows } = await db.query<{ member: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = $2) AS member FROM groups g WHERE g.id = $1`,
    [groupId, userId],
  );
  if (!rows[0]) throw new AppError('group_not_found');
  if (!rows[0].member) throw new AppError('not_member');
}
