import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { claimsOf } from '../support/tokens.js';
import { ChatClient } from '../support/ws-client.js';
import { closeOf, expectAlive, groupWith, sleep } from './helpers.js';

/**
 * Token lifetime on an open socket: the session ends (4401) when the token's exp passes,
 * not exp + the verifier's leeway, unless an `auth` frame with a fresh token of the same
 * user extended it first.
 */
describe('chat session token lifetime', { timeout: 120_000 }, () => {
  let t: TestService;
  // Fresh users and group per test: a departure announced at the end of one test cannot reach the next.
  let alice: TestUser;
  let bob: TestUser;
  let groupId: string;

  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  beforeEach(async () => {
    alice = await makeUser(t.jwks, 'alice');
    bob = await makeUser(t.jwks, 'bob');
    groupId = await groupWith(t, alice, bob);
  });
  afterAll(async () => t?.stop());

  const shortToken = (user: TestUser, seconds = 4) => t.jwks.sign({ sub: user.id, username: user.username, expiresInSeconds: seconds });

  it('closes 4401 when exp passes, not exp plus the leeway', async () => {
    const token = await shortToken(alice);
    const expMs = (claimsOf(token).exp as number) * 1000;
    const a = await ChatClient.join(t.wsBase, groupId, token);
    await expectAlive(a);
    const { code } = await closeOf(a, 20_000);
    const closedAt = Date.now();
    expect(code).toBe(4401);
    // Not before exp (a little slack for timer granularity), and well before exp + 30 s.
    expect(closedAt).toBeGreaterThanOrEqual(expMs - 50);
    expect(closedAt).toBeLessThan(expMs + 15_000);
  });

  it('announces the expired session as offline to the others', async () => {
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    const a = await ChatClient.join(t.wsBase, groupId, await shortToken(alice));
    expect(await b.next('presence')).toMatchObject({ user_id: alice.id, status: 'online' });
    expect((await closeOf(a, 20_000)).code).toBe(4401);
    expect(await b.next('presence')).toMatchObject({ user_id: alice.id, status: 'offline' });
    await b.close();
  });

  it('stays open past the old exp after an auth frame with a fresh token of the same user', async () => {
    const token = await shortToken(alice);
    const expMs = (claimsOf(token).exp as number) * 1000;
    const a = await ChatClient.join(t.wsBase, groupId, token);
    a.send({ type: 'auth', token: await shortToken(alice, 600) });
    // auth has no answer of its own; the next frame is the pong.
    await expectAlive(a);
    await sleep(Math.max(0, expMs - Date.now()) + 1_500);
    expect(a.isClosed).toBe(false);
    await expectAlive(a);
    a.send({ type: 'message', content: 'still in' });
    expect(await a.next('message')).toMatchObject({ content: 'still in', user_id: alice.id });
    await a.close();
  });

  it('ends the session at the new token\'s exp after a refresh', async () => {
    const a = await ChatClient.join(t.wsBase, groupId, await shortToken(alice, 4));
    const fresh = await shortToken(alice, 7);
    const freshExpMs = (claimsOf(fresh).exp as number) * 1000;
    a.send({ type: 'auth', token: fresh });
    await expectAlive(a);
    const { code } = await closeOf(a, 25_000);
    expect(code).toBe(4401);
    expect(Date.now()).toBeGreaterThanOrEqual(freshExpMs - 50);
  });

  it('closes 4401 on an auth frame for another user', async () => {
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    a.send({ type: 'auth', token: bob.token });
    expect((await closeOf(a)).code).toBe(4401);
  });

  it('closes 4401 on an auth frame with an invalid or expired token', async () => {
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    a.send({ type: 'auth', token: 'garbage.token.here' });
    expect((await closeOf(a)).code).toBe(4401);

    const a2 = await ChatClient.join(t.wsBase, groupId, alice.token);
    a2.send({ type: 'auth', token: await t.jwks.sign({ sub: alice.id, username: 'alice', expiresInSeconds: -120 }) });
    expect((await closeOf(a2)).code).toBe(4401);
  });

  it('closes each of many sessions at its own exp, in exp order, also after a refresh moved one (one timer for all)', async () => {
    const carol = await makeUser(t.jwks, 'carol');
    const dave = await makeUser(t.jwks, 'dave');
    const gid = await groupWith(t, alice, bob, carol, dave);
    // Whole seconds apart (exp has a resolution of one second): 4, 5, 6 s, and one moved from 4 s to 7 s.
    const plan = [
      { user: alice, seconds: 5 },
      { user: bob, seconds: 4 },
      { user: carol, seconds: 6 },
      { user: dave, seconds: 4, refreshTo: 7 },
    ];
    const sessions = await Promise.all(
      plan.map(async (p) => {
        const token = await shortToken(p.user, p.seconds);
        const client = await ChatClient.join(t.wsBase, gid, token);
        let expMs = (claimsOf(token).exp as number) * 1000;
        if (p.refreshTo) {
          const fresh = await shortToken(p.user, p.refreshTo);
          client.send({ type: 'auth', token: fresh });
          expMs = (claimsOf(fresh).exp as number) * 1000;
        }
        return { name: p.user.username, client, expMs };
      }),
    );
    const closes = await Promise.all(
      sessions.map(async (s) => {
        const { code } = await closeOf(s.client, 25_000);
        return { name: s.name, code, at: Date.now(), expMs: s.expMs };
      }),
    );
    for (const c of closes) {
      expect(c.code, c.name).toBe(4401);
      expect(c.at, c.name).toBeGreaterThanOrEqual(c.expMs - 50);
      expect(c.at, c.name).toBeLessThan(c.expMs + 3_000);
    }
    const byClose = [...closes].sort((x, y) => x.at - y.at).map((c) => c.name);
    const byExp = [...closes].sort((x, y) => x.expMs - y.expMs).map((c) => c.name);
    expect(byClose).toEqual(byExp);
  });

  it('keeps other sockets of the same user open when one session expires', async () => {
    const long = await ChatClient.join(t.wsBase, groupId, alice.token);
    const short = await ChatClient.join(t.wsBase, groupId, await shortToken(alice, 4));
    expect((await closeOf(short, 20_000)).code).toBe(4401);
    await expectAlive(long);
    await long.close();
  });
});
