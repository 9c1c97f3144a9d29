import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createEventIntake, createLiveIntake, type EnqueueEvent, type EnqueueLive } from '../lib/event-intake.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Makes an event durable (or says it was seen) or rejects in bounded time; see event-intake.ts. */
    enqueueEvent: EnqueueEvent;
    /** Hands a live-only event to the live lane, or rejects in bounded time. */
    enqueueLive: EnqueueLive;
  }
}

/** The ingress's two lanes into Redis, on the fail-fast producer connection. */
export const intakePlugin = fp(
  async (app: FastifyInstance) => {
    app.decorate('enqueueEvent', createEventIntake(app.queues.events, app.redis.producer));
    app.decorate('enqueueLive', createLiveIntake(app.queues.live, app.redis.producer));
  },
  { name: 'intake', dependencies: ['queues', 'redis'] },
);
