import { resolve } from 'node:path';
import { ConfigError, loadConfig, type WorkerConfig } from '#shared/config';
import { resolveEnvironment } from '#shared/secrets';

/**
 * The configuration an operator's command runs with: the worker's, from the environment and `.env`
 * in the working directory (generated there on a first run, as `npm start` does), so it reads
 * and writes with the same keys as the deployment on this machine. A variable that is wrong is
 * named on stderr (no stack) and the command exits 1.
 */
export function cliConfig(): WorkerConfig {
  try {
    const { env } = resolveEnvironment(process.env, resolve('.env'), ['worker']);
    return loadConfig(env, ['worker']);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(1);
  }
}
