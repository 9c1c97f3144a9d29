import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkerConfig } from '#shared/config';
import { liveQueue } from '#shared/queues/live-queue';
import { createLiveRelay } from '../lib/live-relay.ts';
import { registerQueueWorker } from '../lib/queue-worker.ts';

/** Live events are small and independent: many at once, so one slow publish never queues the rest. */
const LIVE_CONCURRENCY = 64;

/** Consumes `vapi-live`: partial transcripts and speech updates, published without touching Postgres. */
export const liveWorkerPlugin = fp(
  async (app: FastifyInstance, { config }: { config: WorkerConfig }) => {
    const relay = createLiveRelay({ redis: app.redis.producer, cipher: app.cipher, prefix: config.queuePrefix });
    registerQueueWorker(
      app,
      { queue: liveQueue, concurrency: LIVE_CONCURRENCY, logLevel: 'debug', handle: async (payload) => ({ outcome: await relay(payload) }) },
      config.queuePrefix,
    );
  },
  { name: 'live-worker', dependencies: ['redis', 'cipher', 'metrics'] },
);
