import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { QUEUES, type QueueKey } from '../queues/catalog';
import type { JobData, MetaOf } from '../queues/definition';

export type CatalogQueues = { [K in QueueKey]: Queue<JobData<MetaOf<(typeof QUEUES)[K]>>> };

declare module 'fastify' {
  interface FastifyInstance {
    /** Producer handles on every queue of the catalog, on the fail-fast connection. */
    queues: CatalogQueues;
  }
}

/** Opens a producer `Queue` for each catalog entry, with the catalog's job options. */
export const queuesPlugin = fp(
  async (app: FastifyInstance, { prefix }: { prefix: string }) => {
    const queues = Object.fromEntries(
      Object.entries(QUEUES).map(([key, definition]) => {
        const queue = new Queue(definition.name, { connection: app.redis.producer, prefix, defaultJobOptions: definition.options });
        queue.on('error', (error) => app.log.error({ err: error, queue: definition.name }, 'queue error'));
        return [key, queue];
      }),
    ) as CatalogQueues;
    app.decorate('queues', queues);
    app.addHook('onClose', async () => {
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
    });
  },
  { name: 'queues', dependencies: ['redis'] },
);
