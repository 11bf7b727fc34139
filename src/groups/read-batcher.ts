import type { Queryable } from '../db/database.js';
import { findGroupsVisibleTo, findGroupVisibleTo, type GroupRow } from './repository.js';

/**
 * Reads of GET /{id}, shared the way chat sends share a transaction (src/messages/send-batcher.ts).
 * Whenever fewer than MAX_IN_FLIGHT reads are running, everything queued (up to MAX_BATCH)
 * goes into the next statement: an idle service reads a lone request at once with the
 * one-row statement (no timer adds latency), while under load the requests that arrive
 * while reads run share the next statement, one primary-key probe each.
 *
 * Every request is read by a statement that starts after the request arrived, so it sees
 * everything committed before it arrived, as a statement of its own would. A failed
 * statement fails every request in it with the same error (reads cannot fail one by one:
 * the ids are valid UUIDs by then).
 */
const MAX_BATCH = 128;
const MAX_IN_FLIGHT = 4;

interface Queued {
  groupId: string;
  userId: string;
  resolve(row: GroupRow | undefined): void;
  reject(err: unknown): void;
}

export class GroupReads {
  private queue: Queued[] = [];
  private inFlight = 0;
  private readonly settled = () => {
    this.inFlight -= 1;
    this.pump();
  };

  constructor(private readonly db: Queryable) {}

  /** The group as `userId` may see it; undefined when it is absent or private to others. */
  find(groupId: string, userId: string): Promise<GroupRow | undefined> {
    return new Promise((resolve, reject) => {
      this.queue.push({ groupId, userId, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length > 0) {
      let batch = this.queue;
      if (batch.length > MAX_BATCH) {
        batch = this.queue.slice(0, MAX_BATCH);
        this.queue = this.queue.slice(MAX_BATCH);
      } else {
        this.queue = [];
      }
      this.inFlight += 1;
      this.run(batch).then(this.settled, this.settled);
    }
  }

  private run(batch: Queued[]): Promise<void> {
    if (batch.length === 1) {
      const only = batch[0]!;
      return findGroupVisibleTo(this.db, only.groupId, only.userId).then(only.resolve, only.reject);
    }
    return findGroupsVisibleTo(
      this.db,
      batch.map((q) => q.groupId),
      batch.map((q) => q.userId),
    ).then(
      (rows) => {
        for (let i = 0; i < batch.length; i++) batch[i]!.resolve(rows[i]);
      },
      (err: unknown) => {
        for (const q of batch) q.reject(err);
      },
    );
  }
}
