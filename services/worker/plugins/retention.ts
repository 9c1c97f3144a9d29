import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sql } from 'drizzle-orm';
import type { WorkerConfig } from '#shared/config';
import { createRetentionSweeper, RETENTION_TABLES } from '../lib/retention.ts';
import { createRetentionMetrics } from '../metrics.ts';

/** How often the sweep runs: what expired in between waits at most this long. */
const SWEEP_MS = 60_000;

/** What the oldest-row gauge reports: the rows each period applies to (each read through a retention index). */
const OLDEST = sql`
  select extract(epoch from now() - (select min(received_at) from vapi_events where payload is not null))::float as "vapi_events.payload",
         extract(epoch from now() - (select min(created_at) from session_events where dispatched_at is not null))::float as session_events,
         extract(epoch from now() - (select min(created_at) from notification_outbox where dispatched_at is not null))::float as notification_outbox,
         extract(epoch from now() - (select min(created_at) from notification_attempts))::float as notification_attempts,
         extract(epoch from now() - (select min(ended_at) from vapi_sessions where status in ('ended', 'completed')))::float as vapi_sessions`;

export interface RetentionPluginOptions {
  config: WorkerConfig;
  /** SWEEP_MS unless a test says otherwise. */
  sweepMs?: number;
}

/**
 * Owns the retention sweep (docs/storage.md, "Retention"): started when the app is ready, stopped
 * (and awaited) on close. Registered where the event lane runs, since every deployment has one
 * there, beside the data it writes most of; several such workers sweep side by side without meeting
 * (SKIP LOCKED).
 */
export const retentionPlugin = fp(
  async (app: FastifyInstance, { config, sweepMs = SWEEP_MS }: RetentionPluginOptions) => {
    const { deleted } = createRetentionMetrics(app.metrics, async () => {
      const [row] = await app.db.execute<Record<string, number | null>>(OLDEST).catch(() => [undefined]);
      return row;
    });
    for (const table of RETENTION_TABLES) deleted.inc({ table }, 0);
    const sweeper = createRetentionSweeper({
      db: app.db,
      periods: config.retention,
      logger: app.log,
      onDeleted: (table, rows) => deleted.inc({ table }, rows),
    });
    app.addHook('onReady', async () => sweeper.start(sweepMs));
    app.addHook('onClose', async () => sweeper.stop());
  },
  { name: 'retention', dependencies: ['database'] },
);
