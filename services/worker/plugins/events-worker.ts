import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkerConfig } from '#shared/config';
import { eventRetryDelay, eventsQueue } from '#shared/queues/events-queue';
import { createEventProcessor } from '../lib/event-processor.ts';
import { toJobError } from '../lib/job-error.ts';
import { registerQueueWorker } from '../lib/queue-worker.ts';
import { createEventBatchMetrics } from '../metrics.ts';

/** Consumes `vapi-events`: the jobs held at once stored in one transaction (group commit), their side effects left to the outbox. */
export const eventsWorkerPlugin = fp(
  async (app: FastifyInstance, { config }: { config: WorkerConfig }) => {
    const { batchSize, splits } = createEventBatchMetrics(app.metrics);
    const processEvent = createEventProcessor({
      db: app.db,
      cipher: app.cipher,
      onCommit: (committed) => app.outbox.handOff(committed),
      onBatch: (size) => batchSize.observe(size),
      onSplit: (error, size) => {
        splits.inc();
        app.log.warn({ reason: toJobError(error).message, size }, 'a batch of events failed; storing them one by one');
      },
    });
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
