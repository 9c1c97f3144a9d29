import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from '../logger.ts';
import { adminAuthPlugin } from './admin-auth.ts';
import { errorHandlerPlugin } from './errors.ts';
import { healthPlugin } from './health.ts';
import { metricsPlugin } from './metrics.ts';

/**
 * A Fastify instance with what every service has: its role in every log line, one error shape,
 * `/healthz` + `/readyz`, `/metrics`, and `/admin/*` guarded by the admin token. Services log their own request lines where they matter
 * (the webhook), so Fastify's per-request lines are off.
 */
export async function createServiceApp(
  role: 'ingress' | 'worker' | 'relay',
  logger: Logger,
  adminToken: string,
  options: Pick<FastifyServerOptions, 'trustProxy' | 'requestIdHeader'> = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    ...options,
    loggerInstance: logger.child({ role }),
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  await app.register(errorHandlerPlugin);
  await app.register(adminAuthPlugin, { token: adminToken });
  await app.register(healthPlugin);
  await app.register(metricsPlugin, { service: role });
  return app;
}
