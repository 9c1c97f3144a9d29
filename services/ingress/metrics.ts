/** The ingress's own figures on the service's registry (`/metrics`), one factory per feature that records them. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The webhook: requests by type and outcome, their latency, failed authentications, and the time to make an event durable. */
export const createWebhookMetrics = (registry: Registry) => ({
  requests: new Counter({
    name: 'vapi_relay_webhook_requests_total',
    help: 'Webhook requests by event type and outcome',
    labelNames: ['type', 'outcome'],
    registers: [registry],
  }),
  latency: new Histogram({
    name: 'vapi_relay_webhook_duration_seconds',
    help: 'Time from request to answer',
    labelNames: ['outcome'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  }),
  authFailures: new Counter({
    name: 'vapi_relay_webhook_auth_failures_total',
    help: 'Webhook requests that failed authentication, by reason',
    labelNames: ['reason'],
    registers: [registry],
  }),
  enqueueTime: new Histogram({
    name: 'vapi_relay_enqueue_duration_seconds',
    help: 'Time to make an event durable in Redis, by lane',
    labelNames: ['lane'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2],
    registers: [registry],
  }),
});

/** What the spool gauges read when Prometheus scrapes. */
interface SpoolFigures {
  readonly pending: number;
  readonly bytes: number;
  ageSeconds(): number;
}

/** The local spool behind the durable lane: events and bytes waiting for Redis, and the age of the oldest. */
export function registerSpoolGauges(registry: Registry, spool: SpoolFigures) {
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read());
      },
    });
  gauge('vapi_relay_spool_events', 'Events in the local spool, waiting for Redis', () => spool.pending);
  gauge('vapi_relay_spool_bytes', 'Bytes in the local spool', () => spool.bytes);
  gauge('vapi_relay_spool_oldest_seconds', 'Age of the oldest event in the local spool', () => spool.ageSeconds());
}
