import pRetry, { AbortError } from 'p-retry';
import { activeTraceCarrier } from '#shared/tracing';

/** How long one request may take before the attempt counts as failed. */
const REQUEST_TIMEOUT_MS = 10_000;

/** Quick retries inside one attempt, for a connection refused or reset, not for an answer. */
const NETWORK_RETRIES = 2;

/** How much of a refusal's body is read: an OperationOutcome's worth, not whatever a receiver streams. */
const REFUSAL_BODY_LIMIT = 16 * 1024;

/** An HTTP answer (with the body of a 4xx refusal, for the caller to explain it), or why none came. */
export type DeliveryResult = { status: number; retryAfter: string | null; refusal: string | null } | { status: null; error: string };

/** The start of a 4xx answer's body (at most REFUSAL_BODY_LIMIT bytes, the rest never read); other answers' bodies are dropped unread. */
async function refusalBody(response: Response): Promise<string | null> {
  if (response.status < 400 || response.status >= 500 || !response.body) {
    await response.body?.cancel();
    return null;
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < REFUSAL_BODY_LIMIT) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
    }
  } catch {
    // A body cut short explains less, but the status still says what happened.
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, REFUSAL_BODY_LIMIT).toString('utf8');
}

/** A network failure (no HTTP answer) worth trying again at once; a timeout is not (it already took its time). */
const isNetworkFailure = (error: unknown) => error instanceof TypeError;

/**
 * POSTs one notification (a signed webhook, a FHIR Bundle). Connection-level failures are retried
 * a couple of times within the attempt (p-retry); any HTTP answer, and a timeout, end the attempt
 * and say how it went.
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
    const refusal = await refusalBody(response);
    return { status: response.status, retryAfter: response.headers.get('retry-after'), refusal };
  } catch (error) {
    // fetch says "fetch failed"; its cause says why (a connection refused, a DNS failure), never the body.
    const cause = (error as Error).cause as { code?: string; message?: string } | undefined;
    const why = cause?.code ?? cause?.message;
    return { status: null, error: `${(error as Error).name}${why ? `: ${why}` : ''}` };
  }
}
