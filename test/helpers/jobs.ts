import { JobCodec } from '#shared/queues/codec';
import type { FieldCipher } from '#shared/crypto';
import type { JobData } from '#shared/queues/definition';
import type { EventMeta } from '#shared/queues/events-queue';
import { readEnvelope } from '#shared/vapi/envelope';
import { toEventJob } from '../../services/ingress/lib/event-job.ts';

/** The job the ingress would enqueue for this body (same event id, same sealing). */
export function jobFor(body: unknown, cipher: FieldCipher, receivedAt = new Date()): JobData<EventMeta> {
  const raw = Buffer.from(JSON.stringify(body));
  const event = readEnvelope(body);
  if (!event) throw new Error('test body is not an event');
  return toEventJob(new JobCodec(cipher), event, raw, { requestId: 'test', receivedAt });
}

/** The same job as the worker's event processor sees it, once the queue worker has opened it. */
export function storeFor(body: unknown, cipher: FieldCipher, receivedAt = new Date()) {
  const { sealed, ...meta } = jobFor(body, cipher, receivedAt);
  return { meta, body: JSON.stringify(body) };
}
