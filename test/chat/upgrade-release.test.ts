import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { expectAlive, groupWith } from './helpers.js';

/**
 * An open chat socket keeps nothing of its upgrade request: the request (whose URL holds
 * the token), its raw response, and Fastify's request/reply are garbage once `connected`
 * is sent. (They used to live as long as the socket: most of an idle socket's memory.)
 */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('chat upgrade objects', { timeout: 60_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  }, 180_000);
  afterAll(async () => t?.stop());

  it('are released once the socket is connected, and the socket keeps working', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const groupId = await groupWith(t, alice);
    const seen: { request: WeakRef<IncomingMessage>; socket: Socket & { _httpMessage?: unknown } }[] = [];
    const onUpgrade = (request: IncomingMessage, socket: Socket) => {
      seen.push({ request: new WeakRef(request), socket });
    };
    t.service.app.server.on('upgrade', onUpgrade);
    try {
      const a = await ChatClient.join(t.wsBase, groupId, alice.token);
      expect(seen).toHaveLength(1);
      const [{ request, socket }] = seen;
      expect(socket._httpMessage ?? null).toBeNull();
      for (let i = 0; i < 10 && request.deref() !== undefined; i++) {
        await new Promise((r) => setTimeout(r, 20));
        gc();
      }
      expect(request.deref(), 'the upgrade request is still reachable').toBeUndefined();
      await expectAlive(a);
      a.send({ type: 'message', content: 'still here' });
      expect(await a.next('message')).toMatchObject({ content: 'still here', seq: 1 });
      await a.close();
    } finally {
      t.service.app.server.off('upgrade', onUpgrade);
    }
  });
});
