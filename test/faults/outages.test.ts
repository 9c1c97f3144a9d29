import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '#shared/db/migrate';
import { QUEUES } from '#shared/queues/catalog';
import { TEST_ENCRYPTION_KEY, TEST_WEBHOOK_SECRET } from '../helpers/config.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { freePort, PrivatePostgres, PrivateRedis } from './private-services.ts';
import { FAULT_ARTIFACTS, RoleProcess } from './role-process.ts';
import { CallStream } from './traffic.ts';

/** The outages' lengths; the issue's figures by default, shorter when a developer iterates. */
const OUTAGE_S = Number(process.env.FAULTS_OUTAGE_S ?? 20);
const READ_ONLY_S = Number(process.env.FAULTS_READ_ONLY_S ?? 120);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every notification POST the receiver got: its webhook-id and the session it is about. */
const deliveries: { webhookId: string; sessionId: string; type: string }[] = [];
let receiver: Server;
let redis: PrivateRedis;
let pg: PrivatePostgres;
let roles: { ingress: RoleProcess; worker: RoleProcess; relay: RoleProcess };
const spoolDir = mkdtempSync(join(tmpdir(), 'faults-spool-'));
/** What happened when, for the report kept beside the logs. */
const timeline: { at: string; step: string; detail?: unknown }[] = [];
/** Notes a step; a role that crashed since the last one ends the run at once, with its log to read. */
function mark(step: string, detail?: unknown) {
  timeline.push({ at: new Date().toISOString(), step, detail });
  const crashes = Object.values(roles ?? {}).flatMap((role) => role.crashes);
  if (crashes.length > 0) throw new Error(`${crashes.join('; ')} (see ${FAULT_ARTIFACTS})`);
}

beforeAll(async () => {
  [redis, pg] = await Promise.all([PrivateRedis.create(), PrivatePostgres.create()]);
  await migrateDatabase(pg.url());
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      const parsed = JSON.parse(body) as { sessionId: string; type: string };
      deliveries.push({ webhookId: String(request.headers['webhook-id']), sessionId: parsed.sessionId, type: parsed.type });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));

  const [ingressPort, workerPort, relayPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const env = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    DATABASE_URL: pg.url(),
    REDIS_URL: redis.url,
    DATA_ENCRYPTION_KEY: TEST_ENCRYPTION_KEY,
    ADMIN_TOKEN: randomBytes(16).toString('hex'),
    VAPI_WEBHOOK_SECRET: TEST_WEBHOOK_SECRET,
    RELAY_JWT_SECRET: randomBytes(32).toString('hex'),
    NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/calls`,
    NOTIFY_WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    NOTIFY_RETRY_BASE_MS: '200',
    PORT: String(ingressPort),
    WORKER_PORT: String(workerPort),
    RELAY_PORT: String(relayPort),
    SPOOL_DIR: spoolDir,
  };
  const cwd = mkdtempSync(join(tmpdir(), 'faults-roles-'));
  roles = {
    ingress: new RoleProcess('ingress', ingressPort, env, cwd),
    worker: new RoleProcess('worker', workerPort, env, cwd),
    relay: new RoleProcess('relay', relayPort, env, cwd),
  };
  await Promise.all(Object.values(roles).map((role) => role.start()));
}, 120_000);

afterAll(async () => {
  writeFileSync(join(FAULT_ARTIFACTS, 'timeline.json'), JSON.stringify(timeline, null, 2));
  await Promise.all(Object.values(roles ?? {}).map((role) => role.destroy()));
  await new Promise((resolve) => receiver?.close(resolve));
  await Promise.all([redis?.destroy(), pg?.destroy()]);
}, 60_000);

/** Takes a dependency away for `seconds` while the stream flows, gives it back, and lets things settle. */
async function outage(what: string, seconds: number, stop: () => Promise<void>, start: () => Promise<void>) {
  await stop();
  mark(`${what} stopped`, { seconds });
  await sleep(seconds * 1_000);
  await start();
  mark(`${what} back`);
  await sleep(5_000);
}

/** The highest number of spooled events the ingress reported while `work` ran. */
async function peakSpool(work: () => Promise<void>): Promise<number> {
  let peak = 0;
  let done = false;
  const sampling = (async () => {
    while (!done) {
      const text = await fetch(`${roles.ingress.url}/metrics`).then((r) => r.text()).catch(() => '');
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
    const stream = new CallStream(roles.ingress.url, 8, 60);
    stream.start();
    mark('stream started');
    await sleep(5_000);

    for (let kill = 1; kill <= 3; kill++) {
      await roles.worker.stop('SIGKILL');
      mark('worker killed (SIGKILL)', { kill });
      await sleep(1_000);
      await roles.worker.start();
      mark('worker restarted');
      await sleep(3_000);
    }

    const spooled = await peakSpool(() => outage('Redis', OUTAGE_S, () => redis.kill(), () => redis.start()));
    mark('spool peak', { events: spooled });
    await outage('Postgres', OUTAGE_S, () => pg.stop(), () => pg.start());
    await outage('Postgres writes (read-only)', READ_ONLY_S, () => pg.setReadOnly(true), () => pg.setReadOnly(false));

    const shutdowns: Record<string, { code: number | null; ms: number }> = {};
    for (const role of Object.values(roles)) {
      shutdowns[role.role] = await role.stop('SIGTERM');
      mark(`${role.role} stopped (SIGTERM)`, shutdowns[role.role]);
      await role.start();
    }
    await stream.stop();
    mark('stream stopped', stream.counts);

    const sql = postgres(pg.url(), { max: 2, onnotice: () => {} });
    const sessionIds = stream.played.map((call) => call.callId);
    try {
      // Events that failed during the read-only window come back on their retry schedule (up to ~2 minutes later).
      const stored = await waitFor(async () => {
        const [row] = await sql<{ n: number }[]>`select count(*)::int as n from vapi_events where id = any(${[...stream.durable]})`;
        mark('events stored', { stored: row!.n, answered: stream.durable.size });
        return row!.n === stream.durable.size && row!.n;
      }, 420_000);

      const sessions = await waitFor(async () => {
        const rows = await sql<{ status: string; n: number }[]>`
          select status, count(*)::int as n from vapi_sessions where id = any(${sessionIds}) group by status`;
        return rows.length === 1 && rows[0]!.status === 'completed' && rows[0]!.n === sessionIds.length && rows;
      }, 60_000);

      const messages = await sql<{ session_id: string; n: number }[]>`
        select session_id, count(*)::int as n from vapi_messages where session_id = any(${sessionIds}) group by session_id`;
      const holes = await sql`
        select e.session_id from session_events e join vapi_sessions s on s.id = e.session_id
        where e.session_id = any(${sessionIds})
        group by e.session_id, s.last_seq having min(e.seq) <> 1 or count(*) <> max(e.seq) or max(e.seq) <> s.last_seq`;
      await waitFor(async () => {
        const [row] = await sql<{ n: number }[]>`
          select (select count(*) from session_events where dispatched_at is null)
               + (select count(*) from notification_outbox where dispatched_at is null) as n`;
        return Number(row!.n) === 0;
      }, 60_000);
      const notified = await waitFor(() => {
        const ended = new Map<string, Set<string>>();
        for (const delivery of deliveries.filter((d) => d.type === 'session.ended')) {
          ended.set(delivery.sessionId, (ended.get(delivery.sessionId) ?? new Set()).add(delivery.webhookId));
        }
        return sessionIds.every((id) => ended.has(id)) && ended;
      }, 120_000);

      // Tool jobs that failed while Postgres was down stay in their failed set by design (one attempt: the
      // caller had its error answer); what must never be there is an event or a notification.
      const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      const deadLetters: Record<string, number> = {};
      for (const definition of [QUEUES.events, QUEUES.notifications]) {
        const queue = new Queue(definition.name, { connection, prefix: '{vapi}' });
        deadLetters[definition.name] = await queue.getFailedCount();
        await queue.close();
      }
      connection.disconnect();

      const report = {
        counts: stream.counts,
        calls: sessionIds.length,
        eventsStored: stored,
        spoolPeak: spooled,
        shutdowns,
        notifications: deliveries.length,
        redeliveredNotifications: deliveries.length - new Set(deliveries.map((d) => d.webhookId)).size,
      };
      mark('report', report);
      console.log('fault suite report', JSON.stringify(report));

      expect(stream.failures).toEqual([]);
      expect(sessions).toEqual([{ status: 'completed', n: sessionIds.length }]);
      expect(messages.filter((row) => row.n !== 4)).toEqual([]);
      expect(messages).toHaveLength(sessionIds.length);
      expect(holes).toEqual([]);
      // One notification per ended session (a webhook-id may arrive twice only if a worker died mid-delivery).
      expect([...notified.values()].filter((ids) => ids.size !== 1)).toEqual([]);
      expect(notified.size).toBe(sessionIds.length);
      expect(deadLetters).toEqual({ [QUEUES.events.name]: 0, [QUEUES.notifications.name]: 0 });
      expect(spooled).toBeGreaterThan(0);
      expect(readdirSync(spoolDir)).toEqual([]);
      for (const shutdown of Object.values(shutdowns)) {
        expect(shutdown.code).toBe(0);
        expect(shutdown.ms).toBeLessThan(30_000);
      }
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 1_200_000);
});
