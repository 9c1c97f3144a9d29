import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { jobDataSchema } from '#shared/queues/definition';
import { eventsQueue } from '#shared/queues/events-queue';
import { createEventIntake, createLiveIntake, type EnqueueLive, type EventIntake, type EventJob } from '../lib/event-intake.ts';
import { Spool, SpoolError } from '../lib/spool.ts';
import { registerSpoolGauges } from '../metrics.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Makes an event durable (queued or spooled, or says it was seen) or rejects; see event-intake.ts. */
    enqueueEvent: EventIntake['enqueue'];
    /** Hands a live-only event to the live lane, or rejects in bounded time. */
    enqueueLive: EnqueueLive;
  }
}

/** How often the spool is checked for events to move into the queue. */
const DRAIN_INTERVAL_MS = 500;
/** A spool this full, or this old, takes the ingress out of the load balancer: Redis has been gone too long. */
const SPOOL_READY_FILL = 0.9;
const SPOOL_READY_AGE_S = 3600;

/**
 * The ingress's two lanes into Redis, on the fail-fast producer connection, and the spool behind
 * the durable one. The ingress is ready while it can make events durable: Redis answers, or the
 * spool has room, is not too old, and can be written now (a directory gone or read-only, a full
 * disk). When neither can take an event every webhook gets 503, so the load balancer must stop
 * sending here.
 */
export const intakePlugin = fp(
  async (app: FastifyInstance, { spool: options }: { spool: { dir: string; maxBytes: number } }) => {
    const eventJob = jobDataSchema(eventsQueue);
    const spool = await Spool.open<EventJob>(options.dir, options.maxBytes, (value) => eventJob.parse(value));
    const redis = app.redis.producer;
    const intake = createEventIntake(app.queues.events, redis, spool, app.log);
    app.decorate('enqueueEvent', intake.enqueue);
    app.decorate('enqueueLive', createLiveIntake(app.queues.live, redis));
    if (spool.pending > 0) app.log.warn({ events: spool.pending, dir: options.dir }, 'events left in the spool by an earlier run: draining them');

    let draining = false;
    const drain = () => {
      if (draining || spool.pending === 0 || redis.status !== 'ready') return;
      draining = true;
      intake
        .drainSpool()
        .then((moved) => moved > 0 && app.log.info({ moved, left: spool.pending }, 'spooled events moved into the queue'))
        .catch((error: unknown) => app.log.warn({ err: error, left: spool.pending }, 'spool drain paused: Redis does not take events yet'))
        .finally(() => {
          draining = false;
        });
    };
    const timer = setInterval(drain, DRAIN_INTERVAL_MS);
    timer.unref();

    registerSpoolGauges(app.metrics, spool);

    app.addReadinessCheck('durable', async () => {
      try {
        await redis.ping();
      } catch (error) {
        const refused = `Redis does not answer (${(error as Error).message})`;
        if (!spool.hasRoom(options.maxBytes * (1 - SPOOL_READY_FILL))) throw new SpoolError(`${refused} and the spool is nearly full`);
        if (spool.ageSeconds() >= SPOOL_READY_AGE_S) throw new SpoolError(`${refused} and the spool has held events for over ${SPOOL_READY_AGE_S} s`);
        await spool.probe().catch((probe: unknown) => {
          throw new SpoolError(`${refused} and ${(probe as Error).message}`);
        });
      }
    });
    app.addHook('onClose', async () => {
      clearInterval(timer);
      await spool.close();
    });
  },
  { name: 'intake', dependencies: ['queues', 'redis', 'health', 'metrics'] },
);
