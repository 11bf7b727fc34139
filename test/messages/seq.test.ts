import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestService, usingServerDatabase, type TestService } from '../support/service.js';
import { ChatClient } from '../support/ws-client.js';
import { allMessages, expectConsecutive, groupWith, postMessage, STARTUP_TIMEOUT_MS, users } from './helpers.js';

describe(`seq under concurrency (${usingServerDatabase ? 'PostgreSQL server' : 'embedded database'})`, { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '10000', RATE_LIMIT_WINDOW: '60' });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  it('5 users × 20 concurrent REST sends into one group: seqs 1..100 once each, delivered in order', { timeout: 90_000 }, async () => {
    const senders = await users(t, 5);
    const [watcherUser] = await users(t, 1);
    const groupId = await groupWith(t, senders[0]!, [...senders.slice(1), watcherUser!]);
    const watcher = await ChatClient.join(t.wsBase, groupId, watcherUser!.token);
    try {
      const answers = await Promise.all(
        senders.flatMap((u, ui) => Array.from({ length: 20 }, (_, i) => postMessage(t, u, groupId, `u${ui}-${i}`))),
      );
      const failed = answers.filter((a) => a.status !== 201);
      expect(failed.map((a) => [a.status, a.body]), 'every send accepted').toEqual([]);
      expectConsecutive(answers.map((a) => a.body.seq).sort((x, y) => x - y), 1, 100, 'seqs answered');

      const stored = await allMessages(t, watcherUser!, groupId);
      expectConsecutive(stored.map((m) => m.seq), 1, 100, 'seqs stored');
      // the stored rows are the answered ones, each with its own content
      const bySeq = new Map(answers.map((a) => [a.body.seq, a.body]));
      for (const m of stored) expect(m).toEqual(bySeq.get(m.seq));
      // 20 from each sender, none lost or doubled
      for (let ui = 0; ui < senders.length; ui++) {
        expect(stored.filter((m) => m.sender_id === senders[ui]!.id)).toHaveLength(20);
      }

      const frames = await watcher.collect('message', 100, 60_000);
      expectConsecutive(frames.map((f) => f.seq), 1, 100, 'seqs delivered');
      expect(frames.map((f) => f.id)).toEqual(stored.map((m) => m.id));
      expect((await watcher.quiet(300)).filter((f) => f.type === 'message'), 'no duplicate after the 100').toEqual([]);
    } finally {
      await watcher.close();
    }
  });

  it('interleaved WebSocket and REST senders share one gapless sequence', { timeout: 90_000 }, async () => {
    const [alice, bob, watcherUser] = await users(t, 3);
    const groupId = await groupWith(t, alice!, [bob!, watcherUser!]);
    const a = await ChatClient.join(t.wsBase, groupId, alice!.token);
    const watcher = await ChatClient.join(t.wsBase, groupId, watcherUser!.token);
    try {
      for (let i = 0; i < 30; i++) a.send({ type: 'message', content: `ws-${i}` });
      const rest = await Promise.all(Array.from({ length: 30 }, (_, i) => postMessage(t, bob!, groupId, `rest-${i}`)));
      expect(rest.every((r) => r.status === 201)).toBe(true);
      const frames = await watcher.collect('message', 60, 60_000);
      expectConsecutive(frames.map((f) => f.seq), 1, 60, 'delivered');
      // one socket's frames get seqs in the order they were sent
      expect(frames.filter((f) => f.user_id === alice!.id).map((f) => f.content)).toEqual(Array.from({ length: 30 }, (_, i) => `ws-${i}`));
      const atSender = await a.collect('message', 60, 60_000);
      expect(atSender.map((f) => f.seq)).toEqual(frames.map((f) => f.seq));
    } finally {
      await a.close();
      await watcher.close();
    }
  });
});
