import type { FastifyInstance } from 'fastify';
import type { Config } from '#shared/config';
import { databasePlugin } from '#shared/db/plugin';
import { createServiceApp } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';
import { eventsWorkerPlugin } from './plugins/events-worker';

export interface WorkerOptions {
  config: Config;
  logger: Logger;
}

/** Builds the worker (never listens): the event consumer plus health and metrics over HTTP. */
export async function buildWorkerApp({ config, logger }: WorkerOptions): Promise<FastifyInstance> {
  const app = await createServiceApp('worker', logger);
  await app.register(databasePlugin, { url: config.databaseUrl, max: config.workerConcurrency + 2 });
  await app.register(eventsWorkerPlugin, { config });
  return app;
}
