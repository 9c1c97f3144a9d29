import type { FieldCipher } from '#shared/crypto';
import type { EventJob } from '#shared/queues';
import { readEnvelope } from '#shared/vapi/envelope';
import { deriveEventId } from '../../services/ingress/lib/event-id';

/** The job the ingress would enqueue for this body (same event id, same encryption). */
export function jobFor(body: unknown, cipher: FieldCipher, receivedAt = new Date()): EventJob {
  const raw = Buffer.from(JSON.stringify(body));
  const event = readEnvelope(body);
  if (!event) throw new Error('test body is not an event');
  return {
    eventId: deriveEventId(event, raw),
    type: event.type,
    callId: event.callId,
    source: event.source,
    receivedAt: receivedAt.toISOString(),
    requestId: 'test',
    body: cipher.encrypt(raw.toString('utf8')),
  };
}
