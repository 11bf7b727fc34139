import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, groupBody, makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

describe('service smoke', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  });
  afterAll(async () => t?.stop());

  it('creates and reads a group', async () => {
    const alice = await makeUser(t.jwks);
    const created = await call('POST', t.api, { token: alice.token, body: groupBody({ name: '  Hikers ' }) });
    expect(created.status).toBe(201);
    expect(created.body.name).toBe('Hikers');
    const read = await call('GET', `${t.api}/${created.body.id}`, { token: alice.token });
    expect(read.status).toBe(200);
    expect(read.body.member_count).toBe(1);
  });
});
