import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** This service's Prometheus registry; plugins register their own counters on it. */
    metrics: Registry;
  }
}

/** `GET /metrics` in Prometheus text format: process metrics plus whatever the service registers. */
export const metricsPlugin = fp(
  async (app: FastifyInstance, options: { service: string }) => {
    const registry = new Registry();
    registry.setDefaultLabels({ service: options.service });
    collectDefaultMetrics({ register: registry, prefix: 'vapi_relay_' });
    app.decorate('metrics', registry);
    app.get('/metrics', async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  },
  { name: 'metrics' },
);

/** Seals the job codec was told of, by queue and kind (job or result): of the earlier format, and altered in Redis. */
export const createSealMetrics = (registry: Registry) => ({
  legacyOpened: new Counter({
    name: 'vapi_relay_legacy_seals_opened_total',
    help: 'Jobs and results sealed by an earlier version (clear fields not bound) opened during the upgrade window',
    labelNames: ['queue', 'sealed'],
    registers: [registry],
  }),
  tampered: new Counter({
    name: 'vapi_relay_tampered_seals_total',
    help: 'Jobs and results refused because they were altered in Redis after they were sealed',
    labelNames: ['queue', 'sealed'],
    registers: [registry],
  }),
});

/** One queue's figures as read at scrape time; null when Redis did not answer in time (the queue is left out). */
type PerQueue<T> = { queue: string; value: T | null }[];

/** What the queue gauges read when Prometheus scrapes: jobs by state, and the age of the oldest waiting job. */
export interface QueueFigures {
  jobs(): Promise<PerQueue<Record<string, number>>>;
  oldestWaitingSeconds(): Promise<PerQueue<number>>;
}

/** Queue depth by state (the failed set is the dead letters) and the age of the oldest waiting job. */
export function registerQueueGauges(registry: Registry, figures: QueueFigures) {
  new Gauge({
    name: 'vapi_relay_queue_jobs',
    help: 'Jobs per queue and state; state="failed" is the dead-letter set',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      for (const { queue, value } of await figures.jobs()) {
        for (const [state, count] of Object.entries(value ?? {})) this.set({ queue, state }, count);
      }
    },
  });
  new Gauge({
    name: 'vapi_relay_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting for a worker, per queue (0 when none waits)',
    labelNames: ['queue'],
    registers: [registry],
    async collect() {
      for (const { queue, value } of await figures.oldestWaitingSeconds()) if (value !== null) this.set({ queue }, value);
    },
  });
}
