import { resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig, ROLES, type Config, type Role } from '#shared/config';
import { createLogger, type Logger } from '#shared/logger';
import { describeTarget } from '#shared/redis';
import { resolveEnvironment } from '#shared/secrets';
import { startTracing } from '#shared/tracing';
import { buildIngressApp } from './ingress/app.ts';
import { DASHBOARD_PATH } from './ingress/plugins/queue-dashboard.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildRelayApp } from './relay/app.ts';
import { buildWorkerApp } from './worker/app.ts';

type Build = (options: { config: Config; logger: Logger }) => Promise<FastifyInstance>;

/** How each role is built and where it listens. Each build reads only its role's part of the config. */
const STARTERS: Record<Role, { build: Build; port: (config: Config) => number; portVariable: string; path: string }> = {
  ingress: { build: buildIngressApp, port: (c) => c.ingressPort, portVariable: 'PORT', path: WEBHOOK_PATH },
  worker: { build: buildWorkerApp, port: (c) => c.workerPort, portVariable: 'WORKER_PORT', path: '/readyz' },
  relay: { build: buildRelayApp, port: (c) => c.relayPort, portVariable: 'RELAY_PORT', path: '/' },
};

/**
 * What `/readyz` finds unavailable right after start-up, but Redis, which the caller names by its
 * connection (the ingress stays ready without it while its spool takes events, and still says so).
 */
async function unavailable(app: FastifyInstance): Promise<string[]> {
  const answer = await app.inject({ url: '/readyz' });
  const { checks = {} } = answer.json() as { checks?: Record<string, string> };
  return Object.entries(checks).flatMap(([name, state]) =>
    state === 'ok' || name === 'redis' ? [] : [name === 'postgres' ? 'Postgres at DATABASE_URL' : name],
  );
}

/** Listens, naming the variable of a port that is taken (or not ours to take) instead of a raw EADDRINUSE. */
async function listen(app: FastifyInstance, host: string, port: number, variable: string): Promise<void> {
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE')
      throw new ConfigError(`${variable} ${port} is already in use on ${host} (another vapi-relay running?): stop it, or set ${variable} to a free port`);
    if (code === 'EACCES') throw new ConfigError(`${variable} ${port} on ${host} may not be opened by this user: set ${variable} to a port above 1023`);
    if (code === 'EADDRNOTAVAIL') throw new ConfigError(`HOST ${host} is not an address of this machine: set HOST`);
    throw error;
  }
}

const isRole = (name: string): name is Role => (ROLES as readonly string[]).includes(name);

/** How a bound address is written in a URL: a wildcard as the loopback, IPv6 in brackets. */
const urlHost = (address: string) => (address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address);

/**
 * Grace for in-flight requests and jobs on shutdown. Longer than any job takes even with the
 * database gone (connecting gives up after 5 s, a statement after 10 s, a lock wait after 3 s:
 * shared/db/client.ts; a tool job ends at its deadline, a notification attempt at its timeout), and
 * shorter than the 30 s a container platform waits before SIGKILL (compose's stop_grace_period).
 */
const SHUTDOWN_GRACE_MS = 25_000;

/**
 * Starts the roles named on the command line (all three by default) in this process, each on its
 * own port, and closes them gracefully on SIGINT/SIGTERM.
 */
async function main(argv: string[]) {
  const names = argv.length > 0 ? argv : [...ROLES];
  const unknown = names.filter((name) => !isRole(name));
  if (unknown.length > 0) throw new ConfigError(`Unknown role(s): ${unknown.join(', ')}. Use ${ROLES.join(', ')}.`);
  const roles = names.filter(isRole);

  const envPath = resolve('.env');
  const { env, generated } = resolveEnvironment(process.env, envPath, roles);
  // Only the roles started here are validated and held; the cast is safe because each build reads its own part.
  const config = loadConfig(env, roles) as Config;
  // Before any app is built: the Fastify instrumentation hooks each instance as it is created.
  const stopTracing = config.tracing.enabled ? await startTracing({ roles, serviceName: config.tracing.serviceName, env }) : undefined;
  const logger = createLogger({ level: config.logLevel, service: 'vapi-relay', traceIds: config.tracing.enabled });
  if (generated.length > 0) logger.warn({ file: envPath, generated }, `generated secrets for this machine; they are kept in ${envPath}`);

  const apps: FastifyInstance[] = [];
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    for (const app of apps.reverse()) await app.close();
    await stopTracing?.();
  });

  for (const role of roles) {
    const { build, port, portVariable, path } = STARTERS[role];
    const app = await build({ config, logger });
    apps.push(app);
    await listen(app, config.host, port(config), portVariable);
    const { port: bound } = app.server.address() as { port: number };
    const admin = app.adminListener?.server.address() as { address: string; port: number } | undefined;
    if (admin) logger.info(`${role} admin on http://${urlHost(admin.address)}:${admin.port}${DASHBOARD_PATH}`);
    const url = `http://127.0.0.1:${bound}${path}`;
    const away = [...(app.redis.producer.status === 'ready' ? [] : [`Redis at ${describeTarget(config.redis)}`]), ...(await unavailable(app))];
    if (away.length === 0) logger.info(`${role} ready on ${url}`);
    else logger.warn(`${role} listening on ${url}, not ready: ${away.join(', ')} does not answer (see /readyz)`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    console.error(error.message);
  } else {
    console.error(error);
  }
  process.exit(1);
});
