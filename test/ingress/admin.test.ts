import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { recordAudit } from '#shared/audit';
import { auditEvents, vapiEvents } from '#shared/db/schema';
import { createLogger } from '#shared/logger';
import { eventsQueue } from '#shared/queues/events-queue';
import { toolsQueue } from '#shared/queues/tools-queue';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { TEST_DATABASE_URL } from '../helpers/environment.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, track, reset, close } = integrationResources();
let config: Config;
let ingress: FastifyInstance;

const bearer = () => ({ authorization: `Bearer ${config.adminToken}` });
const basic = (password: string) => ({ authorization: `Basic ${Buffer.from(`ops:${password}`).toString('base64')}` });

async function postEvent(message: Record<string, unknown>) {
  const raw = JSON.stringify({ message: { timestamp: Date.now(), call: { id: `call-${randomUUID()}`, orgId: 'org' }, ...message } });
  expect((await ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) })).statusCode).toBe(200);
}

/** Fails every job of the events queue for good, as a bug or a bad deploy would: they become dead letters. */
async function deadLetterEvents(count: number) {
  const failing = new Worker(
    eventsQueue.name,
    async () => {
      throw new UnrecoverableError('Database error 22003 on vapi_sessions: the event itself cannot be stored');
    },
    { connection: redis, prefix: config.queuePrefix },
  );
  await waitFor(async () => (await ingress.queues.events.getFailed()).length === count);
  await failing.close();
}

beforeEach(async () => {
  config = testConfig();
  [ingress] = track(await buildIngressApp({ config, logger: silentLogger() }));
  await ingress.ready();
});
afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('admin routes', () => {
  it('refuse without the admin token, on every service, and open with Bearer or Basic', async () => {
    for (const url of ['/admin/queues', '/admin/dlq', '/admin/log/events']) {
      const refused = await ingress.inject({ url });
      expect(refused.statusCode).toBe(401);
      expect(refused.headers['www-authenticate']).toMatch(/^Basic/);
      expect(refused.body).not.toContain('<html');
      expect((await ingress.inject({ url, headers: basic('wrong') })).statusCode).toBe(401);
    }
    const dashboard = await ingress.inject({ url: '/admin/queues', headers: basic(config.adminToken) });
    expect(dashboard.statusCode).toBe(200);
    expect(dashboard.body).toContain('<html');
    expect((await ingress.inject({ url: '/admin/dlq', headers: bearer() })).json()).toEqual({ deadLetters: [] });

    const worker = await buildWorkerApp({ config, logger: silentLogger() });
    expect((await worker.inject({ url: '/admin/anything' })).statusCode).toBe(401);
    await worker.close();
  });

  it('list a dead letter, replay it with a fresh attempt budget once the fault is gone, and apply it once', async () => {
    await postEvent({ type: 'status-update', status: 'ringing' });
    await deadLetterEvents(1);
    const { deadLetters } = (await ingress.inject({ url: '/admin/dlq', headers: bearer() })).json() as { deadLetters: Record<string, unknown>[] };
    expect(deadLetters).toEqual([
      expect.objectContaining({ queue: 'events', name: 'status-update', attempts: 1, replayable: true, error: expect.stringMatching(/22003/) }),
    ]);

    const worker = await buildWorkerApp({ config, logger: silentLogger() });
    await worker.ready();
    const replay = await ingress.inject({ method: 'POST', url: '/admin/dlq/replay', headers: bearer(), payload: { all: true } });
    expect(replay.json()).toMatchObject({ replayed: 1, skipped: [] });
    const job = (await ingress.queues.events.getJob(deadLetters[0]!.id as string))!;
    await waitFor(async () => (await job.getState()) === 'completed');
    expect((await ingress.queues.events.getJob(job.id!))!.attemptsMade).toBe(1);
    expect(await handle.db.select().from(vapiEvents).where(eq(vapiEvents.id, job.id!))).toHaveLength(1);

    // Replaying again finds nothing to do: the event took effect once.
    expect((await ingress.inject({ method: 'POST', url: '/admin/dlq/replay', headers: bearer(), payload: { all: true } })).json()).toMatchObject({
      replayed: 0,
    });
    await worker.close();
    const actions = await handle.db.select().from(auditEvents).orderBy(auditEvents.id);
    expect(actions.map((a) => [a.actor, a.action, a.what, a.outcome])).toEqual([
      ['admin', 'dead-letter.replay', [`dead letter events/${job.id}`], 'success'],
      ['admin', 'dead-letter.replay', [], 'success'],
    ]);
    expect(actions[0]!.source).toBe('127.0.0.1');
  });

  it('replay only what a filter names, and refuse a replay that names nothing', async () => {
    await postEvent({ type: 'status-update', status: 'ringing' });
    await postEvent({ type: 'hang' });
    await deadLetterEvents(2);
    expect((await ingress.inject({ method: 'POST', url: '/admin/dlq/replay', headers: bearer(), payload: {} })).statusCode).toBe(400);
    const replay = await ingress.inject({ method: 'POST', url: '/admin/dlq/replay', headers: bearer(), payload: { queue: 'events', type: 'hang' } });
    expect(replay.json()).toMatchObject({ replayed: 1 });
    const failed = await ingress.queues.events.getFailed();
    expect(failed.map((job) => job.name)).toEqual(['status-update']);
  });

  it('answer 404 for a replay or purge naming an id that is no dead letter, and do nothing', async () => {
    await postEvent({ type: 'hang' });
    await deadLetterEvents(1);
    const [letter] = await ingress.queues.events.getFailed();
    for (const url of ['/admin/dlq/replay', '/admin/dlq/purge']) {
      const answer = await ingress.inject({ method: 'POST', url, headers: bearer(), payload: { ids: [letter!.id, 'no-such-job'] } });
      expect(answer.statusCode).toBe(404);
      expect(answer.json()).toMatchObject({ message: 'no dead letter no-such-job in any queue' });
    }
    expect(await ingress.queues.events.getFailedCount()).toBe(1);
  });

  it('show a dead letter with its payload opened for the operator, and record the reading', async () => {
    await postEvent({ type: 'transcript', transcriptType: 'final', role: 'user', transcript: 'My chest hurts when I climb stairs.' });
    await deadLetterEvents(1);
    const [letter] = ((await ingress.inject({ url: '/admin/dlq?queue=events&error=22003', headers: bearer() })).json() as { deadLetters: { id: string }[] })
      .deadLetters;
    const shown = (await ingress.inject({ url: `/admin/dlq/events/${letter!.id}`, headers: bearer() })).json() as { payload: string };
    expect(shown.payload).toContain('My chest hurts');
    expect(await handle.db.select().from(auditEvents)).toEqual([
      expect.objectContaining({ action: 'dead-letter.show', what: [`dead letter events/${letter!.id}`] }),
    ]);
    expect((await ingress.inject({ url: '/admin/dlq/events/no-such-job', headers: bearer() })).statusCode).toBe(404);
    expect((await ingress.inject({ url: '/admin/dlq?since=yesterday', headers: bearer() })).statusCode).toBe(400);
  });

  it('will not replay a tool call whose caller hung up long ago, and says why', async () => {
    const meta = { sessionId: 's', toolCallId: 'tc', name: 'lookup_order', deadline: Date.now() - 60_000, requestId: 'r' };
    await ingress.queues.tools.add(
      'lookup_order',
      ingress.jobCodec.seal(toolsQueue, meta, { arguments: {}, context: { sessionId: 's', origin: { identity: {}, source: 'vapi' } } }),
    );
    const failing = new Worker(
      toolsQueue.name,
      async () => {
        throw new UnrecoverableError('expired');
      },
      { connection: redis, prefix: config.queuePrefix },
    );
    await waitFor(async () => (await ingress.queues.tools.getFailed()).length === 1);
    await failing.close();
    const replay = (await ingress.inject({ method: 'POST', url: '/admin/dlq/replay', headers: bearer(), payload: { queue: 'tools', all: true } })).json();
    expect(replay).toMatchObject({ replayed: 0, skipped: [{ reason: expect.stringMatching(/deadline/) }] });
  });

  it('search the event log by call and type', async () => {
    const worker = await buildWorkerApp({ config, logger: silentLogger() });
    await worker.ready();
    await postEvent({ type: 'status-update', status: 'ringing' });
    await postEvent({ type: 'hang' });
    await waitFor(async () => (await handle.db.select().from(vapiEvents)).length === 2);
    const { events } = (await ingress.inject({ url: '/admin/log/events?type=hang', headers: bearer() })).json() as {
      events: { type: string; payload?: string }[];
    };
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'hang' });
    expect(events[0]).not.toHaveProperty('payload');
    await worker.close();
  });

  it('refuse a filter Postgres cannot store with 400, and log no filter value, even when the database fails', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', service: 'test', pretty: false, destination: { write: (line: string) => void lines.push(line) } });
    const [app] = track(await buildIngressApp({ config, logger }));
    const marker = 'operator-filter-5d2b';
    const nul = `${marker}%00`;
    const searches = [
      `/admin/dlq?type=${nul}`,
      `/admin/dlq?error=${nul}`,
      `/admin/dlq?ids=a,${nul}`,
      `/admin/log/events?sessionId=${nul}`,
      `/admin/log/events?type=${nul}`,
      `/admin/log/tool-calls?status=${nul}`,
      `/admin/log/deliveries?endpoint=${nul}`,
      `/admin/log/audit?patientId=${nul}`,
      `/admin/log/audit?sessionId=${nul}`,
      `/admin/log/audit?action=${nul}`,
      `/admin/log/audit?actor=${nul}`,
      `/admin/dlq/events/${nul}`,
    ];
    for (const url of searches) {
      const refused = await app.inject({ url, headers: bearer() });
      expect(refused.statusCode, url).toBe(400);
      expect(refused.json()).toEqual({ success: false, code: 'BAD_REQUEST', message: expect.stringMatching(/cannot be stored/) });
    }
    // JSON.stringify writes both as escapes (\u0000, \ud800), as a client would send them.
    for (const type of [`${marker}\u0000`, `${marker}\ud800`]) {
      for (const url of ['/admin/dlq/replay', '/admin/dlq/purge']) {
        const refused = await app.inject({
          method: 'POST',
          url,
          headers: { ...bearer(), 'content-type': 'application/json' },
          payload: JSON.stringify({ type }),
        });
        expect(refused.statusCode, `${url} ${JSON.stringify(type)}`).toBe(400);
      }
    }
    expect(await handle.db.select().from(auditEvents)).toEqual([]);

    // A search the database cannot answer (it does not exist, or nothing listens) is a 500 whose log line names the failure, not the filter.
    for (const databaseUrl of [TEST_DATABASE_URL.replace(/\/[^/]+$/, '/vapi_relay_no_such_database'), 'postgres://postgres@127.0.0.1:1/vapi_relay']) {
      const broken = testConfig({ DATABASE_URL: databaseUrl, QUEUE_PREFIX: config.queuePrefix });
      const [failing] = track(await buildIngressApp({ config: broken, logger }));
      const answer = await failing.inject({
        url: `/admin/log/events?sessionId=${marker}&type=${marker}`,
        headers: { authorization: `Bearer ${broken.adminToken}` },
      });
      expect(answer.statusCode).toBe(500);
    }
    const failures = lines.map((line) => JSON.parse(line) as { msg: string; err?: { message: string } }).filter((line) => line.msg === 'request failed');
    expect(failures.map((line) => line.err?.message)).toEqual([expect.stringMatching(/^Database error 3D000/), expect.stringMatching(/ECONNREFUSED/)]);
    expect(lines.join('\n')).not.toContain(marker);
  });

  it('search the audit log by patient, session, action, actor and time, newest first', async () => {
    const entry = { what: ['messages page of session s-1'], source: '10.0.0.9' } as const;
    await recordAudit(handle.db, { ...entry, actor: 'patient', action: 'history.read', patientId: 'pat-1', sessionId: 's-1' });
    await recordAudit(handle.db, { ...entry, actor: 'tool', action: 'tool.read', patientId: 'pat-1', sessionId: 's-2' });
    await recordAudit(handle.db, { ...entry, actor: 'admin', action: 'patient.export', patientId: 'pat-2', source: 'cli' });
    const audit = async (query: string) => {
      const answer = await ingress.inject({ url: `/admin/log/audit${query}`, headers: bearer() });
      expect(answer.statusCode, query).toBe(200);
      return (answer.json() as { auditEvents: { action: string; at: string }[] }).auditEvents.map((row) => row.action);
    };
    expect(await audit('')).toEqual(['patient.export', 'tool.read', 'history.read']);
    expect(await audit('?patientId=pat-1')).toEqual(['tool.read', 'history.read']);
    expect(await audit('?patientId=pat-1&sessionId=s-1')).toEqual(['history.read']);
    expect(await audit('?action=tool.read')).toEqual(['tool.read']);
    expect(await audit('?actor=admin')).toEqual(['patient.export']);
    expect(await audit('?limit=1')).toEqual(['patient.export']);
    await handle.sql`update audit_events set at = timestamptz '2026-12-01T10:00:00Z' + id * interval '1 minute'`;
    expect(await audit('?since=2026-12-01T10:02:00Z&until=2026-12-01T10:02:00Z')).toEqual(['tool.read']);
    expect(await audit('?until=2026-12-01T10:01:59.999Z&patientId=pat-1')).toEqual(['history.read']);

    for (const bad of ['?action=sql.injection', '?actor=robot', '?since=yesterday', '?limit=0', '?limit=501']) {
      const refused = await ingress.inject({ url: `/admin/log/audit${bad}`, headers: bearer() });
      expect(refused.statusCode, bad).toBe(400);
      expect(refused.json()).toMatchObject({ success: false, code: 'BAD_REQUEST' });
    }
    expect((await ingress.inject({ url: '/admin/log/audit' })).statusCode).toBe(401);
  });
});
