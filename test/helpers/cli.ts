import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Config } from '#shared/config';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './environment.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');

/** What an operator's command runs with in a test: the test servers, the test's queues and keys, nothing else of this process. */
export const cliEnvironment = (config: Config, keys: readonly Buffer[] = config.dataEncryptionKeys) => ({
  PATH: process.env.PATH,
  DATABASE_URL: TEST_DATABASE_URL,
  REDIS_URL: TEST_REDIS_URL,
  QUEUE_PREFIX: config.queuePrefix,
  DATA_ENCRYPTION_KEY: keys.map((key) => key.toString('base64')).join(','),
  ADMIN_TOKEN: config.adminToken,
});

/** The path of a script of `scripts/`. */
export const scriptPath = (name: string) => join(ROOT, 'scripts', name);

/**
 * Runs `scripts/<name>` as `npm run` would (tsx, in an empty working directory, so no `.env` is
 * read); resolves with its exit code and output, whatever the code.
 */
export function runScript(name: string, args: string[], env: Record<string, string | undefined>) {
  const options = { cwd: mkdtempSync(join(tmpdir(), 'script-')), env, maxBuffer: 64 * 1024 * 1024 };
  return run(join(ROOT, 'node_modules/.bin/tsx'), [scriptPath(name), ...args], options).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, stdout: error.stdout, stderr: error.stderr }),
  );
}
