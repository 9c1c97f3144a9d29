import { resolve } from 'node:path';
import { loadConfig, type WorkerConfig } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';

/**
 * The configuration an operator's command runs with: the worker's, from the environment and `.env`
 * in the working directory (generated there on a first run, as `npm start` does), so it reads
 * and writes with the same keys as the deployment on this machine.
 */
export function cliConfig(): WorkerConfig {
  const { env } = resolveEnvironment(process.env, resolve('.env'), ['worker']);
  return loadConfig(env, ['worker']);
}
