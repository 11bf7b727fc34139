import type { AuthUser } from '../auth/token-verifier.js';
import type { Queryable } from '../db/database.js';
import { AppError } from '../errors/app-error.js';
import { countMatching, groupSeqForMember, messagesInSeqRange, toMessage, walkMatching, type MessageFilter, type MessageRow } from './repository.js';
import type { HistoryPage, HistoryQuery } from './schemas.js';

/**
 * Message history pages. Within a page messages run oldest → newest.
 * - no cursor: the newest page; `offset` counts back from the newest matching message;
 * - before_seq=N: the `limit` matching messages just before N (offset counts back from N);
 * - after_seq=N: the `limit` matching messages just after N (offset counts on from N);
 * `has_more` says whether matching messages lie beyond the page in the paging direction.
 * Without filters, seq being gapless turns every page into a seq range (constant cost at
 * any depth); with filters, the walk uses (group_id, seq) and (group_id, sender_id, seq).
 */
export async function readHistory(db: Queryable, user: AuthUser, groupId: string, query: HistoryQuery): Promise<HistoryPage> {
  const group = await groupSeqForMember(db, groupId, user.userId);
  if (!group) throw new AppError('group_not_found');
  if (!group.member) throw new AppError('not_member');

  const limit = query.limit ?? 50;
  const offset = query.offset ?? 0;
  const filter: MessageFilter = { senderId: query.sender_id, q: query.q, since: query.since, until: query.until };
  const filtered = Object.values(filter).some((v) => v !== undefined);
  const ascending = query.after_seq !== undefined;

  let rows: MessageRow[];
  let hasMore: boolean;
  let total: number;
  if (!filtered) {
    total = group.lastSeq;
    const ceiling = Math.min(group.lastSeq, (query.before_seq ?? Infinity) - 1);
    if (ascending) {
      const from = query.after_seq! + 1 + offset;
      const to = Math.min(ceiling, from + limit - 1);
      rows = await messagesInSeqRange(db, groupId, from, to);
      hasMore = to < ceiling;
    } else {
      const to = ceiling - offset;
      const from = Math.max(1, to - limit + 1);
      rows = await messagesInSeqRange(db, groupId, from, to);
      hasMore = from > 1 && to >= 1;
    }
  } else {
    const [count, walked] = await Promise.all([
      countMatching(db, groupId, filter),
      walkMatching(db, groupId, filter, { aboveSeq: query.after_seq, belowSeq: query.before_seq, ascending, skip: offset, take: limit + 1 }),
    ]);
    total = count;
    hasMore = walked.length > limit;
    rows = walked.slice(0, limit);
    if (!ascending) rows.reverse();
  }
  return { messages: rows.map(toMessage), total, limit, offset, has_more: hasMore };
}
