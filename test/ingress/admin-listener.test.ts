import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { adminState, adminTargets, bodyFor, sendEverySpelling, startSeededIngress, type SeededJobs } from '../helpers/admin-surface.ts';
import { rawRequest } from '../helpers/raw-http.ts';
import { integrationResources } from '../helpers/resources.ts';

const resources = integrationResources();
const { handle, reset, close } = resources;
let config: Config;
let ingress: FastifyInstance;
let seeded: SeededJobs;
let webhookPort: number;
let adminPort: number;

const bearer = () => ({ authorization: `Bearer ${config.adminToken}` });

beforeEach(async () => {
  ({ config, ingress, seeded } = await startSeededIngress(resources, { ADMIN_PORT: '0', ADMIN_HOST: '127.0.0.1' }));
  webhookPort = (ingress.server.address() as AddressInfo).port;
  adminPort = (ingress.adminListener!.server.address() as AddressInfo).port;
});
afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('ADMIN_PORT', () => {
  it('takes the admin scope off the webhook port: no spelling of any admin route reaches one there, with the token or without', async () => {
    const targets = adminTargets(ingress.adminListener!, seeded);
    expect(targets.length).toBeGreaterThan(40);
    const before = await adminState(ingress.queues, handle);
    for (const headers of [{}, bearer()]) expect((await sendEverySpelling(webhookPort, targets, [400, 404], headers)).unexpected).toEqual([]);
    expect(await adminState(ingress.queues, handle)).toEqual(before);
    // The webhook port still serves what it is for.
    expect((await rawRequest(webhookPort, { target: '/healthz' })).status).toBe(200);
  });

  it('serves the whole scope on the admin port: 401 for every spelling without the token, and working routes with it', async () => {
    const targets = adminTargets(ingress.adminListener!, seeded);
    const before = await adminState(ingress.queues, handle);
    expect((await sendEverySpelling(adminPort, targets, [400, 401, 404])).unexpected).toEqual([]);
    for (const { method, path } of targets)
      expect((await rawRequest(adminPort, { method, target: path, body: bodyFor(method) })).status, `${method} ${path}`).toBe(401);
    expect(await adminState(ingress.queues, handle)).toEqual(before);

    // Nothing but the admin scope is routed here.
    expect((await rawRequest(adminPort, { target: '/healthz' })).status).toBe(404);
    for (const { path } of targets.filter(({ method }) => method === 'GET')) {
      const { status } = await rawRequest(adminPort, { target: path, headers: bearer() });
      expect([200, 404], `GET ${path}`).toContain(status);
    }
    const listed = JSON.parse((await rawRequest(adminPort, { target: '/admin/dlq', headers: bearer() })).body) as { deadLetters: { id: string }[] };
    expect(listed.deadLetters.map((letter) => letter.id)).toEqual([seeded.failedId]);
    expect((await rawRequest(adminPort, { target: '/%61dmin/queues', headers: bearer() })).body).toContain('<html');
    const replay = await rawRequest(adminPort, {
      method: 'POST',
      target: '/admin/dlq/replay',
      headers: bearer(),
      body: JSON.stringify({ ids: [seeded.failedId] }),
    });
    expect(JSON.parse(replay.body)).toMatchObject({ replayed: 1 });
  });

  it('opens the admin listener with the ingress and closes it with the ingress', async () => {
    expect(ingress.adminListener!.server.listening).toBe(true);
    await ingress.close();
    expect(ingress.adminListener!.server.listening).toBe(false);
    await expect(rawRequest(adminPort, { target: '/admin/dlq', headers: bearer() })).rejects.toThrow(/ECONNREFUSED/);
  });
});
