import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { sql } from 'drizzle-orm';
import { Counter, Gauge } from 'prom-client';
import type { WorkerConfig } from '#shared/config';
import { createRetentionSweeper, RETENTION_TABLES } from '../lib/retention.ts';

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
 * Owns the retention sweep (DESIGN 18): started when the app is ready, stopped (and awaited) on
 * close. Registered where the event lane runs, since every deployment has one there, beside the
 * data it writes most of; several such workers sweep side by side without meeting (SKIP LOCKED).
 */
export const retentionPlugin = fp(
  async (app: FastifyInstance, { config, sweepMs = SWEEP_MS }: RetentionPluginOptions) => {
    const deleted = new Counter({
      name: 'vapi_relay_retention_deleted_rows_total',
      help: 'Rows the retention sweep removed, by table (vapi_events.payload: raw payloads emptied, the event row kept)',
      labelNames: ['table'],
      registers: [app.metrics],
    });
    for (const table of RETENTION_TABLES) deleted.inc({ table }, 0);
    new Gauge({
      name: 'vapi_relay_retention_oldest_seconds',
      help: 'Age of the oldest row kept that a retention period applies to, by table (0 when none)',
      labelNames: ['table'],
      registers: [app.metrics],
      async collect() {
        const [row] = await app.db.execute<Record<string, number | null>>(OLDEST).catch(() => [undefined]);
        if (!row) return;
        for (const [table, age] of Object.entries(row)) this.set({ table }, age ?? 0);
      },
    });
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
