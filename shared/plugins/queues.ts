import { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import { QUEUES, type QueueKey } from '../queues/catalog';
import type { JobData, MetaOf } from '../queues/definition';

export type CatalogQueues = { [K in QueueKey]: Queue<JobData<MetaOf<(typeof QUEUES)[K]>>> };

declare module 'fastify' {
  interface FastifyInstance {
    /** Producer handles on every queue of the catalog, on the fail-fast connection. */
    queues: CatalogQueues;
  }
}

/** A `Queue` for each catalog entry on one connection, with the catalog's job options; errors go to `onError`. */
export function openCatalogQueues(connection: Redis, prefix: string, onError: (error: Error, queue: string) => void): CatalogQueues {
  return Object.fromEntries(
    Object.entries(QUEUES).map(([key, definition]) => {
      const queue = new Queue(definition.name, { connection, prefix, defaultJobOptions: definition.options });
      queue.on('error', (error) => onError(error, definition.name));
      return [key, queue];
    }),
  ) as CatalogQueues;
}

/** Opens the catalog's queues on the fail-fast producer connection. */
export const queuesPlugin = fp(
  async (app: FastifyInstance, { prefix }: { prefix: string }) => {
    const queues = openCatalogQueues(app.redis.producer, prefix, (error, queue) => app.log.error({ err: error, queue }, 'queue error'));
    app.decorate('queues', queues);
    app.addHook('onClose', async () => {
      await Promise.all(Object.values(queues).map((queue) => queue.close()));
    });
  },
  { name: 'queues', dependencies: ['redis'] },
);
