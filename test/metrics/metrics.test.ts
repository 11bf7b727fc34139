import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, groupBody } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

/** `value` of the first sample of `name` whose labels include every one given. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const body = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (Object.entries(labels).every(([k, v]) => body.includes(`${k}="${v}"`))) return Number(line.split(' ').at(-1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  let t: TestService;
  const scrape = async () => {
    const res = await fetch(`${t.service.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return res.text();
  };
  beforeAll(async () => {
    t = await startTestService();
  }, 120_000);
  afterAll(async () => t?.stop());

  it('records HTTP request durations by route pattern and status', async () => {
    const token = await t.jwks.sign();
    const created = await call('POST', t.api, { token, body: groupBody() });
    expect(created.status).toBe(201);
    expect((await call('GET', `${t.api}/${created.body.id}`, { token })).status).toBe(200);
    expect((await call('GET', `${t.api}/${created.body.id}`)).status).toBe(401);
    const text = await scrape();
    expect(text).toContain('# TYPE http_request_duration_seconds histogram');
    const route = '/api/v1/groups/:id';
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route, status: '200' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'GET', route, status: '401' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'http_request_duration_seconds_count', { method: 'POST', status: '201' })).toBeGreaterThanOrEqual(1);
    // Labels are bounded: the group id never becomes a label value.
    expect(text).not.toContain(created.body.id);
  });

  it('labels unknown routes with one fixed value, not the requested path', async () => {
    expect((await call('GET', `${t.service.url}/no/such/path-12345`)).status).toBe(404);
    const text = await scrape();
    expect(text).not.toContain('path-12345');
    expect(sample(text, 'http_request_duration_seconds_count', { status: '404' })).toBeGreaterThanOrEqual(1);
  });

  it('exports process metrics and the chat metrics of the contract', async () => {
    const text = await scrape();
    expect(sample(text, 'process_cpu_user_seconds_total', {})).toBeGreaterThan(0);
    expect(text).toContain('process_resident_memory_bytes');
    for (const name of ['chat_open_sockets', 'chat_messages_accepted_total', 'chat_messages_rejected_total', 'chat_delivery_latency_seconds']) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });

  it('needs no token', async () => {
    expect((await fetch(`${t.service.url}/metrics`)).status).toBe(200);
  });
});
