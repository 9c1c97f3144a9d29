import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Histogram } from 'prom-client';
import type { WorkerConfig } from '#shared/config';
import { eventRetryDelay, eventsQueue } from '#shared/queues/events-queue';
import { createEventProcessor } from '../lib/event-processor.ts';
import { toJobError } from '../lib/job-error.ts';
import { registerQueueWorker } from '../lib/queue-worker.ts';

/** Consumes `vapi-events`: the jobs held at once stored in one transaction (group commit), their side effects left to the outbox. */
export const eventsWorkerPlugin = fp(
  async (app: FastifyInstance, { config }: { config: WorkerConfig }) => {
    const batchSize = new Histogram({
      name: 'vapi_relay_event_batch_size',
      help: 'Events stored per transaction by the events worker (group commit)',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers: [app.metrics],
    });
    const splits = new Counter({
      name: 'vapi_relay_event_batch_splits_total',
      help: 'Batches of events that failed and were stored again event by event',
      registers: [app.metrics],
    });
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
