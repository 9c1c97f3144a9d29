import { SafeJobError } from '../job-error.ts';

/** Longest wait between two attempts: retries spread over hours, never a day between two. */
export const RETRY_CAP_MS = 4 * 3600 * 1000;

/** A delivery that may succeed later (5xx, 408, 425, 429, a network failure); carries the receiver's Retry-After. */
export class RetryableDeliveryError extends SafeJobError {
  override name = 'RetryableDeliveryError';
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** Statuses worth another attempt; every other 4xx is the receiver saying no for good. */
export const isRetryableStatus = (status: number) => status >= 500 || status === 408 || status === 425 || status === 429;

/** `Retry-After` in seconds or as an HTTP date, in ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

/**
 * BullMQ backoff strategy for notifications: exponential from `baseMs`, full jitter, capped at
 * `RETRY_CAP_MS`, and never sooner than the receiver's `Retry-After` (itself capped).
 */
export function notificationBackoff(baseMs: number, random: () => number = Math.random) {
  return (attemptsMade: number, _type?: string, error?: Error): number => {
    const ceiling = Math.min(RETRY_CAP_MS, baseMs * 2 ** Math.max(0, attemptsMade - 1));
    const jittered = Math.round(random() * ceiling);
    const asked = error instanceof RetryableDeliveryError && error.retryAfterMs !== null ? Math.min(error.retryAfterMs, RETRY_CAP_MS) : 0;
    return Math.max(jittered, asked);
  };
}
