import { expect } from 'vitest';
import { call, groupBody, makeUser, type ApiResponse, type TestUser } from '../support/client.js';
import type { TestService } from '../support/service.js';

/** Shared by the message, rate-limit and recovery tests: real HTTP against the real service. */

export function postMessage(t: TestService, user: TestUser, groupId: string, content: unknown, clientId?: string): Promise<ApiResponse> {
  const body: Record<string, unknown> = { content };
  if (clientId !== undefined) body.client_id = clientId;
  return call('POST', `${t.api}/${groupId}/messages`, { token: user.token, body });
}

/** Posts and asserts 201, returning the Message. */
export async function sent(t: TestService, user: TestUser, groupId: string, content: string, clientId?: string): Promise<any> {
  const res = await postMessage(t, user, groupId, content, clientId);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export function history(t: TestService, user: TestUser, groupId: string, query: Record<string, string | number | undefined> = {}): Promise<ApiResponse> {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
  const suffix = qs.toString() ? `?${qs}` : '';
  return call('GET', `${t.api}/${groupId}/messages${suffix}`, { token: user.token });
}

/** Every stored message of the group, oldest first, paged through REST (limit 100). */
export async function allMessages(t: TestService, user: TestUser, groupId: string): Promise<any[]> {
  const out: any[] = [];
  for (let i = 0; i < 1000; i++) {
    const res = await history(t, user, groupId, { after_seq: out.length ? out[out.length - 1].seq : 0, limit: 100 });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...res.body.messages);
    if (!res.body.has_more) return out;
  }
  throw new Error('history did not end');
}

/** A group created by `admin` that every other user has joined. */
export async function groupWith(t: TestService, admin: TestUser, others: TestUser[] = [], overrides: Record<string, unknown> = {}): Promise<string> {
  const created = await call('POST', t.api, { token: admin.token, body: groupBody({ max_members: 50, ...overrides }) });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  for (const u of others) {
    const joined = await call('POST', `${t.api}/${created.body.id}/join`, { token: u.token });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
  }
  return created.body.id;
}

export async function users(t: TestService, count: number): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: count }, () => makeUser(t.jwks)));
}

/** Runs `fn` over `items` with at most `concurrency` in flight; results in item order. */
export async function inBatches<T, R>(items: readonly T[], concurrency: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Asserts `seqs` is exactly from, from+1, …, to. */
export function expectConsecutive(seqs: number[], from: number, to: number, what = 'seqs'): void {
  const expected = Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
  if (seqs.length !== expected.length || seqs.some((s, i) => s !== expected[i])) {
    const firstBad = seqs.findIndex((s, i) => s !== expected[i]);
    throw new Error(`${what}: expected ${from}..${to} (${expected.length}), got ${seqs.length} items; first difference at index ${firstBad}: ${seqs.slice(Math.max(0, firstBad - 3), firstBad + 4).join(',')}`);
  }
}

export const ISO_Z = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Starting the service (embedded PostgreSQL, migrations) on a busy 2-core machine can take a while. */
export const STARTUP_TIMEOUT_MS = 180_000;
