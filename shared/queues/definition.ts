import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/**
 * One queue of the catalog: its name, the fields a job keeps in clear (ids and types for routing,
 * logs, the dashboard and the dead-letter list, never health data), and its job options. What the
 * job carries beyond those fields travels sealed (see codec.ts), and so does its return value.
 */
export interface QueueDefinition<Meta extends Record<string, unknown>, Payload, Result = void> {
  name: string;
  /** What the queue is for, shown to operators. */
  description: string;
  meta: z.ZodType<Meta>;
  options: JobsOptions;
  /** Phantom fields: the payload and result types, for producers and handlers. */
  readonly payload?: Payload;
  readonly result?: Result;
}

/** The data of every job in Redis: its clear fields plus the sealed payload. */
export type JobData<Meta> = Meta & { sealed: string };

export type MetaOf<Q> = Q extends QueueDefinition<infer M, unknown, unknown> ? M : never;

export function defineQueue<Meta extends Record<string, unknown>, Payload, Result = void>(
  definition: Omit<QueueDefinition<Meta, Payload, Result>, 'payload' | 'result'>,
): QueueDefinition<Meta, Payload, Result> {
  return definition;
}

/** The schema a worker validates `job.data` with before doing anything else. */
export const jobDataSchema = <Meta extends Record<string, unknown>>(definition: QueueDefinition<Meta, unknown, unknown>) =>
  z.intersection(definition.meta, z.object({ sealed: z.string().min(1) }));
