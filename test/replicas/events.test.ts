import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/client.js';
import { MODES, skipReplicas, startCluster, stopAll, type Cluster, type Mode, type Replica } from '../support/replicas.js';
import type { ChatClient, Frame } from '../support/ws-client.js';
import { closeAll, groupOf, history, join, messagesOf, post, users } from './helpers.js';

/**
 * Every kind of server frame crosses replicas: typing, presence, membership and group
 * events, the closes of kick and delete; and the rate limit (N = 5) holds across replicas.
 */
describe.skipIf(skipReplicas).each(MODES)('three replicas, $name: events and the shared rate limit', (mode: Mode) => {
  let cluster: Cluster;
  let A: Replica, B: Replica, C: Replica;
  const open: ChatClient[] = [];
  const track = (c: ChatClient) => (open.push(c), c);
  const presenceOf = (c: ChatClient, userId: string) => c.frames.filter((f) => f.type === 'presence' && f.user_id === userId).map((f) => f.status);

  beforeAll(async () => {
    cluster = await startCluster({ count: 3, redis: mode.redis, env: { RATE_LIMIT_MESSAGES: '5', RATE_LIMIT_WINDOW: '60' } });
    [A, B, C] = cluster.replicas as [Replica, Replica, Replica];
  }, 420_000);

  afterAll(async () => {
    await closeAll(open);
    await cluster?.stop();
    await stopAll();
  }, 60_000);

  it('typing on A reaches the members on B and C, not the typist', async () => {
    const [alice, bob, carol] = await users(cluster, 3, 'typ');
    const groupId = await groupOf(cluster, alice!, [bob!, carol!]);
    const a = track(await join(A, groupId, alice!));
    const b = track(await join(B, groupId, bob!));
    const c = track(await join(C, groupId, carol!));
    a.send({ type: 'typing', is_typing: true });
    for (const other of [b, c]) {
      expect(await other.next('typing', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ type: 'typing', user_id: alice!.id, username: alice!.username, is_typing: true });
    }
    expect((await a.quiet(500)).filter((f) => f.type === 'typing')).toEqual([]);
  }, 60_000);

  it('presence: online through B is seen on A; a user with sockets on two replicas goes offline only when both closed', async () => {
    const [alice, bob, carol] = await users(cluster, 3, 'pres');
    const groupId = await groupOf(cluster, alice!, [bob!, carol!]);
    const a = track(await join(A, groupId, alice!));
    const b1 = track(await join(B, groupId, bob!));
    expect(b1.frames[0]!.online.map((u: any) => u.user_id).sort()).toEqual([alice!.id, bob!.id].sort());
    expect(await a.next('presence', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ user_id: bob!.id, username: bob!.username, status: 'online' });

    // bob's second socket, on C: he is already online, so nobody is told again.
    const b2 = track(await join(C, groupId, bob!));
    const c = track(await join(A, groupId, carol!));
    expect(c.frames[0]!.online.map((u: any) => u.user_id).sort()).toEqual([alice!.id, bob!.id, carol!.id].sort());

    await b1.close();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(presenceOf(a, bob!.id)).toEqual(['online']);
    expect(presenceOf(c, bob!.id)).toEqual([]);

    await b2.close();
    expect(await a.next('presence', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ user_id: carol!.id, status: 'online' });
    const offline = await a.next('presence', { skipOthers: true, timeoutMs: 10_000 });
    expect(offline).toMatchObject({ user_id: bob!.id, status: 'offline' });
    await new Promise((r) => setTimeout(r, 300));
    expect(presenceOf(c, bob!.id)).toEqual(['offline']);
    expect(presenceOf(a, bob!.id)).toEqual(['online', 'offline']);
  }, 60_000);

  it('member_joined, member_left and group_updated made through one replica reach sockets on the others', async () => {
    const [admin, bob, dave] = await users(cluster, 3, 'mem');
    const groupId = await groupOf(cluster, admin!, [bob!]);
    const a = track(await join(A, groupId, admin!));
    const b = track(await join(B, groupId, bob!));

    expect((await call('POST', `${C.api}/${groupId}/join`, { token: dave!.token })).status).toBe(200);
    for (const s of [a, b]) expect(await s.next('member_joined', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ user_id: dave!.id, username: dave!.username });

    expect((await call('DELETE', `${A.api}/${groupId}/leave`, { token: dave!.token })).status).toBe(200);
    expect(await b.next('member_left', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ user_id: dave!.id });

    const updated = await call('PUT', `${C.api}/${groupId}`, { token: admin!.token, body: { name: 'renamed across replicas' } });
    expect(updated.status).toBe(200);
    for (const s of [a, b]) {
      const frame = await s.next('group_updated', { skipOthers: true, timeoutMs: 10_000 });
      expect(frame.group).toMatchObject({ id: groupId, name: 'renamed across replicas' });
    }
  }, 60_000);

  it('a kick through A closes the member’s sockets on B and C with 4403; a delete through C closes every socket with group_deleted + 4404', async () => {
    const [admin, bob, carol] = await users(cluster, 3, 'kick');
    const groupId = await groupOf(cluster, admin!, [bob!, carol!]);
    const a = track(await join(A, groupId, admin!));
    const bobB = track(await join(B, groupId, bob!));
    const bobC = track(await join(C, groupId, bob!));
    const carolB = track(await join(B, groupId, carol!));

    expect((await call('DELETE', `${A.api}/${groupId}/members/${bob!.id}`, { token: admin!.token })).status).toBe(204);
    for (const s of [bobB, bobC]) expect((await withTimeout(s.closed, 10_000, 'kick close')).code).toBe(4403);
    for (const s of [a, carolB]) expect(await s.next('member_left', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ user_id: bob!.id });

    expect((await call('DELETE', `${C.api}/${groupId}`, { token: admin!.token })).status).toBe(204);
    for (const s of [a, carolB]) {
      expect(await s.next('group_deleted', { skipOthers: true, timeoutMs: 10_000 })).toMatchObject({ group_id: groupId });
      expect((await withTimeout(s.closed, 10_000, 'delete close')).code).toBe(4404);
    }
  }, 60_000);

  it('rate limit N=5: 20 concurrent sends spread over the three replicas, WebSocket and REST: exactly 5 accepted', async () => {
    const [sender, watcher] = await users(cluster, 2, 'rate');
    const groupId = await groupOf(cluster, sender!, [watcher!]);
    const w = track(await join(C, groupId, watcher!));
    const sockA = track(await join(A, groupId, sender!));
    const sockB = track(await join(B, groupId, sender!));

    // 20 sends at once: 7 over a socket on A, 7 over a socket on B, 6 over REST through C and A.
    const own = new Map<ChatClient, Set<string>>([
      [sockA, new Set()],
      [sockB, new Set()],
    ]);
    const rest: Promise<number>[] = [];
    for (let k = 0; k < 20; k++) {
      const clientId = `r-${k}`;
      const socket = k % 3 === 0 ? sockA : k % 3 === 1 ? sockB : undefined;
      if (socket) {
        own.get(socket)!.add(clientId);
        socket.send({ type: 'message', content: `m${k}`, client_id: clientId });
      } else rest.push(post(k % 2 ? C : A, sender!, groupId, `m${k}`, clientId).then((r) => r.status));
    }
    const statuses = await Promise.all(rest);
    const errorsOf = (s: ChatClient) => s.frames.filter((f) => f.type === 'error');
    // Every socket send is answered: by its own delivered copy or by an error frame.
    const answered = (s: ChatClient) => errorsOf(s).length + messagesOf(s).filter((f: Frame) => own.get(s)!.has(f.client_id)).length >= own.get(s)!.size;
    await waitFor(() => answered(sockA) && answered(sockB), 20_000);
    await new Promise((r) => setTimeout(r, 500));

    const stored = await history(A, watcher!, groupId);
    expect(stored).toHaveLength(5);
    const wsRefused = [...errorsOf(sockA), ...errorsOf(sockB)];
    expect(wsRefused.every((e) => e.code === 'RATE_LIMIT_EXCEEDED' && e.retry_after > 0), JSON.stringify(wsRefused)).toBe(true);
    const restAccepted = statuses.filter((s) => s === 201).length;
    const restRefused = statuses.filter((s) => s === 429).length;
    expect(restAccepted + restRefused).toBe(statuses.length);
    expect(restAccepted + (14 - wsRefused.length)).toBe(5);
    expect(restRefused + wsRefused.length).toBe(15);
    // Every member, on any replica, sees exactly the 5 accepted messages.
    for (const s of [w, sockA, sockB]) {
      await waitFor(() => messagesOf(s).length >= 5, 10_000);
      expect(messagesOf(s).map((f) => f.seq)).toEqual([1, 2, 3, 4, 5]);
    }
  }, 60_000);
});

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(ok: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
}
