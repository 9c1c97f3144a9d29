import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventsQueue } from '#shared/queues/events-queue';
import { expectNothingLost } from './checks.ts';
import { PrivatePostgres, PrivateRedis } from './private-services.ts';
import type { RoleProcess } from './role-process.ts';
import { Stack } from './stack.ts';
import { CallStream } from './traffic.ts';

/** How long the worker stays frozen: the issue's figure. */
const FREEZE_S = 60;
/** How long the healthy worker's rate is measured before the freeze. */
const BEFORE_S = 15;
/**
 * Calls that last a quarter of a minute (about 30 events, half a second apart), so the calls the
 * frozen worker holds keep sending events during the freeze, as real calls do: those events queue
 * up behind its locks, and they are what took every slot of the other worker in the issue.
 */
const CALLS_AT_ONCE = 32;
const GAP_MS = 500;
/**
 * Transactions the frozen worker must be caught holding. One is enough, and more than two cannot be
 * asked: a worker commits its events in group commits, two slots at most, each holding the row locks
 * of every call in its batch.
 */
const HELD_AT_LEAST = 1;

let redis: PrivateRedis;
let pg: PrivatePostgres;
let stack: Stack;

beforeAll(async () => {
  [redis, pg] = await Promise.all([PrivateRedis.create(), PrivatePostgres.create()]);
  stack = await Stack.start('frozen-worker', { databaseUrl: pg.url(), redis: { REDIS_URL: redis.url }, secondWorker: true });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await Promise.all([redis?.destroy(), pg?.destroy()]);
}, 60_000);

/** Events a worker process has stored since it started, from its own /metrics. */
async function eventsStoredBy(worker: RoleProcess): Promise<number> {
  const text = await (await fetch(`${worker.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('vapi_relay_jobs_processed_total{') && line.includes('queue="vapi-events"') && line.includes('outcome="processed"'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

/** Transactions a worker's connections hold open without running anything (all of a frozen worker's). */
async function idleTransactionsOf(sql: postgres.Sql, worker: RoleProcess): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_stat_activity where application_name = ${`faults-${worker.label}`} and state like 'idle in transaction%'`;
  return row!.n;
}

describe('a worker frozen with jobs in hand (SIGSTOP: a VM pause, a blocked event loop)', () => {
  it('holds nobody else up: the other worker keeps storing the other calls, and nothing is lost once it thaws', async () => {
    const frozen = stack.roles.worker;
    const healthy = stack.roles.secondWorker!;
    const sql = postgres(pg.url(), { max: 1, onnotice: () => {} });
    const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const events = new Queue(eventsQueue.name, { connection, prefix: '{vapi}' });
    try {
      const stream = new CallStream(stack.roles.ingress.url, CALLS_AT_ONCE, GAP_MS);
      stream.start();
      stack.mark('stream started');
      await sleep(5_000);

      const before = { at: Date.now(), stored: await eventsStoredBy(healthy) };
      await sleep(BEFORE_S * 1_000);
      const rateBefore = ((await eventsStoredBy(healthy)) - before.stored) / ((Date.now() - before.at) / 1_000);

      // Frozen under full load, in the middle of its transactions with their row locks, as in the issue: a
      // backlog of a few seconds lets both workers fill their slots, and one stops as they do. Tried again
      // until it is caught holding several.
      let held = { transactions: 0, activeJobs: 0, tries: 0 };
      while (held.transactions < HELD_AT_LEAST) {
        if (++held.tries > 20) throw new Error(`the worker was never caught holding ${HELD_AT_LEAST} transactions: ${JSON.stringify(held)}`);
        if (held.tries > 1) {
          frozen.freeze(false);
          await sleep(3_000);
        }
        await events.pause();
        await sleep(3_000);
        await events.resume();
        await sleep(20 + Math.random() * 130);
        frozen.freeze(true);
        await sleep(300);
        held = { ...held, transactions: await idleTransactionsOf(sql, frozen), activeJobs: await events.getActiveCount() };
      }
      const freeze = { at: Date.now(), stored: await eventsStoredBy(healthy), answered: stream.durable.size };
      stack.mark('worker frozen (SIGSTOP)', held);

      const progress: number[] = [];
      for (let slice = 0; slice < FREEZE_S / 10; slice++) {
        await sleep(10_000);
        progress.push(await eventsStoredBy(healthy));
      }
      const storedDuring = progress.at(-1)! - freeze.stored;
      const rateDuring = storedDuring / ((Date.now() - freeze.at) / 1_000);
      // Whether it kept up with what came in meanwhile (it stores everything now), as the issue's backlog measured.
      const keptUp = storedDuring / (stream.durable.size - freeze.answered);
      const releasedTransactions = (await idleTransactionsOf(sql, frozen)) === 0;
      const backlog = await events.getWaitingCount();
      frozen.freeze(false);
      const round = (n: number) => Math.round(n * 100) / 100;
      const figures = {
        rateBefore: round(rateBefore),
        rateDuring: round(rateDuring),
        ratio: round(rateDuring / rateBefore),
        keptUp: round(keptUp),
        backlog,
        progress,
        releasedTransactions,
      };
      stack.mark('worker thawed (SIGCONT)', figures);

      await sleep(10_000);
      await stream.stop();
      stack.mark('stream stopped', stream.counts);
      const report = { ...(await expectNothingLost(stack, stream, { databaseUrl: pg.url(), redis: connection, workerKills: 1 })), held, ...figures };
      stack.mark('report', report);
      console.log('frozen worker report', JSON.stringify(report));

      // Postgres ended what the frozen worker held, so no lock of it outlasted the freeze.
      expect(releasedTransactions).toBe(true);
      // The other worker stored events in every ten seconds of the freeze, at half its earlier rate or more,
      // and kept up with the events that came in meanwhile: no backlog built behind the frozen one's locks.
      expect(progress.every((stored, i) => stored > (i === 0 ? freeze.stored : progress[i - 1]!))).toBe(true);
      expect(rateDuring / rateBefore).toBeGreaterThanOrEqual(0.5);
      expect(keptUp).toBeGreaterThanOrEqual(0.9);
    } finally {
      await events.close();
      connection.disconnect();
      await sql.end({ timeout: 1 });
    }
  }, 300_000);
});
