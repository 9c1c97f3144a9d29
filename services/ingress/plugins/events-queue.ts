import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '#shared/config';
import { createEventsQueue, type EventJob } from '#shared/queues';
import { createRedis } from '#shared/redis';

declare module 'fastify' {
  interface FastifyInstance {
    eventsQueue: Queue<EventJob>;
  }
}

/**
 * The producer side of the events queue, on a fail-fast connection: when Redis is gone an add
 * rejects at once and the webhook answers 503 rather than hanging until Vapi times out.
 */
export const eventsQueuePlugin = fp(
  async (app: FastifyInstance, { config }: { config: Config }) => {
    const redis = createRedis(config.redisUrl, 'producer', app.log);
    const queue = createEventsQueue(redis, config.queuePrefix);
    queue.on('error', (error) => app.log.error({ err: error }, 'events queue error'));
    app.decorate('eventsQueue', queue);
    app.addReadinessCheck('redis', () => redis.ping());
    app.addHook('onClose', async () => {
      await queue.close();
      redis.disconnect();
    });
  },
  { name: 'events-queue', dependencies: ['health'] },
);
