import type { JobsOptions } from 'bullmq';

/**
 * How long Redis keeps what it holds, gathered in one place (docs/storage.md, "Retention", lists
 * them): every queue's job options, the ingress's dedup markers and the call bindings read from
 * here. Postgres's periods are the RETENTION_* variables (services/worker/lib/retention.ts).
 */

const HOUR_S = 3600;
const DAY_S = 24 * HOUR_S;

/** Failed jobs: the dead-letter set operators replay or purge from (`npm run dlq`). */
export const DEAD_LETTER_AGE_S = 14 * DAY_S;

/** Completed jobs of each queue that keeps them, kept for operators this long and at most this many. */
export const COMPLETED_AGE_S = { events: HOUR_S, tools: 10 * 60, notifications: 7 * DAY_S } as const;
const COMPLETED_KEPT = 10_000;

/** `removeOnComplete` and `removeOnFail` of a queue that keeps its jobs for a while. */
export const keptJobs = (queue: keyof typeof COMPLETED_AGE_S): Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> => ({
  removeOnComplete: { age: COMPLETED_AGE_S[queue], count: COMPLETED_KEPT },
  removeOnFail: { age: DEAD_LETTER_AGE_S },
});

/** The live lane keeps nothing: a late partial is worse than none. */
export const UNKEPT_JOBS = { removeOnComplete: true, removeOnFail: true } as const satisfies JobsOptions;

/** How long a delivered event is remembered as seen by the ingress: longer than Vapi's longest retry schedule (~3 h). */
export const DEDUP_WINDOW_S = 6 * HOUR_S;

/** How long a call → patient binding outlives the last durable event of its call. */
export const CALL_BINDING_TTL_S = 6 * HOUR_S;
