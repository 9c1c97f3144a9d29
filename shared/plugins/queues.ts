import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { redisErrorHandler, type RedisClient } from '../redis.ts';
import { withDeadline } from '../deadline.ts';
import { registerQueueGauges, type QueueFigures } from '../http/metrics.ts';
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
 * The queue gauges' figures, read from Redis when Prometheus scrapes; a Redis that does not answer
 * in time leaves them out.
 */
function queueFigures(queues: CatalogQueues): QueueFigures {
  const each = Object.values(queues) as Queue[];
  const perQueue = async <T>(read: (queue: Queue) => Promise<T>, what: string) => {
    const values = await Promise.all(each.map((queue) => withDeadline(read(queue), SCRAPE_DEADLINE_MS, what).catch(() => null)));
    return each.map((queue, i) => ({ queue: queue.name, value: values[i] ?? null }));
  };
  return {
    jobs: () =>
      perQueue(async (queue) => {
        const counts = await queue.getJobCounts(...STATES);
        return Object.fromEntries(STATES.map((state) => [state, counts[state] ?? 0]));
      }, 'queue depth'),
    oldestWaitingSeconds: () =>
      perQueue(async (queue) => {
        const [job] = await queue.getJobs(['waiting'], 0, 0, true);
        return job ? Math.max(0, (Date.now() - job.timestamp) / 1000) : 0;
      }, 'oldest job'),
  };
}

/** How long a scrape waits for Redis before leaving the queue gauges out. */
const SCRAPE_DEADLINE_MS = 1_000;

/** Opens the catalog's queues on the fail-fast producer connection. */
export const queuesPlugin = fp(
  async (app: FastifyInstance, { prefix }: { prefix: string }) => {
    const queues = openCatalogQueues(app.redis.producer, prefix, (error, queue) =>
      redisErrorHandler(app.redis.target, app.log, { queue }, 'queue error')(error),
    );
    app.decorate('queues', queues);
    registerQueueGauges(app.metrics, queueFigures(queues));
    app.addHook('onClose', async () => {
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
    });
  },
  { name: 'queues', dependencies: ['redis', 'metrics'] },
);
