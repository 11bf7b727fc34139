import type { Queryable } from '../db/database.js';
import { isoTimestamp } from '../http/time.js';
import type { Message } from './schemas.js';

export interface MessageRow {
  id: string;
  group_id: string;
  seq: number;
  sender_id: string;
  username: string;
  content: string;
  client_id: string | null;
  sent_at: Date;
}

export const MESSAGE_COLUMNS = 'id, group_id, seq, sender_id, username, content, client_id, sent_at';

export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    group_id: row.group_id,
    seq: row.seq,
    sender_id: row.sender_id,
    username: row.username,
    content: row.content,
    sent_at: isoTimestamp(row.sent_at),
  };
}

/** seq is gapless per group, so a range of seqs is an index range scan on (group_id, seq). */
export async function messagesInSeqRange(db: Queryable, groupId: string, fromSeq: number, toSeq: number): Promise<MessageRow[]> {
  if (toSeq < fromSeq) return [];
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE group_id = $1 AND seq BETWEEN $2 AND $3 ORDER BY seq`,
    [groupId, fromSeq, toSeq],
    { prepared: true },
  );
  return rows;
}

export interface MessageFilter {
  senderId?: string;
  q?: string;
  since?: string;
  until?: string;
}

/** `q` is a literal substring: LIKE's wildcards and escape character are escaped. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

function filterClause(groupId: string, f: MessageFilter): { where: string; params: unknown[] } {
  const params: unknown[] = [groupId];
  const conditions = ['group_id = $1'];
  const add = (sql: (n: number) => string, value: unknown) => {
    params.push(value);
    conditions.push(sql(params.length));
  };
  if (f.senderId !== undefined) add((n) => `sender_id = $${n}`, f.senderId);
  if (f.q !== undefined) add((n) => `content ILIKE $${n} ESCAPE '\\'`, likePattern(f.q));
  if (f.since !== undefined) add((n) => `sent_at >= $${n}`, f.since);
  if (f.until !== undefined) add((n) => `sent_at <= $${n}`, f.until);
  return { where: conditions.join(' AND '), params };
}

export async function countMatching(db: Queryable, groupId: string, f: MessageFilter): Promise<number> {
  const { where, params } = filterClause(groupId, f);
  const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE ${where}`, params);
  return rows[0]?.n ?? 0;
}

/**
 * Up to `take` matching messages walking from a seq bound: newest-first below
 * `belowSeq`, or oldest-first above `aboveSeq`, skipping `skip`.
 */
export async function walkMatching(
  db: Queryable,
  groupId: string,
  f: MessageFilter,
  bounds: { aboveSeq?: number; belowSeq?: number; ascending: boolean; skip: number; take: number },
): Promise<MessageRow[]> {
  const { where, params } = filterClause(groupId, f);
  const conditions = [where];
  if (bounds.aboveSeq !== undefined) {
    params.push(bounds.aboveSeq);
    conditions.push(`seq > $${params.length}`);
  }
  if (bounds.belowSeq !== undefined) {
    params.push(bounds.belowSeq);
    conditions.push(`seq < $${params.length}`);
  }
  params.push(bounds.take, bounds.skip);
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE ${conditions.join(' AND ')}
     ORDER BY seq ${bounds.ascending ? 'ASC' : 'DESC'} LIMIT $${params.length - 1} OFFSET $${params.length}`,
    params,
  );
  return rows;
}

/** The group's last seq and whether the user is a member, or undefined when the group does not exist. */
export async function groupSeqForMember(db: Queryable, groupId: string, userId: string): Promise<{ lastSeq: number; member: boolean } | undefined> {
  const { rows } = await db.query<{ last_seq: number; member: boolean }>(
    `SELECT g.last_seq, EXISTS (SELECT 1 FROM group_members m WHERE m.group_id = g.id AND m.user_id = $2) AS member
     FROM groups g WHERE g.id = $1`,
    [groupId, userId],
    { prepared: true },
  );
  return rows[0] && { lastSeq: rows[0].last_seq, member: rows[0].member };
}

export async function findByClientId(db: Queryable, groupId: string, senderId: string, clientId: string): Promise<MessageRow | undefined> {
  const { rows } = await db.query<MessageRow>(
    `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE group_id = $1 AND sender_id = $2 AND client_id = $3`,
    [groupId, senderId, clientId],
  );
  return rows[0];
}

export async function isMember(db: Queryable, groupId: string, userId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM group_members WHERE group_id = $1 AND user_id = $2', [groupId, userId]);
  return rows.length > 0;
}
