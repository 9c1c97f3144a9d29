import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sql } from 'drizzle-orm';
import { Gauge } from 'prom-client';
import type { WorkerConfig } from '#shared/config';
import { createOutboxDispatcher, type OutboxDispatcher } from '../lib/outbox-dispatcher.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** Publishes committed relay events and enqueues notification deliveries; `kick()` after a commit. */
    outbox: OutboxDispatcher;
  }
}

/** How often the dispatcher looks for rows nobody kicked it for (a crash between commit and dispatch). */
const SWEEP_MS = 1_000;

/** Owns the worker's outbox dispatcher: started when the app is ready, stopped (and awaited) on close. */
export const outboxPlugin = fp(
  async (app: FastifyInstance, { config }: { config: WorkerConfig }) => {
    const dispatcher = createOutboxDispatcher({
      db: app.db,
      redis: app.redis.producer,
      cipher: app.cipher,
      codec: app.jobCodec,
      notifications: app.queues.notifications,
      endpoints: config.notify.urls,
      fhirBaseUrl: config.fhir.baseUrl,
      prefix: config.queuePrefix,
      logger: app.log,
    });
    app.decorate('outbox', dispatcher);
    new Gauge({
      name: 'vapi_relay_outbox_lag_seconds',
      help: 'Age of the oldest outbox row not yet dispatched (0 when none): relay events and notification intents',
      labelNames: ['outbox'],
      registers: [app.metrics],
      async collect() {
        const [row] = await app.db
          .execute<{ relay: number | null; notifications: number | null }>(
            sql`select extract(epoch from now() - (select min(created_at) from session_events where dispatched_at is null))::float as relay,
                       extract(epoch from now() - (select min(created_at) from notification_outbox where dispatched_at is null))::float as notifications`,
          )
          .catch(() => [undefined]);
        if (!row) return;
        this.set({ outbox: 'relay' }, row.relay ?? 0);
        this.set({ outbox: 'notifications' }, row.notifications ?? 0);
      },
    });
    app.addHook('onReady', async () => dispatcher.start(SWEEP_MS));
    app.addHook('onClose', async () => dispatcher.stop());
  },
  { name: 'outbox', dependencies: ['database', 'redis', 'cipher', 'queues'] },
);
