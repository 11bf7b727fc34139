import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call } from '../support/client.js';
import { startTestService, type TestService } from '../support/service.js';

/** Every route of the contract's REST table, as OpenAPI writes it. */
const CONTRACT_ROUTES: [method: string, path: string][] = [
  ['get', '/health'],
  ['get', '/health/ready'],
  ['post', '/'],
  ['get', '/'],
  ['get', '/{id}'],
  ['put', '/{id}'],
  ['delete', '/{id}'],
  ['post', '/{id}/join'],
  ['delete', '/{id}/leave'],
  ['get', '/{id}/members'],
  ['post', '/{id}/members'],
  ['patch', '/{id}/members/{user_id}'],
  ['delete', '/{id}/members/{user_id}'],
  ['get', '/{id}/messages'],
  ['post', '/{id}/messages'],
];

describe('API documentation', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService();
  }, 120_000);
  afterAll(async () => t?.stop());

  it('GET /api/v1/groups/openapi.json is an OpenAPI 3 document of every contract route', async () => {
    const res = await call('GET', `${t.api}/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(res.body.info).toMatchObject({ title: expect.any(String), version: expect.any(String) });
    const documented = new Set<string>();
    for (const [path, item] of Object.entries(res.body.paths as Record<string, Record<string, unknown>>)) {
      const normalized = path.replace(/\/+$/, '') || '/';
      for (const method of Object.keys(item)) documented.add(`${method} ${normalized}`);
    }
    const missing = CONTRACT_ROUTES.map(([method, path]) => `${method} ${`/api/v1/groups${path}`.replace(/\/+$/, '')}`).filter((r) => !documented.has(r));
    expect(missing).toEqual([]);
  });

  it('documents bearer authentication and the error body', async () => {
    const { body } = await call('GET', `${t.api}/openapi.json`);
    expect(body.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const get = body.paths['/api/v1/groups/{id}'].get;
    expect(get.security).toEqual([{ bearerAuth: [] }]);
    expect(Object.keys(get.responses)).toEqual(expect.arrayContaining(['200', '401', '404', '422']));
    const health = body.paths['/api/v1/groups/health'].get;
    expect(health.security ?? []).toEqual([]);
  });

  it('GET /api/v1/groups/docs serves the Swagger UI page', async () => {
    const res = await fetch(`${t.api}/docs`, { redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toMatch(/swagger-ui/i);
    expect(html).toMatch(/<html/i);
  });

  it('the documents need no token', async () => {
    expect((await call('GET', `${t.api}/openapi.json`)).status).toBe(200);
    expect((await fetch(`${t.api}/docs/json`)).status).toBe(200);
  });
});
