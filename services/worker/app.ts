import type { FastifyInstance } from 'fastify';
import type { WorkerConfig } from '#shared/config';
import { databasePlugin } from '#shared/db/plugin';
import { createServiceApp } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';
import { cipherPlugin } from '#shared/plugins/cipher';
import { queuesPlugin } from '#shared/plugins/queues';
import { redisPlugin } from '#shared/plugins/redis';
import { eventsWorkerPlugin } from './plugins/events-worker.ts';
import { liveWorkerPlugin } from './plugins/live-worker.ts';
import { notificationsWorkerPlugin } from './plugins/notifications-worker.ts';
import { outboxPlugin } from './plugins/outbox.ts';
import { toolsWorkerPlugin } from './plugins/tools-worker.ts';
import type { ToolDefinition } from './tools/define-tool.ts';

export interface WorkerOptions {
  config: WorkerConfig;
  logger: Logger;
  /** The tools the assistant may call; the clinic's registry unless a test brings its own. */
  tools?: ReadonlyMap<string, ToolDefinition>;
}

/**
 * Connections of a worker process, whatever WORKER_CONCURRENCY says: the events lane holds one per
 * transaction slot of its group commit (two), the rest serve tool calls, notification deliveries
 * and the outbox dispatcher at once.
 */
const DATABASE_CONNECTIONS = 20;

/** Builds the worker (never listens): the queue consumers and the outbox dispatcher, plus health and metrics over HTTP. */
export async function buildWorkerApp({ config, logger, tools }: WorkerOptions): Promise<FastifyInstance> {
  const app = await createServiceApp('worker', logger, config.adminToken);
  await app.register(redisPlugin, { target: config.redis });
  await app.register(databasePlugin, { url: config.databaseUrl, max: DATABASE_CONNECTIONS });
  await app.register(cipherPlugin, { keys: config.dataEncryptionKeys });
  await app.register(queuesPlugin, { prefix: config.queuePrefix });
  await app.register(outboxPlugin, { config });
  await app.register(eventsWorkerPlugin, { config });
  await app.register(liveWorkerPlugin, { config });
  await app.register(toolsWorkerPlugin, tools ? { config, tools } : { config });
  await app.register(notificationsWorkerPlugin, { config });
  return app;
}
