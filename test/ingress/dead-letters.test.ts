import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { adminActions } from '#shared/db/schema';
import { openCatalogQueues } from '#shared/plugins/queues';
import { JobCodec } from '#shared/queues/codec';
import { createDeadLetters } from '../../services/ingress/lib/dead-letters.ts';
import { TEST_ENCRYPTION_KEY, uniquePrefix } from '../helpers/config.ts';
import { jobFor } from '../helpers/jobs.ts';
import { integrationResources } from '../helpers/resources.ts';

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

const body = { message: { type: 'transcript', role: 'user', transcriptType: 'final', transcript: 'My chest hurts', timestamp: Date.now(), call: { id: randomUUID() } } };

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
    expect(await handle.db.select().from(adminActions)).toEqual([expect.objectContaining({ action: 'show', jobIds: [job.eventId] })]);
  });

  it("opens an earlier version's unbound job, marked as such", async () => {
    const { sealed: _bound, ...meta } = jobFor(body, cipher);
    await queues.events.add(meta.type, { ...meta, sealed: cipher.encryptJson(JSON.stringify(body)) }, { jobId: meta.eventId });
    expect(await deadLetters.show('events', meta.eventId, '127.0.0.1')).toMatchObject({ seal: 'legacy', payload: JSON.stringify(body) });
  });
});
