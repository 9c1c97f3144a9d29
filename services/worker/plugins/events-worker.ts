import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkerConfig } from '#shared/config';
import { eventRetryDelay, eventsQueue } from '#shared/queues/events-queue';
import { createEventProcessor } from '../lib/event-processor.ts';
import { registerQueueWorker } from '../lib/queue-worker.ts';

/** Consumes `vapi-events`: each event stored in one transaction, its side effects left to the outbox. */
export const eventsWorkerPlugin = fp(
  async (app: FastifyInstance, { config }: { config: WorkerConfig }) => {
    const processEvent = createEventProcessor({ db: app.db, cipher: app.cipher, onOutbox: () => app.outbox.kick() });
    registerQueueWorker(
      app,
      {
        queue: eventsQueue,
        concurrency: config.workerConcurrency,
        settings: { backoffStrategy: (attemptsMade) => eventRetryDelay(attemptsMade) },
        handle: async (body, meta) => ({ outcome: await processEvent({ meta, body }) }),
      },
      config.queuePrefix,
    );
  },
  { name: 'events-worker', dependencies: ['database', 'cipher', 'outbox', 'metrics'] },
);
