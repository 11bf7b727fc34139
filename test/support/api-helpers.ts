import { expect } from 'vitest';
import { call, groupBody, makeUser, type ApiResponse, type TestUser } from './client.js';
import type { TestService } from './service.js';

/** Asserts the contract's error shape: `{detail, code}` (+ `errors` for 422), with this status and code. */
export function expectError(res: ApiResponse, status: number, code: string): void {
  expect({ status: res.status, code: res.body?.code }, JSON.stringify(res.body)).toEqual({ status, code });
  expect(typeof res.body.detail).toBe('string');
  expect(res.body.detail.length).toBeGreaterThan(0);
  const allowed = ['detail', 'code', 'errors', 'retry_after'];
  for (const key of Object.keys(res.body)) expect(allowed).toContain(key);
  if (status === 422) {
    expect(Array.isArray(res.body.errors)).toBe(true);
    expect(res.body.errors.length).toBeGreaterThan(0);
    for (const e of res.body.errors) {
      expect(typeof e.field).toBe('string');
      expect(typeof e.message).toBe('string');
    }
  }
}

/** A 422 naming this field among its errors. */
export function expectFieldError(res: ApiResponse, field: string): void {
  expectError(res, 422, 'validation_error');
  expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
}

/** Creates a group through the API and returns its Group body. */
export async function createGroup(t: TestService, owner: TestUser, overrides: Record<string, unknown> = {}): Promise<any> {
  const res = await call('POST', t.api, { token: owner.token, body: groupBody(overrides) });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

/** Makes `count` fresh users. */
export async function makeUsers(t: TestService, count: number): Promise<TestUser[]> {
  return Promise.all(Array.from({ length: count }, () => makeUser(t.jwks)));
}

/** Joins each user to the group, one after another, asserting success. */
export async function joinAll(t: TestService, groupId: string, users: TestUser[]): Promise<void> {
  for (const u of users) {
    const res = await call('POST', `${t.api}/${groupId}/join`, { token: u.token });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
  }
}

export async function getGroup(t: TestService, user: TestUser, groupId: string): Promise<ApiResponse> {
  return call('GET', `${t.api}/${groupId}`, { token: user.token });
}

export async function getMembers(t: TestService, user: TestUser, groupId: string): Promise<ApiResponse> {
  return call('GET', `${t.api}/${groupId}/members`, { token: user.token });
}

/** `2025-11-15T12:00:00Z` form, fractional seconds allowed. */
export const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
