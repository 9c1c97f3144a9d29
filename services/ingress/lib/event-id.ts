import { createHash } from 'node:crypto';
import { arr, obj, str, type IncomingEvent } from '#shared/vapi/envelope';

/**
 * The dedup key of an event. Vapi sends no event id, and a retried body is not byte-identical
 * (presigned URLs are regenerated), so the key is the delivery id header when one is configured,
 * else a hash of fields that a redelivery repeats exactly. One `end-of-call-report` per call.
 * Events without a timestamp (the story's envelope) fall back to the raw body, which its sender
 * repeats verbatim.
 */
export function deriveEventId(event: IncomingEvent, rawBody: Buffer, deliveryId?: string): string {
  const hash = createHash('sha256');
  if (deliveryId) {
    hash.update(`delivery\0${deliveryId}`);
  } else if (event.source === 'vapi' && event.type === 'end-of-call-report' && event.callId) {
    hash.update(`end-of-call-report\0${event.callId}`);
  } else if (event.timestamp) {
    const m = event.message;
    const toolCallIds = arr(m.toolCallList ?? m.toolCalls).map((call) => str(obj(call).id) ?? '');
    const stable = [
      event.source,
      event.callId ?? '',
      event.type,
      event.timestamp.toISOString(),
      str(m.role) ?? '',
      str(m.transcriptType) ?? '',
      str(m.transcript) ?? str(m.content) ?? str(m.message) ?? '',
      str(m.status) ?? '',
      String(m.turn ?? ''),
      str(m.turnId) ?? '',
      toolCallIds.join(','),
      JSON.stringify(m.output ?? null),
      String(arr(m.messages).length),
    ];
    hash.update(stable.join('\0'));
  } else {
    hash.update('body\0').update(rawBody);
  }
  return hash.digest('hex');
}
