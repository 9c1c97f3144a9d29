import type { Job, Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { recordAudit, type AuditAction } from '../audit.ts';
import type { Database } from '../db/client.ts';
import { notificationOutbox, vapiSessions } from '../db/schema.ts';
import type { CatalogQueues } from '../plugins/queues.ts';
import { jobSessionId, QUEUES, type QueueKey } from './catalog.ts';
import { LegacySealError, TamperedJobError, type JobCodec } from './codec.ts';
import type { JobData, QueueDefinition } from './definition.ts';
import { notificationJobId, notificationsQueue, type NotificationMeta } from './notifications-queue.ts';

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

/** Ids an operator named that are not dead letters (of the queue named, or of any): nothing was done. */
export class UnknownDeadLetterError extends Error {
  override name = 'UnknownDeadLetterError';
  constructor(
    readonly ids: string[],
    queue: QueueKey | undefined,
  ) {
    super(`no dead letter ${ids.join(', ')} in ${queue ? `queue ${queue}` : 'any queue'}`);
  }
}

export interface ReplayOptions {
  /**
   * Where a replayed notification goes: this one URL, re-sealed to it. Without it, the notification
   * goes back to the outbox, and the worker's dispatcher sends it to the NOTIFY_WEBHOOK_URL entries
   * it runs with then (skipping any that already have it), not to the endpoint first queued for.
   */
  endpoint?: string | undefined;
}

/** How many failed jobs per queue a listing reads at most (newest first). */
const SCAN_LIMIT = 1_000;

type AnyJob = Job<JobData<Record<string, unknown>>>;

/** A tool job is worth replaying only while its caller can still hear the answer. */
const replayable = (queue: QueueKey, job: AnyJob) => queue !== 'tools' || typeof job.data.deadline !== 'number' || job.data.deadline > Date.now();

function describe(queue: QueueKey, job: AnyJob): DeadLetter {
  return {
    queue,
    id: job.id!,
    name: job.name,
    sessionId: jobSessionId(job.data),
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
 * `npm run dlq`. Every replay, purge and read of a payload is recorded in `audit_events`, naming
 * each job touched by queue and id (`source`: the operator's IP, or `cli`).
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

  /** A dead letter as an audit row names it: by queue and id, never its payload. */
  const named = (queue: QueueKey, job: AnyJob) => `dead letter ${queue}/${job.id!}`;
  const audit = (action: AuditAction, what: string[], source: string, about: { sessionId?: string | null; patientId?: string | null } = {}) =>
    recordAudit(db, { actor: 'admin', action, what, source, ...about });
  const patientOf = async (sessionId: string | null) => {
    if (!sessionId) return null;
    const [session] = await db.select({ patientId: vapiSessions.patientId }).from(vapiSessions).where(eq(vapiSessions.id, sessionId));
    return session?.patientId ?? null;
  };

  /** The dead letters a replay or purge acts on; every id named must be one, or nothing is done. */
  async function findNamed(filter: DeadLetterFilter) {
    const found = await find(filter);
    const missing = (filter.ids ?? []).filter((id) => !found.some(({ job }) => job.id === id));
    if (missing.length > 0) throw new UnknownDeadLetterError(missing, filter.queue);
    return found;
  }

  /**
   * A notification is replayed to where it should go now: re-sealed to `endpoint`, or handed back
   * to the outbox for the worker to fan out to its current endpoints. Returns why not, if it cannot be.
   */
  async function replayNotification(job: Job<JobData<NotificationMeta>>, endpoint: string | undefined): Promise<string | undefined> {
    const { sealed: _sealed, ...meta } = job.data;
    if (endpoint) {
      let body;
      try {
        body = codec.open(notificationsQueue, job.data).payload;
      } catch (error) {
        if (error instanceof TamperedJobError || error instanceof LegacySealError) return `its payload does not open (${error.message})`;
        throw error;
      }
      await job.remove();
      await (queues.notifications as unknown as Queue).add(job.name, codec.seal(notificationsQueue, { ...meta, endpoint }, body), {
        ...notificationsQueue.options,
        jobId: notificationJobId(meta.notificationId, endpoint),
      });
      return undefined;
    }
    const [row] = await db.select({ id: notificationOutbox.id }).from(notificationOutbox).where(eq(notificationOutbox.id, meta.notificationId));
    if (!row) return 'its notification is no longer in the outbox (erased)';
    // Removed first: the dispatcher's job for the same endpoint carries the same id, and would be ignored beside it.
    await job.remove();
    await db.update(notificationOutbox).set({ dispatchedAt: null }).where(eq(notificationOutbox.id, meta.notificationId));
    return undefined;
  }

  return {
    async list(filter: DeadLetterFilter): Promise<DeadLetter[]> {
      return (await find(filter)).map(({ queue, job }) => describe(queue, job));
    },

    /** One dead letter with its payload opened (or why it cannot be): for the admin caller only, and the access recorded. */
    async show(queueNamed: QueueKey | undefined, id: string, actorIp: string) {
      const candidates = queueNamed ? [queueNamed] : (Object.keys(QUEUES) as QueueKey[]);
      let job: AnyJob | undefined;
      let queue: QueueKey | undefined;
      for (const key of candidates) {
        job = (await (queues[key] as unknown as Queue).getJob(id)) as AnyJob | undefined;
        queue = key;
        if (job) break;
      }
      if (!job || !queue) return null;
      const letter = describe(queue, job);
      await audit('dead-letter.show', [named(queue, job)], actorIp, { sessionId: letter.sessionId, patientId: await patientOf(letter.sessionId) });
      return { ...letter, state: await job.getState(), ...openForOperator(codec, queue, job) };
    },

    /**
     * Puts dead letters back with their attempt count reset, so each gets its full retry budget;
     * notifications go where `options` says (ReplayOptions). Throws UnknownDeadLetterError, doing
     * nothing, when an id named is not a dead letter.
     */
    async replay(filter: DeadLetterFilter, actorIp: string, options: ReplayOptions = {}) {
      const found = await findNamed(filter);
      const replayed: { queue: QueueKey; job: AnyJob }[] = [];
      const skipped: { id: string; reason: string }[] = [];
      for (const { queue, job } of found) {
        if (!replayable(queue, job)) {
          skipped.push({ id: job.id!, reason: 'a tool call past its deadline: the caller is no longer waiting' });
          continue;
        }
        const refused =
          queue === 'notifications'
            ? await replayNotification(job as Job<JobData<NotificationMeta>>, options.endpoint)
            : await job.retry('failed', { resetAttemptsMade: true });
        if (refused) {
          skipped.push({ id: job.id!, reason: refused });
          continue;
        }
        replayed.push({ queue, job });
      }
      await audit(
        'dead-letter.replay',
        replayed.map(({ queue, job }) => named(queue, job)),
        actorIp,
      );
      return { replayed: replayed.length, ids: replayed.map(({ job }) => job.id!), skipped };
    },

    /** Removes dead letters; throws UnknownDeadLetterError, removing nothing, when an id named is not one. */
    async purge(filter: DeadLetterFilter, actorIp: string) {
      const found = await findNamed(filter);
      for (const { job } of found) await job.remove();
      await audit(
        'dead-letter.purge',
        found.map(({ queue, job }) => named(queue, job)),
        actorIp,
      );
      return { purged: found.length, ids: found.map(({ job }) => job.id!) };
    },
  };
}
