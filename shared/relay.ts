/** Event types the relay forwards to the patient's app (CONTRACT.md, relay protocol). */
export type RelayEventType = 'session_status' | 'transcript' | 'speech' | 'function_call' | 'session_end' | 'session_error';

/** One event as the mobile app receives it. `seq` is absent on live-only events (partial transcripts). */
export interface RelayEvent {
  type: RelayEventType;
  sessionId: string;
  seq?: number;
  /** ISO-8601; Vapi's own timestamp when it sent one. */
  at: string;
  data: Record<string, unknown>;
}

/**
 * Pub/sub channel carrying one patient's relay events, so a relay only receives what its clients
 * may see. Each message is a RelayEvent as JSON, encrypted with FieldCipher.
 */
export const patientChannel = (prefix: string, patientId: string) => `${prefix}:relay:patient:${patientId}`;
