import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError } from '../support/api-helpers.js';
import { startTestService, usingServerDatabase, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { allMessages, groupWith, postMessage, sent, STARTUP_TIMEOUT_MS, users } from '../messages/helpers.js';

/**
 * Concurrent sends of one user: the check and the insert must be one atomic step, or
 * several sends see "4 in the window" at once and all get in. The window (60 s) is far
 * longer than any of these tests, so exactly N may be accepted.
 */
const N = 5;

describe(`rate limit under concurrency (${usingServerDatabase ? 'PostgreSQL server' : 'embedded database'})`, { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: String(N), RATE_LIMIT_WINDOW: '60' });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  function tally(statuses: number[]): Record<number, number> {
    const out: Record<number, number> = {};
    for (const s of statuses) out[s] = (out[s] ?? 0) + 1;
    return out;
  }

  // In the 60 s window: with a 2 s one, a slow machine lets the first send age out mid-test.
  it('counts one allowance across groups, sockets and REST together', async () => {
    const [alice] = await users(t, 1);
    const g1 = await groupWith(t, alice!);
    const g2 = await groupWith(t, alice!);
    const s1 = await ChatClient.join(t.wsBase, g1, alice!.token);
    const s2 = await ChatClient.join(t.wsBase, g2, alice!.token);
    try {
      await sent(t, alice!, g1, 'rest g1');
      s1.send({ type: 'message', content: 'ws g1' });
      await s1.next('message', { skipOthers: true });
      await sent(t, alice!, g2, 'rest g2');
      s2.send({ type: 'message', content: 'ws g2' });
      await s2.next('message', { skipOthers: true });
      s2.send({ type: 'message', content: 'ws g2 again' });
      await s2.next('message', { skipOthers: true });
      // five accepted in two groups over two sockets and REST: every path is now refused
      expectError(await postMessage(t, alice!, g1, 'rest refused'), 429, 'rate_limited');
      expectError(await postMessage(t, alice!, g2, 'rest refused'), 429, 'rate_limited');
      s1.send({ type: 'message', content: 'ws refused' });
      expect(await s1.next('error', { skipOthers: true })).toMatchObject({ code: 'RATE_LIMIT_EXCEEDED' });
      expect((await allMessages(t, alice!, g1)).length + (await allMessages(t, alice!, g2)).length).toBe(N);
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it('20 concurrent REST sends: exactly 5 accepted, 15 refused with 429, 5 stored', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => postMessage(t, alice!, groupId, `race ${i}`)));
    expect(tally(answers.map((a) => a.status))).toEqual({ 201: N, 429: 20 - N });
    for (const a of answers.filter((x) => x.status === 429)) {
      expect(a.body.code).toBe('rate_limited');
      expect(Number(a.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(Number(a.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    }
    const stored = await allMessages(t, alice!, groupId);
    expect(stored).toHaveLength(N);
    expect(stored.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(stored.map((m) => m.id))).toEqual(new Set(answers.filter((a) => a.status === 201).map((a) => a.body.id)));
  });

  it('20 concurrent REST sends across 2 groups: exactly 5 accepted in total', async () => {
    const [alice] = await users(t, 1);
    const g1 = await groupWith(t, alice!);
    const g2 = await groupWith(t, alice!);
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => postMessage(t, alice!, i % 2 ? g1 : g2, `split ${i}`)));
    expect(tally(answers.map((a) => a.status))).toEqual({ 201: N, 429: 20 - N });
    const s1 = await allMessages(t, alice!, g1);
    const s2 = await allMessages(t, alice!, g2);
    expect(s1.length + s2.length).toBe(N);
    // each group's seqs stay gapless whatever the refusals
    expect(s1.map((m) => m.seq)).toEqual(Array.from({ length: s1.length }, (_, i) => i + 1));
    expect(s2.map((m) => m.seq)).toEqual(Array.from({ length: s2.length }, (_, i) => i + 1));
  });

  it('WebSocket and REST sends racing together: exactly 5 accepted and delivered', async () => {
    const [alice, bob] = await users(t, 2);
    const groupId = await groupWith(t, alice!, [bob!]);
    const s1 = await ChatClient.join(t.wsBase, groupId, alice!.token);
    const s2 = await ChatClient.join(t.wsBase, groupId, alice!.token);
    const watcher = await ChatClient.join(t.wsBase, groupId, bob!.token);
    try {
      for (let i = 0; i < 5; i++) {
        s1.send({ type: 'message', content: `s1-${i}` });
        s2.send({ type: 'message', content: `s2-${i}` });
      }
      const rest = await Promise.all(Array.from({ length: 10 }, (_, i) => postMessage(t, alice!, groupId, `rest-${i}`)));
      // every WS frame is answered: by the delivered copy (accepted) or by an error frame
      const answered = async (c: ChatClient) => {
        const deadline = Date.now() + 15_000;
        while (Date.now() < deadline) {
          const errors = c.frames.filter((f) => f.type === 'error').length;
          const own = c.frames.filter((f) => f.type === 'message' && f.content.startsWith(c === s1 ? 's1-' : 's2-')).length;
          if (errors + own >= 5) return errors;
          await new Promise((r) => setTimeout(r, 50));
        }
        throw new Error('a socket did not answer all its frames');
      };
      const wsRefused = (await answered(s1)) + (await answered(s2));
      for (const c of [s1, s2]) for (const e of c.frames.filter((f) => f.type === 'error')) expect(e.code).toBe('RATE_LIMIT_EXCEEDED');
      const restAccepted = rest.filter((r) => r.status === 201).length;
      expect(rest.every((r) => r.status === 201 || r.status === 429)).toBe(true);
      const wsAccepted = 10 - wsRefused;
      expect(restAccepted + wsAccepted).toBe(N);

      const delivered = await watcher.collect('message', N, 10_000);
      expect((await watcher.quiet(300)).filter((f) => f.type === 'message')).toEqual([]);
      expect(delivered.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
      const stored = await allMessages(t, bob!, groupId);
      expect(stored.map((m) => m.id)).toEqual(delivered.map((f) => f.id));
    } finally {
      await Promise.all([s1.close(), s2.close(), watcher.close()]);
    }
  });

  it('a burst of 20 WebSocket frames on one socket: the first 5 in send order are accepted', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    const s = await ChatClient.join(t.wsBase, groupId, alice!.token);
    try {
      for (let i = 0; i < 20; i++) s.send({ type: 'message', content: `b${i}` });
      const deadline = Date.now() + 15_000;
      while (s.frames.filter((f) => f.type === 'message' || f.type === 'error').length < 20 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const answers = s.frames.filter((f) => f.type === 'message' || f.type === 'error');
      expect(answers.filter((f) => f.type === 'message').map((f) => [f.seq, f.content])).toEqual([[1, 'b0'], [2, 'b1'], [3, 'b2'], [4, 'b3'], [5, 'b4']]);
      expect(answers.filter((f) => f.type === 'error').map((f) => f.code)).toEqual(Array(15).fill('RATE_LIMIT_EXCEEDED'));
    } finally {
      await s.close();
    }
  });
});
