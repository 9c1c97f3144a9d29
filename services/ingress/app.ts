import type { FastifyInstance } from 'fastify';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { createServiceApp } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';
import { eventsQueuePlugin } from './plugins/events-queue';
import { webhookRoutes } from './routes/webhook';

export interface IngressOptions {
  config: Config;
  logger: Logger;
}

/** Builds the ingress (never listens): Vapi's webhook endpoint plus health and metrics. */
export async function buildIngressApp({ config, logger }: IngressOptions): Promise<FastifyInstance> {
  const app = await createServiceApp('ingress', logger, { requestIdHeader: 'x-request-id' });
  await app.register(eventsQueuePlugin, { config });
  await app.register(webhookRoutes, { config, cipher: new FieldCipher(config.dataEncryptionKeys) });
  return app;
}
