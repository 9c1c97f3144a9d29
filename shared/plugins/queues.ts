import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { redisErrorHandler, type RedisClient } from '../redis.ts';
import { Gauge } from 'prom-client';
import { withDeadline } from '../deadline.ts';
import { QUEUES, type QueueKey } from '../queues/catalog.ts';
import { withQueueTelemetry } from '../tracing.ts';
import type { JobData, MetaOf } from '../queues/definition.ts';

export type CatalogQueues = { [K in QueueKey]: Queue<JobData<MetaOf<(typeof QUEUES)[K]>>> };

declare module 'fastify' {
  interface FastifyInstance {
    /** Producer handles on every queue of the catalog, on the fail-fast connection. */
    queues: CatalogQueues;
  }
}

/** A `Queue` for each catalog entry on one connection, with the catalog's job options; errors go to `onError`. */
export function openCatalogQueues(connection: RedisClient, prefix: string, onError: (error: Error, queue: string) => void): CatalogQueues {
  return Object.fromEntries(
    Object.entries(QUEUES).map(([key, definition]) => {
      const queue = new Queue(definition.name, { connection, prefix, defaultJobOptions: definition.options, ...withQueueTelemetry() });
      queue.on('error', (error) => onError(error, definition.name));
      return [key, queue];
    }),
  ) as CatalogQueues;
}

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed'] as const;

/**
 * Queue depth by state (the failed set is the dead letters) and the age of the oldest waiting job,
 * read from Redis when Prometheus scrapes; a Redis that does not answer leaves them out.
 */
function registerQueueGauges(app: FastifyInstance, queues: CatalogQueues) {
  const each = Object.values(queues) as Queue[];
  new Gauge({
    name: 'vapi_relay_queue_jobs',
    help: 'Jobs per queue and state; state="failed" is the dead-letter set',
    labelNames: ['queue', 'state'],
    registers: [app.metrics],
    async collect() {
      const counts = await Promise.all(each.map((queue) => withDeadline(queue.getJobCounts(...STATES), SCRAPE_DEADLINE_MS, 'queue depth').catch(() => null)));
      each.forEach((queue, i) => STATES.forEach((state) => counts[i] && this.set({ queue: queue.name, state }, counts[i][state] ?? 0)));
    },
  });
  new Gauge({
    name: 'vapi_relay_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting for a worker, per queue (0 when none waits)',
    labelNames: ['queue'],
    registers: [app.metrics],
    async collect() {
      const oldest = await Promise.all(each.map((queue) => withDeadline(queue.getJobs(['waiting'], 0, 0, true), SCRAPE_DEADLINE_MS, 'oldest job').catch(() => null)));
      each.forEach((queue, i) => {
        if (!oldest[i]) return;
        const job = oldest[i][0];
        this.set({ queue: queue.name }, job ? Math.max(0, (Date.now() - job.timestamp) / 1000) : 0);
      });
    },
  });
}

/** How long a scrape waits for Redis before leaving the queue gauges out. */
const SCRAPE_DEADLINE_MS = 1_000;

/** Opens the catalog's queues on the fail-fast producer connection. */
export const queuesPlugin = fp(
  async (app: FastifyInstance, { prefix }: { prefix: string }) => {
    const queues = openCatalogQueues(app.redis.producer, prefix, (error, queue) => redisErrorHandler(app.redis.target, app.log, { queue }, 'queue error')(error));
    app.decorate('queues', queues);
    registerQueueGauges(app, queues);
    app.addHook('onClose', async () => {
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
    });
  },
  { name: 'queues', dependencies: ['redis', 'metrics'] },
);
