import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { uniquePrefix } from './config.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './environment.ts';
import { deleteKeys, openTestRedis } from './redis.ts';

const MAIN = resolve(import.meta.dirname, '../../services/main.ts');
const TSX = resolve(import.meta.dirname, '../../node_modules/.bin/tsx');

/** How a role process ended: its exit code, everything it printed, the directory it ran in. */
export interface StartedRole {
  code: number | null;
  output: string;
  cwd: string;
}

/** The queue prefixes the processes started here wrote under (queue metadata), for `deleteRoleKeys`. */
const prefixes: string[] = [];

/**
 * Runs `services/main.ts <role>` as a process of its own in an empty directory (no .env), on the
 * test database and Redis under a queue prefix of its own, until `until` says enough was seen (then
 * SIGTERM) or it exits.
 */
export function startRole(role: string, env: Record<string, string>, until: (output: string) => boolean = () => false): Promise<StartedRole> {
  const cwd = mkdtempSync(join(tmpdir(), 'vapi-relay-role-'));
  const prefix = uniquePrefix();
  prefixes.push(prefix);
  return new Promise((done) => {
    const child = spawn(TSX, [MAIN, role], {
      cwd,
      env: {
        PATH: process.env.PATH,
        LOG_LEVEL: 'info',
        HOST: '127.0.0.1',
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: prefix,
        PORT: '0',
        WORKER_PORT: '0',
        RELAY_PORT: '0',
        ...env,
      },
    });
    let output = '';
    let stopping = false;
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (!stopping && until(output)) {
        stopping = true;
        child.kill('SIGTERM');
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.on('exit', (code) => done({ code, output, cwd }));
  });
}

/** Deletes what the roles started by this file left in Redis (for its afterAll). */
export async function deleteRoleKeys(): Promise<void> {
  const redis = openTestRedis();
  for (const prefix of prefixes.splice(0)) await deleteKeys(redis, prefix);
  redis.disconnect();
}
