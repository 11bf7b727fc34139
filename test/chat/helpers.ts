import WebSocket from 'ws';
import { expect } from 'vitest';
import { call, groupBody, type TestUser } from '../support/client.js';
import type { TestService } from '../support/service.js';
import { ChatClient, type Frame } from '../support/ws-client.js';

/** Shared steps of the chat tests: groups made over REST, liveness probes, close waits. */

/** A group created by the first user, the others joined over REST. */
export async function groupWith(t: TestService, admin: TestUser, ...others: TestUser[]): Promise<string> {
  const created = await call('POST', t.api, { token: admin.token, body: groupBody() });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  for (const m of others) {
    const joined = await call('POST', `${t.api}/${created.body.id}/join`, { token: m.token });
    expect(joined.status, JSON.stringify(joined.body)).toBe(200);
  }
  return created.body.id;
}

/** Connects (query parameters as given, no implicit token) without waiting for any frame. */
export function connectRaw(t: TestService, groupId: string, params: Record<string, string | number | undefined>, options: WebSocket.ClientOptions = {}): ChatClient {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, String(v));
  const qs = query.toString();
  return new ChatClient(new WebSocket(`${t.wsBase}/api/v1/ws/groups/${groupId}${qs ? `?${qs}` : ''}`, options));
}

/** The close of a socket, or a rejection after `ms`. */
export async function closeOf(client: ChatClient, ms = 10_000): Promise<{ code: number; reason: string }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms; frames: ${JSON.stringify(client.frames.slice(-5))}`)), ms);
  });
  try {
    return await Promise.race([client.closed, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Proves the socket is open and answering: a ping gets a pong, and it is the very next frame. */
export async function expectAlive(client: ChatClient): Promise<void> {
  client.send({ type: 'ping' });
  await client.next('pong');
  expect(client.isClosed).toBe(false);
}

export async function history(t: TestService, groupId: string, token: string): Promise<{ messages: any[]; total: number }> {
  const res = await call('GET', `${t.api}/${groupId}/messages?limit=100`, { token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** The current value of an unlabelled metric from GET /metrics. */
export async function metric(t: TestService, name: string): Promise<number> {
  const res = await fetch(`${t.service.url}/metrics`);
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`metric ${name} not found`);
  return Number(line.slice(name.length + 1));
}

/** Polls `check` until it holds, or fails after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The frames of one type a client has recorded so far (read or not). */
export function framesOf(client: ChatClient, type: string): Frame[] {
  return client.frames.filter((f) => f.type === type);
}

/** A client that has connected, for tests that reuse the recording client. */
export { ChatClient };
