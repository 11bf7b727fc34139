import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGroup, expectError, expectFieldError, getMembers, ISO_UTC } from '../support/api-helpers.js';
import { call, groupBody, makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('POST /api/v1/groups', () => {
  let t: TestService;
  let alice: TestUser;
  beforeAll(async () => {
    t = await startTestService();
    alice = await makeUser(t.jwks, 'alice');
  }, 180_000);
  afterAll(async () => t?.stop());

  const create = (body: unknown, token = alice.token) => call('POST', t.api, { token, body });

  it('creates a group with the defaults and makes the creator its only member and admin', async () => {
    const eventId = randomUUID();
    const res = await create({ event_id: eventId, name: 'Hikers' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(UUID_RE),
      event_id: eventId,
      name: 'Hikers',
      description: null,
      max_members: 10,
      member_count: 1,
      is_full: false,
      is_private: false,
      created_at: expect.stringMatching(ISO_UTC),
      updated_at: expect.stringMatching(ISO_UTC),
    });
    expect(res.body.updated_at).toBe(res.body.created_at);
    expect(Math.abs(Date.parse(res.body.created_at) - Date.now())).toBeLessThan(60_000);

    const members = await getMembers(t, alice, res.body.id);
    expect(members.status).toBe(200);
    expect(members.body.total).toBe(1);
    expect(members.body.members).toEqual([{ user_id: alice.id, username: 'alice', joined_at: expect.stringMatching(ISO_UTC), is_admin: true }]);
  });

  it('keeps every given field and trims the name', async () => {
    const res = await create(groupBody({ name: '  Night   owls \n', description: 'We walk at night', max_members: 2, is_private: true }));
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ name: 'Night   owls', description: 'We walk at night', max_members: 2, is_private: true, member_count: 1, is_full: false });
  });

  it('accepts the bounds: 1 and 100 characters, a 500-character description, 2 and 50 members', async () => {
    for (const body of [
      groupBody({ name: 'x' }),
      groupBody({ name: 'n'.repeat(100), description: 'd'.repeat(500) }),
      groupBody({ max_members: 2 }),
      groupBody({ max_members: 50 }),
      groupBody({ description: null }),
    ]) {
      const res = await create(body);
      expect(res.status, JSON.stringify(res.body)).toBe(201);
    }
  });

  it('counts the 100 characters after trimming', async () => {
    const res = await create(groupBody({ name: `   ${'p'.repeat(100)}   ` }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.name).toBe('p'.repeat(100));
  });

  it('counts characters, not UTF-16 units: 100 emoji are 100 characters, 101 are too many', async () => {
    const ok = await create(groupBody({ name: '😀'.repeat(100), description: '🎉'.repeat(500) }));
    expect(ok.status, JSON.stringify(ok.body)).toBe(201);
    expect(ok.body.name).toBe('😀'.repeat(100));
    expectFieldError(await create(groupBody({ name: '😀'.repeat(101) })), 'body.name');
    expectFieldError(await create(groupBody({ description: '🎉'.repeat(501) })), 'body.description');
  });

  it.each([
    ['an empty name', { name: '' }, 'body.name'],
    ['a blank name', { name: '   \t\n ' }, 'body.name'],
    ['a name of 101 characters', { name: 'x'.repeat(101) }, 'body.name'],
    ['a description of 501 characters', { description: 'x'.repeat(501) }, 'body.description'],
    ['max_members 1', { max_members: 1 }, 'body.max_members'],
    ['max_members 51', { max_members: 51 }, 'body.max_members'],
    ['a fractional max_members', { max_members: 2.5 }, 'body.max_members'],
    ['max_members as a string', { max_members: '10' }, 'body.max_members'],
    ['a name that is a number', { name: 42 }, 'body.name'],
    ['a null name', { name: null }, 'body.name'],
    ['is_private as a string', { is_private: 'true' }, 'body.is_private'],
    ['a description that is a number', { description: 7 }, 'body.description'],
    ['an event_id that is not a UUID', { event_id: 'event-1' }, 'body.event_id'],
    ['an event_id that is a number', { event_id: 12 }, 'body.event_id'],
    ['a urn:uuid: event_id', { event_id: `urn:uuid:${randomUUID()}` }, 'body.event_id'],
    ['a NUL character in the name', { name: 'a\u0000b' }, 'body.name'],
    ['a NUL character in the description', { description: 'a\u0000b' }, 'body.description'],
  ])('refuses %s with 422', async (_label, override, field) => {
    expectFieldError(await create(groupBody(override)), field);
  });

  it('names every missing required field', async () => {
    const res = await create({});
    expectFieldError(res, 'body.event_id');
    expectFieldError(res, 'body.name');
  });

  it('refuses a body that is not an object with 422', async () => {
    for (const body of [[groupBody()], 'Hikers', 12, null]) expectFieldError(await create(body), 'body');
    expectFieldError(await call('POST', t.api, { token: alice.token }), 'body');
  });

  it('ignores unknown fields and never lets the client choose server-owned ones', async () => {
    const res = await create(groupBody({ id: randomUUID(), member_count: 40, created_at: '2000-01-01T00:00:00Z', admin: true }));
    expect(res.status).toBe(201);
    expect(res.body.member_count).toBe(1);
    expect(res.body.created_at).not.toBe('2000-01-01T00:00:00Z');
  });

  it('answers malformed JSON with 400 malformed_json', async () => {
    for (const rawBody of ['{"name": "x",', '{name: "x"}', '[1,']) {
      expectError(await call('POST', t.api, { token: alice.token, rawBody }), 400, 'malformed_json');
    }
    // An empty JSON body is no body: this route needs one.
    expectError(await call('POST', t.api, { token: alice.token, rawBody: '' }), 422, 'validation_error');
  });

  it('answers a body over 64 KiB with 413', async () => {
    const res = await create(groupBody({ description: 'x'.repeat(65 * 1024) }));
    expectError(res, 413, 'payload_too_large');
  });

  it('requires a valid bearer token before looking at the body', async () => {
    const anonymous = await call('POST', t.api, { rawBody: '{oops' });
    expectError(anonymous, 401, 'unauthenticated');
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const forged = await call('POST', t.api, { token: `${alice.token.slice(0, -4)}AAAA`, body: groupBody() });
    expectError(forged, 401, 'unauthenticated');
    expect(forged.headers.get('www-authenticate')).toMatch(/^Bearer/);
  });

  it('shows a member who never signed in by their id', async () => {
    const group = await createGroup(t, alice);
    const stranger = randomUUID();
    const added = await call('POST', `${t.api}/${group.id}/members`, { token: alice.token, body: { user_id: stranger } });
    expect(added.status).toBe(201);
    expect(added.body.username).toBe(stranger);
  });

  it('stores a username whose claim carries a NUL character without failing the request', async () => {
    const sub = randomUUID();
    const token = await t.jwks.sign({ sub, username: 'ev\u0000il' });
    const res = await call('POST', t.api, { token, body: groupBody() });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const members = await call('GET', `${t.api}/${res.body.id}/members`, { token });
    expect(members.body.members[0]).toMatchObject({ user_id: sub, username: 'evil' });
  });
});
