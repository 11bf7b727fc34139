import { expect } from 'vitest';
import { call, groupBody, makeUser, type ApiResponse, type TestUser } from '../support/client.js';
import type { Cluster, Replica } from '../support/replicas.js';
import { ChatClient, type Frame } from '../support/ws-client.js';

/** What the multi-replica tests share: groups made through any replica, sends, and order checks. */

export async function users(cluster: Cluster, count: number, prefix = 'u'): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => makeUser(cluster.jwks, `${prefix}${i}-${Math.random().toString(36).slice(2, 7)}`)));
}

/** A group created by `admin` through `via`, joined by the others through the replicas in turn. */
export async function groupOf(cluster: Cluster, admin: TestUser, others: TestUser[], via: Replica = cluster.replicas[0]!): Promise<string> {
  const created = await call('POST', via.api, { token: admin.token, body: groupBody({ max_members: 50 }) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  for (const [i, u] of others.entries()) {
    const r = cluster.replicas[i % cluster.replicas.length]!;
    const joined = await call('POST', `${r.api}/${created.body.id}/join`, { token: u.token });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
  }
  return created.body.id;
}

export function post(via: Replica, user: TestUser, groupId: string, content: string, clientId?: string): Promise<ApiResponse> {
  return call('POST', `${via.api}/${groupId}/messages`, { token: user.token, body: clientId ? { content, client_id: clientId } : { content } });
}

export function join(via: Replica, groupId: string, user: TestUser, params: Record<string, string | number | undefined> = {}): Promise<ChatClient> {
  return ChatClient.join(via.wsBase, groupId, user.token, params);
}

/** Every stored message of the group, oldest first. */
export async function history(via: Replica, user: TestUser, groupId: string): Promise<any[]> {
  const out: any[] = [];
  for (let page = 0; page < 100; page++) {
    const res = await call('GET', `${via.api}/${groupId}/messages?limit=100&after_seq=${out.at(-1)?.seq ?? 0}`, { token: user.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...res.body.messages);
    if (!res.body.has_more) return out;
  }
  throw new Error('history did not end');
}

/** The message frames a client received so far (all of them, read or not). */
export function messagesOf(...clients: ChatClient[]): Frame[] {
  return clients.flatMap((c) => c.frames.filter((f) => f.type === 'message'));
}

/** Waits until the clients together have received a message with seq >= `seq`. */
export async function waitForSeq(seq: number, timeoutMs: number, ...clients: ChatClient[]): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (messagesOf(...clients).some((f) => f.seq >= seq)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  const seen = messagesOf(...clients).map((f) => f.seq);
  throw new Error(`timed out waiting for seq ${seq}; newest seen ${seen.at(-1) ?? 'none'} (${seen.length} messages)`);
}

/** The frames run seq first..last, each exactly once, in order. */
export function expectConsecutive(frames: Frame[], first: number, last: number, label = ''): void {
  const seqs = frames.map((f) => f.seq as number);
  const expected = Array.from({ length: last - first + 1 }, (_, i) => first + i);
  if (seqs.length === expected.length && seqs.every((s, i) => s === expected[i])) return;
  const problems: string[] = [];
  for (let i = 1; i < seqs.length; i++) if (seqs[i] !== seqs[i - 1]! + 1) problems.push(`${seqs[i - 1]}→${seqs[i]}`);
  expect.fail(`${label}: expected seq ${first}..${last} once each in order; got ${seqs.length} messages, breaks at ${problems.slice(0, 10).join(', ') || 'none'} (first ${seqs[0]}, last ${seqs.at(-1)})`);
}

/** Runs `fn` for each item with at most `concurrency` in flight. */
export async function pool<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await fn(items[i]!, i);
      }
    }),
  );
  return results;
}

export async function closeAll(clients: ChatClient[]): Promise<void> {
  await Promise.allSettled(clients.map((c) => Promise.race([c.close(), new Promise((r) => setTimeout(r, 3_000))])));
}
