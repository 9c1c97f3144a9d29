import { createHash } from 'node:crypto';
import { arr, obj, str, type IncomingEvent } from '#shared/vapi/envelope';

/**
 * The dedup key of an event. Vapi sends no event id, and a retried body is not byte-identical
 * (presigned URLs are regenerated), so the key is the delivery id header when one is configured,
 * else a hash of fields that a redelivery repeats exactly. One `end-of-call-report` per call.
 * The story's events, and Vapi's without a timestamp, are keyed by the raw body, which their
 * sender repeats verbatim (and which tells apart two messages sent in the same second).
 */
export function deriveEventId(event: IncomingEvent, rawBody: Buffer, deliveryId?: string): string {
  const hash = createHash('sha256');
  if (deliveryId) {
    hash.update(`delivery\0${deliveryId}`);
  } else if (event.source === 'vapi' && event.type === 'end-of-call-report' && event.callId) {
    hash.update(`end-of-call-report\0${event.callId}`);
  } else if (event.source === 'vapi' && event.timestamp) {
    const m = event.message;
    const toolCallIds = arr(m.toolCallList ?? m.toolCalls).map((call) => str(obj(call).id) ?? '');
    const stable = [
      event.callId ?? '',
      event.type,
      event.timestamp.toISOString(),
      str(m.role) ?? '',
      str(m.transcriptType) ?? '',
      str(m.transcript) ?? '',
      str(m.status) ?? '',
      String(m.turn ?? ''),
      str(m.turnId) ?? '',
      toolCallIds.join(','),
      JSON.stringify(m.output ?? null),
      String(arr(m.messages).length),
    ];
    hash.update(['fields', ...stable].join('\0'));
  } else {
    hash.update('body\0').update(rawBody);
  }
  return hash.digest('hex');
}
