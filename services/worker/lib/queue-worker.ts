import { UnrecoverableError, Worker, type Job, type WorkerOptions } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { DecryptionError, UnknownKeyError } from '#shared/crypto';
import type { Opened } from '#shared/queues/codec';
import { jobDataSchema, type JobData, type QueueDefinition } from '#shared/queues/definition';
import { withQueueTelemetry } from '#shared/tracing';
import { metricType } from '#shared/vapi/message-types';
import { redisErrorHandler } from '#shared/redis';
import { jobMetrics } from '../metrics.ts';
import { toJobError } from './job-error.ts';

/** What a handler reports: an outcome for the log line and metrics, and the job's return value. */
export interface Handled<Result> {
  outcome: string;
  result?: Result;
}

export interface QueueWorkerSpec<Meta extends Record<string, unknown>, Payload, Result> {
  queue: QueueDefinition<Meta, Payload, Result>;
  concurrency: number;
  handle(payload: Payload, meta: Meta, job: Job<JobData<Meta>>): Promise<Handled<Result>>;
  /** BullMQ worker settings beyond the defaults (a custom backoff strategy, say). */
  settings?: WorkerOptions['settings'];
  /** Log each completed job at `info` (default) or `debug` (high-volume queues). */
  logLevel?: 'info' | 'debug';
  /** Job names fit for a metric label beyond Vapi's event types (the tools' names, the notification types); others count as `other`. */
  knownNames?: ReadonlySet<string>;
  /**
   * Why a job sealed by an earlier version, whose clear fields nothing vouches for, must not run
   * (undefined when it may): a queue whose clear fields decide where data goes checks them here.
   */
  refuseLegacy?(meta: Meta): string | undefined;
}

/**
 * Consumes one queue of the catalog: validates `job.data` against the catalog's schema, opens the
 * sealed payload, runs the handler, seals its result, and gives every queue the same metrics, log
 * line, error mapping (no health data in `failedReason`) and graceful close. A new queue is a handler.
 */
export function registerQueueWorker<Meta extends Record<string, unknown>, Payload, Result>(
  app: FastifyInstance,
  spec: QueueWorkerSpec<Meta, Payload, Result>,
  prefix: string,
): Worker<JobData<Meta>> {
  const { queue } = spec;
  const schema = jobDataSchema(queue);
  const metrics = jobMetrics(app.metrics);
  const logLevel = spec.logLevel ?? 'info';
  const nameLabel = (name: string | undefined) => (name !== undefined && spec.knownNames?.has(name) ? name : metricType(name));

  const open = (job: Job<JobData<Meta>>) => {
    const parsed = schema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`Job ${job.id} does not hold a ${queue.name} job`);
    const data = parsed.data as JobData<Meta>;
    let opened: Opened<Payload>;
    try {
      // The data as Redis holds it, not as parsed: a field added there breaks the seal too.
      opened = app.jobCodec.open(queue, job.data);
    } catch (error) {
      // A key on its way in a rotation heals; a tampered, foreign or expired seal never will.
      if (error instanceof UnknownKeyError) throw error;
      if (error instanceof DecryptionError) throw new UnrecoverableError(`Job ${job.id} cannot be read: ${error.message}`);
      // JSON's own message quotes the text it could not parse: the name only.
      if (error instanceof SyntaxError) throw new UnrecoverableError(`Job ${job.id} cannot be read: ${error.name}`);
      throw error;
    }
    const refused = opened.legacy ? spec.refuseLegacy?.(data) : undefined;
    if (refused) throw new UnrecoverableError(`Job ${job.id} sealed by an earlier version is refused: ${refused}`);
    return { data, payload: opened.payload };
  };

  async function run(job: Job<JobData<Meta>>) {
    const stop = metrics.duration.startTimer({ queue: queue.name });
    const { data, payload } = open(job);
    const { sealed, ...meta } = data as Record<string, unknown>;
    const handled = await spec.handle(payload, data, job);
    const seconds = stop();
    metrics.processed.inc({ queue: queue.name, name: nameLabel(job.name), outcome: handled.outcome });
    app.log[logLevel](
      { queue: queue.name, jobId: job.id, ...meta, outcome: handled.outcome, attempt: job.attemptsMade + 1, ms: Math.round(seconds * 1e4) / 10 },
      'job',
    );
    return handled.result === undefined ? undefined : app.jobCodec.sealResult(queue, job.id!, handled.result);
  }

  const worker = new Worker<JobData<Meta>>(
    queue.name,
    // Whatever fails is recorded through toJobError: BullMQ keeps the reason in Redis, where health data must not go.
    (job) =>
      run(job).catch((error: unknown) => {
        throw toJobError(error);
      }),
    // Job locks keep BullMQ's 30 s (and its 30 s stalled-job check): a frozen worker's jobs are taken
    // over within about a minute, and its row locks are gone after 5 s anyway (shared/db/client.ts),
    // which is what held the others up. Shorter would take live jobs from a worker whose event loop a
    // large event blocks for a while, and a job taken twice that way is failed for good.
    {
      connection: app.redis.worker,
      prefix,
      concurrency: spec.concurrency,
      ...(spec.settings ? { settings: spec.settings } : {}),
      ...withQueueTelemetry(),
    },
  );

  worker.on('error', redisErrorHandler(app.redis.target, app.log, { queue: queue.name }, 'worker error'));
  worker.on('failed', (job, error) => {
    metrics.processed.inc({ queue: queue.name, name: nameLabel(job?.name), outcome: 'failed' });
    if (job && job.attemptsMade < (job.opts.attempts ?? 1) && !(error instanceof UnrecoverableError)) metrics.retries.inc({ queue: queue.name });
    const { sealed, ...meta } = (job?.data ?? {}) as Record<string, unknown>;
    app.log.error({ err: error, queue: queue.name, jobId: job?.id, ...meta, attempt: job?.attemptsMade }, 'job failed');
  });
  app.addHook('onClose', async () => {
    await worker.close();
  });
  return worker;
}
