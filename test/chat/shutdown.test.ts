import { describe, expect, it } from 'vitest';
import { call, makeUser } from '../support/client.js';
import { holdGroupRow, startTestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { closeOf, connectRaw, groupWith } from './helpers.js';

/** Each test stops its own service. */
describe('chat graceful shutdown', { timeout: 180_000 }, () => {
  it('closes open sockets 1001 on stop', async () => {
    const t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
    try {
      const alice = await makeUser(t.jwks, 'alice');
      const bob = await makeUser(t.jwks, 'bob');
      const groupId = await groupWith(t, alice, bob);
      const a = await ChatClient.join(t.wsBase, groupId, alice.token);
      const b = await ChatClient.join(t.wsBase, groupId, bob.token);
      await t.service.stop();
      expect((await closeOf(a)).code).toBe(1001);
      expect((await closeOf(b)).code).toBe(1001);
      // Nothing else was sent on the way out (no offline presence to sockets being closed anyway).
      expect(a.unread().filter((f) => f.type !== 'presence')).toEqual([]);
    } finally {
      await t.jwks.close();
    }
  });

  it('finishes frames already received, reports not ready, and turns new sockets away with 1001 meanwhile', async () => {
    const t = await startTestService({ RATE_LIMIT_MESSAGES: '100000', SHUTDOWN_TIMEOUT_SECONDS: '60' });
    let lock: { release(): Promise<void> } | undefined;
    try {
      const alice = await makeUser(t.jwks, 'alice');
      const bob = await makeUser(t.jwks, 'bob');
      const groupId = await groupWith(t, alice, bob);
      const a = await ChatClient.join(t.wsBase, groupId, alice.token);
      const b = await ChatClient.join(t.wsBase, groupId, bob.token);
      expect((await call('GET', `${t.api}/health/ready`)).status).toBe(200);

      // Hold the group's row lock, so that sending stalls at its seq and the stop has work to wait for.
      lock = await holdGroupRow(t.service.db, groupId);

      const burst = 20;
      a.send({ type: 'typing', is_typing: true });
      for (let i = 1; i <= burst; i++) a.send({ type: 'message', content: `m${i}` });
      // Bob hearing the typing frame means the service has read the burst behind it.
      await b.next('typing');
      const stopping = t.service.stop();
      const readiness = await call('GET', `${t.api}/health/ready`);
      const late = connectRaw(t, groupId, { token: bob.token });
      late.opened.catch(() => {});
      const atLate = await closeOf(late, 30_000);
      expect(a.isClosed).toBe(false);
      await lock.release();
      const [atA, atB] = await Promise.all([closeOf(a, 60_000), closeOf(b, 60_000)]);
      await stopping;

      expect(readiness.status).toBe(503);
      expect(readiness.body.checks).toMatchObject({ shutdown: 'in progress' });
      expect(atLate.code).toBe(1001);
      expect(late.frames).toEqual([]);
      expect(atA.code).toBe(1001);
      expect(atB.code).toBe(1001);
      // Every frame received before the stop was handled and acknowledged, in order, before the close.
      const acked = a.frames.filter((f) => f.type === 'message').map((f) => f.seq);
      expect(acked).toEqual(Array.from({ length: burst }, (_, i) => i + 1));
      expect(b.frames.filter((f) => f.type === 'message').map((f) => f.seq)).toEqual(acked);
    } finally {
      await lock?.release();
      await t.jwks.close();
    }
  });
});
