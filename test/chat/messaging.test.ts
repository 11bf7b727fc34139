import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, groupBody, makeUser, type TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';

describe('chat messaging', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '1000' });
  });
  afterAll(async () => t?.stop());

  async function groupWith(...members: TestUser[]): Promise<string> {
    const [admin, ...rest] = members;
    const created = await call('POST', t.api, { token: admin!.token, body: groupBody() });
    for (const m of rest) expect((await call('POST', `${t.api}/${created.body.id}/join`, { token: m.token })).status).toBe(200);
    return created.body.id;
  }

  it('delivers a message to every member, the sender included, with seq 1', async () => {
    const alice = await makeUser(t.jwks, 'alice');
    const bob = await makeUser(t.jwks, 'bob');
    const groupId = await groupWith(alice, bob);
    const a = await ChatClient.join(t.wsBase, groupId, alice.token);
    const b = await ChatClient.join(t.wsBase, groupId, bob.token);
    a.send({ type: 'message', content: '  Hello!  ', client_id: 'c1' });
    const atA = await a.next('message', { skipOthers: true });
    const atB = await b.next('message', { skipOthers: true });
    expect(atA).toMatchObject({ seq: 1, content: 'Hello!', user_id: alice.id, username: 'alice', group_id: groupId, client_id: 'c1' });
    expect(atB).toEqual(atA);
    expect(atA.timestamp).toMatch(/Z$/);
    const history = await call('GET', `${t.api}/${groupId}/messages`, { token: bob.token });
    expect(history.body.messages).toHaveLength(1);
    expect(history.body.messages[0]).toMatchObject({ id: atA.id, seq: 1, sender_id: alice.id, content: 'Hello!' });
    await a.close();
    await b.close();
  });
});
