import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRelayApp } from '../../services/relay/app.ts';
import { OPENAPI_PATH } from '../../services/relay/plugins/openapi.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { registeredRoutes } from '../helpers/routes.ts';

interface Operation {
  parameters?: { name: string; in: string; schema: Record<string, unknown> }[];
  responses: Record<string, unknown>;
  security?: unknown[];
}

let relay: FastifyInstance;
let document: { openapi: string; paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

beforeAll(async () => {
  relay = await buildRelayApp({ config: testConfig(), logger: silentLogger() });
  const answer = await relay.inject({ method: 'GET', url: OPENAPI_PATH });
  expect(answer.statusCode).toBe(200);
  expect(answer.headers['cache-control']).toBe('no-store');
  document = answer.json();
});
afterAll(() => relay.close());

describe('GET /v1/openapi.json', () => {
  it('is an OpenAPI 3 document listing every /v1 route the relay serves, and nothing else', () => {
    expect(document.openapi).toMatch(/^3\.\d+\.\d+$/);
    const served = registeredRoutes(relay)
      .filter((route) => route.path.startsWith('/v1/') && route.methods.includes('GET'))
      .map((route) => route.path.replace(/:(\w+)/g, '{$1}'));
    expect(Object.keys(document.paths).sort()).toEqual([...new Set(served)].sort());
    expect(Object.keys(document.paths)).toEqual(
      expect.arrayContaining(['/v1/sessions', '/v1/sessions/{id}', '/v1/sessions/{id}/messages', '/v1/sessions/{id}/events', OPENAPI_PATH]),
    );
  });

  it("describes each route's token, paging bounds and answers from the routes' own schemas", () => {
    for (const [path, operations] of Object.entries(document.paths)) {
      const get = operations.get!;
      expect(Object.keys(get.responses)).toContain('200');
      if (path !== OPENAPI_PATH) expect(get.security).toEqual([{ relayToken: [] }]);
    }
    const limitOf = (path: string) => document.paths[path]!.get!.parameters!.find((p) => p.name === 'limit')!.schema;
    expect(limitOf('/v1/sessions')).toMatchObject({ minimum: 1, maximum: 100, default: 20 });
    expect(limitOf('/v1/sessions/{id}/messages')).toMatchObject({ minimum: 1, maximum: 500, default: 100 });
    expect(limitOf('/v1/sessions/{id}/events')).toMatchObject({ minimum: 1, maximum: 500, default: 100 });
    expect(document.components).toMatchObject({ securitySchemes: { relayToken: { type: 'http', scheme: 'bearer' } } });
  });
});
