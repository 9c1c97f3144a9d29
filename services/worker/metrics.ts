/** The worker's own figures on the service's registry (`/metrics`), one factory per feature that records them. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface JobMetrics {
  processed: Counter<'queue' | 'name' | 'outcome'>;
  duration: Histogram<'queue'>;
  retries: Counter<'queue'>;
}

const jobMetricsByRegistry = new WeakMap<Registry, JobMetrics>();

/** The job metric families every queue worker records, declared once per registry whatever the number of queues. */
export function jobMetrics(registry: Registry): JobMetrics {
  let metrics = jobMetricsByRegistry.get(registry);
  if (!metrics) {
    metrics = {
      processed: new Counter({
        name: 'vapi_relay_jobs_processed_total',
        help: 'Jobs finished by queue, job name and outcome (failed = an attempt failed)',
        labelNames: ['queue', 'name', 'outcome'],
        registers: [registry],
      }),
      duration: new Histogram({
        name: 'vapi_relay_job_duration_seconds',
        help: 'Time to process one job, by queue',
        labelNames: ['queue'],
        buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30],
        registers: [registry],
      }),
      retries: new Counter({
        name: 'vapi_relay_job_retries_total',
        help: 'Failed attempts that will be retried, by queue',
        labelNames: ['queue'],
        registers: [registry],
      }),
    };
    jobMetricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

/** The events worker's group commit: batch sizes, and batches stored again event by event. */
export const createEventBatchMetrics = (registry: Registry) => ({
  batchSize: new Histogram({
    name: 'vapi_relay_event_batch_size',
    help: 'Events stored per transaction by the events worker (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [registry],
  }),
  splits: new Counter({
    name: 'vapi_relay_event_batch_splits_total',
    help: 'Batches of events that failed and were stored again event by event',
    registers: [registry],
  }),
});

export const createNotificationMetrics = (registry: Registry) => ({
  attempts: new Counter({
    name: 'vapi_relay_notification_attempts_total',
    help: 'Notification delivery attempts by outcome and HTTP status class',
    labelNames: ['outcome', 'status_class'],
    registers: [registry],
  }),
});

export const createReconcilerMetrics = (registry: Registry) => ({
  reconciled: new Counter({
    name: 'vapi_relay_reconciled_sessions_total',
    help: 'Silent sessions reconciled, by outcome (vapi-api, timeout = report-missing, still-live, failed)',
    labelNames: ['outcome'],
    registers: [registry],
  }),
});

/** Ages read when Prometheus scrapes, in seconds by label value; undefined (the database did not answer) leaves them out. */
type ReadAges = () => Promise<Record<string, number | null> | undefined>;

/** Sets a labelled gauge from what `read` returns at scrape time (a missing age is 0: no row). */
function ageGauge(registry: Registry, name: string, help: string, label: string, read: ReadAges) {
  return new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    async collect() {
      const ages = await read();
      if (!ages) return;
      for (const [value, age] of Object.entries(ages)) this.set({ [label]: value }, age ?? 0);
    },
  });
}

/** The retention sweep: rows removed, and the age of the oldest row each period applies to. */
export const createRetentionMetrics = (registry: Registry, readOldest: ReadAges) => ({
  deleted: new Counter({
    name: 'vapi_relay_retention_deleted_rows_total',
    help: 'Rows the retention sweep removed, by table (vapi_events.payload: raw payloads emptied, the event row kept)',
    labelNames: ['table'],
    registers: [registry],
  }),
  oldest: ageGauge(
    registry,
    'vapi_relay_retention_oldest_seconds',
    'Age of the oldest row kept that a retention period applies to, by table (0 when none)',
    'table',
    readOldest,
  ),
});

/** The outbox: the age of its oldest row not yet dispatched, by outbox (`relay`, `notifications`). */
export const registerOutboxLag = (registry: Registry, read: ReadAges) =>
  ageGauge(
    registry,
    'vapi_relay_outbox_lag_seconds',
    'Age of the oldest outbox row not yet dispatched (0 when none): relay events and notification intents',
    'outbox',
    read,
  );
