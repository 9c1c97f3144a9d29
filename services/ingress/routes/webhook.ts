import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { IngressConfig } from '#shared/config';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { liveQueue } from '#shared/queues/live-queue';
import { readEnvelope, type IncomingEvent } from '#shared/vapi/envelope';
import { liveJobOf } from '#shared/vapi/live';
import { lacksCallId, laneOf, metricType } from '#shared/vapi/message-types';
import { IngressErrors } from '../errors.ts';
import { toEventJob } from '../lib/event-job.ts';
import { parseJsonBody } from '../lib/json-body.ts';
import { createRateLimiter } from '../lib/rate-limit.ts';
import { createRequestVerifier, signsDeliveryId } from '../lib/request-verifier.ts';
import { syncReplyFor } from '../lib/sync-replies.ts';
import { toolCallsIn, toolContextOf, toolReply } from '../lib/tool-replies.ts';
import { createWebhookMetrics } from '../metrics.ts';

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
export async function webhookRoutes(app: FastifyInstance, { config }: { config: IngressConfig }) {
  const verify = createRequestVerifier(config.vapi);
  const { requests, latency, authFailures, enqueueTime } = createWebhookMetrics(app.metrics);

  // Signatures are over bytes: keep the body as a Buffer, whatever content type is claimed.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.vapi.bodyLimitBytes }, (_request, body, done) => done(null, body));
  app.decorateRequest('webhook', null as unknown as WebhookLog);
  // Failed authentications count per client IP; an IP over its budget is refused before its body is read.
  const unverified = createRateLimiter(app.redis.producer, config.queuePrefix, 'unverified', config.rateLimit.unverifiedPerMinute);
  const verified = createRateLimiter(app.redis.producer, config.queuePrefix, 'verified', config.rateLimit.verifiedPerMinute);
  /** A request that did not authenticate: logged with its reason, counted against its IP, 401 (429 past the budget). */
  async function refuse(request: FastifyRequest, reason: string): Promise<never> {
    Object.assign(request.webhook, { outcome: 'unauthenticated', reason });
    authFailures.inc({ reason });
    const wait = await unverified.count(request.ip);
    if (wait !== null) rateLimited(request, wait);
    throw IngressErrors.invalidSignature(reason);
  }
  function rateLimited(request: FastifyRequest, wait: string): never {
    request.webhook.outcome = 'rate_limited';
    throw IngressErrors.rateLimited(wait);
  }

  app.addHook('onRequest', async (request) => {
    request.webhook = { outcome: 'rejected' };
    const wait = unverified.exceeded(request.ip);
    if (wait !== null) rateLimited(request, wait);
    // What the headers alone can refuse is refused before a byte of the body is read.
    const early = verify.checkHeaders(request.headers);
    if (!early.ok) await refuse(request, early.reason);
  });
  app.addHook('onResponse', async (request, reply) => {
    const { webhook } = request;
    const outcome = reply.statusCode >= 500 && webhook.outcome !== 'unavailable' ? 'error' : webhook.outcome;
    requests.inc({ type: metricType(webhook.type), outcome });
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

  /** Runs a Redis hand-off; when Redis does not take it, the answer is 503, never a 2xx. */
  async function durably<T>(request: FastifyRequest, add: () => Promise<T>): Promise<T> {
    try {
      return await add();
    } catch (error) {
      request.log.error({ err: error }, 'event could not be queued');
      request.webhook.outcome = 'unavailable';
      throw IngressErrors.unavailable();
    }
  }

  /** Partial transcripts and speech updates: to the live lane, never stored; unreadable ones are dropped. */
  async function takeLive(request: FastifyRequest, event: IncomingEvent) {
    const receivedAt = new Date();
    const live = liveJobOf(event, receivedAt);
    if (!live) {
      request.webhook.outcome = 'ignored';
      return;
    }
    // The claimed patient travels sealed with the event, never among the job's clear fields.
    const data = app.jobCodec.seal(liveQueue, { callId: live.event.sessionId, type: event.type, receivedAt: receivedAt.toISOString() }, live);
    const stop = enqueueTime.startTimer({ lane: 'live' });
    await durably(request, () => app.enqueueLive(event.type, data));
    stop();
    request.webhook.outcome = 'live';
  }

  app.post(WEBHOOK_PATH, async (request, reply) => {
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const verification = verify({ method: request.method, headers: request.headers, rawBody });
    if (!verification.ok) await refuse(request, verification.reason);
    if (verified.enabled) {
      const wait = await verified.count(request.ip);
      if (wait !== null) rateLimited(request, wait);
    }
    const event: IncomingEvent | null = readEnvelope(parseJsonBody(rawBody));
    if (!event) throw IngressErrors.invalidPayload('Body is not an event: expected {"message": {"type": …}} or {"type", "data"}');
    if (lacksCallId(event)) {
      throw IngressErrors.invalidPayload(`A ${event.type} event names its call: ${event.source === 'vapi' ? 'message.call.id' : 'data.sessionId'} is missing`);
    }

    Object.assign(request.webhook, { callId: event.callId ?? event.chatId, type: event.type });
    if (laneOf(event) === 'live') {
      await takeLive(request, event);
      return reply.send({ received: true });
    }

    const job = toEventJob(app.jobCodec, event, rawBody, { requestId: request.id, signedDeliveryId: signedDeliveryIdOf(request) });
    request.webhook.eventId = job.eventId;
    // The assistant waits on tool calls: they run while their message is made durable, not after
    // (a message that cannot be made durable is still answered 503; a redelivery waits for the same jobs).
    const calls = toolCallsIn(event);
    const answers = calls && app.runTools(calls, toolContextOf(event), request.id);
    const stop = enqueueTime.startTimer({ lane: 'durable' });
    request.webhook.outcome = await durably(request, () => app.enqueueEvent(job));
    stop();

    if (calls && answers) return reply.send(toolReply(event, calls, await answers));
    const answer = syncReplyFor(event, config.vapi.assistantId);
    if (answer) return reply.send(answer);
    return reply.send(request.webhook.outcome === 'duplicate' ? { received: true, duplicate: true } : { received: true });
  });
}
