import { DecryptionError, UnknownKeyError, type FieldCipher } from '../crypto.ts';
import type { JobData, QueueDefinition } from './definition.ts';

/**
 * Until when jobs and results sealed the old way (before 2026-12: the payload alone, its clear
 * fields not bound to it) are still opened. An upgrade finds them in the queues, the failed sets and
 * the spool; the window covers a rollout of up to four weeks plus the 14 days a dead letter may be
 * replayed (an event's own retries, at most 42 hours, fit inside). Past it, such a job is refused as
 * one that cannot be trusted (docs/operations.md, "Upgrading").
 */
export const LEGACY_SEALS_UNTIL = Date.parse('2027-01-15T00:00:00Z');

/** Was changed in Redis after it was sealed (its clear fields, its queue, its id or its bytes): never act on it. */
export class TamperedJobError extends DecryptionError {
  override name = 'TamperedJobError';
}

/** Sealed the old way, unbound, and found after the window in which those are still opened. */
export class LegacySealError extends DecryptionError {
  override name = 'LegacySealError';
}

/** Told of one seal, by its queue and whether it sealed a job or a result. */
export type SealHook = (queue: string, sealed: 'job' | 'result') => void;

export interface JobCodecOptions {
  /** Epoch ms until which unbound (old) seals are opened; `LEGACY_SEALS_UNTIL` unless a test moves it. */
  legacyUntil?: number;
  /** Told of each unbound seal opened inside the window: a warning and a metric. */
  onLegacy?: SealHook;
  /** Told of each seal found altered: someone wrote to Redis who should not have, worth an alert. */
  onTampered?: SealHook;
}

/** An opened job: its payload, and whether it was sealed the old way (its clear fields then only as good as Redis). */
export interface Opened<P> {
  payload: P;
  legacy: boolean;
}

/**
 * What a job's seal is bound to: its queue and its clear fields, in an order-independent form (keys
 * sorted; the fields are flat ids and types, so one level suffices), so changing, adding or removing
 * a field, or moving the job to another queue, breaks the seal.
 */
function jobBinding(queue: string, meta: Record<string, unknown>): string {
  const fields = Object.keys(meta)
    .filter((key) => meta[key] !== undefined)
    .sort()
    .map((key) => [key, meta[key]]);
  return JSON.stringify(['job', queue, fields]);
}

/** What a result's seal is bound to: the queue and the id of the job that returned it. */
const resultBinding = (queue: string, jobId: string) => JSON.stringify(['result', queue, jobId]);

const ALTERED_JOB = 'sealed payload does not match its clear fields or queue: the job was altered after it was sealed';
const ALTERED_RESULT = 'sealed result does not match its job or queue: it was altered after it was sealed';

/**
 * Seals what a job carries and what it returns with the field cipher, so no health data sits in
 * Redis in clear: not in the job, not in BullMQ's stored return value, not in the dashboard. Each
 * seal is bound (AES-GCM additional data) to where it belongs: a job's payload to its queue and clear
 * fields, a result to its queue and job id. Whoever can write to Redis but lacks the key can neither
 * re-point a job (another endpoint, another call) nor hand one job's answer to another.
 */
export class JobCodec {
  private readonly legacyUntil: number;
  private readonly onLegacy: SealHook;
  private readonly onTampered: SealHook;

  constructor(
    private readonly cipher: FieldCipher,
    { legacyUntil = LEGACY_SEALS_UNTIL, onLegacy = () => {}, onTampered = () => {} }: JobCodecOptions = {},
  ) {
    this.legacyUntil = legacyUntil;
    this.onLegacy = onLegacy;
    this.onTampered = onTampered;
  }

  seal<M extends Record<string, unknown>, P>(queue: QueueDefinition<M, P, unknown>, meta: M, payload: P): JobData<M> {
    return { ...meta, sealed: this.cipher.encryptJson(payload, jobBinding(queue.name, meta)) };
  }

  /**
   * Opens a job as it is in Redis (every field of its data, so one added there counts too). Throws
   * TamperedJobError when it was altered, LegacySealError for an old seal past the window, and
   * UnknownKeyError (which heals) for a key not configured here yet.
   */
  open<M extends Record<string, unknown>, P>(queue: QueueDefinition<M, P, unknown>, data: JobData<M>): Opened<P> {
    const { sealed, ...meta } = data as Record<string, unknown>;
    return this.unseal<P>(queue.name, String(sealed), jobBinding(queue.name, meta), 'job');
  }

  sealResult<R>(queue: QueueDefinition<Record<string, unknown>, unknown, R>, jobId: string, result: R): string {
    return this.cipher.encryptJson(result, resultBinding(queue.name, jobId));
  }

  /** Opens the result job `jobId` returned; throws as `open` does when it is not that job's. */
  openResult<R>(queue: QueueDefinition<Record<string, unknown>, unknown, R>, jobId: string, stored: string): R {
    return this.unseal<R>(queue.name, stored, resultBinding(queue.name, jobId), 'result').payload;
  }

  /** Opens a bound seal, or an unbound one (from a version before binding) inside the window only, each one told. */
  private unseal<T>(queue: string, stored: string, binding: string, sealed: 'job' | 'result'): Opened<T> {
    const legacy = !this.cipher.isBound(stored);
    if (legacy && Date.now() > this.legacyUntil) {
      const until = new Date(this.legacyUntil).toISOString();
      throw new LegacySealError(
        `sealed ${sealed} is not bound to its ${sealed === 'job' ? 'clear fields' : 'job'} (the format before 2026-12), refused since ${until}`,
      );
    }
    try {
      const payload = this.cipher.decryptJson<T>(stored, legacy ? undefined : binding);
      if (legacy) this.onLegacy(queue, sealed);
      return { payload, legacy };
    } catch (error) {
      // A key not configured here yet stays what it is (it heals); anything else that does not authenticate was altered.
      if (error instanceof UnknownKeyError || !(error instanceof DecryptionError)) throw error;
      this.onTampered(queue, sealed);
      throw new TamperedJobError(sealed === 'job' ? ALTERED_JOB : ALTERED_RESULT);
    }
  }
}
