import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cliEnvironment, runScript } from '../helpers/cli.ts';
import { testConfig } from '../helpers/config.ts';

const env = cliEnvironment(testConfig());

/** Each operator's command: its usage on --help, and a usage error (exit 2, the usage on stderr, no stack) for what it does not take. */
const COMMANDS: { script: string; usage: RegExp; wrong: [string[], RegExp][] }[] = [
  {
    script: 'keys-rewrap.ts',
    usage: /^usage: npm run keys:rewrap/,
    wrong: [
      [['--bogus'], /^npm run keys:rewrap: unknown option --bogus\n/],
      [['--batch-size'], /^npm run keys:rewrap: --batch-size needs a value\n/],
      [['--batch-size', 'lots'], /^npm run keys:rewrap: --batch-size must be a whole number from 1 to 10000: lots\n/],
      [['now'], /^npm run keys:rewrap: unexpected argument now\n/],
    ],
  },
  {
    script: 'patient.ts',
    usage: /^usage: npm run patient -- export/,
    wrong: [
      [['export', '--patient', 'p', '--bogus'], /^npm run patient: unknown option --bogus\n/],
      [['exprot', '--patient', 'p'], /^npm run patient: unknown command exprot: export or erase\n/],
      [[], /^npm run patient: no command given: export or erase\n/],
      [['export', '--patient'], /^npm run patient: --patient needs a value\n/],
      [['export'], /^npm run patient: --patient is required\n/],
      [['export', '--patient', 'p', '--format', 'pdf'], /^npm run patient: unknown format pdf\n/],
    ],
  },
  {
    script: 'db-seed.ts',
    usage: /^usage: npm run db:seed\n/,
    wrong: [
      [['--bogus'], /^npm run db:seed: unknown option --bogus\n/],
      [['clinic'], /^npm run db:seed: unexpected argument clinic\n/],
    ],
  },
];

describe.each(COMMANDS)('$script', ({ script, usage, wrong }) => {
  it('prints its usage on --help and -h, exit 0', async () => {
    const [long, short] = await Promise.all([runScript(script, ['--help'], env), runScript(script, ['-h'], env)]);
    expect(long).toMatchObject({ code: 0, stderr: '' });
    expect(long.stdout).toMatch(usage);
    expect(short).toEqual(long);
  });

  it('names a wrong flag, value, command or argument with the usage, exit 2, no stack', async () => {
    const results = await Promise.all(wrong.map(([args]) => runScript(script, args, env)));
    for (const [index, [args, message]] of wrong.entries()) {
      expect(results[index], args.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(results[index]!.stderr).toMatch(message);
      expect(results[index]!.stderr).toMatch(/\n\nusage: npm run /);
      expect(results[index]!.stderr).not.toMatch(/\n +at /);
    }
  }, 60_000);
});

describe('a command with a variable that is wrong', () => {
  it('names it in one message and exits 1, no stack', async () => {
    const result = await runScript('dlq.ts', ['list'], { ...env, DATA_ENCRYPTION_KEY: 'c2hvcnQ=' });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toMatch(/^error: Invalid configuration:\n {2}DATA_ENCRYPTION_KEY.*32 bytes/);
    expect(result.stderr).not.toMatch(/\n +at /);
  });

  it('with Redis unreachable: says where and what to set, exit 1, no stack (instead of waiting forever)', async () => {
    const server = createServer();
    await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
    const { port } = server.address() as AddressInfo;
    await new Promise((closed) => server.close(closed));
    const result = await runScript('dlq.ts', ['list'], { ...env, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(result).toMatchObject({ code: 1, stdout: '' });
    expect(result.stderr).toContain(`error: Redis at 127.0.0.1:${port} (REDIS_URL) does not answer: start it, or point REDIS_URL at it\n`);
    expect(result.stderr).not.toMatch(/\n +at /);
  });
});
