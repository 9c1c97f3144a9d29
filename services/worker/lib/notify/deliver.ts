import pRetry, { AbortError } from 'p-retry';
import { activeTraceCarrier } from '#shared/tracing';

/** How long one request may take before the attempt counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Quick retries inside one attempt, for a connection refused or reset, not for an answer. */
const NETWORK_RETRIES = 2;

export type DeliveryResult = { status: number; retryAfter: string | null } | { status: null; error: string };

/** A network failure (no HTTP answer) worth trying again at once; a timeout is not (it already took its time). */
const isNetworkFailure = (error: unknown) => error instanceof TypeError;

/**
 * POSTs one signed notification. Connection-level failures are retried a couple of times within
 * the attempt (p-retry); any HTTP answer, and a timeout, end the attempt and say how it went.
 */
export async function deliver(url: string, body: string, headers: Record<string, string>): Promise<DeliveryResult> {
  try {
    const response = await pRetry(
      async () => {
        try {
          return await fetch(url, {
            method: 'POST',
            // `traceparent` (tracing on): the receiver's work joins the notification's trace.
            headers: { 'content-type': 'application/json', 'user-agent': 'vapi-relay-notifications', ...activeTraceCarrier(), ...headers },
            body,
            redirect: 'manual',
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
        } catch (error) {
          if (isNetworkFailure(error)) throw error;
          throw new AbortError(error as Error);
        }
      },
      { retries: NETWORK_RETRIES, minTimeout: 100, maxTimeout: 1_000, randomize: true },
    );
    await response.body?.cancel();
    return { status: response.status, retryAfter: response.headers.get('retry-after') };
  } catch (error) {
    // fetch says "fetch failed"; its cause says why (a connection refused, a DNS failure), never the body.
    const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
    const why = cause?.code ?? cause?.message;
    return { status: null, error: `${(error as Error).name}${why ? `: ${why}` : ''}` };
  }
}
