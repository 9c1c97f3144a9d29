import type { Queue } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '#shared/config';
import { createEventsQueue, type EventJob } from '#shared/queues';
import { createRedis, waitUntilReady } from '#shared/redis';
import { createEventIntake, type EnqueueEvent } from '../lib/event-intake';

declare module 'fastify' {
  interface FastifyInstance {
    eventsQueue: Queue<EventJob>;
    /** Makes an event durable or rejects in bounded time; see event-intake.ts. */
    enqueueEvent: EnqueueEvent;
  }
}

/**
 * The producer side of the events queue, on a fail-fast connection: when Redis is gone an event
 * is refused at once and the webhook answers 503 rather than hanging until Vapi times out.
 */
export const eventsQueuePlugin = fp(
  async (app: FastifyInstance, { config }: { config: Config }) => {
    const redis = createRedis(config.redisUrl, 'producer', app.log);
    const queue = createEventsQueue(redis, config.queuePrefix);
    queue.on('error', (error) => app.log.error({ err: error }, 'events queue error'));
    app.decorate('eventsQueue', queue);
    app.decorate('enqueueEvent', createEventIntake(queue, redis));
    app.addReadinessCheck('redis', () => redis.ping());
    // Start with the connection up when Redis is there; when it is not, start anyway and answer 503.
    app.addHook('onReady', async () => {
      if (!(await waitUntilReady(redis))) app.log.warn('Redis is not reachable yet; webhooks get 503 until it is');
    });
    app.addHook('onClose', async () => {
      await queue.close();
      redis.disconnect();
    });
  },
  { name: 'events-queue', dependencies: ['health'] },
);
