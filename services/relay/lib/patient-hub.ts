import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '#shared/redis';
import type { FieldCipher } from '#shared/crypto';
import { patientChannel, type RelayEvent } from '#shared/relay';
import type { RelayClient } from './relay-client.ts';

interface Patient {
  clients: Set<RelayClient>;
  /** Resolves once Redis confirmed the subscription. */
  subscribed: Promise<void>;
  /** performance.now() when it was confirmed. */
  since?: number;
}

/**
 * Fans a process's single pub/sub connection out to its clients: a patient's channel is
 * subscribed when the first of their clients connects and unsubscribed when the last leaves.
 * Messages stay encrypted in Redis and are decrypted once here, only for a patient with clients.
 */
export function createPatientHub(deps: {
  subscriber: RedisClient;
  cipher: FieldCipher;
  prefix: string;
  logger: FastifyBaseLogger;
}) {
  const { subscriber, prefix } = deps;
  const patients = new Map<string, Patient>();
  const channelPrefix = patientChannel(prefix, '');

  subscriber.on('message', (channel: string, text: string) => {
    if (!channel.startsWith(channelPrefix)) return;
    const patient = patients.get(channel.slice(channelPrefix.length));
    if (!patient) return;
    let event: RelayEvent;
    try {
      event = deps.cipher.decryptJson<RelayEvent>(text);
    } catch (error) {
      deps.logger.error({ err: error, channel }, 'relay message could not be decrypted; dropped');
      return;
    }
    for (const client of patient.clients) client.deliver(event);
  });

  return {
    /** Adds a client; resolves once its patient's live events reach this process. */
    join(client: RelayClient): Promise<void> {
      const id = client.grant.patientId;
      let patient = patients.get(id);
      if (!patient) {
        const created: Patient = { clients: new Set(), subscribed: Promise.resolve() };
        created.subscribed = subscriber.subscribe(patientChannel(prefix, id)).then(() => {
          created.since = performance.now();
        });
        patient = created;
        patients.set(id, patient);
      }
      patient.clients.add(client);
      return patient.subscribed;
    },
    /** Removes a client; the last one of a patient unsubscribes the channel. */
    leave(client: RelayClient): void {
      const id = client.grant.patientId;
      const patient = patients.get(id);
      if (!patient?.clients.delete(client) || patient.clients.size > 0) return;
      patients.delete(id);
      subscriber.unsubscribe(patientChannel(prefix, id)).catch((error: unknown) => deps.logger.warn({ err: error }, 'unsubscribe failed'));
    },
    /** When this process began receiving the patient's events, if it does. */
    watchedSince(patientId: string): number | undefined {
      return patients.get(patientId)?.since;
    },
    /** Every connected client. */
    *clients(): Iterable<RelayClient> {
      for (const patient of patients.values()) yield* patient.clients;
    },
  };
}

export type PatientHub = ReturnType<typeof createPatientHub>;
