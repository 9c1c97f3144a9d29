/**
 * Every `message.type` Vapi documents (https://docs.vapi.ai/server-url/events), the story's
 * envelope types and our notification types.
 */
const KNOWN_TYPES = new Set([
  'assistant-request',
  'status-update',
  'transcript',
  'transcript[transcriptType="final"]',
  'speech-update',
  'conversation-update',
  'model-output',
  'user-interrupted',
  'tool-calls',
  'function-call',
  'hang',
  'end-of-call-report',
  'transfer-destination-request',
  'handoff-destination-request',
  'transfer-update',
  'phone-call-control',
  'knowledge-base-request',
  'language-changed',
  'language-change-detected',
  'voice-input',
  'assistant.started',
  'assistant.speechStarted',
  'voice-request',
  'call.endpointing.request',
  'chat.created',
  'chat.deleted',
  'session.created',
  'session.updated',
  'session.deleted',
  'call.deleted',
  'call.delete.failed',
  'call.artifact.upload',
  'campaign.predial',
  'message',
  'call-end',
  'error',
  // Notification types (the outbox's intents).
  'session.ended',
  'session.error',
]);

/** An event type fit for a metric label: a known one, else `other` (the type is the sender's to choose). */
export const metricType = (type: string | undefined): string => (type && KNOWN_TYPES.has(type) ? type : type === undefined ? 'unknown' : 'other');
