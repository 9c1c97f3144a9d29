import { resolve } from 'node:path';
import closeWithGrace from 'close-with-grace';
import type { FastifyInstance } from 'fastify';
import { ConfigError, loadConfig, type Config } from '#shared/config';
import { createLogger, type Logger } from '#shared/logger';
import { resolveEnvironment } from '#shared/secrets';
import { buildIngressApp } from './ingress/app';
import { WEBHOOK_PATH } from './ingress/routes/webhook';
import { buildRelayApp } from './relay/app';
import { buildWorkerApp } from './worker/app';

type Build = (options: { config: Config; logger: Logger }) => Promise<FastifyInstance>;

const ROLES: Record<string, { build: Build; port: (config: Config) => number; path: string }> = {
  ingress: { build: buildIngressApp, port: (c) => c.ports.ingress, path: WEBHOOK_PATH },
  worker: { build: buildWorkerApp, port: (c) => c.ports.worker, path: '/readyz' },
  relay: { build: buildRelayApp, port: (c) => c.ports.relay, path: '/readyz' },
};

/** Grace for in-flight requests and jobs on shutdown; longer than any event job takes. */
const SHUTDOWN_GRACE_MS = 15_000;

/**
 * Starts the roles named on the command line (all three by default) in this process, each on its
 * own port, and closes them gracefully on SIGINT/SIGTERM.
 */
async function main(argv: string[]) {
  const roles = argv.length > 0 ? argv : Object.keys(ROLES);
  const unknown = roles.filter((role) => !(role in ROLES));
  if (unknown.length > 0) throw new ConfigError(`Unknown role(s): ${unknown.join(', ')}. Use ${Object.keys(ROLES).join(', ')}.`);

  const envPath = resolve('.env');
  const { env, generated } = resolveEnvironment(process.env, envPath);
  const config = loadConfig(env);
  const logger = createLogger({ level: config.logLevel, service: 'vapi-relay' });
  if (generated.length > 0) logger.warn({ file: envPath, generated }, `generated secrets for this machine; they are kept in ${envPath}`);

  const apps: FastifyInstance[] = [];
  closeWithGrace({ delay: SHUTDOWN_GRACE_MS, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    for (const app of apps.reverse()) await app.close();
  });

  for (const role of roles) {
    const { build, port, path } = ROLES[role]!;
    const app = await build({ config, logger });
    apps.push(app);
    await app.listen({ host: config.host, port: port(config) });
    const { port: bound } = app.server.address() as { port: number };
    logger.info(`${role} ready on http://127.0.0.1:${bound}${path}`);
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
