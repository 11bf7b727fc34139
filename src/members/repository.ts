import type { Queryable } from '../db/database.js';
import { isoTimestamp } from '../http/time.js';
import type { Member } from './schemas.js';

interface MemberRow {
  user_id: string;
  username: string;
  joined_at: Date;
  is_admin: boolean;
}

export function toMember(row: MemberRow): Member {
  return { user_id: row.user_id, username: row.username, joined_at: isoTimestamp(row.joined_at), is_admin: row.is_admin };
}

/** A member's display name is the last one their token carried; the id stands in until they sign in. */
const MEMBER_COLUMNS = `m.user_id, COALESCE(u.username, m.user_id::text) AS username, m.joined_at, m.is_admin`;

export async function insertMember(tx: Queryable, m: { groupId: string; userId: string; isAdmin: boolean }): Promise<void> {
  await tx.query('INSERT INTO group_members (group_id, user_id, is_admin) VALUES ($1, $2, $3)', [m.groupId, m.userId, m.isAdmin]);
}

export async function findMember(db: Queryable, groupId: string, userId: string): Promise<Member | undefined> {
  const { rows } = await db.query<MemberRow>(
    `SELECT ${MEMBER_COLUMNS} FROM group_members m LEFT JOIN users u ON u.id = m.user_id WHERE m.group_id = $1 AND m.user_id = $2`,
    [groupId, userId],
  );
  return rows[0] && toMember(rows[0]);
}

export async function listMembers(db: Queryable, groupId: string): Promise<Member[]> {
  const { rows } = await db.query<MemberRow>(
    `SELECT ${MEMBER_COLUMNS} FROM group_members m LEFT JOIN users u ON u.id = m.user_id
     WHERE m.group_id = $1 ORDER BY m.joined_at, m.user_id`,
    [groupId],
  );
  return rows.map(toMember);
}

export async function hasAdmin(tx: Queryable, groupId: string): Promise<boolean> {
  const { rows } = await tx.query('SELECT 1 FROM group_members WHERE group_id = $1 AND is_admin LIMIT 1', [groupId]);
  return rows.length > 0;
}

export async function countAdmins(tx: Queryable, groupId: string): Promise<number> {
  const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM group_members WHERE group_id = $1 AND is_admin', [groupId]);
  return rows[0]?.n ?? 0;
}

export async function deleteMember(tx: Queryable, groupId: string, userId: string): Promise<boolean> {
  const { rows } = await tx.query('DELETE FROM group_members WHERE group_id = $1 AND user_id = $2 RETURNING user_id', [groupId, userId]);
  return rows.length > 0;
}

export async function setAdmin(tx: Queryable, groupId: string, userId: string, isAdmin: boolean): Promise<void> {
  await tx.query('UPDATE group_members SET is_admin = $3 WHERE group_id = $1 AND user_id = $2', [groupId, userId, isAdmin]);
}

/** Makes the longest-standing member admin; ties on joined_at go to the smaller id so every replica agrees. */
export async function promoteLongestStanding(tx: Queryable, groupId: string): Promise<void> {
  await tx.query(
    `UPDATE group_members SET is_admin = true
     WHERE group_id = $1 AND user_id = (
       SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY joined_at, user_id LIMIT 1)`,
    [groupId],
  );
}

export async function usernameOf(db: Queryable, userId: string): Promise<string> {
  const { rows } = await db.query<{ username: string }>('SELECT username FROM users WHERE id = $1', [userId]);
  return rows[0]?.username ?? userId;
}

/** PostgreSQL text cannot hold U+0000, which a token's name claim could carry: it is dropped. */
export async function rememberUsername(db: Queryable, userId: string, claimedUsername: string): Promise<void> {
  const username = claimedUsername.replaceAll('\u0000', '') || userId;
  await db.query(
    `INSERT INTO users (id, username) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, updated_at = now()
     WHERE users.username IS DISTINCT FROM EXCLUDED.username`,
    [userId, username],
  );
}
