import { UnrecoverableError, Worker, type Job } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Histogram } from 'prom-client';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { eventJobSchema, QUEUE_NAMES, type EventJob } from '#shared/queues';
import { createRedis, waitUntilReady } from '#shared/redis';
import { createEventProcessor } from '../lib/event-processor';
import { toJobError } from '../lib/job-error';
import { createRelayPublisher } from '../lib/relay-publisher';

declare module 'fastify' {
  interface FastifyInstance {
    eventsWorker: Worker<EventJob>;
  }
}

/**
 * Consumes `vapi-events`: validates each job, stores it through the event processor, and publishes
 * its relay events. Closing the app lets active jobs finish before the connections go.
 */
export const eventsWorkerPlugin = fp(
  async (app: FastifyInstance, { config }: { config: Config }) => {
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    const connection = createRedis(config.redisUrl, 'worker', app.log);
    // Fail-fast: a publish must never hold a job slot while Redis reconnects.
    const publisher = createRedis(config.redisUrl, 'producer', app.log);
    const processEvent = createEventProcessor({
      db: app.db,
      cipher,
      publish: createRelayPublisher(publisher, cipher, config.queuePrefix, app.log),
    });
    const processed = new Counter({
      name: 'vapi_relay_events_processed_total',
      help: 'Events processed by type and outcome',
      labelNames: ['type', 'outcome'],
      registers: [app.metrics],
    });
    const duration = new Histogram({
      name: 'vapi_relay_event_processing_seconds',
      help: 'Time to store one event',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [app.metrics],
    });

    const worker = new Worker<EventJob>(
      QUEUE_NAMES.events,
      async (job: Job<EventJob>) => {
        const parsed = eventJobSchema.safeParse(job.data);
        if (!parsed.success) throw new UnrecoverableError(`Job ${job.id} does not hold an event job`);
        const stop = duration.startTimer();
        const outcome = await processEvent(parsed.data).catch((error: unknown) => {
          throw toJobError(error);
        });
        stop();
        processed.inc({ type: parsed.data.type, outcome });
        app.log.info({ eventId: parsed.data.eventId, callId: parsed.data.callId, type: parsed.data.type, outcome, attempt: job.attemptsMade + 1 }, 'event');
        return outcome;
      },
      { connection, prefix: config.queuePrefix, concurrency: config.workerConcurrency },
    );
    worker.on('error', (error) => app.log.error({ err: error }, 'events worker error'));
    worker.on('failed', (job, error) => {
      processed.inc({ type: job?.data.type ?? 'unknown', outcome: 'failed' });
      app.log.error({ err: error, eventId: job?.data.eventId, type: job?.data.type, attempt: job?.attemptsMade }, 'event failed');
    });
    app.decorate('eventsWorker', worker);
    app.addReadinessCheck('redis', () => publisher.ping());
    app.addHook('onReady', async () => {
      if (!(await waitUntilReady(publisher))) app.log.warn('Redis is not reachable yet; relay events wait in the outbox');
    });
    app.addHook('onClose', async () => {
      await worker.close();
      connection.disconnect();
      publisher.disconnect();
    });
  },
  { name: 'events-worker', dependencies: ['database', 'metrics', 'health'] },
);
