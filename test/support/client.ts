import { randomUUID } from 'node:crypto';
import type { JwksServer } from './jwks-server.js';

export interface TestUser {
  id: string;
  username: string;
  token: string;
}

export async function makeUser(jwks: JwksServer, username = `user-${randomUUID().slice(0, 8)}`): Promise<TestUser> {
  const id = randomUUID();
  return { id, username, token: await jwks.sign({ sub: id, username, expiresInSeconds: 3600 }) };
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** A thin fetch wrapper: JSON in, JSON out, status and headers kept for assertions. */
export async function call<T = any>(
  method: string,
  url: string,
  options: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export function groupBody(overrides: Record<string, unknown> = {}) {
  return { event_id: randomUUID(), name: `group-${randomUUID().slice(0, 8)}`, ...overrides };
}
