import type { FastifyInstance } from 'fastify';
import type { WorkerConfig } from '#shared/config';
import { databasePlugin } from '#shared/db/plugin';
import { registerAdminScope } from '#shared/http/admin-scope';
import { createServiceApp } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';
import { cipherPlugin } from '#shared/plugins/cipher';
import { queuesPlugin } from '#shared/plugins/queues';
import { redisPlugin } from '#shared/plugins/redis';
import { eventsWorkerPlugin } from './plugins/events-worker.ts';
import { liveWorkerPlugin } from './plugins/live-worker.ts';
import { notificationsWorkerPlugin } from './plugins/notifications-worker.ts';
import { outboxPlugin } from './plugins/outbox.ts';
import { reconcilerPlugin, type ReconcileTuning } from './plugins/reconciler.ts';
import { retentionPlugin } from './plugins/retention.ts';
import { toolsWorkerPlugin } from './plugins/tools-worker.ts';
import type { ToolDefinition } from './tools/define-tool.ts';

export interface WorkerOptions {
  config: WorkerConfig;
  logger: Logger;
  /** The tools the assistant may call; the clinic's registry unless a test brings its own. */
  tools?: ReadonlyMap<string, ToolDefinition>;
  /** Until when jobs sealed by an earlier version are opened (epoch ms); the codec's window unless a test moves it. */
  legacySealsUntil?: number;
  /** How patiently Vapi's API is asked when reconciling silent calls; the defaults unless a test shortens them. */
  reconcileTuning?: ReconcileTuning;
  /** How often the retention sweep runs (ms); its plugin's default unless a test shortens it. */
  retentionSweepMs?: number;
}

/**
 * Connections of a worker process, whatever WORKER_CONCURRENCY says: the events lane holds one per
 * transaction slot of its group commit (two), the rest serve tool calls, notification deliveries
 * and the outbox dispatcher at once.
 */
const DATABASE_CONNECTIONS = 20;

/**
 * Builds the worker (never listens): the consumers of the queues `WORKER_QUEUES` names, and only
 * what they need, so each lane can run and scale in processes of its own (docs/operations.md,
 * "Scaling out"): the outbox dispatcher where outbox rows are written (events, tools), the retention
 * sweep beside the event lane (every deployment has one), Postgres where a consumer reads or writes
 * it (not for the live lane, which never waits for it), the reconciler of silent calls beside the
 * events consumer that stores what it finds, plus health and metrics over HTTP.
 */
export async function buildWorkerApp({ config, logger, tools, legacySealsUntil, reconcileTuning, retentionSweepMs }: WorkerOptions): Promise<FastifyInstance> {
  const consumes = new Set(config.workerQueues);
  const writesOutbox = consumes.has('events') || consumes.has('tools');
  const app = await createServiceApp('worker', logger);
  await app.register(redisPlugin, { target: config.redis });
  if (writesOutbox || consumes.has('notifications')) await app.register(databasePlugin, { url: config.databaseUrl, max: DATABASE_CONNECTIONS });
  await app.register(cipherPlugin, { keys: config.dataEncryptionKeys, legacySealsUntil });
  if (writesOutbox) {
    await app.register(queuesPlugin, { prefix: config.queuePrefix });
    await app.register(outboxPlugin, { config });
  }
  if (consumes.has('events')) {
    await app.register(eventsWorkerPlugin, { config });
    await app.register(reconcilerPlugin, { config, tuning: reconcileTuning });
    await app.register(retentionPlugin, retentionSweepMs === undefined ? { config } : { config, sweepMs: retentionSweepMs });
  }
  if (consumes.has('live')) await app.register(liveWorkerPlugin, { config });
  if (consumes.has('tools')) await app.register(toolsWorkerPlugin, tools ? { config, tools } : { config });
  if (consumes.has('notifications')) await app.register(notificationsWorkerPlugin, { config });
  // No admin routes here, but the scope still answers /admin/... with 401 (nothing to find without the token).
  await registerAdminScope(app, { token: config.adminToken });
  app.log.info({ queues: config.workerQueues }, 'worker consumes these queues');
  return app;
}
