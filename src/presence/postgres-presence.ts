import type { Database, Queryable } from '../db/database.js';
import type { OnlineUser, Presence } from './presence.js';

/**
 * Presence in PostgreSQL. A (group, user) is online while some live replica holds a row
 * for it. arrive/depart take a transaction-scoped advisory lock on (group, user), so two
 * replicas changing the same user's presence at once agree on who announces the change.
 * A replica heartbeats every HEARTBEAT_MS; one silent for EXPIRY_MS is dead: some other
 * replica deletes its rows (DELETE … RETURNING hands each row to exactly one reaper) and
 * announces the users who are thereby offline.
 */
const HEARTBEAT_MS = 3_000;
const EXPIRY_MS = 10_000;

export function createPostgresPresence(db: Database, instanceId: string, log: { warn(obj: object, msg: string): void }): Presence {
  let timer: NodeJS.Timeout | undefined;
  const alive = `i.heartbeat_at > clock_timestamp() - ${EXPIRY_MS} * interval '1 millisecond'`;

  const lock = (tx: Queryable, groupId: string, userId: string) =>
    tx.query("SELECT pg_advisory_xact_lock(hashtext('presence:' || $1 || ':' || $2))", [groupId, userId]);

  const onlineElsewhere = async (tx: Queryable, groupId: string, userId: string): Promise<boolean> => {
    const { rows } = await tx.query(
      `SELECT 1 FROM chat_presence p JOIN chat_instances i ON i.id = p.instance_id
       WHERE p.group_id = $1 AND p.user_id = $2 AND p.instance_id <> $3 AND ${alive} LIMIT 1`,
      [groupId, userId, instanceId],
    );
    return rows.length > 0;
  };

  async function beat(): Promise<void> {
    await db.query(
      `INSERT INTO chat_instances (id, heartbeat_at) VALUES ($1, clock_timestamp())
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp()`,
      [instanceId],
    );
  }

  async function reap(onExpired: (groupId: string, user: OnlineUser) => void): Promise<void> {
    const dead = await db.query<{ group_id: string; user_id: string; username: string }>(
      `DELETE FROM chat_presence p USING chat_instances i
       WHERE i.id = p.instance_id AND NOT (${alive})
       RETURNING p.group_id, p.user_id, p.username`,
    );
    await db.query(`DELETE FROM chat_instances i WHERE NOT (${alive}) AND NOT EXISTS (SELECT 1 FROM chat_presence p WHERE p.instance_id = i.id)`);
    for (const row of dead.rows) {
      const stillOnline = await db.transaction(async (tx) => {
        await lock(tx, row.group_id, row.user_id);
        const { rows } = await tx.query(
          `SELECT 1 FROM chat_presence p JOIN chat_instances i ON i.id = p.instance_id WHERE p.group_id = $1 AND p.user_id = $2 AND ${alive} LIMIT 1`,
          [row.group_id, row.user_id],
        );
        return rows.length > 0;
      });
      if (!stillOnline) onExpired(row.group_id, { user_id: row.user_id, username: row.username });
    }
  }

  return {
    async arrive(groupId, userId, username) {
      return db.transaction(async (tx) => {
        await lock(tx, groupId, userId);
        await tx.query(
          `INSERT INTO chat_presence (group_id, user_id, instance_id, username) VALUES ($1, $2, $3, $4)
           ON CONFLICT (group_id, user_id, instance_id) DO UPDATE SET username = EXCLUDED.username`,
          [groupId, userId, instanceId, username],
        );
        return !(await onlineElsewhere(tx, groupId, userId));
      });
    },
    async depart(groupId, userId) {
      return db.transaction(async (tx) => {
        await lock(tx, groupId, userId);
        await tx.query('DELETE FROM chat_presence WHERE group_id = $1 AND user_id = $2 AND instance_id = $3', [groupId, userId, instanceId]);
        return !(await onlineElsewhere(tx, groupId, userId));
      });
    },
    async list(groupId) {
      const { rows } = await db.query<OnlineUser & { first: Date }>(
        `SELECT p.user_id, min(p.username) AS username FROM chat_presence p JOIN chat_instances i ON i.id = p.instance_id
         WHERE p.group_id = $1 AND ${alive} GROUP BY p.user_id ORDER BY p.user_id`,
        [groupId],
      );
      return rows.map((r) => ({ user_id: r.user_id, username: r.username }));
    },
    async start(onExpired) {
      await beat();
      timer = setInterval(() => {
        beat()
          .then(() => reap(onExpired))
          .catch((err: Error) => log.warn({ err: err.message }, 'presence heartbeat failed'));
      }, HEARTBEAT_MS);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      await db.query('DELETE FROM chat_presence WHERE instance_id = $1', [instanceId]).catch(() => {});
      await db.query('DELETE FROM chat_instances WHERE id = $1', [instanceId]).catch(() => {});
    },
  };
}
