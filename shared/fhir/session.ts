import type { Communication, DocumentReference, Encounter, Patient } from '@medplum/fhirtypes';
import { entryOf, identifierOf, referenceTo, type Entry } from './ids.ts';

/** What a call is, in clear, as a FHIR builder needs it. */
export interface CallFacts {
  id: string;
  patientId: string | null;
  status: string;
  startedAt: Date | null;
  endedAt: Date | null;
  /** Names of the tools the assistant called, in order of first use. */
  toolsUsed?: readonly string[] | undefined;
  /** Why the patient called, in their words (the reasons of what they booked). */
  reasons?: readonly string[] | undefined;
}

/** One stored utterance of a call. */
export interface UtteranceFacts {
  id: number;
  sessionId: string;
  patientId: string | null;
  role: string;
  transcript: string;
  timestamp: Date;
}

/** Our session status as an Encounter's (forward only, like ours). */
const ENCOUNTER_STATUS: Record<string, Encounter['status']> = {
  queued: 'planned',
  ringing: 'arrived',
  'in-progress': 'in-progress',
  forwarding: 'in-progress',
  ended: 'finished',
  completed: 'finished',
};

const VIRTUAL = { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'VR', display: 'virtual' };
const ASSISTANT = { display: "The clinic's voice assistant" };
const PRIMARY_PERFORMER = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'PPRF', display: 'primary performer' }] };

/**
 * The extension naming one tool the assistant called during the call. R4 has no Encounter element
 * for "what the system did": `type`/`serviceType` say what kind of encounter it was, and a tool is
 * not that. A logical URI, as FHIR allows for a local extension a server keeps without knowing it.
 */
export const TOOL_USED_EXTENSION = 'urn:vapi-relay:fhir:extension:tool-used';

/** A call as an Encounter: virtual, its patient and the assistant, when it started and ended, why, the tools used. */
export function callEncounter(call: CallFacts): Entry<Encounter> {
  const tools = call.toolsUsed ?? [];
  const reasons = call.reasons ?? [];
  return entryOf('session', call.id, {
    resourceType: 'Encounter',
    ...(tools.length > 0 ? { extension: tools.map((name) => ({ url: TOOL_USED_EXTENSION, valueCoding: { system: 'urn:vapi-relay:tool', code: name } })) } : {}),
    identifier: [identifierOf('session', call.id)],
    status: ENCOUNTER_STATUS[call.status] ?? 'unknown',
    class: VIRTUAL,
    type: [{ text: "Call with the clinic's voice assistant" }],
    ...(call.patientId ? { subject: referenceTo<Patient>('patient', call.patientId) } : {}),
    ...(call.startedAt || call.endedAt
      ? { period: { ...(call.startedAt ? { start: call.startedAt.toISOString() } : {}), ...(call.endedAt ? { end: call.endedAt.toISOString() } : {}) } }
      : {}),
    participant: [{ type: [PRIMARY_PERFORMER], individual: ASSISTANT }],
    ...(reasons.length > 0 ? { reasonCode: reasons.map((text) => ({ text })) } : {}),
  });
}

/** One utterance as a Communication of its call, from the patient to the assistant or back. */
export function utteranceCommunication(utterance: UtteranceFacts): Entry<Communication> {
  const patient = utterance.patientId ? referenceTo<Patient>('patient', utterance.patientId) : undefined;
  const speaker = utterance.role === 'user' ? patient : ASSISTANT;
  const listener = utterance.role === 'user' ? ASSISTANT : patient;
  return entryOf('message', utterance.id, {
    resourceType: 'Communication',
    identifier: [identifierOf('message', utterance.id)],
    status: 'completed',
    ...(patient ? { subject: patient } : {}),
    encounter: referenceTo<Encounter>('session', utterance.sessionId),
    sent: utterance.timestamp.toISOString(),
    ...(speaker ? { sender: speaker } : {}),
    ...(listener ? { recipient: [listener] } : {}),
    payload: [{ contentString: utterance.transcript }],
  });
}

/** A call's summary as a DocumentReference of its Encounter, the text attached. */
export function summaryDocument(call: CallFacts & { summary: string }): Entry<DocumentReference> {
  return entryOf('summary', call.id, {
    resourceType: 'DocumentReference',
    identifier: [identifierOf('summary', call.id)],
    status: 'current',
    docStatus: 'final',
    type: { text: 'Call summary' },
    ...(call.patientId ? { subject: referenceTo<Patient>('patient', call.patientId) } : {}),
    ...(call.endedAt ? { date: call.endedAt.toISOString() } : {}),
    content: [{ attachment: { contentType: 'text/plain; charset=utf-8', data: Buffer.from(call.summary, 'utf8').toString('base64') } }],
    context: { encounter: [referenceTo<Encounter>('session', call.id)] },
  });
}
