import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '#shared/config';
import { patientChannel, type RelayEvent } from '#shared/relay';
import { sealForPatient } from '#shared/relay-messages';
import { buildRelayApp } from '../../services/relay/app.ts';
import { silentLogger, testConfig } from '../helpers/config.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';
import { eventWriter, openClient, streamUrl, tokenFor } from './relay-harness.ts';

const { handle, redis, close } = integrationResources();
let config: Config;
let relay: FastifyInstance;

beforeAll(async () => {
  config = testConfig();
  relay = await buildRelayApp({ config, logger: silentLogger(), stream: { subscribeGraceMs: 0 } });
  await relay.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await relay.close();
  await close();
});

const partial = (sessionId: string, transcript: string): Omit<RelayEvent, 'seq'> => {
  const at = new Date().toISOString();
  return { type: 'transcript', sessionId, at, data: { role: 'user', transcript, timestamp: at, final: false } };
};

describe('the patient hub', () => {
  it("delivers only what was sealed for the patient's own channel: a message copied onto it from another patient's is dropped", async () => {
    const [victim, other] = [`pat-${randomUUID()}`, `pat-${randomUUID()}`];
    const client = await openClient(streamUrl(relay), tokenFor(config, victim));
    const channel = patientChannel(config.queuePrefix, victim);
    const { cipher } = eventWriter(config, handle, redis);
    await waitFor(async () => ((await redis.pubsub('NUMSUB', channel)) as [string, number])[1] === 1);

    // Someone who can write to Redis copies another patient's message, or publishes one sealed by nobody's rules.
    await redis.publish(channel, sealForPatient(cipher, other, partial('call-of-other', 'the other patient speaking')));
    await redis.publish(channel, cipher.encryptJson(partial('call-of-other', 'unbound, as an earlier version sealed it')));
    await redis.publish(channel, sealForPatient(cipher, victim, partial('call-of-victim', 'the patient speaking')));

    await client.until(() => client.received.length > 0);
    expect(client.received).toEqual([expect.objectContaining({ sessionId: 'call-of-victim' })]);
    client.ws.close();
  });
});
