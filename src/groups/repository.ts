import type { Queryable } from '../db/database.js';
import type { Group } from './schemas.js';

export interface GroupRow {
  id: string;
  event_id: string;
  name: string;
  description: string | null;
  max_members: number;
  is_private: boolean;
  /** Already in the contract's form (see isoUtc). */
  created_at: string;
  updated_at: string;
  member_count: number;
}

/**
 * A timestamptz column as the contract writes timestamps: ISO 8601 UTC with milliseconds and
 * a trailing Z — exactly what Date.prototype.toISOString gives for the value the driver would
 * parse (both truncate to the millisecond), formatted by the database so that no request
 * parses and re-formats dates.
 */
export function isoUtc(column: string): string {
  return `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/**
 * The group's columns. member_count is a column kept exact by triggers on group_members
 * (migration 005), so no read counts rows.
 */
const GROUP_COLUMNS = `g.id, g.event_id, g.name, g.description, g.max_members, g.is_private,
  ${isoUtc('g.created_at')} AS created_at, ${isoUtc('g.updated_at')} AS updated_at, g.member_count`;

export function toGroup(row: GroupRow): Group {
  return {
    id: row.id,
    event_id: row.event_id,
    name: row.name,
    description: row.description,
    max_members: row.max_members,
    member_count: row.member_count,
    is_full: row.member_count >= row.max_members,
    is_private: row.is_private,
    created_at: row.created_at,
    updated_at: row.updated_at,
  };
}

export interface GroupWithViewer extends GroupRow {
  /** null when the viewer is not a member. */
  viewer_is_admin: boolean | null;
}

/** One statement: the group, its member count, and what the viewer is in it (null: not a member). */
export async function findGroupForViewer(db: Queryable, groupId: string, userId: string): Promise<GroupWithViewer | undefined> {
  const { rows } = await db.query<GroupWithViewer>(
    `SELECT ${GROUP_COLUMNS},
       (SELECT m.is_admin FROM group_members m WHERE m.group_id = g.id AND m.user_id = $2) AS viewer_is_admin
     FROM groups g WHERE g.id = $1`,
    [groupId, userId],
  );
  return rows[0];
}

/** A private group's row is shown to its members only (CASE evaluates its branches lazily). */
const visibleTo = (userId: string) =>
  `CASE WHEN g.is_private THEN EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = ${userId}) ELSE true END`;

/**
 * GET /{id}: one prepared statement reading one row, which a private group's non-members do
 * not get, so "absent" and "private and not yours" are the same empty answer.
 */
const FIND_VISIBLE_GROUP = `SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.id = $1 AND ${visibleTo('$2')}`;

export function findGroupVisibleTo(db: Queryable, groupId: string, userId: string): Promise<GroupRow | undefined> {
  return db.query<GroupRow>(FIND_VISIBLE_GROUP, [groupId, userId], { prepared: true }).then((result) => result.rows[0]);
}

/**
 * The same read for many (group, viewer) pairs in one prepared statement: one primary-key
 * probe per pair (LIMIT 1 keeps the lateral subquery a nested loop over the index).
 * Answers one entry per pair, in order; undefined where the pair gets no group.
 */
const FIND_VISIBLE_GROUPS = `SELECT r.i::int AS i, v.*
 FROM unnest($1::uuid[], $2::uuid[]) WITH ORDINALITY AS r(group_id, user_id, i)
 CROSS JOIN LATERAL (SELECT ${GROUP_COLUMNS} FROM groups g WHERE g.id = r.group_id AND ${visibleTo('r.user_id')} LIMIT 1) v`;

export async function findGroupsVisibleTo(db: Queryable, groupIds: readonly string[], userIds: readonly string[]): Promise<(GroupRow | undefined)[]> {
  const { rows } = await db.query<GroupRow & { i: number }>(FIND_VISIBLE_GROUPS, [groupIds, userIds], { prepared: true });
  const found = new Array<GroupRow | undefined>(groupIds.length).fill(undefined);
  for (const row of rows) found[row.i - 1] = row;
  return found;
}

/**
 * Locks the group row for the rest of the transaction. Every change of membership or
 * capacity takes this lock first, so capacity checks and admin hand-overs of one group
 * never interleave, on any number of replicas. The read that follows takes a new snapshot
 * (READ COMMITTED) after the lock is granted, and every membership change updates this row
 * (the member_count triggers) and so waits for the lock: member_count is exact here.
 */
export async function lockGroupForViewer(tx: Queryable, groupId: string, userId: string): Promise<GroupWithViewer | undefined> {
  const locked = await tx.query('SELECT id FROM groups WHERE id = $1 FOR UPDATE', [groupId]);
  if (locked.rows.length === 0) return undefined;
  return findGroupForViewer(tx, groupId, userId);
}

export async function insertGroup(
  tx: Queryable,
  group: { id: string; event_id: string; name: string; description: string | null; max_members: number; is_private: boolean },
): Promise<void> {
  await tx.query(
    `INSERT INTO groups (id, event_id, name, description, max_members, is_private) VALUES ($1, $2, $3, $4, $5, $6)`,
    [group.id, group.event_id, group.name, group.description, group.max_members, group.is_private],
  );
}

export async function updateGroupRow(
  tx: Queryable,
  groupId: string,
  patch: { name?: string; description?: string | null; max_members?: number; is_private?: boolean },
): Promise<void> {
  // COALESCE keeps a field that the patch leaves out; description may be set to null on purpose.
  await tx.query(
    `UPDATE groups SET
       name = COALESCE($2, name),
       description = CASE WHEN $3::boolean THEN $4 ELSE description END,
       max_members = COALESCE($5, max_members),
       is_private = COALESCE($6, is_private),
       updated_at = now()
     WHERE id = $1`,
    [groupId, patch.name ?? null, patch.description !== undefined, patch.description ?? null, patch.max_members ?? null, patch.is_private ?? null],
  );
}

export async function deleteGroupRow(tx: Queryable, groupId: string): Promise<void> {
  await tx.query('DELETE FROM groups WHERE id = $1', [groupId]);
}

export interface ListFilter {
  userId: string;
  eventId: string | undefined;
  mine: boolean;
  limit: number;
  offset: number;
}

const VISIBLE = `($2::uuid IS NULL OR g.event_id = $2)
  AND (NOT g.is_private OR EXISTS (SELECT 1 FROM group_members v WHERE v.group_id = g.id AND v.user_id = $1))
  AND (NOT $3::boolean OR EXISTS (SELECT 1 FROM group_members v WHERE v.group_id = g.id AND v.user_id = $1))`;

/** Two statements whatever the page size: the page and the total. */
export async function listVisibleGroups(db: Queryable, f: ListFilter): Promise<{ rows: GroupRow[]; total: number }> {
  const params = [f.userId, f.eventId ?? null, f.mine];
  const [page, count] = await Promise.all([
    db.query<GroupRow>(
      `SELECT ${GROUP_COLUMNS} FROM groups g WHERE ${VISIBLE} ORDER BY g.created_at DESC, g.id LIMIT $4 OFFSET $5`,
      [...params, f.limit, f.offset],
    ),
    db.query<{ total: number }>(`SELECT count(*)::int AS total FROM groups g WHERE ${VISIBLE}`, params),
  ]);
  return { rows: page.rows, total: count.rows[0]?.total ?? 0 };
}
