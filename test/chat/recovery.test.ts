import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestUser } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';
import { ChatClient, type Frame } from '../support/ws-client.js';
import { expectConsecutive, groupWith, inBatches, postMessage, sent, sleep, STARTUP_TIMEOUT_MS, users } from '../messages/helpers.js';

/** Reconnecting with `since_seq`: replay of what was missed, then live, no gap, no duplicate. */
describe('chat recovery with since_seq', { timeout: 120_000 }, () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService({ RATE_LIMIT_MESSAGES: '100000', RATE_LIMIT_WINDOW: '60' });
  }, STARTUP_TIMEOUT_MS);
  afterAll(async () => t?.stop(), STARTUP_TIMEOUT_MS);

  async function sendMany(user: TestUser, groupId: string, count: number, prefix = 'm'): Promise<void> {
    await inBatches(Array.from({ length: count }, (_, i) => i), 10, (i) => sent(t, user, groupId, `${prefix}${i}`));
  }

  const messagesOf = (frames: Frame[]) => frames.filter((f) => f.type === 'message');

  it('replays exactly k+1..last in order, then live messages', async () => {
    const [alice, bob] = await users(t, 2);
    const groupId = await groupWith(t, alice!, [bob!]);
    for (let i = 1; i <= 4; i++) await sent(t, alice!, groupId, `before ${i}`);
    const b = await ChatClient.join(t.wsBase, groupId, bob!.token);
    await b.close();
    // bob saw 1..4; 5..9 are sent while he is away
    for (let i = 5; i <= 9; i++) await sent(t, alice!, groupId, `away ${i}`);
    const back = ChatClient.connect(t.wsBase, groupId, { token: bob!.token, since_seq: 4 });
    try {
      const connected = await back.next('connected');
      expect(connected).toMatchObject({ group_id: groupId, user_id: bob!.id, last_seq: 9, recovered: true });
      const replay = await back.collect('message', 5);
      expect(replay.map((f) => [f.seq, f.content])).toEqual([5, 6, 7, 8, 9].map((s) => [s, `away ${s}`]));
      expect(replay[0]).toMatchObject({ group_id: groupId, user_id: alice!.id, username: alice!.username });
      const live = await sent(t, alice!, groupId, 'live 10');
      const next = await back.next('message', { skipOthers: true });
      expect(next).toMatchObject({ seq: 10, id: live.id, content: 'live 10' });
      expect(messagesOf(await back.quiet(300))).toEqual([]);
    } finally {
      await back.close();
    }
  });

  it('since_seq=last: recovered, nothing replayed; since_seq=0 replays everything', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    for (let i = 1; i <= 3; i++) await sent(t, alice!, groupId, `n${i}`);
    const upToDate = await ChatClient.join(t.wsBase, groupId, alice!.token, { since_seq: 3 });
    try {
      expect(upToDate.frames[0]).toMatchObject({ type: 'connected', last_seq: 3, recovered: true });
      expect(messagesOf(await upToDate.quiet(300))).toEqual([]);
    } finally {
      await upToDate.close();
    }
    const fromStart = ChatClient.connect(t.wsBase, groupId, { token: alice!.token, since_seq: 0 });
    try {
      expect(await fromStart.next('connected')).toMatchObject({ recovered: true, last_seq: 3 });
      expect((await fromStart.collect('message', 3)).map((f) => f.seq)).toEqual([1, 2, 3]);
      expect(messagesOf(await fromStart.quiet(300))).toEqual([]);
    } finally {
      await fromStart.close();
    }
    // without since_seq: not a recovery, nothing replayed
    const plain = await ChatClient.join(t.wsBase, groupId, alice!.token);
    try {
      expect(plain.frames[0]).toMatchObject({ type: 'connected', last_seq: 3, recovered: false });
      expect(messagesOf(await plain.quiet(300))).toEqual([]);
    } finally {
      await plain.close();
    }
  });

  it('since_seq=abc: an error frame, no replay, and the socket keeps working', async () => {
    const [alice] = await users(t, 1);
    const groupId = await groupWith(t, alice!);
    await sent(t, alice!, groupId, 'one');
    for (const bad of ['abc', '-1', '1.5', '']) {
      const c = ChatClient.connect(t.wsBase, groupId, { token: alice!.token, since_seq: bad });
      try {
        expect(await c.next('connected')).toMatchObject({ recovered: false, last_seq: 1 });
        expect(await c.next('error', { skipOthers: true })).toMatchObject({ code: 'VALIDATION_ERROR' });
        c.send({ type: 'ping' });
        await c.next('pong', { skipOthers: true });
        expect(messagesOf(c.frames)).toEqual([]);
        expect(c.isClosed).toBe(false);
      } finally {
        await c.close();
      }
    }
  });

  it('more than 1000 missed: recovered false and nothing replayed; exactly 1000: all replayed', { timeout: 240_000 }, async () => {
    const [alice, bob] = await users(t, 2);
    const groupId = await groupWith(t, alice!, [bob!]);
    await sendMany(alice!, groupId, 1005);
    const tooFar = ChatClient.connect(t.wsBase, groupId, { token: bob!.token, since_seq: 4 });
    try {
      expect(await tooFar.next('connected', { timeoutMs: 20_000 })).toMatchObject({ recovered: false, last_seq: 1005 });
      expect(messagesOf(await tooFar.quiet(500))).toEqual([]);
      const live = await sent(t, alice!, groupId, 'after');
      expect(await tooFar.next('message', { skipOthers: true })).toMatchObject({ seq: 1006, id: live.id });
    } finally {
      await tooFar.close();
    }
    const fromZero = ChatClient.connect(t.wsBase, groupId, { token: bob!.token, since_seq: 0 });
    try {
      expect(await fromZero.next('connected', { timeoutMs: 20_000 })).toMatchObject({ recovered: false, last_seq: 1006 });
      expect(messagesOf(await fromZero.quiet(500))).toEqual([]);
    } finally {
      await fromZero.close();
    }
    // 1006 - 6 = 1000 missed: the limit itself is still replayed
    const atLimit = ChatClient.connect(t.wsBase, groupId, { token: bob!.token, since_seq: 6 });
    try {
      expect(await atLimit.next('connected', { timeoutMs: 20_000 })).toMatchObject({ recovered: true, last_seq: 1006 });
      const replay = await atLimit.collect('message', 1000, 60_000);
      expectConsecutive(replay.map((f) => f.seq), 7, 1006, 'replayed');
      expect(messagesOf(await atLimit.quiet(300))).toEqual([]);
    } finally {
      await atLimit.close();
    }
  });

  it('reconnecting repeatedly during a flood: every session sees a gapless, duplicate-free sequence', { timeout: 240_000 }, async () => {
    const [alice, carol, bob] = await users(t, 3);
    const groupId = await groupWith(t, alice!, [carol!, bob!]);
    await sendMany(alice!, groupId, 20, 'pre');

    // Two senders post continuously (concurrent commits publish out of order) until told to stop.
    let stop = false;
    let accepted = 0;
    let lastAccepted = 20;
    const floodOne = async (u: TestUser, tag: string) => {
      for (let i = 0; i < 3000 && !stop; i++) {
        const res = await postMessage(t, u, groupId, `${tag}${i}`);
        expect(res.status, JSON.stringify(res.body)).toBe(201);
        accepted++;
        lastAccepted = Math.max(lastAccepted, res.body.seq);
      }
    };
    const flood = Promise.all([floodOne(alice!, 'a'), floodOne(carol!, 'c')]);

    let seen = 10; // bob last saw seq 10
    const sessions: { since: number; lastSeq: number; seqs: number[] }[] = [];
    try {
      for (let round = 0; round < 5; round++) {
        const before = accepted;
        // stay away until the flood has moved on, so there is something to replay
        for (let i = 0; i < 200 && accepted < before + 3; i++) await sleep(10);
        const c = ChatClient.connect(t.wsBase, groupId, { token: bob!.token, since_seq: seen });
        const connected = await c.next('connected', { timeoutMs: 20_000 });
        expect(connected.recovered).toBe(true);
        const last = round === 4;
        if (last) {
          stop = true;
          await flood;
          // everything accepted must arrive on this last session
          for (let i = 0; i < 1000 && !messagesOf(c.frames).some((f) => f.seq >= lastAccepted); i++) await sleep(20);
        } else {
          await sleep(100 + round * 60);
        }
        await c.close();
        const seqs = messagesOf(c.frames).map((f) => f.seq);
        sessions.push({ since: seen, lastSeq: connected.last_seq, seqs });
        expectConsecutive(seqs, seen + 1, seen + seqs.length, `session ${round} (since_seq=${seen})`);
        // the replay covers at least up to the snapshot it announced
        expect(seqs.length).toBeGreaterThanOrEqual(connected.last_seq - seen);
        if (seqs.length) seen = seqs[seqs.length - 1]!;
      }
    } finally {
      stop = true;
      await flood.catch(() => {});
    }
    expect(seen).toBe(lastAccepted);
    // the flood really overlapped: the sessions replayed missed messages
    expect(sessions.filter((s) => s.lastSeq > s.since).length).toBeGreaterThanOrEqual(4);
    expect(accepted + 20).toBe(lastAccepted);
  });
});
