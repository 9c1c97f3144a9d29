import { randomUUID } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { freePort } from '../faults/private-services.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';

const { track, closeApps, close } = integrationResources();
const spoolDirs: string[] = [];

/** A ready ingress whose Redis is gone: a closed port of 127.0.0.1. */
async function startWithoutRedis(overrides: Record<string, string> = {}) {
  const config = testConfig({ REDIS_URL: `redis://127.0.0.1:${await freePort()}`, ...overrides });
  spoolDirs.push(config.spool.dir);
  const [app] = track(await buildIngressApp({ config, logger: silentLogger() }));
  await app.ready();
  return { app, config };
}

afterEach(async () => {
  await closeApps();
  for (const dir of spoolDirs.splice(0)) await rm(dir, { recursive: true, force: true });
});
afterAll(() => close());

const readiness = async (app: FastifyInstance) => {
  const response = await app.inject({ url: '/readyz' });
  return { status: response.statusCode, body: response.json() as unknown };
};

const post = (app: FastifyInstance, message: Record<string, unknown>) => {
  const raw = JSON.stringify({ message: { timestamp: Date.now(), call: { id: randomUUID() }, ...message } });
  return app.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
};

describe('readiness with Redis gone', () => {
  it('is ready while the spool takes events, and not once its directory cannot be written; ready again when it can', async () => {
    const { app, config } = await startWithoutRedis();
    expect(await readiness(app)).toEqual({ status: 200, body: { status: 'ready', checks: { durable: 'ok' } } });

    // The directory is gone and a file stands in its place: nothing can be created there (even by root).
    await rm(config.spool.dir, { recursive: true, force: true });
    await writeFile(config.spool.dir, '');
    expect(await readiness(app)).toEqual({ status: 503, body: { status: 'unavailable', checks: { durable: 'unavailable' } } });
    // What the load balancer is spared: every webhook would have been refused.
    expect((await post(app, { type: 'status-update', status: 'in-progress' })).statusCode).toBe(503);

    await rm(config.spool.dir, { force: true });
    await mkdir(config.spool.dir);
    expect(await readiness(app)).toEqual({ status: 200, body: { status: 'ready', checks: { durable: 'ok' } } });
    expect((await post(app, { type: 'status-update', status: 'in-progress' })).statusCode).toBe(200);
  });

  it('is not ready once the spool is nearly full', async () => {
    const { app } = await startWithoutRedis({ SPOOL_MAX_BYTES: String(1024 * 1024) });
    // One report whose sealed job takes most of the 1 MiB spool, past the 90 % that readiness allows.
    const report = await post(app, { type: 'end-of-call-report', endedReason: 'customer-ended-call', summary: 'x'.repeat(720_000) });
    expect(report.statusCode).toBe(200);
    expect(await readiness(app)).toEqual({ status: 503, body: { status: 'unavailable', checks: { durable: 'unavailable' } } });
  });
});
