import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { auditEvents, vapiSessions } from '#shared/db/schema';
import { openCatalogQueues } from '#shared/plugins/queues';
import { JobCodec } from '#shared/queues/codec';
import { eventsQueue } from '#shared/queues/events-queue';
import { createDeadLetters } from '#shared/queues/dead-letters';
import { TEST_ENCRYPTION_KEY, uniquePrefix } from '../helpers/config.ts';
import { jobFor } from '../helpers/jobs.ts';
import { expectNoPlaintext } from '../helpers/plaintext.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, redis, reset, close } = integrationResources();
const cipher = new FieldCipher([Buffer.from(TEST_ENCRYPTION_KEY, 'base64')]);
const prefix = uniquePrefix();
const queues = openCatalogQueues(redis, prefix, (error) => {
  throw error;
});
const deadLetters = createDeadLetters(queues, handle.db, new JobCodec(cipher));

afterEach(() => reset(prefix));
afterAll(async () => {
  await Promise.all(Object.values(queues).map((queue) => queue.close()));
  await close();
});

const body = {
  message: { type: 'transcript', role: 'user', transcriptType: 'final', transcript: 'My chest hurts', timestamp: Date.now(), call: { id: randomUUID() } },
};

describe('showing a dead letter', () => {
  it('opens an intact one, and says how it was sealed', async () => {
    const job = jobFor(body, cipher);
    await queues.events.add(job.type, job, { jobId: job.eventId });
    expect(await deadLetters.show('events', job.eventId, '127.0.0.1')).toMatchObject({ id: job.eventId, seal: 'bound', payload: JSON.stringify(body) });
  });

  it('says a job changed in Redis is tampered instead of failing, opens nothing of it, and records the reading', async () => {
    const job = jobFor(body, cipher);
    await queues.events.add(job.type, job, { jobId: job.eventId });
    const jobKey = queues.events.toKey(job.eventId);
    await redis.hset(jobKey, 'data', JSON.stringify({ ...job, callId: 'call-of-another-patient' }));

    const shown = await deadLetters.show('events', job.eventId, '127.0.0.1');
    expect(shown).toMatchObject({ id: job.eventId, seal: 'tampered', payload: null, problem: expect.stringMatching(/altered after it was sealed/) });
    expect(JSON.stringify(shown)).not.toContain('chest');
    expect(await handle.db.select().from(auditEvents)).toEqual([
      expect.objectContaining({ action: 'dead-letter.show', what: [`dead letter events/${job.eventId}`] }),
    ]);
  });

  it("opens an earlier version's unbound job, marked as such", async () => {
    const { sealed: _bound, ...meta } = jobFor(body, cipher);
    await queues.events.add(meta.type, { ...meta, sealed: cipher.encryptJson(JSON.stringify(body)) }, { jobId: meta.eventId });
    expect(await deadLetters.show('events', meta.eventId, '127.0.0.1')).toMatchObject({ seal: 'legacy', payload: JSON.stringify(body) });
  });
});

describe('the audit trail of dead letters', () => {
  it('names each job shown, replayed or purged, with the patient of a shown one, and none of the payload', async () => {
    const callId = randomUUID();
    await handle.db.insert(vapiSessions).values({ id: callId, patientId: 'pat-ada-moreno' });
    const jobs = ['My chest hurts', 'I take lisinopril'].map((transcript, i) =>
      jobFor({ message: { ...body.message, transcript, timestamp: Date.now() + i, call: { id: callId } } }, cipher),
    );
    for (const job of jobs) await queues.events.add(job.type, job, { jobId: job.eventId });
    const failing = new Worker(
      eventsQueue.name,
      async () => {
        throw new UnrecoverableError('broken on purpose');
      },
      { connection: redis, prefix },
    );
    await waitFor(async () => (await queues.events.getFailed()).length === 2);
    await failing.close();
    const [first, second] = jobs.map((job) => job.eventId);

    await deadLetters.show('events', first!, '10.0.0.7');
    await deadLetters.replay({ ids: [first!] }, '10.0.0.7');
    await deadLetters.purge({ queue: 'events', ids: [second!] }, 'cli');

    const rows = await handle.db.select().from(auditEvents).orderBy(auditEvents.id);
    expect(
      rows.map(({ actor, action, patientId, sessionId, what, source, outcome }) => ({ actor, action, patientId, sessionId, what, source, outcome })),
    ).toEqual([
      {
        actor: 'admin',
        action: 'dead-letter.show',
        patientId: 'pat-ada-moreno',
        sessionId: callId,
        what: [`dead letter events/${first}`],
        source: '10.0.0.7',
        outcome: 'success',
      },
      {
        actor: 'admin',
        action: 'dead-letter.replay',
        patientId: null,
        sessionId: null,
        what: [`dead letter events/${first}`],
        source: '10.0.0.7',
        outcome: 'success',
      },
      {
        actor: 'admin',
        action: 'dead-letter.purge',
        patientId: null,
        sessionId: null,
        what: [`dead letter events/${second}`],
        source: 'cli',
        outcome: 'success',
      },
    ]);
    expectNoPlaintext(rows, ['chest', 'lisinopril', 'hurts']);
  });
});
