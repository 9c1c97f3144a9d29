import { createHash } from 'node:crypto';
import type { IncomingEvent, JsonObject } from '#shared/vapi/envelope';
import { messageTypeOf } from '#shared/vapi/message-types';

/**
 * Parts of a Vapi message that a redelivery does not repeat byte for byte (the artifact's presigned
 * URLs are regenerated on every delivery) or that describe the call rather than the event.
 */
const VOLATILE_KEYS = new Set(['call', 'artifact', 'assistant', 'phoneNumber', 'customer', 'chat']);

/** JSON with object keys sorted, so equal content hashes equally whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical((value as JsonObject)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

const stableContent = (message: JsonObject) => Object.fromEntries(Object.entries(message).filter(([key]) => !VOLATILE_KEYS.has(key)));

/**
 * The dedup key of an event. Vapi sends no event id, so the key is the delivery id when one is
 * signed (see request-verifier), else what its type's dedup rule says (message-types.ts): one
 * `end-of-call-report` per call; for other Vapi events, the call id with everything the event says
 * except its volatile parts (type, timestamp, role, transcript, status, tool calls, …); for the
 * story's events, the raw body.
 */
export function deriveEventId(event: IncomingEvent, rawBody: Buffer, signedDeliveryId?: string): string {
  const hash = createHash('sha256');
  const { dedup } = messageTypeOf(event);
  if (signedDeliveryId) {
    hash.update(`delivery\0${signedDeliveryId}`);
  } else if (dedup === 'once-per-call' && event.callId) {
    hash.update(`${event.type}\0${event.callId}`);
  } else if (dedup === 'body') {
    hash.update('body\0').update(rawBody);
  } else {
    hash.update(`vapi\0${event.callId ?? ''}\0${canonical(stableContent(event.message))}`);
  }
  return hash.digest('hex');
}
