import type { JobCodec } from '#shared/queues/codec';
import type { JobData } from '#shared/queues/definition';
import { eventsQueue, type EventMeta } from '#shared/queues/events-queue';
import type { IncomingEvent } from '#shared/vapi/envelope';
import { deriveEventId } from './event-id.ts';

/**
 * The one way an event job is built, shared by the webhook, the tests and the bench: its dedup id,
 * its clear routing fields, and the raw body sealed.
 */
export function toEventJob(
  codec: JobCodec,
  event: IncomingEvent,
  rawBody: Buffer,
  { requestId, receivedAt = new Date(), signedDeliveryId }: { requestId: string; receivedAt?: Date; signedDeliveryId?: string | undefined },
): JobData<EventMeta> {
  const meta: EventMeta = {
    eventId: deriveEventId(event, rawBody, signedDeliveryId),
    type: event.type,
    callId: event.callId ?? event.chatId,
    source: event.source,
    receivedAt: receivedAt.toISOString(),
    requestId,
  };
  return codec.seal(eventsQueue, meta, rawBody.toString('utf8'));
}
