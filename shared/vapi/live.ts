import type { LiveJobPayload } from '../queues/live-queue.ts';
import { speechEvent, transcriptEvent, type LiveRelayEvent, type RelayBody } from '../relay.ts';
import { num, str, type IncomingEvent } from './envelope.ts';
import { callerIdentity, isFinalTranscript, toRole, utteranceText } from './read.ts';

/**
 * Whether an event takes the live lane: partial transcripts (a final one replaces them) and speech
 * starts and stops. They are relayed as they come, never stored, never numbered (DESIGN 11).
 */
export function isLiveOnly(event: IncomingEvent): boolean {
  if (event.source !== 'vapi') return false;
  return event.type === 'speech-update' || (event.type.startsWith('transcript') && !isFinalTranscript(event.type, event.message));
}

/**
 * What the live lane carries for a live-only event: the relay event it becomes, and the patient
 * its call claims (read as the durable lane reads it; a caller's number is not a claim: binding by
 * it takes a look-up only the durable lane makes). Null when the event says nothing showable.
 */
export function liveJobOf(event: IncomingEvent, receivedAt: Date): LiveJobPayload | null {
  const live = liveEventOf(event, receivedAt);
  return live && { event: live, claimedPatientId: callerIdentity(event.message).claimedPatientId ?? null };
}

/** The relay event a live-only event becomes; null when it says nothing showable (no role or text). */
function liveEventOf(event: IncomingEvent, receivedAt: Date): LiveRelayEvent | null {
  if (!isLiveOnly(event) || !event.callId) return null;
  const at = event.timestamp ?? receivedAt;
  const body = liveBodyOf(event, at);
  return body && { ...body, sessionId: event.callId, at: at.toISOString() };
}

function liveBodyOf(event: IncomingEvent, at: Date): RelayBody | null {
  const m = event.message;
  const role = toRole(m.role);
  if (!role) return null;
  if (event.type === 'speech-update') {
    const status = str(m.status);
    return status ? speechEvent(role, status, num(m.turn)) : null;
  }
  const transcript = utteranceText(m);
  return transcript ? transcriptEvent(role, transcript, at, false) : null;
}
