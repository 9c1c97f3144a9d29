/** Event types the relay forwards to the patient's app (CONTRACT.md, relay protocol). */
export type RelayEventType = 'session_status' | 'transcript' | 'speech' | 'function_call' | 'session_end' | 'session_error';

/** One event as the mobile app receives it. `seq` is absent on live-only events (partial transcripts, speech). */
export interface RelayEvent {
  type: RelayEventType;
  sessionId: string;
  seq?: number;
  /** ISO-8601; Vapi's own timestamp when it sent one. */
  at: string;
  data: Record<string, unknown>;
}

/** A live-only event: never stored, never numbered. */
export type LiveRelayEvent = Omit<RelayEvent, 'seq'>;

/** A control message relays act on instead of forwarding: the patient's data was erased, so their sockets are closed. */
export const PATIENT_ERASED = 'patient_erased';

/**
 * Published on the patient's own channel (so it reaches exactly the relays holding their sockets),
 * encrypted like their events; never sent to a client.
 */
export interface PatientErasedMessage {
  type: typeof PATIENT_ERASED;
  patientId: string;
  /** ISO-8601. */
  at: string;
}

/** What a relay can receive on a patient's channel. */
export type PatientChannelMessage = RelayEvent | PatientErasedMessage;

export const patientErasedMessage = (patientId: string, at = new Date()): PatientErasedMessage => ({ type: PATIENT_ERASED, patientId, at: at.toISOString() });

/**
 * Pub/sub channel carrying one patient's relay events, so a relay only receives what its clients
 * may see. Each message is a RelayEvent (or a PatientErasedMessage) as JSON, encrypted with FieldCipher.
 */
export const patientChannel = (prefix: string, patientId: string) => `${prefix}:relay:patient:${patientId}`;

/**
 * Redis key holding the patient a call is bound to, written by the durable lane's dispatcher
 * (from the session row) and read by the live lane, which never asks Postgres. It wins over the
 * patient a live event claims; without it, only such a claim relays (services/worker/lib/live-relay.ts).
 */
export const callBindingKey = (prefix: string, callId: string) => `${prefix}:binding:${callId}`;
