import { UnrecoverableError } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { WorkerConfig } from '#shared/config';
import { NOTIFICATION_TYPE_NAMES } from '#shared/notifications';
import { notificationsQueue } from '#shared/queues/notifications-queue';
import { fhirRequest } from '../lib/fhir/fhir-request.ts';
import { refusalReason } from '../lib/fhir/refusal-reason.ts';
import { deliver } from '../lib/notify/deliver.ts';
import { deliveredBefore, disableEndpoint, disabledReason, recordAttempt, type AttemptOutcome } from '../lib/notify/delivery-repository.ts';
import { isRetryableStatus, notificationBackoff, parseRetryAfter, RetryableDeliveryError } from '../lib/notify/retry-policy.ts';
import { signDelivery } from '../lib/notify/standard-webhooks.ts';
import { registerQueueWorker } from '../lib/queue-worker.ts';
import { createNotificationMetrics } from '../metrics.ts';

/** Deliveries wait on other servers, not on us: several at once per worker process. */
const NOTIFY_CONCURRENCY = 8;

const statusClass = (status: number | null) => (status === null ? 'network' : `${Math.floor(status / 100)}xx`);

/** A notification as a Standard Webhooks delivery, its `webhook-id` derived from the notification so every attempt carries the same. */
function signedWebhook(secret: string, notificationId: number, body: unknown) {
  const payload = JSON.stringify(body);
  return { body: payload, headers: { ...signDelivery(secret, `msg_${notificationId}`, payload) } as Record<string, string> };
}

/**
 * Consumes `vapi-notifications`: POSTs each notification to its endpoint, signed per Standard
 * Webhooks with a `webhook-id` stable across attempts (or, on the `fhir` channel, the completed
 * call as a FHIR transaction Bundle built at send time), and records every attempt (a delivered one
 * that the database cannot take is logged instead of being sent again). 2xx delivers;
 * 410 disables the endpoint; other 4xx (but 408, 425, 429) fail for good; the rest retry with
 * the notification backoff (exponential, full jitter, capped, Retry-After honoured). Exhausted and
 * permanent failures stay in the failed set: the dead letters operators replay.
 */
export const notificationsWorkerPlugin = fp(
  async (app: FastifyInstance, { config }: { config: WorkerConfig }) => {
    const { attempts } = createNotificationMetrics(app.metrics);

    registerQueueWorker(
      app,
      {
        queue: notificationsQueue,
        concurrency: NOTIFY_CONCURRENCY,
        knownNames: NOTIFICATION_TYPE_NAMES,
        settings: { backoffStrategy: notificationBackoff(config.notify.retryBaseMs) },
        // An earlier version's job does not vouch for its endpoint: only one this worker would send to itself is trusted.
        refuseLegacy: (meta) => (config.notify.urls.includes(meta.endpoint) ? undefined : 'its endpoint is not one of NOTIFY_WEBHOOK_URL'),
        handle: async (body, meta, job) => {
          const fhir = meta.channel === 'fhir';
          if (fhir && meta.endpoint !== config.fhir.baseUrl) throw new UnrecoverableError('Its endpoint is not FHIR_BASE_URL: a FHIR Bundle goes only there');
          if (!fhir && !config.notify.secret) throw new UnrecoverableError('NOTIFY_WEBHOOK_SECRET is not set: notifications cannot be signed');
          const disabled = await disabledReason(app.db, meta.endpoint);
          if (disabled) throw new UnrecoverableError(`Endpoint disabled (${disabled}): re-enable it, then replay`);
          if (await deliveredBefore(app.db, meta.notificationId, meta.endpoint)) return { outcome: 'delivered' as const };

          const request = fhir
            ? await fhirRequest(app.db, app.cipher, config.fhir, meta.sessionId)
            : signedWebhook(config.notify.secret, meta.notificationId, body);
          const started = Date.now();
          const result = await deliver(meta.endpoint, request.body, request.headers);
          const status = result.status;
          const outcome: AttemptOutcome =
            status !== null && status >= 200 && status < 300
              ? 'delivered'
              : status === 410
                ? 'disabled'
                : status !== null && !isRetryableStatus(status)
                  ? 'permanent'
                  : 'retry';
          // A FHIR server says why in an OperationOutcome (its quoted values blanked: they may echo health data).
          const why = fhir && 'refusal' in result && result.refusal ? refusalReason(result.refusal) : null;
          const error = status === null ? result.error : outcome === 'delivered' ? null : `HTTP ${status}${why ? ` (${why})` : ''}`;
          const attempt = {
            notificationId: meta.notificationId,
            endpoint: meta.endpoint,
            attempt: job.attemptsMade + 1,
            statusCode: status,
            latencyMs: Date.now() - started,
            error,
            outcome,
          };
          attempts.inc({ outcome, status_class: statusClass(status) });
          if (outcome === 'delivered') {
            // The receiver has it: a database that cannot take the record now must not cause a second delivery.
            await recordAttempt(app.db, attempt).catch((recordError: unknown) =>
              app.log.error({ err: recordError, ...attempt }, 'notification delivered, but its attempt could not be recorded'),
            );
            return { outcome };
          }
          await recordAttempt(app.db, attempt);
          if (outcome === 'disabled') {
            await disableEndpoint(app.db, meta.endpoint, '410 Gone');
            throw new UnrecoverableError('Endpoint answered 410 Gone: disabled until an operator re-enables it');
          }
          if (outcome === 'permanent') throw new UnrecoverableError(`Endpoint refused the notification: ${error}`);
          throw new RetryableDeliveryError(`Delivery failed: ${error}`, 'retryAfter' in result ? parseRetryAfter(result.retryAfter) : null);
        },
      },
      config.queuePrefix,
    );
  },
  { name: 'notifications-worker', dependencies: ['database', 'cipher', 'metrics'] },
);
