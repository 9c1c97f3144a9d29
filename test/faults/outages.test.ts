import { setTimeout as sleep } from 'node:timers/promises';
import { readdirSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectNothingLost } from './checks.ts';
import { PrivatePostgres, PrivateRedis } from './private-services.ts';
import { Stack } from './stack.ts';
import { CallStream } from './traffic.ts';

/** The outages' lengths; the issue's figures by default, shorter when a developer iterates. */
const OUTAGE_S = Number(process.env.FAULTS_OUTAGE_S ?? 20);
const READ_ONLY_S = Number(process.env.FAULTS_READ_ONLY_S ?? 120);

let redis: PrivateRedis;
let pg: PrivatePostgres;
let stack: Stack;

beforeAll(async () => {
  [redis, pg] = await Promise.all([PrivateRedis.create(), PrivatePostgres.create()]);
  stack = await Stack.start('outages', { databaseUrl: pg.url(), redis: { REDIS_URL: redis.url } });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await Promise.all([redis?.destroy(), pg?.destroy()]);
}, 60_000);

/** Takes a dependency away for `seconds` while the stream flows, gives it back, and lets things settle. */
async function outage(what: string, seconds: number, stop: () => Promise<void>, start: () => Promise<void>) {
  await stop();
  stack.mark(`${what} stopped`, { seconds });
  await sleep(seconds * 1_000);
  await start();
  stack.mark(`${what} back`);
  await sleep(5_000);
}

/** The highest number of spooled events the ingress reported while `work` ran. */
async function peakSpool(work: () => Promise<void>): Promise<number> {
  let peak = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const text = await fetch(`${stack.roles.ingress.url}/metrics`)
        .then((r) => r.text())
        .catch(() => '');
      const value = Number(/^vapi_relay_spool_events(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? 0);
      peak = Math.max(peak, value);
      await sleep(500);
    }
  })();
  await work();
  done = true;
  await sampling;
  return peak;
}

describe('the fault suite: a steady stream of calls through kills and outages', () => {
  it('stores every event answered 2xx exactly once, completes every call, leaves no seq hole, notifies once', async () => {
    const { roles } = stack;
    const stream = new CallStream(roles.ingress.url, 8, 60);
    stream.start();
    stack.mark('stream started');
    await sleep(5_000);

    for (let kill = 1; kill <= 3; kill++) {
      await roles.worker.stop('SIGKILL');
      stack.mark('worker killed (SIGKILL)', { kill });
      await sleep(1_000);
      await roles.worker.start();
      stack.mark('worker restarted');
      await sleep(3_000);
    }

    const spooled = await peakSpool(() =>
      outage(
        'Redis',
        OUTAGE_S,
        () => redis.kill(),
        () => redis.start(),
      ),
    );
    stack.mark('spool peak', { events: spooled });
    await outage(
      'Postgres',
      OUTAGE_S,
      () => pg.stop(),
      () => pg.start(),
    );
    await outage(
      'Postgres writes (read-only)',
      READ_ONLY_S,
      () => pg.setReadOnly(true),
      () => pg.setReadOnly(false),
    );

    const shutdowns: Record<string, { code: number | null; ms: number }> = {};
    for (const role of Object.values(roles)) {
      shutdowns[role.role] = await role.stop('SIGTERM');
      stack.mark(`${role.role} stopped (SIGTERM)`, shutdowns[role.role]);
      await role.start();
    }
    await stream.stop();
    stack.mark('stream stopped', stream.counts);

    const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const report = {
        ...(await expectNothingLost(stack, stream, { databaseUrl: pg.url(), redis: connection, workerKills: 3 })),
        spoolPeak: spooled,
        shutdowns,
      };
      stack.mark('report', report);
      console.log('fault suite report', JSON.stringify(report));
      expect(spooled).toBeGreaterThan(0);
      expect(readdirSync(stack.spoolDir)).toEqual([]);
      for (const shutdown of Object.values(shutdowns)) {
        expect(shutdown.code).toBe(0);
        expect(shutdown.ms).toBeLessThan(30_000);
      }
    } finally {
      connection.disconnect();
    }
  }, 1_200_000);
});
