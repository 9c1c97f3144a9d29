import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { QUEUES, type QueueKey } from '#shared/queues/catalog';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { redis, track, reset, close } = integrationResources();
let config: Config;

afterEach(() => reset(config.queuePrefix));
afterAll(close);

async function startWorker(overrides: Record<string, string>) {
  config = testConfig(overrides);
  const [worker] = track(await buildWorkerApp({ config, logger: silentLogger() }));
  await worker.ready();
  return worker;
}

/** How many BullMQ workers consume each catalog queue, as Redis sees their connections. */
async function consumers(): Promise<Record<QueueKey, number>> {
  const counts = await Promise.all(
    Object.entries(QUEUES).map(async ([key, definition]) => {
      const queue = new Queue(definition.name, { connection: redis, prefix: config.queuePrefix });
      const count = await queue.getWorkersCount();
      await queue.close();
      return [key, count] as const;
    }),
  );
  return Object.fromEntries(counts) as Record<QueueKey, number>;
}

const metricNames = async (app: FastifyInstance) => (await app.metrics.getMetricsAsJSON()).map((metric) => metric.name);

describe('a worker given WORKER_QUEUES', () => {
  it('runs the live lane alone without Postgres: no pool, no Postgres readiness check, no outbox', async () => {
    const app = await startWorker({ WORKER_QUEUES: 'live', DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable' });
    await waitFor(async () => (await consumers()).live === 1);
    expect(await consumers()).toEqual({ events: 0, live: 1, tools: 0, notifications: 0 });
    expect(app.hasDecorator('db')).toBe(false);
    expect(app.hasDecorator('outbox')).toBe(false);

    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready', checks: { redis: 'ok' } });
    const names = await metricNames(app);
    expect(names).not.toContain('vapi_relay_outbox_lag_seconds');
    expect(names).not.toContain('vapi_relay_notification_attempts_total');
  });

  it('runs the durable lane (events, notifications) with Postgres and the outbox, and nothing else', async () => {
    const app = await startWorker({ WORKER_QUEUES: 'events, notifications' });
    await waitFor(async () => (await consumers()).events === 1 && (await consumers()).notifications === 1);
    expect(await consumers()).toEqual({ events: 1, live: 0, tools: 0, notifications: 1 });
    expect(app.hasDecorator('outbox')).toBe(true);
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', checks: { redis: 'ok', postgres: 'ok' } });
    expect(await metricNames(app)).toEqual(expect.arrayContaining(['vapi_relay_outbox_lag_seconds', 'vapi_relay_notification_attempts_total']));
  });

  it('dispatches the outbox where tools run, since a tool call writes relay events', async () => {
    const app = await startWorker({ WORKER_QUEUES: 'tools' });
    await waitFor(async () => (await consumers()).tools === 1);
    expect(await consumers()).toEqual({ events: 0, live: 0, tools: 1, notifications: 0 });
    expect(app.hasDecorator('outbox')).toBe(true);
    expect(await metricNames(app)).not.toContain('vapi_relay_notification_attempts_total');
  });

  it('consumes every queue when WORKER_QUEUES is unset, as npm start does', async () => {
    await startWorker({});
    await waitFor(async () => Object.values(await consumers()).every((count) => count === 1));
  });
});
