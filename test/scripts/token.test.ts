import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { verifyRelayToken } from '#shared/relay-token';
import { testConfig } from '../helpers/config.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const config = testConfig();
const env = {
  PATH: process.env.PATH,
  RELAY_JWT_SECRET: config.relayJwtSecret,
  DATA_ENCRYPTION_KEY: config.dataEncryptionKeys.map((key) => key.toString('base64')).join(','),
  ADMIN_TOKEN: config.adminToken,
};
const token = (args: string[], extra: Record<string, string> = {}) =>
  run(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'scripts/token.ts'), ...args], {
    cwd: mkdtempSync(join(tmpdir(), 'token-')),
    env: { ...env, ...extra },
  });

describe('npm run token', () => {
  it('mints a token the relay accepts, up to the longest validity it allows', async () => {
    const { stdout } = await token(['--patient', 'pat-1', '--ttl', String(config.relayTokenMaxTtlS)]);
    const rules = { secret: config.relayJwtSecret, maxTtlS: config.relayTokenMaxTtlS };
    expect(verifyRelayToken(stdout.trim(), rules)).toMatchObject({ patientId: 'pat-1' });
  });

  it('refuses a --ttl the relay would refuse, saying so', async () => {
    await expect(token(['--patient', 'pat-1', '--ttl', String(config.relayTokenMaxTtlS + 1)])).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('longer than RELAY_TOKEN_MAX_TTL_S (86400 s)'),
    });
    const { stdout } = await token(['--patient', 'pat-1', '--ttl', '172800'], { RELAY_TOKEN_MAX_TTL_S: '172800' });
    expect(stdout.trim().split('.')).toHaveLength(3);
  });

  it('prints its usage for --help, and a one-line error with the usage (exit 2, no stack) for a bad command line', async () => {
    await expect(token(['--help'])).resolves.toMatchObject({ stdout: expect.stringContaining('Usage: npm run token -- --patient ID') });
    for (const [args, message] of [
      [['--patient', 'pat-1', '--bogus'], 'unknown option --bogus'],
      [['--patient'], '--patient needs a value'],
      [['--patient', 'pat-1', '--ttl'], '--ttl needs a value'],
      [[], '--patient is required'],
      [['--patient', 'pat-1', '--ttl', 'soon'], '--ttl must be a whole number of seconds > 0'],
      [['--patient', 'pat-1', 'extra'], 'unexpected argument extra'],
    ] as const) {
      const failed = await token([...args]).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
      expect({ args, code: failed.code, first: failed.stderr.split('\n')[0] }).toEqual({ args, code: 2, first: `npm run token: ${message}` });
      expect(failed.stderr).toContain('Usage: npm run token');
      expect(failed.stderr).not.toMatch(/^\s+at /m);
    }
  });
});
