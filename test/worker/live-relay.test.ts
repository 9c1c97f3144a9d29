import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FieldCipher } from '#shared/crypto';
import { callBindingKey, patientChannel, type LiveRelayEvent } from '#shared/relay';
import { openForPatient, patientOfChannel, sealBinding, sealForPatient } from '#shared/relay-messages';
import { createLiveRelay } from '../../services/worker/lib/live-relay.ts';
import { TEST_ENCRYPTION_KEY, uniquePrefix } from '../helpers/config.ts';
import { openTestRedis } from '../helpers/redis.ts';
import { integrationResources } from '../helpers/resources.ts';
import { waitFor } from '../helpers/wait-for.ts';

const { redis, reset, close } = integrationResources();
const subscriber = openTestRedis();
const cipher = new FieldCipher([Buffer.from(TEST_ENCRYPTION_KEY, 'base64')]);
let prefix: string;
let relay: ReturnType<typeof createLiveRelay>;
let received: { channel: string; event: LiveRelayEvent }[];

beforeEach(async () => {
  prefix = uniquePrefix();
  relay = createLiveRelay({ redis, cipher, prefix });
  received = [];
  await subscriber.psubscribe(patientChannel(prefix, '*'));
});
afterEach(async () => {
  await subscriber.punsubscribe();
  await reset(prefix);
});
afterAll(async () => {
  subscriber.disconnect();
  await close();
});
subscriber.on('pmessage', (_pattern, channel: string, text: string) =>
  received.push({ channel, event: openForPatient(cipher, patientOfChannel(prefix, channel)!, text) }),
);

const partialOf = (sessionId: string): LiveRelayEvent => {
  const at = new Date().toISOString();
  return { type: 'transcript', sessionId, at, data: { role: 'assistant', transcript: 'Hello, this is', timestamp: at, final: false } };
};

describe('the live relay', () => {
  it.each([
    ['to the patient the durable lane bound, whatever the event claims', 'pat-bound', 'relayed'],
    ['an event of a call bound to nobody yet to the patient its own claim names', null, 'claimed'],
  ])('relays %s', async (_, binding, outcome) => {
    const event = partialOf(randomUUID());
    if (binding) await redis.set(callBindingKey(prefix, event.sessionId), sealBinding(cipher, event.sessionId, binding));

    expect(await relay({ event, claimedPatientId: 'pat-claimed' })).toBe(outcome);
    await waitFor(() => received.length === 1);
    // One job publishes once: nothing of it can reach another patient after this.
    expect(received).toEqual([{ channel: patientChannel(prefix, binding ?? 'pat-claimed'), event }]);
  });

  it('relays an event with neither a binding nor a claim nowhere', async () => {
    const unclaimed = partialOf(randomUUID());
    expect(await relay({ event: unclaimed, claimedPatientId: null })).toBe('unbound');

    // A later event that does go out shows the first one had its chance to arrive, and did not.
    const claimed = partialOf(randomUUID());
    expect(await relay({ event: claimed, claimedPatientId: 'pat-claimed' })).toBe('claimed');
    await waitFor(() => received.length === 1);
    expect(received.map(({ event }) => event.sessionId)).toEqual([claimed.sessionId]);
  });

  it.each([
    ['written by hand', (_call: string) => 'pat-attacker'],
    ["copied from another call's binding", (_call: string) => sealBinding(cipher, 'another-call', 'pat-attacker')],
  ])("follows no binding %s (someone who can write to Redis), only the event's own claim", async (_, forged) => {
    const event = partialOf(randomUUID());
    await redis.set(callBindingKey(prefix, event.sessionId), forged(event.sessionId));
    expect(await relay({ event, claimedPatientId: 'pat-claimed' })).toBe('claimed');
    await waitFor(() => received.length === 1);
    expect(received).toEqual([{ channel: patientChannel(prefix, 'pat-claimed'), event }]);
  });

  it("seals each message to its patient's channel: copied onto another patient's, it does not open there", () => {
    const event = partialOf('call-a');
    const sealed = sealForPatient(cipher, 'pat-a', event);
    expect(openForPatient(cipher, 'pat-a', sealed)).toEqual(event);
    expect(() => openForPatient(cipher, 'pat-b', sealed)).toThrow(/authentication/);
    expect(() => openForPatient(cipher, 'pat-a', cipher.encryptJson(event))).toThrow(/not bound/);
  });
});
