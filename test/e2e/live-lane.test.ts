import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { FieldCipher } from '#shared/crypto';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { buildIngressApp } from '../../services/ingress/app.ts';
import { WEBHOOK_PATH } from '../../services/ingress/routes/webhook.ts';
import { buildWorkerApp } from '../../services/worker/app.ts';
import { realisticCall, type VapiBody } from '../fixtures/vapi-call.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { openTestRedis } from '../helpers/redis.ts';
import { integrationResources } from '../helpers/resources.ts';
import { hmacHeaders } from '../helpers/signing.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { handle, track, closeApps, reset, close } = integrationResources();
let config: Config;

async function stack(overrides: Record<string, string>) {
  // Same queues and keys as the first stack, whatever else changes.
  const stackConfig = testConfig({ ...overrides, QUEUE_PREFIX: config.queuePrefix });
  const ingress = await buildIngressApp({ config: stackConfig, logger: silentLogger() });
  const worker = await buildWorkerApp({ config: stackConfig, logger: silentLogger() });
  await worker.ready();
  track(ingress, worker);
  const post = async (body: VapiBody) => {
    const raw = JSON.stringify(body);
    return ingress.inject({ method: 'POST', url: WEBHOOK_PATH, payload: raw, headers: hmacHeaders(raw) });
  };
  return { ingress, worker, post };
}

afterEach(() => reset(config.queuePrefix));
afterAll(() => close());

describe('the live lane', () => {
  it('relays partial transcripts with Postgres unreachable, to the bound patient only, storing nothing', async () => {
    config = testConfig();
    const cipher = new FieldCipher(config.dataEncryptionKeys);
    const subscriber = openTestRedis();
    const received: RelayEvent[] = [];
    subscriber.on('pmessage', (_pattern, channel: string, text: string) => received.push({ ...cipher.decryptJson<RelayEvent>(text), channel } as RelayEvent));
    await subscriber.psubscribe(patientChannel(config.queuePrefix, '*'));

    // While the database is up, the durable lane records who each call is about.
    const bound = realisticCall({ patientId: 'pat-live' });
    const unbound = realisticCall();
    const healthy = await stack({});
    for (const call of [bound, unbound]) for (const body of call.events.slice(0, 3)) expect((await healthy.post(body)).statusCode).toBe(200);
    await waitFor(() => received.some((event) => event.sessionId === bound.callId && event.type === 'session_status'));
    await closeApps();
    const rowsBefore = await handle.sql`select (select count(*) from vapi_events) as events, (select count(*) from vapi_messages) as messages`;

    // Then the database goes away for the processes carrying the live lane.
    const cut = await stack({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/unreachable' });
    received.length = 0;
    const partials = (call: typeof bound) => call.events.filter((body) => body.message.transcriptType === 'partial');
    for (const body of [...partials(unbound), ...partials(bound)]) expect((await cut.post(body)).json()).toEqual({ received: true });

    await waitFor(() => received.filter((event) => event.type === 'transcript').length === partials(bound).length);
    expect(received.every((event) => event.sessionId === bound.callId && event.data.final === false && event.seq === undefined)).toBe(true);
    expect(received.every((event) => (event as RelayEvent & { channel: string }).channel === patientChannel(config.queuePrefix, 'pat-live'))).toBe(true);
    expect(await handle.sql`select (select count(*) from vapi_events) as events, (select count(*) from vapi_messages) as messages`).toEqual(rowsBefore);
    subscriber.disconnect();
  });
});
