import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { call, makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { unsignedToken, withBrokenSignature, nowSeconds } from '../support/tokens.js';
import { ChatClient } from '../support/ws-client.js';
import { closeOf, connectRaw, expectAlive, groupWith } from './helpers.js';

describe('chat connect', { timeout: 120_000 }, () => {
  let t: TestService;
  let alice: TestUser;
  let bob: TestUser;
  let groupId: string;

  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  // Fresh users and group per test: presence announced at the end of one test cannot reach the next.
  beforeEach(async () => {
    alice = await makeUser(t.jwks, 'alice');
    bob = await makeUser(t.jwks, 'bob');
    groupId = await groupWith(t, alice, bob);
  });
  afterAll(async () => t?.stop());

  /** A refused socket: the upgrade completes (so a browser can read the code), no frame, then the close. */
  async function refusal(group: string, params: Record<string, string | undefined>): Promise<number> {
    const client = connectRaw(t, group, params);
    await client.opened;
    const { code } = await closeOf(client);
    expect(client.frames).toEqual([]);
    return code;
  }

  it('sends `connected` first, with the group, the user, last_seq, online (self included) and recovered=false', async () => {
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const connected = a.frames[0]!;
    expect(connected).toEqual({
      type: 'connected',
      group_id: groupId,
      user_id: alice.id,
      username: 'alice',
      last_seq: 0,
      online: [{ user_id: alice.id, username: 'alice' }],
      recovered: false,
    });

    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    const online = b.frames[0]!.online as { user_id: string; username: string }[];
    expect(online).toHaveLength(2);
    expect(online).toEqual(expect.arrayContaining([
      { user_id: alice.id, username: 'alice' },
      { user_id: bob.id, username: 'bob' },
    ]));
    await a.close();
    await b.close();
  });

  it('reports the group last seq in `connected.last_seq`', async () => {
    const group = await groupWith(t, alice);
    for (const content of ['one', 'two', 'three']) {
      expect((await call('POST', `${t.api}/${group}/messages`, { token: alice.token, body: { content } })).status).toBe(201);
    }
    const a = await ChatClient.join(t.wsBase, group, alice.token);
    expect(a.frames[0]).toMatchObject({ type: 'connected', last_seq: 3, recovered: false });
    // Without since_seq nothing is replayed.
    expect(await a.quiet(300)).toEqual([]);
    await a.close();
  });

  it('still delivers live messages to a client whose since_seq is ahead of the group', async () => {
    const group = await groupWith(t, alice, bob);
    for (const content of ['one', 'two']) {
      expect((await call('POST', `${t.api}/${group}/messages`, { token: alice.token, body: { content } })).status).toBe(201);
    }
    // e.g. a client that kept the seq of a deleted group of the same id, or simply a bug: it must not go deaf.
    const b = await ChatClient.join(t.wsBase, group, bob.token, { since_seq: 1000 });
    expect(b.frames[0]).toMatchObject({ type: 'connected', last_seq: 2 });
    expect((await call('POST', `${t.api}/${group}/messages`, { token: alice.token, body: { content: 'three' } })).status).toBe(201);
    expect(await b.next('message', { skipOthers: true })).toMatchObject({ seq: 3, content: 'three' });
    await b.close();
  });

  it('answers frames sent right after the upgrade only after `connected`', async () => {
    const a = connectRaw(t, groupId, { token: alice.token });
    await a.opened;
    a.send({ type: 'ping' });
    expect((await a.next()).type).toBe('connected');
    expect(await a.next()).toEqual({ type: 'pong' });
    await a.close();
  });

  it('accepts an upper-case group id and reports it in canonical form', async () => {
    const a = await ChatClient.join(t.wsBase, groupId.toUpperCase(), alice.token);
    expect(a.frames[0]).toMatchObject({ type: 'connected', group_id: groupId });
    await expectAlive(a);
    await a.close();
  });

  it('closes 4401 after the upgrade when the token is missing', async () => {
    expect(await refusal(groupId, {})).toBe(4401);
    expect(await refusal(groupId, { token: '' })).toBe(4401);
  });

  it('closes 4401 for invalid tokens', async () => {
    expect(await refusal(groupId, { token: 'not-a-jwt' })).toBe(4401);
    expect(await refusal(groupId, { token: withBrokenSignature(alice.token) })).toBe(4401);
    const now = nowSeconds();
    const forged = unsignedToken({ iss: t.jwks.issuer, sub: alice.id, azp: t.jwks.clientId, preferred_username: 'alice', iat: now, exp: now + 600 });
    expect(await refusal(groupId, { token: forged })).toBe(4401);
  });

  it('closes 4401 for an expired token, including one still inside the clock leeway', async () => {
    const longExpired = await t.jwks.sign({ sub: alice.id, username: 'alice', expiresInSeconds: -120 });
    expect(await refusal(groupId, { token: longExpired })).toBe(4401);
    // exp has passed, though by less than the 30 s leeway: the session would end at exp, i.e. at once.
    const justExpired = await t.jwks.sign({ sub: alice.id, username: 'alice', expiresInSeconds: -5 });
    expect(await refusal(groupId, { token: justExpired })).toBe(4401);
  });

  it('closes 4403 for a user who is not a member', async () => {
    const carol = await makeUser(t.jwks, 'carol');
    expect(await refusal(groupId, { token: carol.token })).toBe(4403);
  });

  it('closes 4404 for an unknown group and for a group id that is not a UUID', async () => {
    expect(await refusal(randomUUID(), { token: alice.token })).toBe(4404);
    expect(await refusal('not-a-uuid', { token: alice.token })).toBe(4404);
    expect(await refusal('12345', { token: alice.token })).toBe(4404);
  });

  it('does not announce a refused user to the members online', async () => {
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const carol = await makeUser(t.jwks, 'carol');
    expect(await refusal(groupId, { token: carol.token })).toBe(4403);
    expect(await a.quiet(300)).toEqual([]);
    await a.close();
  });
});
