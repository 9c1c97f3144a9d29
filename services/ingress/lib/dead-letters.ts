import type { Job, Queue } from 'bullmq';
import type { Database } from '#shared/db/client';
import { adminActions } from '#shared/db/schema';
import type { CatalogQueues } from '#shared/plugins/queues';
import { LegacySealError, TamperedJobError, type JobCodec } from '#shared/queues/codec';
import { QUEUES, type QueueKey } from '#shared/queues/catalog';
import type { JobData, QueueDefinition } from '#shared/queues/definition';

/** What operators filter dead letters by; every field optional. */
export interface DeadLetterFilter {
  queue?: QueueKey | undefined;
  /** Job name, which is the event type (or the tool's name, the notification's type). */
  type?: string | undefined;
  /** Substring of the last error. */
  error?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  ids?: string[] | undefined;
}

/** One dead letter as operators see it: its clear fields, never its sealed payload. */
export interface DeadLetter {
  queue: QueueKey;
  id: string;
  name: string;
  /** The call, chat or session it belongs to. */
  sessionId: string | null;
  attempts: number;
  error: string;
  failedAt: string | null;
  /** False for tool calls past their deadline: the caller hung up long ago. */
  replayable: boolean;
}

/** How many failed jobs per queue a listing reads at most (newest first). */
const SCAN_LIMIT = 1_000;

type AnyJob = Job<JobData<Record<string, unknown>>>;

const sessionOf = (data: Record<string, unknown>) => {
  const id = data.callId ?? data.sessionId;
  return typeof id === 'string' ? id : null;
};

/** A tool job is worth replaying only while its caller can still hear the answer. */
const replayable = (queue: QueueKey, job: AnyJob) => queue !== 'tools' || typeof job.data.deadline !== 'number' || job.data.deadline > Date.now();

function describe(queue: QueueKey, job: AnyJob): DeadLetter {
  return {
    queue,
    id: job.id!,
    name: job.name,
    sessionId: sessionOf(job.data),
    attempts: job.attemptsMade,
    error: job.failedReason,
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    replayable: replayable(queue, job),
  };
}

/**
 * A dead letter's payload as an operator sees it: opened, with how it was sealed (`bound`, or
 * `legacy` for an earlier version's job), or, for one that does not open, why: `tampered` (altered
 * in Redis after it was sealed) or `expired` (an earlier version's, past the upgrade window).
 */
function openForOperator(codec: JobCodec, queue: QueueKey, job: AnyJob) {
  try {
    const { payload, legacy } = codec.open(QUEUES[queue] as QueueDefinition<Record<string, unknown>, unknown, unknown>, job.data);
    return { seal: legacy ? 'legacy' : 'bound', payload };
  } catch (error) {
    if (error instanceof TamperedJobError) return { seal: 'tampered', payload: null, problem: error.message };
    if (error instanceof LegacySealError) return { seal: 'expired', payload: null, problem: error.message };
    throw error;
  }
}

const matches = (filter: DeadLetterFilter, job: AnyJob) =>
  (!filter.type || job.name === filter.type) &&
  (!filter.error || job.failedReason?.toLowerCase().includes(filter.error.toLowerCase())) &&
  (!filter.since || (job.finishedOn ?? 0) >= filter.since.getTime()) &&
  (!filter.until || (job.finishedOn ?? 0) <= filter.until.getTime()) &&
  (!filter.ids || filter.ids.includes(job.id!));

/**
 * The dead-letter sets of the catalog's queues (a job that exhausted its attempts, or failed for
 * good, stays in its queue's failed set), read and acted on the same way by the admin API and
 * `npm run dlq`. Every replay, purge and read of a payload is recorded in `admin_actions`.
 */
export function createDeadLetters(queues: CatalogQueues, db: Database, codec: JobCodec) {
  async function find(filter: DeadLetterFilter): Promise<{ queue: QueueKey; job: AnyJob }[]> {
    const keys = filter.queue ? [filter.queue] : (Object.keys(QUEUES) as QueueKey[]);
    const found = await Promise.all(
      keys.map(async (queue) => {
        const jobs = (await (queues[queue] as unknown as Queue).getFailed(0, SCAN_LIMIT - 1)) as AnyJob[];
        return jobs.filter((job) => job && matches(filter, job)).map((job) => ({ queue, job }));
      }),
    );
    return found.flat().sort((a, b) => (b.job.finishedOn ?? 0) - (a.job.finishedOn ?? 0));
  }

  const audit = (action: string, filter: DeadLetterFilter, jobIds: string[], actorIp: string) =>
    db.insert(adminActions).values({
      action,
      queue: filter.queue ?? null,
      jobIds,
      filter: { ...filter, since: filter.since?.toISOString(), until: filter.until?.toISOString() },
      affected: jobIds.length,
      actorIp,
    });

  return {
    async list(filter: DeadLetterFilter): Promise<DeadLetter[]> {
      return (await find(filter)).map(({ queue, job }) => describe(queue, job));
    },

    /** One dead letter with its payload opened (or why it cannot be): for the admin caller only, and the access recorded. */
    async show(queue: QueueKey, id: string, actorIp: string) {
      const job = (await (queues[queue] as unknown as Queue).getJob(id)) as AnyJob | undefined;
      if (!job) return null;
      await audit('show', { queue, ids: [id] }, [id], actorIp);
      return { ...describe(queue, job), state: await job.getState(), ...openForOperator(codec, queue, job) };
    },

    /** Puts dead letters back with their attempt count reset, so each gets its full retry budget. */
    async replay(filter: DeadLetterFilter, actorIp: string) {
      const found = await find(filter);
      const replayed: string[] = [];
      const skipped: { id: string; reason: string }[] = [];
      for (const { queue, job } of found) {
        if (!replayable(queue, job)) {
          skipped.push({ id: job.id!, reason: 'a tool call past its deadline: the caller is no longer waiting' });
          continue;
        }
        await job.retry('failed', { resetAttemptsMade: true });
        replayed.push(job.id!);
      }
      await audit('replay', filter, replayed, actorIp);
      return { replayed: replayed.length, ids: replayed, skipped };
    },

    async purge(filter: DeadLetterFilter, actorIp: string) {
      const found = await find(filter);
      for (const { job } of found) await job.remove();
      const ids = found.map(({ job }) => job.id!);
      await audit('purge', filter, ids, actorIp);
      return { purged: ids.length, ids };
    },
  };
}

export type DeadLetters = ReturnType<typeof createDeadLetters>;
