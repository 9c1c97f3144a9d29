import type { FastifyInstance } from 'fastify';
import type { IngressConfig } from '#shared/config';
import { registerAdminScope, type AdminScopeOptions } from '#shared/http/admin-scope';
import { createServiceApp, type ListenerOptions } from '#shared/http/service-app';
import type { Logger } from '#shared/logger';
import { cipherPlugin } from '#shared/plugins/cipher';
import { queuesPlugin } from '#shared/plugins/queues';
import { redisPlugin } from '#shared/plugins/redis';
import { databasePlugin } from '#shared/db/plugin';
import { adminListenerPlugin } from './plugins/admin-listener.ts';
import { intakePlugin } from './plugins/intake.ts';
import { queueDashboard } from './plugins/queue-dashboard.ts';
import { adminRoutes } from './routes/admin.ts';
import { toolCallsPlugin } from './plugins/tool-calls.ts';
import { webhookRoutes } from './routes/webhook.ts';

export interface IngressOptions {
  config: IngressConfig;
  logger: Logger;
}

/**
 * Builds the ingress (never listens): Vapi's webhook endpoint plus health and metrics, and the
 * operators' admin scope (dashboard and API) on the same port or, with `ADMIN_PORT`, on its own.
 */
export async function buildIngressApp({ config, logger }: IngressOptions): Promise<FastifyInstance> {
  const listener: ListenerOptions = { requestIdHeader: 'x-request-id', trustProxy: config.trustProxy };
  const app = await createServiceApp('ingress', logger, listener);
  // Readiness is whether events can be made durable, in Redis or the spool (the intake plugin says).
  await app.register(redisPlugin, { target: config.redis, ready: false });
  // Postgres serves the operators only (audit log, search): webhooks never wait for it, and an
  // ingress whose database is down stays in the load balancer.
  await app.register(databasePlugin, { url: config.databaseUrl, max: 4, ready: false });
  await app.register(cipherPlugin, { keys: config.dataEncryptionKeys });
  await app.register(queuesPlugin, { prefix: config.queuePrefix });
  await app.register(intakePlugin, { spool: config.spool });
  await app.register(toolCallsPlugin, { config });
  await app.register(webhookRoutes, { config });

  const resources = { queues: app.queues, db: app.db, jobCodec: app.jobCodec };
  const scope: AdminScopeOptions = {
    token: config.adminToken,
    content: async (admin) => {
      await admin.register(queueDashboard, resources);
      await admin.register(adminRoutes, resources);
    },
  };
  if (config.adminListener) await app.register(adminListenerPlugin, { listen: config.adminListener, logger, listener, scope });
  else await registerAdminScope(app, scope);
  return app;
}
