import type { Database, Queryable } from '../db/database.js';
import type { OnlineUser, Presence } from './presence.js';

/**
 * Presence in PostgreSQL. A (group, user) is online while some live replica holds a row
 * for it. arrive/depart take a transaction-scoped advisory lock on (group, user), so two
 * replicas changing the same user's presence at once agree on who announces the change.
 * A replica heartbeats every HEARTBEAT_MS; one silent for EXPIRY_MS is dead: some other
 * replica deletes its rows (DELETE … RETURNING hands each row to exactly one reaper) and
 * announces the users who are thereby offline.
 *
 * Outages of the database itself (every replica's heartbeat stops at once):
 * - a replica reaps only after its own heartbeat has run without a break for EXPIRY_MS, so
 *   when the database comes back nobody mistakes the others' stale heartbeats for deaths
 *   before they had the time to beat again;
 * - each replica remembers the rows it should hold (`held`); after a break in its own
 *   heartbeat it writes them again (they may have been reaped meanwhile), and a departure
 *   that could not be recorded is retried then, announcing the offline it owed.
 */
const HEARTBEAT_MS = 3_000;
const EXPIRY_MS = 10_000;

export function createPostgresPresence(db: Database, instanceId: string, log: { warn(obj: object, msg: string): void }): Presence {
  let timer: NodeJS.Timeout | undefined;
  let beating = false;
  let stopped = false;
  /** Local time of the last successful heartbeat, and since when they have run without a break. */
  let lastBeatOkMs: number | undefined;
  let healthySinceMs: number | undefined;
  let restoreDue = false;
  const held = new Map<string, { groupId: string; userId: string; username: string }>();
  const undeparted = new Map<string, { groupId: string; userId: string; username: string }>();
  const alive = `i.heartbeat_at > clock_timestamp() - ${EXPIRY_MS} * interval '1 millisecond'`;
  const keyOf = (groupId: string, userId: string) => `${groupId}:${userId}`;

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

  const insertRow = (tx: Queryable, groupId: string, userId: string, username: string) =>
    tx.query(
      `INSERT INTO chat_presence (group_id, user_id, instance_id, username) VALUES ($1, $2, $3, $4)
       ON CONFLICT (group_id, user_id, instance_id) DO UPDATE SET username = EXCLUDED.username`,
      [groupId, userId, instanceId, username],
    );

  async function beat(): Promise<void> {
    await db.query(
      `INSERT INTO chat_instances (id, heartbeat_at) VALUES ($1, clock_timestamp())
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp()`,
      [instanceId],
    );
    const now = Date.now();
    // A gap this long means others may have seen our heartbeat go stale (and reaped our rows).
    if (lastBeatOkMs === undefined || now - lastBeatOkMs > EXPIRY_MS / 2) {
      if (lastBeatOkMs !== undefined) restoreDue = true;
      healthySinceMs = now;
    }
    lastBeatOkMs = now;
  }

  /** After a break in our heartbeat: our rows back, and the departures that failed done. */
  async function repair(onExpired: (groupId: string, user: OnlineUser) => void): Promise<void> {
    if (restoreDue) {
      restoreDue = false;
      try {
        for (const [key, row] of [...held]) {
          await db.transaction(async (tx) => {
            await lock(tx, row.groupId, row.userId);
            // Re-checked under the lock: a departure since the copy was taken wins.
            if (held.get(key) === row) await insertRow(tx, row.groupId, row.userId, row.username);
          });
        }
      } catch (err) {
        restoreDue = true;
        throw err;
      }
    }
    for (const [key, row] of [...undeparted]) {
      const offline = await db.transaction(async (tx) => {
        await lock(tx, row.groupId, row.userId);
        if (held.has(key)) return false; // arrived again meanwhile: the row is right
        const gone = await tx.query('DELETE FROM chat_presence WHERE group_id = $1 AND user_id = $2 AND instance_id = $3', [row.groupId, row.userId, instanceId]);
        return gone.rowCount > 0 && !(await onlineElsewhere(tx, row.groupId, row.userId));
      });
      if (undeparted.get(key) === row) undeparted.delete(key);
      if (offline) onExpired(row.groupId, { user_id: row.userId, username: row.username });
    }
  }

  async function reap(onExpired: (groupId: string, user: OnlineUser) => void): Promise<void> {
    // Only a replica whose own heartbeat has been steady for EXPIRY_MS judges the others.
    if (healthySinceMs === undefined || Date.now() - healthySinceMs < EXPIRY_MS) return;
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

  async function tick(onExpired: (groupId: string, user: OnlineUser) => void): Promise<void> {
    if (beating || stopped) return; // a slow round (database down) is not overtaken by the next
    beating = true;
    try {
      await beat();
      await repair(onExpired);
      await reap(onExpired);
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'presence heartbeat failed');
    } finally {
      beating = false;
    }
  }

  return {
    async arrive(groupId, userId, username) {
      const key = keyOf(groupId, userId);
      const row = { groupId, userId, username };
      held.set(key, row);
      undeparted.delete(key);
      return db.transaction(async (tx) => {
        await lock(tx, groupId, userId);
        await insertRow(tx, groupId, userId, username);
        return !(await onlineElsewhere(tx, groupId, userId));
      });
    },
    async depart(groupId, userId) {
      const key = keyOf(groupId, userId);
      const row = held.get(key);
      held.delete(key);
      try {
        return await db.transaction(async (tx) => {
          await lock(tx, groupId, userId);
          await tx.query('DELETE FROM chat_presence WHERE group_id = $1 AND user_id = $2 AND instance_id = $3', [groupId, userId, instanceId]);
          return !(await onlineElsewhere(tx, groupId, userId));
        });
      } catch (err) {
        // Retried by the heartbeat once the database answers, which then announces the offline.
        if (row && !held.has(key)) undeparted.set(key, row);
        throw err;
      }
    },
    async list(groupId) {
      const { rows } = await db.query<OnlineUser>(
        `SELECT p.user_id, min(p.username) AS username FROM chat_presence p JOIN chat_instances i ON i.id = p.instance_id
         WHERE p.group_id = $1 AND ${alive} GROUP BY p.user_id ORDER BY p.user_id`,
        [groupId],
      );
      return rows.map((r) => ({ user_id: r.user_id, username: r.username }));
    },
    async start(onExpired) {
      await beat();
      timer = setInterval(() => void tick(onExpired), HEARTBEAT_MS);
      timer.unref();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await db.query('DELETE FROM chat_presence WHERE instance_id = $1', [instanceId]).catch(() => {});
      await db.query('DELETE FROM chat_instances WHERE id = $1', [instanceId]).catch(() => {});
    },
  };
}
