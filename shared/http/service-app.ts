import helmet from '@fastify/helmet';
import Fastify, { LogController, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Role } from '../config.ts';
import type { Logger } from '../logger.ts';
import { errorHandlerPlugin, HttpError, sendHttpError } from './errors.ts';
import { healthPlugin } from './health.ts';
import { metricsPlugin } from './metrics.ts';
import { SECURITY_HEADERS, securityHeadersFor } from './security-headers.ts';

/** How long a client may take: to send its headers, its whole request, or nothing at all on a kept-alive connection. */
export interface ServerTimeouts {
  headersMs: number;
  requestMs: number;
  idleMs: number;
}

/**
 * Generous for Vapi (a 5 MB report arrives in well under a second) and for the relay's HTTP routes
 * (WebSockets leave these timeouts behind once upgraded), short enough that a client dribbling one
 * byte a second cannot hold a connection for long.
 */
export const SERVER_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, idleMs: 60_000 };

/** Per-listener Fastify options a role chooses (the ingress: request ids from its proxy, trusted proxies). */
export type ListenerOptions = Pick<FastifyServerOptions, 'trustProxy' | 'requestIdHeader'>;

/**
 * A Fastify instance with what every listener has: its role in every log line, one error shape,
 * security headers, timeouts on headers, requests and idle connections, and the contract's 503 for
 * requests that arrive while it closes (those already in flight finish). Services log their own
 * request lines where they matter (the webhook), so Fastify's per-request lines are off.
 */
export async function createHttpApp(
  role: Role,
  logger: Logger,
  options: ListenerOptions = {},
  timeouts: ServerTimeouts = SERVER_TIMEOUTS,
): Promise<FastifyInstance> {
  const app = Fastify({
    ...options,
    loggerInstance: logger.child({ role }),
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.idleMs,
    keepAliveTimeout: Math.min(5_000, timeouts.idleMs),
    // Requests that arrive while the app closes get the contract's 503 (below), not Fastify's own body.
    return503OnClosing: false,
    // What the router refuses before any hook runs (a URL that cannot be decoded, a path segment over
    // `maxParamLength`) still gets the one error shape, and echoes nothing of the URL.
    frameworkErrors: (error, _request, reply) => {
      reply.header('cache-control', 'no-store');
      const refusal =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH'
          ? new HttpError(404, 'NOT_FOUND', 'No route for this path')
          : new HttpError(400, 'BAD_REQUEST', 'The URL cannot be decoded');
      sendHttpError(reply, refusal);
    },
  }) as unknown as FastifyInstance;
  app.server.headersTimeout = timeouts.headersMs;
  // Node enforces the header and request timeouts on this sweep (30 s by default): check often enough to mean them.
  Object.assign(app.server, { connectionsCheckingInterval: Math.min(1_000, Math.ceil(timeouts.headersMs / 2)) });
  await app.register(errorHandlerPlugin);
  // Every answer gets the same headers, worked out once; `reply.helmet(options)` stays for a page
  // that needs others (the queue dashboard), set over these.
  await app.register(helmet, { ...SECURITY_HEADERS, global: false });
  const securityHeaders = securityHeadersFor(SECURITY_HEADERS);
  app.addHook('onRequest', (_request, reply, done) => {
    for (const [name, value] of securityHeaders) reply.raw.setHeader(name, value);
    done();
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', (_request, reply, done) => {
    if (!closing) return done();
    reply.header('connection', 'close');
    done(new HttpError(503, 'UNAVAILABLE', 'This instance is shutting down; retry', { 'retry-after': '1' }));
  });
  return app;
}

/**
 * A role's app: an HTTP app (above) with `/healthz` + `/readyz` and `/metrics`. Each role adds its
 * admin scope last (shared/http/admin-scope.ts), once what the scope's routes use is registered.
 */
export async function createServiceApp(
  role: Role,
  logger: Logger,
  options: ListenerOptions = {},
  timeouts: ServerTimeouts = SERVER_TIMEOUTS,
): Promise<FastifyInstance> {
  const app = await createHttpApp(role, logger, options, timeouts);
  await app.register(healthPlugin);
  await app.register(metricsPlugin, { service: role });
  return app;
}
