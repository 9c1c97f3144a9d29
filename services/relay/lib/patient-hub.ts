import type { FastifyBaseLogger } from 'fastify';
import type { RedisClient } from '#shared/redis';
import type { FieldCipher } from '#shared/crypto';
import { PATIENT_ERASED, patientChannel, type PatientChannelMessage } from '#shared/relay';
import { openForPatient, patientOfChannel, type Traced } from '#shared/relay-messages';
import { inSpan, traceContextFrom } from '#shared/tracing';
import { CLOSE, type RelayClient } from './relay-client.ts';

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
export function createPatientHub(deps: { subscriber: RedisClient; cipher: FieldCipher; prefix: string; logger: FastifyBaseLogger }) {
  const { subscriber, prefix } = deps;
  const patients = new Map<string, Patient>();

  subscriber.on('message', (channel: string, text: string) => {
    const patientId = patientOfChannel(prefix, channel);
    const patient = patientId === undefined ? undefined : patients.get(patientId);
    if (patientId === undefined || !patient) return;
    let opened: Traced<PatientChannelMessage>;
    try {
      // Sealed to this patient's channel: a message copied here from another patient's does not open.
      opened = openForPatient<PatientChannelMessage>(deps.cipher, patientId, text);
    } catch (error) {
      deps.logger.error({ err: error, channel }, 'relay message could not be opened for its channel; dropped');
      return;
    }
    const { trace, ...event } = opened;
    // The patient's data was erased (npm run patient -- erase): nothing of theirs may be served any more.
    if (event.type === PATIENT_ERASED) for (const client of [...patient.clients]) client.close(CLOSE.policyViolation, 'patient data erased');
    else if (!trace) for (const client of patient.clients) client.deliver(event);
    else {
      const attributes = { 'vapi_relay.session_id': event.sessionId, 'vapi_relay.seq': event.seq ?? -1, 'vapi_relay.clients': patient.clients.size };
      void inSpan(
        'relay.send',
        attributes,
        async () => {
          for (const client of patient.clients) client.deliver(event);
        },
        traceContextFrom(trace),
      );
    }
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
