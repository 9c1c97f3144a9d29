import type { SessionStatus } from './session-status.ts';
import type { Role } from './vapi/read.ts';

/**
 * What each event the relay forwards to the patient's app carries in `data` (the relay protocol:
 * docs/relay.md, docs/relay-asyncapi.yaml). Every producer builds its events with the builders
 * below, so the socket, its replay and the history API send one shape.
 */
export interface RelayEventData {
  session_status: { status: SessionStatus; endedReason?: string };
  transcript: { role: Role; transcript: string; timestamp: string; final: boolean };
  speech: { role: Role; status: string; turn?: number };
  function_call: { name: string; status: ToolCallPhase; toolCallId: string };
  session_end: SessionEnded;
  session_error: { code: string; message: string };
}

export type RelayEventType = keyof RelayEventData;

/** Where a tool call is, as the app is told: started, then completed or failed. */
export type ToolCallPhase = 'started' | 'completed' | 'failed';

/** The end of a call as the app (and the `session.ended` notification) hears of it. */
export type SessionEnded = { sessionId: string; status: 'ended'; summary: string; durationSeconds: number | null; endedReason: string | null };

/** An event's type and data, before it has a session, a time and (for stored ones) a `seq`. */
export type RelayBody<T extends RelayEventType = RelayEventType> = T extends RelayEventType ? { type: T; data: RelayEventData[T] } : never;

/** A session's status moved forward (with why it ended, once it has). */
export const statusEvent = (status: SessionStatus, endedReason: string | null): RelayBody<'session_status'> => ({
  type: 'session_status',
  data: { status, ...(endedReason ? { endedReason } : {}) },
});

/** An utterance: final ones are stored and numbered, partials are live only. */
export const transcriptEvent = (role: Role, transcript: string, at: Date, final: boolean): RelayBody<'transcript'> => ({
  type: 'transcript',
  data: { role, transcript, timestamp: at.toISOString(), final },
});

/** Someone started or stopped speaking (live only). */
export const speechEvent = (role: Role, status: string, turn: number | undefined): RelayBody<'speech'> => ({
  type: 'speech',
  data: { role, status, ...(turn !== undefined ? { turn } : {}) },
});

/** What the assistant is doing: a tool call's phase, by name (never its arguments or answer). */
export const functionCallEvent = (name: string, status: ToolCallPhase, toolCallId: string): RelayBody<'function_call'> => ({
  type: 'function_call',
  data: { name, status, toolCallId },
});

export const endEvent = (ended: SessionEnded): RelayBody<'session_end'> => ({ type: 'session_end', data: ended });

/** A terminal error the sender reported (the story's `error` event). */
export const errorEvent = (code: string, message: string): RelayBody<'session_error'> => ({ type: 'session_error', data: { code, message } });

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

/** A stored event (from the outbox or `session_events`) as the app receives it, live or replayed. */
export const storedRelayEvent = (row: { type: string; sessionId: string; seq: number; at: Date; data: Record<string, unknown> }): RelayEvent => ({
  type: row.type as RelayEventType,
  sessionId: row.sessionId,
  seq: row.seq,
  at: row.at.toISOString(),
  data: row.data,
});

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
