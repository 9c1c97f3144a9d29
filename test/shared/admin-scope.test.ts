import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { buildRelayApp } from '../../services/relay/app.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { adminState, adminTargets, bodyFor, sendEverySpelling, startSeededIngress, type SeededJobs } from '../helpers/admin-surface.ts';
import { silentLogger } from '../helpers/config.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { integrationResources } from '../helpers/resources.ts';

const resources = integrationResources();
const { handle, track, reset, close } = resources;
let config: Config;
let ingress: FastifyInstance;
let seeded: SeededJobs;

const bearer = () => ({ authorization: `Bearer ${config.adminToken}` });
const portOf = (app: FastifyInstance) => (app.server.address() as AddressInfo).port;

beforeEach(async () => {
  ({ config, ingress, seeded } = await startSeededIngress(resources));
});
afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('the admin scope', () => {
  it('answers every spelling of every admin route with 401, 404 or 400 without the token, and nothing is read or changed', async () => {
    const targets = adminTargets(ingress, seeded);
    // The router's own list: the operators' API, bull-board's page and API (its mutating routes among them).
    expect(targets).toEqual(
      expect.arrayContaining([
        { method: 'GET', path: '/admin/dlq' },
        { method: 'PUT', path: '/admin/queues/api/queues/vapi-events/empty' },
        { method: 'POST', path: '/admin/dlq/purge' },
      ]),
    );
    const before = await adminState(ingress.queues, handle);

    const port = portOf(ingress);
    const { sent, unexpected } = await sendEverySpelling(port, targets, [400, 401, 404]);
    expect(sent).toBeGreaterThan(targets.length * 30);
    expect(unexpected).toEqual([]);
    // The spellings the router resolves to a route are refused by the scope itself, not by luck, and a wrong token is no token.
    const wrong = { authorization: `Basic ${Buffer.from('ops:wrong-token').toString('base64')}` };
    for (const { method, path } of targets) {
      for (const target of [path, path.replace('/admin', '/%61dmin'), `http://x${path}`]) {
        for (const headers of [{}, wrong]) {
          const { status } = await rawRequest(port, { method, target, headers, body: bodyFor(method) });
          expect(status, `${method} ${target}`).toBe(401);
        }
      }
    }
    expect(await adminState(ingress.queues, handle)).toEqual(before);
    expect(before.auditEvents).toEqual([]);
  });

  it('asks for Basic credentials, and is the same 401 on the worker and the relay, which have no admin routes', async () => {
    const worker = await buildWorkerApp({ config, logger: silentLogger() });
    const relay = await buildRelayApp({ config, logger: silentLogger() });
    track(worker, relay);
    for (const app of [ingress, worker, relay]) {
      if (app !== ingress) await app.listen({ host: '127.0.0.1', port: 0 });
      for (const target of ['/admin/anything', '/%61dmin/dlq', 'http://x/admin/queues']) {
        const refused = await rawRequest(portOf(app), { target });
        expect(refused.status).toBe(401);
        expect(refused.headers['www-authenticate']).toMatch(/^Basic realm="vapi-relay admin"/);
        expect(JSON.parse(refused.body)).toEqual({ success: false, code: 'UNAUTHORIZED', message: expect.stringContaining('ADMIN_TOKEN') });
      }
      // With the token, an unmatched admin path is simply not there.
      expect((await rawRequest(portOf(app), { target: '/admin/anything', headers: bearer() })).status).toBe(404);
    }
  });

  it('refuses a state-changing request from another origin even with the token, and replays or purges nothing', async () => {
    const before = await adminState(ingress.queues, handle);
    const crossSite = [
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://localhost', 'sec-fetch-site': 'cross-site' },
    ];
    for (const url of ['/admin/dlq/replay', '/admin/dlq/purge']) {
      for (const headers of crossSite) {
        const refused = await ingress.inject({ method: 'POST', url, headers: { ...bearer(), ...headers }, payload: { all: true } });
        expect(refused.statusCode, `${url} ${JSON.stringify(headers)}`).toBe(403);
        expect(refused.json()).toEqual({ success: false, code: 'FORBIDDEN', message: expect.any(String) });
      }
    }
    // Reading is not a state change: a cross-site GET with the token is answered (CORS keeps its body from the other page).
    expect((await ingress.inject({ url: '/admin/dlq', headers: { ...bearer(), 'sec-fetch-site': 'cross-site' } })).statusCode).toBe(200);
    expect(await adminState(ingress.queues, handle)).toEqual(before);

    // The same requests from the admin's own page, or from a script that sends neither header, do their work.
    const sameOrigin = await ingress.inject({
      method: 'POST',
      url: '/admin/dlq/replay',
      headers: { ...bearer(), origin: 'http://localhost', 'sec-fetch-site': 'same-origin' },
      payload: { ids: [seeded.failedId] },
    });
    expect(sameOrigin.json()).toMatchObject({ replayed: 1 });
    const scripted = await ingress.inject({ method: 'POST', url: '/admin/dlq/purge', headers: bearer(), payload: { all: true } });
    expect(scripted.statusCode).toBe(200);
    expect((await adminState(ingress.queues, handle)).auditEvents.map((row) => row.action)).toEqual(['dead-letter.replay', 'dead-letter.purge']);
  });
});
