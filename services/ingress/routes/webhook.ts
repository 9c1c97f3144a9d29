import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Histogram } from 'prom-client';
import type { Config } from '#shared/config';
import type { FieldCipher } from '#shared/crypto';
import { lacksCallId, readEnvelope, type IncomingEvent } from '#shared/vapi/envelope';
import { IngressErrors } from '../errors';
import { deriveEventId } from '../lib/event-id';
import { parseJsonBody } from '../lib/json-body';
import { createRequestVerifier, signsDeliveryId } from '../lib/request-verifier';
import { syncReplyFor } from '../lib/sync-replies';

export const WEBHOOK_PATH = '/api/v1/sessions/vapi/webhook';

/** What the one log line per webhook says about it; filled in as the handler learns it. */
interface WebhookLog {
  callId?: string | null;
  type?: string;
  eventId?: string;
  outcome: string;
  /** Why authentication failed (never the secret or signature themselves). */
  reason?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    webhook: WebhookLog;
  }
}

/**
 * `POST /api/v1/sessions/vapi/webhook`: verify the raw bytes, parse, make durable, answer.
 * Nothing is parsed or logged before the request is authenticated, and nothing is answered 2xx
 * before Redis holds the event.
 */
export async function webhookRoutes(app: FastifyInstance, { config, cipher }: { config: Config; cipher: FieldCipher }) {
  const verify = createRequestVerifier(config.vapi);
  const requests = new Counter({
    name: 'vapi_relay_webhook_requests_total',
    help: 'Webhook requests by event type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [app.metrics],
  });
  const latency = new Histogram({
    name: 'vapi_relay_webhook_duration_seconds',
    help: 'Time from request to answer',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [app.metrics],
  });

  // Signatures are over bytes: keep the body as a Buffer, whatever content type is claimed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.vapi.bodyLimitBytes }, (_request, body, done) =>
    done(null, body),
  );
  app.decorateRequest('webhook', null as unknown as WebhookLog);
  app.addHook('onRequest', async (request) => {
    request.webhook = { outcome: 'rejected' };
  });
  app.addHook('onResponse', async (request, reply) => {
    const { webhook } = request;
    const outcome = reply.statusCode >= 500 && webhook.outcome !== 'unavailable' ? 'error' : webhook.outcome;
    requests.inc({ type: webhook.type ?? 'unknown', outcome });
    latency.observe({ outcome }, reply.elapsedTime / 1000);
    const line = { ...webhook, outcome, status: reply.statusCode, ms: Number(reply.elapsedTime.toFixed(2)) };
    if (reply.statusCode >= 400) request.log.warn(line, 'webhook');
    else request.log.info(line, 'webhook');
  });

  const deliveryIdIsSigned = signsDeliveryId(config.vapi);
  const signedDeliveryIdOf = (request: FastifyRequest) => {
    const value = deliveryIdIsSigned ? request.headers[config.vapi.messageIdHeader] : undefined;
    return Array.isArray(value) ? value[0] : value;
  };

  app.post(WEBHOOK_PATH, async (request, reply) => {
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const verification = verify({ method: request.method, headers: request.headers, rawBody });
    if (!verification.ok) {
      Object.assign(request.webhook, { outcome: 'unauthenticated', reason: verification.reason });
      throw IngressErrors.invalidSignature(verification.reason);
    }
    const event: IncomingEvent | null = readEnvelope(parseJsonBody(rawBody));
    if (!event) throw IngressErrors.invalidPayload('Body is not an event: expected {"message": {"type": …}} or {"type", "data"}');
    if (lacksCallId(event)) {
      throw IngressErrors.invalidPayload(`A ${event.type} event names its call: ${event.source === 'vapi' ? 'message.call.id' : 'data.sessionId'} is missing`);
    }

    const eventId = deriveEventId(event, rawBody, signedDeliveryIdOf(request));
    Object.assign(request.webhook, { callId: event.callId, type: event.type, eventId });

    let outcome;
    try {
      outcome = await app.enqueueEvent({
        eventId,
        type: event.type,
        callId: event.callId,
        source: event.source,
        receivedAt: new Date().toISOString(),
        requestId: request.id,
        body: cipher.encrypt(rawBody.toString('utf8')),
      });
    } catch (error) {
      request.log.error({ err: error, eventId }, 'event could not be queued');
      request.webhook.outcome = 'unavailable';
      throw IngressErrors.unavailable();
    }
    request.webhook.outcome = outcome;

    const answer = syncReplyFor(event, config.vapi.assistantId);
    if (answer) return reply.send(answer);
    return reply.send(outcome === 'duplicate' ? { received: true, duplicate: true } : { received: true });
  });
}
