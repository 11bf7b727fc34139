import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { closeOf, connectRaw, expectAlive, groupWith, sleep } from './helpers.js';

/** With WS_HEARTBEAT_SECONDS=1 the server pings every second and drops a peer that misses two. */
describe('chat heartbeat', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000', WS_HEARTBEAT_SECONDS: '1' });
  }, 180_000);
  afterAll(async () => t?.stop());

  it('drops a peer that does not answer pings and keeps one that does', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(t, alice, bob);
    const healthy = await ChatClient.join(t.wsBase, groupId, alice.token);
    let pingsAtHealthy = 0;
    healthy.ws.on('ping', () => (pingsAtHealthy += 1));

    const deaf = connectRaw(t, groupId, { token: bob.token }, { autoPong: false });
    let pingsAtDeaf = 0;
    deaf.ws.on('ping', () => (pingsAtDeaf += 1));
    await deaf.next('connected');
    expect(await healthy.next('presence')).toMatchObject({ user_id: bob.id, status: 'online' });
    const connectedAt = Date.now();

    const { code } = await closeOf(deaf, 15_000);
    // Cut off without a closing handshake.
    expect(code).toBe(1006);
    expect(pingsAtDeaf).toBeGreaterThanOrEqual(2);
    expect(Date.now() - connectedAt).toBeGreaterThanOrEqual(1_000);
    expect(await healthy.next('presence', { timeoutMs: 5_000 })).toMatchObject({ user_id: bob.id, status: 'offline' });

    // The answering peer outlives several more heartbeats.
    await sleep(3_000);
    expect(pingsAtHealthy).toBeGreaterThanOrEqual(3);
    expect(healthy.isClosed).toBe(false);
    await expectAlive(healthy);
    await healthy.close();
  });

  it('keeps an idle but answering peer open across many heartbeats', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const groupId = await groupWith(t, alice);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    await sleep(4_500);
    expect(a.isClosed).toBe(false);
    await expectAlive(a);
    await a.close();
  });
});
