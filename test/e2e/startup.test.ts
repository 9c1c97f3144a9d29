import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UNREACHABLE_LOG_INTERVAL_MS } from '#shared/outage';
import { deleteRoleKeys, startRole } from '../helpers/role-start.ts';

afterAll(deleteRoleKeys);

/** A role started with every secret it might need, so what it says is about the variable under test. */
const start = (role: string, env: Record<string, string>, until?: (output: string) => boolean) =>
  startRole(
    role,
    {
      DATA_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      ADMIN_TOKEN: randomBytes(16).toString('hex'),
      VAPI_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
      NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
      ...env,
    },
    until,
  );

/** A port nothing listens on: one just let go of. */
async function freePort(): Promise<number> {
  const server = await listening();
  const { port } = server.address() as AddressInfo;
  await new Promise((closed) => server.close(closed));
  return port;
}

const listening = () =>
  new Promise<Server>((ready) => {
    const server = createServer().listen(0, '127.0.0.1', () => ready(server));
  });

/** Starts a worker that should come up not ready, and reads its /readyz once it says so. */
async function startNotReady(env: Record<string, string>) {
  let readiness: { code: number; checks?: Record<string, string> } | undefined;
  const { output } = await start('worker', env, (seen) => {
    const listeningOn = /worker listening on http:\/\/127\.0\.0\.1:(\d+)\/readyz, not ready/.exec(seen);
    if (listeningOn && !readiness) {
      readiness = { code: 0 };
      void fetch(`http://127.0.0.1:${listeningOn[1]}/readyz`).then(async (answer) => {
        readiness = { code: answer.status, ...((await answer.json()) as { checks: Record<string, string> }) };
      });
    }
    return readiness !== undefined && readiness.code !== 0;
  });
  return { output, readiness };
}

/** The log lines holding `text`: at least one, and every one at least UNREACHABLE_LOG_INTERVAL_MS after the one before. */
function slowPaced(output: string, text: string) {
  const found = lines(output)
    .filter((line) => line.includes(text))
    .map((line) => JSON.parse(line) as { time: number; msg: string });
  expect(found.length).toBeGreaterThanOrEqual(1);
  for (const [i, line] of found.slice(1).entries()) expect(line.time - found[i]!.time).toBeGreaterThanOrEqual(UNREACHABLE_LOG_INTERVAL_MS);
  return found;
}

const lines = (output: string) => output.split('\n').filter(Boolean);
const noStack = (output: string) => expect(output).not.toMatch(/\n\s+at /);

describe('start-up', () => {
  it('with Redis unreachable: says so in one line naming the address and REDIS_URL, at a slow pace, and is not ready', async () => {
    const port = await freePort();
    const { output, readiness } = await startNotReady({ REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(readiness).toMatchObject({ code: 503, checks: { redis: 'unavailable' } });
    expect(output).toMatch(
      new RegExp(`worker listening on http://127.0.0.1:\\d+/readyz, not ready: Redis at 127\\.0\\.0\\.1:${port} \\(REDIS_URL\\) does not answer`),
    );
    const outage = slowPaced(output, 'is unreachable');
    expect(outage[0]!.msg).toMatch(
      new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} \\(REDIS_URL\\) is unreachable \\(connect ECONNREFUSED .*\\): start it, or point REDIS_URL`),
    );
    expect(output).not.toMatch(/ECONNREFUSED.*"stack"|worker ready on/);
  }, 60_000);

  it('with Postgres unreachable: says so naming DATABASE_URL, at a slow pace, and is not ready', async () => {
    const port = await freePort();
    const { output, readiness } = await startNotReady({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/vapi_relay_test` });
    expect(readiness).toMatchObject({ code: 503, checks: { postgres: 'unavailable', redis: 'ok' } });
    expect(output).toMatch(/worker listening on http:\/\/127.0.0.1:\d+\/readyz, not ready: Postgres at DATABASE_URL does not answer/);
    slowPaced(output, 'is unreachable');
    expect(output).not.toMatch(/ECONNREFUSED.*"stack"|worker ready on/);
  }, 60_000);

  it.each([
    [
      'ingress',
      { TRUST_PROXY: 'yes' },
      /^Invalid configuration:\n {2}TRUST_PROXY: TRUST_PROXY must be true, false, or comma-separated proxy IP addresses\/CIDRs .*; not yes$/,
    ],
    ['ingress', { TRUST_PROXY: '2' }, /^Invalid configuration:\n {2}TRUST_PROXY: .*a hop count \(2\) trusts no proxy/],
    ['worker', { NODE_ENV: 'prod' }, /^Invalid configuration:\n {2}NODE_ENV: NODE_ENV must be one of development, production, test, not prod$/],
  ])('%s with %j: refused, naming the variable, exit 1, nothing written', async (role, env, message) => {
    const { code, output, cwd } = await start(role, env);
    expect(code).toBe(1);
    expect(output.trim()).toMatch(message);
    expect(existsSync(join(cwd, '.env'))).toBe(false);
  });

  it('on a port in use: names it in one line and exits 1', async () => {
    const taken = await listening();
    const { port } = taken.address() as AddressInfo;
    const { code, output } = await start('ingress', { PORT: String(port) });
    taken.close();
    expect(code).toBe(1);
    const errors = lines(output).filter((line) => !line.startsWith('{') || JSON.parse(line).level >= 50);
    expect(errors).toEqual([`PORT ${port} is already in use on 127.0.0.1 (another vapi-relay running?): stop it, or set PORT to a free port`]);
    noStack(output);
  }, 60_000);
});
