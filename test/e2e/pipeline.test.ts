import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { patients, vapiMessages, vapiSessions } from '#shared/db/schema';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { openForPatient, patientOfChannel } from '#shared/relay-messages';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '#shared/http/paths';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { isLiveOnlyBody, realisticCall } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { truncateAll } from '../helpers/database.ts';
import { openTestRedis } from '../helpers/redis.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, track, reset, close } = integrationResources();
let config: Config;
let ingress: FastifyInstance;
let worker: FastifyInstance;
let webhookUrl: string;

async function post(body: unknown) {
  const raw = JSON.stringify(body);
  const response = await fetch(webhookUrl, { method: 'POST', headers: hmacHeaders(raw), body: raw });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const cipher = () => new FieldCipher(config.dataEncryptionKeys);
const sessionRow = async (id: string) => (await handle.db.select().from(vapiSessions).where(eq(vapiSessions.id, id)))[0];

beforeAll(() => truncateAll(handle));
beforeEach(async () => {
  config = testConfig();
  [ingress, worker] = track(await buildIngressApp({ config, logger: silentLogger() }), await buildWorkerApp({ config, logger: silentLogger() }));
  await worker.ready();
  webhookUrl = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}${WEBHOOK_PATH}`;
});
afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('ingress → queue → worker → Postgres, over real HTTP', () => {
  it('stores a signed final transcript in vapi_messages', async () => {
    const callId = randomUUID();
    const answer = await post({
      message: {
        type: 'transcript',
        role: 'user',
        transcriptType: 'final',
        transcript: 'My knee still hurts after the injection.',
        timestamp: Date.now(),
        call: { id: callId, orgId: 'org' },
      },
    });
    expect(answer).toEqual({ status: 200, body: { received: true } });
    const [row] = await waitFor(async () => {
      const rows = await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, callId));
      return rows.length > 0 && rows;
    });
    expect(row!.role).toBe('user');
    expect(row!.transcript).not.toContain('knee');
  });

  it('stores the story message event once, however often it is delivered', async () => {
    const sessionId = randomUUID();
    const body = { type: 'message', data: { sessionId, role: 'user', content: 'Hello?', timestamp: new Date().toISOString() } };
    expect((await post(body)).body).toEqual({ received: true });
    await waitFor(async () => (await sessionRow(sessionId)) !== undefined);
    const again = await post(body);
    expect(again.body).toEqual({ received: true, duplicate: true });
    await waitFor(async () => (await ingress.queues.events.getJobCounts('completed')).completed === 1);
    const rows = await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, sessionId));
    expect(rows).toHaveLength(1);
  });

  it("completes a whole call and relays its events live on the patient's channel", async () => {
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    await handle.db.insert(patients).values({
      id: 'pat-e2e',
      firstName: cipher.encrypt('Lena'),
      lastName: cipher.encrypt('Park'),
      dateOfBirth: cipher.encrypt('1990-01-01'),
      nameDobHash: cipher.lookupHash('lena park|1990-01-01'),
    });
    const subscriber = openTestRedis();
    const received: RelayEvent[] = [];
    subscriber.on('message', (_channel, text: string) => {
      expect(text).toMatch(/^v1\./);
      received.push(openForPatient(cipher, 'pat-e2e', text));
    });
    await subscriber.subscribe(patientChannel(config.queuePrefix, 'pat-e2e'));

    const call = realisticCall({ patientId: 'pat-e2e' });
    for (const body of call.events) expect((await post(body)).status).toBe(200);

    // Workers store events concurrently, in any order: wait until every one is done.
    const durable = call.events.filter((body) => !isLiveOnlyBody(body)).length;
    await waitFor(async () => (await ingress.queues.events.getJobCounts('completed')).completed === durable);
    const row = await sessionRow(call.callId);
    expect(row!.status).toBe('completed');
    expect(row).toMatchObject({ patientId: 'pat-e2e', patientVerified: true, endedReason: 'customer-ended-call' });
    expect(await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, call.callId))).toHaveLength(4);

    await waitFor(() => received.some((event) => event.type === 'session_end'));
    const sequenced = received.filter((event) => event.seq !== undefined).map((event) => event.seq!);
    expect(new Set(sequenced).size).toBe(sequenced.length);
    expect(sequenced).toEqual(sequenced.map((_, i) => i + 1));
    expect(received.every((event) => event.sessionId === call.callId)).toBe(true);
    subscriber.disconnect();
  });

  it("relays a bound call's partial transcripts live without storing them, and an unbound call's nowhere", async () => {
    const subscriber = openTestRedis();
    const received: RelayEvent[] = [];
    subscriber.on('pmessage', (_pattern, channel: string, text: string) =>
      received.push(openForPatient(cipher(), patientOfChannel(config.queuePrefix, channel)!, text)),
    );
    await subscriber.psubscribe(patientChannel(config.queuePrefix, '*'));

    const bound = realisticCall({ patientId: 'pat-live' });
    const unbound = realisticCall();
    // The durable lane binds each call to its patient (or to nobody) first.
    for (const call of [bound, unbound]) for (const body of call.events.slice(0, 2)) expect((await post(body)).status).toBe(200);
    await waitFor(() => received.some((event) => event.sessionId === bound.callId && event.type === 'session_status'));
    await waitFor(async () => (await sessionRow(unbound.callId)) !== undefined);

    const partial = (call: typeof bound) => call.events.find((body) => body.message.transcriptType === 'partial')!;
    for (const call of [unbound, bound]) expect((await post(partial(call))).body).toEqual({ received: true });
    const live = await waitFor(() => received.find((event) => event.type === 'transcript' && event.data.final === false));
    expect(live).toMatchObject({ sessionId: bound.callId, data: { role: expect.any(String), final: false } });
    expect(live.seq).toBeUndefined();
    expect(received.some((event) => event.sessionId === unbound.callId)).toBe(false);
    const stored = await handle.db.select().from(vapiMessages).where(eq(vapiMessages.sessionId, bound.callId));
    expect(stored).toHaveLength(0);
    subscriber.disconnect();
  });
});
