import type { FastifyInstance } from 'fastify';
import type { RelayConfig } from '#shared/config';
import { databasePlugin } from '#shared/db/plugin';
import { createServiceApp } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';

export interface RelayOptions {
  config: RelayConfig;
  logger: Logger;
}

/**
 * Builds the relay (never listens). So far its skeleton only: health and metrics. The WebSocket
 * stream (`/v1/stream`) that forwards the worker's per-patient events comes with the relay issue.
 */
export async function buildRelayApp({ config, logger }: RelayOptions): Promise<FastifyInstance> {
  const app = await createServiceApp('relay', logger);
  await app.register(databasePlugin, { url: config.databaseUrl, max: 5 });
  return app;
}
