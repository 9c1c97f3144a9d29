import pRetry, { AbortError } from 'p-retry';
import { isObject, type JsonObject } from '#shared/vapi/envelope';
import { parseRetryAfter } from './notify/retry-policy.ts';

/** How Vapi's REST API is reached: where, with which key, and how patiently. */
export interface VapiCallsOptions {
  url: string;
  apiKey: string;
  /** One request's limit (a hang ends there and is retried). */
  timeoutMs?: number;
  /** Retries after the first attempt, the first one `minRetryMs` later, doubling. */
  retries?: number;
  minRetryMs?: number;
  /** Ends every request and wait at once (the worker shutting down). */
  signal?: AbortSignal;
}

/** What Vapi says about a call: its `Call` object (`@vapi-ai/server-sdk`), or that it has none by that id. */
export type FetchedCall = { found: true; call: JsonObject } | { found: false };

const TIMEOUT_MS = 5_000;
const RETRIES = 4;
const MIN_RETRY_MS = 1_000;
/** Longest `Retry-After` waited for: a longer one gives up, and the next sweep asks again. */
const RETRY_AFTER_CAP_MS = 30_000;

/** An answer worth asking again for (429, 5xx, a timeout); carries Vapi's `Retry-After`. */
class RetryableCallError extends Error {
  override name = 'RetryableCallError';
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason as Error)), { once: true });
  });

/**
 * `GET {url}/call/{id}` with the API key as Bearer: each request limited to `timeoutMs`, and a 429,
 * a 5xx, a timeout or a network failure retried with exponential backoff (p-retry), a 429 no sooner
 * than its `Retry-After`. A 404 is an answer (no such call); any other 4xx, or a body that is not a
 * call, fails at once, as do retries run out: the caller leaves the call for its next sweep.
 */
export function createVapiCalls({ url, apiKey, timeoutMs = TIMEOUT_MS, retries = RETRIES, minRetryMs = MIN_RETRY_MS, signal }: VapiCallsOptions) {
  async function attempt(id: string): Promise<FetchedCall> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(`${url}/call/${encodeURIComponent(id)}`, {
        headers: { authorization: `Bearer ${apiKey}`, accept: 'application/json', 'user-agent': 'vapi-relay-reconciler' },
        redirect: 'error',
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
    } catch (error) {
      if (signal?.aborted) throw new AbortError('stopped');
      // A timeout or a connection failure: nothing was answered, worth asking again.
      throw new RetryableCallError(timeout.aborted ? `no answer within ${timeoutMs} ms` : `request failed: ${(error as Error).name}`);
    }
    if (response.status === 404) {
      await response.body?.cancel();
      return { found: false };
    }
    if (response.status === 429 || response.status >= 500) {
      await response.body?.cancel();
      throw new RetryableCallError(`Vapi answered ${response.status}`, parseRetryAfter(response.headers.get('retry-after')));
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new AbortError(`Vapi answered ${response.status}`);
    }
    const call: unknown = await response.json().catch(() => undefined);
    if (!isObject(call) || call.id !== id) throw new AbortError('Vapi answered with something other than the call asked for');
    return { found: true, call };
  }

  return function fetchCall(id: string): Promise<FetchedCall> {
    return pRetry(() => attempt(id), {
      retries,
      minTimeout: minRetryMs,
      factor: 2,
      randomize: true,
      signal,
      shouldRetry: ({ error }) => error instanceof RetryableCallError && (error.retryAfterMs ?? 0) <= RETRY_AFTER_CAP_MS,
      // The backoff's own delay follows this one: Retry-After is a floor, not the whole wait.
      onFailedAttempt: async ({ error, retriesLeft }) => {
        const asked = error instanceof RetryableCallError ? (error.retryAfterMs ?? 0) : 0;
        if (retriesLeft > 0 && asked > 0 && asked <= RETRY_AFTER_CAP_MS) await sleep(asked, signal);
      },
    });
  };
}

export type FetchCall = ReturnType<typeof createVapiCalls>;
