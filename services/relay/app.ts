import type { FastifyInstance } from 'fastify';
import type { RelayConfig } from '#shared/config';
import { databasePlugin } from '#shared/db/plugin';
import { registerAdminScope } from '#shared/http/admin-scope';
import { createServiceApp } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';
import { cipherPlugin } from '#shared/plugins/cipher';
import { redisPlugin } from '#shared/plugins/redis';
import { openapiPlugin } from './plugins/openapi.ts';
import { streamPlugin, type StreamOptions } from './plugins/stream.ts';
import { historyRoutes } from './routes/history.ts';
import { pageRoutes } from './routes/page.ts';

export interface RelayOptions {
  config: RelayConfig;
  logger: Logger;
  /** Tuning a test may shorten or shrink; the defaults are the contract's (pings every 30 s). */
  stream?: Partial<Omit<StreamOptions, 'config'>>;
}

const STREAM_DEFAULTS = { pingIntervalMs: 30_000, maxBufferedBytes: 1024 * 1024, subscribeGraceMs: 500 };

/**
 * Builds the relay (never listens): the WebSocket stream at `/v1/stream` that forwards each
 * patient's events from Redis and replays them from Postgres, the patient's history API under `/v1`
 * (and its OpenAPI document), the watch page at `/`, health and metrics.
 */
export async function buildRelayApp({ config, logger, stream }: RelayOptions): Promise<FastifyInstance> {
  const app = await createServiceApp('relay', logger);
  await app.register(redisPlugin, { target: config.redis });
  await app.register(databasePlugin, { url: config.databaseUrl, max: 5 });
  await app.register(cipherPlugin, { keys: config.dataEncryptionKeys });
  await app.register(streamPlugin, { config, ...STREAM_DEFAULTS, ...stream });
  await app.register(openapiPlugin);
  await app.register(historyRoutes, { prefix: '/v1', config });
  await app.register(pageRoutes);
  // No admin routes here, but the scope still answers /admin/... with 401 (nothing to find without the token).
  await registerAdminScope(app, { token: config.adminToken });
  return app;
}
