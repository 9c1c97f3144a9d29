import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { JobData, QueueDefinition } from '#shared/queues/definition';

/** A producer handle on one catalog queue under a test's prefix, as the services open it. */
export const openQueue = <M extends Record<string, unknown>>(definition: QueueDefinition<M, unknown, unknown>, redis: Redis, prefix: string) =>
  new Queue<JobData<M>>(definition.name, { connection: redis, prefix, defaultJobOptions: definition.options });
